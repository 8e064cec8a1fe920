/*
 * forecast_loop.h - runs the forecaster (forecaster.h) beside the pipeline: its own
 * thread, its own Redis connection, a tick every forecast_check_s. Nothing is shared
 * with the pipeline thread but the stop flag, so the event path never waits for it.
 * Redis failures are logged once per outage and retried with backoff; the forecast
 * catches up from the rollups when Redis is back.
 *
 * Ownership: the loop keeps a pointer to cfg (which must outlive it) and owns the
 * parsed events, the forecaster and the thread.
 */
#ifndef SUPPORTPULSE_FORECAST_LOOP_H
#define SUPPORTPULSE_FORECAST_LOOP_H

#include <stddef.h>

#include "supportpulse/config.h"
#include "supportpulse/forecaster.h"

typedef struct sp_forecast_loop sp_forecast_loop;

/* Fills a forecaster configuration from the run configuration; events are borrowed. */
void sp_forecaster_conf_from_config(sp_forecaster_conf *fc, const sp_config *cfg,
                                    const sp_fc_events *events);

/* Starts the thread. NULL with errstr on failure. */
sp_forecast_loop *sp_forecast_loop_start(const sp_config *cfg, char *errstr, size_t errstr_size);
/* Stops and joins the thread, frees everything. NULL is a no-op. */
void sp_forecast_loop_stop(sp_forecast_loop *l);

#endif
