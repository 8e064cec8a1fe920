/*
 * redis_publisher.h - writes partition state to Redis per shared/spec/redis.md, and
 * reads it back when a partition is (re)assigned.
 *
 * Each partition keeps its own partial of every (window, dims) cell in Redis
 * ({p}:pp:{topic}:{partition}:{dims}:{start}). A Lua script replaces a partial and
 * adds the difference to the 1m, 5m, 15m, 1h and 1d totals ({p}:r:...), recomputes
 * their ratios, updates the {p}:ts index and sends PUBLISH {p}:updates. Re-sending a
 * partial adds zero, so replays and several partitions or instances give the totals
 * of one reader that saw every event once.
 *
 * One flush of a partition is one MULTI/EXEC: its dirty partials, its changed cases
 * and, last, its resume point (next offset, newest event time) in {p}:meta. A
 * restarted or rebalanced consumer restores exactly that state and resumes there.
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
} sp_publisher_conf;

typedef struct sp_publisher sp_publisher;

extern const char *const sp_res_names[SP_NRES];
extern const int64_t sp_res_seconds[SP_NRES];

/* Creates a publisher (not yet connected). Strings in conf are copied. */
sp_publisher *sp_publisher_new(const sp_publisher_conf *conf, char *errstr, size_t errstr_size);
void sp_publisher_destroy(sp_publisher *pub); /* NULL is a no-op */

/* Connects if not connected and loads the script. 0, or -1 with errstr. */
int sp_publisher_connect(sp_publisher *pub, char *errstr, size_t errstr_size);
int sp_publisher_connected(const sp_publisher *pub);

/* Writes the partition's dirty state and resume point (next_offset) atomically.
 * 0 on success (the caller then marks the partition clean and may commit), -1 with
 * errstr when Redis failed (nothing to mark; retry later, the write is idempotent). */
int sp_publisher_flush(sp_publisher *pub, const char *topic, int32_t partition,
                       sp_partition *p, int64_t next_offset, char *errstr, size_t errstr_size);

/* Restores a partition's state. *next_offset = -1 when Redis has none for it.
 * 0 on success, -1 with errstr. */
int sp_publisher_restore(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, int64_t *next_offset, char *errstr,
                         size_t errstr_size);

/* Updates {p}:meta: HINCRBY of n counters (zero deltas skipped), then HSET of m
 * fields. 0 or -1 with errstr. */
int sp_publisher_meta(sp_publisher *pub, const char *const *counters, const int64_t *deltas,
                      size_t n, const char *const *fields, const char *const *values, size_t m,
                      char *errstr, size_t errstr_size);

/* How many Redis commands were sent (for the benchmark). */
uint64_t sp_publisher_commands(const sp_publisher *pub);

#endif
