/*
 * sketch.c - see sketch.h for the bucket layout and its error bound. A 1-minute cell
 * rarely holds more than a few dozen distinct buckets, so a sorted array with binary
 * search beats a hash here; the newest bucket is checked first.
 */
#include "supportpulse/sketch.h"

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
    memset(s, 0, sizeof *s);
}

/* Index of the first bin with idx >= want. */
static uint32_t lower_bound(const sp_sketch *s, uint16_t want)
{
    uint32_t lo = 0, hi = s->nb;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->b[mid].idx < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int sp_sketch_add_bucket(sp_sketch *s, uint16_t idx, uint32_t n)
{
    uint32_t i = lower_bound(s, idx);
    if (i < s->nb && s->b[i].idx == idx) {
        s->b[i].n += n;
        return 0;
    }
    if (s->nb == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 8;
        sp_sketch_bin *nb = realloc(s->b, ncap * sizeof *nb);
        if (!nb)
            return -1;
        s->b = nb;
        s->cap = ncap;
    }
    memmove(&s->b[i + 1], &s->b[i], (s->nb - i) * sizeof *s->b);
    s->b[i] = (sp_sketch_bin){n, 0, idx};
    s->nb++;
    return 0;
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

int64_t sp_sketch_quantile(const sp_sketch *s, double q)
{
    uint64_t n = sp_sketch_count(s);
    if (n == 0)
        return -1;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)(q * (double)(n - 1)), seen = 0;
    for (uint32_t i = 0; i < s->nb; i++) {
        seen += s->b[i].n;
        if (seen > rank)
            return sp_sketch_value(s->b[i].idx);
    }
    return sp_sketch_value(s->b[s->nb - 1].idx);
}

void sp_sketch_mark_clean(sp_sketch *s)
{
    for (uint32_t i = 0; i < s->nb; i++)
        s->b[i].pub = s->b[i].n;
}

size_t sp_sketch_format(const sp_sketch *s, char *buf, size_t size)
{
    size_t len = 0;
    for (uint32_t i = 0; i < s->nb; i++) {
        char tmp[32];
        int n = snprintf(tmp, sizeof tmp, "%s%u:%u", i ? " " : "", (unsigned)s->b[i].idx,
                         (unsigned)s->b[i].n);
        if (len + (size_t)n < size)
            memcpy(buf + len, tmp, (size_t)n);
        len += (size_t)n;
    }
    if (size)
        buf[len < size ? len : size - 1] = '\0';
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
