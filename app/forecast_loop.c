/*
 * forecast_loop.c - see forecast_loop.h.
 */
#include "supportpulse/forecast_loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "supportpulse/log.h"

struct sp_forecast_loop {
    const sp_config *cfg;
    sp_fc_events events;
    sp_forecaster *f;
    pthread_t th;
    atomic_int stop;
};

void sp_forecaster_conf_from_config(sp_forecaster_conf *fc, const sp_config *cfg,
                                    const sp_fc_events *events)
{
    sp_forecaster_conf_defaults(fc);
    fc->address = cfg->redis;
    fc->prefix = cfg->prefix;
    fc->connect_timeout_ms = fc->command_timeout_ms = (int)cfg->redis_timeout_ms;
    fc->lateness_ms = cfg->lateness_s * 1000;
    fc->history_days = cfg->forecast_history_days;
    fc->sl_threshold_s = cfg->sl_threshold_s;
    fc->sl_by_queue = cfg->sl_by_queue;
    fc->sl_target_pct = cfg->sl_target_pct;
    fc->sl_target_by_queue = cfg->sl_target_by_queue;
    fc->default_handle_s = cfg->default_handle_s;
    fc->handle_s_by_channel = cfg->handle_s_by_channel;
    fc->events = events;
    fc->surge_intervals = cfg->surge_intervals;
    fc->surge_min_volume = cfg->surge_min_volume;
}

/* Sleeps ms in short steps, returning early when asked to stop. */
static void nap(sp_forecast_loop *l, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&l->stop); slept += 100) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void *loop_main(void *arg)
{
    sp_forecast_loop *l = arg;
    int failing = 0;
    int64_t backoff = 1000;
    while (!atomic_load(&l->stop)) {
        char err[512];
        int n = sp_forecaster_tick(l->f, err, sizeof err);
        if (n < 0) {
            if (!failing++)
                sp_warn("%s; retrying", err);
            nap(l, backoff);
            backoff = backoff * 2 > l->cfg->max_backoff_ms ? l->cfg->max_backoff_ms : backoff * 2;
            continue;
        }
        if (failing)
            sp_info("forecaster: Redis is back");
        failing = 0;
        backoff = 1000;
        if (n > 0)
            sp_debug("forecaster: %d forecasts written", n);
        nap(l, l->cfg->forecast_check_s * 1000);
    }
    return NULL;
}

sp_forecast_loop *sp_forecast_loop_start(const sp_config *cfg, char *errstr, size_t errstr_size)
{
    sp_forecast_loop *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(errstr, errstr_size, "forecaster: out of memory");
        return NULL;
    }
    l->cfg = cfg;
    char why[256];
    if (sp_fc_events_parse(cfg->forecast_events, &l->events, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "forecast_events: %s", why);
        free(l);
        return NULL;
    }
    sp_forecaster_conf fc;
    sp_forecaster_conf_from_config(&fc, cfg, &l->events);
    if (!(l->f = sp_forecaster_new(&fc, errstr, errstr_size)) ||
        pthread_create(&l->th, NULL, loop_main, l) != 0) {
        if (l->f)
            snprintf(errstr, errstr_size, "forecaster: cannot start its thread");
        sp_forecaster_destroy(l->f);
        sp_fc_events_free(&l->events);
        free(l);
        return NULL;
    }
    return l;
}

void sp_forecast_loop_stop(sp_forecast_loop *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, 1);
    pthread_join(l->th, NULL);
    sp_forecaster_destroy(l->f);
    sp_fc_events_free(&l->events);
    free(l);
}
