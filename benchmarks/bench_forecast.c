/*
 * bench_forecast.c - `spbench forecast`: accuracy and cost of the peak-load forecast.
 *
 * Accuracy: five weeks of `supportpulse gen` traffic (seed 1, 1,200 contacts an hour at
 * an average hour, Monday 2025-10-20 00:00 UTC on), decoded, arrivals (call.offered +
 * ticket.created) counted per (queue, channel) and 15-minute interval. Four weeks are
 * history; the fifth is held out and forecast a day ahead at each midnight, as the
 * forecaster does (fold the day, refit on the last 28 days). Compared with the
 * seasonal-naive forecast (the same interval a week earlier) on MAPE (intervals with
 * arrivals) and WAPE (sum |error| / sum arrivals, which small queues cannot dominate),
 * and the share of held-out intervals inside the 80% and 95% intervals.
 *
 * Cost: 100 series (the generator's, repeated): CPU time of one refresh of all 100
 * (fold an interval, render the 96-interval forecast JSON with Erlang C staffing) and
 * of the daily refit of all 100; medians of R runs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supportpulse/event.h"
#include "supportpulse/forecaster.h"
#include "supportpulse/generator.h"

#define START_MS 1760918400000LL /* Monday 2025-10-20 00:00 UTC */
#define WEEKS 5
#define NI (WEEKS * SP_FC_WEEK)
#define MAXS 64

typedef struct {
    char queue[65], channel[17];
    double y[NI];
} bseries;

static bseries *series;
static int nseries;

static int series_of(const sp_event *ev)
{
    const char *ch = sp_channel_name(ev->channel == SP_CH_NONE ? SP_CH_PHONE : ev->channel);
    for (int i = 0; i < nseries; i++)
        if (strcmp(series[i].queue, ev->queue) == 0 && strcmp(series[i].channel, ch) == 0)
            return i;
    if (nseries == MAXS)
        return -1;
    bseries *s = &series[nseries];
    snprintf(s->queue, sizeof s->queue, "%s", ev->queue);
    snprintf(s->channel, sizeof s->channel, "%s", ch);
    return nseries++;
}

static size_t count_arrivals(void)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = 1;
    gc.start_ms = START_MS;
    char err[256];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    if (!g) {
        fprintf(stderr, "spbench: %s\n", err);
        exit(1);
    }
    size_t arrivals = 0;
    for (;;) {
        sp_gen_msg m;
        sp_event ev;
        sp_reject_reason why;
        if (sp_gen_next(g, &m) < 0 || m.ts_ms >= START_MS + (int64_t)NI * 900000)
            break;
        if (m.kind != 0 || sp_event_decode(m.value, m.value_len, &ev, &why, err, sizeof err) < 0)
            continue;
        if (ev.type != SP_EV_CALL_OFFERED && ev.type != SP_EV_TICKET_CREATED)
            continue;
        int s = series_of(&ev);
        int64_t i = (ev.ts_ms - START_MS) / 900000;
        if (s >= 0 && i >= 0 && i < NI) {
            series[s].y[i]++;
            arrivals++;
        }
    }
    sp_gen_destroy(g);
    return arrivals;
}

typedef struct {
    double ape, naive_ape, abs_err, naive_abs_err, volume, in80, in95;
    int n_ape, n;
} score;

/* The held-out week of one series, forecast a day ahead at each midnight. */
static void evaluate(const double *y, score *sc)
{
    const int64_t t0 = START_MS / 900000;
    const size_t hist = 4 * SP_FC_WEEK;
    sp_hw m;
    if (sp_hw_fit(&m, y, hist, t0) < 0)
        exit(1);
    for (int day = 0; day < 7; day++) {
        size_t at = hist + (size_t)day * SP_FC_DAY;
        for (int h = 1; h <= SP_FC_HORIZON; h++) {
            size_t i = at + (size_t)h - 1;
            sp_fc_point p = sp_hw_point(&m, h);
            double naive = y[i - SP_FC_WEEK];
            sc->abs_err += fabs(p.volume - y[i]);
            sc->naive_abs_err += fabs(naive - y[i]);
            sc->volume += y[i];
            if (y[i] > 0) {
                sc->ape += fabs(p.volume - y[i]) / y[i];
                sc->naive_ape += fabs(naive - y[i]) / y[i];
                sc->n_ape++;
            }
            sc->in80 += y[i] >= p.lo80 && y[i] <= p.hi80;
            sc->in95 += y[i] >= p.lo95 && y[i] <= p.hi95;
            sc->n++;
        }
        for (int h = 0; h < SP_FC_DAY; h++)
            sp_hw_update(&m, y[at + (size_t)h]);
        if (sp_hw_fit(&m, y + at + SP_FC_DAY - hist, hist, t0 + (int64_t)(at + SP_FC_DAY - hist)) < 0)
            exit(1);
    }
}

static void print_score(const char *name, const score *s)
{
    printf("  %-28s MAPE %6.1f%% vs naive %6.1f%% (%.2fx)  WAPE %5.1f%% vs %5.1f%% (%.2fx)  "
           "in 80%%: %4.1f%%  in 95%%: %4.1f%%\n", name, 100 * s->ape / s->n_ape,
           100 * s->naive_ape / s->n_ape, s->ape / s->naive_ape, 100 * s->abs_err / s->volume,
           100 * s->naive_abs_err / s->volume, s->abs_err / s->naive_abs_err,
           100 * s->in80 / s->n, 100 * s->in95 / s->n);
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void cost(int runs)
{
    enum { N = 100 };
    const int64_t t0 = START_MS / 900000;
    const size_t hist = 4 * SP_FC_WEEK;
    static sp_hw models[N];
    double refresh[64], refit[64];
    sp_forecaster_conf conf;
    sp_forecaster_conf_defaults(&conf);
    for (int r = 0; r < runs; r++) {
        double a = cpu_ms();
        for (int k = 0; k < N; k++)
            if (sp_hw_fit(&models[k], series[k % nseries].y, hist, t0) < 0)
                exit(1);
        double b = cpu_ms();
        size_t bytes = 0;
        for (int k = 0; k < N; k++) {
            const bseries *s = &series[k % nseries];
            sp_hw_update(&models[k], s->y[hist]);
            char *fc = sp_forecaster_render(&conf, &models[k], "queue=q|channel=c", s->queue,
                                            s->channel, 300, 0);
            if (!fc)
                exit(1);
            bytes += strlen(fc);
            free(fc);
        }
        double c = cpu_ms();
        refit[r] = b - a;
        refresh[r] = c - b;
        if (r == 0)
            printf("  forecast JSON: %.1f KB per series\n", bytes / 1024.0 / N);
    }
    qsort(refresh, (size_t)runs, sizeof(double), cmp);
    qsort(refit, (size_t)runs, sizeof(double), cmp);
    printf("  one refresh of %d series (fold an interval + forecast JSON with staffing): "
           "%.2f ms CPU (median of %d)\n", N, refresh[runs / 2], runs);
    printf("  daily refit of %d series (28 days each):                               "
           "%.0f ms CPU (median of %d)\n", N, refit[runs / 2], runs);
}

int bench_forecast(int runs)
{
    series = calloc(MAXS, sizeof *series);
    if (!series)
        return 1;
    double t = cpu_ms();
    size_t arrivals = count_arrivals();
    printf("forecast accuracy: %zu arrivals in %d (queue, channel) series over 5 weeks "
           "(generated and decoded in %.1f s CPU)\n", arrivals, nseries, (cpu_ms() - t) / 1000);
    score all = {0}, busiest = {0};
    int top = 0;
    double top_volume = 0;
    for (int i = 0; i < nseries; i++) {
        double v = 0;
        for (int k = 0; k < NI; k++)
            v += series[i].y[k];
        if (v > top_volume) {
            top_volume = v;
            top = i;
        }
        evaluate(series[i].y, &all);
    }
    evaluate(series[top].y, &busiest);
    char name[128];
    snprintf(name, sizeof name, "busiest (%s/%s)", series[top].queue, series[top].channel);
    print_score("all series", &all);
    print_score(name, &busiest);
    cost(runs);
    free(series);
    return 0;
}
