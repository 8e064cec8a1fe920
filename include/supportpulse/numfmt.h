/*
 * numfmt.h - the decimal text of the numbers supportpulse writes to Redis: integers,
 * derived values (ratios, means) in fixed decimals, and "%.6g" where a value has no
 * natural precision, without printf's
 * cost (a rollup has ~40 numbers and a catch-up writes hundreds of thousands of
 * rollups). sp_fmt_g6 gives exactly what snprintf("%.6g") gives: the fast path covers
 * 1e-4 <= |x| < 999999.5 and defers to snprintf where rounding is too close to call.
 */
#ifndef SUPPORTPULSE_NUMFMT_H
#define SUPPORTPULSE_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

#define SP_NUMFMT_MAX 32 /* room for any result, with its terminating NUL */

/* Writes v in decimal; returns the length (out is NUL-terminated). */
size_t sp_fmt_i64(int64_t v, char out[SP_NUMFMT_MAX]);
/* Writes x as "%.6g"; returns the length (out is NUL-terminated). */
size_t sp_fmt_g6(double x, char out[SP_NUMFMT_MAX]);
/* Writes x with exactly `decimals` (0..9) digits after the point and never an exponent
 * (0.8123, -12.5, 118460): how ratios and means are shown, in Redis, the CLIs and alert
 * messages. Rounded half away from zero; no "-0". Returns the length. */
size_t sp_fmt_fixed(double x, int decimals, char out[SP_NUMFMT_MAX]);
/* A value whose precision is not known (an alert rule's arithmetic, a threshold): a whole
 * number as an integer, else 4 decimals below 1, 2 below 1000, none above; never an
 * exponent. Returns the length. */
size_t sp_fmt_auto(double x, char out[SP_NUMFMT_MAX]);
/* A number someone typed (a threshold): its shortest form of up to 15 significant
 * digits, without an exponent (1e-05 -> 0.00001, 2e+06 -> 2000000). Returns the length. */
size_t sp_fmt_plain(double x, char out[SP_NUMFMT_MAX]);

#endif
