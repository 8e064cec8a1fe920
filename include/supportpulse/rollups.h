/*
 * rollups.h - writes the rollups of a flush: {p}:r:{res}:{dims}:{start} for every
 * window of every resolution the changed cells of the flush's partitions fall in, their
 * series indexes {p}:ts:{res}:{dims}, PUBLISH {p}:updates <key>, and each agent's
 * csat_smoothed.
 *
 * A rollup is the sum of every partition's share. The change of each partition since its
 * last flush (cell - published) is summed per rollup over the flush's partitions; the
 * writer adds it to what it knows the rollup holds (rollup_cache.h), computes counts,
 * ratios, means and percentiles (metrics.h, sketch.h) and writes the rollup whole with
 * RESTORE (redis_dump.h), with its companion: a new version and, per partition, the
 * flush whose change it now contains (its mark). Redis takes the write only while the
 * companion holds the version the writer knew (rollups.lua); otherwise it replies with
 * what it holds, and the writer merges again, leaving out the partitions whose mark
 * shows their change is in already. So a rollup write is idempotent per partition and
 * flush: it may be sent twice, by two owners (a zombie and its successor), or after a
 * crash at any point, and each change counts once.
 *
 * Calls are bounded by construction: at most max_call rollups each (and, on a Redis
 * Cluster, the rollups of one hash slot: a rollup and its companion share it), so no
 * call holds Redis long whatever the size of the flush.
 *
 * Not thread-safe: one thread at a time uses a writer (the flush thread, or the pipeline
 * thread while no flush is in flight). Ownership: a job keeps no partition pointer.
 */
#ifndef SUPPORTPULSE_ROLLUPS_H
#define SUPPORTPULSE_ROLLUPS_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/partition.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/timezone.h"

typedef struct {
    const char *prefix;
    int64_t ttl_s[SP_NRES];      /* per resolution; 0 = keep */
    int max_call;                /* rollups per call */
    int64_t csat_prior_weight;   /* m of csat_smoothed (0 = none) */
    int64_t retention_ms;        /* a window takes late events until end + this */
    size_t cache_entries;        /* rollups the writer remembers (0 = 200,000) */
    int64_t smooth_every_ms;     /* the csat_smoothed pass at most this often */
    const sp_zones *zones;       /* 1d windows start at local midnight (NULL: UTC);
                                    borrowed, must outlive the writer */
} sp_rollups_conf;

/* One partition of a flush: its changes are written under its flush number seq. */
typedef struct {
    int32_t partition;
    sp_partition *p;
    int64_t seq;
} sp_rollup_part;

typedef struct {
    uint64_t writes;           /* rollups written */
    uint64_t calls;            /* rollup calls sent */
    uint64_t max_call;         /* the most rollups one call carried */
    uint64_t conflicts;        /* rollups Redis held otherwise than the writer knew */
    uint64_t merged_out;       /* partitions' changes found in a rollup already */
    uint64_t rounds;           /* rounds of calls (conflicts take another) */
    uint64_t index_adds, publishes, released;
    uint64_t hset_mode;        /* 1 when RESTORE is not available (HSET instead) */
    /* where a write's time goes (ns, summed): totals from the cells, building the calls,
     * Redis (send and wait), the follow-up commands */
    uint64_t ns_totals, ns_build, ns_redis, ns_follow;
} sp_rollups_stats;

typedef struct sp_rollups sp_rollups;

/* A writer over r (which it registers its scripts on; r stays the caller's). NULL with
 * errstr when out of memory. */
sp_rollups *sp_rollups_new(const sp_rollups_conf *conf, sp_redis *r, char *errstr,
                           size_t errstr_size);
void sp_rollups_destroy(sp_rollups *w); /* NULL is a no-op */

/* The changes of the dirty cells of n partitions (cell - published), summed per
 * rollup, with each cell's change kept too (a rollup may come to need some partitions'
 * shares only). Reads the partitions and nothing of the writer but its configuration,
 * so it runs on the thread that owns the partitions; once it returns they may change
 * and be marked published. reuse: a job done with, whose memory the new one takes
 * (or NULL); it is consumed either way. NULL with errstr when out of memory. Ownership:
 * the caller's (sp_rollups_job_destroy). */
typedef struct sp_rollups_job sp_rollups_job;
sp_rollups_job *sp_rollups_job_new(const sp_rollups *w, const sp_rollup_part *parts, int n,
                                   sp_rollups_job *reuse, char *errstr, size_t errstr_size);
void sp_rollups_job_destroy(sp_rollups_job *j); /* NULL is a no-op */
size_t sp_rollups_job_size(const sp_rollups_job *j); /* rollups it changes */
/* The dims (other than agents') whose 1m or 1d rollups the job changes. */
void sp_rollups_job_each_live_dims(const sp_rollups_job *j,
                                   void (*fn)(const char *dims, void *arg), void *arg);

/* Writes a job: of the job's partition i, only when include[i] (its checkpoint is
 * committed). 0 when every rollup holds the change of every included partition; -1
 * with errstr (Redis failed: write the same job again, any number of times; each
 * partition's change counts once). The job is the caller's; include is read during the
 * call only. */
int sp_rollups_write(sp_rollups *w, sp_rollups_job *job, const uint8_t *include,
                     int64_t now_ms, char *errstr, size_t errstr_size);

/* Forgets the rollups whose windows no partition can change any more (every
 * partition's watermark, as Redis holds it, is past their end + retention): drops their
 * cache entries and deletes their companions. 0, or -1 with errstr. */
int sp_rollups_release(sp_rollups *w, int64_t watermark_ms, char *errstr, size_t errstr_size);

/* Forgets all the writer knows of what Redis holds (rollups, companions, series
 * indexes): Redis went back in time. Each rollup is read from Redis at its next write. */
void sp_rollups_forget(sp_rollups *w);

/* Brings csat_smoothed up to date in the windows where an agent's or the desk's CSAT
 * changed: at most every smooth_every_ms unless forced. 0, or -1 with errstr. */
int sp_rollups_smooth(sp_rollups *w, int force, int64_t now_wall_ms, char *errstr,
                      size_t errstr_size);

/* Whether RESTORE works here (probed once; else HSET is used). 0 or -1 with errstr. */
int sp_rollups_probe(sp_rollups *w, char *errstr, size_t errstr_size);
/* Writes with HSET whatever Redis allows (the tests of that path). */
void sp_rollups_force_hset(sp_rollups *w);

const sp_rollups_stats *sp_rollups_get_stats(const sp_rollups *w);

/* The Redis fields of a rollup with counters c and sketches sk (sorted on the way): the
 * core counts (sp_metric_core, of an agent's rollup when agent) and the other counts that
 * are not zero, the ratios that are defined (sp_ratios, with their decimals), each
 * duration's _p50, _p90, _p99 (unless with_pct is 0), then `extra` pairs. Writes names and values
 * into out (field i at name[i], value[i]) and returns how many; used for the rollups and
 * by the tests as the reference. */
typedef struct {
    const char *name[96];
    const char *value[96];
    size_t vlen[96];
    char text[96][32];
    int n;
} sp_rollup_fields;
void sp_rollup_fields_of(sp_rollup_fields *out, const sp_counters *c, sp_sketch *sk,
                         int with_pct, int agent);
void sp_rollup_fields_add(sp_rollup_fields *out, const char *name, const char *value);

#endif
