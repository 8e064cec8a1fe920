/*
 * forecast_loop.c - see forecast_loop.h.
 */
#include "supportpulse/forecast_loop.h"

#include <stdlib.h>

#include "supportpulse/log.h"
#include "supportpulse/ticker.h"

struct sp_forecast_loop {
    const sp_config *cfg;
    sp_fc_events events;
    sp_forecaster *f;
    sp_ticker *ticker;
};

void sp_forecaster_conf_from_config(sp_forecaster_conf *fc, const sp_config *cfg,
                                    const sp_fc_events *events)
{
    sp_forecaster_conf_defaults(fc);
    fc->address = cfg->redis;
    fc->user = cfg->redis_user;
    fc->password = cfg->redis_password;
    fc->tls = sp_config_redis_tls(cfg);
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

static int tick(void *arg, char *errstr, size_t errstr_size)
{
    sp_forecast_loop *l = arg;
    int n = sp_forecaster_tick(l->f, errstr, errstr_size);
    if (n > 0)
        sp_debug("forecaster: %d forecasts written", n);
    return n < 0 ? -1 : 0;
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
    sp_tz *zone = sp_tz_load(cfg->time_zone, why, sizeof why); /* dates are the desk's days */
    if (!zone) {
        snprintf(errstr, errstr_size, "time_zone: %s", why);
        free(l);
        return NULL;
    }
    int rc = sp_fc_events_parse(cfg->forecast_events, zone, &l->events, why, sizeof why);
    sp_tz_free(zone);
    if (rc < 0) {
        snprintf(errstr, errstr_size, "forecast_events: %s", why);
        free(l);
        return NULL;
    }
    sp_forecaster_conf fc;
    sp_forecaster_conf_from_config(&fc, cfg, &l->events);
    if (!(l->f = sp_forecaster_new(&fc, errstr, errstr_size)) ||
        !(l->ticker = sp_ticker_start("forecaster", tick, l, cfg->forecast_check_s * 1000,
                                      cfg->max_backoff_ms))) {
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
    sp_ticker_stop(l->ticker);
    sp_forecaster_destroy(l->f);
    sp_fc_events_free(&l->events);
    free(l);
}
