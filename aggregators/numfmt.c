/*
 * numfmt.c - see numfmt.h. "%.6g" of x with decimal exponent e (10^e <= |x| < 10^(e+1))
 * is fixed notation for -4 <= e < 6: x rounded to 5 - e decimals, trailing zeros (and a
 * trailing point) dropped. The rounding is done on x * 10^(5-e) in double precision; when
 * that product lies within 1e-6 of a rounding tie the exact decimal value of x could go
 * either way, and snprintf decides.
 */
#include "supportpulse/numfmt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const double pow10_tab[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

size_t sp_fmt_i64(int64_t v, char out[SP_NUMFMT_MAX])
{
    char d[24];
    int k = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        d[k++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    size_t n = 0;
    if (v < 0)
        out[n++] = '-';
    while (k > 0)
        out[n++] = d[--k];
    out[n] = '\0';
    return n;
}

static size_t slow(double x, char out[SP_NUMFMT_MAX])
{
    int n = snprintf(out, SP_NUMFMT_MAX, "%.6g", x);
    return n > 0 ? (size_t)n : 0;
}

size_t sp_fmt_g6(double x, char out[SP_NUMFMT_MAX])
{
    double a = fabs(x);
    if (x == 0 && !signbit(x)) {
        memcpy(out, "0", 2);
        return 1;
    }
    if (!(a >= 1e-4 && a < 999999.5))
        return slow(x, out);
    int e = 5;
    while (e > -4 && a < (e >= 0 ? pow10_tab[e] : 1 / pow10_tab[-e]))
        e--;
    int p = 5 - e; /* decimals: 0 .. 9 */
    double scaled = a * pow10_tab[p], fl = floor(scaled), frac = scaled - fl;
    if (fabs(frac - 0.5) < 1e-6)
        return slow(x, out);
    uint64_t digits = (uint64_t)fl + (frac > 0.5);
    if (digits >= 1000000) { /* rounded up to the next power of ten */
        if (e == 5)
            return slow(x, out);
        e++;
        p--;
        digits /= 10;
    }
    char d[16];
    int nd = 0;
    do
        d[nd++] = (char)('0' + digits % 10);
    while ((digits /= 10) > 0);
    while (nd < p + 1)
        d[nd++] = '0'; /* leading zeros of a value below 1 */
    size_t n = 0;
    if (x < 0)
        out[n++] = '-';
    int intdigits = nd - p; /* d holds the digits backwards: the last p are decimals */
    for (int i = nd - 1; i >= nd - intdigits; i--)
        out[n++] = d[i];
    int last = 0; /* the lowest decimal that is not a trailing zero */
    while (last < p && d[last] == '0')
        last++;
    if (last < p) {
        out[n++] = '.';
        for (int i = p - 1; i >= last; i--)
            out[n++] = d[i];
    }
    out[n] = '\0';
    return n;
}

size_t sp_fmt_fixed(double x, int decimals, char out[SP_NUMFMT_MAX])
{
    if (decimals < 0)
        decimals = 0;
    if (decimals > 9)
        decimals = 9;
    double scaled = round(x * pow10_tab[decimals]);
    if (!(fabs(scaled) < 9e15)) { /* also NaN: beyond exact integers, printf decides */
        int n = snprintf(out, SP_NUMFMT_MAX, "%.*f", decimals, x);
        return n > 0 && n < SP_NUMFMT_MAX ? (size_t)n : 0;
    }
    int64_t v = (int64_t)scaled;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char d[24];
    int k = 0;
    do
        d[k++] = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    while (k <= decimals) /* at least one digit before the point */
        d[k++] = '0';
    size_t n = 0;
    if (v < 0)
        out[n++] = '-';
    while (k > 0) {
        if (k == decimals)
            out[n++] = '.';
        out[n++] = d[--k];
    }
    out[n] = '\0';
    return n;
}

size_t sp_fmt_auto(double x, char out[SP_NUMFMT_MAX])
{
    double a = fabs(x);
    if (x == floor(x) && a < 9e15)
        return sp_fmt_fixed(x, 0, out);
    return sp_fmt_fixed(x, a < 1 ? 4 : a < 1000 ? 2 : 0, out);
}

size_t sp_fmt_plain(double x, char out[SP_NUMFMT_MAX])
{
    int n = snprintf(out, SP_NUMFMT_MAX, "%.15g", x);
    if (n > 0 && n < SP_NUMFMT_MAX && !strchr(out, 'e'))
        return (size_t)n;
    double a = fabs(x);
    if (a >= 1) /* large: whole, as fixed */
        return sp_fmt_fixed(x, 0, out);
    n = snprintf(out, SP_NUMFMT_MAX, "%.15f", x); /* small: cut the trailing zeros */
    while (n > 1 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 1 && out[n - 1] == '.')
        out[--n] = '\0';
    return n > 0 ? (size_t)n : 0;
}
