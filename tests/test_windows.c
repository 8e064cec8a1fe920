/*
 * test_windows.c - event-time windows of one partition: in-order and out-of-order
 * events, lateness and retention, dedup, attribution of events to queues and channels,
 * cardinality limits, the running count of dirty cells, and that every dimension's
 * values add up to `all`.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "supportpulse/cases.h"
#include "supportpulse/deadlines.h"
#include "supportpulse/dedup.h"
#include "supportpulse/generator.h"
#include "supportpulse/partition.h"

#define MIN 60000LL
#define BASE 1795342500000LL /* 2026-11-22T10:15:00Z, a window start */

/* The defaults, with no "future" limit (the tests' events are in 2026). */
static sp_partition_conf test_conf(void)
{
    sp_partition_conf c;
    sp_partition_conf_defaults(&c);
    c.max_future_ms = 0;
    return c;
}

static sp_partition *partition_with(const sp_partition_conf *c)
{
    char err[128];
    sp_partition *p = sp_partition_new(c, err, sizeof err);
    cr_assert(p, "%s", err);
    return p;
}

static sp_partition *new_partition(void)
{
    sp_partition_conf c = test_conf();
    return partition_with(&c);
}

static sp_apply_result apply(sp_partition *p, const char *json) { return sp_test_apply(p, json); }

static unsigned ids;

static sp_apply_result call(sp_partition *p, const char *type, long long ts, const char *call_id,
                            const char *extra)
{
    char buf[512];
    snprintf(buf, sizeof buf, "{\"id\":\"e%u\",\"type\":\"%s\",\"ts\":%lld,\"call_id\":\"%s\"%s}",
             ++ids, type, ts, call_id, extra);
    return apply(p, buf);
}

/* The value of metric m in the cell (window start, dims) or -1 when there is none. */
static long long cell(sp_partition *p, long long start_ms, const char *dims, sp_metric m)
{
    return sp_test_cell(p, start_ms / 1000, dims, m, -1);
}

Test(windows, in_order_events_land_in_their_minute)
{
    sp_partition *p = new_partition();
    cr_assert_eq(call(p, "call.offered", BASE + 1000, "C1", ",\"queue\":\"payments\""), SP_APPLY_OK);
    cr_assert_eq(call(p, "call.offered", BASE + 59999, "C2", ",\"queue\":\"payments\""), SP_APPLY_OK);
    cr_assert_eq(call(p, "call.offered", BASE + MIN, "C3", ",\"queue\":\"refunds\",\"channel\":\"chat\""), SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE, "all", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE, "queue=payments", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE, "channel=phone", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE, "queue=payments|channel=phone", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE + MIN, "all", SP_M_OFFERED), 1);
    cr_expect_eq(cell(p, BASE + MIN, "queue=refunds|channel=chat", SP_M_OFFERED), 1);
    cr_expect_eq(cell(p, BASE + MIN, "queue=payments", SP_M_OFFERED), -1);
    cr_expect_eq(sp_partition_watermark(p), BASE + MIN - 2 * MIN, "watermark = newest - lateness");
    sp_partition_destroy(p);
}

Test(windows, out_of_order_within_lateness_is_counted)
{
    sp_partition *p = new_partition();
    call(p, "call.offered", BASE + 5 * MIN, "C1", ",\"queue\":\"q\"");
    /* 4 minutes older than the newest event: past the 2-minute lateness, inside the
     * 1-hour retention: still counted in its own window */
    cr_expect_eq(call(p, "call.offered", BASE + MIN + 10, "C2", ",\"queue\":\"q\""), SP_APPLY_OK);
    cr_expect_eq(call(p, "call.offered", BASE + 4 * MIN, "C3", ",\"queue\":\"q\""), SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE + MIN, "all", SP_M_OFFERED), 1);
    cr_expect_eq(cell(p, BASE + 4 * MIN, "all", SP_M_OFFERED), 1);
    cr_expect_eq(sp_partition_max_ts(p), BASE + 5 * MIN, "an old event does not move time back");
    sp_partition_destroy(p);
}

Test(windows, late_beyond_retention_is_dropped_and_counted)
{
    sp_partition *p = new_partition();
    call(p, "call.offered", BASE + 90 * MIN, "C1", ",\"queue\":\"q\"");
    /* watermark = 88 min; a window ending at 28 min or before is past 60-min retention */
    cr_expect_eq(call(p, "call.offered", BASE + 27 * MIN + 59999, "C2", ",\"queue\":\"q\""), SP_APPLY_LATE);
    cr_expect_eq(call(p, "call.offered", BASE + 28 * MIN, "C3", ",\"queue\":\"q\""), SP_APPLY_OK);
    cr_expect_eq(sp_partition_get_stats(p)->late, 1);
    cr_expect_eq(cell(p, BASE + 27 * MIN, "all", SP_M_OFFERED), -1);
    sp_partition_destroy(p);
}

Test(windows, published_windows_expire_after_retention)
{
    sp_partition *p = new_partition();
    call(p, "call.offered", BASE, "C1", ",\"queue\":\"q\"");
    call(p, "call.offered", BASE + 30 * MIN, "C2", ",\"queue\":\"q\"");
    sp_partition_published(p, INT64_MIN);
    cr_expect_eq(sp_partition_windows(p)->n, 2, "both still within retention");
    call(p, "call.offered", BASE + 63 * MIN + 1, "C3", ",\"queue\":\"q\"");
    cr_expect_eq(sp_partition_windows(p)->n, 3, "dirty windows are never dropped");
    sp_partition_published(p, INT64_MIN);
    cr_expect_eq(sp_partition_windows(p)->n, 2, "the first window (end 1 min + 60) left");
    cr_expect_eq(cell(p, BASE, "all", SP_M_OFFERED), -1);
    /* an idle partition follows the pipeline's watermark */
    sp_partition_published(p, BASE + 200 * MIN);
    cr_expect_eq(sp_partition_windows(p)->n, 0);
    sp_partition_destroy(p);
}

/* Dirty cells counted one by one, to check the set's running count against. */
static size_t count_dirty(const sp_window_set *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        for (size_t j = 0; j < s->w[i].ncells; j++)
            n += s->w[i].cells[j].dirty;
    return n;
}

Test(windows, the_dirty_cell_count_follows_the_cells)
{
    sp_partition *p = new_partition();
    sp_window_set *ws = sp_partition_windows(p);
    call(p, "call.offered", BASE, "C1", ",\"queue\":\"q\"");
    call(p, "call.offered", BASE + 30 * MIN, "C2", ",\"queue\":\"r\",\"channel\":\"chat\"");
    cr_expect_gt(sp_window_dirty_cells(ws), 2, "cells of two windows");
    cr_expect_eq(sp_window_dirty_cells(ws), count_dirty(ws));
    sp_partition_published(p, INT64_MIN);
    cr_expect_eq(sp_window_dirty_cells(ws), 0);
    call(p, "call.offered", BASE + 1000, "C3", ",\"queue\":\"q\"");
    cr_expect_gt(sp_window_dirty_cells(ws), 0, "a clean window's cells again");
    cr_expect_eq(sp_window_dirty_cells(ws), count_dirty(ws));
    sp_partition_published(p, BASE + 200 * MIN); /* every window leaves */
    cr_expect_eq(sp_window_dirty_cells(ws), 0);
    cr_expect_eq(ws->n, 0);
    sp_partition_destroy(p);
}

Test(windows, duplicates_inside_the_horizon_are_dropped)
{
    sp_partition *p = new_partition();
    const char *e = "{\"id\":\"same\",\"type\":\"call.offered\",\"ts\":1795342500000,\"call_id\":\"C1\",\"queue\":\"q\"}";
    cr_expect_eq(apply(p, e), SP_APPLY_OK);
    cr_expect_eq(apply(p, e), SP_APPLY_DUPLICATE);
    cr_expect_eq(cell(p, BASE, "all", SP_M_OFFERED), 1);
    cr_expect_eq(sp_partition_get_stats(p)->duplicates, 1);
    sp_partition_destroy(p);
}

/* The decoder hashes the id and the case on its own thread; an event built by hand
 * carries no hashes and the partition computes them. Both must name the same id and
 * the same case, or a repeat would pass and a case would split in two. */
Test(windows, decoded_and_hand_built_events_share_ids_and_cases)
{
    sp_event ev;
    sp_reject_reason r;
    char err[256];
    const char *offer = "{\"id\":\"e1\",\"type\":\"call.offered\",\"ts\":1795342500000,"
                        "\"call_id\":\"C1\",\"queue\":\"q\"}";
    cr_assert_eq(sp_event_decode(offer, strlen(offer), &ev, &r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(ev.id_hash, sp_dedup_hash("e1", 2));
    cr_expect_eq(ev.case_key, sp_case_key(1, "C1", 2));
    const char *nps = "{\"id\":\"n1\",\"type\":\"survey.nps\",\"ts\":1795342500000,\"score\":9}";
    sp_event ev2;
    cr_assert_eq(sp_event_decode(nps, strlen(nps), &ev2, &r, err, sizeof err), 0, "%s", err);
    cr_expect_eq(ev2.case_key, 0, "no case named: no key");

    sp_partition *p = new_partition();
    cr_expect_eq(sp_partition_apply(p, &ev, 0, &r, err, sizeof err), SP_APPLY_OK);
    ev.id_hash = ev.case_key = 0; /* the same event, as if built by hand */
    cr_expect_eq(sp_partition_apply(p, &ev, 0, &r, err, sizeof err), SP_APPLY_DUPLICATE);
    cr_expect_eq(apply(p, "{\"id\":\"e2\",\"type\":\"call.answered\",\"ts\":1795342510000,"
                          "\"call_id\":\"C1\",\"agent_id\":\"a1\"}"),
                 SP_APPLY_OK);
    sp_event ans = {.type = SP_EV_CALL_ANSWERED, .ts_ms = 1795342512000LL, .id = "e3",
                    .case_id = "C1", .tenant = "default", .case_is_call = 1, .score = -1,
                    .acw_ms = -1, .hold_ms = -1, .ivr_ms = -1};
    cr_expect_eq(sp_partition_apply(p, &ans, 0, &r, err, sizeof err), SP_APPLY_OK);
    cr_expect_eq(sp_cases_size(sp_partition_cases(p)), 1, "one record for the call");
    cr_expect_eq(cell(p, BASE, "queue=q", SP_M_OFFERED), 1);
    cr_expect_eq(cell(p, BASE, "queue=q", SP_M_ANSWERED), 2,
                 "both answers under the queue only the offer named");
    cr_expect_eq(cell(p, BASE, "queue=unknown", SP_M_ANSWERED), -1);
    sp_partition_destroy(p);
}

static int check(sp_dedup *d, const char *id, int64_t ts_ms)
{
    return sp_dedup_check(d, sp_dedup_hash(id, strlen(id)), ts_ms);
}

Test(dedup, horizon_and_capacity)
{
    sp_dedup *d = sp_dedup_new(3, 10000);
    cr_expect_eq(check(d, "a", 0), 0);
    cr_expect_eq(check(d, "a", 5000), 1);
    cr_expect_eq(check(d, "b", 20000), 0, "moves time past a's horizon");
    cr_expect_eq(check(d, "a", 20000), 0, "a was forgotten after 10 s");
    cr_expect_eq(check(d, "c", 20000), 0);
    cr_expect_eq(check(d, "d", 20000), 0, "evicts the oldest (b)");
    cr_expect_eq(sp_dedup_evictions(d), 1);
    cr_expect_eq(check(d, "b", 20000), 0, "b was evicted");
    cr_expect_eq(check(d, "d", 20000), 1);
    cr_expect_eq(sp_dedup_size(d), 3);
    sp_dedup_destroy(d);
}

/* A checkpoint can hold more ids than the store (deltas of several flushes): the
 * restore keeps the newest and counts no eviction, those were counted when they
 * happened. */
Test(dedup, a_restore_past_capacity_counts_no_eviction)
{
    sp_dedup *d = sp_dedup_new(3, 10000);
    const char *ids[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++)
        sp_dedup_restore(d, sp_dedup_hash(ids[i], 1), 1000 + i);
    cr_expect_eq(sp_dedup_evictions(d), 0);
    cr_expect_eq(sp_dedup_size(d), 3);
    cr_expect_eq(check(d, "e", 2000), 1, "the newest ids are kept");
    cr_expect_eq(check(d, "a", 2000), 0, "the oldest left");
    cr_expect_eq(sp_dedup_evictions(d), 1, "a live eviction still counts");
    sp_dedup_destroy(d);
}

Test(attribution, later_events_use_the_case_queue_and_transfers_move_it)
{
    sp_partition *p = new_partition();
    call(p, "call.offered", BASE, "C1", ",\"queue\":\"payments\",\"channel\":\"chat\"");
    call(p, "call.transferred", BASE + 1000, "C1", ",\"to_queue\":\"security\"");
    call(p, "call.answered", BASE + 2000, "C1", ",\"agent_id\":\"a1\"");
    cr_expect_eq(cell(p, BASE, "queue=payments", SP_M_OFFERED), 1);
    cr_expect_eq(cell(p, BASE, "queue=payments", SP_M_TRANSFERRED), 1, "counted where it left");
    cr_expect_eq(cell(p, BASE, "queue=security|channel=chat", SP_M_ANSWERED), 1,
                 "answered where it was taken, on the call's channel");
    cr_expect_eq(cell(p, BASE, "queue=payments", SP_M_ANSWERED), 0);
    /* a survey days later, with no queue, goes to the case's queue */
    char s[256];
    snprintf(s, sizeof s, "{\"id\":\"s1\",\"type\":\"survey.csat\",\"ts\":%lld,\"call_id\":\"C1\",\"score\":4}",
             BASE + 2 * MIN);
    cr_expect_eq(apply(p, s), SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE + 2 * MIN, "queue=security|channel=chat", SP_M_CSAT_POSITIVE), 1);
    /* unknown case, no queue: queue=unknown and channel=unknown */
    snprintf(s, sizeof s, "{\"id\":\"s2\",\"type\":\"survey.csat\",\"ts\":%lld,\"ticket_id\":\"T404\",\"score\":1}",
             BASE + 2 * MIN);
    cr_expect_eq(apply(p, s), SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE + 2 * MIN, "queue=unknown|channel=unknown", SP_M_CSAT_RESPONSES), 1);
    cr_expect_eq(cell(p, BASE + 2 * MIN, "all", SP_M_CSAT_RESPONSES), 2);
    cr_expect_eq(cell(p, BASE + 2 * MIN, "all", SP_M_CSAT_SCORE_SUM), 5);
    sp_partition_destroy(p);
}

Test(attribution, tickets_bot_handoff_and_tenant)
{
    sp_partition *p = new_partition();
    char b[512];
    const char *evs[] = {
        "{\"id\":\"t1\",\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"T1\",\"queue\":\"account\",\"channel\":\"in_app\",\"tenant\":\"brand|x\"}",
        "{\"id\":\"t2\",\"type\":\"ticket.escalated\",\"ts\":%lld,\"ticket_id\":\"T1\",\"from\":\"bot\"}",
        "{\"id\":\"t3\",\"type\":\"ticket.solved\",\"ts\":%lld,\"ticket_id\":\"T1\"}",
        "{\"id\":\"t4\",\"type\":\"ticket.reopened\",\"ts\":%lld,\"ticket_id\":\"T1\"}",
    };
    for (int i = 0; i < 4; i++) {
        snprintf(b, sizeof b, evs[i], BASE + i * 1000);
        cr_assert_eq(apply(p, b), SP_APPLY_OK);
    }
    const char *dims[] = {"all", "queue=account|channel=in_app", "tenant=brand%7Cx",
                          "tenant=brand%7Cx|queue=account|channel=in_app"};
    for (int d = 0; d < 4; d++) {
        cr_expect_eq(cell(p, BASE, dims[d], SP_M_CREATED), 1, "%s", dims[d]);
        cr_expect_eq(cell(p, BASE, dims[d], SP_M_ESCALATED_BOT), 1, "%s", dims[d]);
        cr_expect_eq(cell(p, BASE, dims[d], SP_M_SOLVED), 1, "%s", dims[d]);
        cr_expect_eq(cell(p, BASE, dims[d], SP_M_REOPENED), 1, "%s", dims[d]);
    }
    sp_partition_destroy(p);
}

Test(attribution, queue_cardinality_is_bounded)
{
    sp_partition_conf c = test_conf();
    c.max_queues = 2;
    sp_partition *p = partition_with(&c);
    call(p, "call.offered", BASE, "C1", ",\"queue\":\"a\"");
    call(p, "call.offered", BASE, "C2", ",\"queue\":\"b\"");
    call(p, "call.offered", BASE, "C3", ",\"queue\":\"c\"");
    call(p, "call.offered", BASE, "C4", ",\"queue\":\"d\"");
    cr_expect_eq(cell(p, BASE, "queue=a", SP_M_OFFERED), 1);
    cr_expect_eq(cell(p, BASE, "queue=(other)", SP_M_OFFERED), 2);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_queue, 2);
    sp_partition_destroy(p);
}

/* Tenants past max_tenants count as tenant=(other), counted as tenant overflow (not as
 * agent overflow). */
Test(attribution, tenant_cardinality_is_bounded_and_counted_apart)
{
    sp_partition_conf c = test_conf();
    c.max_tenants = 2; /* "default" and t1 */
    sp_partition *p = partition_with(&c);
    call(p, "call.offered", BASE, "C1", ",\"queue\":\"a\"");
    call(p, "call.offered", BASE, "C2", ",\"queue\":\"a\",\"tenant\":\"t1\"");
    call(p, "call.offered", BASE, "C3", ",\"queue\":\"a\",\"tenant\":\"t2\"");
    call(p, "call.offered", BASE, "C4", ",\"queue\":\"a\",\"tenant\":\"t3\"");
    cr_expect_eq(cell(p, BASE, "tenant=t1", SP_M_OFFERED), 1);
    cr_expect_eq(cell(p, BASE, "tenant=(other)", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE, "tenant=t3", SP_M_OFFERED), -1);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_tenant, 2);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_agent, 0);
    sp_partition_destroy(p);
}

/* An agent.status's queues go through the queue table like any queue: past max_queues
 * they are "(other)" (once per entry), so they cannot make a live hash each. Its agent
 * goes through the agent table. */
Test(attribution, agent_status_queues_and_agents_are_bounded)
{
    sp_partition_conf c = test_conf();
    c.max_queues = 2;
    c.max_agents = 1;
    sp_partition *p = partition_with(&c);
    cr_assert_eq(apply(p, "{\"id\":\"s1\",\"type\":\"agent.status\",\"ts\":1763805600000,"
                          "\"agent_id\":\"a1\",\"status\":\"available\","
                          "\"queues\":[\"q1\",\"q2\",\"q3\",\"q4\"]}"),
                 SP_APPLY_OK);
    cr_assert_eq(apply(p, "{\"id\":\"s2\",\"type\":\"agent.status\",\"ts\":1763805600000,"
                          "\"agent_id\":\"a2\",\"status\":\"busy\",\"queues\":[\"q1\"]}"),
                 SP_APPLY_OK);
    size_t n;
    const sp_presence *e = sp_presence_list(sp_partition_presence(p), &n);
    cr_assert_eq(n, 2);
    const sp_presence *a1 = strcmp(e[0].agent, "a1") == 0 ? &e[0] : &e[1];
    const sp_presence *a2 = a1 == &e[0] ? &e[1] : &e[0];
    cr_expect_str_eq(a1->agent, "a1");
    cr_expect_str_eq(a2->agent, "(other)", "past max_agents");
    const char *q = a1->queues;
    char seen[128] = "";
    for (int i = 0; i < a1->nqueues; i++, q += strlen(q) + 1) {
        strncat(seen, q, sizeof seen - strlen(seen) - 2);
        strncat(seen, ",", sizeof seen - strlen(seen) - 1);
    }
    cr_expect_str_eq(seen, "q1,q2,(other),", "queues kept: %s", seen);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_queue, 2);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_agent, 1);
    sp_partition_destroy(p);
}

/* The overflow bucket is SP_OVERFLOW_NAME, a name the decoder rejects: a real queue,
 * agent or tenant called "other" keeps its own rollups next to the bucket. */
Test(attribution, a_real_queue_named_other_is_not_the_overflow_bucket)
{
    sp_partition_conf c = test_conf();
    c.max_queues = 2;
    sp_partition *p = partition_with(&c);
    call(p, "call.offered", BASE, "C1", ",\"queue\":\"other\"");
    call(p, "call.offered", BASE, "C2", ",\"queue\":\"b\"");
    call(p, "call.offered", BASE, "C3", ",\"queue\":\"c\"");
    call(p, "call.offered", BASE, "C4", ",\"queue\":\"other\"");
    cr_expect_eq(cell(p, BASE, "queue=other", SP_M_OFFERED), 2, "the real queue");
    cr_expect_eq(cell(p, BASE, "queue=(other)", SP_M_OFFERED), 1, "the bucket: c");
    cr_expect_eq(sp_partition_get_stats(p)->overflow_queue, 1);
    sp_partition_destroy(p);
    static const char *const named[] = {
        "{\"id\":\"r1\",\"type\":\"call.offered\",\"ts\":1795342500000,\"call_id\":\"X\","
        "\"queue\":\"(other)\"}",
        "{\"id\":\"r2\",\"type\":\"call.answered\",\"ts\":1795342500000,\"call_id\":\"X\","
        "\"agent_id\":\"(other)\"}",
        "{\"id\":\"r3\",\"type\":\"call.offered\",\"ts\":1795342500000,\"call_id\":\"X\","
        "\"queue\":\"a\",\"tenant\":\"(other)\"}",
        "{\"id\":\"r4\",\"type\":\"agent.status\",\"ts\":1795342500000,\"agent_id\":\"a1\","
        "\"status\":\"available\",\"queues\":[\"a\",\"(other)\"]}",
        "{\"id\":\"r5\",\"type\":\"call.transferred\",\"ts\":1795342500000,\"call_id\":\"X\","
        "\"to_queue\":\"(other)\"}",
    };
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        sp_event ev;
        sp_reject_reason r = SP_REJ_NONE;
        char err[256] = "";
        cr_expect_neq(sp_event_decode(named[i], strlen(named[i]), &ev, &r, err, sizeof err), 0,
                      "accepted: %s", named[i]);
        cr_expect_eq(r, SP_REJ_OUT_OF_RANGE, "%s: %s", named[i], err);
        cr_expect(strstr(err, "reserved"), "%s", err);
    }
}

/* Tenant x queue x channel combinations are bounded by max_combos: a new one past it
 * counts under queue "(other)" (in its tenant's sets and the tenant-less ones), counted
 * as overflow_combo once per event; the combinations already kept stay exact. */
Test(attribution, combinations_are_bounded_by_max_combos)
{
    sp_partition_conf c = test_conf();
    c.max_combos = 3;
    sp_partition *p = partition_with(&c);
    char id[16], extra[96];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "C%d", i);
        snprintf(extra, sizeof extra, ",\"queue\":\"q%d\",\"tenant\":\"t%d\"", i % 5, i % 5);
        cr_assert_eq(call(p, "call.offered", BASE, id, extra), SP_APPLY_OK);
    }
    cr_expect_eq(cell(p, BASE, "tenant=t0|queue=q0", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE, "queue=q2", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE, "queue=q3", SP_M_OFFERED), -1, "past max_combos");
    cr_expect_eq(cell(p, BASE, "tenant=t3|queue=(other)", SP_M_OFFERED), 2);
    cr_expect_eq(cell(p, BASE, "tenant=t4", SP_M_OFFERED), 2, "the tenant's total is exact");
    cr_expect_eq(cell(p, BASE, "queue=(other)", SP_M_OFFERED), 4);
    cr_expect_eq(cell(p, BASE, "all", SP_M_OFFERED), 10);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_combo, 4);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_queue, 0);
    sp_partition_sizes z;
    sp_partition_get_sizes(p, &z);
    cr_expect_eq(z.combos, 5, "3 kept + (other) for t3 and t4: %zu", z.combos);
    sp_partition_destroy(p);
}

/* max_agents bounds tenant and agent pairs, not only agent ids: the same id in 1000
 * tenants cannot make 1000 rollups past it. */
Test(attribution, agents_are_bounded_per_tenant_and_id)
{
    sp_partition_conf c = test_conf();
    c.max_agents = 2;
    sp_partition *p = partition_with(&c);
    char id[16], extra[96];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "C%d", i);
        snprintf(extra, sizeof extra, ",\"queue\":\"q\",\"tenant\":\"t%d\"", i);
        cr_assert_eq(call(p, "call.offered", BASE, id, extra), SP_APPLY_OK);
        cr_assert_eq(call(p, "call.answered", BASE + 1000, id, ",\"agent_id\":\"a1\""),
                     SP_APPLY_OK);
    }
    cr_expect_eq(cell(p, BASE, "tenant=t1|agent=a1", SP_M_ANSWERED), 1);
    cr_expect_eq(cell(p, BASE, "tenant=t2|agent=a1", SP_M_ANSWERED), -1, "past max_agents");
    cr_expect_eq(cell(p, BASE, "tenant=t3|agent=(other)", SP_M_ANSWERED), 1);
    cr_expect_eq(cell(p, BASE, "agent=a1", SP_M_ANSWERED), 2);
    cr_expect_eq(cell(p, BASE, "agent=(other)", SP_M_ANSWERED), 2);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_agent, 2);
    sp_partition_destroy(p);
}

/* Resident set size in KiB (Linux), 0 when unknown. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A million events into one partition with the default limits: first each with a queue,
 * tenant and agent never seen before, then every tenant with every queue (a million
 * combinations). Every per-name table stays within its max_*, and so does what is built
 * on them. */
Test(attribution, a_million_distinct_names_stay_within_the_bounds, .timeout = 600)
{
    enum { N = 1000000 };
    sp_partition_conf c = test_conf();
    sp_partition *p = partition_with(&c);
    char buf[512];
    long rss_start = rss_kib(), rss_half = 0;
    for (int i = 0; i < N; i++) {
        int answer = i % 2, k = answer ? i - 1 : i, j = k / 2 - N / 4;
        /* the second half: the first 1000 queues and tenants (queue-0, queue-2, ...), crossed */
        int q = j < 0 ? k : 2 * (j % 1000), t = j < 0 ? k : 2 * (j / 1000 % 1000);
        if (answer)
            snprintf(buf, sizeof buf, "{\"id\":\"m%d\",\"type\":\"call.answered\",\"ts\":%lld,"
                     "\"call_id\":\"M%d\",\"agent_id\":\"agent-%d\",\"tenant\":\"t%d\"}",
                     i, BASE + 30000 + i % 29000, k, i, t);
        else
            snprintf(buf, sizeof buf, "{\"id\":\"m%d\",\"type\":\"call.offered\",\"ts\":%lld,"
                     "\"call_id\":\"M%d\",\"queue\":\"queue-%d\",\"tenant\":\"t%d\","
                     "\"channel\":\"%s\"}",
                     i, BASE + i % 29000, k, q, t, i % 4 ? "phone" : "chat");
        cr_assert_eq(apply(p, buf), SP_APPLY_OK, "%s", buf);
        if (i == N / 2)
            rss_half = rss_kib();
    }
    sp_partition_sizes z;
    sp_partition_get_sizes(p, &z);
    const sp_partition_stats *st = sp_partition_get_stats(p);
    cr_log_info("sizes: queues %zu agents %zu tenants %zu combos %zu agent pairs %zu dims %zu; "
                "RSS %ld KiB at the start, %ld at half, %ld at the end",
                z.queues, z.agents, z.tenants, z.combos, z.agent_pairs, z.dims, rss_start,
                rss_half, rss_kib());
    cr_expect_leq(z.queues, c.max_queues + 1);
    cr_expect_leq(z.agents, c.max_agents + 1);
    cr_expect_leq(z.tenants, c.max_tenants + 1);
    cr_expect_leq(z.agent_pairs, c.max_agents);
    /* kept combinations, plus one "(other)" queue per tenant and channel */
    cr_expect_leq(z.combos, c.max_combos + (c.max_tenants + 1) * SP_CH__COUNT);
    /* per combination at most its 4 tenant sets; the tenant-less sets per queue and
     * channel; per agent pair its 2 sets */
    size_t bound = 4 * z.combos + (c.max_queues + 2) * (SP_CH__COUNT + 2) + 2 * z.agent_pairs +
                   2 * (c.max_tenants + 1);
    cr_expect_leq(z.dims, bound, "dims %zu > %zu", z.dims, bound);
    cr_expect_eq(st->overflow_queue, N / 4 - c.max_queues, "the distinct queues overflowed");
    cr_expect_gt(st->overflow_combo, N / 4 - c.max_combos - 1, "the crossed ones too");
    cr_expect_eq(cell(p, BASE, "all", SP_M_OFFERED), N / 2, "each offer counted once");
    sp_partition_destroy(p);
}

/* A big desk: more agents answer in one partition than any fixed table size (every
 * partition sees every agent, since events are keyed by case). Up to max_agents each
 * gets its own rollup, under its tenant too; beyond it they count as agent=(other). */
Test(attribution, thousands_of_agents_each_get_their_rollup)
{
    sp_partition_conf c = test_conf();
    c.max_agents = 3000;
    sp_partition *p = partition_with(&c);
    char id[32], extra[96];
    for (int a = 1; a <= 3200; a++) {
        snprintf(id, sizeof id, "K%d", a);
        snprintf(extra, sizeof extra, ",\"queue\":\"payments\",\"tenant\":\"brand%d\"", a % 3);
        cr_assert_eq(call(p, "call.offered", BASE, id, extra), SP_APPLY_OK, "offer %d", a);
        snprintf(extra, sizeof extra, ",\"agent_id\":\"agent-%04d\"", a);
        cr_assert_eq(call(p, "call.answered", BASE + 1000, id, extra), SP_APPLY_OK,
                     "agent %d", a);
    }
    cr_expect_eq(cell(p, BASE, "agent=agent-0001", SP_M_ANSWERED), 1);
    cr_expect_eq(cell(p, BASE, "agent=agent-2999", SP_M_ANSWERED), 1);
    cr_expect_eq(cell(p, BASE, "tenant=brand1|agent=agent-2998", SP_M_ANSWERED), 1);
    cr_expect_eq(cell(p, BASE, "agent=agent-3000", SP_M_ANSWERED), 1, "the last one in");
    cr_expect_eq(cell(p, BASE, "agent=agent-3001", SP_M_ANSWERED), -1, "past max_agents");
    cr_expect_eq(cell(p, BASE, "agent=(other)", SP_M_ANSWERED), 200);
    cr_expect_eq(cell(p, BASE, "all", SP_M_ANSWERED), 3200);
    cr_expect_eq(sp_partition_get_stats(p)->overflow_agent, 200);
    sp_partition_destroy(p);
}

/* Over a generated week-day of traffic, the values of each dimension add up to `all`,
 * and `all` counts every applied event once. */
Test(windows, dimensions_add_up_on_generated_traffic)
{
    sp_partition *p = new_partition();
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = 7;
    gc.malformed = 0.02; /* cases whose start was lost: unknown queue and channel */
    gc.duplicates = 0.01;
    gc.out_of_order = 0.05;
    char err[256];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    long long applied = 0, agent = 0;
    for (int i = 0; i < 40000; i++) {
        sp_gen_msg m;
        sp_event ev;
        sp_reject_reason r;
        cr_assert_eq(sp_gen_next(g, &m), 0);
        if (sp_event_decode(m.value, m.value_len, &ev, &r, err, sizeof err) < 0)
            continue;
        if (sp_partition_apply(p, &ev, 0, &r, err, sizeof err) == SP_APPLY_OK) {
            applied++;
            agent += ev.type == SP_EV_AGENT_STATUS;
        }
    }
    long long all = 0, by_queue = 0, by_channel = 0, by_both = 0;
    sp_window_set *ws = sp_partition_windows(p);
    for (size_t i = 0; i < ws->n; i++)
        for (size_t j = 0; j < ws->w[i].ncells; j++) {
            const char *k = sp_partition_dims_key(p, ws->w[i].cells[j].dims_id);
            long long v = ws->w[i].cells[j].c.v[SP_M_EVENTS];
            int q = strncmp(k, "queue=", 6) == 0, ch = strstr(k, "channel=") != NULL;
            all += strcmp(k, "all") == 0 ? v : 0;
            by_queue += q && !ch ? v : 0;
            by_channel += !q && ch ? v : 0;
            by_both += q && ch ? v : 0;
        }
    cr_expect_gt(applied, 30000);
    cr_expect_eq(all, applied, "all %lld applied %lld queue %lld channel %lld both %lld agent %lld", all, applied, by_queue, by_channel, by_both, agent);
    cr_expect_eq(by_queue + agent, all, "agent presence has no queue");
    cr_expect_eq(by_channel + agent, all);
    cr_expect_eq(by_both + agent, all);
    sp_gen_destroy(g);
    sp_partition_destroy(p);
}

Test(generator, deterministic_for_a_seed)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.malformed = 0.01;
    gc.duplicates = 0.01;
    gc.out_of_order = 0.02;
    char err[128], first[1024];
    sp_gen *a = sp_gen_new(&gc, err, sizeof err), *b = sp_gen_new(&gc, err, sizeof err);
    for (int i = 0; i < 20000; i++) {
        sp_gen_msg ma, mb;
        cr_assert_eq(sp_gen_next(a, &ma), 0);
        cr_assert_eq(sp_gen_next(b, &mb), 0);
        cr_assert_eq(ma.value_len, mb.value_len);
        cr_assert(memcmp(ma.value, mb.value, ma.value_len) == 0, "message %d differs", i);
        if (i == 0)
            snprintf(first, sizeof first, "%.*s", (int)ma.value_len, ma.value);
    }
    sp_gen_destroy(a);
    sp_gen_destroy(b);
    gc.seed = 43;
    sp_gen *c = sp_gen_new(&gc, err, sizeof err);
    sp_gen_msg mc;
    sp_gen_next(c, &mc);
    cr_expect(strncmp(first, mc.value, mc.value_len) != 0, "another seed, another stream");
    sp_gen_destroy(c);
}

/* Distinct agent ids among the first n messages of a desk of `per_hour` contacts. */
static int distinct_agents(double per_hour, int n)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.arrivals_per_hour = per_hour;
    gc.start_ms = BASE;
    char err[128];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    cr_assert(g, "%s", err);
    static unsigned char seen[65536];
    memset(seen, 0, sizeof seen);
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        sp_gen_msg m;
        cr_assert_eq(sp_gen_next(g, &m), 0);
        const char *a = strstr(m.value, "\"agent_id\":\"agent-");
        if (a) {
            unsigned id = (unsigned)strtoul(a + strlen("\"agent_id\":\"agent-"), NULL, 10);
            cr_assert_lt(id, 65535u);
            distinct += !seen[id]++;
        }
    }
    sp_gen_destroy(g);
    return distinct;
}

/* The roster follows the traffic, as a capacity planner would staff it: ten times the
 * contacts, about ten times the agents (0.2 per contact an hour). */
Test(generator, agents_scale_with_the_traffic)
{
    int small = distinct_agents(1200, 30000), big = distinct_agents(12000, 300000);
    cr_expect(small >= 230 && small <= 242, "%d agents at 1,200 contacts an hour", small);
    cr_expect(big >= 2300 && big <= 2410, "%d agents at 12,000 contacts an hour", big);
}

static int by_due_then_key(const void *x, const void *y)
{
    const sp_deadline *a = x, *b = y;
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms ? -1 : 1;
    return (a->key > b->key) - (a->key < b->key);
}

Test(deadlines, pop_in_due_then_key_order_and_only_once_due)
{
    enum { N = 5000 };
    static sp_deadline want[N];
    sp_deadlines d = {0};
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift: many equal due times */
        want[i] = (sp_deadline){(int64_t)(x % 500), x >> 20};
        cr_assert_eq(sp_deadlines_push(&d, want[i].due_ms, want[i].key), 0);
    }
    qsort(want, N, sizeof *want, by_due_then_key);
    sp_deadline got;
    cr_expect_eq(sp_deadlines_pop_due(&d, -1, &got), 0, "nothing is due before 0");
    int n = 0;
    for (int64_t now = 0; now < 500; now += 7)
        while (sp_deadlines_pop_due(&d, now, &got)) {
            cr_assert_lt(n, N);
            cr_assert_leq(got.due_ms, now, "popped before it was due");
            cr_assert(got.due_ms == want[n].due_ms && got.key == want[n].key,
                      "entry %d out of order", n);
            n++;
        }
    while (sp_deadlines_pop_due(&d, INT64_MAX, &got))
        cr_assert(got.due_ms == want[n].due_ms && got.key == want[n++].key);
    cr_expect_eq(n, N);
    sp_deadlines_free(&d);
}

Test(cases, bounded_with_counted_eviction_oldest_first)
{
    sp_cases *c = sp_cases_new(2, 1000000, 500);
    uint64_t k1 = sp_case_key(1, "C1", 2), k2 = sp_case_key(1, "C2", 2), k3 = sp_case_key(0, "C1", 2);
    cr_expect_neq(k1, k3, "a call and a ticket with the same id are different cases");
    cr_assert(sp_cases_open(c, k1, 0) && sp_cases_open(c, k2, 10));
    cr_assert(sp_cases_open(c, k3, 20), "full: the oldest leaves");
    cr_expect_eq(sp_cases_size(c), 2);
    cr_expect_eq(sp_cases_evictions(c), 1);
    cr_expect_null(sp_cases_find(c, k1));
    cr_expect_not_null(sp_cases_find(c, k2));
    cr_expect_eq(sp_cases_expire(c, 1000015), 1, "k2 is older than the max age");
    cr_expect_eq(sp_cases_size(c), 1);
    sp_cases_destroy(c);
}

static int dropped_count;
static void count_drop(sp_case *k, void *arg)
{
    (void)k;
    (void)arg;
    dropped_count++;
}

Test(cases, ended_cases_leave_after_grace_and_their_slot_is_reused)
{
    sp_cases *c = sp_cases_new(3, 1000000, 500);
    dropped_count = 0;
    sp_cases_on_drop(c, count_drop, NULL);
    uint64_t a = sp_case_key(0, "A", 1), b = sp_case_key(0, "B", 1), d = sp_case_key(0, "D", 1);
    sp_case *ka = sp_cases_open(c, a, 0);
    cr_assert(ka && sp_cases_open(c, b, 0) && sp_cases_open(c, d, 0));
    sp_cases_find(c, b)->flags |= SP_CASE_ENDED;   /* the middle one ends */
    cr_expect_eq(sp_cases_expire(c, 400), 0, "still within the grace period");
    cr_expect_eq(sp_cases_expire(c, 600), 1, "ended and past the grace period");
    cr_expect_eq(dropped_count, 1, "the owner is told before it leaves");
    cr_expect_null(sp_cases_find(c, b));
    cr_expect_not_null(sp_cases_find(c, a), "open cases stay");
    /* the ring is 3 slots with a hole in the middle: a new case evicts the head */
    cr_assert_not_null(sp_cases_open(c, sp_case_key(0, "E", 1), 700));
    cr_expect_eq(sp_cases_evictions(c), 1);
    cr_expect_null(sp_cases_find(c, a));
    cr_assert_not_null(sp_cases_open(c, sp_case_key(0, "F", 1), 800), "the hole is reused");
    cr_expect_eq(sp_cases_evictions(c), 1, "a hole at the head is not an eviction");
    cr_expect_eq(sp_cases_size(c), 3);
    cr_expect_not_null(sp_cases_find(c, d));
    sp_cases_destroy(c);
}
