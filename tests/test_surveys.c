/*
 * test_surveys.c - CSAT and NPS attribution in one partition, worked by hand: a survey
 * days after its ticket closed (the case has left the case store and is found in the
 * attribution store), an unknown case, an NPS without a case, repeated surveys for one
 * case, the attribution horizon and capacity; when an ended case leaves the case store;
 * and the attribution store on its own.
 * Restarts (attribution restored from Redis) are in test_publisher.c.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/attribution.h"
#include "supportpulse/cases.h"
#include "supportpulse/partition.h"

#define MIN 60000LL
#define DAY (24 * 60 * MIN)
#define BASE 1795342500000LL /* 2026-11-22T10:15:00Z, a window start */

static sp_partition *new_partition(size_t max_attributions)
{
    sp_partition_conf c;
    sp_partition_conf_defaults(&c);
    c.max_future_ms = 0;
    c.max_attributions = max_attributions;
    char err[128];
    sp_partition *p = sp_partition_new(&c, err, sizeof err);
    cr_assert(p, "%s", err);
    return p;
}

static unsigned ids;

/* Applies {"id":..., "type":type, "ts":ts <fields>}. */
static sp_apply_result ev(sp_partition *p, const char *type, long long ts, const char *fields)
{
    char json[512];
    snprintf(json, sizeof json, "{\"id\":\"s%u\",\"type\":\"%s\",\"ts\":%lld%s}", ++ids, type,
             ts, fields);
    return sp_test_apply(p, json);
}

/* Metric m of the cell of the minute of ts_ms (0 when there is none). */
static long long cell(sp_partition *p, long long ts_ms, const char *dims, sp_metric m)
{
    return sp_test_cell(p, ts_ms / 60000 * 60, dims, m, 0);
}

static uint64_t ticket_key(const char *id) { return sp_case_key(0, id, strlen(id)); }

/* Ticket T1 in queue payments by email, replied and solved by agent a1, closed. */
static void closed_ticket(sp_partition *p, const char *id, long long t0)
{
    char f[256];
    snprintf(f, sizeof f, ",\"ticket_id\":\"%s\",\"queue\":\"payments\",\"channel\":\"email\"", id);
    cr_assert_eq(ev(p, "ticket.created", t0, f), SP_APPLY_OK);
    snprintf(f, sizeof f, ",\"ticket_id\":\"%s\",\"agent_id\":\"a1\",\"author\":\"agent\"", id);
    cr_assert_eq(ev(p, "ticket.replied", t0 + 10 * MIN, f), SP_APPLY_OK);
    snprintf(f, sizeof f, ",\"ticket_id\":\"%s\",\"agent_id\":\"a1\"", id);
    cr_assert_eq(ev(p, "ticket.solved", t0 + 20 * MIN, f), SP_APPLY_OK);
    snprintf(f, sizeof f, ",\"ticket_id\":\"%s\"", id);
    cr_assert_eq(ev(p, "ticket.closed", t0 + 21 * MIN, f), SP_APPLY_OK);
}

/* Moves the partition's event time on (other traffic), so its sweeps run. */
static void traffic_until(sp_partition *p, long long from, long long to)
{
    for (long long t = from; t <= to; t += 6 * 60 * MIN)
        cr_assert_eq(ev(p, "call.offered", t, ",\"call_id\":\"other\",\"queue\":\"refunds\""),
                     SP_APPLY_OK);
}

Test(surveys, csat_days_after_close_goes_to_the_ticket_queue_channel_and_agent)
{
    sp_partition *p = new_partition(1000);
    closed_ticket(p, "T1", BASE);
    traffic_until(p, BASE + MIN * 30, BASE + 3 * DAY);
    /* the case ended more than case_grace (1 day) ago: it left the case store ... */
    cr_expect_null(sp_cases_find(sp_partition_cases(p), ticket_key("T1")));
    /* ... and who handled it is in the attribution store */
    sp_attr *e = sp_attrs_find(sp_partition_attrs(p), ticket_key("T1"));
    cr_assert_not_null(e);
    cr_expect_str_eq(sp_partition_name(p, SP_NAME_QUEUE, e->queue), "payments");
    cr_expect_str_eq(sp_partition_name(p, SP_NAME_AGENT, e->agent), "a1");

    long long at = BASE + 3 * DAY + 5 * MIN;
    cr_assert_eq(ev(p, "survey.csat", at, ",\"ticket_id\":\"T1\",\"score\":5"), SP_APPLY_OK);
    cr_expect_eq(cell(p, at, "queue=payments|channel=email", SP_M_CSAT_RESPONSES), 1);
    cr_expect_eq(cell(p, at, "queue=payments|channel=email", SP_M_CSAT_POSITIVE), 1);
    cr_expect_eq(cell(p, at, "agent=a1", SP_M_CSAT_RESPONSES), 1);
    cr_expect_eq(cell(p, at, "queue=unknown", SP_M_CSAT_RESPONSES), 0);
    cr_expect_eq(cell(p, at, "all", SP_M_SURVEYS_UNKNOWN_CASE), 0);
    sp_partition_destroy(p);
}

Test(surveys, an_ended_case_leaves_at_the_first_scan_after_its_grace)
{
    sp_partition_conf c;
    sp_partition_conf_defaults(&c);
    cr_expect_eq(sp_partition_expiry_interval(&c), 60 * MIN, "a day of grace: scanned hourly");
    c.case_grace_ms = 2 * 60 * MIN;
    cr_expect_eq(sp_partition_expiry_interval(&c), 5 * MIN, "a 24th of the grace");
    c.case_grace_ms = 10 * MIN;
    cr_expect_eq(sp_partition_expiry_interval(&c), MIN, "never less than a minute");
    c.case_grace_ms = DAY;
    c.case_max_age_ms = 6 * 60 * MIN;
    cr_expect_eq(sp_partition_expiry_interval(&c), 15 * MIN, "the shorter of the two");

    sp_partition *p = new_partition(1000);
    closed_ticket(p, "T1", BASE); /* last event 10:36; the grace ends 10:36 the next day */
    const char *other = ",\"call_id\":\"other\",\"queue\":\"refunds\"";
    cr_assert_eq(ev(p, "call.offered", BASE + DAY - 15 * MIN, other), SP_APPLY_OK); /* 10:00 */
    cr_expect_not_null(sp_cases_find(sp_partition_cases(p), ticket_key("T1")), "within its grace");
    cr_assert_eq(ev(p, "call.offered", BASE + DAY + 35 * MIN, other), SP_APPLY_OK); /* 10:50 */
    cr_expect_not_null(sp_cases_find(sp_partition_cases(p), ticket_key("T1")),
                       "past its grace, kept until the next hourly scan");
    cr_assert_eq(ev(p, "call.offered", BASE + DAY + 45 * MIN, other), SP_APPLY_OK); /* 11:00 */
    cr_expect_null(sp_cases_find(sp_partition_cases(p), ticket_key("T1")), "left at 11:00");
    cr_expect_not_null(sp_attrs_find(sp_partition_attrs(p), ticket_key("T1")),
                       "who handled it is remembered");
    sp_partition_destroy(p);
}

Test(surveys, the_surveys_own_queue_and_agent_win)
{
    sp_partition *p = new_partition(1000);
    closed_ticket(p, "T1", BASE);
    long long at = BASE + 30 * MIN;
    cr_assert_eq(ev(p, "survey.csat", at,
                    ",\"ticket_id\":\"T1\",\"score\":1,\"queue\":\"security\",\"agent_id\":\"a9\""),
                 SP_APPLY_OK);
    cr_expect_eq(cell(p, at, "queue=security|channel=email", SP_M_CSAT_RESPONSES), 1,
                 "the channel still comes from the case");
    cr_expect_eq(cell(p, at, "agent=a9", SP_M_CSAT_NEGATIVE), 1);
    cr_expect_eq(cell(p, at, "agent=a1", SP_M_CSAT_RESPONSES), 0);
    sp_partition_destroy(p);
}

Test(surveys, unknown_case_goes_to_queue_unknown_and_is_counted)
{
    sp_partition *p = new_partition(1000);
    cr_assert_eq(ev(p, "survey.csat", BASE, ",\"call_id\":\"C404\",\"score\":2"), SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE, "queue=unknown|channel=phone", SP_M_CSAT_RESPONSES), 1);
    cr_expect_eq(cell(p, BASE, "queue=unknown", SP_M_SURVEYS_UNKNOWN_CASE), 1);
    cr_expect_eq(cell(p, BASE, "all", SP_M_SURVEYS_UNKNOWN_CASE), 1);
    cr_expect_eq(cell(p, BASE, "all", SP_M_CSAT_NEGATIVE), 1, "a 2 is dissatisfied");
    /* an unknown case with its own queue is credited to that queue, not counted */
    cr_assert_eq(ev(p, "survey.csat", BASE + 1000,
                    ",\"ticket_id\":\"T404\",\"score\":4,\"queue\":\"refunds\""), SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE, "queue=refunds", SP_M_CSAT_RESPONSES), 1);
    cr_expect_eq(cell(p, BASE, "all", SP_M_SURVEYS_UNKNOWN_CASE), 1);
    sp_partition_destroy(p);
}

Test(surveys, nps_without_a_case_is_not_an_unknown_case)
{
    sp_partition *p = new_partition(1000);
    cr_assert_eq(ev(p, "survey.nps", BASE, ",\"score\":10,\"channel\":\"in_app\""), SP_APPLY_OK);
    cr_assert_eq(ev(p, "survey.nps", BASE + 1, ",\"score\":3"), SP_APPLY_OK);
    cr_assert_eq(ev(p, "survey.nps", BASE + 2, ",\"score\":8,\"queue\":\"payments\""), SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE, "all", SP_M_NPS_RESPONSES), 3);
    cr_expect_eq(cell(p, BASE, "all", SP_M_NPS_PROMOTERS), 1);
    cr_expect_eq(cell(p, BASE, "all", SP_M_NPS_DETRACTORS), 1);
    cr_expect_eq(cell(p, BASE, "queue=unknown|channel=in_app", SP_M_NPS_RESPONSES), 1,
                 "no case and no queue: queue=unknown (events.md)");
    cr_expect_eq(cell(p, BASE, "queue=payments", SP_M_NPS_RESPONSES), 1);
    cr_expect_eq(cell(p, BASE, "all", SP_M_SURVEYS_UNKNOWN_CASE), 0, "it names no case");
    /* an NPS that names a case not remembered is */
    cr_assert_eq(ev(p, "survey.nps", BASE + 3, ",\"ticket_id\":\"T404\",\"score\":9"),
                 SP_APPLY_OK);
    cr_expect_eq(cell(p, BASE, "all", SP_M_SURVEYS_UNKNOWN_CASE), 1);
    sp_partition_destroy(p);
}

Test(surveys, repeated_surveys_for_one_case_all_count_and_repeats_are_counted)
{
    sp_partition *p = new_partition(1000);
    closed_ticket(p, "T1", BASE);
    long long at = BASE + 30 * MIN;
    cr_assert_eq(ev(p, "survey.csat", at, ",\"ticket_id\":\"T1\",\"score\":2"), SP_APPLY_OK);
    cr_assert_eq(ev(p, "survey.csat", at + 1000, ",\"ticket_id\":\"T1\",\"score\":5"), SP_APPLY_OK);
    cr_expect_eq(cell(p, at, "queue=payments", SP_M_CSAT_RESPONSES), 2, "both count");
    cr_expect_eq(cell(p, at, "queue=payments", SP_M_CSAT_SCORE_SUM), 7);
    cr_expect_eq(cell(p, at, "queue=payments", SP_M_CSAT_REPEAT), 1, "the second is a repeat");
    /* the same event sent twice is one survey (dedup by id) */
    const char *json = "{\"id\":\"dup-1\",\"type\":\"survey.csat\",\"ts\":1795344300000,"
                       "\"ticket_id\":\"T1\",\"score\":4}";
    cr_expect_eq(sp_test_apply(p, json), SP_APPLY_OK);
    cr_expect_eq(sp_test_apply(p, json), SP_APPLY_DUPLICATE);
    cr_expect_eq(cell(p, at, "queue=payments", SP_M_CSAT_RESPONSES), 3);
    cr_expect_eq(cell(p, at, "queue=payments", SP_M_CSAT_REPEAT), 2);
    /* after the case moved to the attribution store, it is still known to be surveyed */
    traffic_until(p, BASE + MIN * 40, BASE + 3 * DAY);
    cr_assert_null(sp_cases_find(sp_partition_cases(p), ticket_key("T1")));
    long long later = BASE + 3 * DAY + MIN;
    cr_assert_eq(ev(p, "survey.csat", later, ",\"ticket_id\":\"T1\",\"score\":3"), SP_APPLY_OK);
    cr_expect_eq(cell(p, later, "queue=payments", SP_M_CSAT_REPEAT), 1);
    sp_partition_destroy(p);
}

Test(surveys, past_the_horizon_a_case_is_unknown)
{
    sp_partition *p = new_partition(1000);
    closed_ticket(p, "T1", BASE);
    traffic_until(p, BASE + MIN * 30, BASE + 8 * DAY + 60 * MIN);
    cr_expect_null(sp_attrs_find(sp_partition_attrs(p), ticket_key("T1")),
                   "7 days after its last event");
    long long at = BASE + 8 * DAY + 61 * MIN;
    cr_assert_eq(ev(p, "survey.csat", at, ",\"ticket_id\":\"T1\",\"score\":5"), SP_APPLY_OK);
    cr_expect_eq(cell(p, at, "queue=unknown", SP_M_SURVEYS_UNKNOWN_CASE), 1);
    sp_partition_destroy(p);
}

Test(surveys, a_late_event_of_a_forgotten_case_takes_its_attribution_back)
{
    sp_partition *p = new_partition(1000);
    closed_ticket(p, "T1", BASE);
    traffic_until(p, BASE + MIN * 30, BASE + 2 * DAY);
    cr_assert_null(sp_cases_find(sp_partition_cases(p), ticket_key("T1")));
    long long at = BASE + 2 * DAY + MIN;
    cr_assert_eq(ev(p, "ticket.reopened", at, ",\"ticket_id\":\"T1\""), SP_APPLY_OK);
    cr_expect_eq(cell(p, at, "queue=payments|channel=email", SP_M_REOPENED), 1);
    sp_partition_destroy(p);
}

Test(surveys, the_store_is_bounded_and_evicts_the_oldest)
{
    sp_partition *p = new_partition(2);
    closed_ticket(p, "T1", BASE);
    closed_ticket(p, "T2", BASE + 1);
    closed_ticket(p, "T3", BASE + 2);
    traffic_until(p, BASE + MIN * 30, BASE + 2 * DAY);
    sp_attrs *s = sp_partition_attrs(p);
    cr_expect_eq(sp_attrs_size(s), 2);
    cr_expect_eq(sp_attrs_evictions(s), 1);
    cr_expect_null(sp_attrs_find(s, ticket_key("T1")));
    cr_expect_not_null(sp_attrs_find(s, ticket_key("T3")));
    sp_partition_destroy(p);
}

/* ---- the store on its own ---------------------------------------------------------- */

static sp_attr rec(uint64_t key, uint32_t min, uint32_t queue)
{
    return (sp_attr){.key = key, .queue = queue, .agent = 7, .last_min = min, .channel = 2};
}

static size_t count_fresh;
static void on_fresh(const sp_attr *a, void *arg)
{
    (void)a;
    (void)arg;
    count_fresh++;
}

Test(attrs, put_replace_expire_and_fresh_list)
{
    sp_attrs *s = sp_attrs_new(8, 60 * MIN);
    cr_assert_not_null(s);
    for (uint64_t k = 1; k <= 3; k++)
        cr_assert_eq(sp_attrs_put(s, &(sp_attr){.key = k, .queue = (uint32_t)k, .last_min = 100}), 0);
    sp_attr r = rec(2, 150, 20);
    r.flags = SP_ATTR_CSAT_SEEN;
    cr_assert_eq(sp_attrs_put(s, &r), 0);
    r = rec(2, 160, 21);
    cr_assert_eq(sp_attrs_put(s, &r), 0, "replacing keeps the surveyed flag");
    cr_expect_eq(sp_attrs_size(s), 3);
    cr_expect_eq(sp_attrs_find(s, 2)->queue, 21u);
    cr_expect(sp_attrs_find(s, 2)->flags & SP_ATTR_CSAT_SEEN);
    count_fresh = 0;
    sp_attrs_each_fresh(s, on_fresh, NULL);
    cr_expect_eq(count_fresh, 3, "each entry once");
    sp_attrs_mark_written(s);
    count_fresh = 0;
    sp_attrs_each_fresh(s, on_fresh, NULL);
    cr_expect_eq(count_fresh, 0);
    /* keys 1 and 3 are last seen at minute 100, key 2 at 160; horizon 60 minutes */
    cr_expect_eq(sp_attrs_expire(s, 161 * MIN), 2);
    cr_expect_null(sp_attrs_find(s, 1));
    cr_expect_not_null(sp_attrs_find(s, 2));
    cr_expect_eq(sp_attrs_expire(s, 221 * MIN), 1);
    cr_expect_eq(sp_attrs_size(s), 0);
    sp_attrs_destroy(s);
}

Test(attrs, reorder_puts_a_restore_back_in_time_order)
{
    sp_attrs *s = sp_attrs_new(8, 60 * MIN);
    uint32_t mins[] = {300, 100, 250, 120, 200};
    for (int i = 0; i < 5; i++) {
        sp_attr r = rec((uint64_t)i + 1, mins[i], 1);
        cr_assert_eq(sp_attrs_put(s, &r), 0);
    }
    cr_assert_eq(sp_attrs_reorder(s), 0);
    /* minute 250 + 60 < 311: the entries of 100, 120, 200, 250 go, whatever their order */
    cr_expect_eq(sp_attrs_expire(s, 311 * MIN), 4);
    cr_expect_not_null(sp_attrs_find(s, 1));
    cr_expect_eq(sp_attrs_size(s), 1);
    /* full: the oldest leaves */
    for (uint64_t k = 10; k < 18; k++) {
        sp_attr r = rec(k, 400 + (uint32_t)k, 1);
        cr_assert_eq(sp_attrs_put(s, &r), 0);
    }
    cr_expect_eq(sp_attrs_size(s), 8);
    cr_expect_eq(sp_attrs_evictions(s), 1);
    cr_expect_null(sp_attrs_find(s, 1));
    sp_attrs_destroy(s);
}

Test(attrs, zero_capacity_keeps_nothing)
{
    sp_attrs *s = sp_attrs_new(0, MIN);
    sp_attr r = rec(1, 1, 1);
    cr_expect_eq(sp_attrs_put(s, &r), 0);
    cr_expect_null(sp_attrs_find(s, 1));
    cr_expect_eq(sp_attrs_expire(s, DAY), 0);
    cr_expect_eq(sp_attrs_reorder(s), 0);
    sp_attrs_destroy(s);
}
