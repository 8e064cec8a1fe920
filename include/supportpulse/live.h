/*
 * live.h - the live hashes {p}:live:{dims} that wall boards read (docs/metrics.md, "Live
 * values"), and agent presence.
 *
 * Gauges (in_queue, backlog, the oldest waiting call) are each partition's own: a writer
 * sends the absolute gauges of its partitions into the live hash's companion
 * ({p}:lx:{<live key>}, one field per partition) and live.lua sums them over every
 * partition, so the hash never depends on which instance owns which partition and a
 * write sent twice changes nothing. The last-15-minutes, last-hour and today values are
 * computed here from the rollups Redis holds (read after the flush's rollup writes: they
 * are the sum of every instance's partitions), with the ratios of metrics.h.
 *
 * Presence (agent.status): presence.lua keeps each agent's newest status and the count
 * of available and staffed agents per live dims, in one hash slot; the live hashes take
 * agents_available and agents_staffed from those counts.
 *
 * Not thread-safe: one thread at a time uses a writer (as the rollup writer, rollups.h).
 * Ownership: a writer keeps nothing of a job past a call.
 */
#ifndef SUPPORTPULSE_LIVE_H
#define SUPPORTPULSE_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/partition.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/rollups.h"

typedef struct {
    const char *prefix;
    const char *topic;
    int max_call;             /* live hashes (or presence updates) per call */
    const sp_zones *zones;    /* "_today" is the local day of each dims (NULL: UTC);
                                 borrowed, must outlive the writer */
} sp_live_conf;

typedef struct sp_live sp_live;

sp_live *sp_live_new(const sp_live_conf *conf, sp_redis *r, char *errstr, size_t errstr_size);
void sp_live_destroy(sp_live *l); /* NULL is a no-op */
/* Forgets which dims this writer added to {p}:livedims (Redis went back in time). */
void sp_live_forget(sp_live *l);

/* What a flush's partitions show: their presence entries and the gauges of every live
 * dims they know, copied (with all_dims, every such dims is written: after a restore,
 * the new owner's gauges replace what the old owner left). Runs on the thread that owns
 * the partitions. NULL with errstr when out of memory. Ownership: the caller's. */
typedef struct sp_live_job sp_live_job;
sp_live_job *sp_live_job_new(const sp_rollup_part *parts, int n, int all_dims, char *errstr,
                             size_t errstr_size);
void sp_live_job_destroy(sp_live_job *j); /* NULL is a no-op */

/* After a flush's rollups are written: the job's presence, then the live hashes of every
 * dims whose rollups (the flush's rollup job), gauges or presence moved, or that has calls
 * waiting (their oldest wait grows). now_event_ms: the live hashes' "now". 0, or -1 with
 * errstr; sent again, it changes nothing more. */
int sp_live_write(sp_live *l, const sp_live_job *job, const sp_rollups_job *rollups,
                  int64_t now_ms, int64_t now_event_ms, char *errstr, size_t errstr_size);

#endif
