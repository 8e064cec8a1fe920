/*
 * ticker.h - a background thread that calls tick(arg) every interval_ms until stopped.
 * When tick fails, its message is logged once per outage ("<message>; retrying"), the
 * next call comes after a backoff of 1 s doubling up to max_backoff_ms, and recovery is
 * logged as "<name>: Redis is back". Used by the forecaster and the alert evaluator,
 * which share nothing else with the pipeline thread.
 *
 * Ownership: the ticker borrows fn's arg, which must outlive sp_ticker_stop.
 */
#ifndef SUPPORTPULSE_TICKER_H
#define SUPPORTPULSE_TICKER_H

#include <stddef.h>
#include <stdint.h>

/* Returns < 0 with errstr on failure. */
typedef int (*sp_tick_fn)(void *arg, char *errstr, size_t errstr_size);

typedef struct sp_ticker sp_ticker;

/* NULL when the thread cannot be started (or out of memory). name is copied. */
sp_ticker *sp_ticker_start(const char *name, sp_tick_fn fn, void *arg, int64_t interval_ms,
                           int64_t max_backoff_ms);
/* Stops the thread (at most ~50 ms after a tick returns) and joins it. NULL is a no-op. */
void sp_ticker_stop(sp_ticker *t);

#endif
