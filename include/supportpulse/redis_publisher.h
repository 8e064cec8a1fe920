/*
 * redis_publisher.h - writes partition state to Redis per shared/spec/redis.md, and
 * reads it back when a partition is (re)assigned.
 *
 * Each partition keeps its own partial of every window in Redis, one hash per window
 * ({p}:pw:{topic}:{partition}:{start}, fields "<metric>:<dims>"). A flush sends the
 * changed partials and the change since the last flush, summed over all the instance's
 * partitions per 1m, 5m, 15m, 1h and 1d total; one Lua script (merge.lua) applies
 * them, recomputes ratios, means and percentiles, updates the {p}:ts index and the
 * live hashes, writes each partition's changed cases and journals its event ids, sends
 * PUBLISH {p}:updates, and records each partition's resume point (next offset, newest
 * event time) and flush number in {p}:meta, all atomically. Totals are therefore the sum of every
 * partition's partial whatever the number of partitions or instances.
 *
 * The publisher keeps a copy of the merged sketches it last wrote (sketch_cache.h) so
 * the script need not read them back; the script uses the copy only while the rollup's
 * version in Redis is this publisher's, so the copy changes the cost, never the result.
 *
 * A restarted or rebalanced consumer restores exactly that state and resumes there; the
 * flush number fences it: a flush applied twice (its reply lost) changes nothing, and
 * a writer that lost the partition cannot overwrite its new owner.
 *
 * Not thread-safe: one publisher belongs to the pipeline thread.
 * Ownership: the publisher owns its hiredis context; it never keeps partition pointers.
 */
#ifndef SUPPORTPULSE_REDIS_PUBLISHER_H
#define SUPPORTPULSE_REDIS_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/partition.h"

#define SP_NRES 5

typedef struct {
    const char *address;          /* HOST:PORT or unix:/path */
    const char *prefix;           /* {p} */
    int64_t ttl_s[SP_NRES];       /* per resolution; 0 = keep */
    int connect_timeout_ms;
    int command_timeout_ms;
    int64_t lateness_ms, retention_ms;
    int64_t id_journal_flushes;   /* flushes of event ids kept per partition (0 = 4096) */
    int64_t attribution_horizon_s; /* TTL past its day of an {p}:attr hash (0 = 7 days) */
    int64_t csat_prior_weight;    /* m of csat_smoothed (0 = no smoothed score) */
} sp_publisher_conf;

typedef struct sp_publisher sp_publisher;

extern const char *const sp_res_names[SP_NRES];
extern const int64_t sp_res_seconds[SP_NRES];

/* Creates a publisher (not yet connected). Strings in conf are copied. */
sp_publisher *sp_publisher_new(const sp_publisher_conf *conf, char *errstr, size_t errstr_size);
void sp_publisher_destroy(sp_publisher *pub); /* NULL is a no-op */

/* Connects if not connected and loads the script. 0, or -1 with errstr. */
int sp_publisher_connect(sp_publisher *pub, char *errstr, size_t errstr_size);

/* What a partition counted (messages consumed, applied, ..., dead-lettered per
 * reason, and what its full stores had to forget). Each partition's counts travel with
 * its resume point, and the script adds their change to the totals in {p}:meta, so a
 * replay after a crash counts nothing twice: the meta counters are exactly once, like
 * the rollups. New counters go at the end: a resume point written before them reads
 * as 0 for them. */
typedef enum {
    SP_PC_CONSUMED,
    SP_PC_APPLIED,
    SP_PC_DUPLICATES,
    SP_PC_LATE,
    SP_PC_REJECTED, /* + sp_reject_reason: one counter per reason */
    SP_PC_EVICTED_CASES = SP_PC_REJECTED + SP_REJ__COUNT, /* max_cases reached */
    SP_PC_EVICTED_IDS,   /* dedup_capacity reached before the ids' horizon */
    SP_PC_EVICTED_ATTRS, /* max_attributions reached */
    SP_PC__COUNT         /* {p}:meta: consumed, applied, duplicates, late_dropped,
                          * rejected:<reason>, evicted_cases, evicted_ids,
                          * evicted_attributions */
} sp_part_count;
/* The {p}:meta fields of SP_PC_EVICTED_CASES .. SP_PC_EVICTED_ATTRS, in that order. */
#define SP_PC_EVICTED_FIELDS {"evicted_cases", "evicted_ids", "evicted_attributions"}

/* One partition of a flush. */
typedef struct {
    int32_t partition;
    sp_partition *p;
    int64_t next_offset;     /* resume point: the next offset to consume */
    int64_t *seq;            /* the partition's flush number, advanced on success */
    const uint64_t *counts;  /* SP_PC__COUNT totals of the partition (NULL: none yet) */
} sp_flush_part;

/* Writes the dirty cells, changed cases and resume points of n partitions of topic in
 * one transaction, each fenced by its flush number. 0 on success: every *seq advanced;
 * the caller marks the partitions published and may commit. -1 with errstr when Redis
 * failed: nothing to mark, send it again later (a flush applied whose reply was lost is
 * recognised and not applied twice). *stale_partition >= 0 names a partition another
 * owner has written since: nothing was written; drop that partition and flush again. */
int sp_publisher_flush(sp_publisher *pub, const char *topic, const sp_flush_part *parts,
                       int n, int32_t *stale_partition, char *errstr, size_t errstr_size);

/* How the writer's copies of its rollups' sketches fared (sketch_cache.h). Only the
 * pipeline thread reads them. */
typedef struct {
    uint64_t sketch_rollups;  /* rollups whose changed sketches a flush sent */
    uint64_t sketch_copies;   /* ... with the writer's merged counts and percentiles */
    uint64_t sketch_misses;   /* ... that the script did not trust (merged them itself) */
    uint64_t sketch_reloads;  /* copies read back from Redis after a miss */
    uint64_t sketch_shared;   /* rollups found written by another writer too */
    uint64_t sketch_clears;   /* times every copy was dropped (a flush of unknown outcome) */
} sp_publisher_stats;

const sp_publisher_stats *sp_publisher_get_stats(const sp_publisher *pub);

/* Restores a partition's state, its flush number and (when counts is not NULL) its
 * SP_PC__COUNT counts. *next_offset = -1 when Redis has no resume point for it (counts
 * are then zero). 0 on success, -1 with errstr. */
int sp_publisher_restore(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, int64_t *next_offset, int64_t *seq,
                         uint64_t *counts, char *errstr, size_t errstr_size);

/* Updates {p}:meta: HINCRBY of n counters (zero deltas skipped), then HSET of m
 * fields. 0 or -1 with errstr. */
int sp_publisher_meta(sp_publisher *pub, const char *const *counters, const int64_t *deltas,
                      size_t n, const char *const *fields, const char *const *values, size_t m,
                      char *errstr, size_t errstr_size);

#endif
