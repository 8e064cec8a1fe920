/*
 * sketch_cache.h - the publisher's copy of the merged duration sketches it last wrote to
 * Redis, so that a flush can send their new bucket counts and percentiles instead of
 * making merge.lua read, parse and sort every bucket of every rollup it touches.
 *
 * One entry per rollup ({p}:r:{res}:{dims}:{start}): the merged sketch of each duration
 * as the writer believes Redis holds it, and the version the writer set with it (field
 * "v" of the sketch hash {p}:sk:{res}:{dims}:{start}). merge.lua trusts the writer's
 * values only when that version is still there (no other writer, restart or expiry came
 * between); otherwise it merges the bucket changes itself, as it always did, and names
 * the rollup in its reply so the publisher reloads the entry (or, after repeated misses, stops caching it: a
 * rollup that several instances write). A wrong cache can therefore cost speed, never
 * correctness.
 *
 * Entries unused for a while are dropped (sp_skcache_trim), and the least recently used
 * ones while the copies hold more buckets than the budget (checked every 64 flushes, so
 * a few flushes' new buckets can pass it). A bucket costs 12 to 32 bytes with its share
 * of a sketch's lookup table: the default budget, 4 million buckets, is 50-130 MB at the
 * most; an entry adds ~250 bytes.
 *
 * Not thread-safe: the pipeline thread's publisher owns it. Ownership: the cache owns its
 * entries and their sketches; an entry pointer is valid until the next call that adds or
 * drops entries (get, forget, trim, clear).
 */
#ifndef SUPPORTPULSE_SKETCH_CACHE_H
#define SUPPORTPULSE_SKETCH_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/metrics.h"
#include "supportpulse/sketch.h"

#define SP_SKCACHE_VERSION_MAX 40
#define SP_SKCACHE_SHARED_AFTER 3    /* close misses before a rollup counts as shared */
#define SP_SKCACHE_SHARED_FLUSHES 600 /* flushes it then goes uncached before a retry */
#define SP_SKCACHE_IDLE_FLUSHES 600   /* flushes unused before an entry is dropped */
#define SP_SKCACHE_BUCKETS 4000000    /* bucket budget of all copies */

typedef struct {
    char *key;                          /* the rollup key (owned) */
    size_t len;
    char version[SP_SKCACHE_VERSION_MAX]; /* expected in {p}:sk:... "v"; "-" = none */
    sp_sketch sk[SP_D__COUNT];          /* merged counts (the pub field is unused) */
    uint64_t used;                      /* the flush that last used it */
    uint64_t last_miss;                 /* the flush of its last version mismatch */
    int misses;                         /* mismatches, each within 64 flushes of the last */
    uint64_t shared;                    /* the flush since which it counts as written by
                                           others too (not cached); 0 = not shared */
} sp_skcache_entry;

typedef struct sp_skcache sp_skcache;

/* A cache of at most max_entries rollups (0 = 100,000). NULL when out of memory. */
sp_skcache *sp_skcache_new(size_t max_entries);
void sp_skcache_destroy(sp_skcache *c); /* NULL is a no-op */

/* The entry of key, created (empty, version "-") when absent, marked used in flush.
 * NULL when out of memory or full (the caller then sends the rollup uncached). */
sp_skcache_entry *sp_skcache_get(sp_skcache *c, const char *key, size_t len, uint64_t flush);
/* The entry of key or NULL; does not create. */
sp_skcache_entry *sp_skcache_find(sp_skcache *c, const char *key, size_t len);
/* Drops key's entry (absent: no-op). */
void sp_skcache_forget(sp_skcache *c, const char *key, size_t len);
/* Empties an entry's sketches and sets its version to "-" (to be reloaded). */
void sp_skcache_reset(sp_skcache_entry *e);
/* Drops every entry (after a flush whose outcome is unknown). */
void sp_skcache_clear(sp_skcache *c);
/* Drops the entries last used before flush - idle, then the least recently used while
 * the copies hold more than max_buckets buckets. */
void sp_skcache_trim(sp_skcache *c, uint64_t flush, uint64_t idle, size_t max_buckets);
/* Buckets held by all copies. */
size_t sp_skcache_buckets(const sp_skcache *c);
size_t sp_skcache_size(const sp_skcache *c);

#endif
