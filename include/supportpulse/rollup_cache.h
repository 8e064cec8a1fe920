/*
 * rollup_cache.h - what a writer knows of the rollups it writes: for each rollup, the
 * counts and merged duration sketches Redis holds, the version of its companion
 * ({p}:x:{<rollup>}, redis_keys.h) and each partition's mark (the last flush of that
 * partition whose change the rollup contains). With it the writer computes a rollup's new
 * counts, ratios and percentiles itself and writes the rollup whole; Redis takes the write
 * only while the companion's version is still the one the writer knew (rollups.lua), so
 * a wrong or stale entry can cost a round trip, never a wrong value.
 *
 * The companion (binary): 'x', the 16-byte version (the writer's 8-byte token and an
 * 8-byte write counter), a flags byte, the marks (varint count, then partition and flush
 * number varints, by partition), the sketches (varint duration mask, then per duration
 * its bucket count and (index step, count) varints).
 *
 * Entries leave when their window can no longer change (sp_rollup_cache_final) and, past
 * the budget, the least recently used first. Not thread-safe: one writer owns a cache.
 * Ownership: the cache owns entries and their sketches; an entry pointer stays valid
 * until that entry is dropped.
 */
#ifndef SUPPORTPULSE_ROLLUP_CACHE_H
#define SUPPORTPULSE_ROLLUP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/bytes.h"
#include "supportpulse/metrics.h"
#include "supportpulse/sketch.h"

#define SP_ROLLUP_VERSION_LEN 16
#define SP_ROLLUP_FROZEN 0x01u /* the sketch was lost (companion gone): percentiles kept */

typedef struct {
    int32_t partition;
    int64_t seq;
} sp_rollup_mark;

typedef struct {
    char *key;                       /* the rollup key (owned) */
    size_t len;
    unsigned char version[SP_ROLLUP_VERSION_LEN];
    int exists;                      /* Redis holds the rollup */
    int has_companion;               /* ... and its companion, of this version */
    uint8_t flags;
    sp_counters c;
    sp_sketch sk[SP_D__COUNT];
    sp_rollup_mark *marks;           /* sorted by partition */
    uint32_t nmarks, capmarks;
    char smoothed[24];               /* the csat_smoothed last written, "" none */
    int64_t final_ms;                /* event time after which the window cannot change */
    uint64_t used;                   /* the flush that last used it */
} sp_rollup_entry;

typedef struct sp_rollup_cache sp_rollup_cache;

sp_rollup_cache *sp_rollup_cache_new(size_t max_entries); /* NULL when out of memory */
void sp_rollup_cache_destroy(sp_rollup_cache *c);         /* NULL is a no-op */
size_t sp_rollup_cache_size(const sp_rollup_cache *c);

sp_rollup_entry *sp_rollup_cache_find(sp_rollup_cache *c, const char *key, size_t len);
/* The entry of key, created empty (not existing) when absent. NULL when out of memory. */
sp_rollup_entry *sp_rollup_cache_get(sp_rollup_cache *c, const char *key, size_t len);
/* Empties an entry: nothing known of the rollup. */
void sp_rollup_entry_clear(sp_rollup_entry *e);
void sp_rollup_cache_drop(sp_rollup_cache *c, sp_rollup_entry *e);
/* Drops every entry: nothing is known of any rollup (no entry may be held). */
void sp_rollup_cache_clear(sp_rollup_cache *c);
/* Calls fn for every entry whose final_ms <= watermark_ms (the window is closed for every
 * partition), then drops it. */
void sp_rollup_cache_final(sp_rollup_cache *c, int64_t watermark_ms,
                           void (*fn)(const sp_rollup_entry *e, void *arg), void *arg);
/* Drops the least recently used entries while there are more than the budget. */
void sp_rollup_cache_trim(sp_rollup_cache *c);

/* The mark of a partition (0 when none). */
int64_t sp_rollup_mark_of(const sp_rollup_entry *e, int32_t partition);
/* Sets a partition's mark. 0, or -1 when out of memory. */
int sp_rollup_mark_set(sp_rollup_entry *e, int32_t partition, int64_t seq);

/* The companion of e with the given version. 0, or -1 when out of memory. */
int sp_companion_encode(const sp_rollup_entry *e, const unsigned char *version, sp_buf *out);
/* Fills e's version, flags, marks and sketches from a companion (counts stay). 0, or -1
 * when malformed or out of memory. */
int sp_companion_decode(sp_rollup_entry *e, const void *data, size_t len);

#endif
