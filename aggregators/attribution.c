/*
 * attribution.c - see attribution.h. Records live in a ring of fixed capacity in order
 * of insertion, found through an sp_u64map from case key to ring slot. `used` counts
 * the slots from the head to the tail, holes (replaced or dropped entries, key 0)
 * included; `count` the live entries. Replacing an entry moves it to the tail, so the
 * ring stays in order of last event time and expiry only looks at the head.
 */
#include "supportpulse/attribution.h"
#include "supportpulse/hashmap.h"

#include <stdlib.h>
#include <string.h>

struct sp_attrs {
    sp_attr *ring;
    size_t cap, head, used, count;
    sp_u64map *index;
    int64_t horizon_ms;
    uint64_t evictions;
    uint64_t inserted; /* entries ever put: the order of the next one */
    sp_u64vec fresh; /* keys listed since the last write */
    int all_fresh;   /* the list ran out of memory: write every entry */
};

sp_attrs *sp_attrs_new(size_t capacity, int64_t horizon_ms)
{
    sp_attrs *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cap = capacity;
    s->horizon_ms = horizon_ms;
    if (!capacity)
        return s;
    s->ring = calloc(capacity, sizeof *s->ring);
    s->index = sp_u64map_new(capacity);
    if (!s->ring || !s->index) {
        sp_attrs_destroy(s);
        return NULL;
    }
    return s;
}

void sp_attrs_destroy(sp_attrs *s)
{
    if (!s)
        return;
    free(s->ring);
    sp_u64map_destroy(s->index);
    sp_u64vec_free(&s->fresh);
    free(s);
}

sp_attr *sp_attrs_find(sp_attrs *s, uint64_t key)
{
    uint32_t slot;
    return s->cap && sp_u64map_get(s->index, key, &slot) ? &s->ring[slot] : NULL;
}

void sp_attrs_mark_fresh(sp_attrs *s, sp_attr *a)
{
    if (a->flags & SP_ATTR_FRESH)
        return;
    a->flags |= SP_ATTR_FRESH;
    if (!s->all_fresh && sp_u64vec_push(&s->fresh, a->key) < 0)
        s->all_fresh = 1;
}

static sp_attr *at(const sp_attrs *s, size_t i) { return &s->ring[(s->head + i) % s->cap]; }

/* Moves the head past holes. */
static void skip_holes(sp_attrs *s)
{
    while (s->used && s->ring[s->head].key == 0) {
        s->head = (s->head + 1) % s->cap;
        s->used--;
    }
}

/* Removes the live entry at the head. */
static void drop_head(sp_attrs *s)
{
    sp_attr *a = &s->ring[s->head];
    sp_u64map_del(s->index, a->key);
    a->key = 0;
    s->count--;
    skip_holes(s);
}

int sp_attrs_put(sp_attrs *s, const sp_attr *a)
{
    if (!s->cap || !a->key)
        return 0;
    uint8_t keep = 0;
    sp_attr *old = sp_attrs_find(s, a->key);
    if (old) { /* leaves a hole; the index is pointed at the new slot below */
        keep = old->flags & (SP_ATTR_CSAT_SEEN | SP_ATTR_FRESH); /* fresh: listed once */
        old->key = 0;
        s->count--;
        skip_holes(s);
    }
    if (s->used == s->cap) {
        drop_head(s); /* skip_holes left a live entry at the head */
        s->evictions++;
    }
    size_t slot = (s->head + s->used) % s->cap;
    if (sp_u64map_put(s->index, a->key, (uint32_t)slot) < 0) {
        if (old)
            sp_u64map_del(s->index, a->key);
        return -1;
    }
    sp_attr *e = &s->ring[slot];
    *e = *a;
    e->flags = (uint8_t)((a->flags & ~SP_ATTR_FRESH) | keep);
    s->count++;
    s->used++;
    s->inserted++;
    sp_attrs_mark_fresh(s, e);
    return 0;
}

size_t sp_attrs_expire(sp_attrs *s, int64_t now_ms)
{
    size_t n = 0;
    skip_holes(s);
    while (s->used && (int64_t)s->ring[s->head].last_min * 60000 + s->horizon_ms < now_ms) {
        drop_head(s);
        n++;
    }
    return n;
}

static int by_last_min(const void *x, const void *y)
{
    const sp_attr *a = x, *b = y;
    return (a->last_min > b->last_min) - (a->last_min < b->last_min);
}

int sp_attrs_reorder(sp_attrs *s)
{
    if (!s->count)
        return 0;
    sp_attr *tmp = malloc(s->count * sizeof *tmp);
    if (!tmp)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < s->used; i++)
        if (at(s, i)->key)
            tmp[n++] = *at(s, i);
    qsort(tmp, n, sizeof *tmp, by_last_min);
    memset(s->ring, 0, s->cap * sizeof *s->ring);
    for (size_t i = 0; i < n; i++) {
        s->ring[i] = tmp[i];
        sp_u64map_put(s->index, tmp[i].key, (uint32_t)i); /* replaces: never grows */
    }
    s->head = 0;
    s->used = n;
    free(tmp);
    return 0;
}

void sp_attrs_each(sp_attrs *s, void (*fn)(const sp_attr *a, void *arg), void *arg)
{
    for (size_t i = 0; i < s->used; i++)
        if (at(s, i)->key)
            fn(at(s, i), arg);
}

void sp_attrs_each_fresh(sp_attrs *s, void (*fn)(const sp_attr *a, void *arg), void *arg)
{
    if (s->all_fresh) {
        for (size_t i = 0; i < s->used; i++)
            if (at(s, i)->key)
                fn(at(s, i), arg);
        return;
    }
    for (size_t i = 0; i < s->fresh.n; i++) {
        sp_attr *a = sp_attrs_find(s, s->fresh.v[i]);
        if (a && (a->flags & SP_ATTR_FRESH))
            fn(a, arg);
    }
}

void sp_attrs_mark_written(sp_attrs *s)
{
    for (size_t i = 0; i < s->fresh.n; i++) {
        sp_attr *a = sp_attrs_find(s, s->fresh.v[i]);
        if (a)
            a->flags &= (uint8_t)~SP_ATTR_FRESH;
    }
    if (s->all_fresh)
        for (size_t i = 0; i < s->used; i++)
            at(s, i)->flags &= (uint8_t)~SP_ATTR_FRESH;
    s->fresh.n = 0;
    s->all_fresh = 0;
}

size_t sp_attrs_size(const sp_attrs *s) { return s->count; }

void sp_attrs_layout(const sp_attrs *s, uint64_t *head_order, uint64_t *used)
{
    *head_order = s->inserted - s->used;
    *used = s->used;
}

int sp_attrs_restore_layout(sp_attrs *s, uint64_t head_order, uint64_t used)
{
    if (s->count || used > s->cap)
        return -1;
    s->head = 0;
    s->used = (size_t)used;
    s->inserted = head_order + used;
    return 0;
}

int sp_attrs_place(sp_attrs *s, uint64_t order, const sp_attr *a)
{
    uint64_t head_order = s->inserted - s->used;
    if (!s->cap || order < head_order || order - head_order >= s->used || !a->key)
        return -1;
    size_t slot = (size_t)(order - head_order);
    if (s->ring[slot].key || sp_u64map_put(s->index, a->key, (uint32_t)slot) < 0)
        return -1;
    s->ring[slot] = *a;
    s->ring[slot].flags &= (uint8_t)~SP_ATTR_FRESH;
    s->count++;
    return 0;
}

void sp_attrs_restore_done(sp_attrs *s) { skip_holes(s); }

uint64_t sp_attrs_order(const sp_attrs *s, const sp_attr *a)
{
    size_t slot = (size_t)(a - s->ring);
    return s->inserted - s->used + (slot + s->cap - s->head) % s->cap;
}
uint64_t sp_attrs_evictions(const sp_attrs *s) { return s->evictions; }
int64_t sp_attrs_horizon_ms(const sp_attrs *s) { return s->horizon_ms; }
