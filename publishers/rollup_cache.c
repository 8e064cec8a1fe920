/*
 * rollup_cache.c - see rollup_cache.h. Entries are allocated one by one (their
 * addresses stay put while a flush holds them) and listed in an array; a map from key
 * to array index finds them, and a dropped entry's place is taken by the last one.
 */
#include "supportpulse/rollup_cache.h"

#include <stdlib.h>
#include <string.h>

#include "supportpulse/hashmap.h"

struct sp_rollup_cache {
    sp_rollup_entry **e;
    size_t n, cap, max;
    sp_strmap *index;
};

sp_rollup_cache *sp_rollup_cache_new(size_t max_entries)
{
    sp_rollup_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->index = sp_strmap_new(1024))) {
        free(c);
        return NULL;
    }
    c->max = max_entries ? max_entries : 200000;
    return c;
}

static void entry_free(sp_rollup_entry *e)
{
    for (int d = 0; d < SP_D__COUNT; d++)
        sp_sketch_free(&e->sk[d]);
    free(e->marks);
    free(e->key);
    free(e);
}

void sp_rollup_cache_destroy(sp_rollup_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        entry_free(c->e[i]);
    free(c->e);
    sp_strmap_destroy(c->index);
    free(c);
}

size_t sp_rollup_cache_size(const sp_rollup_cache *c) { return c->n; }

sp_rollup_entry *sp_rollup_cache_find(sp_rollup_cache *c, const char *key, size_t len)
{
    uint32_t i;
    return sp_strmap_get(c->index, key, len, &i) ? c->e[i] : NULL;
}

sp_rollup_entry *sp_rollup_cache_get(sp_rollup_cache *c, const char *key, size_t len)
{
    sp_rollup_entry *e = sp_rollup_cache_find(c, key, len);
    if (e)
        return e;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        sp_rollup_entry **ne = realloc(c->e, cap * sizeof *ne);
        if (!ne)
            return NULL;
        c->e = ne;
        c->cap = cap;
    }
    if (!(e = calloc(1, sizeof *e)) || !(e->key = malloc(len + 1))) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, len);
    e->key[len] = '\0';
    e->len = len;
    if (sp_strmap_put(c->index, key, len, (uint32_t)c->n) < 0) {
        entry_free(e);
        return NULL;
    }
    c->e[c->n++] = e;
    return e;
}

void sp_rollup_entry_clear(sp_rollup_entry *e)
{
    for (int d = 0; d < SP_D__COUNT; d++)
        sp_sketch_free(&e->sk[d]);
    memset(&e->c, 0, sizeof e->c);
    memset(e->version, 0, sizeof e->version);
    e->exists = 0;
    e->has_companion = 0;
    e->flags = 0;
    e->nmarks = 0;
    e->smoothed[0] = '\0';
}

void sp_rollup_cache_drop(sp_rollup_cache *c, sp_rollup_entry *e)
{
    uint32_t i;
    if (!sp_strmap_get(c->index, e->key, e->len, &i))
        return;
    sp_strmap_del(c->index, e->key, e->len);
    c->e[i] = c->e[--c->n];
    if (i < c->n)
        sp_strmap_put(c->index, c->e[i]->key, c->e[i]->len, i); /* replaces: cannot fail */
    entry_free(e);
}

void sp_rollup_cache_clear(sp_rollup_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        entry_free(c->e[i]);
    c->n = 0;
    sp_strmap_clear(c->index);
}

void sp_rollup_cache_final(sp_rollup_cache *c, int64_t watermark_ms,
                           void (*fn)(const sp_rollup_entry *e, void *arg), void *arg)
{
    for (size_t i = 0; i < c->n;) {
        sp_rollup_entry *e = c->e[i];
        if (e->final_ms > watermark_ms) {
            i++;
            continue;
        }
        if (fn)
            fn(e, arg);
        sp_rollup_cache_drop(c, e); /* the last entry moves into place i */
    }
}

static int by_use(const void *x, const void *y)
{
    const sp_rollup_entry *a = *(sp_rollup_entry *const *)x, *b = *(sp_rollup_entry *const *)y;
    return (a->used > b->used) - (a->used < b->used);
}

void sp_rollup_cache_trim(sp_rollup_cache *c)
{
    if (c->n <= c->max)
        return;
    sp_rollup_entry **order = malloc(c->n * sizeof *order);
    if (!order)
        return;
    memcpy(order, c->e, c->n * sizeof *order);
    size_t n = c->n, drop = c->n - c->max + c->max / 8; /* room for a while */
    qsort(order, n, sizeof *order, by_use);
    for (size_t i = 0; i < drop && i < n; i++)
        sp_rollup_cache_drop(c, order[i]);
    free(order);
}

int64_t sp_rollup_mark_of(const sp_rollup_entry *e, int32_t partition)
{
    for (uint32_t i = 0; i < e->nmarks; i++)
        if (e->marks[i].partition == partition)
            return e->marks[i].seq;
    return 0;
}

int sp_rollup_mark_set(sp_rollup_entry *e, int32_t partition, int64_t seq)
{
    uint32_t i = 0;
    while (i < e->nmarks && e->marks[i].partition < partition)
        i++;
    if (i < e->nmarks && e->marks[i].partition == partition) {
        e->marks[i].seq = seq;
        return 0;
    }
    if (e->nmarks == e->capmarks) {
        uint32_t cap = e->capmarks ? 2 * e->capmarks : 4;
        sp_rollup_mark *m = realloc(e->marks, cap * sizeof *m);
        if (!m)
            return -1;
        e->marks = m;
        e->capmarks = cap;
    }
    memmove(&e->marks[i + 1], &e->marks[i], (e->nmarks - i) * sizeof *e->marks);
    e->marks[i] = (sp_rollup_mark){partition, seq};
    e->nmarks++;
    return 0;
}

int sp_companion_encode(const sp_rollup_entry *e, const unsigned char *version, sp_buf *out)
{
    sp_buf_put_u8(out, 'x');
    sp_buf_put(out, version, SP_ROLLUP_VERSION_LEN);
    sp_buf_put_u8(out, e->flags);
    sp_buf_put_uv(out, e->nmarks);
    for (uint32_t i = 0; i < e->nmarks; i++) {
        sp_buf_put_uv(out, (uint64_t)e->marks[i].partition);
        sp_buf_put_uv(out, (uint64_t)e->marks[i].seq);
    }
    unsigned mask = 0;
    for (int d = 0; d < SP_D__COUNT; d++)
        if (e->sk[d].nb)
            mask |= 1u << d;
    sp_buf_put_uv(out, mask);
    for (int d = 0; d < SP_D__COUNT; d++) {
        sp_sketch *sk = (sp_sketch *)&e->sk[d]; /* sorting changes no count */
        if (!sk->nb)
            continue;
        sp_sketch_sort(sk);
        sp_buf_put_uv(out, sk->nb);
        unsigned prev = 0;
        for (uint32_t i = 0; i < sk->nb; i++) {
            sp_buf_put_uv(out, sk->b[i].idx - prev);
            sp_buf_put_uv(out, sk->b[i].n);
            prev = sk->b[i].idx;
        }
    }
    return out->failed ? -1 : 0;
}

int sp_companion_decode(sp_rollup_entry *e, const void *data, size_t len)
{
    sp_reader r = sp_reader_of(data, len);
    if (sp_get_u8(&r) != 'x' || len < 1 + SP_ROLLUP_VERSION_LEN + 1)
        return -1;
    memcpy(e->version, r.p, SP_ROLLUP_VERSION_LEN);
    r.p += SP_ROLLUP_VERSION_LEN;
    e->flags = (uint8_t)sp_get_u8(&r);
    uint64_t n = sp_get_uv(&r);
    e->nmarks = 0;
    for (uint64_t i = 0; i < n && !r.bad; i++) {
        uint64_t p = sp_get_uv(&r), s = sp_get_uv(&r);
        if (r.bad || sp_rollup_mark_set(e, (int32_t)p, (int64_t)s) < 0)
            return -1;
    }
    unsigned mask = (unsigned)sp_get_uv(&r);
    for (int d = 0; d < SP_D__COUNT; d++) {
        sp_sketch_free(&e->sk[d]);
        if (!(mask & (1u << d)))
            continue;
        uint64_t nb = sp_get_uv(&r), idx = 0;
        for (uint64_t i = 0; i < nb && !r.bad; i++) {
            idx += sp_get_uv(&r);
            uint64_t cnt = sp_get_uv(&r);
            if (idx >= SP_SKETCH_NBUCKETS || cnt > UINT32_MAX ||
                sp_sketch_add_bucket(&e->sk[d], (uint16_t)idx, (uint32_t)cnt) < 0)
                return -1;
        }
    }
    return r.bad || !sp_reader_done(&r) ? -1 : 0;
}
