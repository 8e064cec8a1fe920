/*
 * test_orphans.c - calls and chats whose closing event never comes (docs/metrics.md,
 * "Orphaned contacts"): one partition, hand-written events. A call in queue longer than
 * its queue's max_wait leaves in_queue and oldest_wait and counts once as orphaned in
 * the window where it timed out; an answered call with no end after max_handle the same;
 * late closing events are applied as usual and count nothing twice.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/partition.h"

#define T0 1795342500000LL /* a minute boundary */
#define MIN 60LL
#define TS(sec) ((long long)(T0 + (sec) * 1000LL))

static sp_partition *partition_with(const char *wait_by_queue)
{
    sp_partition_conf pc;
    sp_partition_conf_defaults(&pc);
    pc.max_future_ms = 0;
    pc.max_wait_ms = 10 * MIN * 1000;
    pc.max_handle_ms = 30 * MIN * 1000;
    pc.max_wait_by_queue = wait_by_queue;
    pc.retention_ms = 60 * MIN * 1000;
    char err[256];
    sp_partition *p = sp_partition_new(&pc, err, sizeof err);
    cr_assert_not_null(p, "%s", err);
    return p;
}


/* Moves the partition's event time to sec with an event of another case. */
static void tick(sp_partition *p, long long sec)
{
    static unsigned n;
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"tick%u\",\"queue\":\"q\","
          "\"channel\":\"email\"", TS(sec), ++n);
}

static void offer(sp_partition *p, const char *call, const char *queue, const char *channel,
                  long long sec)
{
    sp_test_event(p, "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"%s\",\"queue\":\"%s\","
          "\"channel\":\"%s\"", TS(sec), call, queue, channel);
}

static int64_t cell(sp_partition *p, long long sec, const char *dims, sp_metric m)
{
    return sp_test_cell(p, T0 / 1000 + sec, dims, m, 0);
}

/* The orphans of dims over the minutes from 0 to `minutes`. */
static int64_t orphans(sp_partition *p, const char *dims, int minutes)
{
    int64_t n = 0;
    for (int m = 0; m <= minutes; m++)
        n += cell(p, m * MIN, dims, SP_M_ORPHANED);
    return n;
}

static int64_t in_queue(sp_partition *p, const char *dims, int64_t *oldest)
{
    size_t n;
    sp_gauges *gs = sp_partition_gauges(p, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(sp_partition_dims_key(p, (uint32_t)i), dims) == 0) {
            if (oldest)
                *oldest = gs[i].oldest_ts;
            return gs[i].v[SP_G_IN_QUEUE];
        }
    if (oldest)
        *oldest = INT64_MAX;
    return 0;
}

Test(orphans, a_call_left_in_queue_times_out_once_in_the_minute_it_was_due)
{
    sp_partition *p = partition_with(NULL); /* max_wait 10 min */
    offer(p, "c1", "payments", "phone", 5);
    offer(p, "c2", "payments", "phone", 200);
    tick(p, 10 * MIN + 4);
    int64_t oldest;
    cr_expect_eq(in_queue(p, "queue=payments", &oldest), 2, "not overdue yet");
    cr_expect_eq(oldest, TS(5));
    tick(p, 10 * MIN + 5); /* c1 is due at exactly 10 min after its offer */
    cr_expect_eq(in_queue(p, "queue=payments", &oldest), 1);
    cr_expect_eq(oldest, TS(200), "the oldest wait is now c2's");
    cr_expect_eq(cell(p, 10 * MIN, "queue=payments", SP_M_ORPHANED), 1, "in the minute it was due");
    cr_expect_eq(cell(p, 10 * MIN, "all", SP_M_ORPHANED), 1);
    cr_expect_eq(cell(p, 10 * MIN, "channel=phone", SP_M_ORPHANED), 1);
    cr_expect_eq(cell(p, 10 * MIN, "queue=payments|channel=phone", SP_M_ORPHANED), 1);
    tick(p, 30 * MIN);
    cr_expect_eq(in_queue(p, "all", &oldest), 0);
    cr_expect_eq(oldest, INT64_MAX, "nobody waiting");
    cr_expect_eq(orphans(p, "all", 30), 2, "each call once");
    cr_expect_eq(cell(p, 13 * MIN, "all", SP_M_ORPHANED), 1, "c2 at 200 s + 10 min");
    cr_expect_eq(sp_partition_get_stats(p)->orphaned, 2);
    sp_partition_destroy(p);
}

Test(orphans, a_late_closing_event_is_applied_as_usual_and_counts_nothing_twice)
{
    sp_partition *p = partition_with(NULL);
    offer(p, "late", "payments", "phone", 0);
    offer(p, "gone", "payments", "phone", 0);
    offer(p, "moved", "payments", "phone", 0);
    tick(p, 11 * MIN);
    cr_assert_eq(in_queue(p, "all", NULL), 0);
    /* the answer was delayed, not lost: its wait counts as any answer's */
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"late\",\"agent_id\":\"a\"", TS(12 * MIN));
    cr_expect_eq(cell(p, 12 * MIN, "all", SP_M_ANSWERED), 1);
    cr_expect_eq(cell(p, 12 * MIN, "all", SP_M_WAIT_SUM), 12 * MIN * 1000);
    sp_test_event(p, "\"type\":\"call.abandoned\",\"ts\":%lld,\"call_id\":\"gone\"", TS(12 * MIN));
    cr_expect_eq(cell(p, 12 * MIN, "all", SP_M_ABANDONED), 1);
    cr_expect_eq(cell(p, 12 * MIN, "all", SP_M_ABANDON_WAIT_COUNT), 1);
    /* a transfer or a second offer does not put a timed-out call back in a queue */
    sp_test_event(p, "\"type\":\"call.transferred\",\"ts\":%lld,\"call_id\":\"moved\",\"to_queue\":\"security\"", TS(12 * MIN));
    offer(p, "moved", "security", "phone", 12 * MIN);
    cr_expect_eq(in_queue(p, "all", NULL), 0, "gauges moved once, never below zero");
    cr_expect_eq(in_queue(p, "queue=security", NULL), 0);
    tick(p, 60 * MIN);
    cr_expect_eq(orphans(p, "all", 60), 3, "orphaned once each, not again");
    cr_expect_eq(sp_partition_get_stats(p)->orphaned, 3);
    sp_partition_destroy(p);
}

Test(orphans, max_wait_is_per_queue)
{
    sp_partition *p = partition_with("security=120"); /* others: 10 min */
    offer(p, "s", "security", "phone", 0);
    offer(p, "q", "payments", "phone", 0);
    tick(p, 3 * MIN);
    cr_expect_eq(in_queue(p, "queue=security", NULL), 0, "2 minutes in security");
    cr_expect_eq(in_queue(p, "queue=payments", NULL), 1);
    cr_expect_eq(cell(p, 2 * MIN, "queue=security", SP_M_ORPHANED), 1);
    /* a transfer takes the new queue's limit, from the first offer */
    offer(p, "t", "payments", "phone", 3 * MIN);
    sp_test_event(p, "\"type\":\"call.transferred\",\"ts\":%lld,\"call_id\":\"t\",\"to_queue\":\"security\"", TS(4 * MIN));
    tick(p, 5 * MIN - 1);
    cr_expect_eq(in_queue(p, "queue=security", NULL), 1);
    tick(p, 5 * MIN);
    cr_expect_eq(in_queue(p, "queue=security", NULL), 0, "3 min + 120 s");
    cr_expect_eq(cell(p, 5 * MIN, "queue=security", SP_M_ORPHANED), 1);
    sp_partition_destroy(p);
}

Test(orphans, an_answered_call_or_chat_with_no_end_times_out_after_max_handle)
{
    sp_partition *p = partition_with(NULL); /* max_handle 30 min */
    offer(p, "v", "payments", "phone", 0);
    offer(p, "ch", "payments", "chat", 0);
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"v\",\"agent_id\":\"a\"", TS(30));
    sp_test_event(p, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"ch\",\"agent_id\":\"b\"", TS(60));
    tick(p, 30 * MIN + 29);
    cr_expect_eq(orphans(p, "all", 31), 0);
    tick(p, 30 * MIN + 60);
    cr_expect_eq(cell(p, 30 * MIN, "channel=phone", SP_M_ORPHANED), 1, "answered at 30 s");
    cr_expect_eq(cell(p, 31 * MIN, "channel=chat", SP_M_ORPHANED), 1, "answered at 60 s");
    /* the end comes after all: the handle time counts as usual, the orphan stays one */
    sp_test_event(p, "\"type\":\"call.ended\",\"ts\":%lld,\"call_id\":\"v\"", TS(32 * MIN));
    sp_test_event(p, "\"type\":\"call.wrapup\",\"ts\":%lld,\"call_id\":\"v\",\"acw_ms\":1000", TS(32 * MIN + 10));
    cr_expect_eq(cell(p, 32 * MIN, "all", SP_M_HANDLE_COUNT), 1);
    cr_expect_eq(cell(p, 32 * MIN, "all", SP_M_HANDLE_SUM), (32 * MIN - 30) * 1000 + 1000);
    tick(p, 60 * MIN);
    cr_expect_eq(orphans(p, "all", 60), 2);
    cr_expect_eq(orphans(p, "agent=a", 60), 0, "agents' rollups do not count orphans");
    sp_partition_destroy(p);
}

Test(orphans, an_orphan_whose_minute_has_closed_counts_in_the_oldest_open_one)
{
    sp_partition *p = partition_with(NULL); /* retention 1 h, lateness 2 min */
    offer(p, "night", "payments", "phone", 0);
    /* the desk is quiet for five hours: the call was due at 10 min, long closed */
    tick(p, 5 * 60 * MIN);
    cr_expect_eq(in_queue(p, "all", NULL), 0);
    long long open = 5 * 60 * MIN - 2 * MIN - 60 * MIN; /* watermark - retention */
    cr_expect_eq(cell(p, open, "all", SP_M_ORPHANED), 1);
    cr_expect_eq(sp_partition_get_stats(p)->orphaned, 1);
    sp_partition_destroy(p);
}

Test(orphans, a_restored_partition_times_out_the_same_calls)
{
    sp_partition *a = partition_with(NULL), *b = partition_with(NULL);
    offer(a, "w", "payments", "phone", 0);
    offer(a, "x", "payments", "phone", 0);
    tick(a, 11 * MIN); /* both orphaned */
    sp_test_event(a, "\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"x\",\"agent_id\":\"a\"", TS(11 * MIN));
    offer(a, "y", "payments", "phone", 5 * MIN);
    /* b is a restored copy of a's cases, as after a restart */
    const char *ids[] = {"w", "x", "y"};
    for (int i = 0; i < 3; i++) {
        sp_case rec = *sp_cases_find(sp_partition_cases(a), sp_case_key(1, ids[i], 1));
        cr_assert_eq(sp_partition_restore_case(b, &rec, "payments", "", i == 1 ? "a" : ""), 0);
    }
    sp_partition_restore_max_ts(b, sp_partition_max_ts(a));
    cr_expect_eq(in_queue(b, "all", NULL), 1, "only y waits");
    for (int i = 0; i < 2; i++) {
        sp_partition *p = i ? b : a;
        const char *how = i ? "restored" : "continuous";
        offer(p, "w", "payments", "phone", 12 * MIN); /* an orphan stays out of the queue */
        tick(p, 15 * MIN - 1);
        cr_expect_eq(in_queue(p, "all", NULL), 1, "%s: y still waits", how);
        tick(p, 15 * MIN);
        cr_expect_eq(in_queue(p, "all", NULL), 0, "%s: y timed out", how);
        cr_expect_eq(cell(p, 15 * MIN, "all", SP_M_ORPHANED), 1, "%s", how);
        tick(p, 45 * MIN);
        cr_expect_eq(cell(p, 41 * MIN, "all", SP_M_ORPHANED), 0,
                     "%s: x, answered after it was orphaned, is not orphaned again", how);
    }
    sp_partition_destroy(a);
    sp_partition_destroy(b);
}
