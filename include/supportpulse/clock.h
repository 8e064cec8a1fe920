/*
 * clock.h - the two clocks supportpulse reads, in epoch (wall) and monotonic
 * milliseconds. Header-only; thread-safe.
 */
#ifndef SUPPORTPULSE_CLOCK_H
#define SUPPORTPULSE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t sp_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall clock, epoch milliseconds (updated_at, generated_at). */
static inline int64_t sp_wall_ms(void) { return sp_clock_ms(CLOCK_REALTIME); }
/* Monotonic milliseconds (timeouts, intervals). */
static inline int64_t sp_mono_ms(void) { return sp_clock_ms(CLOCK_MONOTONIC); }

#endif
