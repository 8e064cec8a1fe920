/*
 * test_metrics.c - the response-time metrics of one partition, checked two ways:
 * hand-worked scenarios with exact expected values (one per rule of metrics.md), and a
 * generated stream whose totals must not depend on when the state is published.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/event.h"
#include "supportpulse/generator.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/partition.h"

/* ---- totals as the publisher computes them: the sum of every published change ---- */

typedef struct {
    sp_strmap *index;
    int64_t *v;
    char **key;
    size_t n, cap;
} totals;

static void totals_init(totals *t)
{
    memset(t, 0, sizeof *t);
    t->index = sp_strmap_new(1024);
    cr_assert_not_null(t->index);
}

static void totals_free(totals *t)
{
    sp_strmap_destroy(t->index);
    for (size_t i = 0; i < t->n; i++)
        free(t->key[i]);
    free(t->key);
    free(t->v);
}

static void totals_add(totals *t, const char *key, int64_t d)
{
    uint32_t i;
    if (!sp_strmap_get(t->index, key, strlen(key), &i)) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 1024;
            t->v = realloc(t->v, t->cap * sizeof *t->v);
            t->key = realloc(t->key, t->cap * sizeof *t->key);
            cr_assert(t->v && t->key);
        }
        i = (uint32_t)t->n;
        t->key[t->n] = strdup(key);
        t->v[t->n++] = 0;
        cr_assert_eq(sp_strmap_put(t->index, key, strlen(key), i), 0);
    }
    t->v[i] += d;
}

static int64_t totals_get(const totals *t, const char *key)
{
    uint32_t i;
    return sp_strmap_get(t->index, key, strlen(key), &i) ? t->v[i] : 0;
}

/* What a flush sends: the change of every dirty cell, counters and sketch buckets. */
static void capture(totals *t, sp_partition *p)
{
    char key[512];
    for (int r = 0; r < SP_NRES; r++) {
    sp_window_set *ws = sp_partition_window_set(p, r);
    for (size_t i = 0; i < ws->n; i++)
        for (size_t j = 0; j < ws->w[i].ncells; j++) {
            const sp_cell *c = &ws->w[i].cells[j];
            if (!c->dirty)
                continue;
            const char *dims = sp_partition_dims_key(p, c->dims_id);
            for (int m = 0; m < SP_M__COUNT; m++)
                if (c->c.v[m] != c->pub.v[m]) {
                    snprintf(key, sizeof key, "%lld|%s|%s", (long long)ws->w[i].start, dims,
                             sp_metric_name((sp_metric)m));
                    totals_add(t, key, c->c.v[m] - c->pub.v[m]);
                }
            for (int d = 0; d < SP_D__COUNT; d++)
                for (uint32_t b = 0; b < c->sk[d].nb; b++)
                    if (c->sk[d].b[b].n != c->sk[d].b[b].pub) {
                        snprintf(key, sizeof key, "%lld|%s|%s:%u", (long long)ws->w[i].start,
                                 dims, sp_duration_name((sp_duration)d), c->sk[d].b[b].idx);
                        totals_add(t, key, c->sk[d].b[b].n - c->sk[d].b[b].pub);
                    }
        }
    }
}

/* ---- hand-worked scenarios ---------------------------------------------------------- */

#define T0 1795342500000LL /* a minute boundary */

static sp_partition *scenario_partition(void)
{
    sp_partition_conf pc;
    sp_partition_conf_defaults(&pc);
    pc.max_future_ms = 0;
    pc.sl_by_queue = "security=10";
    char err[256];
    sp_partition *p = sp_partition_new(&pc, err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    return p;
}


/* A value of the cell (window at T0 + minute, dims), 0 when absent. */
static int64_t cell(sp_partition *p, int minute, const char *dims, sp_metric m)
{
    return sp_test_cell(p, T0 / 1000 + minute * 60, dims, m, 0);
}

static sp_sketch *sketch(sp_partition *p, int minute, const char *dims, sp_duration d)
{
    sp_cell *c = sp_test_find_cell(p, T0 / 1000 + minute * 60, dims);
    return c ? &c->sk[d] : NULL;
}

static int64_t gauge(sp_partition *p, const char *dims, sp_gauge g, int64_t *oldest)
{
    size_t n;
    sp_gauges *gs = sp_partition_gauges(p, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(sp_partition_dims_key(p, (uint32_t)i), dims) == 0) {
            if (oldest)
                *oldest = gs[i].oldest_ts;
            return gs[i].v[g];
        }
    return 0;
}

#define TS(sec) ((long long)(T0 + (sec) * 1000LL))

Test(metrics, service_level_and_short_abandons)
{
    sp_partition *p = scenario_partition();
    /* four calls offered at T0 in queue payments (threshold 20 s, short abandon 5 s) */
    for (int c = 1; c <= 4; c++)
        sp_test_event(p, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"c%d\",\"queue\":\"payments\"", TS(0), c);
    int64_t oldest;
    cr_expect_eq(gauge(p, "queue=payments", SP_G_IN_QUEUE, &oldest), 4);
    cr_expect_eq(oldest, T0);
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"c1\",\"agent_id\":\"a1\"", TS(20)); /* in SL */
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"c2\",\"agent_id\":\"a1\"", TS(21)); /* missed */
    sp_test_event(p, "\"type\":\"call.abandoned\",\"ts\":%lld,\"call_id\":\"c3\"", TS(4));   /* short */
    sp_test_event(p, "\"type\":\"call.abandoned\",\"ts\":%lld,\"call_id\":\"c4\"", TS(30));  /* counts */
    const char *q = "queue=payments";
    cr_expect_eq(cell(p, 0, q, SP_M_OFFERED), 4);
    cr_expect_eq(cell(p, 0, q, SP_M_ANSWERED), 2);
    cr_expect_eq(cell(p, 0, q, SP_M_ANSWERED_IN_SL), 1);
    cr_expect_eq(cell(p, 0, q, SP_M_ABANDONED), 2);
    cr_expect_eq(cell(p, 0, q, SP_M_SHORT_ABANDONED), 1);
    /* service level = 1 / (2 + 2 - 1); abandon rate = (2 - 1) / (4 - 1) */
    cr_expect_eq(cell(p, 0, q, SP_M_WAIT_COUNT) + cell(p, 0, q, SP_M_ABANDON_WAIT_COUNT) -
                     cell(p, 0, q, SP_M_SHORT_ABANDONED), 3);
    cr_expect_eq(cell(p, 0, q, SP_M_WAIT_SUM), 41000, "ASA = (20 + 21) / 2 s");
    cr_expect_eq(cell(p, 0, q, SP_M_ABANDON_WAIT_SUM), 34000);
    cr_expect_eq(cell(p, 0, "agent=a1", SP_M_ANSWERED), 2, "per agent");
    cr_expect_eq(cell(p, 0, "agent=a1", SP_M_WAIT_COUNT), 2);
    cr_expect_eq(gauge(p, q, SP_G_IN_QUEUE, &oldest), 0);
    cr_expect_eq(oldest, INT64_MAX, "nobody waiting");
    sp_sketch *s = sketch(p, 0, q, SP_D_WAIT);
    cr_assert_not_null(s);
    cr_expect_eq(sp_sketch_quantile(s, 0), 20096, "20 s is in bucket [19968, 20223]: its middle");
    sp_partition_destroy(p);
}

Test(metrics, per_queue_threshold)
{
    sp_partition *p = scenario_partition(); /* security: 10 s */
    sp_test_event(p, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"s1\",\"queue\":\"security\"", TS(0));
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"s1\",\"agent_id\":\"a\"", TS(15));
    cr_expect_eq(cell(p, 0, "queue=security", SP_M_ANSWERED_IN_SL), 0, "15 s > 10 s");
    cr_expect_eq(cell(p, 0, "queue=security", SP_M_WAIT_COUNT), 1);
    sp_partition_destroy(p);
}

Test(metrics, transfer_keeps_the_offered_time)
{
    sp_partition *p = scenario_partition();
    sp_test_event(p, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"t1\",\"queue\":\"payments\"", TS(0));
    sp_test_event(p, "\"type\":\"call.transferred\",\"ts\":%lld,\"call_id\":\"t1\",\"to_queue\":\"security\"", TS(10));
    int64_t oldest;
    cr_expect_eq(gauge(p, "queue=security", SP_G_IN_QUEUE, &oldest), 1, "waits in the new queue");
    cr_expect_eq(oldest, T0, "since the first offer");
    cr_expect_eq(gauge(p, "queue=payments", SP_G_IN_QUEUE, NULL), 0);
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"t1\",\"agent_id\":\"a\"", TS(70));
    cr_expect_eq(cell(p, 1, "queue=security", SP_M_WAIT_SUM), 70000, "70 s, not 60 s");
    cr_expect_eq(cell(p, 1, "queue=security", SP_M_ANSWERED), 1);
    cr_expect_eq(cell(p, 0, "queue=payments", SP_M_TRANSFERRED), 1);
    sp_partition_destroy(p);
}

Test(metrics, answer_before_offer_is_counted_when_the_offer_comes)
{
    sp_partition *p = scenario_partition();
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"o1\",\"agent_id\":\"a\"", TS(65));
    cr_expect_eq(cell(p, 1, "all", SP_M_WAIT_COUNT), 0, "no wait without its start");
    sp_test_event(p, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"o1\",\"queue\":\"payments\"", TS(50));
    cr_expect_eq(cell(p, 1, "all", SP_M_WAIT_SUM), 15000, "in the answer's window");
    cr_expect_eq(cell(p, 1, "all", SP_M_ANSWERED_IN_SL), 1);
    cr_expect_eq(gauge(p, "all", SP_G_IN_QUEUE, NULL), 0, "an answered call is not waiting");
    /* an answer whose offer never comes: counted as answered, never as a wait */
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"o2\",\"agent_id\":\"a\"", TS(66));
    cr_expect_eq(cell(p, 1, "all", SP_M_ANSWERED), 2);
    cr_expect_eq(cell(p, 1, "all", SP_M_WAIT_COUNT), 1);
    sp_partition_destroy(p);
}

Test(metrics, handle_time_with_and_without_wrapup)
{
    sp_partition *p = scenario_partition();
    for (int c = 1; c <= 2; c++) {
        sp_test_event(p, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"h%d\",\"queue\":\"payments\"", TS(0), c);
        sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"h%d\",\"agent_id\":\"a\"", TS(10), c);
        sp_test_event(p, "\"type\":\"call.ended\",\"ts\":%lld,\"call_id\":\"h%d\"", TS(130), c);
    }
    sp_test_event(p, "\"type\":\"call.wrapup\",\"ts\":%lld,\"call_id\":\"h1\",\"acw_ms\":30000", TS(200));
    cr_expect_eq(cell(p, 3, "all", SP_M_HANDLE_SUM), 150000, "120 s talk + 30 s wrap-up, at the wrap-up");
    cr_expect_eq(cell(p, 3, "agent=a", SP_M_HANDLE_COUNT), 1);
    cr_expect_eq(cell(p, 2, "all", SP_M_HANDLE_COUNT), 0, "h2 waits for its wrap-up");
    /* 10 minutes after h2 ended (event time, on this partition) it is counted with acw 0 */
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"x\",\"queue\":\"q\",\"channel\":\"email\"", TS(130 + 600));
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"y\",\"queue\":\"q\",\"channel\":\"email\"", TS(130 + 661));
    cr_expect_eq(cell(p, 2, "all", SP_M_HANDLE_SUM), 120000, "in the window of call.ended");
    cr_expect_eq(cell(p, 2, "all", SP_M_HANDLE_COUNT), 1);
    sp_test_event(p, "\"type\":\"call.wrapup\",\"ts\":%lld,\"call_id\":\"h2\",\"acw_ms\":5000", TS(800));
    cr_expect_eq(cell(p, 2, "all", SP_M_HANDLE_COUNT) + cell(p, 13, "all", SP_M_HANDLE_COUNT), 1,
                 "a wrap-up after the timeout is ignored");
    sp_partition_destroy(p);
}

Test(metrics, late_wrapup_is_judged_by_event_time_not_by_sweeps)
{
    sp_partition *p = scenario_partition();
    sp_test_event(p, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"w\",\"queue\":\"payments\"", TS(0));
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"w\",\"agent_id\":\"a\"", TS(10));
    sp_test_event(p, "\"type\":\"call.ended\",\"ts\":%lld,\"call_id\":\"w\"", TS(70));
    /* the partition moves 11 minutes on within the same minute of sweeps... */
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"x\",\"queue\":\"q\",\"channel\":\"email\"", TS(70 + 660));
    /* ...then the wrap-up, stamped in time, arrives: the call is already overdue */
    sp_test_event(p, "\"type\":\"call.wrapup\",\"ts\":%lld,\"call_id\":\"w\",\"acw_ms\":9000", TS(100));
    cr_expect_eq(cell(p, 1, "all", SP_M_HANDLE_SUM), 60000, "acw 0: overdue when it arrived");
    cr_expect_eq(cell(p, 1, "all", SP_M_HANDLE_COUNT), 1);
    sp_partition_destroy(p);
}

Test(metrics, tickets_first_reply_resolution_reopen_one_touch)
{
    sp_partition *p = scenario_partition();
    const char *tk = "\"ticket_id\":\"k1\"";
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,%s,\"queue\":\"refunds\",\"channel\":\"email\"", TS(0), tk);
    cr_expect_eq(gauge(p, "queue=refunds", SP_G_BACKLOG, NULL), 1);
    sp_test_event(p, "\"type\":\"ticket.replied\",\"ts\":%lld,%s,\"author\":\"bot\"", TS(5), tk);
    sp_test_event(p, "\"type\":\"ticket.replied\",\"ts\":%lld,%s,\"author\":\"agent\",\"agent_id\":\"a7\"", TS(90), tk);
    sp_test_event(p, "\"type\":\"ticket.replied\",\"ts\":%lld,%s,\"author\":\"agent\",\"agent_id\":\"a7\"", TS(100), tk);
    cr_expect_eq(cell(p, 1, "queue=refunds", SP_M_FIRST_REPLY_SUM), 90000, "the bot's reply does not count");
    cr_expect_eq(cell(p, 1, "queue=refunds", SP_M_FIRST_REPLY_COUNT), 1, "only the first agent reply");
    cr_expect_eq(cell(p, 1, "agent=a7", SP_M_FIRST_REPLY_COUNT), 1, "first replies per agent");
    sp_test_event(p, "\"type\":\"ticket.solved\",\"ts\":%lld,%s", TS(120), tk);
    cr_expect_eq(gauge(p, "queue=refunds", SP_G_BACKLOG, NULL), 0);
    cr_expect_eq(cell(p, 2, "queue=refunds", SP_M_RESOLUTION_SUM), 120000);
    cr_expect_eq(cell(p, 2, "queue=refunds", SP_M_ONE_TOUCH), 0, "two agent replies");
    sp_test_event(p, "\"type\":\"ticket.reopened\",\"ts\":%lld,%s", TS(180), tk);
    cr_expect_eq(gauge(p, "queue=refunds", SP_G_BACKLOG, NULL), 1, "open again");
    sp_test_event(p, "\"type\":\"ticket.solved\",\"ts\":%lld,%s", TS(300), tk);
    cr_expect_eq(cell(p, 5, "queue=refunds", SP_M_RESOLUTION_SUM), 300000, "full resolution: from creation");
    cr_expect_eq(cell(p, 3, "queue=refunds", SP_M_REOPENED), 1);
    sp_test_event(p, "\"type\":\"ticket.closed\",\"ts\":%lld,%s", TS(310), tk);
    cr_expect_eq(gauge(p, "queue=refunds", SP_G_BACKLOG, NULL), 0);
    /* one-touch: one agent reply, solved, never reopened */
    const char *t2 = "\"ticket_id\":\"k2\"";
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,%s,\"queue\":\"refunds\",\"channel\":\"chat\"", TS(0), t2);
    sp_test_event(p, "\"type\":\"ticket.replied\",\"ts\":%lld,%s,\"author\":\"agent\",\"agent_id\":\"a7\"", TS(320), t2);
    sp_test_event(p, "\"type\":\"ticket.solved\",\"ts\":%lld,%s", TS(330), t2);
    cr_expect_eq(cell(p, 5, "queue=refunds", SP_M_ONE_TOUCH), 1);
    cr_expect_eq(cell(p, 5, "queue=refunds|channel=chat", SP_M_RESOLUTION_SUM), 330000);
    /* a reply before the ticket's creation is counted when the creation arrives */
    const char *t3 = "\"ticket_id\":\"k3\"";
    sp_test_event(p, "\"type\":\"ticket.replied\",\"ts\":%lld,%s,\"author\":\"agent\",\"agent_id\":\"a8\"", TS(400), t3);
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,%s,\"queue\":\"refunds\",\"channel\":\"email\"", TS(340), t3);
    cr_expect_eq(cell(p, 6, "queue=refunds", SP_M_FIRST_REPLY_SUM), 60000, "in the reply's window");
    /* long after the solves: tickets never get a handle time (that is a call's) */
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"later\",\"queue\":\"q\",\"channel\":\"email\"", TS(3000));
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"later2\",\"queue\":\"q\",\"channel\":\"email\"", TS(3100));
    for (int m = 0; m < 60; m++)
        cr_expect_eq(cell(p, m, "all", SP_M_HANDLE_COUNT), 0, "minute %d", m);
    sp_partition_destroy(p);
}

/* ---- generated traffic: totals do not depend on when the state is published ---------- */

#define NPART 3
#define NMSG 30000

static void run_stream(totals *t, int publish_every, int raise_watermark)
{
    sp_partition_conf pc;
    sp_partition_conf_defaults(&pc);
    pc.max_future_ms = 0;
    char err[256];
    sp_partition *parts[NPART];
    for (int i = 0; i < NPART; i++)
        cr_assert_not_null(parts[i] = sp_partition_new(&pc, err, sizeof err));
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = 13;
    gc.arrivals_per_hour = 20000;
    gc.duplicates = 0.01;
    gc.out_of_order = 0.03;
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    cr_assert_not_null(g);
    uint64_t r = 7;
    for (int n = 0; n < NMSG; n++) {
        sp_gen_msg m;
        cr_assert_eq(sp_gen_next(g, &m), 0);
        sp_event e;
        sp_reject_reason why;
        if (sp_event_decode(m.value, m.value_len, &e, &why, err, sizeof err) < 0)
            continue;
        sp_partition *p = parts[sp_hash_bytes(m.key, m.key_len) % NPART];
        sp_apply_result res = sp_partition_apply(p, &e, 0, &why, err, sizeof err);
        cr_assert(res != SP_APPLY_NOMEM && res != SP_APPLY_REJECT, "%s", err);
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        if (publish_every && (r >> 33) % (uint64_t)publish_every == 0) {
            int64_t wm = INT64_MIN;
            for (int i = 0; i < NPART; i++)
                if (sp_partition_watermark(parts[i]) > wm)
                    wm = sp_partition_watermark(parts[i]);
            for (int i = 0; i < NPART; i++) {
                capture(t, parts[i]);
                sp_partition_published(parts[i], raise_watermark ? wm : INT64_MIN);
            }
        }
    }
    for (int i = 0; i < NPART; i++) {
        capture(t, parts[i]);
        sp_partition_destroy(parts[i]);
    }
    sp_gen_destroy(g);
}

/* Every nonzero total of a is in b with the same value, and the other way round. */
static void expect_same_totals(const totals *a, const totals *b, const char *what)
{
    const totals *pair[2][2] = {{a, b}, {b, a}};
    size_t differ = 0, compared = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < pair[k][0]->n; i++) {
            int64_t x = pair[k][0]->v[i], y = totals_get(pair[k][1], pair[k][0]->key[i]);
            compared++;
            if (x != y && differ++ < 10)
                cr_expect_eq(x, y, "%s: %s is %lld one way, %lld the other", what,
                             pair[k][0]->key[i], (long long)x, (long long)y);
        }
    cr_expect_eq(differ, 0, "%s: %zu of %zu totals differ", what, differ, compared);
    cr_expect_gt(compared, 10000);
}

Test(metrics, totals_do_not_depend_on_publish_timing, .timeout = 120)
{
    totals once, often, idle;
    totals_init(&once);
    totals_init(&often);
    totals_init(&idle);
    run_stream(&once, 0, 0);
    run_stream(&often, 50, 0);
    run_stream(&idle, 200, 1);
    expect_same_totals(&once, &often, "published often");
    expect_same_totals(&once, &idle, "published often, idle watermark");
    cr_expect_gt(totals_get(&once, "1763771700|all|handle_ms_count") +
                     totals_get(&once, "1763771760|all|handle_ms_count"), 0,
                 "the stream has handle times");
    totals_free(&once);
    totals_free(&often);
    totals_free(&idle);
}

Test(metrics, a_restored_partition_sweeps_at_the_same_events)
{
    /* A call ends at 90 s: its wrap-up is overdue from 690 s. Sweeps run when the newest
     * event time enters a new minute: at 670 s (minute 11, not overdue yet), not at 700 s. */
    sp_partition *a = scenario_partition(), *b = scenario_partition();
    sp_test_event(a, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"r\",\"queue\":\"payments\"", TS(0));
    sp_test_event(a, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"r\",\"agent_id\":\"a\"", TS(10));
    sp_test_event(a, "\"type\":\"call.ended\",\"ts\":%lld,\"call_id\":\"r\"", TS(90));
    sp_test_event(a, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"x\",\"queue\":\"q\",\"channel\":\"email\"", TS(670));
    /* b is a restored copy of a at this point, as after a restart */
    sp_case rec = *sp_cases_find(sp_partition_cases(a), sp_case_key(1, "r", 1));
    cr_assert_eq(sp_partition_restore_case(b, &rec, "payments", "", "a"), 0);
    sp_partition_restore_max_ts(b, sp_partition_max_ts(a));
    for (int i = 0; i < 2; i++) {
        sp_partition *p = i ? b : a;
        sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"y\",\"queue\":\"q\",\"channel\":\"email\"", TS(700));
        cr_expect_eq(cell(p, 1, "all", SP_M_HANDLE_COUNT), 0, "%s: no sweep inside minute 11",
                     i ? "restored" : "continuous");
        sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"z\",\"queue\":\"q\",\"channel\":\"email\"", TS(721));
        cr_expect_eq(cell(p, 1, "all", SP_M_HANDLE_COUNT), 1, "%s: timed out entering minute 12",
                     i ? "restored" : "continuous");
    }
    sp_partition_destroy(a);
    sp_partition_destroy(b);
}
