/*
 * test_publisher.c - the Redis contract (shared/spec/redis.md) and the write path
 * (publishers/redis_publisher.c, rollups.c, live.c, checkpoint.c) against a real
 * redis-server and, for the tests named *_cluster, a real three-master Redis Cluster:
 * rollups at every resolution, indexes, ratios and percentiles, PUBLISH; a flush sent
 * again adds nothing and partitions add up; two writers merge their changes into the
 * same rollups; state restores from the checkpoint; live gauges add over partitions;
 * calls are bounded by construction; the HSET fallback writes the same hashes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "instances.h"
#include "supportpulse/redis_keys.h"
#include "supportpulse/redis_publisher.h"
#include "supportpulse/rollup_cache.h"
#include "supportpulse/sketch.h"

#define BASE 1795342500000LL /* 2026-11-22T10:15:00Z */
#define DAY0 1795305600LL    /* its UTC day */

static sp_env env;

static void setup(void) { sp_env_start(&env, "t", 1); }
static void setup_cluster(void) { sp_env_start_cluster(&env, "t", 1); }
static void teardown(void) { sp_env_stop(&env); }

/* Each test body runs on one Redis (publisher/<name>) and on a cluster
 * (publisher_cluster/<name>). */
#define BOTH(name)                                                                         \
    static void name(void);                                                                \
    Test(publisher, name, .init = setup, .fini = teardown, .timeout = 120) { name(); }     \
    Test(publisher_cluster, name, .init = setup_cluster, .fini = teardown, .timeout = 180) \
    {                                                                                      \
        name();                                                                            \
    }                                                                                      \
    static void name(void)

static int max_call = 200;

/* A publisher whose 1m and 5m rollups live ttl_1m and ttl_5m seconds. */
static sp_publisher *publisher_ttl(int64_t ttl_1m, int64_t ttl_5m)
{
    sp_publisher_conf c = {.address = env.address,
                           .prefix = "sp",
                           .topic = "t",
                           .ttl_s = {ttl_1m, ttl_5m, 3024000, 34560000, 0},
                           .connect_timeout_ms = 2000,
                           .command_timeout_ms = 5000,
                           .lateness_ms = 120000,
                           .retention_ms = 3600000,
                           .csat_prior_weight = 10,
                           .max_call = max_call,
                           .resolutions = SP_RES_BY_DIMS_DEFAULT,
                           .smooth_every_ms = 0};
    char err[256];
    sp_publisher *p = sp_publisher_new(&c, err, sizeof err);
    cr_assert(p, "%s", err);
    return p;
}

static sp_publisher *publisher(void) { return publisher_ttl(172800, 604800); }

static sp_partition *partition(void)
{
    sp_partition_conf c;
    sp_partition_conf_defaults(&c);
    c.max_future_ms = 0;
    char err[128];
    sp_partition *p = sp_partition_new(&c, err, sizeof err);
    cr_assert(p);
    return p;
}

static void apply(sp_partition *p, const char *fmt, long long ts)
{
    char buf[512];
    static unsigned n;
    snprintf(buf, sizeof buf, fmt, ++n, ts);
    cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK, "%s", buf);
}

#define OFFER "{\"id\":\"o%u\",\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"C1\",\"queue\":\"payments\"}"
#define CSAT5 "{\"id\":\"c%u\",\"type\":\"survey.csat\",\"ts\":%lld,\"call_id\":\"C1\",\"score\":5}"
#define CSAT2 "{\"id\":\"d%u\",\"type\":\"survey.csat\",\"ts\":%lld,\"call_id\":\"C1\",\"score\":2}"

/* Each test partition's checkpoint hold (claimed by the first restore or flush). */
static sp_checkpoint cps[8];

/* Claims partition n for pub (as an assignment does); the state read is thrown away
 * (the test's partition keeps its own). */
static void claim(sp_publisher *pub, int n)
{
    char err[512];
    int64_t next;
    sp_partition *p = partition();
    cr_assert_eq(sp_publisher_restore(pub, n, p, &cps[n], &next, NULL, err, sizeof err), 0,
                 "%s", err);
    sp_partition_destroy(p);
}

/* One flush of partition n; returns its result (the flush must succeed unless told). */
static sp_flush_result flush_part(sp_publisher *pub, int n, sp_partition *p, long long next_offset,
                                  const uint64_t *counts, int must_succeed)
{
    char err[512];
    if (!cps[n].claims)
        claim(pub, n);
    sp_flush_part fp = {n, p, next_offset, counts, &cps[n], 0, SP_FLUSH_OK};
    int rc = sp_publisher_flush(pub, &fp, 1, sp_partition_max_ts(p), err, sizeof err);
    if (must_succeed)
        cr_assert_eq(rc, 0, "%s", err);
    if (rc == 0)
        sp_partition_published(p, INT64_MIN);
    return fp.result;
}

static void flush(sp_publisher *pub, int n, sp_partition *p, long long next_offset)
{
    flush_part(pub, n, p, next_offset, NULL, 1);
}

static void expect_field(const char *key, const char *field, const char *want)
{
    char v[128];
    int found = sp_hget_str(&env, key, field, v, sizeof v);
    if (!want)
        cr_expect_not(found, "%s %s should be absent, is %s", key, field, v);
    else
        cr_expect(found && strcmp(v, want) == 0, "%s %s: %s, want %s", key, field,
                  found ? v : "(absent)", want);
}

static long long key_integer(const char *command, const char *key)
{
    redisReply *r = sp_env_cmd(&env, "%s %s", command, key);
    cr_assert(r->type == REDIS_REPLY_INTEGER, "%s %s", command, key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

static long long ttl_of(const char *key) { return key_integer("TTL", key); }

BOTH(rollups_at_every_resolution)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    apply(p, OFFER, BASE + 1000);
    apply(p, OFFER, BASE + 61000); /* next minute, same 5m window */
    apply(p, CSAT5, BASE + 62000);
    apply(p, CSAT2, BASE + 63000);
    flush(pub, 0, p, 4);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342560", "offered", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:5m:all:1795342500", "offered", -1), 2, "5m = sum of its 1m");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:15m:all:1795342500", "offered", -1), 2);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1h:all:1795341600", "offered", -1), 2, "1h starts at 10:00");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1d:all:1795305600", "offered", -1), 2, "1d starts at UTC midnight");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:queue=payments|channel=phone:1795342500", "offered", -1), 1);
    expect_field("sp:r:5m:all:1795342500", "csat", "0.5000");
    expect_field("sp:r:5m:all:1795342500", "csat_avg", "3.50");
    expect_field("sp:r:5m:all:1795342500", "nps", NULL); /* no NPS response: absent, not 0 */
    /* a board shows 0, not "no data": the core counts are there when zero */
    static const char *const core[] = {"answered", "abandoned", "created", "solved",
                                       "transferred", "nps_responses"};
    for (size_t i = 0; i < sizeof core / sizeof *core; i++)
        expect_field("sp:r:1m:all:1795342500", core[i], "0");
    expect_field("sp:r:1m:all:1795342500", "csat_responses", "0");
    expect_field("sp:r:1m:all:1795342500", "reopened", NULL); /* not core: absent when 0 */
    cr_expect_gt(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "updated_at", 0), 1700000000000LL);
    cr_expect_eq(sp_zcard(&env, "sp:ts:1m:all"), 2);
    cr_expect_eq(sp_zcard(&env, "sp:ts:1d:all"), 1);
    long long t = ttl_of("sp:r:1m:all:1795342500");
    cr_expect(t > 172000 && t <= 172800, "1m rollups live 2 days: %lld", t);
    cr_expect_eq(ttl_of("sp:r:1d:all:1795305600"), -1, "1d rollups are kept");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* Agents are rolled up at 15m, 1h and 1d only (resolutions_by_dims). */
#define ANSWER "{\"id\":\"a%u\",\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"C1\",\"agent_id\":\"ann\"}"
BOTH(agents_are_rolled_up_from_15_minutes)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    apply(p, OFFER, BASE + 1000);
    apply(p, ANSWER, BASE + 31000);
    flush(pub, 0, p, 2);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:15m:agent=ann:1795342500", "answered", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1h:agent=ann:1795341600", "answered", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1d:agent=ann:1795305600", "wait_ms_p50", -1),
                 sp_sketch_value(sp_sketch_index(30000)));
    cr_expect_eq(key_integer("EXISTS", "sp:r:1m:agent=ann:1795342500"), 0, "no 1m agent rollup");
    cr_expect_eq(key_integer("EXISTS", "sp:r:5m:agent=ann:1795342500"), 0);
    cr_expect_eq(sp_zcard(&env, "sp:ts:15m:agent=ann"), 1);
    /* the counts an agent is credited with are there at 0; those that name no agent are not */
    expect_field("sp:r:15m:agent=ann:1795342500", "solved", "0");
    expect_field("sp:r:15m:agent=ann:1795342500", "csat_responses", "0");
    static const char *const never[] = {"offered", "abandoned", "transferred", "created"};
    for (size_t i = 0; i < sizeof never / sizeof *never; i++)
        expect_field("sp:r:15m:agent=ann:1795342500", never[i], NULL);
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* A catch-up flush creates many windows of one series: its index gets them all and is
 * trimmed to the windows within the TTL of each new one. */
BOTH(a_flush_keeps_each_series_index)
{
    sp_publisher *pub = publisher_ttl(600, 1200);
    sp_partition *p = partition();
    for (int m = 0; m < 30; m++) /* 10:15 .. 10:44, one offer a minute */
        apply(p, OFFER, BASE + m * 60000LL);
    flush(pub, 0, p, 30);
    cr_expect_eq(sp_zcard(&env, "sp:ts:1m:all"), 11, "10:34 .. 10:44: within 600 s of 10:44");
    cr_expect_eq(sp_zcard(&env, "sp:ts:5m:all"), 5, "10:20 .. 10:40: within 1200 s of 10:40");
    cr_expect_eq(sp_zcard(&env, "sp:ts:15m:queue=payments"), 2);
    cr_expect_eq(sp_zcard(&env, "sp:ts:1d:all"), 1);
    long long t = ttl_of("sp:ts:1m:all");
    cr_expect(t > 590 + 600 / 16 && t <= 600 + 600 / 16,
              "the index outlives its rollups by a sixteenth of their TTL: %lld", t);
    t = ttl_of("sp:r:1m:all:1795344240");
    cr_expect(t > 590 && t <= 600, "each rollup gets its TTL: %lld", t);
    cr_expect_eq(ttl_of("sp:ts:1d:all"), -1, "1d is kept");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:5m:all:1795344000", "offered", -1), 5, "10:40 .. 10:44");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* A flush whose rollup writes are sent again (its reply lost; a new owner after a
 * crash) adds nothing; partitions add up; a former owner is refused. */
BOTH(a_flush_sent_again_adds_nothing_and_partitions_add_up)
{
    sp_publisher *pub = publisher();
    sp_partition *p0 = partition(), *p1 = partition();
    apply(p0, OFFER, BASE + 1000);
    apply(p0, OFFER, BASE + 2000);
    apply(p1, OFFER, BASE + 3000);
    flush(pub, 0, p0, 2);
    flush(pub, 1, p1, 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 3);
    /* p0 changes again; its flush is committed and written, then sent once more as if
     * its reply had been lost: the rollups' marks say it is in */
    apply(p0, OFFER, BASE + 5000);
    char err[512];
    sp_flush_part fp = {0, p0, 3, NULL, &cps[0], 0, SP_FLUSH_OK};
    cr_assert_eq(sp_publisher_flush(pub, &fp, 1, BASE + 5000, err, sizeof err), 0, "%s", err);
    cr_assert(fp.committed);
    fp.result = SP_FLUSH_OK; /* again, unchanged */
    cr_assert_eq(sp_publisher_flush(pub, &fp, 1, BASE + 5000, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 4,
                 "sent twice, counted once");
    /* the same with a second writer that knows nothing (its cache is empty) */
    sp_publisher *other = publisher();
    cr_assert_eq(sp_publisher_flush(other, &fp, 1, BASE + 5000, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 4);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1d:all:1795305600", "offered", -1), 4);
    cr_expect_gt(sp_publisher_get_stats(other)->rollups.merged_out, 0,
                 "it found the changes in already");
    sp_partition_published(p0, INT64_MIN);
    /* the second writer claims partition 0: the first one's next commit is refused */
    sp_checkpoint theirs;
    sp_partition *q = partition();
    int64_t next;
    cr_assert_eq(sp_publisher_restore(other, 0, q, &theirs, &next, NULL, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(next, 3);
    apply(p0, OFFER, BASE + 6000);
    cr_expect_eq(flush_part(pub, 0, p0, 4, NULL, 0), SP_FLUSH_STALE);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 4,
                 "a refused writer writes no rollup");
    /* two partitions in one flush: their changes are summed into one write per rollup */
    apply(q, OFFER, BASE + 7000);
    apply(p1, OFFER, BASE + 8000);
    sp_flush_part pair[2] = {{0, q, 5, NULL, &theirs, 0, SP_FLUSH_OK},
                             {1, p1, 2, NULL, &cps[1], 0, SP_FLUSH_OK}};
    uint64_t writes = sp_publisher_get_stats(other)->rollups.writes;
    cr_assert_eq(sp_publisher_flush(other, pair, 2, BASE + 8000, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_publisher_get_stats(other)->rollups.writes - writes, 4 * 5,
                 "4 dims sets x 5 resolutions, once each for both partitions");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 6);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:all", "in_queue", -1), 2,
                 "call C1 waits on each partition (its repeated offers are one call)");
    sp_partition_destroy(p0);
    sp_partition_destroy(p1);
    sp_partition_destroy(q);
    sp_publisher_destroy(pub);
    sp_publisher_destroy(other);
}

/* One answered call on p: offered at t, answered wait_ms later. */
static void answered_call(sp_partition *p, unsigned call, long long t, long long wait_ms)
{
    char buf[256];
    snprintf(buf, sizeof buf, "{\"id\":\"k%u\",\"type\":\"call.offered\",\"ts\":%lld,"
             "\"call_id\":\"K%u\",\"queue\":\"payments\"}", call, t, call);
    cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK, "%s", buf);
    snprintf(buf, sizeof buf, "{\"id\":\"a%u\",\"type\":\"call.answered\",\"ts\":%lld,"
             "\"call_id\":\"K%u\",\"agent_id\":\"ann\"}", call, t + wait_ms, call);
    cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK, "%s", buf);
}

/* The wait percentiles of a rollup are those of the sketch of every wait, and its
 * companion holds exactly that sketch's buckets. */
static void expect_sketch(const char *key, sp_sketch *all)
{
    static const char *const q[3] = {"wait_ms_p50", "wait_ms_p90", "wait_ms_p99"};
    static const double qv[3] = {0.5, 0.9, 0.99};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(sp_hget_ll(&env, key, q[i], -1), sp_sketch_quantile(all, qv[i]), "%s %s",
                     key, q[i]);
    char comp[SP_KEY_MAX];
    sp_key_companion(comp, sizeof comp, "sp", key);
    char err[256];
    const char *argv[] = {"GET", comp};
    redisReply *r = sp_redis_cmd_argv(env.r, 1, 2, argv, NULL, err, sizeof err);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "%s: no companion", key);
    sp_rollup_entry e;
    memset(&e, 0, sizeof e);
    cr_assert_eq(sp_companion_decode(&e, r->str, r->len), 0, "%s: malformed companion", key);
    freeReplyObject(r);
    cr_expect_eq(sp_sketch_count(&e.sk[SP_D_WAIT]), sp_sketch_count(all));
    for (uint32_t i = 0; i < all->nb; i++)
        cr_expect_eq(sp_sketch_get(&e.sk[SP_D_WAIT], all->b[i].idx), all->b[i].n,
                     "%s bucket %u", key, all->b[i].idx);
    for (int d = 0; d < SP_D__COUNT; d++)
        sp_sketch_free(&e.sk[d]);
    free(e.marks);
}

/* A writer that finds one partition's change in a rollup already writes only the other
 * partition's share, from the changes it kept per partition: every counter survives that,
 * the last one (orphaned, the 33rd) included. */
BOTH(kept_changes_carry_every_counter)
{
    sp_publisher *a = publisher(), *b = publisher();
    sp_partition *p[2] = {partition(), partition()};
    char err[512];
    for (int k = 0; k < 2; k++) { /* a call left in queue, orphaned 4 hours on */
        sp_test_event(p[k], "\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"K%d\","
                            "\"queue\":\"payments\"", BASE, k);
        sp_test_event(p[k], "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"T%d\","
                            "\"queue\":\"q\",\"channel\":\"email\"", BASE + 4 * 3600 * 1000LL, k);
        cr_assert_eq(sp_partition_get_stats(p[k])->orphaned, 1);
        claim(a, k);
    }
    /* b writes partition 0's flush; a then sends the same flush with partition 1's */
    sp_flush_part fp[2] = {{0, p[0], 2, NULL, &cps[0], 0, SP_FLUSH_OK},
                           {1, p[1], 2, NULL, &cps[1], 0, SP_FLUSH_OK}};
    cr_assert_eq(sp_publisher_flush(b, &fp[0], 1, BASE + 4 * 3600 * 1000LL, err, sizeof err), 0,
                 "%s", err);
    fp[0].result = SP_FLUSH_OK;
    cr_assert_eq(sp_publisher_flush(a, fp, 2, BASE + 4 * 3600 * 1000LL, err, sizeof err), 0,
                 "%s", err);
    const char *key = "sp:r:1m:all:1795356900"; /* BASE + 4 h */
    cr_expect_eq(sp_hget_ll(&env, key, "orphaned", -1), 2);
    cr_expect_eq(sp_hget_ll(&env, key, "events", -1), 2);
    cr_expect_eq(sp_hget_ll(&env, key, "created", -1), 2);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 2);
    cr_expect_gt(sp_publisher_get_stats(a)->rollups.merged_out, 0,
                 "a found partition 0's change in and wrote partition 1's alone");
    for (int k = 0; k < 2; k++)
        sp_partition_destroy(p[k]);
    sp_publisher_destroy(a);
    sp_publisher_destroy(b);
}

/* Several flushes from two partitions and two writers in turns: the hour's and the
 * day's counts, buckets and percentiles are those of every wait so far after each. */
BOTH(two_writers_merge_their_changes_into_the_same_rollups)
{
    sp_publisher *pub[2] = {publisher(), publisher()};
    sp_partition *part[2] = {partition(), partition()};
    sp_sketch all;
    sp_sketch_init(&all);
    long long sum = 0, next[2] = {1, 1};
    unsigned call = 0;
    static const int who[] = {0, 0, 1, 0, 1, 1, 0, 1};
    for (size_t round = 0; round < sizeof who / sizeof *who; round++) {
        int k = who[round];
        for (int i = 0; i < 30; i++, call++) {
            long long wait = 300 + (long long)(call * call * 7919u % 600000u); /* 0.3 s .. 10 min */
            answered_call(part[k], call, BASE + (long long)(round % 8) * 240000LL + i * 6000, wait);
            cr_assert_eq(sp_sketch_add(&all, wait), 0);
            sum += wait;
        }
        next[k] += 60;
        flush(pub[k], k, part[k], next[k]);
        const char *key[2] = {"sp:r:1h:all:1795341600", "sp:r:1d:all:1795305600"};
        for (int j = 0; j < 2; j++) {
            cr_expect_eq(sp_hget_ll(&env, key[j], "wait_ms_count", -1), call, "round %zu", round);
            cr_expect_eq(sp_hget_ll(&env, key[j], "wait_ms_sum", -1), sum);
            expect_sketch(key[j], &all);
        }
    }
    cr_expect_gt(sp_publisher_get_stats(pub[0])->rollups.conflicts, 0,
                 "each found the other's writes and merged into them");
    sp_sketch_free(&all);
    for (int k = 0; k < 2; k++) {
        sp_partition_destroy(part[k]);
        sp_publisher_destroy(pub[k]);
    }
}

BOTH(state_and_resume_point_restore)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    apply(p, OFFER, BASE + 1000);
    apply(p, OFFER, BASE + 2000);
    flush(pub, 0, p, 17);
    sp_partition_destroy(p);
    /* a restarted pipeline */
    sp_partition *q = partition();
    int64_t next = -1;
    char err[512];
    int64_t seq = cps[0].seq;
    cr_assert_eq(sp_publisher_restore(pub, 0, q, &cps[0], &next, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(cps[0].seq, seq, "the flush number comes back with the state");
    cr_expect_eq(next, 17, "resumes where Redis says");
    cr_expect_eq(sp_partition_max_ts(q), BASE + 2000);
    /* the case is remembered: an answer without queue still goes to payments */
    char buf[256];
    snprintf(buf, sizeof buf, "{\"id\":\"a1\",\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"C1\",\"agent_id\":\"x\"}", BASE + 3000);
    cr_assert_eq(sp_test_apply(q, buf), SP_APPLY_OK);
    apply(q, OFFER, BASE + 4000);
    flush(pub, 0, q, 19);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 3,
                 "restored partial + new event, not just the new event");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:queue=payments:1795342500", "answered", -1), 1);
    /* the event ids came back too: a repeat of one seen before the restart is dropped */
    snprintf(buf, sizeof buf, "{\"id\":\"o1\",\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"C1\",\"queue\":\"payments\"}", BASE + 1000);
    sp_partition *again = partition();
    cr_assert_eq(sp_publisher_restore(pub, 0, again, &cps[0], &next, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_test_apply(again, buf), SP_APPLY_DUPLICATE, "o1 was applied before the restarts");
    sp_partition_destroy(again);
    sp_partition *fresh = partition();
    sp_checkpoint none;
    cr_assert_eq(sp_publisher_restore(pub, 5, fresh, &none, &next, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(none.seq, 0);
    cr_expect_eq(next, -1, "a partition Redis never saw starts from Kafka's offset");
    sp_partition_destroy(fresh);
    sp_partition_destroy(q);
    sp_publisher_destroy(pub);
}

Test(publisher, updates_are_announced, .init = setup, .fini = teardown)
{
    redisContext *sub = redisConnectUnix(env.redis.socket);
    redisReply *r = redisCommand(sub, "SUBSCRIBE sp:updates");
    freeReplyObject(r);
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    apply(p, OFFER, BASE + 1000);
    flush(pub, 0, p, 1);
    int got_1m = 0, got_live = 0, n = 0;
    while (n < 40 && !(got_1m && got_live) && redisGetReply(sub, (void **)&r) == REDIS_OK) {
        n++;
        if (r->elements == 3 && strcmp(r->element[2]->str, "sp:r:1m:all:1795342500") == 0)
            got_1m = 1;
        if (r->elements == 3 && strcmp(r->element[2]->str, "sp:live:all") == 0)
            got_live = 1;
        freeReplyObject(r);
    }
    cr_expect(got_1m, "PUBLISH sp:updates names the rollup key");
    cr_expect(got_live, "... and the live hash");
    redisFree(sub);
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

Test(publisher, unreachable_redis_is_an_error_not_a_crash)
{
    sp_publisher_conf c = {.address = "unix:/nonexistent/redis.sock",
                           .prefix = "sp",
                           .topic = "t",
                           .connect_timeout_ms = 200,
                           .command_timeout_ms = 200,
                           .lateness_ms = 120000,
                           .retention_ms = 3600000,
                           .max_call = 100};
    char err[256];
    sp_publisher *pub = sp_publisher_new(&c, err, sizeof err);
    sp_partition *p = partition();
    apply(p, OFFER, BASE);
    sp_checkpoint cp = {0};
    sp_flush_part fp = {0, p, 1, NULL, &cp, 0, SP_FLUSH_OK};
    cr_expect_eq(sp_publisher_flush(pub, &fp, 1, BASE, err, sizeof err), -1);
    cr_expect_eq(fp.result, SP_FLUSH_FAILED);
    cr_expect_not(fp.committed);
    cr_expect(strstr(err, "/nonexistent/redis.sock") != NULL, "%s", err);
    cr_expect_eq(sp_partition_dirty_cells(p), 4, "still dirty: retried later");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

#define TICKET "{\"id\":\"k%u\",\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"T1\",\"queue\":\"refunds\",\"channel\":\"email\"}"

BOTH(live_gauges_across_partitions)
{
    sp_publisher *pub = publisher();
    sp_partition *p0 = partition(), *p1 = partition();
    apply(p0, OFFER, BASE); /* C1 waits in payments on partition 0 */
    flush(pub, 0, p0, 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "in_queue", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "oldest_wait_s", -1), 0);
    /* only partition 1 moves on, 90 s later, in another queue */
    apply(p1, TICKET, BASE + 90000);
    flush(pub, 1, p1, 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=refunds", "backlog", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:all", "backlog", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:all", "in_queue", -1), 1, "partition 0's call");
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "oldest_wait_s", -1), 90,
                 "the waiting call's wait grows although its partition had no event");
    cr_expect_eq(sp_hget_ll(&env, "sp:live:all", "oldest_wait_s", -1), 90);
    /* answered: nobody waits any more */
    apply(p0, ANSWER, BASE + 95000);
    flush(pub, 0, p0, 2);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "in_queue", -1), 0);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "oldest_wait_s", -1), 0);
    cr_expect_eq(key_integer("SCARD", "sp:waiting"), 0, "no dimension set is listed as waiting");
    expect_field("sp:live:queue=payments", "service_level_15m", "0.0000"); /* after 95 s: not in 20 s */
    expect_field("sp:live:queue=payments", "asa_ms_avg_today", "95000");
    sp_partition_destroy(p0);
    sp_partition_destroy(p1);
    sp_publisher_destroy(pub);
}

/* ---- surveys: attribution across restarts, smoothed agent CSAT, dissatisfaction ---- */

#define TCREATED "{\"id\":\"tc%u\",\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"T1\",\"queue\":\"payments\",\"channel\":\"email\"}"
#define TSOLVED "{\"id\":\"ts%u\",\"type\":\"ticket.solved\",\"ts\":%lld,\"ticket_id\":\"T1\",\"agent_id\":\"a1\"}"
#define TCLOSED "{\"id\":\"tx%u\",\"type\":\"ticket.closed\",\"ts\":%lld,\"ticket_id\":\"T1\"}"
#define TRAFFIC "{\"id\":\"tr%u\",\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"other\",\"queue\":\"refunds\"}"
#define TCSAT4 "{\"id\":\"sv%u\",\"type\":\"survey.csat\",\"ts\":%lld,\"ticket_id\":\"T1\",\"score\":4}"
#define DAY_MS (86400 * 1000LL)

Test(publisher, a_survey_after_a_restart_finds_the_closed_case, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    apply(p, TCREATED, BASE);
    apply(p, TSOLVED, BASE + 20 * 60000);
    apply(p, TCLOSED, BASE + 21 * 60000);
    for (long long t = BASE + 30 * 60000; t <= BASE + 2 * DAY_MS; t += 6 * 3600000LL)
        apply(p, TRAFFIC, t);
    uint64_t key = sp_case_key(0, "T1", 2);
    cr_assert_null(sp_cases_find(sp_partition_cases(p), key), "the case left memory");
    cr_assert_not_null(sp_attrs_find(sp_partition_attrs(p), key));
    flush(pub, 0, p, 40);
    sp_partition_destroy(p);
    /* a restarted pipeline restores it, and the survey goes where the ticket went */
    sp_partition *q = partition();
    int64_t next = -1;
    char err[512];
    cr_assert_eq(sp_publisher_restore(pub, 0, q, &cps[0], &next, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_attrs_size(sp_partition_attrs(q)), 1);
    long long at = BASE + 2 * DAY_MS + 5 * 60000;
    apply(q, TCSAT4, at);
    flush(pub, 0, q, 41);
    char rk[128];
    long long at_day = at / 1000 / 86400 * 86400;
    snprintf(rk, sizeof rk, "sp:r:1d:queue=payments|channel=email:%lld", at_day);
    cr_expect_eq(sp_hget_ll(&env, rk, "csat_responses", -1), 1, "%s", rk);
    snprintf(rk, sizeof rk, "sp:r:1d:agent=a1:%lld", at_day);
    cr_expect_eq(sp_hget_ll(&env, rk, "csat_positive", -1), 1, "%s", rk);
    snprintf(rk, sizeof rk, "sp:r:1d:all:%lld", at_day);
    cr_expect_eq(sp_hget_ll(&env, rk, "surveys_unknown_case", 0), 0);
    sp_partition_destroy(q);
    sp_publisher_destroy(pub);
}

/* A CSAT with its own queue and agent (its case is not remembered). */
static void agent_csat(sp_partition *p, const char *agent, int score, long long ts)
{
    char buf[256];
    static unsigned n;
    n++;
    snprintf(buf, sizeof buf,
             "{\"id\":\"ag%u\",\"type\":\"survey.csat\",\"ts\":%lld,\"ticket_id\":\"X%u\","
             "\"queue\":\"payments\",\"agent_id\":\"%s\",\"score\":%d}",
             n, ts, n, agent, score);
    cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK, "%s", buf);
}

BOTH(agent_csat_smoothed_leans_toward_the_desk)
{
    sp_publisher *pub = publisher(); /* prior weight m = 10 */
    sp_partition *p = partition();
    agent_csat(p, "a1", 5, BASE + 1000);
    agent_csat(p, "a1", 5, BASE + 2000);
    flush(pub, 0, p, 1);
    /* desk = a1 alone, 2 of 2: (2 + 10 * 1) / (2 + 10) = 1 */
    expect_field("sp:r:15m:agent=a1:1795342500", "csat_smoothed", "1.0000");
    /* a2: 4 fives and 4 ones, in a later flush: the desk is now 6 of 10 = 0.6 */
    for (int i = 0; i < 8; i++)
        agent_csat(p, "a2", i < 4 ? 5 : 1, BASE + 3000 + i);
    flush(pub, 0, p, 2);
    char err[256];
    cr_assert_eq(sp_publisher_smooth(pub, 1, err, sizeof err), 0, "%s", err);
    expect_field("sp:r:15m:agent=a1:1795342500", "csat_smoothed", "0.6667"); /* a1 moves with the desk */
    expect_field("sp:r:15m:agent=a1:1795342500", "csat", "1.0000");
    expect_field("sp:r:15m:agent=a2:1795342500", "csat_smoothed", "0.5556"); /* (4 + 6) / 18 */
    expect_field("sp:r:1d:agent=a1:1795305600", "csat_smoothed", "0.6667"); /* every resolution */
    expect_field("sp:r:1m:queue=payments:1795342500", "csat_smoothed", NULL); /* agents only */
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* Two writers (instances) share a desk. An agent rollup rewritten for another reason (a
 * call, no new survey) carries the csat_smoothed its writer computed from its own view of
 * the desk, which is behind when the other writer added surveys since: that write marks
 * the window due, and the pass sets the value from the desk Redis holds. */
BOTH(an_agent_rewritten_with_a_stale_desk_is_smoothed_again)
{
    sp_publisher *pub1 = publisher(), *pub2 = publisher(); /* m = 10, a pass every flush */
    sp_partition *p = partition(), *q = partition();
    agent_csat(p, "a1", 5, BASE + 1000);
    agent_csat(p, "a1", 5, BASE + 2000);
    flush(pub1, 0, p, 1);
    expect_field("sp:r:15m:agent=a1:1795342500", "csat_smoothed", "1.0000");
    for (int i = 0; i < 10; i++)
        agent_csat(q, "a2", 1, BASE + 3000 + i);
    flush(pub2, 1, q, 1); /* the desk: 2 positive of 12; its pass moves a1 */
    char v[32] = "";
    sp_hget_str(&env, "sp:r:15m:agent=a1:1795342500", "csat_smoothed", v, sizeof v);
    cr_expect_str_eq(v, "0.3056", "after the other writer's pass: (2 + 10 * 2/12) / 12");
    char buf[256];
    snprintf(buf, sizeof buf, "{\"id\":\"c1\",\"type\":\"call.offered\",\"ts\":%lld,"
             "\"call_id\":\"K1\",\"queue\":\"payments\"}", BASE + 4000);
    cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK);
    snprintf(buf, sizeof buf, "{\"id\":\"c2\",\"type\":\"call.answered\",\"ts\":%lld,"
             "\"call_id\":\"K1\",\"agent_id\":\"a1\"}", BASE + 5000);
    cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK);
    flush(pub1, 0, p, 2); /* pub1 still thinks the desk is 2 of 2 */
    expect_field("sp:r:15m:agent=a1:1795342500", "answered", "1");
    sp_hget_str(&env, "sp:r:15m:agent=a1:1795342500", "csat_smoothed", v, sizeof v);
    cr_expect_str_eq(v, "0.3056", "after the stale writer's rewrite");
    sp_partition_destroy(p);
    sp_partition_destroy(q);
    sp_publisher_destroy(pub1);
    sp_publisher_destroy(pub2);
}

/* Another writer marks the windows again while a smoothing pass runs (between its read
 * of {p}:csat_due and its clearing of them): the marks stay, so the next pass takes
 * those windows again; with nothing new, the next pass clears them. */
static int remark_armed;
static void remark_once(void *arg)
{
    (void)arg;
    if (!remark_armed)
        return;
    remark_armed = 0;
    redisReply *all = sp_env_cmd(&env, "HKEYS sp:csat_due"); /* the test's own client */
    for (size_t i = 0; i < all->elements; i++)
        freeReplyObject(sp_env_cmd(&env, "HINCRBY sp:csat_due %s 1", all->element[i]->str));
    freeReplyObject(all);
}

BOTH(a_window_marked_again_during_a_pass_stays_due)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    agent_csat(p, "a1", 5, BASE + 1000);
    agent_csat(p, "a2", 1, BASE + 2000);
    flush(pub, 0, p, 1); /* smooth_every_ms 0: smoothed, marks cleared */
    /* a writer's mark of the desk's 15-minute window: "<res>\t<desk>\t<start>" */
    redisReply *r = sp_env_cmd(&env, "HINCRBY sp:csat_due %d\tall\t%lld 1", 2, BASE / 1000 / 900 * 900);
    freeReplyObject(r);
    r = sp_env_cmd(&env, "HLEN sp:csat_due");
    long long due = r->integer;
    freeReplyObject(r);
    cr_assert_eq(due, 1);
    char err[256];
    remark_armed = 1;
    sp_redis_on_reply(sp_publisher_redis(pub), remark_once, NULL, 0);
    cr_assert_eq(sp_publisher_smooth(pub, 1, err, sizeof err), 0, "%s", err);
    sp_redis_on_reply(sp_publisher_redis(pub), NULL, NULL, 0);
    r = sp_env_cmd(&env, "HLEN sp:csat_due");
    cr_expect_eq(r->integer, due, "marked again during the pass: still due");
    freeReplyObject(r);
    cr_assert_eq(sp_publisher_smooth(pub, 1, err, sizeof err), 0, "%s", err);
    r = sp_env_cmd(&env, "HLEN sp:csat_due");
    cr_expect_eq(r->integer, 0, "a pass with nothing new clears them");
    freeReplyObject(r);
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* A CSAT for queue payments with the given score. */
static void queue_csat(sp_partition *p, int score, long long ts) { agent_csat(p, "a3", score, ts); }

BOTH(live_hash_dissatisfaction_over_the_last_hour)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    queue_csat(p, 1, BASE - 70 * 60000); /* more than an hour before: not counted */
    queue_csat(p, 2, BASE - 50 * 60000);
    queue_csat(p, 5, BASE - 20 * 60000);
    queue_csat(p, 4, BASE - 60000);
    queue_csat(p, 1, BASE + 10000);
    flush(pub, 0, p, 1);
    expect_field("sp:live:queue=payments", "dissatisfied_1h", "0.5000"); /* 2 of the last 4 */
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "csat_responses_1h", -1), 4);
    expect_field("sp:live:queue=payments", "csat_15m", "0.5000"); /* a 4 and a 1 */
    expect_field("sp:live:queue=payments", "csat_today", "0.4000"); /* today (UTC): 2 of 5 */
    expect_field("sp:live:all", "dissatisfied_1h", "0.5000");
    expect_field("sp:r:1m:queue=payments:1795342500", "dissatisfied", "1.0000");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* The message counts in {p}:meta travel with each partition's resume point: a replay
 * after a crash (the same counts flushed again from the restored ones) adds nothing,
 * and partitions add up. */
BOTH(meta_counts_are_exactly_once)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    uint64_t counts[SP_PC__COUNT] = {0};
    counts[SP_PC_CONSUMED] = 5;
    counts[SP_PC_APPLIED] = 4;
    counts[SP_PC_REJECTED + SP_REJ_INVALID_JSON] = 1;
    apply(p, OFFER, BASE + 1000);
    flush_part(pub, 0, p, 5, counts, 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", -1), 5);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "applied", -1), 4);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "rejected:invalid_json", -1), 1);
    /* a crash after 3 more messages, before their flush: the next owner restores 5 and
     * counts the 3 again, ending at 8 -- not 11 */
    sp_partition *q = partition();
    int64_t next;
    uint64_t restored[SP_PC__COUNT];
    char err[512];
    cr_assert_eq(sp_publisher_restore(pub, 0, q, &cps[0], &next, restored, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(restored[SP_PC_CONSUMED], 5);
    cr_expect_eq(restored[SP_PC_APPLIED], 4);
    cr_expect_eq(restored[SP_PC_REJECTED + SP_REJ_INVALID_JSON], 1);
    restored[SP_PC_CONSUMED] += 3;
    restored[SP_PC_DUPLICATES] += 3;
    apply(q, OFFER, BASE + 2000);
    flush_part(pub, 0, q, 8, restored, 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", -1), 8);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "duplicates", -1), 3);
    /* another partition adds its own */
    sp_partition *other = partition();
    uint64_t oc[SP_PC__COUNT] = {0};
    oc[SP_PC_CONSUMED] = 2;
    apply(other, OFFER, BASE + 3000);
    flush_part(pub, 1, other, 2, oc, 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", -1), 10);
    char v[128];
    cr_assert(sp_hget_str(&env, "sp:meta", "resume:t:1", v, sizeof v));
    cr_expect_eq(strtoll(v, NULL, 10), 2);
    sp_partition_destroy(p);
    sp_partition_destroy(q);
    sp_partition_destroy(other);
    sp_publisher_destroy(pub);
}

/* ---- the bound on each call, and the HSET fallback ---------------------------------------- */

/* Every key of a prefix's rollups, with its fields, sorted: "key field value" lines. */
static char *rollups_text(const char *prefix)
{
    char *d = sp_dump_prefix(&env, prefix);
    char *out = malloc(strlen(d) + 1), *w = out;
    for (char *save = NULL, *line = strtok_r(d, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, "r:", 2) == 0 && !strstr(line, " updated_at "))
            w += sprintf(w, "%s\n", line);
    *w = '\0';
    free(d);
    return out;
}

BOTH(a_flush_is_sent_as_calls_of_at_most_the_bound)
{
    max_call = 7;
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    /* 20 minutes of calls in 7 queues: 7 x 20 one-minute cells a dims class */
    static const char *const queues[] = {"payments", "account", "security", "refunds",
                                         "technical", "feedback", "cards"};
    unsigned call = 0;
    for (int m = 0; m < 20; m++)
        for (int q = 0; q < 7; q++, call++) {
            char buf[256];
            snprintf(buf, sizeof buf, "{\"id\":\"b%u\",\"type\":\"call.offered\",\"ts\":%lld,"
                     "\"call_id\":\"B%u\",\"queue\":\"%s\"}", call, BASE + m * 60000LL, call, queues[q]);
            cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK);
        }
    flush(pub, 0, p, call);
    const sp_rollups_stats *st = &sp_publisher_get_stats(pub)->rollups;
    cr_expect_leq(st->max_call, 7, "no call carries more than the bound: %llu",
                  (unsigned long long)st->max_call);
    cr_expect_geq(st->calls * 7, st->writes, "%llu writes in %llu calls",
                  (unsigned long long)st->writes, (unsigned long long)st->calls);
    if (!sp_redis_is_cluster(sp_publisher_redis(pub))) /* a cluster cuts calls by slot too */
        cr_expect_eq(st->calls, (st->writes + 6) / 7, "full calls on one Redis");
    cr_expect_gt(st->writes, 400);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1h:all:1795341600", "offered", -1), 7 * 20);
    max_call = 200;
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

Test(publisher, hset_writes_the_same_rollups_as_restore, .init = setup, .fini = teardown)
{
    char *text[2];
    for (int mode = 0; mode < 2; mode++) {
        sp_publisher *pub = publisher();
        if (mode)
            sp_publisher_force_hset(pub);
        sp_partition *p = partition();
        for (unsigned c = 0; c < 60; c++) {
            answered_call(p, c, BASE + c * 20000LL, 500 + c * 997);
            agent_csat(p, c % 3 ? "a1" : "a2", 1 + (int)(c % 5), BASE + c * 20000LL + 5000);
        }
        flush(pub, 0, p, 1);
        char err[256];
        cr_assert_eq(sp_publisher_smooth(pub, 1, err, sizeof err), 0, "%s", err);
        cr_expect_eq(sp_publisher_get_stats(pub)->rollups.hset_mode, (uint64_t)mode);
        text[mode] = rollups_text("sp");
        sp_partition_destroy(p);
        sp_publisher_destroy(pub);
        sp_env_stop(&env);
        memset(cps, 0, sizeof cps);
        sp_env_start(&env, "t", 1);
    }
    cr_expect_gt(strlen(text[0]), 1000);
    cr_expect_str_eq(text[1], text[0], "HSET and RESTORE write the same rollups");
    free(text[0]);
    free(text[1]);
}

/* ---- the desk's day (time_zone, tenant_time_zones) ------------------------------------ */

static sp_publisher *publisher_in(const sp_zones *zones)
{
    sp_publisher_conf c = {.address = env.address,
                           .prefix = "sp",
                           .topic = "t",
                           .ttl_s = {172800, 604800, 3024000, 34560000, 0},
                           .connect_timeout_ms = 2000,
                           .command_timeout_ms = 5000,
                           .lateness_ms = 120000,
                           .retention_ms = 3600000,
                           .max_call = max_call,
                           .resolutions = SP_RES_BY_DIMS_DEFAULT,
                           .zones = zones};
    char err[256];
    sp_publisher *p = sp_publisher_new(&c, err, sizeof err);
    cr_assert(p, "%s", err);
    return p;
}

static long long at_utc(int y, int m, int d, int hh, int mm)
{
    return (long long)(sp_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60);
}

static void ticket_at(sp_partition *p, const char *tenant, long long s)
{
    static unsigned n;
    sp_test_event(p, "\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"T%u\","
                     "\"queue\":\"q\",\"channel\":\"email\",\"tenant\":\"%s\"", s * 1000, ++n, tenant);
}

static long long day_count(const char *dims, long long start)
{
    char key[256];
    snprintf(key, sizeof key, "sp:r:1d:%s:%lld", dims, start);
    return sp_hget_ll(&env, key, "created", -1);
}

/* 1d rollups start at local midnight: +08:00 (the default zone), Europe/Berlin across its
 * 25-hour day (last Sunday of October), +05:30; finer windows stay epoch-aligned. */
Test(publisher, days_start_at_the_desks_midnight, .init = setup, .fini = teardown)
{
    char err[256];
    sp_zones *z = sp_zones_new("Asia/Shanghai", "t1=Europe/Berlin,t2=Asia/Kolkata", err, sizeof err);
    cr_assert(z, "%s", err);
    sp_publisher *pub = publisher_in(z);
    sp_partition *p = partition();
    /* Berlin, 2026-10-25: 00:30 CEST and 23:30 CET are one 25-hour day; 00:10 the next */
    ticket_at(p, "t1", at_utc(2026, 10, 24, 22, 30));
    ticket_at(p, "t1", at_utc(2026, 10, 25, 22, 30));
    ticket_at(p, "t1", at_utc(2026, 10, 25, 23, 10));
    flush(pub, 0, p, 3);
    cr_expect_eq(day_count("tenant=t1", at_utc(2026, 10, 24, 22, 0)), 2);
    cr_expect_eq(day_count("tenant=t1", at_utc(2026, 10, 25, 23, 0)), 1);
    cr_expect_eq(day_count("tenant=t1", at_utc(2026, 10, 25, 0, 0)), -1, "no UTC day");
    /* the desk (no tenant) in Shanghai: 23:59 and 00:01 local are two days */
    ticket_at(p, "default", at_utc(2026, 11, 22, 15, 59));
    ticket_at(p, "default", at_utc(2026, 11, 22, 16, 1));
    /* Kolkata, +05:30: midnight is 18:30 UTC */
    ticket_at(p, "t2", at_utc(2026, 11, 22, 18, 29));
    ticket_at(p, "t2", at_utc(2026, 11, 22, 18, 31));
    flush(pub, 0, p, 7);
    cr_expect_eq(day_count("all", at_utc(2026, 11, 21, 16, 0)), 1);
    cr_expect_eq(day_count("all", at_utc(2026, 11, 22, 16, 0)), 3, "00:01 local, and t2's two");
    cr_expect_eq(day_count("tenant=t2", at_utc(2026, 11, 21, 18, 30)), 1);
    cr_expect_eq(day_count("tenant=t2", at_utc(2026, 11, 22, 18, 30)), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1h:all:1795359600", "created", -1), 1,
                 "hours stay on the hour: 2026-11-22T15:00Z");
    redisReply *r = sp_env_cmd(&env, "ZSCORE sp:ts:1d:tenant=t2 %lld", at_utc(2026, 11, 22, 18, 30));
    cr_expect(r && r->type == REDIS_REPLY_STRING, "the index holds the local day's start");
    freeReplyObject(r);
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
    sp_zones_free(z);
}

/* "_today" in the live hash is the desk's local day: a +08:00 desk's resets at its
 * midnight (16:00 UTC), not at 08:00 local. */
Test(publisher, today_resets_at_the_desks_midnight, .init = setup, .fini = teardown)
{
    char err[256];
    sp_zones *z = sp_zones_new("Asia/Shanghai", "", err, sizeof err);
    cr_assert(z, "%s", err);
    sp_publisher *pub = publisher_in(z);
    sp_partition *p = partition();
    const struct { const char *type, *call; long long s; } evs[] = {
        {"call.offered", "K1", at_utc(2026, 11, 22, 15, 50)},
        {"call.answered", "K1", at_utc(2026, 11, 22, 15, 50) + 10},  /* in SL, yesterday local */
        {"call.offered", "K2", at_utc(2026, 11, 22, 16, 1)},
        {"call.answered", "K2", at_utc(2026, 11, 22, 16, 1) + 30},   /* missed, today local */
    };
    for (unsigned i = 0; i < 4; i++)
        sp_test_event(p, "\"type\":\"%s\",\"ts\":%lld,\"call_id\":\"%s\",\"queue\":\"payments\","
                         "\"agent_id\":\"a\"", evs[i].type, evs[i].s * 1000, evs[i].call);
    flush(pub, 0, p, 4);
    char got[64];
    cr_assert(sp_hget_str(&env, "sp:live:all", "service_level_today", got, sizeof got));
    cr_expect_str_eq(got, "0.0000", "only K2 is today in Shanghai (a UTC day would say 0.5000)");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
    sp_zones_free(z);
}
