/*
 * forecaster.h - the peak-load forecast of every (queue, channel) series, kept in step
 * with the rollups in Redis and published to {p}:fc:{dims} (shared/spec/redis.md).
 *
 * Data flow: each tick reads the pipeline's event time from {p}:meta (the newest event
 * of any partition, less the allowed lateness); every 15-minute interval that ended
 * before it is complete. For each series {p}:ts:15m:{dims} with a queue and a channel
 * (and no agent), the forecaster folds each newly completed interval's arrivals
 * (offered + created of {p}:r:15m:{dims}:{start}) into its model (forecast.h), refits
 * the model from the last history_days of rollups at the end of every UTC day, and
 * writes in one script the forecast JSON {p}:fc:{dims} and the model state
 * {p}:fcstate:{<fc key>} (hash: next, state; one hash slot); then the forecast and
 * surge fields of {p}:live:{dims} and PUBLISH {p}:updates {p}:fc:{dims}. Works on one
 * Redis or a Redis Cluster (redis_client.h).
 *
 * The write is conditional on the stored state being older, so several instances may
 * run forecasters side by side: they compute the same thing and the first write wins.
 * A restarted forecaster loads the stored state and continues exactly where it was; with
 * no state it builds the model from the rollups' history at once.
 *
 * Staffing per interval: real-time channels (phone, chat, video) get Erlang C agents
 * for the queue's service-level target with the mean handle time of the last 7 to 8
 * days; asynchronous channels (email, in_app, social) get workload hours and the agents
 * that workload keeps busy (volume x handle / interval).
 *
 * Ownership: the forecaster owns its Redis client and its series; conf strings
 * and the events list are borrowed and must outlive it. One thread.
 */
#ifndef SUPPORTPULSE_FORECASTER_H
#define SUPPORTPULSE_FORECASTER_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/forecast.h"
#include "supportpulse/redis_conn.h"

typedef struct {
    const char *address, *prefix;
    const char *user, *password; /* AUTH (sp_redis_set_auth); NULL: none */
    sp_redis_tls_conf tls; /* TLS (sp_redis_set_tls); .enabled 0: plain */
    int connect_timeout_ms, command_timeout_ms;
    int64_t lateness_ms;
    int64_t history_days;        /* fit window (2..35) */
    int64_t sl_threshold_s;      /* service level "answered within" */
    const char *sl_by_queue;     /* queue=seconds overrides */
    int64_t sl_target_pct;       /* staffing target, percent (1..99) */
    const char *sl_target_by_queue; /* queue=percent overrides */
    int64_t default_handle_s;    /* no handled calls yet; async channels not listed */
    const char *handle_s_by_channel; /* channel=seconds for asynchronous channels */
    const sp_fc_events *events;
    int64_t surge_intervals;     /* consecutive intervals above hi95 that make a surge */
    int64_t surge_min_volume;    /* ... each with at least this many arrivals */
    int64_t max_agents;
} sp_forecaster_conf;

typedef struct {
    uint64_t series, folded, refits, writes, stale_writes;
} sp_forecaster_stats;

typedef struct sp_forecaster sp_forecaster;

void sp_forecaster_conf_defaults(sp_forecaster_conf *c);
/* conf is copied (its strings and events are borrowed). NULL with errstr on failure. */
sp_forecaster *sp_forecaster_new(const sp_forecaster_conf *conf, char *errstr,
                                 size_t errstr_size);
void sp_forecaster_destroy(sp_forecaster *f); /* NULL is a no-op */

/* Brings every series up to the last complete interval. Returns the number of series
 * whose forecast was written, or -1 with errstr when Redis failed (nothing is lost:
 * call again later; the connection is reopened). */
int sp_forecaster_tick(sp_forecaster *f, char *errstr, size_t errstr_size);
const sp_forecaster_stats *sp_forecaster_get_stats(const sp_forecaster *f);

/* The forecast JSON of one model for interval starts from `next`: exposed for the
 * `forecast` command's tests and the benchmark. Caller frees the string. */
char *sp_forecaster_render(const sp_forecaster_conf *conf, const sp_hw *m, const char *dims,
                           const char *queue, const char *channel, double handle_s,
                           int64_t generated_at_ms);

#endif
