/*
 * test_publisher.c - the Redis contract (shared/spec/redis.md) against a real
 * redis-server: rollup hashes at every resolution, the index, ratios, PUBLISH, and the
 * delta merge: re-sending a partial adds zero, partitions add up, state restores.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/redis_publisher.h"
#include "supportpulse/sketch.h"

#define BASE 1795342500000LL /* 2026-11-22T10:15:00Z */

static sp_env env;

static void setup(void) { sp_env_start(&env, "t", 1); }
static void teardown(void) { sp_env_stop(&env); }

/* A publisher whose 1m and 5m rollups live ttl_1m and ttl_5m seconds. */
static sp_publisher *publisher_ttl(int64_t ttl_1m, int64_t ttl_5m)
{
    sp_publisher_conf c = {.address = env.redis.address,
                           .prefix = "sp",
                           .ttl_s = {ttl_1m, ttl_5m, 3024000, 34560000, 0},
                           .connect_timeout_ms = 1000,
                           .command_timeout_ms = 1000,
                           .lateness_ms = 120000,
                           .retention_ms = 3600000,
                           .csat_prior_weight = 10};
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

static int64_t seqs[8];

static void flush(sp_publisher *pub, int partition_no, sp_partition *p, long long next_offset)
{
    char err[512];
    int32_t stale;
    sp_flush_part fp = {partition_no, p, next_offset, &seqs[partition_no], NULL};
    cr_assert_eq(sp_publisher_flush(pub, "t", &fp, 1, &stale, err, sizeof err), 0, "%s", err);
    sp_partition_published(p, INT64_MIN);
}

static void redirty(sp_partition *p)
{
    sp_window_set *ws = sp_partition_windows(p);
    for (size_t i = 0; i < ws->n; i++)
        for (size_t j = 0; j < ws->w[i].ncells; j++)
            sp_window_cell(&ws->w[i], ws->w[i].cells[j].dims_id);
}

Test(publisher, rollups_at_every_resolution, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    apply(p, OFFER, BASE + 1000);
    apply(p, OFFER, BASE + 61000); /* next minute, same 5m window */
    apply(p, CSAT5, BASE + 62000);
    apply(p, CSAT2, BASE + 63000);
    flush(pub, 0, p, 4);
    long long s = BASE / 1000;
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342560", "offered", -1), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:5m:all:1795342500", "offered", -1), 2, "5m = sum of its 1m");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:15m:all:1795342500", "offered", -1), 2);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1h:all:1795341600", "offered", -1), 2, "1h starts at 10:00");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1d:all:1795305600", "offered", -1), 2, "1d starts at UTC midnight");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:queue=payments|channel=phone:1795342500", "offered", -1), 1);
    char v[64];
    cr_assert(sp_hget_str(&env, "sp:r:5m:all:1795342500", "csat", v, sizeof v));
    cr_expect_str_eq(v, "0.5");
    cr_assert(sp_hget_str(&env, "sp:r:5m:all:1795342500", "csat_avg", v, sizeof v));
    cr_expect_str_eq(v, "3.5");
    cr_expect_eq(sp_hget_str(&env, "sp:r:5m:all:1795342500", "nps", v, sizeof v), 0,
                 "no NPS responses: nps is absent, not 0");
    cr_expect_gt(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "updated_at", 0), 1700000000000LL);
    cr_expect_eq(sp_zcard(&env, "sp:ts:1m:all"), 2);
    cr_expect_eq(sp_zcard(&env, "sp:ts:1d:all"), 1);
    redisReply *r = redisCommand(env.rc, "TTL sp:r:1m:all:%lld", s);
    cr_expect(r->integer > 172000 && r->integer <= 172800, "1m rollups live 2 days");
    freeReplyObject(r);
    r = redisCommand(env.rc, "TTL sp:r:1d:all:1795305600");
    cr_expect_eq(r->integer, -1, "1d rollups are kept");
    freeReplyObject(r);
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* Calls of one command (lower case) since the last CONFIG RESETSTAT, from INFO commandstats. */
static long command_calls(const char *name)
{
    char tag[64];
    snprintf(tag, sizeof tag, "cmdstat_%s:calls=", name);
    redisReply *r = redisCommand(env.rc, "INFO commandstats");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    const char *at = strstr(r->str, tag);
    long n = at ? atol(at + strlen(tag)) : 0;
    freeReplyObject(r);
    return n;
}

/* The integer reply of a one-key command ("TTL", "EXISTS") on key. */
static long long key_integer(const char *command, const char *key)
{
    redisReply *r = redisCommand(env.rc, "%s %s", command, key);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "%s %s", command, key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

static long long ttl_of(const char *key) { return key_integer("TTL", key); }
static long long key_exists(const char *key) { return key_integer("EXISTS", key); }

/* A catch-up flush creates many windows of one series: its index gets them all with one
 * ZADD, is trimmed once to the windows within the TTL of the newest, and gets the TTL. */
Test(publisher, a_flush_keeps_each_series_index_once, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher_ttl(600, 1200);
    sp_partition *p = partition();
    for (int m = 0; m < 30; m++) /* 10:15 .. 10:44, one offer a minute */
        apply(p, OFFER, BASE + m * 60000LL);
    redisReply *cs = redisCommand(env.rc, "CONFIG RESETSTAT");
    freeReplyObject(cs);
    flush(pub, 0, p, 30);
    long long newest = BASE / 1000 + 29 * 60;
    cr_expect_eq(sp_zcard(&env, "sp:ts:1m:all"), 11, "10:34 .. 10:44: within 600 s of 10:44");
    cr_expect_eq(sp_zcard(&env, "sp:ts:5m:all"), 5, "10:20 .. 10:40: within 1200 s of 10:40");
    cr_expect_eq(sp_zcard(&env, "sp:ts:15m:queue=payments"), 2);
    cr_expect_eq(sp_zcard(&env, "sp:ts:1d:all"), 1);
    redisReply *r = redisCommand(env.rc, "ZRANGE sp:ts:1m:all 0 0");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    cr_expect_eq(atoll(r->element[0]->str), newest - 600);
    freeReplyObject(r);
    long long t = ttl_of("sp:ts:1m:all");
    cr_expect(t > 590 && t <= 600, "the index lives as long as its rollups: %lld", t);
    t = ttl_of("sp:r:1m:all:1795344240");
    cr_expect(t > 590 && t <= 600, "each new rollup gets its TTL: %lld", t);
    cr_expect_eq(ttl_of("sp:ts:1d:all"), -1, "1d is kept");
    /* 4 dims sets (all, queue, channel, queue|channel): one ZADD per series index (x 5
     * resolutions) and one per partial window (30); one trim per index with a TTL (x 4) */
    cr_expect_eq(command_calls("zadd"), 4 * 5 + 30);
    cr_expect_eq(command_calls("zremrangebyscore"), 4 * 4);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:5m:all:1795344000", "offered", -1), 5, "10:40 .. 10:44");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

Test(publisher, resending_a_partial_adds_zero_and_partitions_add_up, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *p0 = partition(), *p1 = partition();
    apply(p0, OFFER, BASE + 1000);
    apply(p0, OFFER, BASE + 2000);
    apply(p1, OFFER, BASE + 3000);
    flush(pub, 0, p0, 2);
    flush(pub, 1, p1, 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 3);
    redirty(p0);
    flush(pub, 0, p0, 2); /* the same partial again: no change */
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 3);
    /* a flush applied whose reply was lost is sent again with the old number */
    apply(p0, OFFER, BASE + 5000);
    int64_t before = seqs[0];
    flush(pub, 0, p0, 3);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 4);
    redirty(p0);
    ((sp_window_set *)sp_partition_windows(p0))->w[0].cells[0].pub.v[SP_M_OFFERED] -= 1;
    seqs[0] = before;
    flush(pub, 0, p0, 3);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 4,
                 "recognised as applied: not counted twice");
    cr_expect_eq(seqs[0], before + 1);
    /* a writer that lost the partition is refused */
    char err[512];
    int32_t stale = -1;
    int64_t old = before - 1;
    apply(p0, OFFER, BASE + 6000);
    apply(p1, OFFER, BASE + 6000);
    sp_flush_part both[2] = {{1, p1, 3, &seqs[1], NULL}, {0, p0, 9, &old, NULL}};
    int64_t seq1 = seqs[1];
    redisReply *cv = redisCommand(env.rc, "HVALS sp:cases:t:0");
    cr_assert(cv && cv->type == REDIS_REPLY_ARRAY && cv->elements == 1);
    char case_before[256];
    snprintf(case_before, sizeof case_before, "%s", cv->element[0]->str);
    freeReplyObject(cv);
    cr_expect_eq(sp_publisher_flush(pub, "t", both, 2, &stale, err, sizeof err), -1);
    cr_expect_eq(stale, 0, "names the partition: %s", err);
    cr_expect_eq(seqs[1], seq1, "nothing was written, not even the good partition");
    cv = redisCommand(env.rc, "HVALS sp:cases:t:0");
    cr_expect_str_eq(cv->element[0]->str, case_before, "a refused writer leaves the cases alone");
    freeReplyObject(cv);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 4);
    sp_partition_published(p0, INT64_MIN);
    /* two partitions in one flush: their changes are summed into one total */
    redisReply *cs = redisCommand(env.rc, "CONFIG RESETSTAT");
    freeReplyObject(cs);
    sp_flush_part pair[2] = {{0, p0, 10, &seqs[0], NULL}, {1, p1, 3, &seqs[1], NULL}};
    apply(p0, OFFER, BASE + 7000);
    cr_assert_eq(sp_publisher_flush(pub, "t", pair, 2, &stale, err, sizeof err), 0, "%s", err);
    sp_partition_published(p0, INT64_MIN);
    sp_partition_published(p1, INT64_MIN);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 6);
    /* one total per key, not one per partition: one HMGET (counts, ratio inputs and
     * updated_at, which tells a new rollup) for each of the 4 dims sets x 5 resolutions,
     * whatever the number of changed fields; the 4 live hashes read 32 rollups each
     * (15 one-minute panes, the day, and 16 rollups for the last hour); HINCRBY only for
     * in_queue and backlog of the live hashes */
    cr_expect_eq(command_calls("hmget"), 4 * 5 + 4 * 32);
    cr_expect_eq(command_calls("exists"), 0);
    cr_expect_eq(command_calls("hincrby"), 8);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:all", "in_queue", -1), 2,
                 "call C1 waits on each partition (its repeated offers are one call)");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1d:all:1795305600", "offered", -1), 6);
    apply(p1, OFFER, BASE + 4000);
    flush(pub, 1, p1, 4);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 7);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1h:all:1795341600", "offered", -1), 7);
    sp_partition_destroy(p0);
    sp_partition_destroy(p1);
    sp_publisher_destroy(pub);
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

/* The wait percentiles of a rollup are those of the sketch of every wait. */
static void expect_percentiles(const char *key, sp_sketch *all)
{
    static const char *const q[3] = {"wait_ms_p50", "wait_ms_p90", "wait_ms_p99"};
    static const double qv[3] = {0.5, 0.9, 0.99};
    for (int i = 0; i < 3; i++)
        cr_expect_eq(sp_hget_ll(&env, key, q[i], -1), sp_sketch_quantile(all, qv[i]), "%s %s",
                     key, q[i]);
}

/* The sketch hashes and percentiles of the coarse rollups after several flushes from two
 * partitions: the script adds each flush's bucket changes to what Redis holds, so the
 * buckets are those of every wait and the percentiles are the sketch's of all of them. */
Test(publisher, sketches_add_up_over_flushes_and_partitions, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *part[2] = {partition(), partition()};
    sp_sketch all;
    sp_sketch_init(&all);
    static uint32_t expect[65536];
    memset(expect, 0, sizeof expect);
    long long sum = 0, next[2] = {1, 1};
    unsigned call = 0;
    redisReply *cs = redisCommand(env.rc, "CONFIG RESETSTAT");
    freeReplyObject(cs);
    for (int round = 0; round < 6; round++) { /* six flushes, alternating partitions; each
                                                * spans four 1-minute cells */
        int k = round % 2;
        for (int i = 0; i < 40; i++, call++) {
            long long wait = 300 + (long long)(call * call * 7919u % 600000u); /* 0.3 s .. 10 min */
            answered_call(part[k], call, BASE + round * 240000LL + i * 6000, wait);
            cr_assert_eq(sp_sketch_add(&all, wait), 0);
            expect[sp_sketch_index(wait)]++;
            sum += wait;
        }
        next[k] += 80;
        flush(pub, k, part[k], next[k]);
        if (round == 0) { /* the hashes were created by this flush: a new rollup's
                           * sketches are the writer's, no version is read (the two
                           * HGETs are the partition's fence and resume point) */
            cr_expect_eq(command_calls("hget"), 2);
            cr_expect_eq(command_calls("hgetall"), 0);
            expect_percentiles("sp:r:1h:all:1795341600", &all);
            cr_expect_eq(ttl_of("sp:sk:1h:all:1795341600"), ttl_of("sp:r:1h:all:1795341600"));
            cr_expect_eq(ttl_of("sp:sk:1d:all:1795305600"), -1, "kept, as the 1d rollup");
        }
    }
    const char *sk = "sp:sk:1h:all:1795341600";
    redisReply *r = redisCommand(env.rc, "HGETALL %s", sk);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements > 2);
    long long total = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (strcmp(r->element[i]->str, "v") == 0)
            continue; /* the version */
        int idx = atoi(r->element[i]->str); /* wait_ms: duration 0, the field is the bucket */
        cr_assert(idx < SP_SKETCH_NBUCKETS, "%s", r->element[i]->str);
        long long n = atoll(r->element[i + 1]->str);
        cr_expect_eq(n, expect[idx], "bucket %d: %lld in Redis, %u waits", idx, n, expect[idx]);
        expect[idx] = 0;
        total += n;
    }
    freeReplyObject(r);
    for (int i = 0; i < 65536; i++)
        cr_expect_eq(expect[i], 0, "bucket %d missing from %s", i, sk);
    cr_expect_eq(total, call);
    const char *key[2] = {"sp:r:1h:all:1795341600", "sp:r:1d:all:1795305600"};
    for (int k = 0; k < 2; k++) {
        cr_expect_eq(sp_hget_ll(&env, key[k], "wait_ms_count", -1), call);
        cr_expect_eq(sp_hget_ll(&env, key[k], "wait_ms_sum", -1), sum);
        expect_percentiles(key[k], &all);
    }
    sp_sketch_free(&all);
    sp_partition_destroy(part[0]);
    sp_partition_destroy(part[1]);
    sp_publisher_destroy(pub);
}

/* Every wait_ms bucket of a rollup's sketch hash in Redis equals the reference's, no
 * other is there, and the hash has a version. */
static void expect_sketch_hash(const char *sk, const sp_sketch *ref)
{
    redisReply *r = redisCommand(env.rc, "HGETALL %s", sk);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    uint64_t total = 0;
    int versions = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str;
        if (strcmp(f, "v") == 0) {
            versions++;
            continue;
        }
        int idx = atoi(f); /* wait_ms: duration 0, the field is the bucket */
        cr_assert(idx < SP_SKETCH_NBUCKETS, "%s: field %s", sk, f);
        long long n = atoll(r->element[i + 1]->str);
        cr_expect_eq(n, (long long)sp_sketch_get(ref, (uint16_t)idx), "%s bucket %d", sk, idx);
        total += (uint64_t)n;
    }
    cr_expect_eq(versions, 1, "%s has its version", sk);
    cr_expect_eq(total, sp_sketch_count(ref), "%s: %zu fields", sk, r->elements / 2);
    freeReplyObject(r);
}

/* The writer's copy of its sketches (sketch_cache.h) is trusted only while nobody else
 * wrote the rollup: two writers (two instances, each with its own partition) write the
 * same hour and day in turns, one restarts, one retries a flush that had been applied.
 * After every flush the hour's and the day's buckets and percentiles are those of every
 * wait so far, and the counters show which path each flush took. */
/* Twelve answered calls on partition w, 9 s apart from t0, with the given waits (added
 * to the reference too), then a flush of it by pub. */
static void twelve_calls_flushed(sp_publisher *pub, int w, sp_partition *p, long long *next,
                                 unsigned *call, sp_sketch *all, long long t0,
                                 const long long *waits)
{
    for (int i = 0; i < 12; i++, (*call)++) {
        answered_call(p, *call, t0 + i * 9000, waits[i]);
        cr_assert_eq(sp_sketch_add(all, waits[i]), 0);
    }
    *next += 24;
    flush(pub, w, p, *next);
}

/* The hour's and the day's wait sketches and percentiles are the reference's. */
static void expect_hour_and_day(sp_sketch *all)
{
    const char *hour_day[2] = {"sp:r:1h:all:1795341600", "sp:r:1d:all:1795305600"};
    const char *sk[2] = {"sp:sk:1h:all:1795341600", "sp:sk:1d:all:1795305600"};
    for (int k = 0; k < 2; k++) {
        expect_sketch_hash(sk[k], all);
        expect_percentiles(hour_day[k], all);
    }
}

Test(publisher, sketch_copies_are_trusted_only_while_nobody_else_wrote, .init = setup,
     .fini = teardown)
{
    sp_publisher *pub[2] = {publisher(), publisher()};
    sp_partition *part[2] = {partition(), partition()};
    sp_sketch all;
    sp_sketch_init(&all);
    long long next[2] = {1, 1};
    unsigned call = 0;
    static const int who[] = {0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0};
    long long waits[12];
    uint64_t misses_before = 0;
    for (size_t round = 0; round < sizeof who / sizeof *who; round++) {
        int w = who[round];
        for (unsigned i = 0, c = call; i < 12; i++, c++)
            waits[i] = 200 + (long long)(c * c * 7919u % 900000u);
        twelve_calls_flushed(pub[w], w, part[w], &next[w], &call, &all,
                             BASE + (long long)(round % 8) * 240000LL, waits);
        expect_hour_and_day(&all);
        const sp_publisher_stats *st = sp_publisher_get_stats(pub[0]);
        if (round < 2) /* writer 0 alone: its copies hold, new rollups included */
            cr_expect_eq(st->sketch_misses, 0, "round %zu", round);
        if (round == 1)
            cr_expect_gt(st->sketch_copies, 0);
        if (round == 3) { /* writer 1 wrote the hour and the day in between */
            cr_expect_gt(st->sketch_misses, 0);
            cr_expect_eq(st->sketch_reloads, st->sketch_misses);
            misses_before = st->sketch_misses;
        }
        if (round == 4) /* the copies read back after round 3 hold */
            cr_expect_eq(st->sketch_misses, misses_before);
    }
    const sp_publisher_stats *a = sp_publisher_get_stats(pub[0]);
    cr_expect_gt(a->sketch_copies, 0);
    cr_expect_gt(a->sketch_reloads, 0, "a miss reads the copy back");
    cr_expect_gt(a->sketch_shared, 0, "three close misses: the hour is written by two writers");
    cr_expect_eq(a->sketch_clears, 0);

    /* a restarted writer has no copies: its first flush is merged by the script */
    sp_publisher_destroy(pub[0]);
    pub[0] = publisher();
    for (int i = 0; i < 12; i++)
        waits[i] = 5000 + 977LL * i;
    twelve_calls_flushed(pub[0], 0, part[0], &next[0], &call, &all, BASE + 60000, waits);
    cr_expect_gt(sp_publisher_get_stats(pub[0])->sketch_misses, 0);
    cr_expect_gt(sp_publisher_get_stats(pub[0])->sketch_reloads, 0);
    expect_hour_and_day(&all);

    /* a retried flush that Redis had applied (its reply lost) drops every copy */
    seqs[0]--;
    flush(pub[0], 0, part[0], next[0]);
    cr_expect_eq(sp_publisher_get_stats(pub[0])->sketch_clears, 1);
    for (int i = 0; i < 12; i++)
        waits[i] = 70000 + 1313LL * i;
    twelve_calls_flushed(pub[0], 0, part[0], &next[0], &call, &all, BASE + 120000, waits);
    expect_hour_and_day(&all);
    sp_sketch_free(&all);
    for (int w = 0; w < 2; w++) {
        sp_partition_destroy(part[w]);
        sp_publisher_destroy(pub[w]);
    }
}

/* A rollup that exists without sketches (its first events had no duration) gets its
 * first durations from a writer with no copy: nothing is stored, so the writer's counts
 * are all there is. The script writes them without merging, names nothing for a
 * reload, and the hash is right. */
Test(publisher, first_durations_of_an_existing_rollup_need_no_reload, .init = setup,
     .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    char buf[256];
    for (unsigned c = 0; c < 5; c++) { /* offers only: counts, no duration */
        snprintf(buf, sizeof buf, "{\"id\":\"k%u\",\"type\":\"call.offered\",\"ts\":%lld,"
                 "\"call_id\":\"K%u\",\"queue\":\"payments\"}", c, BASE + c * 1000LL, c);
        cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK, "%s", buf);
    }
    flush(pub, 0, p, 5);
    cr_assert_eq(key_exists("sp:r:1h:all:1795341600"), 1);
    cr_assert_eq(key_exists("sp:sk:1h:all:1795341600"), 0);
    sp_sketch all;
    sp_sketch_init(&all);
    for (unsigned c = 0; c < 5; c++) { /* the answers, in the same windows */
        long long wait = 2000 + 3000LL * c;
        snprintf(buf, sizeof buf, "{\"id\":\"a%u\",\"type\":\"call.answered\",\"ts\":%lld,"
                 "\"call_id\":\"K%u\",\"agent_id\":\"ann\"}", c, BASE + c * 1000LL + wait, c);
        cr_assert_eq(sp_test_apply(p, buf), SP_APPLY_OK, "%s", buf);
        cr_assert_eq(sp_sketch_add(&all, wait), 0);
    }
    flush(pub, 0, p, 10);
    const sp_publisher_stats *st = sp_publisher_get_stats(pub);
    cr_expect_gt(st->sketch_copies, 0);
    cr_expect_eq(st->sketch_misses, 0, "no rollup named for a reload");
    expect_hour_and_day(&all);
    long long sk_ttl = ttl_of("sp:sk:1h:all:1795341600");
    long long rollup_ttl = ttl_of("sp:r:1h:all:1795341600");
    cr_expect(sk_ttl > 0 && sk_ttl - rollup_ttl <= 2, "%lld vs %lld", sk_ttl, rollup_ttl);
    sp_sketch_free(&all);
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

extern const char sp_merge_lua[];

/* merge.lua numbers the durations of a sketch hash's fields as sp_duration does: its
 * list of names, in order, is the one metrics.h gives. */
Test(publisher, merge_script_numbers_durations_as_the_writer)
{
    char want[256] = "local DURATIONS = {";
    for (int d = 0; d < SP_D__COUNT; d++) {
        strcat(want, d ? ", '" : "'");
        strcat(want, sp_duration_name((sp_duration)d));
        strcat(want, "'");
    }
    strcat(want, "}");
    cr_expect(strstr(sp_merge_lua, want) != NULL, "merge.lua lacks %s", want);
}

/* Rewrites a rollup's sketch hash sk in the layout of earlier builds: one hash per
 * duration (<sk>:<duration>, field: bucket) and the version in sp:skv:<rest>, with the
 * TTL sk had. */
static void to_old_layout(const char *sk)
{
    char vk[128];
    snprintf(vk, sizeof vk, "sp:skv:%s", sk + strlen("sp:sk:"));
    long long ttl = ttl_of(sk);
    redisReply *r = redisCommand(env.rc, "HGETALL %s", sk);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements > 2);
    for (size_t i = 0; i + 1 < r->elements; i += 2) { /* wait_ms only: fields are buckets */
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        int version = strcmp(f, "v") == 0;
        cr_assert(version || atoi(f) < SP_SKETCH_NBUCKETS, "%s", f);
        redisReply *w = version ? redisCommand(env.rc, "SET %s %s", vk, v)
                                : redisCommand(env.rc, "HSET %s:wait_ms %s %s", sk, f, v);
        cr_assert(w && w->type != REDIS_REPLY_ERROR);
        freeReplyObject(w);
    }
    freeReplyObject(r);
    redisReply *d = redisCommand(env.rc, "DEL %s", sk);
    freeReplyObject(d);
    if (ttl > 0) {
        redisReply *e = redisCommand(env.rc, "EXPIRE %s:wait_ms %lld", sk, ttl);
        freeReplyObject(e);
        e = redisCommand(env.rc, "EXPIRE %s %lld", vk, ttl);
        freeReplyObject(e);
    }
}

/* Sketches written by an earlier build (a hash per duration and a version key) are
 * moved into the rollup's one hash by the first flush that touches the rollup: the
 * hour's and the day's buckets and percentiles are those of every wait, before and
 * after the upgrade, and the old keys are gone. */
Test(publisher, sketches_of_an_earlier_build_are_moved, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *part = partition();
    sp_sketch all;
    sp_sketch_init(&all);
    long long next = 1, waits[12];
    unsigned call = 0;
    for (int i = 0; i < 12; i++)
        waits[i] = 400 + 31337LL * i;
    twelve_calls_flushed(pub, 0, part, &next, &call, &all, BASE, waits);
    sp_publisher_destroy(pub); /* the upgrade: a new writer, no copies */
    const char *sk[2] = {"sp:sk:1h:all:1795341600", "sp:sk:1d:all:1795305600"};
    for (int k = 0; k < 2; k++)
        to_old_layout(sk[k]);
    cr_assert_eq(key_exists("sp:sk:1h:all:1795341600"), 0);
    pub = publisher();
    for (int i = 0; i < 12; i++)
        waits[i] = 900 + 20011LL * i;
    twelve_calls_flushed(pub, 0, part, &next, &call, &all, BASE + 240000, waits);
    expect_hour_and_day(&all);
    cr_expect_eq(key_exists("sp:sk:1h:all:1795341600:wait_ms"), 0, "old hash left");
    cr_expect_eq(key_exists("sp:skv:1h:all:1795341600"), 0, "old version left");
    cr_expect_eq(key_exists("sp:sk:1d:all:1795305600:wait_ms"), 0, "old hash left");
    long long rollup_ttl = ttl_of("sp:r:1h:all:1795341600"), sk_ttl = ttl_of(sk[0]);
    cr_expect(sk_ttl > 0 && sk_ttl >= rollup_ttl && sk_ttl - rollup_ttl <= 5,
              "the moved hash expires with its rollup (%lld vs %lld)", sk_ttl, rollup_ttl);
    cr_expect_eq(ttl_of(sk[1]), -1, "kept, as the 1d rollup");
    sp_sketch_free(&all);
    sp_partition_destroy(part);
    sp_publisher_destroy(pub);
}

Test(publisher, state_and_resume_point_restore, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    apply(p, OFFER, BASE + 1000);
    apply(p, OFFER, BASE + 2000);
    flush(pub, 0, p, 17);
    sp_partition_destroy(p);
    /* a restarted pipeline */
    sp_partition *q = partition();
    int64_t next = -1, seq = -1;
    char err[512];
    cr_assert_eq(sp_publisher_restore(pub, "t", 0, q, &next, &seq, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(seq, seqs[0], "the flush number comes back with the state");
    cr_expect_eq(next, 17, "resumes where Redis says");
    cr_expect_eq(sp_partition_max_ts(q), BASE + 2000);
    /* the case is remembered: an answer without queue still goes to payments */
    char buf[256];
    snprintf(buf, sizeof buf, "{\"id\":\"a1\",\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"C1\",\"agent_id\":\"x\"}", BASE + 3000);
    sp_event ev;
    sp_reject_reason r;
    cr_assert_eq(sp_event_decode(buf, strlen(buf), &ev, &r, err, sizeof err), 0);
    cr_assert_eq(sp_partition_apply(q, &ev, 0, &r, err, sizeof err), SP_APPLY_OK);
    apply(q, OFFER, BASE + 4000);
    flush(pub, 0, q, 19);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:all:1795342500", "offered", -1), 3,
                 "restored partial + new event, not just the new event");
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:queue=payments:1795342500", "answered", -1), 1);
    /* the event ids came back too: a repeat of one seen before the restart is dropped */
    snprintf(buf, sizeof buf, "{\"id\":\"o1\",\"type\":\"call.offered\",\"ts\":%lld,\"call_id\":\"C1\",\"queue\":\"payments\"}", BASE + 1000);
    cr_assert_eq(sp_event_decode(buf, strlen(buf), &ev, &r, err, sizeof err), 0);
    sp_partition *again = partition();
    cr_assert_eq(sp_publisher_restore(pub, "t", 0, again, &next, &seq, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_partition_apply(again, &ev, 0, &r, err, sizeof err), SP_APPLY_DUPLICATE,
                 "o1 was applied before the restarts");
    sp_partition_destroy(again);
    sp_partition *fresh = partition();
    cr_assert_eq(sp_publisher_restore(pub, "t", 5, fresh, &next, &seq, NULL, err, sizeof err), 0);
    cr_expect_eq(seq, 0);
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
    int got_1m = 0, n = 0;
    while (n < 20 && redisGetReply(sub, (void **)&r) == REDIS_OK) {
        n++;
        if (r->elements == 3 && strcmp(r->element[2]->str, "sp:r:1m:all:1795342500") == 0)
            got_1m = 1;
        freeReplyObject(r);
        if (got_1m)
            break;
    }
    cr_expect(got_1m, "PUBLISH sp:updates names the rollup key");
    redisFree(sub);
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

Test(publisher, unreachable_redis_is_an_error_not_a_crash)
{
    sp_publisher_conf c = {.address = "unix:/nonexistent/redis.sock",
                           .prefix = "sp",
                           .connect_timeout_ms = 200,
                           .command_timeout_ms = 200,
                           .lateness_ms = 120000,
                           .retention_ms = 3600000};
    char err[256];
    sp_publisher *pub = sp_publisher_new(&c, err, sizeof err);
    sp_partition *p = partition();
    apply(p, OFFER, BASE);
    int64_t seq = 0;
    int32_t stale;
    sp_flush_part fp = {0, p, 1, &seq, NULL};
    cr_expect_eq(sp_publisher_flush(pub, "t", &fp, 1, &stale, err, sizeof err), -1);
    cr_expect_eq(stale, -1);
    cr_expect(strstr(err, "/nonexistent/redis.sock") != NULL, "%s", err);
    cr_expect_eq(sp_window_dirty_cells(sp_partition_windows(p)), 4, "still dirty: retried later");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

#define TICKET "{\"id\":\"k%u\",\"type\":\"ticket.created\",\"ts\":%lld,\"ticket_id\":\"T1\",\"queue\":\"refunds\",\"channel\":\"email\"}"
#define ANSWER "{\"id\":\"a%u\",\"type\":\"call.answered\",\"ts\":%lld,\"call_id\":\"C1\",\"agent_id\":\"ann\"}"

Test(publisher, live_gauges_across_partitions, .init = setup, .fini = teardown)
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
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "oldest_wait_s", -1), 90,
                 "the waiting call's wait grows although its partition had no event");
    cr_expect_eq(sp_hget_ll(&env, "sp:live:all", "oldest_wait_s", -1), 90);
    /* answered: nobody waits any more */
    apply(p0, ANSWER, BASE + 95000);
    flush(pub, 0, p0, 2);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "in_queue", -1), 0);
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "oldest_wait_s", -1), 0);
    redisReply *r = redisCommand(env.rc, "SCARD sp:waiting");
    cr_expect_eq(r->integer, 0, "no dimension set is listed as waiting");
    freeReplyObject(r);
    char v[64];
    cr_assert(sp_hget_str(&env, "sp:live:queue=payments", "service_level_15m", v, sizeof v));
    cr_expect_str_eq(v, "0", "answered after 95 s: outside 20 s");
    cr_assert(sp_hget_str(&env, "sp:live:queue=payments", "asa_ms_avg_today", v, sizeof v));
    cr_expect_str_eq(v, "95000");
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

Test(publisher, a_survey_after_a_restart_finds_the_closed_case_in_redis, .init = setup,
     .fini = teardown)
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

    /* Redis holds it in the hash of the day of its last event, expiring with the horizon */
    char akey[128], field[32];
    long long day = (BASE + 21 * 60000) / 1000 / 86400 * 86400;
    snprintf(akey, sizeof akey, "sp:attr:t:0:%lld", day);
    snprintf(field, sizeof field, "%016llx", (unsigned long long)key);
    char v[128];
    cr_assert(sp_hget_str(&env, akey, field, v, sizeof v), "%s %s", akey, field);
    cr_expect(strstr(v, "\tpayments\t") && strstr(v, "\ta1\t"), "%s", v);
    redisReply *ttl = redisCommand(env.rc, "TTL %s", akey);
    /* 7 days after the end of that day, counted from the flush's newest event (the last
     * traffic, at BASE + 30 min + 7 * 6 h) */
    long long newest_s = (BASE + 30 * 60000 + 7 * 6 * 3600000LL) / 1000;
    long long want = day + 86400 + 7 * 86400 - newest_s;
    cr_expect(ttl->integer <= want && ttl->integer >= want - 5, "TTL %lld, want %lld",
              ttl->integer, want);
    freeReplyObject(ttl);

    /* a restarted pipeline restores it, and the survey goes where the ticket went */
    sp_partition *q = partition();
    int64_t next = -1, seq = -1;
    char err[512];
    cr_assert_eq(sp_publisher_restore(pub, "t", 0, q, &next, &seq, NULL, err, sizeof err), 0, "%s", err);
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

Test(publisher, agent_csat_smoothed_leans_toward_the_desk, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher(); /* prior weight m = 10 */
    sp_partition *p = partition();
    agent_csat(p, "a1", 5, BASE + 1000);
    agent_csat(p, "a1", 5, BASE + 2000);
    flush(pub, 0, p, 1);
    /* desk = a1 alone, 2 of 2: (2 + 10 * 1) / (2 + 10) = 1 */
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1m:agent=a1:1795342500", "csat_smoothed", -1), 1);
    /* a2: 4 fives and 4 ones, in a later flush: the desk is now 6 of 10 = 0.6 */
    for (int i = 0; i < 8; i++)
        agent_csat(p, "a2", i < 4 ? 5 : 1, BASE + 3000 + i);
    flush(pub, 0, p, 2);
    char v[64];
    cr_assert(sp_hget_str(&env, "sp:r:1m:agent=a1:1795342500", "csat_smoothed", v, sizeof v));
    cr_expect_str_eq(v, "0.666667", "(2 + 10 * 0.6) / (2 + 10): a1 is recomputed when the desk moves");
    cr_assert(sp_hget_str(&env, "sp:r:1m:agent=a1:1795342500", "csat", v, sizeof v));
    cr_expect_str_eq(v, "1", "the raw score stays beside it");
    cr_assert(sp_hget_str(&env, "sp:r:1m:agent=a2:1795342500", "csat_smoothed", v, sizeof v));
    cr_expect_str_eq(v, "0.555556", "(4 + 10 * 0.6) / (8 + 10)");
    cr_assert(sp_hget_str(&env, "sp:r:1d:agent=a1:1795305600", "csat_smoothed", v, sizeof v));
    cr_expect_str_eq(v, "0.666667", "every resolution");
    cr_expect_eq(sp_hget_str(&env, "sp:r:1m:queue=payments:1795342500", "csat_smoothed", v,
                             sizeof v), 0, "only agents have one");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* A CSAT for queue payments with the given score. */
static void queue_csat(sp_partition *p, int score, long long ts) { agent_csat(p, "a3", score, ts); }

Test(publisher, live_hash_dissatisfaction_over_the_last_hour, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    queue_csat(p, 1, BASE - 70 * 60000); /* more than an hour before: not counted */
    queue_csat(p, 2, BASE - 50 * 60000);
    queue_csat(p, 5, BASE - 20 * 60000);
    queue_csat(p, 4, BASE - 60000);
    queue_csat(p, 1, BASE + 10000);
    flush(pub, 0, p, 1);
    char v[64];
    cr_assert(sp_hget_str(&env, "sp:live:queue=payments", "dissatisfied_1h", v, sizeof v));
    cr_expect_str_eq(v, "0.5", "2 of the 4 scores of the last hour are 1-2");
    cr_expect_eq(sp_hget_ll(&env, "sp:live:queue=payments", "csat_responses_1h", -1), 4);
    cr_assert(sp_hget_str(&env, "sp:live:queue=payments", "csat_15m", v, sizeof v));
    cr_expect_str_eq(v, "0.5", "last 15 minutes: a 4 and a 1");
    cr_assert(sp_hget_str(&env, "sp:live:queue=payments", "csat_today", v, sizeof v));
    cr_expect_str_eq(v, "0.4", "today (UTC): 2 of 5");
    cr_assert(sp_hget_str(&env, "sp:live:all", "dissatisfied_1h", v, sizeof v));
    cr_expect_str_eq(v, "0.5");
    cr_assert(sp_hget_str(&env, "sp:r:1m:queue=payments:1795342500", "dissatisfied", v, sizeof v));
    cr_expect_str_eq(v, "1");
    sp_partition_destroy(p);
    sp_publisher_destroy(pub);
}

/* The message counts in {p}:meta travel with each partition's resume point: a replay
 * after a crash (the same counts flushed again from the restored ones) adds nothing,
 * and partitions add up. */
Test(publisher, meta_counts_are_exactly_once, .init = setup, .fini = teardown)
{
    sp_publisher *pub = publisher();
    sp_partition *p = partition();
    char err[512];
    int32_t stale;
    uint64_t counts[SP_PC__COUNT] = {0};
    counts[SP_PC_CONSUMED] = 5;
    counts[SP_PC_APPLIED] = 4;
    counts[SP_PC_REJECTED + SP_REJ_INVALID_JSON] = 1;
    apply(p, OFFER, BASE + 1000);
    sp_flush_part fp = {0, p, 5, &seqs[0], counts};
    cr_assert_eq(sp_publisher_flush(pub, "t", &fp, 1, &stale, err, sizeof err), 0, "%s", err);
    sp_partition_published(p, INT64_MIN);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", -1), 5);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "applied", -1), 4);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "rejected:invalid_json", -1), 1);

    /* a crash after 3 more messages, before their flush: the next owner restores 5 and
     * counts the 3 again, ending at 8 -- not 11 */
    sp_partition *q = partition();
    int64_t next, seq;
    uint64_t restored[SP_PC__COUNT];
    cr_assert_eq(sp_publisher_restore(pub, "t", 0, q, &next, &seq, restored, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(restored[SP_PC_CONSUMED], 5);
    cr_expect_eq(restored[SP_PC_APPLIED], 4);
    cr_expect_eq(restored[SP_PC_REJECTED + SP_REJ_INVALID_JSON], 1);
    restored[SP_PC_CONSUMED] += 3;
    restored[SP_PC_DUPLICATES] += 3;
    apply(q, OFFER, BASE + 2000);
    sp_flush_part again = {0, q, 8, &seq, restored};
    cr_assert_eq(sp_publisher_flush(pub, "t", &again, 1, &stale, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", -1), 8);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "duplicates", -1), 3);

    /* another partition adds its own */
    sp_partition *other = partition();
    uint64_t oc[SP_PC__COUNT] = {0};
    oc[SP_PC_CONSUMED] = 2;
    apply(other, OFFER, BASE + 3000);
    sp_flush_part op = {1, other, 2, &seqs[1], oc};
    cr_assert_eq(sp_publisher_flush(pub, "t", &op, 1, &stale, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", -1), 10);
    sp_partition_destroy(p);
    sp_partition_destroy(q);
    sp_partition_destroy(other);
    sp_publisher_destroy(pub);
}
