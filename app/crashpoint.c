/*
 * crashpoint.c - see crashpoint.h. One armed point and a countdown, both atomics: the
 * points are visited from the pipeline thread only, but nothing here assumes it.
 */
#include "supportpulse/crashpoint.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[SP_CRASH__COUNT] = {
    "flush-before-send", "flush-sent", "flush-call", "flush-applied", "dead-letter", "revoke"};

static atomic_int armed = -1;      /* the armed point, -1 = none */
static atomic_long remaining;      /* visits left before the kill */
static atomic_int initialised;

int sp_crashpoint_init(char *errstr, size_t errstr_size)
{
    if (atomic_exchange(&initialised, 1))
        return 0;
    const char *v = getenv("SPTEST_CRASH_AT");
    if (!v || !*v)
        return 0;
    const char *colon = strrchr(v, ':');
    char *end = NULL;
    long n = colon ? strtol(colon + 1, &end, 10) : 0;
    for (int p = 0; colon && end && !*end && n >= 1 && p < SP_CRASH__COUNT; p++)
        if (strlen(names[p]) == (size_t)(colon - v) && strncmp(v, names[p], (size_t)(colon - v)) == 0) {
            atomic_store(&remaining, n);
            atomic_store(&armed, p);
            fprintf(stderr, "supportpulse: SPTEST_CRASH_AT=%s: will kill itself there\n", v);
            return 0;
        }
    snprintf(errstr, errstr_size,
             "SPTEST_CRASH_AT: '%s' is not <point>:<n> (points: flush-before-send, "
             "flush-sent, flush-call, flush-applied, dead-letter, revoke; n >= 1)", v);
    return -1;
}

int sp_crashpoint_armed(sp_crash_point p)
{
    return atomic_load_explicit(&armed, memory_order_relaxed) == (int)p;
}

void sp_crashpoint(sp_crash_point p)
{
    if (atomic_load_explicit(&armed, memory_order_relaxed) != (int)p)
        return;
    if (atomic_fetch_sub(&remaining, 1) == 1)
        raise(SIGKILL);
}
