/*
 * test_sketch.c - the quantile sketch against exact quantiles of sorted samples, for
 * the distributions a help desk produces (uniform, exponential waits, log-normal handle
 * times, bimodal bot/human replies), from 1 ms to 7 days; merging and serialising.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/sketch.h"

#define N 20000
#define WEEK_MS (7LL * 24 * 3600 * 1000)

static uint64_t rng = 88172645463325252ULL;
static double uniform01(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}
static double normal(void)
{
    return sqrt(-2 * log(uniform01())) * cos(2 * M_PI * uniform01());
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t clamp_ms(double v)
{
    if (v < 1)
        return 1;
    return v > WEEK_MS ? WEEK_MS : (int64_t)v;
}

typedef int64_t (*gen_fn)(void);
static int64_t gen_uniform(void) { return clamp_ms(1 + uniform01() * (double)WEEK_MS); }
static int64_t gen_exponential(void) { return clamp_ms(-log(uniform01()) * 45000.0); }
static int64_t gen_lognormal(void) { return clamp_ms(exp(12.0 + 1.5 * normal())); }
static int64_t gen_bimodal(void)
{
    return uniform01() < 0.6 ? clamp_ms(800 + 300 * normal()) /* bot: about a second */
                             : clamp_ms(exp(15.5 + 0.8 * normal())); /* human: hours */
}
static int64_t gen_small(void) { return clamp_ms(1 + uniform01() * 400); }

static void check_distribution(gen_fn gen, const char *name)
{
    static int64_t v[N];
    sp_sketch s;
    sp_sketch_init(&s);
    for (int i = 0; i < N; i++) {
        v[i] = gen();
        cr_assert_eq(sp_sketch_add(&s, v[i]), 0);
    }
    qsort(v, N, sizeof *v, cmp64);
    cr_assert_eq(sp_sketch_count(&s), (uint64_t)N);
    for (int k = 0; k <= 1000; k++) {
        double q = k / 1000.0;
        size_t rank = (size_t)ceil(q * N - 1e-9); /* nearest rank, 1-based */
        int64_t exact = v[rank ? rank - 1 : 0];
        int64_t got = sp_sketch_quantile(&s, q);
        double err = fabs((double)got - (double)exact) / (double)exact;
        cr_assert(err <= 0.01, "%s q=%.3f: exact %lld, sketch %lld (%.4f%%)", name, q,
                  (long long)exact, (long long)got, err * 100);
    }
    sp_sketch_free(&s);
}

Test(sketch, within_one_percent_uniform) { check_distribution(gen_uniform, "uniform"); }
Test(sketch, within_one_percent_exponential) { check_distribution(gen_exponential, "exponential"); }
Test(sketch, within_one_percent_lognormal) { check_distribution(gen_lognormal, "lognormal"); }
Test(sketch, within_one_percent_bimodal) { check_distribution(gen_bimodal, "bimodal"); }
Test(sketch, small_values_are_exact) { check_distribution(gen_small, "small"); }

Test(sketch, every_bucket_reports_within_the_bound)
{
    /* every value from 1 ms to 2^24 ms, then powers-of-two neighbourhoods to 7 days */
    for (int64_t v = 1; v < (1 << 24); v++) {
        int64_t r = sp_sketch_value(sp_sketch_index(v));
        cr_assert(llabs(r - v) * 128 <= v, "value %lld reported as %lld", (long long)v,
                  (long long)r);
    }
    for (int e = 24; e < 40; e++)
        for (int64_t d = -70; d <= 70; d++) {
            int64_t v = ((int64_t)1 << e) + d;
            int64_t r = sp_sketch_value(sp_sketch_index(v));
            cr_assert(llabs(r - v) * 128 <= v, "value %lld reported as %lld", (long long)v,
                      (long long)r);
        }
    cr_assert_eq(sp_sketch_index(0), 0);
    cr_assert_eq(sp_sketch_index(-5), 0);
    cr_assert_eq(sp_sketch_index(INT64_MAX), SP_SKETCH_NBUCKETS - 1);
    cr_assert(sp_sketch_index(WEEK_MS) < SP_SKETCH_NBUCKETS - 1);
}

Test(sketch, merge_of_parts_equals_sketch_of_whole)
{
    sp_sketch whole, parts[4], merged;
    sp_sketch_init(&whole);
    sp_sketch_init(&merged);
    for (int i = 0; i < 4; i++)
        sp_sketch_init(&parts[i]);
    for (int i = 0; i < N; i++) {
        int64_t x = gen_lognormal();
        cr_assert_eq(sp_sketch_add(&whole, x), 0);
        cr_assert_eq(sp_sketch_add(&parts[i % 4], x), 0);
    }
    for (int i = 0; i < 4; i++)
        cr_assert_eq(sp_sketch_merge(&merged, &parts[i]), 0);
    cr_assert_eq(merged.nb, whole.nb);
    sp_sketch_sort(&merged);
    sp_sketch_sort(&whole);
    for (uint32_t i = 0; i < whole.nb; i++) {
        cr_assert_eq(merged.b[i].idx, whole.b[i].idx);
        cr_assert_eq(merged.b[i].n, whole.b[i].n);
    }
    for (int k = 0; k <= 100; k++)
        cr_assert_eq(sp_sketch_quantile(&merged, k / 100.0), sp_sketch_quantile(&whole, k / 100.0));
    sp_sketch_free(&whole);
    sp_sketch_free(&merged);
    for (int i = 0; i < 4; i++)
        sp_sketch_free(&parts[i]);
}

Test(sketch, serialised_form_round_trips)
{
    sp_sketch a, b;
    sp_sketch_init(&a);
    sp_sketch_init(&b);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(sp_sketch_add(&a, gen_bimodal()), 0);
    size_t need = sp_sketch_format(&a, NULL, 0);
    char *text = malloc(need + 1);
    cr_assert_not_null(text);
    cr_assert_eq(sp_sketch_format(&a, text, need + 1), need);
    cr_assert_eq(strlen(text), need);
    cr_assert_eq(sp_sketch_parse_add(&b, text), 0);
    cr_assert_eq(a.nb, b.nb);
    sp_sketch_sort(&b);
    for (uint32_t i = 0; i < a.nb; i++)
        cr_assert(a.b[i].idx == b.b[i].idx && a.b[i].n == b.b[i].n);
    char small[8];
    cr_assert_eq(sp_sketch_format(&a, small, sizeof small), need, "truncation reports the need");
    cr_assert(strlen(small) < sizeof small && strncmp(small, text, strlen(small)) == 0,
              "a truncated form is a prefix of whole buckets");
    cr_assert_eq(sp_sketch_parse_add(&b, "12:x"), -1);
    cr_assert_eq(sp_sketch_parse_add(&b, "99999:1"), -1);
    cr_assert_eq(sp_sketch_parse_add(&b, ""), 0);
    free(text);
    sp_sketch_free(&a);
    sp_sketch_free(&b);
}

Test(sketch, buckets_found_after_sorting_and_growth)
{
    /* many distinct buckets in scrambled order: the table must keep finding them */
    sp_sketch s;
    sp_sketch_init(&s);
    for (int round = 0; round < 3; round++) {
        for (int64_t i = 0; i < 2000; i++)
            cr_assert_eq(sp_sketch_add_bucket(&s, (uint16_t)((i * 7919) % 2000), 1), 0);
        sp_sketch_sort(&s); /* reorders the array under the table */
    }
    cr_assert_eq(s.nb, 2000);
    for (uint32_t i = 0; i < s.nb; i++) {
        cr_assert_eq(s.b[i].idx, i, "sorted");
        cr_assert_eq(s.b[i].n, 3, "bucket %u counted once per round", i);
    }
    cr_assert_eq(sp_sketch_add_bucket(&s, 1999, 5), 0);
    cr_assert_eq(s.nb, 2000, "an existing bucket is found after the sort");
    cr_assert_eq(s.b[1999].n, 8);
    sp_sketch_free(&s);
}

Test(sketch, empty_and_published_counts)
{
    sp_sketch s;
    sp_sketch_init(&s);
    cr_assert_eq(sp_sketch_quantile(&s, 0.5), -1);
    cr_assert_eq(sp_sketch_add(&s, 1000), 0);
    cr_assert_eq(sp_sketch_add(&s, 1000), 0);
    cr_assert_eq(s.b[0].n, 2);
    cr_assert_eq(s.b[0].pub, 0);
    sp_sketch_mark_clean(&s);
    cr_assert_eq(s.b[0].pub, 2);
    cr_assert_eq(sp_sketch_add(&s, 1000), 0);
    cr_assert_eq(s.b[0].n - s.b[0].pub, 1, "the change since the last publish");
    sp_sketch_free(&s);
}

/* The one-pass quantiles (what the publisher sends) equal sp_sketch_quantile, for sizes
 * where the rank falls on a bucket's first and last value; sp_sketch_get finds counts. */
Test(sketch, quantiles_in_one_pass_equal_quantile)
{
    static const double q[3] = {0.5, 0.9, 0.99};
    for (int n = 1; n <= 400; n += 13) {
        sp_sketch s;
        sp_sketch_init(&s);
        for (int i = 0; i < n; i++)
            cr_assert_eq(sp_sketch_add(&s, (int64_t)(uniform01() * 100000)), 0);
        for (int i = 0; i < 5; i++) /* a heavy bucket: ranks land inside and at its edges */
            cr_assert_eq(sp_sketch_add_bucket(&s, sp_sketch_index(40000), (uint32_t)n / 3 + 1), 0);
        int64_t out[3];
        cr_assert_eq(sp_sketch_quantiles(&s, q, 3, out), 0);
        for (int k = 0; k < 3; k++)
            cr_expect_eq(out[k], sp_sketch_quantile(&s, q[k]), "n %d q %g", n, q[k]);
        cr_expect_eq(sp_sketch_get(&s, sp_sketch_index(40000)) >= 5 * ((uint32_t)n / 3 + 1), 1);
        cr_expect_eq(sp_sketch_get(&s, SP_SKETCH_NBUCKETS - 1), 0);
        sp_sketch_free(&s);
    }
    sp_sketch empty;
    sp_sketch_init(&empty);
    int64_t out[3];
    cr_expect_eq(sp_sketch_quantiles(&empty, q, 3, out), -1);
}

/* Nearest rank on tiny samples: p90 answers "90% were at most this". Of two waits of
 * 12 s and 25 s, p50 is 12 s and p90 and p99 are 25 s; one value is every percentile;
 * of three, p50 is the middle one. Values are reported within the sketch's 0.78%. */
Test(sketch, percentiles_of_tiny_samples_are_nearest_rank)
{
    static const struct {
        int n;
        int64_t v[3], want[3]; /* p50, p90, p99 */
    } rows[] = {
        {1, {40000}, {40000, 40000, 40000}},
        {2, {12000, 25000}, {12000, 25000, 25000}},
        {3, {30, 12000, 25000}, {12000, 25000, 25000}},
        {2, {5, 7}, {5, 7, 7}},
    };
    static const double q[3] = {0.5, 0.9, 0.99};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        sp_sketch s;
        sp_sketch_init(&s);
        for (int k = 0; k < rows[i].n; k++)
            cr_assert_eq(sp_sketch_add(&s, rows[i].v[k]), 0);
        int64_t out[3];
        cr_assert_eq(sp_sketch_quantiles(&s, q, 3, out), 0);
        for (int k = 0; k < 3; k++) {
            double err = fabs((double)out[k] - (double)rows[i].want[k]) / (double)rows[i].want[k];
            cr_expect(err <= 1.0 / 128, "row %zu q %.2f: %lld, want %lld", i, q[k],
                      (long long)out[k], (long long)rows[i].want[k]);
        }
        sp_sketch_free(&s);
    }
    cr_expect_eq(sp_quantile_rank(0.9, 10), 8, "the 9th of 10");
    cr_expect_eq(sp_quantile_rank(0.5, 4), 1, "the 2nd of 4");
    cr_expect_eq(sp_quantile_rank(0, 4), 0);
    cr_expect_eq(sp_quantile_rank(1, 4), 3);
}
