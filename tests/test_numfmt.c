/*
 * test_numfmt.c - the numbers the rollups write: sp_fmt_g6 must give exactly what
 * printf's "%.6g" gives (readers see one format whichever path wrote a value), checked on
 * edge cases and on millions of values of the kinds rollups hold (ratios in [0, 1],
 * millisecond means, quotients of counts, values across twelve decades); sp_fmt_i64 on
 * the extremes.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "supportpulse/numfmt.h"

static void same_as_printf(double x)
{
    char ours[SP_NUMFMT_MAX], ref[SP_NUMFMT_MAX];
    size_t n = sp_fmt_g6(x, ours);
    snprintf(ref, sizeof ref, "%.6g", x);
    cr_assert_str_eq(ours, ref, "%.17g", x);
    cr_assert_eq(n, strlen(ref));
}

Test(numfmt, g6_edges)
{
    const double v[] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e-4, 9.99999e-5, 1e-5, 0.000123456789,
                        999999.0, 999999.4, 999999.5, 999999.6, 1e6, 123456.5, 1234565.0,
                        0.1, 0.2, 0.3, 2.0 / 3.0, 1.0 / 3.0, 0.6666665, 0.00099999949,
                        12.5, 0.125, 1e300, -1e-300, DBL_MIN, DBL_MAX, 4.35, 100000.05,
                        NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        same_as_printf(v[i]);
}

Test(numfmt, g6_is_printf_on_rollup_values)
{
    uint64_t s = 88172645463325252ULL; /* xorshift64 */
    for (long i = 0; i < 3000000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        double u = (double)(s >> 11) / 9007199254740992.0; /* [0, 1) */
        uint32_t a = (uint32_t)(s >> 20) % 100000, b = 1 + (uint32_t)(s >> 40) % 100000;
        switch (i % 5) {
        case 0: same_as_printf(u); break;                      /* a ratio */
        case 1: same_as_printf((double)a / b); break;          /* a quotient of counts */
        case 2: same_as_printf(u * 1e6); break;                /* a mean in ms */
        case 3: same_as_printf(pow(10, u * 12 - 5)); break;    /* any decade */
        default: same_as_printf(-(double)a / (b % 977 + 1)); break;
        }
    }
}

Test(numfmt, i64)
{
    char buf[SP_NUMFMT_MAX], ref[SP_NUMFMT_MAX];
    const int64_t v[] = {0, 1, -1, 9, 10, 127, -4096, 1795344240LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = sp_fmt_i64(v[i], buf);
        snprintf(ref, sizeof ref, "%" PRId64, v[i]);
        cr_assert_str_eq(buf, ref);
        cr_assert_eq(n, strlen(ref));
    }
}

/* Ratios and means as a board shows them: fixed decimals, never an exponent, agreeing
 * with printf's "%.Nf" away from ties; no "-0". */
Test(numfmt, fixed_decimals_without_exponent)
{
    static const struct {
        double x;
        int d;
        const char *want;
    } rows[] = {
        {0.8, 4, "0.8000"},        {0.81234, 4, "0.8123"},   {1, 4, "1.0000"},
        {0, 4, "0.0000"},          {-0.00001, 4, "0.0000"},  {4107780.4, 0, "4107780"},
        {11740, 0, "11740"},       {-12.5, 1, "-12.5"},      {3.456, 2, "3.46"},
        {1e12, 0, "1000000000000"}, {0.00005, 4, "0.0001"},  {99.99999, 1, "100.0"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char out[SP_NUMFMT_MAX];
        size_t n = sp_fmt_fixed(rows[i].x, rows[i].d, out);
        cr_expect_str_eq(out, rows[i].want, "%.10g with %d decimals", rows[i].x, rows[i].d);
        cr_expect_eq(n, strlen(rows[i].want));
        cr_expect_null(strchr(out, 'e'));
    }
    for (int i = 0; i < 100000; i++) { /* away from ties, the same as printf */
        double x = (double)rand() / RAND_MAX * 2e6 - 1e6 + 0.001 * (i % 7);
        char out[SP_NUMFMT_MAX], ref[64];
        for (int d = 0; d <= 4; d++) {
            sp_fmt_fixed(x, d, out);
            snprintf(ref, sizeof ref, "%.*f", d, x);
            double scaled = fabs(x) * pow(10, d);
            if (fabs(scaled - floor(scaled) - 0.5) < 1e-6)
                continue;
            if (ref[0] == '-' && strspn(ref + 1, "0.") == strlen(ref + 1))
                continue; /* printf's "-0.00": we write "0.00" */
            cr_assert_str_eq(out, ref, "%.17g, %d decimals", x, d);
        }
    }
}

/* A number someone typed comes back as they wrote it, without an exponent. */
Test(numfmt, plain_numbers_as_written)
{
    static const struct {
        double x;
        const char *want;
    } rows[] = {{0.8, "0.8"}, {11740.5, "11740.5"}, {2e6, "2000000"}, {1e-5, "0.00001"},
                {180, "180"}, {-0.25, "-0.25"}, {1e20, "100000000000000000000"}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char out[SP_NUMFMT_MAX];
        sp_fmt_plain(rows[i].x, out);
        cr_expect_str_eq(out, rows[i].want);
    }
}
