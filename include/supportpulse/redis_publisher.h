/*
 * redis_publisher.h - writes partition state to Redis per shared/spec/redis.md, and
 * reads it back when a partition is (re)assigned. The steps and why they are safe are
 * in docs/design.md ("The flush and commit protocol").
 *
 * A flush, for each partition that moved: (1) its checkpoint: the changes since its last
 * flush appended to its log in its own hash slot, with its resume point, fenced by its
 * claim (checkpoint.h); (2) once every checkpoint is committed, the rollups those
 * changes touch (rollups.h), each write marked with the partition's flush number so it
 * counts once however often it is sent; (3) the live hashes and presence (live.h);
 * (4) the resume points and message counts in {p}:meta. Every step is a set of short
 * calls, each idempotent, each within one hash slot. A flush that fails part-way is
 * finished by the next attempt (or, after a crash, by the partition's next owner, whose
 * restore finds the last checkpoint's changes pending and sends them again).
 *
 * Not thread-safe: one thread at a time uses a publisher (the flush thread while a job
 * is in flight, else the pipeline thread); sp_publisher_set_partitions and
 * sp_publisher_watermark may be called from any thread. Ownership: the publisher owns
 * its Redis connections; it keeps no partition pointer past a call.
 */
#ifndef SUPPORTPULSE_REDIS_PUBLISHER_H
#define SUPPORTPULSE_REDIS_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/checkpoint.h"
#include "supportpulse/partition.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/rollups.h"

typedef struct {
    const char *address;          /* HOST:PORT or unix:/path (a server or a cluster node) */
    const char *user, *password;  /* AUTH (sp_redis_set_auth); NULL: none */
    sp_redis_tls_conf tls; /* TLS (sp_redis_set_tls); .enabled 0: plain */
    const char *prefix;           /* {p} */
    const char *topic;            /* the one topic this prefix is written from */
    int64_t ttl_s[SP_NRES];       /* per resolution; 0 = keep */
    int connect_timeout_ms;
    int command_timeout_ms;
    int64_t lateness_ms, retention_ms;
    int64_t csat_prior_weight;    /* m of csat_smoothed (0 = no smoothed score) */
    int max_call;                 /* rollups (cells) per Redis call */
    const char *resolutions;      /* resolutions_by_dims, recorded in {p}:meta */
    int64_t smooth_every_ms;      /* csat_smoothed pass at most this often */
    size_t cache_entries;         /* rollups remembered by the writer (0 = 200,000) */
    const sp_zones *zones;        /* where each dims' day starts (NULL: UTC); borrowed,
                                     must outlive the publisher */
} sp_publisher_conf;

typedef struct sp_publisher sp_publisher;

/* Creates a publisher (not yet connected). Strings in conf are copied. */
sp_publisher *sp_publisher_new(const sp_publisher_conf *conf, char *errstr, size_t errstr_size);
void sp_publisher_destroy(sp_publisher *pub); /* NULL is a no-op */

/* Connects if not connected; on the first connect checks that the prefix was written
 * from this topic with these resolutions (or records them). 0, or -1 with errstr;
 * *conflict is set when the prefix holds another topic or resolutions_by_dims (a
 * setting to change, not a failure to retry). */
int sp_publisher_connect(sp_publisher *pub, int *conflict, char *errstr, size_t errstr_size);

/* What a partition counted (messages consumed, applied, ..., dead-lettered per
 * reason, and what its full stores had to forget). Each partition's counts travel with
 * its resume point, and meta.lua adds their change to the totals in {p}:meta, so a
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
    SP_PC_OVERFLOW_QUEUES, /* events counted under queue SP_OVERFLOW_NAME: max_queues */
    SP_PC_OVERFLOW_AGENTS, /* ... agent SP_OVERFLOW_NAME: max_agents */
    SP_PC_OVERFLOW_TENANTS, /* ... tenant SP_OVERFLOW_NAME: max_tenants */
    SP_PC_OVERFLOW_COMBOS, /* ... queue SP_OVERFLOW_NAME: max_combos */
    SP_PC_NORMALIZED_NAMES, /* applied events with a name trimmed or NFC-normalized */
    SP_PC_ORPHANED,      /* calls timed out in queue or in conversation (max_wait_s) */
    SP_PC__COUNT         /* {p}:meta: consumed, applied, duplicates, late_dropped,
                          * rejected:<reason>, evicted_cases, evicted_ids,
                          * evicted_attributions, overflow_queues, overflow_agents,
                          * overflow_tenants, overflow_combos, normalized_names, orphaned */
} sp_part_count;
/* The {p}:meta fields of SP_PC_EVICTED_CASES .. SP_PC__COUNT - 1, in that order: what a
 * partition's bounded stores and names tables lost or lumped together, then the names it
 * normalized and the calls it timed out. */
#define SP_PC_STORE_FIELDS                                                                 \
    {"evicted_cases",   "evicted_ids",     "evicted_attributions",                         \
     "overflow_queues", "overflow_agents", "overflow_tenants", "overflow_combos",          \
     "normalized_names", "orphaned"}

typedef enum {
    SP_FLUSH_OK,       /* in Redis: mark the partition published */
    SP_FLUSH_STALE,    /* another owner claimed it: drop it until it is assigned again */
    SP_FLUSH_BEHIND,   /* Redis holds less than this owner committed: restore it again */
    SP_FLUSH_FAILED    /* try again (unchanged) */
} sp_flush_result;

/* One partition of a flush. */
typedef struct {
    int32_t partition;
    sp_partition *p;
    int64_t next_offset;     /* resume point: the next offset to consume */
    const uint64_t *counts;  /* SP_PC__COUNT totals of the partition */
    sp_checkpoint *cp;       /* its checkpoint: seq moves on when committed */
    int committed;           /* in/out: its changes are committed as flush cp->seq (their
                                rollup writes may be pending); cleared when published */
    sp_flush_result result;  /* out */
} sp_flush_part;

/* A flush in two halves, so that the partitions take events again while Redis is
 * written: sp_flush_job_new copies what n partitions show (each one's checkpoint
 * segment, the changes of its dirty cells, its gauges and presence; reading nothing of
 * the publisher but its configuration) on the thread that owns them, which may then mark
 * them published and apply more events; sp_flush_job_send writes the job (steps 1-4)
 * on any one thread at a time. A send that fails (-1, with each part's outcome) is sent
 * again, the same job, any number of times: commits are recognised, rollup writes carry
 * marks, the rest is absolute. No other job of the same partitions may be built until
 * the job is done (sp_flush_job_pending is 0). Ownership: the caller's. */
typedef struct sp_flush_job sp_flush_job;
typedef struct {
    int32_t partition;
    int64_t next_offset;
    sp_checkpoint cp;        /* the claim as the job leaves it (seq moves on with a commit) */
    int committed;
    sp_flush_result result;  /* OK once the last send wrote everything of the part */
    int forgotten;           /* left out of sends (sp_flush_job_forget) */
} sp_flush_outcome;

/* reuse: a job done with, whose memory the new one takes (or NULL); it is consumed
 * either way. NULL with errstr when out of memory. */
sp_flush_job *sp_flush_job_new(const sp_publisher *pub, const sp_flush_part *parts, int n,
                               sp_flush_job *reuse, char *errstr, size_t errstr_size);
void sp_flush_job_destroy(sp_flush_job *job); /* NULL is a no-op */
/* now_event_ms: the newest event time of the instance (the live hashes' "now"). 0 when
 * every part is OK; -1 with errstr otherwise (see each outcome). After a send that
 * wrote everything: the logs due for it become snapshots, closed windows are released,
 * csat_smoothed is brought up to date, and the instance-wide meta fields are written
 * (sp_flush_job_set_meta), each best effort. */
int sp_flush_job_send(sp_publisher *pub, sp_flush_job *job, int64_t now_event_ms,
                      char *errstr, size_t errstr_size);
int sp_flush_job_parts(const sp_flush_job *job);
const sp_flush_outcome *sp_flush_job_outcome(const sp_flush_job *job, int i);
size_t sp_flush_job_rollups(const sp_flush_job *job); /* rollups it changes */
/* Whether a part failed and is to be sent again. */
int sp_flush_job_pending(const sp_flush_job *job);
/* The partition is no longer this instance's: later sends leave it out. */
void sp_flush_job_forget(sp_flush_job *job, int32_t partition);
/* The instance-wide fields of {p}:meta written after the job (sp_publisher_meta). */
void sp_flush_job_set_meta(sp_flush_job *job, int64_t watermark_ms, const char *version);

/* A flush in one call (a job built, sent once, its outcomes copied back into parts):
 * partitions left committed are to be sent again unchanged (nothing applied to them
 * until they are published). 0 when every partition is OK; -1 with errstr otherwise. */
int sp_publisher_flush(sp_publisher *pub, sp_flush_part *parts, int n, int64_t now_event_ms,
                       char *errstr, size_t errstr_size);

/* The topic's number of partitions: windows are released (their rollups' companions
 * deleted) only once every partition has written a resume point, since any of them could
 * still add to them before. 0 = unknown (nothing is released). */
void sp_publisher_set_partitions(sp_publisher *pub, int n);
/* The oldest watermark of the topic's partitions as Redis holds it (INT64_MIN until
 * every partition has one), as of the last flush. */
int64_t sp_publisher_watermark(const sp_publisher *pub);

/* Forgets what the writers know of Redis (rollup versions and marks, the live dims
 * added): Redis went back in time, so it is read again at each next write. Call with
 * no job in flight. */
void sp_publisher_forget(sp_publisher *pub);

/* Restores a partition: claims it (cp), rebuilds p (new, empty) from its checkpoint,
 * and, when the last flush's changes may not all be in the rollups, sends them again
 * (so p is clean on return). *next_offset = -1 when Redis has no resume point (counts
 * are then zero). 0, or -1 with errstr (nothing restored: try again). */
int sp_publisher_restore(sp_publisher *pub, int32_t partition, sp_partition *p,
                         sp_checkpoint *cp, int64_t *next_offset, uint64_t *counts,
                         char *errstr, size_t errstr_size);

/* The instance-wide fields of {p}:meta (schema and pipeline versions, watermark). */
int sp_publisher_meta(sp_publisher *pub, int64_t watermark_ms, const char *version,
                      char *errstr, size_t errstr_size);

/* The csat_smoothed pass (forced at shutdown). 0 or -1 with errstr. */
int sp_publisher_smooth(sp_publisher *pub, int force, char *errstr, size_t errstr_size);

typedef struct {
    sp_rollups_stats rollups;
    uint64_t flushes, commits, snapshots, resends;
    uint64_t checkpoint_bytes;    /* segment bytes committed */
    uint64_t ns_commit, ns_live, ns_meta; /* time in those steps (ns, summed) */
} sp_publisher_stats;
const sp_publisher_stats *sp_publisher_get_stats(const sp_publisher *pub);
/* The Redis client (for tests and the benchmark's counters). */
sp_redis *sp_publisher_redis(sp_publisher *pub);
/* Writes rollups with HSET (tests of the fallback path). */
void sp_publisher_force_hset(sp_publisher *pub);

#endif
