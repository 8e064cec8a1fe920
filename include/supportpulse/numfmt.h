/*
 * numfmt.h - the decimal text of the numbers supportpulse writes to Redis: integers,
 * and derived values (ratios, means) as printf's "%.6g" writes them, without printf's
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

#endif
