/*
 * sketch.h - a mergeable quantile sketch for durations in whole milliseconds.
 *
 * Buckets are log-linear (the layout of HdrHistogram with 64 sub-buckets per power of
 * two): values below 128 ms each have their own bucket (exact); a value v >= 128 with
 * 2^e <= v < 2^(e+1) falls into one of 64 equal sub-buckets of width 2^(e-6). A
 * bucket is reported as its middle value rounded to an integer, which is within half a
 * bucket width of every value in it: error <= 2^(e-7) / 2^e = 1/128 = 0.78% relative,
 * for every value from 1 ms up to 2^40 ms (35 years; larger values are clamped there).
 *
 * Quantile q of n values is by nearest rank: the ceil(q * n)-th smallest (1-based; the
 * smallest for q = 0), so p90 answers "90% were at most this" (of 12 s and 25 s, p90 is
 * 25 s). The sketch finds the bucket holding that rank from cumulative counts, so the
 * reported value is within 0.78% of the exact sample of that rank. Counts add, so a
 * merge (of windows, partitions or instances) is bucket-wise addition and keeps the
 * same bound: the merged sketch is identical to the sketch of all the values.
 *
 * Storage is sparse: an array of occupied buckets, each with its count and the count
 * last published (so a publisher can send the change), in insertion order until
 * sp_sketch_sort; past 8 buckets a small open-addressing table finds a bucket in O(1),
 * so an insert costs a few nanoseconds whatever the spread of the values. Serialised
 * form is text "index:count index:count ..." in index order.
 *
 * Not thread-safe; single writer. Ownership: a sketch owns its bucket array;
 * sp_sketch_free releases it.
 */
#ifndef SUPPORTPULSE_SKETCH_H
#define SUPPORTPULSE_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#define SP_SKETCH_EXACT 128                     /* values below are their own bucket */
#define SP_SKETCH_MAX_EXP 40
#define SP_SKETCH_NBUCKETS (SP_SKETCH_EXACT + (SP_SKETCH_MAX_EXP - 7) * 64)

/* The 0-based rank of quantile q (clamped to 0..1) of n > 0 values: ceil(q * n) - 1, at
 * least 0. The one definition of a percentile every writer and test uses. */
uint64_t sp_quantile_rank(double q, uint64_t n);

typedef struct {
    uint32_t n;     /* values in the bucket */
    uint32_t pub;   /* n when last published */
    uint16_t idx;
} sp_sketch_bin;

typedef struct {
    sp_sketch_bin *b;  /* occupied buckets; sorted by idx only after sp_sketch_sort */
    uint16_t *slot;    /* NULL while nb <= 8; else 2 * cap entries: position + 1, 0 free */
    uint32_t nb, cap;
} sp_sketch;

/* The bucket of a value in ms (negative counts as 0). */
static inline uint16_t sp_sketch_index(int64_t v)
{
    if (v < SP_SKETCH_EXACT)
        return v < 0 ? 0 : (uint16_t)v;
    uint64_t u = (uint64_t)v;
    int e = 63 - __builtin_clzll(u);
    if (e >= SP_SKETCH_MAX_EXP)
        return SP_SKETCH_NBUCKETS - 1;
    return (uint16_t)(SP_SKETCH_EXACT + (e - 7) * 64 + ((u >> (e - 6)) & 63));
}

/* The value a bucket reports: its middle, rounded. */
int64_t sp_sketch_value(uint16_t idx);

void sp_sketch_init(sp_sketch *s);
void sp_sketch_free(sp_sketch *s);
/* Empties a sketch, keeping its memory for the next values. */
void sp_sketch_clear(sp_sketch *s);
/* Adds n values of bucket idx. 0, or -1 when out of memory (nothing added). */
int sp_sketch_add_bucket(sp_sketch *s, uint16_t idx, uint32_t n);
static inline int sp_sketch_add(sp_sketch *s, int64_t v_ms)
{
    return sp_sketch_add_bucket(s, sp_sketch_index(v_ms), 1);
}
/* dst += src. 0 or -1 when out of memory (dst may then hold part of src). */
int sp_sketch_merge(sp_sketch *dst, const sp_sketch *src);
uint64_t sp_sketch_count(const sp_sketch *s);
/* Puts the buckets in index order. */
void sp_sketch_sort(sp_sketch *s);
/* Value of quantile q in [0, 1]; -1 when the sketch is empty. Sorts the buckets. */
int64_t sp_sketch_quantile(sp_sketch *s, double q);
/* Values of the quantiles q[0..n) (ascending) in one pass: out[i] as sp_sketch_quantile
 * would give. 0, or -1 when the sketch is empty. Sorts the buckets. */
int sp_sketch_quantiles(sp_sketch *s, const double *q, int n, int64_t *out);
/* The count of bucket idx (0 when absent). */
uint32_t sp_sketch_get(const sp_sketch *s, uint16_t idx);
/* Marks every bucket published (pub = n). */
void sp_sketch_mark_clean(sp_sketch *s);

/* Writes "idx:n idx:n" of the counts into buf, in index order (sorting the buckets).
 * Returns the length it needs (like snprintf); buf holds it all when that is < size. */
size_t sp_sketch_format(sp_sketch *s, char *buf, size_t size);
/* Adds the buckets of a serialised sketch. 0, or -1 on malformed text or no memory. */
int sp_sketch_parse_add(sp_sketch *s, const char *text);

#endif
