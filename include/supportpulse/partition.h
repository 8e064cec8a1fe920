/*
 * partition.h - all aggregation state of one Kafka partition: its windows, the ids it
 * has seen (dedup), the cases it remembers (attribution), and its watermark.
 *
 * Data flow: kafka_consumer -> decoder -> sp_partition_apply() (dedup, lateness,
 * attribution, window counters) ... publisher reads dirty cells and cases, writes them
 * to Redis, then sp_partition_published() marks them clean and expires old windows.
 *
 * Keeping state per partition makes every decision (duplicate, late, which queue) a
 * function of that partition's stream alone: the same whichever instance owns it, and
 * restorable from Redis when it moves. Single writer: one thread owns a partition.
 */
#ifndef SUPPORTPULSE_PARTITION_H
#define SUPPORTPULSE_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/attribution.h"
#include "supportpulse/cases.h"
#include "supportpulse/event.h"
#include "supportpulse/presence.h"
#include "supportpulse/window.h"

typedef struct {
    int64_t lateness_ms;       /* watermark = newest event time - lateness */
    int64_t retention_ms;      /* a window takes late updates until end + retention */
    int64_t dedup_horizon_ms;
    size_t dedup_capacity;     /* ids remembered per partition */
    size_t max_cases;          /* cases remembered per partition */
    int64_t case_max_age_ms;
    size_t max_queues;         /* distinct queue values; more go to SP_OVERFLOW_NAME */
    size_t max_agents;         /* distinct (tenant, agent id) pairs; more go to the
                                  tenant's agent SP_OVERFLOW_NAME */
    size_t max_tenants;        /* distinct tenants; more go to SP_OVERFLOW_NAME */
    size_t max_combos;         /* distinct (tenant, queue, channel); an event of a new one
                                  past this counts under queue SP_OVERFLOW_NAME */
    int64_t max_future_ms;     /* reject ts later than wall clock + this; 0 = no check */
    int64_t case_grace_ms;     /* an ended case is kept this long for late events */
    size_t max_attributions;   /* cases that left the case store, remembered for surveys */
    int64_t attribution_horizon_ms; /* ... for this long after their last event */
    int64_t sl_ms;             /* service-level threshold (default for every queue) */
    int64_t short_abandon_ms;  /* abandons sooner than this are short */
    int64_t max_wait_ms;       /* a call in queue this long after its first offer is
                                  orphaned (lifecycle.h) */
    int64_t max_handle_ms;     /* ... answered and not ended this long after the answer */
    const char *sl_by_queue;   /* "queue=seconds,..." overrides; NULL or "" = none */
    const char *short_abandon_by_queue;
    const char *max_wait_by_queue;
    const char *max_handle_by_queue;
    sp_res_by_class res;       /* resolutions per class of dims set (all 0 = the defaults):
                                  cells are kept in windows of each class's finest one */
} sp_partition_conf;

void sp_partition_conf_defaults(sp_partition_conf *c);
/* How often, in event time, a partition scans its case store for cases to leave (ended
 * longer than case_grace_ms ago, or idle longer than case_max_age_ms): a 24th of the
 * shorter of the two, in whole minutes, from 1 minute to 1 hour. A case therefore
 * leaves up to that long after its time; everything else runs once a minute. */
int64_t sp_partition_expiry_interval(const sp_partition_conf *c);
/* Checks a "queue=seconds,..." list (queue names may not hold ',' or '='; seconds
 * 0..86400). 0, or -1 with a message naming what is wrong. */
int sp_queue_seconds_check(const char *spec, char *errstr, size_t errstr_size);
/* The same with seconds in lo..hi (the per-queue max_wait and max_handle lists). */
int sp_queue_seconds_check_range(const char *spec, int64_t lo, int64_t hi, char *errstr,
                                 size_t errstr_size);
/* The range of a per-queue max_wait_by_queue or max_handle_by_queue value, seconds. */
#define SP_MAX_WAIT_MIN_S 60
#define SP_MAX_WAIT_MAX_S (7 * 86400)
/* The seconds such a list gives `queue` (the last item naming it), else def_s. */
int64_t sp_queue_seconds_lookup(const char *spec, const char *queue, int64_t def_s);

typedef enum {
    SP_APPLY_OK,
    SP_APPLY_DUPLICATE,
    SP_APPLY_LATE,
    SP_APPLY_REJECT,   /* reason in *reason, detail in errstr */
    SP_APPLY_NOMEM,
} sp_apply_result;

typedef struct {
    uint64_t applied, duplicates, late, rejected;
    /* events counted under SP_OVERFLOW_NAME: a names table or the combinations full */
    uint64_t overflow_queue, overflow_agent, overflow_tenant, overflow_combo;
    uint64_t normalized_names; /* applied events with a name trimmed or NFC-normalized */
    uint64_t late_durations; /* completed durations whose window had left retention */
    uint64_t orphaned;       /* calls that timed out in queue or in conversation */
} sp_partition_stats;

/* Gauges of one dimension set on this partition (live hash). */
typedef enum { SP_G_IN_QUEUE, SP_G_BACKLOG, SP_G__COUNT } sp_gauge;
typedef struct {
    int64_t v[SP_G__COUNT];
    int64_t pub[SP_G__COUNT]; /* what Redis has of this partition's share */
    int64_t oldest_ts;        /* oldest offered time of a waiting call; INT64_MAX none */
    int64_t oldest_pub;
} sp_gauges;

typedef struct sp_partition sp_partition;

/* Returns NULL and a message in errstr when out of memory. */
sp_partition *sp_partition_new(const sp_partition_conf *conf, char *errstr, size_t errstr_size);
void sp_partition_destroy(sp_partition *p); /* NULL is a no-op */

sp_apply_result sp_partition_apply(sp_partition *p, const sp_event *ev, int64_t now_wall_ms,
                                   sp_reject_reason *reason, char *errstr, size_t errstr_size);

/* Starts loading the table entries sp_partition_apply(p, ev) will look up first (the
 * event id's dedup slot, the case's index slot), so they are in cache when it runs.
 * Called for an event a few events ahead of the one being applied, it hides those
 * memory latencies behind the work on the current one. Changes nothing; optional. */
void sp_partition_prefetch(const sp_partition *p, const sp_event *ev);

/* Newest event time seen (INT64_MIN before any) and the watermark derived from it. */
int64_t sp_partition_max_ts(const sp_partition *p);
int64_t sp_partition_watermark(const sp_partition *p);
const sp_partition_stats *sp_partition_get_stats(const sp_partition *p);

/* How many entries the partition's per-name tables hold (each bounded by a max_*). */
typedef struct {
    size_t queues, agents, tenants; /* names, the overflow bucket included */
    size_t combos;                  /* tenant, queue and channel combinations */
    size_t agent_pairs;             /* tenant and agent pairs */
    size_t dims;                    /* dimension sets (one rollup key each per window) */
} sp_partition_sizes;
void sp_partition_get_sizes(const sp_partition *p, sp_partition_sizes *out);

/* For the publisher: the state to write, and the name behind each id. The windows of
 * each width (sp_partition_window_set(p, r): cells of the dims sets whose finest
 * resolution is r; empty for the others); sp_partition_windows is the 1-minute set. */
sp_window_set *sp_partition_windows(sp_partition *p);
sp_window_set *sp_partition_window_set(sp_partition *p, int res);
/* Dirty cells over every set, kept as cells change: cheap enough to ask per event. */
size_t sp_partition_dirty_cells(const sp_partition *p);
const sp_res_by_class *sp_partition_res(const sp_partition *p);
sp_cases *sp_partition_cases(sp_partition *p);
sp_attrs *sp_partition_attrs(sp_partition *p);
struct sp_dedup *sp_partition_dedup(sp_partition *p);
/* agent.status since the last publish (presence.h); cleared by sp_partition_published. */
const sp_presence_log *sp_partition_presence(const sp_partition *p);
const char *sp_partition_dims_key(const sp_partition *p, uint32_t dims_id);
sp_dims_class sp_partition_dims_class(const sp_partition *p, uint32_t dims_id);
/* The id of a dims key this partition has seen: 1 and *id, or 0. Ids run from 1 to
 * sp_partition_dims_count() - 1 (0 is no dims). */
int sp_partition_dims_find(const sp_partition *p, const char *key, uint32_t *id);
size_t sp_partition_dims_count(const sp_partition *p);
/* Gauges per dims id (n = number of dims ids), oldest_ts refreshed from the waiting
 * calls. The array is valid until the next apply. */
sp_gauges *sp_partition_gauges(sp_partition *p, size_t *n);
typedef enum { SP_NAME_QUEUE, SP_NAME_AGENT, SP_NAME_TENANT } sp_name_kind;
const char *sp_partition_name(const sp_partition *p, sp_name_kind kind, uint32_t id);

/* Marks every cell, case, attribution, event id and gauge as published (nothing expires). */
void sp_partition_mark_clean(sp_partition *p);
/* After Redis has every dirty cell, case and gauge: mark them clean and drop what expired.
 * watermark_ms may be raised above the partition's own (an idle partition follows the
 * pipeline's watermark). */
void sp_partition_published(sp_partition *p, int64_t watermark_ms);

/* Restore from Redis on assignment (partition_codec.h). The cell of a dims key in the
 * window of width sp_res_seconds[res] starting at start, created empty (and dirty);
 * NULL when out of memory, or when res is not the finest resolution of the key's class
 * in this partition's setting or start is not aligned to it. */
sp_cell *sp_partition_restore_cell(sp_partition *p, int res, int64_t start, const char *dims_key);
/* The case and attribution stores laid out as the checkpoint recorded them (orders of
 * their heads and slots in use: sp_cases_layout, sp_attrs_layout), then each entry placed
 * at its order's slot, so the restored stores evict exactly what the originals would.
 * 0 or -1 (out of memory, or an order outside the layout). */
int sp_partition_restore_layout(sp_partition *p, uint64_t case_head, uint64_t case_used,
                                uint64_t attr_head, uint64_t attr_used);
int sp_partition_place_case(sp_partition *p, uint64_t order, const sp_case *rec,
                            const char *queue, const char *tenant, const char *agent);
int sp_partition_place_attr(sp_partition *p, uint64_t order, const sp_attr *rec,
                            const char *queue, const char *tenant, const char *agent);
void sp_partition_place_done(sp_partition *p);
/* An agent's presence entry not yet acknowledged by Redis, to be sent again. */
int sp_partition_restore_presence(sp_partition *p, const sp_presence *e);
/* A case as published; rec holds the record's fields (key, last_ts, timestamps, flags,
 * channel, replies, acw_ms); its name ids are ignored and set from the strings. */
int sp_partition_restore_case(sp_partition *p, const sp_case *rec, const char *queue,
                              const char *tenant, const char *agent);
void sp_partition_restore_max_ts(sp_partition *p, int64_t max_ts);
/* An event id hash journalled with a flush (dedup across restarts). */
void sp_partition_restore_id(sp_partition *p, uint64_t hash, int64_t ts_ms);

#endif
