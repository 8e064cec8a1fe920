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
 * Not thread-safe: the pipeline thread's. Ownership: nothing kept past a call.
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
} sp_live_conf;

typedef struct sp_live sp_live;

sp_live *sp_live_new(const sp_live_conf *conf, sp_redis *r, char *errstr, size_t errstr_size);
void sp_live_destroy(sp_live *l); /* NULL is a no-op */

/* After a flush's rollups are written: the presence of its partitions, then the live
 * hashes of every dims whose rollups, gauges or presence moved, or that has calls
 * waiting (their oldest wait grows); with all_dims, every dims the partitions know (after
 * a restore: the new owner's gauges replace what the old owner left). w: the rollup
 * writer of the flush (its changed dims). now_event_ms: the live hashes' "now". 0, or -1
 * with errstr. */
int sp_live_write(sp_live *l, const sp_rollup_part *parts, int n, const sp_rollups *w,
                  int all_dims, int64_t now_ms, int64_t now_event_ms, char *errstr,
                  size_t errstr_size);

#endif
