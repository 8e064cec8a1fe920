/*
 * sketch_cache.c - see sketch_cache.h. Entries are allocated one by one (so pointers stay
 * valid while others are added) and listed in an array; an sp_strmap finds an entry's
 * position from its key. Dropping one moves the last entry into its place.
 */
#include "supportpulse/sketch_cache.h"
#include "supportpulse/hashmap.h"

#include <stdlib.h>
#include <string.h>

struct sp_skcache {
    sp_skcache_entry **e;
    size_t n, cap, max;
    sp_strmap *index; /* key -> position in e */
};

sp_skcache *sp_skcache_new(size_t max_entries)
{
    sp_skcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max = max_entries ? max_entries : 100000;
    if (!(c->index = sp_strmap_new(1024))) {
        free(c);
        return NULL;
    }
    return c;
}

static void free_entry(sp_skcache_entry *e)
{
    for (int d = 0; d < SP_D__COUNT; d++)
        sp_sketch_free(&e->sk[d]);
    free(e->key);
    free(e);
}

void sp_skcache_destroy(sp_skcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free_entry(c->e[i]);
    free(c->e);
    sp_strmap_destroy(c->index);
    free(c);
}

sp_skcache_entry *sp_skcache_find(sp_skcache *c, const char *key, size_t len)
{
    uint32_t at;
    return sp_strmap_get(c->index, key, len, &at) ? c->e[at] : NULL;
}

void sp_skcache_reset(sp_skcache_entry *e)
{
    for (int d = 0; d < SP_D__COUNT; d++)
        sp_sketch_free(&e->sk[d]);
    strcpy(e->version, "-");
}

/* Appends a new empty entry for key; NULL when full or out of memory. */
static sp_skcache_entry *add(sp_skcache *c, const char *key, size_t len)
{
    if (c->n >= c->max)
        return NULL;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? 2 * c->cap : 256;
        sp_skcache_entry **ne = realloc(c->e, ncap * sizeof *ne);
        if (!ne)
            return NULL;
        c->e = ne;
        c->cap = ncap;
    }
    sp_skcache_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(len + 1))) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = len;
    strcpy(e->version, "-");
    if (sp_strmap_put(c->index, key, len, (uint32_t)c->n) < 0) {
        free_entry(e);
        return NULL;
    }
    c->e[c->n++] = e;
    return e;
}

sp_skcache_entry *sp_skcache_get(sp_skcache *c, const char *key, size_t len, uint64_t flush)
{
    sp_skcache_entry *e = sp_skcache_find(c, key, len);
    if (!e)
        e = add(c, key, len);
    if (e)
        e->used = flush;
    return e;
}

/* Drops the entry at position at; the last entry takes its place. */
static void drop_at(sp_skcache *c, size_t at)
{
    sp_skcache_entry *e = c->e[at];
    sp_strmap_del(c->index, e->key, e->len);
    free_entry(e);
    if (at != --c->n) {
        c->e[at] = c->e[c->n];
        /* replacing an existing key's value cannot need memory */
        (void)sp_strmap_put(c->index, c->e[at]->key, c->e[at]->len, (uint32_t)at);
    }
}

void sp_skcache_forget(sp_skcache *c, const char *key, size_t len)
{
    uint32_t at;
    if (sp_strmap_get(c->index, key, len, &at))
        drop_at(c, at);
}

void sp_skcache_clear(sp_skcache *c)
{
    while (c->n)
        drop_at(c, c->n - 1);
}

static size_t entry_buckets(const sp_skcache_entry *e)
{
    size_t n = 0;
    for (int d = 0; d < SP_D__COUNT; d++)
        n += e->sk[d].nb;
    return n;
}

size_t sp_skcache_buckets(const sp_skcache *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += entry_buckets(c->e[i]);
    return n;
}

static int by_use(const void *a, const void *b)
{
    const sp_skcache_entry *x = *(sp_skcache_entry *const *)a, *y = *(sp_skcache_entry *const *)b;
    return (x->used > y->used) - (x->used < y->used);
}

void sp_skcache_trim(sp_skcache *c, uint64_t flush, uint64_t idle, size_t max_buckets)
{
    for (size_t i = c->n; i-- > 0;)
        if (c->e[i]->used + idle < flush)
            drop_at(c, i);
    size_t held = sp_skcache_buckets(c);
    if (held <= max_buckets)
        return;
    /* least recently used first: sort, drop a prefix, then renumber the index (replacing
     * the value of a present key needs no memory) */
    qsort(c->e, c->n, sizeof *c->e, by_use);
    size_t drop = 0;
    while (drop < c->n && held > max_buckets)
        held -= entry_buckets(c->e[drop++]);
    for (size_t i = 0; i < drop; i++) {
        sp_strmap_del(c->index, c->e[i]->key, c->e[i]->len);
        free_entry(c->e[i]);
    }
    memmove(c->e, c->e + drop, (c->n - drop) * sizeof *c->e);
    c->n -= drop;
    for (size_t i = 0; i < c->n; i++)
        (void)sp_strmap_put(c->index, c->e[i]->key, c->e[i]->len, (uint32_t)i);
}

size_t sp_skcache_size(const sp_skcache *c) { return c->n; }
