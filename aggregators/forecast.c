/*
 * forecast.c - see forecast.h.
 *
 * Recursions (x = adjusted count of interval t, S = day[t%96] + week[t%672]):
 *   e      = x - (level + S)                      one-step error before the update
 *   level' = alpha (x - S) + (1 - alpha) level
 *   day    = delta (x - level' - week) + (1 - delta) day
 *   week   = omega (x - level' - day_old) + (1 - omega) week
 *   forecast h ahead = level + S(t+h) + phi^h e
 * A forecast made h <= 96 intervals before its target uses the seasonals as they stand
 * at the target (neither changes in between), so the error of every horizon is known
 * from a ring of the last 97 levels and errors: the fit scores many horizons in one
 * pass.
 */
#include "supportpulse/forecast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/event.h"

#define RING (SP_FC_HORIZON + 1)

static const int fit_h[] = {1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96};
#define NFIT_H (sizeof fit_h / sizeof fit_h[0])
static const double qlevels[4] = {0.025, 0.10, 0.90, 0.975};
static const double normal_q[4] = {-1.959964, -1.281552, 1.281552, 1.959964};

const char *sp_fc_kind_name(sp_fc_kind k)
{
    return k == SP_FC_WEEKLY ? "double_seasonal" : k == SP_FC_DAILY ? "daily" : "mean";
}

static int band_of(int h) { return h <= 1 ? 0 : h <= 4 ? 1 : h <= 16 ? 2 : 3; }
static size_t slot(int64_t t, size_t period) { return (size_t)(((t % (int64_t)period) + (int64_t)period) % (int64_t)period); }

/* Level and seasonals from the first weeks (or days) of the history. */
static void init_state(sp_hw *m, const double *x, size_t n, int64_t t0)
{
    memset(m->day, 0, sizeof m->day);
    memset(m->week, 0, sizeof m->week);
    m->err = 0;
    size_t span = m->kind == SP_FC_WEEKLY ? 2 * SP_FC_WEEK
                  : m->kind == SP_FC_DAILY ? (n / SP_FC_DAY < 7 ? n / SP_FC_DAY : 7) * SP_FC_DAY
                                           : (n < SP_FC_DAY ? n : SP_FC_DAY);
    const double *from = m->kind == SP_FC_MEAN ? x + n - span : x;
    double sum = 0;
    for (size_t i = 0; i < span; i++)
        sum += from[i];
    m->level = span ? sum / span : 0;
    if (m->kind == SP_FC_MEAN)
        return;
    double reps = (double)span / SP_FC_DAY;
    for (size_t i = 0; i < span; i++)
        m->day[slot(t0 + (int64_t)i, SP_FC_DAY)] += (x[i] - m->level) / reps;
    if (m->kind != SP_FC_WEEKLY)
        return;
    for (size_t i = 0; i < span; i++) {
        int64_t t = t0 + (int64_t)i;
        m->week[slot(t, SP_FC_WEEK)] += (x[i] - m->level - m->day[slot(t, SP_FC_DAY)]) / 2.0;
    }
}

static double season(const sp_hw *m, int64_t t)
{
    return m->day[slot(t, SP_FC_DAY)] + m->week[slot(t, SP_FC_WEEK)];
}

void sp_hw_update(sp_hw *m, double x)
{
    int64_t t = m->next++;
    m->nobs++;
    if (m->kind == SP_FC_MEAN) { /* the mean of the last day, kept as a running one */
        double w = m->nobs < SP_FC_DAY ? 1.0 / (double)m->nobs : 1.0 / SP_FC_DAY;
        m->err = x - m->level;
        m->level += w * (x - m->level);
        return;
    }
    const sp_hw_params *p = &m->par;
    double *d = &m->day[slot(t, SP_FC_DAY)], *w = &m->week[slot(t, SP_FC_WEEK)];
    double s = *d + *w;
    m->err = x - (m->level + s);
    double level = p->alpha * (x - s) + (1 - p->alpha) * m->level;
    double d_old = *d;
    *d = p->delta * (x - level - *w) + (1 - p->delta) * *d;
    *w = p->omega * (x - level - d_old) + (1 - p->omega) * *w;
    m->level = level;
}

/* Forecast of interval `target` from a state of level l and error e, h ahead. */
static double base(const sp_hw *m, double l, double e, int64_t target, int h)
{
    return l + season(m, target) + pow(m->par.phi, h) * e;
}

typedef struct {
    double l, e;
} ring_entry;

/* Runs the recursions over x from a fresh start and returns the sum of squared errors
 * of the fit horizons (after the first `warm` intervals). When errs is not NULL, also
 * records scaled errors of every horizon 1..96 from interval `from` on, per band. */
typedef struct {
    double *v[SP_FC_BANDS];
    size_t n[SP_FC_BANDS];
} band_errs;

static double run(sp_hw *m, const double *x, size_t n, int64_t t0, size_t warm, size_t from,
                  band_errs *errs)
{
    ring_entry ring[RING];
    double sse = 0, ph[SP_FC_HORIZON + 1];
    ph[0] = 1;
    for (int h = 1; h <= SP_FC_HORIZON; h++)
        ph[h] = ph[h - 1] * m->par.phi;
    init_state(m, x, n, t0);
    m->next = t0;
    m->nobs = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t t = t0 + (int64_t)i;
        if (i >= warm) {
            double s = season(m, t);
            for (size_t k = 0; k < NFIT_H && (size_t)fit_h[k] <= i; k++) {
                const ring_entry *o = &ring[(i - (size_t)fit_h[k]) % RING];
                double f = o->l + s + ph[fit_h[k]] * o->e;
                sse += (x[i] - f) * (x[i] - f);
            }
            for (int h = 1; errs && i >= from && h <= SP_FC_HORIZON && (size_t)h <= i; h++) {
                const ring_entry *o = &ring[(i - (size_t)h) % RING];
                double f = fmax(o->l + s + ph[h] * o->e, 0.0);
                int b = band_of(h);
                errs->v[b][errs->n[b]++] = (x[i] - f) / sqrt(fmax(f, 1.0));
            }
        }
        sp_hw_update(m, x[i]);
        ring[i % RING] = (ring_entry){m->level, m->err};
    }
    return sse;
}

static double eval(sp_hw *m, const double *x, size_t n, int64_t t0, size_t warm, sp_hw_params p)
{
    m->par = p;
    return run(m, x, n, t0, warm, n, NULL);
}

static void search_grid(sp_hw *m, const double *x, size_t n, int64_t t0, size_t warm,
                        sp_hw_params *best, double *best_sse)
{
    static const double as[] = {0.01, 0.03, 0.08, 0.2, 0.4};
    static const double ds[] = {0, 0.05, 0.15, 0.3};
    static const double ws[] = {0, 0.05, 0.15, 0.3};
    static const double ps[] = {0, 0.4, 0.8, 0.95};
    size_t nw = m->kind == SP_FC_WEEKLY ? 4 : 1;
    for (size_t a = 0; a < 5; a++)
        for (size_t d = 0; d < 4; d++)
            for (size_t w = 0; w < nw; w++)
                for (size_t f = 0; f < 4; f++) {
                    sp_hw_params p = {as[a], ds[d], ws[w], ps[f]};
                    double sse = eval(m, x, n, t0, warm, p);
                    if (sse < *best_sse) {
                        *best_sse = sse;
                        *best = p;
                    }
                }
}

/* Coordinate steps around the best grid point, halving the step each round. */
static void refine(sp_hw *m, const double *x, size_t n, int64_t t0, size_t warm,
                   sp_hw_params *best, double *best_sse)
{
    double step = 0.04;
    int nparams = m->kind == SP_FC_WEEKLY ? 4 : 3;
    for (int round = 0; round < 3; round++, step /= 2)
        for (int k = 0; k < nparams; k++)
            for (int dir = -1; dir <= 1; dir += 2) {
                sp_hw_params p = *best;
                double *v = k == 0 ? &p.alpha : k == 1 ? &p.delta : k == 2 ? &p.phi : &p.omega;
                *v = fmin(fmax(*v + dir * step, k == 0 ? 0.001 : 0.0), 0.99);
                double sse = eval(m, x, n, t0, warm, p);
                if (sse < *best_sse) {
                    *best_sse = sse;
                    *best = p;
                }
            }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void set_quantiles(sp_hw *m, band_errs *e)
{
    for (int b = 0; b < SP_FC_BANDS; b++) {
        if (e->n[b] < 40) {
            memcpy(m->q[b], normal_q, sizeof normal_q);
            continue;
        }
        qsort(e->v[b], e->n[b], sizeof(double), cmp_double);
        for (int k = 0; k < 4; k++)
            m->q[b][k] = e->v[b][(size_t)(qlevels[k] * (double)(e->n[b] - 1) + 0.5)];
    }
}

/* Scaled errors of every horizon over the last two weeks (at most) of the history. */
static int measure_intervals(sp_hw *m, const double *x, size_t n, int64_t t0, size_t warm)
{
    size_t from = n > 14 * SP_FC_DAY + warm ? n - 14 * SP_FC_DAY : warm;
    size_t steps = n > from ? n - from : 0;
    band_errs e = {{NULL}, {0}};
    static const size_t per_band[SP_FC_BANDS] = {1, 3, 12, 80};
    int rc = 0;
    for (int b = 0; b < SP_FC_BANDS; b++)
        if (!(e.v[b] = malloc((steps * per_band[b] + 1) * sizeof(double))))
            rc = -1;
    if (rc == 0) {
        run(m, x, n, t0, warm, from, &e);
        set_quantiles(m, &e);
    }
    for (int b = 0; b < SP_FC_BANDS; b++)
        free(e.v[b]);
    return rc;
}

int sp_hw_fit(sp_hw *m, const double *x, size_t n, int64_t t0)
{
    memset(m, 0, sizeof *m);
    m->kind = n >= 2 * SP_FC_WEEK ? SP_FC_WEEKLY : n >= SP_FC_DAY ? SP_FC_DAILY : SP_FC_MEAN;
    for (int b = 0; b < SP_FC_BANDS; b++)
        memcpy(m->q[b], normal_q, sizeof normal_q);
    if (m->kind == SP_FC_MEAN) {
        init_state(m, x, n, t0);
        m->next = t0 + (int64_t)n;
        m->nobs = (int64_t)(n < SP_FC_DAY ? n : SP_FC_DAY);
        return 0;
    }
    size_t warm = m->kind == SP_FC_WEEKLY ? 2 * SP_FC_WEEK : SP_FC_DAY;
    sp_hw_params best = {0.05, 0.2, 0, 0.5}; /* one day: nothing to score a fit on yet */
    double best_sse = INFINITY;
    if (n >= 2 * SP_FC_DAY) {
        search_grid(m, x, n, t0, warm, &best, &best_sse);
        refine(m, x, n, t0, warm, &best, &best_sse);
    }
    m->par = best;
    if (measure_intervals(m, x, n, t0, warm) < 0)
        return -1;
    run(m, x, n, t0, n, n, NULL); /* leaves the state at the end of the history */
    return 0;
}

sp_fc_point sp_hw_point(const sp_hw *m, int h)
{
    int64_t target = m->next - 1 + h;
    double f = m->kind == SP_FC_MEAN ? m->level : base(m, m->level, m->err, target, h);
    f = fmax(f, 0.0);
    double s = sqrt(fmax(f, 1.0));
    const double *q = m->q[band_of(h)];
    return (sp_fc_point){f, fmax(f + q[1] * s, 0.0), fmax(f + q[2] * s, 0.0),
                         fmax(f + q[0] * s, 0.0), fmax(f + q[3] * s, 0.0)};
}

/* ---- declared events ---- */

static int parse_time(const char *s, const sp_tz *zone, int64_t *ms)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && *end == '\0') {
        *ms = v;
        return 0;
    }
    if (strlen(s) == 10) { /* a date alone: the desk's midnight of it */
        char full[32];
        snprintf(full, sizeof full, "%sT00:00:00Z", s);
        if (sp_ts_parse_rfc3339(full, strlen(full), ms) < 0)
            return -1;
        *ms = sp_tz_date_start(zone, *ms / 86400000) * 1000;
        return 0;
    }
    return sp_ts_parse_rfc3339(s, strlen(s), ms);
}

static int copy_field(char *dst, size_t size, const char *src)
{
    if (strlen(src) >= size)
        return -1;
    strcpy(dst, strcmp(src, "*") == 0 ? "" : src);
    return 0;
}

/* One entry "NAME,START,END,MULTIPLIER[,QUEUE[,CHANNEL]]", modified in place. */
static int parse_event(char *entry, const sp_tz *zone, sp_fc_event *ev, char *errstr,
                       size_t errstr_size)
{
    char *f[7], *save = entry, *t;
    int nf = 0;
    while (nf < 7 && (t = strsep(&save, ",")))
        f[nf++] = t;
    memset(ev, 0, sizeof *ev);
    const char *why = nf < 4 || nf > 6 ? "needs NAME,START,END,MULTIPLIER[,QUEUE[,CHANNEL]]"
                      : !f[0][0] || copy_field(ev->name, sizeof ev->name, f[0]) < 0
                          ? "name must be 1..64 bytes"
                      : parse_time(f[1], zone, &ev->start_ms) < 0 ? "START is not RFC 3339, a date or epoch ms"
                      : parse_time(f[2], zone, &ev->end_ms) < 0   ? "END is not RFC 3339, a date or epoch ms"
                      : ev->end_ms <= ev->start_ms          ? "END must be after START"
                                                            : NULL;
    if (!why) {
        char *end;
        ev->multiplier = strtod(f[3], &end);
        if (end == f[3] || *end || !(ev->multiplier > 0 && ev->multiplier <= 100))
            why = "MULTIPLIER must be a number above 0 and at most 100";
    }
    if (!why && nf > 4 && copy_field(ev->queue, sizeof ev->queue, f[4]) < 0)
        why = "QUEUE is longer than 64 bytes";
    if (!why && nf > 5) {
        sp_channel ch;
        if (strcmp(f[5], "*") != 0 && f[5][0] && sp_channel_parse(f[5], &ch) < 0)
            why = "CHANNEL is not a known channel";
        else
            copy_field(ev->channel, sizeof ev->channel, f[5]);
    }
    if (why)
        snprintf(errstr, errstr_size, "%s", why);
    return why ? -1 : 0;
}

int sp_fc_events_parse(const char *text, const sp_tz *zone, sp_fc_events *out, char *errstr,
                       size_t errstr_size)
{
    out->ev = NULL;
    out->n = 0;
    char *copy = strdup(text ? text : "");
    if (!copy) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc = 0;
    size_t idx = 0;
    char *save = copy, *entry;
    while (rc == 0 && (entry = strsep(&save, ";"))) {
        idx++;
        if (!*entry)
            continue;
        sp_fc_event *grown = realloc(out->ev, (out->n + 1) * sizeof *grown);
        char why[160];
        if (!grown) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = -1;
        } else if (out->ev = grown, parse_event(entry, zone, &grown[out->n], why, sizeof why) < 0) {
            snprintf(errstr, errstr_size, "event %zu: %s", idx, why);
            rc = -1;
        } else {
            out->n++;
        }
    }
    free(copy);
    if (rc < 0)
        sp_fc_events_free(out);
    return rc;
}

void sp_fc_events_free(sp_fc_events *e)
{
    free(e->ev);
    e->ev = NULL;
    e->n = 0;
}

double sp_fc_events_multiplier(const sp_fc_events *e, int64_t start_s, const char *queue,
                               const char *channel, const char **name)
{
    double mult = 1.0;
    int64_t ms = start_s * 1000;
    if (name)
        *name = NULL;
    for (size_t i = 0; e && i < e->n; i++) {
        const sp_fc_event *ev = &e->ev[i];
        if (ms < ev->start_ms || ms >= ev->end_ms || (ev->queue[0] && strcmp(ev->queue, queue)) ||
            (ev->channel[0] && strcmp(ev->channel, channel)))
            continue;
        mult *= ev->multiplier;
        if (name && !*name)
            *name = ev->name;
    }
    return mult;
}
