/*
 * forecast.h - the arrivals model behind the peak-load forecast: double-seasonal
 * Holt-Winters (Taylor 2003: a level, a daily and a weekly additive seasonal, and an
 * AR(1) correction of the last error) over 15-minute counts, with prediction intervals
 * taken from the model's own day-ahead errors, and declared events (promotions,
 * holidays) as multipliers.
 *
 * Data flow: the forecaster (forecaster.h) folds one completed interval at a time into
 * an sp_hw with sp_hw_update, dividing the count by the declared multiplier of that
 * interval first, so a promotion does not teach the model a false normal. Once a day,
 * and when built from history, sp_hw_fit chooses the smoothing parameters that
 * minimise the squared errors of forecasts 1 to 96 intervals ahead over the history,
 * and measures the spread of those errors per horizon band for the intervals.
 * sp_hw_forecast then gives the next intervals, times each one's multiplier.
 *
 * With less than a day of history the model is the mean of what there is; with less
 * than two weeks it has no weekly seasonal; with less than two days its parameters are
 * fixed defaults (nothing to score a fit on yet) and its intervals Poisson. Seasonal slots are interval index
 * (epoch seconds / 900) modulo 96 and 672, so any time zone's day and week are learnt
 * as they come.
 *
 * An sp_hw is a plain value (no pointers): copy it, compare it, store it. Not
 * thread-safe; one owner.
 */
#ifndef SUPPORTPULSE_FORECAST_H
#define SUPPORTPULSE_FORECAST_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/timezone.h"

#define SP_FC_INTERVAL_S 900
#define SP_FC_DAY 96
#define SP_FC_WEEK 672
#define SP_FC_HORIZON 96
#define SP_FC_BANDS 4 /* horizons 1, 2-4, 5-16, 17-96 intervals */

typedef enum { SP_FC_MEAN, SP_FC_DAILY, SP_FC_WEEKLY } sp_fc_kind;

typedef struct {
    double alpha, delta, omega, phi; /* level, daily, weekly, AR(1) of the error */
} sp_hw_params;

typedef struct {
    sp_fc_kind kind;
    sp_hw_params par;
    int64_t next;     /* interval index of the next observation */
    int64_t nobs;     /* observations folded in since the last fit's start */
    double level, err;
    double day[SP_FC_DAY], week[SP_FC_WEEK];
    /* scaled error quantiles per band: 2.5%, 10%, 90%, 97.5% (error / sqrt(forecast)) */
    double q[SP_FC_BANDS][4];
} sp_hw;

typedef struct {
    double volume, lo80, hi80, lo95, hi95;
} sp_fc_point;

/* Builds a model from n adjusted counts x[0..n) of intervals t0, t0+1, ...: chooses the
 * kind from n, initialises, fits the parameters and interval widths, and leaves the
 * model ready to forecast interval t0+n. 0, or -1 when out of memory. */
int sp_hw_fit(sp_hw *m, const double *x, size_t n, int64_t t0);
/* Folds the adjusted count x of interval m->next. */
void sp_hw_update(sp_hw *m, double x);

/* The adjusted forecast for interval m->next + h - 1, h = 1..SP_FC_HORIZON. */
sp_fc_point sp_hw_point(const sp_hw *m, int h);

/* Name of a kind: "mean", "daily", "double_seasonal". */
const char *sp_fc_kind_name(sp_fc_kind k);

/* ---- declared events ---- */

typedef struct {
    int64_t start_ms, end_ms; /* [start, end) */
    double multiplier;
    char queue[65], channel[17]; /* "" = any */
    char name[65];
} sp_fc_event;

typedef struct {
    sp_fc_event *ev;
    size_t n;
} sp_fc_events;

/* Parses "NAME,START,END,MULTIPLIER[,QUEUE[,CHANNEL]];..." (START/END RFC 3339, a date
 * alone (its first instant in `zone`, the desk's; NULL: UTC) or epoch ms; QUEUE/CHANNEL
 * empty or * for any). An empty text is no events. Fills *out (which the caller frees
 * with sp_fc_events_free). 0, or -1 with errstr naming the entry. */
int sp_fc_events_parse(const char *text, const sp_tz *zone, sp_fc_events *out, char *errstr,
                       size_t errstr_size);
void sp_fc_events_free(sp_fc_events *e);
/* The product of the multipliers of the events whose [START, END) holds the interval
 * start `start_s` (epoch s) and whose queue and channel match, and the name of the
 * first of them (NULL when none). */
double sp_fc_events_multiplier(const sp_fc_events *e, int64_t start_s, const char *queue,
                               const char *channel, const char **name);

#endif
