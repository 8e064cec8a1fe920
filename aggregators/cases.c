/*
 * cases.c - see cases.h. Records live in a ring (creation order) of fixed capacity,
 * found through an sp_u64map from key to ring slot. `used` counts the slots from the
 * head to the tail, holes (removed cases, key 0) included; `count` the live cases. Dirty and removed keys are kept in
 * two growable lists between publishes; if memory for them runs out the lists are
 * dropped and a full rewrite is requested (all_dirty), so nothing is silently lost.
 */
#include "supportpulse/cases.h"
#include "supportpulse/hashmap.h"

#include <stdlib.h>
#include <string.h>


struct sp_cases {
    sp_case *ring;
    size_t cap, head, used, count;
    sp_u64map *index;
    int64_t max_age_ms, grace_ms;
    void (*on_drop)(sp_case *k, void *arg);
    void *on_drop_arg;
    uint64_t evictions;
    uint64_t created;         /* cases ever opened: the order of the next one */
    sp_u64vec dirty, removed; /* keys */
    int all_dirty;
};

sp_cases *sp_cases_new(size_t capacity, int64_t max_age_ms, int64_t grace_ms)
{
    sp_cases *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cap = capacity ? capacity : 1;
    c->ring = calloc(c->cap, sizeof *c->ring);
    c->index = sp_u64map_new(c->cap);
    if (!c->ring || !c->index) {
        sp_cases_destroy(c);
        return NULL;
    }
    c->max_age_ms = max_age_ms;
    c->grace_ms = grace_ms;
    return c;
}

void sp_cases_on_drop(sp_cases *c, void (*fn)(sp_case *k, void *arg), void *arg)
{
    c->on_drop = fn;
    c->on_drop_arg = arg;
}

void sp_cases_destroy(sp_cases *c)
{
    if (!c)
        return;
    free(c->ring);
    sp_u64map_destroy(c->index);
    sp_u64vec_free(&c->dirty);
    sp_u64vec_free(&c->removed);
    free(c);
}

uint64_t sp_case_key(int is_call, const char *id, size_t len)
{
    char buf[160];
    if (len > sizeof buf - 2)
        len = sizeof buf - 2;
    buf[0] = is_call ? 'c' : 't';
    buf[1] = ':';
    memcpy(buf + 2, id, len);
    uint64_t h = sp_hash_bytes(buf, len + 2);
    return h ? h : 1;
}

void sp_cases_prefetch(const sp_cases *c, uint64_t key) { sp_u64map_prefetch(c->index, key); }

sp_case *sp_cases_find(sp_cases *c, uint64_t key)
{
    uint32_t slot;
    return sp_u64map_get(c->index, key, &slot) ? &c->ring[slot] : NULL;
}

void sp_cases_mark_dirty(sp_cases *c, sp_case *k)
{
    if (k->dirty || c->all_dirty)
        return;
    k->dirty = 1;
    if (sp_u64vec_push(&c->dirty, k->key) < 0)
        c->all_dirty = 1;
}

/* Removes a live case, leaving a hole. */
static void drop(sp_cases *c, sp_case *k)
{
    if (c->on_drop)
        c->on_drop(k, c->on_drop_arg);
    sp_u64map_del(c->index, k->key);
    if (!c->all_dirty && sp_u64vec_push(&c->removed, k->key) < 0)
        c->all_dirty = 1;
    memset(k, 0, sizeof *k);
    c->count--;
}

/* Moves the head past holes. */
static void skip_holes(sp_cases *c)
{
    while (c->used && c->ring[c->head].key == 0) {
        c->head = (c->head + 1) % c->cap;
        c->used--;
    }
}

sp_case *sp_cases_open(sp_cases *c, uint64_t key, int64_t ts_ms)
{
    sp_case *k = sp_cases_find(c, key);
    if (k) {
        sp_cases_touch(c, k, ts_ms);
        return k;
    }
    if (c->used == c->cap) {
        drop(c, &c->ring[c->head]); /* skip_holes left a live case at the head */
        c->evictions++;
        skip_holes(c);
    }
    size_t slot = (c->head + c->used) % c->cap;
    if (sp_u64map_put(c->index, key, (uint32_t)slot) < 0)
        return NULL; /* out of memory growing the index */
    k = &c->ring[slot];
    memset(k, 0, sizeof *k);
    k->key = key;
    k->last_ts = ts_ms;
    c->count++;
    c->used++;
    c->created++;
    sp_cases_mark_dirty(c, k);
    return k;
}

void sp_cases_touch(sp_cases *c, sp_case *k, int64_t ts_ms)
{
    if (ts_ms > k->last_ts)
        k->last_ts = ts_ms;
    sp_cases_mark_dirty(c, k);
}

size_t sp_cases_expire(sp_cases *c, int64_t now_ts)
{
    size_t n = 0;
    for (size_t i = 0; i < c->used; i++) {
        sp_case *k = &c->ring[(c->head + i) % c->cap];
        if (k->key && (k->last_ts < now_ts - c->max_age_ms ||
                       ((k->flags & SP_CASE_ENDED) && k->last_ts < now_ts - c->grace_ms))) {
            drop(c, k);
            n++;
        }
    }
    skip_holes(c);
    return n;
}

size_t sp_cases_size(const sp_cases *c) { return c->count; }

void sp_cases_layout(const sp_cases *c, uint64_t *head_order, uint64_t *used)
{
    *head_order = c->created - c->used;
    *used = c->used;
}

int sp_cases_restore_layout(sp_cases *c, uint64_t head_order, uint64_t used)
{
    if (c->count || used > c->cap)
        return -1;
    c->head = 0;
    c->used = (size_t)used;
    c->created = head_order + used;
    return 0;
}

sp_case *sp_cases_place(sp_cases *c, uint64_t order, uint64_t key)
{
    uint64_t head_order = c->created - c->used;
    if (order < head_order || order - head_order >= c->used || !key)
        return NULL;
    size_t slot = (size_t)(order - head_order);
    sp_case *k = &c->ring[slot];
    if (k->key || sp_u64map_put(c->index, key, (uint32_t)slot) < 0)
        return NULL;
    memset(k, 0, sizeof *k);
    k->key = key;
    c->count++;
    return k;
}

void sp_cases_restore_done(sp_cases *c) { skip_holes(c); }

uint64_t sp_cases_order(const sp_cases *c, const sp_case *k)
{
    /* slots from the head to the tail hold cases in the order they were opened */
    size_t slot = (size_t)(k - c->ring);
    return c->created - c->used + (slot + c->cap - c->head) % c->cap;
}
uint64_t sp_cases_evictions(const sp_cases *c) { return c->evictions; }

void sp_cases_each(sp_cases *c, void (*fn)(const sp_case *k, void *arg), void *arg)
{
    for (size_t i = 0; i < c->used; i++)
        if (c->ring[(c->head + i) % c->cap].key)
            fn(&c->ring[(c->head + i) % c->cap], arg);
}

void sp_cases_each_dirty(sp_cases *c, void (*fn)(const sp_case *k, void *arg), void *arg)
{
    if (c->all_dirty) {
        for (size_t i = 0; i < c->used; i++)
            if (c->ring[(c->head + i) % c->cap].key)
                fn(&c->ring[(c->head + i) % c->cap], arg);
        return;
    }
    for (size_t i = 0; i < c->dirty.n; i++) {
        sp_case *k = sp_cases_find(c, c->dirty.v[i]);
        if (k && k->dirty)
            fn(k, arg);
    }
}

void sp_cases_each_removed(sp_cases *c, void (*fn)(uint64_t key, void *arg), void *arg)
{
    for (size_t i = 0; i < c->removed.n; i++)
        if (!sp_cases_find(c, c->removed.v[i]))
            fn(c->removed.v[i], arg);
}

void sp_cases_mark_clean(sp_cases *c)
{
    for (size_t i = 0; i < c->dirty.n; i++) {
        sp_case *k = sp_cases_find(c, c->dirty.v[i]);
        if (k)
            k->dirty = 0;
    }
    if (c->all_dirty)
        for (size_t i = 0; i < c->used; i++)
            c->ring[(c->head + i) % c->cap].dirty = 0;
    c->dirty.n = c->removed.n = 0;
    c->all_dirty = 0;
}
