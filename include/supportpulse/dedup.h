/*
 * dedup.h - drops repeated event ids within a horizon of event time, per partition.
 *
 * Remembers the 64-bit hash of each id in arrival order: 16 bytes of ring plus 8-16
 * bytes of hash set an id, whatever its length; two different ids collide with
 * probability ~n/2^64. An id leaves when its event time is older than the partition's
 * newest event time minus the horizon, or when the capacity is reached (the oldest
 * leaves first; counted as an eviction, which shortens the horizon for that burst).
 *
 * The ids remembered since the last publish are kept apart (they are the newest part of
 * the ring) so the publisher can journal them in Redis with the flush, and a restarted
 * or reassigned partition restores them: a repeat that straddles a restart is dropped
 * too.
 *
 * Single writer, owned by one partition's state.
 */
#ifndef SUPPORTPULSE_DEDUP_H
#define SUPPORTPULSE_DEDUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_dedup sp_dedup;

/* Returns NULL when out of memory. capacity >= 1. */
sp_dedup *sp_dedup_new(size_t capacity, int64_t horizon_ms);
void sp_dedup_destroy(sp_dedup *d); /* NULL is a no-op */
/* The hash an id is remembered by (never 0). */
uint64_t sp_dedup_hash(const char *id, size_t len);
/* 1 if the id of this hash (sp_dedup_hash) was seen within the horizon (a duplicate),
 * else 0 and it is remembered. */
int sp_dedup_check(sp_dedup *d, uint64_t hash, int64_t ts_ms);
/* Starts loading what sp_dedup_check(d, hash, ...) will read; no other effect. */
void sp_dedup_prefetch(const sp_dedup *d, uint64_t hash);
size_t sp_dedup_size(const sp_dedup *d);
/* Calls fn for each id remembered since the last sp_dedup_mark_published, oldest
 * first; returns how many. */
size_t sp_dedup_each_fresh(const sp_dedup *d, void (*fn)(uint64_t hash, int64_t ts_ms, void *arg),
                           void *arg);
void sp_dedup_mark_published(sp_dedup *d);
/* Calls fn for every id remembered, oldest first; returns how many. */
size_t sp_dedup_each(const sp_dedup *d, void (*fn)(uint64_t hash, int64_t ts_ms, void *arg),
                     void *arg);
/* Remembers a hash read back from Redis (as published, not fresh). Past the capacity
 * the oldest is dropped without counting an eviction (it was counted when it happened). */
void sp_dedup_restore(sp_dedup *d, uint64_t hash, int64_t ts_ms);
uint64_t sp_dedup_evictions(const sp_dedup *d);

#endif
