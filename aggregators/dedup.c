/*
 * dedup.c - see dedup.h. A ring in arrival order (hash, event time), sized once at
 * creation, plus an sp_u64set of the same hashes that grows with what it holds (up to
 * the capacity). An event's check is one probe of the set (and, once the horizon or the
 * capacity is reached, the removal of the oldest id).
 */
#include "supportpulse/dedup.h"
#include "supportpulse/hashmap.h"

#include <stdlib.h>

typedef struct {
    uint64_t hash;
    int64_t ts_ms;
} entry;

struct sp_dedup {
    entry *ring;
    size_t cap, head, count;
    sp_u64set *seen;
    int64_t horizon_ms, max_ts;
    uint64_t evictions;
    size_t fresh; /* the newest `fresh` entries are not published yet */
};

sp_dedup *sp_dedup_new(size_t capacity, int64_t horizon_ms)
{
    sp_dedup *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cap = capacity ? capacity : 1;
    d->ring = calloc(d->cap, sizeof *d->ring);
    d->seen = sp_u64set_new(d->cap);
    if (!d->ring || !d->seen) {
        sp_dedup_destroy(d);
        return NULL;
    }
    d->horizon_ms = horizon_ms;
    d->max_ts = INT64_MIN;
    return d;
}

void sp_dedup_destroy(sp_dedup *d)
{
    if (!d)
        return;
    free(d->ring);
    sp_u64set_destroy(d->seen);
    free(d);
}

static void pop_oldest(sp_dedup *d)
{
    sp_u64set_del(d->seen, d->ring[d->head].hash);
    d->head = (d->head + 1) % d->cap;
    d->count--;
}

/* Remembers h unless known: 1 if it was known, 0 if added, -1 if no memory to add it. */
static int remember(sp_dedup *d, uint64_t h, int64_t ts_ms)
{
    if (ts_ms > d->max_ts)
        d->max_ts = ts_ms;
    while (d->count && d->ring[d->head].ts_ms < d->max_ts - d->horizon_ms)
        pop_oldest(d);
    if (d->count == d->cap) {
        if (sp_u64set_has(d->seen, h))
            return 1;
        pop_oldest(d);
        d->evictions++;
    }
    int rc = sp_u64set_add(d->seen, h);
    if (rc == 1)
        return 1;
    if (rc < 0)
        return -1; /* no memory to remember it: it may pass again if repeated */
    d->ring[(d->head + d->count) % d->cap] = (entry){h, ts_ms};
    d->count++;
    return 0;
}

void sp_dedup_prefetch(const sp_dedup *d, uint64_t hash)
{
    sp_u64set_prefetch(d->seen, hash ? hash : 1);
}

uint64_t sp_dedup_hash(const char *id, size_t len)
{
    uint64_t h = sp_hash_bytes(id, len);
    return h ? h : 1;
}

int sp_dedup_check(sp_dedup *d, uint64_t hash, int64_t ts_ms)
{
    int rc = remember(d, hash ? hash : 1, ts_ms);
    d->fresh += rc == 0;
    return rc == 1;
}

void sp_dedup_restore(sp_dedup *d, uint64_t hash, int64_t ts_ms)
{
    uint64_t evictions = d->evictions; /* counted when they happened, not again */
    if (hash)
        remember(d, hash, ts_ms);
    d->evictions = evictions;
}

size_t sp_dedup_each_fresh(const sp_dedup *d, void (*fn)(uint64_t hash, int64_t ts_ms, void *arg),
                           void *arg)
{
    size_t n = d->fresh < d->count ? d->fresh : d->count; /* evicted ones are gone */
    for (size_t i = d->count - n; i < d->count; i++) {
        const entry *e = &d->ring[(d->head + i) % d->cap];
        fn(e->hash, e->ts_ms, arg);
    }
    return n;
}

void sp_dedup_mark_published(sp_dedup *d) { d->fresh = 0; }

size_t sp_dedup_each(const sp_dedup *d, void (*fn)(uint64_t hash, int64_t ts_ms, void *arg),
                     void *arg)
{
    for (size_t i = 0; i < d->count; i++) {
        const entry *e = &d->ring[(d->head + i) % d->cap];
        fn(e->hash, e->ts_ms, arg);
    }
    return d->count;
}

size_t sp_dedup_size(const sp_dedup *d) { return d->count; }
uint64_t sp_dedup_evictions(const sp_dedup *d) { return d->evictions; }
