/*
 * sketch.c - see sketch.h for the bucket layout and its error bound. Up to 8 buckets
 * are found by a linear scan; past that through a table of twice the array's capacity
 * (load <= 1/2, linear probing), rebuilt when the array grows or is sorted.
 */
#include "supportpulse/sketch.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t sp_sketch_value(uint16_t idx)
{
    if (idx < SP_SKETCH_EXACT)
        return idx;
    int e = 7 + (idx - SP_SKETCH_EXACT) / 64;
    int64_t sub = (idx - SP_SKETCH_EXACT) % 64;
    int64_t width = (int64_t)1 << (e - 6);
    int64_t lo = ((int64_t)1 << e) + sub * width;
    return lo + width / 2; /* middle of [lo, lo + width - 1], rounded up */
}

void sp_sketch_init(sp_sketch *s) { memset(s, 0, sizeof *s); }

void sp_sketch_free(sp_sketch *s)
{
    free(s->b);
    free(s->slot);
    memset(s, 0, sizeof *s);
}

void sp_sketch_clear(sp_sketch *s)
{
    s->nb = 0;
    if (s->slot)
        memset(s->slot, 0, 2 * (size_t)s->cap * sizeof *s->slot);
}

#define LINEAR_MAX 8

static uint32_t slot_of(const sp_sketch *s, uint16_t idx)
{
    uint32_t mask = 2 * s->cap - 1;
    uint32_t h = ((uint32_t)idx * 2654435761u) & mask;
    while (s->slot[h] && s->b[s->slot[h] - 1].idx != idx)
        h = (h + 1) & mask;
    return h;
}

/* (Re)builds the table for the current capacity. -1 when out of memory. */
static int rebuild(sp_sketch *s)
{
    uint16_t *t = calloc(2 * (size_t)s->cap, sizeof *t);
    if (!t)
        return -1;
    free(s->slot);
    s->slot = t;
    for (uint32_t i = 0; i < s->nb; i++)
        s->slot[slot_of(s, s->b[i].idx)] = (uint16_t)(i + 1);
    return 0;
}

static int grow(sp_sketch *s)
{
    uint32_t ncap = s->cap ? s->cap * 2 : LINEAR_MAX;
    sp_sketch_bin *nb = realloc(s->b, ncap * sizeof *nb);
    if (!nb)
        return -1;
    s->b = nb;
    s->cap = ncap;
    return ncap > LINEAR_MAX ? rebuild(s) : 0;
}

int sp_sketch_add_bucket(sp_sketch *s, uint16_t idx, uint32_t n)
{
    if (!s->slot) {
        for (uint32_t i = 0; i < s->nb; i++)
            if (s->b[i].idx == idx) {
                s->b[i].n += n;
                return 0;
            }
    } else {
        uint32_t h = slot_of(s, idx);
        if (s->slot[h]) {
            s->b[s->slot[h] - 1].n += n;
            return 0;
        }
    }
    if (s->nb == s->cap && grow(s) < 0)
        return -1;
    s->b[s->nb++] = (sp_sketch_bin){n, 0, idx};
    if (s->slot)
        s->slot[slot_of(s, idx)] = (uint16_t)s->nb;
    return 0;
}

static int cmp_bin(const void *a, const void *b)
{
    const sp_sketch_bin *x = a, *y = b;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void sp_sketch_sort(sp_sketch *s)
{
    int sorted = 1;
    for (uint32_t i = 1; i < s->nb && sorted; i++)
        sorted = s->b[i - 1].idx < s->b[i].idx;
    if (sorted)
        return;
    qsort(s->b, s->nb, sizeof *s->b, cmp_bin);
    if (s->slot) {
        memset(s->slot, 0, 2 * (size_t)s->cap * sizeof *s->slot);
        for (uint32_t i = 0; i < s->nb; i++)
            s->slot[slot_of(s, s->b[i].idx)] = (uint16_t)(i + 1);
    }
}

int sp_sketch_merge(sp_sketch *dst, const sp_sketch *src)
{
    for (uint32_t i = 0; i < src->nb; i++)
        if (sp_sketch_add_bucket(dst, src->b[i].idx, src->b[i].n) < 0)
            return -1;
    return 0;
}

uint64_t sp_sketch_count(const sp_sketch *s)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < s->nb; i++)
        n += s->b[i].n;
    return n;
}

int64_t sp_sketch_quantile(sp_sketch *s, double q)
{
    sp_sketch_sort(s);
    uint64_t n = sp_sketch_count(s);
    if (n == 0)
        return -1;
    uint64_t rank = sp_quantile_rank(q, n), seen = 0;
    for (uint32_t i = 0; i < s->nb; i++) {
        seen += s->b[i].n;
        if (seen > rank)
            return sp_sketch_value(s->b[i].idx);
    }
    return sp_sketch_value(s->b[s->nb - 1].idx);
}

uint64_t sp_quantile_rank(double q, uint64_t n)
{
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    /* q * n a hair above a whole number (0.9 * 10 in binary) is that number */
    double r = ceil(q * (double)n - 1e-9);
    return r < 1 ? 0 : r >= (double)n ? n - 1 : (uint64_t)r - 1;
}

int sp_sketch_quantiles(sp_sketch *s, const double *q, int n, int64_t *out)
{
    sp_sketch_sort(s);
    uint64_t total = sp_sketch_count(s), seen = 0;
    if (total == 0)
        return -1;
    int k = 0;
    for (uint32_t i = 0; i < s->nb && k < n; i++) {
        seen += s->b[i].n;
        while (k < n) {
            if (seen <= sp_quantile_rank(q[k], total))
                break;
            out[k++] = sp_sketch_value(s->b[i].idx);
        }
    }
    for (; k < n; k++)
        out[k] = sp_sketch_value(s->b[s->nb - 1].idx);
    return 0;
}

uint32_t sp_sketch_get(const sp_sketch *s, uint16_t idx)
{
    if (!s->slot) {
        for (uint32_t i = 0; i < s->nb; i++)
            if (s->b[i].idx == idx)
                return s->b[i].n;
        return 0;
    }
    uint32_t h = slot_of(s, idx);
    return s->slot[h] ? s->b[s->slot[h] - 1].n : 0;
}

void sp_sketch_mark_clean(sp_sketch *s)
{
    for (uint32_t i = 0; i < s->nb; i++)
        s->b[i].pub = s->b[i].n;
}

size_t sp_sketch_format(sp_sketch *s, char *buf, size_t size)
{
    sp_sketch_sort(s);
    size_t len = 0, written = 0; /* written: whole buckets that fit */
    for (uint32_t i = 0; i < s->nb; i++) {
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%s%u:%u", i ? " " : "", (unsigned)s->b[i].idx,
                         (unsigned)s->b[i].n);
        if (len == written && len + (size_t)n < size) {
            memcpy(buf + len, tmp, (size_t)n);
            written += (size_t)n;
        }
        len += (size_t)n;
    }
    if (size)
        buf[written] = '\0';
    return len;
}

int sp_sketch_parse_add(sp_sketch *s, const char *text)
{
    const char *p = text;
    while (*p) {
        char *end;
        unsigned long idx = strtoul(p, &end, 10);
        if (end == p || *end != ':' || idx >= SP_SKETCH_NBUCKETS)
            return -1;
        p = end + 1;
        unsigned long n = strtoul(p, &end, 10);
        if (end == p || n > UINT32_MAX || (*end != ' ' && *end != '\0'))
            return -1;
        if (sp_sketch_add_bucket(s, (uint16_t)idx, (uint32_t)n) < 0)
            return -1;
        p = *end ? end + 1 : end;
    }
    return 0;
}
