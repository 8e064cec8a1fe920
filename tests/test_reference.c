/*
 * test_reference.c - a generated help-desk stream through the whole pipeline (mock
 * Kafka, real Redis), compared field by field with a straightforward computation of
 * metrics.md done here, event by event, with plain arrays and exact percentiles:
 * counts and sums exact, means to 6 significant digits, percentiles within 1% of the
 * exact sample, for every 1-minute rollup of all/queue/channel/queue,channel, the 1h
 * merges, and the live gauges at the end.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/dims.h"
#include "supportpulse/event.h"
#include "supportpulse/generator.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/metrics.h"

#define NMSG 9000
#define WRAPUP_WAIT_MS (10 * 60 * 1000)

static sp_env env;
static void teardown(void) { sp_env_stop(&env); }

/* ---- a string-keyed table of records -------------------------------------------- */

typedef struct {
    sp_strmap *index;
    void *rec;
    char **key;
    size_t n, cap, size;
} table;

static void table_init(table *t, size_t size)
{
    memset(t, 0, sizeof *t);
    t->size = size;
    t->index = sp_strmap_new(1024);
}

static void *table_get(table *t, const char *key, int create)
{
    uint32_t i;
    if (sp_strmap_get(t->index, key, strlen(key), &i))
        return (char *)t->rec + i * t->size;
    if (!create)
        return NULL;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 1024;
        t->rec = realloc(t->rec, t->cap * t->size);
        t->key = realloc(t->key, t->cap * sizeof *t->key);
        cr_assert(t->rec && t->key);
    }
    memset((char *)t->rec + t->n * t->size, 0, t->size);
    t->key[t->n] = strdup(key);
    cr_assert_eq(sp_strmap_put(t->index, key, strlen(key), (uint32_t)t->n), 0);
    return (char *)t->rec + t->n++ * t->size;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->key[i]);
    free(t->key);
    free(t->rec);
    sp_strmap_destroy(t->index);
}

/* ---- the reference -------------------------------------------------------------- */

typedef struct {
    char queue[SP_NAME_MAX + 1];
    sp_channel channel;
    int offered, answered, ended, abandoned, handled, waiting, csat_seen;
    int64_t offered_ts, answered_ts, ended_ts;
} ref_call;

typedef struct {
    char queue[SP_NAME_MAX + 1];
    sp_channel channel;
    int created, replies, reopened, first_reply_done, open, csat_seen;
    int64_t created_ts;
} ref_ticket;

typedef struct {
    int64_t count[SP_M__COUNT];
    int64_t *values[SP_D__COUNT];
    size_t nvalues[SP_D__COUNT], capvalues[SP_D__COUNT];
} ref_cell;

static table calls, tickets, cells; /* cells: "<res>|<start>|<dims>" */

static void dims_of(const char *queue, sp_channel ch, char out[4][SP_DIMS_MAX])
{
    const char *c = ch == SP_CH_NONE ? "unknown" : sp_channel_name(ch); /* as metrics.md */
    sp_dims_format(NULL, NULL, NULL, NULL, out[0], SP_DIMS_MAX);
    sp_dims_format(NULL, queue, NULL, NULL, out[1], SP_DIMS_MAX);
    sp_dims_format(NULL, NULL, c, NULL, out[2], SP_DIMS_MAX);
    sp_dims_format(NULL, queue, c, NULL, out[3], SP_DIMS_MAX);
}

static const int64_t RES_S[2] = {60, 3600};
static const char *const RES_NAME[2] = {"1m", "1h"};

/* Calls fn on the cell of each resolution and dimension set of (ts, queue, channel). */
static void each_cell(int64_t ts, const char *queue, sp_channel ch,
                      void (*fn)(ref_cell *c, int64_t arg, int extra), int64_t arg, int extra)
{
    char dims[4][SP_DIMS_MAX], key[4 * SP_DIMS_MAX + 80];
    dims_of(queue, ch, dims);
    for (int r = 0; r < 2; r++)
        for (int d = 0; d < 4; d++) {
            int64_t s = ts / 1000;
            snprintf(key, sizeof key, "%s|%lld|%s", RES_NAME[r], (long long)(s - s % RES_S[r]), dims[d]);
            fn(table_get(&cells, key, 1), arg, extra);
        }
}

static void inc(ref_cell *c, int64_t metric, int by) { c->count[metric] += by; }

static void add_value(ref_cell *c, int64_t ms, int d)
{
    if (c->nvalues[d] == c->capvalues[d]) {
        c->capvalues[d] = c->capvalues[d] ? c->capvalues[d] * 2 : 16;
        c->values[d] = realloc(c->values[d], c->capvalues[d] * sizeof *c->values[d]);
        cr_assert_not_null(c->values[d]);
    }
    c->values[d][c->nvalues[d]++] = ms;
    c->count[SP_M_DUR_SUM(d)] += ms;
    c->count[SP_M_DUR_COUNT(d)]++;
}

static void count(int64_t ts, const char *q, sp_channel ch, sp_metric m)
{
    each_cell(ts, q, ch, inc, m, 1);
}

static void duration(int64_t ts, const char *q, sp_channel ch, sp_duration d, int64_t ms)
{
    each_cell(ts, q, ch, add_value, ms < 0 ? 0 : ms, (int)d);
}

static void ref_call_event(const sp_event *e)
{
    ref_call *c = table_get(&calls, e->case_id, 1);
    if (e->queue[0])
        snprintf(c->queue, sizeof c->queue, "%s", e->queue);
    if (!c->queue[0])
        snprintf(c->queue, sizeof c->queue, "unknown");
    c->channel = e->channel ? e->channel : c->channel ? c->channel : SP_CH_PHONE;
    const char *q = c->queue;
    switch (e->type) {
    case SP_EV_CALL_OFFERED:
        count(e->ts_ms, q, c->channel, SP_M_OFFERED);
        if (!c->offered) {
            c->offered = 1;
            c->offered_ts = e->ts_ms;
        }
        c->waiting = !c->answered && !c->ended && !c->abandoned;
        break;
    case SP_EV_CALL_ANSWERED:
        count(e->ts_ms, q, c->channel, SP_M_ANSWERED);
        c->waiting = 0;
        if (!c->answered)
            c->answered_ts = e->ts_ms;
        c->answered = 1;
        if (c->offered) {
            int64_t w = e->ts_ms - c->offered_ts;
            duration(e->ts_ms, q, c->channel, SP_D_WAIT, w);
            if (w <= 20000)
                count(e->ts_ms, q, c->channel, SP_M_ANSWERED_IN_SL);
        }
        break;
    case SP_EV_CALL_ABANDONED:
        count(e->ts_ms, q, c->channel, SP_M_ABANDONED);
        c->waiting = 0;
        if (c->offered && !c->abandoned) {
            int64_t w = e->ts_ms - c->offered_ts;
            duration(e->ts_ms, q, c->channel, SP_D_ABANDON_WAIT, w);
            if (w < 5000)
                count(e->ts_ms, q, c->channel, SP_M_SHORT_ABANDONED);
        }
        c->abandoned = 1;
        break;
    case SP_EV_CALL_TRANSFERRED:
        count(e->ts_ms, q, c->channel, SP_M_TRANSFERRED);
        snprintf(c->queue, sizeof c->queue, "%s", e->to_queue);
        c->waiting = c->offered && !c->ended && !c->abandoned;
        break;
    case SP_EV_CALL_ENDED:
        c->waiting = 0;
        if (!c->abandoned) {
            c->ended = 1;
            c->ended_ts = e->ts_ms;
        }
        break;
    case SP_EV_CALL_WRAPUP:
        if (c->answered && c->ended && !c->handled) {
            int late = e->ts_ms >= c->ended_ts + WRAPUP_WAIT_MS;
            duration(late ? c->ended_ts : e->ts_ms, q, c->channel, SP_D_HANDLE,
                     c->ended_ts - c->answered_ts + (late ? 0 : e->acw_ms));
            c->handled = 1;
        }
        break;
    default: break;
    }
}

static void ref_ticket_event(const sp_event *e)
{
    ref_ticket *t = table_get(&tickets, e->case_id, 1);
    if (e->queue[0])
        snprintf(t->queue, sizeof t->queue, "%s", e->queue);
    if (!t->queue[0])
        snprintf(t->queue, sizeof t->queue, "unknown");
    if (e->channel)
        t->channel = e->channel;
    const char *q = t->queue;
    sp_channel ch = t->channel;
    switch (e->type) {
    case SP_EV_TICKET_CREATED:
        count(e->ts_ms, q, ch, SP_M_CREATED);
        t->created = t->open = 1;
        t->created_ts = e->ts_ms;
        break;
    case SP_EV_TICKET_REPLIED:
        if (e->author != SP_AUTHOR_AGENT)
            break;
        t->replies++;
        if (t->created && !t->first_reply_done)
            duration(e->ts_ms, q, ch, SP_D_FIRST_REPLY, e->ts_ms - t->created_ts);
        t->first_reply_done = 1;
        break;
    case SP_EV_TICKET_ESCALATED:
        if (e->from == SP_FROM_BOT)
            count(e->ts_ms, q, ch, SP_M_ESCALATED_BOT);
        if (e->to_queue[0])
            snprintf(t->queue, sizeof t->queue, "%s", e->to_queue);
        break;
    case SP_EV_TICKET_TRANSFERRED:
        count(e->ts_ms, q, ch, SP_M_TRANSFERRED);
        snprintf(t->queue, sizeof t->queue, "%s", e->to_queue);
        break;
    case SP_EV_TICKET_SOLVED:
        count(e->ts_ms, q, ch, SP_M_SOLVED);
        t->open = 0;
        if (t->created) {
            duration(e->ts_ms, q, ch, SP_D_RESOLUTION, e->ts_ms - t->created_ts);
            if (t->replies == 1 && !t->reopened)
                count(e->ts_ms, q, ch, SP_M_ONE_TOUCH);
        }
        break;
    case SP_EV_TICKET_REOPENED:
        count(e->ts_ms, q, ch, SP_M_REOPENED);
        t->reopened = 1;
        t->open = t->created;
        break;
    case SP_EV_TICKET_CLOSED:
        t->open = 0;
        break;
    default: break;
    }
}

/* A survey: the queue and channel of its own, else of the case it names (events.md),
 * else queue=unknown; counted as an unknown case when it names one never seen. */
static void ref_survey_event(const sp_event *e)
{
    const char *q = NULL;
    sp_channel ch = e->channel;
    int *seen = NULL;
    if (e->case_id[0] && e->case_is_call) {
        ref_call *c = table_get(&calls, e->case_id, 0);
        if (c)
            q = c->queue, ch = ch ? ch : c->channel, seen = &c->csat_seen;
    } else if (e->case_id[0]) {
        ref_ticket *t = table_get(&tickets, e->case_id, 0);
        if (t)
            q = t->queue, ch = ch ? ch : t->channel, seen = &t->csat_seen;
    }
    int unknown = e->case_id[0] && !q && !e->queue[0];
    q = e->queue[0] ? e->queue : q ? q : "unknown";
    if (!ch)
        ch = e->case_is_call ? SP_CH_PHONE : SP_CH_NONE;
    if (unknown)
        count(e->ts_ms, q, ch, SP_M_SURVEYS_UNKNOWN_CASE);
    if (e->type == SP_EV_SURVEY_NPS) {
        count(e->ts_ms, q, ch, SP_M_NPS_RESPONSES);
        if (e->score >= 9)
            count(e->ts_ms, q, ch, SP_M_NPS_PROMOTERS);
        if (e->score <= 6)
            count(e->ts_ms, q, ch, SP_M_NPS_DETRACTORS);
        return;
    }
    count(e->ts_ms, q, ch, SP_M_CSAT_RESPONSES);
    each_cell(e->ts_ms, q, ch, inc, SP_M_CSAT_SCORE_SUM, e->score);
    if (e->score >= 4)
        count(e->ts_ms, q, ch, SP_M_CSAT_POSITIVE);
    if (e->score <= 2)
        count(e->ts_ms, q, ch, SP_M_CSAT_NEGATIVE);
    if (seen && (*seen)++)
        count(e->ts_ms, q, ch, SP_M_CSAT_REPEAT);
}

/* ---- comparison ------------------------------------------------------------------ */

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double redis_num(const char *key, const char *field, int *present)
{
    char buf[64];
    *present = sp_hget_str(&env, key, field, buf, sizeof buf) && buf[0];
    return *present ? strtod(buf, NULL) : 0;
}

static const sp_metric COUNTED[] = {
    SP_M_OFFERED, SP_M_ANSWERED, SP_M_ABANDONED, SP_M_SHORT_ABANDONED, SP_M_ANSWERED_IN_SL,
    SP_M_TRANSFERRED, SP_M_CREATED, SP_M_SOLVED, SP_M_REOPENED, SP_M_ONE_TOUCH,
    SP_M_ESCALATED_BOT, SP_M_CSAT_RESPONSES, SP_M_CSAT_POSITIVE, SP_M_CSAT_SCORE_SUM,
    SP_M_CSAT_NEGATIVE, SP_M_CSAT_REPEAT, SP_M_NPS_RESPONSES, SP_M_NPS_PROMOTERS,
    SP_M_NPS_DETRACTORS, SP_M_SURVEYS_UNKNOWN_CASE,
};

static size_t failures;
#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond) && failures++ < 20)                                                     \
            cr_expect(cond, __VA_ARGS__);                                                   \
    } while (0)

static void compare_ratio(const char *key, const char *name, double num, double den)
{
    int present;
    double got = redis_num(key, name, &present);
    if (den <= 0) {
        CHECK(!present, "%s %s should be absent", key, name);
        return;
    }
    double want = num / den;
    /* written with the ratio's fixed decimals: within half a unit of the last one */
    const sp_ratio *r = sp_ratio_find(name);
    double unit = r ? pow(10, -r->decimals) : 1e-6;
    CHECK(present && fabs(got - want) <= 0.5 * unit + 1e-9,
          "%s %s: %g, want %g", key, name, got, want);
}

static const char *prefix = "sp";

static size_t compare_cell(const char *tkey, ref_cell *c)
{
    char key[SP_DIMS_MAX + 80], res[8], dims[SP_DIMS_MAX];
    long long start;
    cr_assert_eq(sscanf(tkey, "%7[^|]|%lld|%[^\n]", res, &start, dims), 3);
    snprintf(key, sizeof key, "%s:r:%s:%s:%lld", prefix, res, dims, start);
    size_t checked = 0;
    int present;
    for (size_t i = 0; i < sizeof COUNTED / sizeof *COUNTED; i++, checked++) {
        double got = redis_num(key, sp_metric_name(COUNTED[i]), &present);
        CHECK((int64_t)got == c->count[COUNTED[i]], "%s %s: %.0f, want %lld", key,
              sp_metric_name(COUNTED[i]), got, (long long)c->count[COUNTED[i]]);
    }
    for (int d = 0; d < SP_D__COUNT; d++) {
        char f[64];
        const char *dn = sp_duration_name((sp_duration)d);
        snprintf(f, sizeof f, "%s_count", dn);
        int64_t got = (int64_t)redis_num(key, f, &present);
        CHECK(got == c->count[SP_M_DUR_COUNT(d)], "%s %s: %lld, want %lld", key, f,
              (long long)got, (long long)c->count[SP_M_DUR_COUNT(d)]);
        snprintf(f, sizeof f, "%s_sum", dn);
        got = (int64_t)redis_num(key, f, &present);
        CHECK(got == c->count[SP_M_DUR_SUM(d)], "%s %s: %lld, want %lld", key, f,
              (long long)got, (long long)c->count[SP_M_DUR_SUM(d)]);
        snprintf(f, sizeof f, "%s_avg", dn);
        compare_ratio(key, f, (double)c->count[SP_M_DUR_SUM(d)], (double)c->count[SP_M_DUR_COUNT(d)]);
        size_t n = c->nvalues[d];
        if (n) /* sorted once; idempotent */
            qsort(c->values[d], n, sizeof *c->values[d], cmp64);
        static const double qs[3] = {0.5, 0.9, 0.99};
        static const char *const qn[3] = {"_p50", "_p90", "_p99"};
        for (int k = 0; k < 3; k++, checked++) {
            snprintf(f, sizeof f, "%s%s", dn, qn[k]);
            double got = redis_num(key, f, &present);
            if (!n) {
                CHECK(!present, "%s %s should be absent", key, f);
                continue;
            }
            /* nearest rank, computed here on its own: the ceil(q n)-th smallest */
            size_t rank = (size_t)ceil(qs[k] * (double)n - 1e-9);
            double exact = (double)c->values[d][rank ? rank - 1 : 0];
            CHECK(present && fabs(got - exact) <= 0.01 * exact, "%s %s: %.0f, exact %.0f (n=%zu)",
                  key, f, got, exact, n);
        }
    }
    const int64_t *v = c->count;
    compare_ratio(key, "service_level", (double)v[SP_M_ANSWERED_IN_SL],
                  (double)(v[SP_M_WAIT_COUNT] + v[SP_M_ABANDON_WAIT_COUNT] - v[SP_M_SHORT_ABANDONED]));
    compare_ratio(key, "abandon_rate", (double)(v[SP_M_ABANDONED] - v[SP_M_SHORT_ABANDONED]),
                  (double)(v[SP_M_OFFERED] - v[SP_M_SHORT_ABANDONED]));
    compare_ratio(key, "asa_ms_avg", (double)v[SP_M_WAIT_SUM], (double)v[SP_M_WAIT_COUNT]);
    compare_ratio(key, "csat", (double)v[SP_M_CSAT_POSITIVE], (double)v[SP_M_CSAT_RESPONSES]);
    compare_ratio(key, "csat_avg", (double)v[SP_M_CSAT_SCORE_SUM], (double)v[SP_M_CSAT_RESPONSES]);
    compare_ratio(key, "dissatisfied", (double)v[SP_M_CSAT_NEGATIVE], (double)v[SP_M_CSAT_RESPONSES]);
    compare_ratio(key, "nps", 100.0 * (double)(v[SP_M_NPS_PROMOTERS] - v[SP_M_NPS_DETRACTORS]),
                  (double)v[SP_M_NPS_RESPONSES]);
    return checked;
}

static void compare_live(void)
{
    char lk[64];
    snprintf(lk, sizeof lk, "%s:live:all", prefix);
    int64_t waiting = 0, open = 0;
    for (size_t i = 0; i < calls.n; i++)
        waiting += ((ref_call *)calls.rec)[i].waiting;
    for (size_t i = 0; i < tickets.n; i++)
        open += ((ref_ticket *)tickets.rec)[i].open;
    cr_expect_eq(sp_hget_ll(&env, lk, "in_queue", -1), waiting, "%s", lk);
    cr_expect_eq(sp_hget_ll(&env, lk, "backlog", -1), open, "%s", lk);
    cr_expect_gt(open, 0, "the stream ends with open tickets");
    char buf[64];
    cr_expect(sp_hget_str(&env, lk, "service_level_15m", buf, sizeof buf), "%s", lk);
    cr_expect(sp_hget_str(&env, lk, "updated_at", buf, sizeof buf), "%s", lk);
}

Test(reference, generated_stream_matches_a_straightforward_computation, .fini = teardown,
     .timeout = 300)
{
    sp_env_start(&env, "ref", 3);
    table_init(&calls, sizeof(ref_call));
    table_init(&tickets, sizeof(ref_ticket));
    table_init(&cells, sizeof(ref_cell));
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = 2026;
    gc.arrivals_per_hour = 6000;
    char err[256];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    cr_assert_not_null(g);
    static char keys[NMSG][40], vals[NMSG][1024];
    static const char *kp[NMSG], *vp[NMSG];
    int64_t last_ts = 0;
    for (int i = 0; i < NMSG; i++) {
        sp_gen_msg m;
        cr_assert_eq(sp_gen_next(g, &m), 0);
        cr_assert(m.value_len < sizeof vals[i] && m.key_len < sizeof keys[i]);
        memcpy(keys[i], m.key, m.key_len);
        memcpy(vals[i], m.value, m.value_len);
        kp[i] = keys[i];
        vp[i] = vals[i];
        sp_event e;
        sp_reject_reason why;
        cr_assert_eq(sp_event_decode(m.value, m.value_len, &e, &why, err, sizeof err), 0, "%s", err);
        last_ts = e.ts_ms > last_ts ? e.ts_ms : last_ts;
        if (e.type <= SP_EV_TICKET_CLOSED)
            ref_ticket_event(&e);
        else if (e.type <= SP_EV_CALL_WRAPUP)
            ref_call_event(&e);
        else if (e.type == SP_EV_SURVEY_CSAT || e.type == SP_EV_SURVEY_NPS)
            ref_survey_event(&e);
    }
    sp_gen_destroy(g);
    /* calls whose wrap-up never came: handle time with acw 0, in the window of the end */
    for (size_t i = 0; i < calls.n; i++) {
        ref_call *c = (ref_call *)calls.rec + i;
        if (c->answered && c->ended && !c->handled &&
            c->ended_ts + WRAPUP_WAIT_MS <= last_ts - 2 * 60 * 1000)
            duration(c->ended_ts, c->queue, c->channel, SP_D_HANDLE, c->ended_ts - c->answered_ts);
    }
    sp_produce(&env, "ref", kp, vp, NMSG);

    /* decoded and applied on the pipeline thread, and by two decode threads that own
     * the three partitions between them: the same numbers */
    static const char *const threads[2] = {"0", "2"}, *const prefixes[2] = {"t0", "t2"};
    for (int run = 0; run < 2; run++) {
        sp_config cfg;
        char group[32];
        snprintf(group, sizeof group, "reference-%s", prefixes[run]);
        sp_env_config(&env, &cfg, "ref", group);
        cr_assert_eq(sp_config_set(&cfg, "prefix", prefixes[run], err, sizeof err), 0);
        cr_assert_eq(sp_config_set(&cfg, "decode_threads", threads[run], err, sizeof err), 0);
        sp_runner r;
        sp_runner_start(&r, &cfg);
        cr_assert(sp_runner_wait(&r, NMSG, 120));
        sp_runner_stop(&r);
        sp_config_free(&cfg);

        /* Handle times whose wrap-up never came are counted 10 minutes (of the
         * partition's event time) after the call ended: leave the last 15 minutes out. */
        prefix = prefixes[run];
        failures = 0;
        int64_t cutoff = last_ts / 1000 - 15 * 60;
        size_t compared = 0, windows = 0;
        for (size_t i = 0; i < cells.n; i++) {
            long long start;
            char res[8];
            sscanf(cells.key[i], "%7[^|]|%lld", res, &start);
            if (start + (strcmp(res, "1m") == 0 ? 60 : 3600) > cutoff)
                continue;
            compared += compare_cell(cells.key[i], (ref_cell *)cells.rec + i);
            windows++;
        }
        cr_expect_eq(failures, 0, "%s: %zu of %zu fields differ", prefix, failures, compared);
        cr_expect_gt(windows, 200, "compared %zu rollups", windows);
        compare_live();
    }
    for (size_t i = 0; i < cells.n; i++)
        for (int d = 0; d < SP_D__COUNT; d++)
            free(((ref_cell *)cells.rec)[i].values[d]);
    table_free(&calls);
    table_free(&tickets);
    table_free(&cells);
}
