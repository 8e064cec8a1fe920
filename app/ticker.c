/*
 * ticker.c - see ticker.h.
 */
#include "supportpulse/ticker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "supportpulse/log.h"

struct sp_ticker {
    char name[64];
    sp_tick_fn fn;
    void *arg;
    int64_t interval_ms, max_backoff_ms;
    pthread_t th;
    atomic_int stop;
};

/* Sleeps ms in short steps, returning early when asked to stop. */
static void nap(sp_ticker *t, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&t->stop); slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *ticker_main(void *arg)
{
    sp_ticker *t = arg;
    int failing = 0;
    int64_t backoff = 1000;
    while (!atomic_load(&t->stop)) {
        char err[512];
        if (t->fn(t->arg, err, sizeof err) < 0) {
            if (!failing++)
                sp_warn("%s; retrying", err);
            nap(t, backoff);
            backoff = backoff * 2 > t->max_backoff_ms ? t->max_backoff_ms : backoff * 2;
            continue;
        }
        if (failing)
            sp_info("%s: Redis is back", t->name);
        failing = 0;
        backoff = 1000;
        nap(t, t->interval_ms);
    }
    return NULL;
}

sp_ticker *sp_ticker_start(const char *name, sp_tick_fn fn, void *arg, int64_t interval_ms,
                           int64_t max_backoff_ms)
{
    sp_ticker *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->fn = fn;
    t->arg = arg;
    t->interval_ms = interval_ms;
    t->max_backoff_ms = max_backoff_ms;
    if (pthread_create(&t->th, NULL, ticker_main, t) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

void sp_ticker_stop(sp_ticker *t)
{
    if (!t)
        return;
    atomic_store(&t->stop, 1);
    pthread_join(t->th, NULL);
    free(t);
}
