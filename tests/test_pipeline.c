/*
 * test_pipeline.c - the whole path: librdkafka's mock cluster -> supportpulse pipeline
 * -> a real redis-server. A stream with a hand-worked answer; restart mid-stream and a
 * Redis outage compared key by key with an uninterrupted run; dead letters with their
 * reasons; the watermark with an idle partition; an early flush when many cells changed.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "instances.h"

#define BASE 1795342500000LL /* 2026-11-22T10:15:00Z */
#define W0 "1795342500"
#define W1 "1795342560"

static sp_env env;
static void teardown(void) { sp_env_stop(&env); }

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- a hand-worked stream ------------------------------------------------------------ */

typedef struct {
    const char *key;
    const char *json;
    long long at;
} msg;

/* Produces msgs[0..n) to topic, each json's %lld filled with BASE + at. */
static void produce_msgs(const char *topic, const msg *msgs, int n)
{
    char(*bufs)[512] = calloc((size_t)n, sizeof *bufs);
    const char **keys = calloc((size_t)n, sizeof *keys), **values = calloc((size_t)n, sizeof *values);
    cr_assert(bufs && keys && values);
    for (int i = 0; i < n; i++) {
        snprintf(bufs[i], sizeof bufs[i], msgs[i].json, BASE + msgs[i].at);
        keys[i] = msgs[i].key;
        values[i] = bufs[i];
    }
    sp_produce(&env, topic, keys, values, n);
    free(bufs);
    free(keys);
    free(values);
}

static void known_answer_stream(const char *topic)
{
    static const msg msgs[] = {
        {"a1", "{\"id\":\"m01\",\"type\":\"agent.status\",\"agent_id\":\"a1\",\"status\":\"available\",\"ts\":%lld}", 500},
        {"C1", "{\"id\":\"m02\",\"type\":\"call.offered\",\"call_id\":\"C1\",\"queue\":\"payments\",\"ts\":%lld}", 1000},
        {"C2", "{\"id\":\"m03\",\"type\":\"call.offered\",\"call_id\":\"C2\",\"queue\":\"payments\",\"channel\":\"chat\",\"ts\":%lld}", 2000},
        {"C3", "{\"id\":\"m04\",\"type\":\"call.offered\",\"call_id\":\"C3\",\"queue\":\"security\",\"ts\":%lld}", 3000},
        {"T1", "{\"id\":\"m05\",\"type\":\"ticket.created\",\"ticket_id\":\"T1\",\"queue\":\"refunds\",\"channel\":\"email\",\"ts\":%lld}", 4000},
        {"C1", "{\"id\":\"m06\",\"type\":\"call.answered\",\"call_id\":\"C1\",\"agent_id\":\"a1\",\"ts\":%lld}", 5000},
        {"T2", "{\"id\":\"m07\",\"type\":\"ticket.created\",\"ticket_id\":\"T2\",\"queue\":\"account\",\"channel\":\"in_app\",\"ts\":%lld}", 6000},
        {"T2", "{\"id\":\"m08\",\"type\":\"ticket.replied\",\"ticket_id\":\"T2\",\"author\":\"bot\",\"ts\":%lld}", 7000},
        {"T2", "{\"id\":\"m09\",\"type\":\"ticket.escalated\",\"ticket_id\":\"T2\",\"from\":\"bot\",\"ts\":%lld}", 8000},
        {"C3", "{\"id\":\"m10\",\"type\":\"call.transferred\",\"call_id\":\"C3\",\"to_queue\":\"account\",\"ts\":%lld}", 10000},
        {"C3", "{\"id\":\"m11\",\"type\":\"call.answered\",\"call_id\":\"C3\",\"agent_id\":\"a2\",\"ts\":%lld}", 20000},
        {"C2", "{\"id\":\"m12\",\"type\":\"call.abandoned\",\"call_id\":\"C2\",\"ts\":%lld}", 30000},
        {"T1", "{\"id\":\"m13\",\"type\":\"ticket.replied\",\"ticket_id\":\"T1\",\"author\":\"agent\",\"agent_id\":\"a3\",\"ts\":%lld}", 40000},
        {"T1", "{\"id\":\"m14\",\"type\":\"ticket.solved\",\"ticket_id\":\"T1\",\"ts\":%lld}", 50000},
        {"T1", "{\"id\":\"m05\",\"type\":\"ticket.created\",\"ticket_id\":\"T1\",\"queue\":\"refunds\",\"channel\":\"email\",\"ts\":%lld}", 4000},
        {"T1", "{\"id\":\"m15\",\"type\":\"ticket.reopened\",\"ticket_id\":\"T1\",\"ts\":%lld}", 70000},
        {"T1", "{\"id\":\"m16\",\"type\":\"ticket.solved\",\"ticket_id\":\"T1\",\"ts\":%lld}", 80000},
        {"T1", "{\"id\":\"m17\",\"type\":\"survey.csat\",\"ticket_id\":\"T1\",\"score\":5,\"ts\":%lld}", 90000},
        {"C2", "{\"id\":\"m18\",\"type\":\"survey.csat\",\"call_id\":\"C2\",\"score\":2,\"ts\":%lld}", 95000},
        {NULL, "{\"id\":\"m19\",\"type\":\"survey.nps\",\"score\":10,\"ts\":%lld}", 96000},
        {"C1", "{\"id\":\"m20\",\"type\":\"call.ended\",\"call_id\":\"C1\",\"ts\":%lld}", 100000},
        {"C1", "{\"id\":\"m21\",\"type\":\"call.wrapup\",\"call_id\":\"C1\",\"acw_ms\":30000,\"ts\":%lld}", 110000},
        {"X", "not json at all %lld", 0},
        {"T1", "{\"id\":\"m22\",\"type\":\"survey.csat\",\"ticket_id\":\"T1\",\"score\":9,\"ts\":%lld}", 99000},
        {"X", "{\"id\":\"m23\",\"type\":\"ticket.exploded\",\"ticket_id\":\"T9\",\"ts\":%lld}", 99000},
    };
    produce_msgs(topic, msgs, sizeof msgs / sizeof msgs[0]);
}

static void expect_field(const char *key, const char *field, const char *want)
{
    char got[64];
    int found = sp_hget_str(&env, key, field, got, sizeof got);
    if (!want)
        cr_expect(!found, "%s %s should be absent, is %s", key, field, got);
    else
        cr_expect(found && strcmp(got, want) == 0, "%s %s = '%s', want '%s'", key, field,
                  found ? got : "(absent)", want);
}

Test(pipeline, known_answer_in_redis, .fini = teardown, .timeout = 120)
{
    sp_env_start(&env, "ev", 2);
    known_answer_stream("ev");
    sp_config cfg;
    sp_env_config(&env, &cfg, "ev", "g1");
    sp_runner r;
    sp_runner_start(&r, &cfg);
    cr_assert(sp_runner_wait(&r, 25, 60), "the pipeline did not consume the stream");
    sp_runner_stop(&r);

    const char *all0 = "sp:r:1m:all:" W0, *all1 = "sp:r:1m:all:" W1;
    expect_field(all0, "events", "14");
    expect_field(all0, "offered", "3");
    expect_field(all0, "answered", "2");
    expect_field(all0, "abandoned", "1");
    expect_field(all0, "transferred", "1");
    expect_field(all0, "created", "2");
    expect_field(all0, "solved", "1");
    expect_field(all0, "escalated_bot", "1");
    expect_field(all0, "handoff_rate", "0.5000");
    expect_field(all0, "reopen_rate", "0.0000");
    expect_field(all0, "csat", NULL);
    expect_field("sp:r:1m:queue=payments:" W0, "offered", "2");
    expect_field("sp:r:1m:queue=payments:" W0, "abandoned", "1");
    expect_field("sp:r:1m:queue=payments:" W0, "events", "4");
    expect_field("sp:r:1m:queue=security:" W0, "offered", "1");
    expect_field("sp:r:1m:queue=security:" W0, "transferred", "1");
    expect_field("sp:r:1m:queue=security:" W0, "answered", "0"); /* a core count: 0, not absent */
    expect_field("sp:r:1m:queue=account:" W0, "answered", "1");
    expect_field("sp:r:1m:queue=account:" W0, "events", "4");
    expect_field("sp:r:1m:queue=account|channel=phone:" W0, "answered", "1");
    expect_field("sp:r:1m:queue=account|channel=in_app:" W0, "escalated_bot", "1");
    expect_field("sp:r:1m:queue=refunds|channel=email:" W0, "events", "3");
    expect_field("sp:r:1m:channel=phone:" W0, "events", "5");
    expect_field("sp:r:1m:channel=chat:" W0, "abandoned", "1");

    expect_field(all1, "events", "7");
    expect_field(all1, "reopened", "1");
    expect_field(all1, "solved", "1");
    expect_field(all1, "csat_responses", "2");
    expect_field(all1, "csat_positive", "1");
    expect_field(all1, "csat", "0.5000");
    expect_field(all1, "csat_avg", "3.50");
    expect_field(all1, "nps_responses", "1");
    expect_field(all1, "nps", "100.0");
    expect_field("sp:r:1m:queue=refunds|channel=email:" W1, "csat", "1.0000");
    expect_field("sp:r:1m:queue=payments|channel=chat:" W1, "csat", "0.0000");
    expect_field("sp:r:1m:queue=unknown|channel=unknown:" W1, "nps_responses", "1");

    expect_field("sp:r:5m:all:" W0, "events", "21");
    expect_field("sp:r:5m:all:" W0, "solved", "2");
    expect_field("sp:r:5m:all:" W0, "reopen_rate", "0.5000");
    expect_field("sp:r:1h:all:1795341600", "offered", "3");
    expect_field("sp:r:1d:all:1795305600", "events", "21");
    cr_expect_eq(sp_zcard(&env, "sp:ts:1m:all"), 2);

    expect_field("sp:meta", "consumed", "25");
    expect_field("sp:meta", "applied", "21");
    expect_field("sp:meta", "duplicates", "1");
    expect_field("sp:meta", "rejected:invalid_json", "1");
    expect_field("sp:meta", "rejected:out_of_range", "1");
    expect_field("sp:meta", "rejected:unknown_type", "1");
    expect_field("sp:meta", "schema_version", "1");

    sp_dead_letter dl[8];
    int n = sp_read_dlq(&env, "ev-dlq", dl, 8, 3, 20);
    cr_assert_eq(n, 3, "three dead letters, got %d", n);
    const char *want[3] = {"invalid_json", "out_of_range", "unknown_type"};
    for (int i = 0; i < 3; i++) {
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen |= strcmp(dl[j].reason, want[i]) == 0;
        cr_expect(seen, "no dead letter with reason %s", want[i]);
    }
    for (int j = 0; j < n; j++) {
        cr_expect_str_eq(dl[j].topic, "ev");
        cr_expect(dl[j].partition[0] && dl[j].offset[0] && dl[j].detail[0]);
        if (strcmp(dl[j].reason, "out_of_range") == 0) {
            cr_expect(strstr(dl[j].detail, "score") != NULL, "%s", dl[j].detail);
            cr_expect(strstr(dl[j].value, "\"score\":9") != NULL, "the message goes unchanged");
        }
    }
    sp_config_free(&cfg);
}

/* A call whose closing event never comes leaves the live hash after max_wait_s, an
 * answered one with no end after max_handle_s; each counts once as orphaned, in the
 * rollup of the minute it timed out and in {p}:meta. */
Test(pipeline, orphaned_calls_leave_the_live_hash_and_are_counted, .fini = teardown,
     .timeout = 120)
{
    sp_env_start(&env, "or", 1);
    static const msg msgs[] = {
        {"C1", "{\"id\":\"o1\",\"type\":\"call.offered\",\"call_id\":\"C1\",\"queue\":\"payments\",\"ts\":%lld}", 0},
        {"C2", "{\"id\":\"o2\",\"type\":\"call.offered\",\"call_id\":\"C2\",\"queue\":\"payments\",\"channel\":\"chat\",\"ts\":%lld}", 30000},
        {"C2", "{\"id\":\"o3\",\"type\":\"call.answered\",\"call_id\":\"C2\",\"agent_id\":\"a1\",\"ts\":%lld}", 40000},
        {"T1", "{\"id\":\"o4\",\"type\":\"ticket.created\",\"ticket_id\":\"T1\",\"queue\":\"refunds\",\"channel\":\"email\",\"ts\":%lld}", 61000},
        {"T2", "{\"id\":\"o5\",\"type\":\"ticket.created\",\"ticket_id\":\"T2\",\"queue\":\"refunds\",\"channel\":\"email\",\"ts\":%lld}", 200000},
    };
    enum { N = sizeof msgs / sizeof msgs[0] };
    produce_msgs("or", msgs, N);
    sp_config cfg;
    char err[256];
    sp_env_config(&env, &cfg, "or", "g1");
    cr_assert_eq(sp_config_set(&cfg, "max_wait_s", "60", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_config_set(&cfg, "max_handle_s", "120", err, sizeof err), 0, "%s", err);
    sp_runner r;
    sp_runner_start(&r, &cfg);
    cr_assert(sp_runner_wait(&r, N, 60), "the pipeline did not consume the stream");
    sp_runner_stop(&r);
    expect_field("sp:live:all", "in_queue", "0");
    expect_field("sp:live:all", "oldest_wait_s", "0");
    expect_field("sp:live:queue=payments", "in_queue", "0");
    expect_field("sp:meta", "orphaned", "2");
    expect_field("sp:r:1m:queue=payments:" W1, "orphaned", "1");              /* C1 at 60 s */
    expect_field("sp:r:1m:channel=chat:1795342620", "orphaned", "1");         /* C2 at 160 s */
    expect_field("sp:r:1m:queue=payments:" W0, "orphaned", NULL);             /* absent while 0 */
    expect_field("sp:r:1d:all:1795305600", "orphaned", "2");
    sp_config_free(&cfg);
}

/* ---- generated streams compared with an uninterrupted run --------------------------- */

/* Produces messages [skip, skip + n) of the generator's stream for seed. */
static void produce_generated_from(const char *topic, int skip, int n, uint64_t seed)
{
    sp_stream s;
    sp_stream_open(&env, &s, topic, seed);
    sp_stream_skip(&s, skip);
    sp_stream_produce(&s, n);
    sp_stream_close(&s);
}

static void produce_generated(const char *topic, int n, uint64_t seed)
{
    produce_generated_from(topic, 0, n, seed);
}

/* A pipeline config for topic, as consumer group `group` writing under `prefix`. */
static void config_for(sp_config *cfg, const char *topic, const char *group, const char *prefix)
{
    char err[256];
    sp_env_config(&env, cfg, topic, group);
    cr_assert_eq(sp_config_set(cfg, "prefix", prefix, err, sizeof err), 0, "%s", err);
}

static void run_to_end(const char *topic, const char *group, const char *prefix, int n)
{
    sp_config cfg;
    config_for(&cfg, topic, group, prefix);
    sp_runner r;
    sp_runner_start(&r, &cfg);
    cr_assert(sp_runner_wait(&r, (uint64_t)n, 120), "%s did not consume %d", prefix, n);
    sp_runner_stop(&r);
    sp_config_free(&cfg);
}

/* Everything under prefix a that must not depend on restarts and outages equals b's
 * (sp_dump_prefix: rollups, sketches, index, partials, counters, resume points). */
static void expect_same_rollups(const char *a, const char *b)
{
    long lines = sp_expect_same_dump(&env, a, b);
    cr_expect_gt(lines, 100, "too few lines to compare (%ld)", lines);
}

#define GEN_N 12000

Test(pipeline, restart_mid_stream_changes_no_total, .fini = teardown, .timeout = 300)
{
    sp_env_start(&env, "gen", 3);
    produce_generated("gen", GEN_N, 11);
    run_to_end("gen", "reference", "ref", GEN_N);

    sp_config cfg;
    char err[256];
    config_for(&cfg, "gen", "restarted", "sp");
    cr_assert_eq(sp_config_set(&cfg, "flush_ms", "50", err, sizeof err), 0);
    /* stop it three times on the way (after 1,500 messages each), then let it finish:
     * every round resumes where Redis says the last one stopped */
    for (int round = 0; round < 4; round++) {
        sp_runner r;
        sp_runner_start(&r, &cfg);
        const sp_pipeline_stats *s = sp_pipeline_get_stats(r.pl);
        for (int i = 0; i < 3000; i++) {
            if (round < 3 && atomic_load(&s->consumed) >= 1500)
                break;
            if (sp_hget_ll(&env, "sp:meta", "consumed", 0) >= GEN_N)
                break;
            sleep_ms(20);
        }
        sp_runner_stop(&r);
    }
    sp_config_free(&cfg);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), GEN_N,
                 "a graceful restart replays nothing and skips nothing");
    expect_same_rollups("ref", "sp");
}

/* A rejected message larger than the dead-letter producer sends (its
 * message.max.bytes) is dead-lettered cut to fit, with headers that say so, and the
 * traffic behind it is counted as usual: one outsized message from an outside producer
 * never stops the pipeline. Nothing is skipped, nothing counted twice. */
Test(pipeline, oversized_dead_letter_is_cut_and_nothing_stops, .fini = teardown,
     .timeout = 300)
{
    enum { HALF = 3000, N = 2 * HALF + 1, BIG = 6000 };
    static char big[BIG];
    sp_env_start(&env, "dlqf", 2);
    produce_generated("dlqf", HALF, 21);
    memset(big, 'x', sizeof big - 1);
    sp_produce_to(&env, "dlqf", 0, "big", big);
    produce_generated_from("dlqf", HALF, HALF, 21);
    run_to_end("dlqf", "reference", "ref", N);

    sp_config cfg;
    char err[256];
    config_for(&cfg, "dlqf", "small-dlq", "sp");
    cr_assert_eq(sp_config_set(&cfg, "flush_ms", "50", err, sizeof err), 0);
    cr_assert_eq(sp_config_add_kafka(&cfg, "message.max.bytes=2000", err, sizeof err), 0,
                 "%s", err);
    sp_runner r;
    sp_runner_start(&r, &cfg);
    for (int i = 0; i < 1200 && !atomic_load(&r.finished) &&
                    sp_hget_ll(&env, "sp:meta", "consumed", 0) < N;
         i++)
        sleep_ms(50);
    int finished = atomic_load(&r.finished);
    uint64_t cut = sp_pipeline_dead_letters_cut(r.pl);
    sp_runner_stop(&r);
    sp_config_free(&cfg);
    cr_assert_not(finished, "the run stopped on the outsized dead letter: %s", r.err);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), N);
    long long bad = sp_hget_ll(&env, "ref:meta", "rejected:invalid_json", 0);
    cr_expect_gt(bad, 0);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "rejected:invalid_json", 0), bad);
    cr_expect_eq(cut, 1, "one dead letter was cut (%llu)", (unsigned long long)cut);
    expect_same_rollups("ref", "sp");

    /* the reference run's dead letters, then this run's */
    static sp_dead_letter dl[1024];
    cr_assert_lt(2 * bad, 1024);
    int n = sp_read_dlq(&env, "dlqf-dlq", dl, 1024, (int)(2 * bad), 30);
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (!dl[i].truncated[0])
            continue;
        found++;
        cr_expect_str_eq(dl[i].truncated, "true");
        cr_expect_str_eq(dl[i].original_size, "5999");
        cr_expect_lt(dl[i].value_len, 2000, "cut to fit (%zu bytes)", dl[i].value_len);
        cr_expect_gt(dl[i].value_len, 0);
        cr_expect_str_eq(dl[i].reason, "invalid_json");
        cr_expect_str_eq(dl[i].partition, "0");
    }
    cr_expect_eq(found, 1, "the outsized message is in the dead-letter topic, cut, once");
}

/* How many times needle occurs in the file at path. */
static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* Standard error into a file while a test runs (the pipeline's log), and back. */
static int log_to(const char *path)
{
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    return saved;
}

static void log_back(int saved, const char *path)
{
    fflush(stderr);
    cr_assert(dup2(saved, 2) == 2);
    close(saved);
    FILE *f = fopen(path, "r"); /* shown as usual, for a failure's report */
    char line[2048];
    while (f && fgets(line, sizeof line, f))
        fputs(line, stderr);
    if (f)
        fclose(f);
}

/* Redis away mid-stream for 32 s (past the 30 s reminder), while the second half of
 * the stream arrives: the pipeline pauses and consumes none of it while Redis is down,
 * resumes once Redis is back and reaches the end, and the rollups equal an uninterrupted
 * run's. Nothing here depends on how often a retry ran or a line was logged. */
Test(pipeline, redis_outage_loses_nothing, .fini = teardown, .timeout = 300)
{
    enum { HALF = GEN_N / 2 };
    sp_env_start(&env, "gen", 3);
    produce_generated("gen", HALF, 12);
    sp_config cfg;
    config_for(&cfg, "gen", "outage", "sp");
    char log[512];
    snprintf(log, sizeof log, "%s/outage.log", env.tmpdir);
    int saved = log_to(log);
    sp_runner r;
    sp_runner_start(&r, &cfg);
    const sp_pipeline_stats *s = sp_pipeline_get_stats(r.pl);
    for (int i = 0; i < 6000 && atomic_load(&s->consumed) < HALF; i++)
        sleep_ms(20);
    sp_env_redis_down(&env);
    produce_generated_from("gen", HALF, GEN_N - HALF, 12);
    int paused = 0;
    for (int i = 0; i < 3000 && !paused; i++, sleep_ms(10))
        paused = atomic_load(&s->paused);
    uint64_t at_pause = atomic_load(&s->consumed), flushes_at_pause = atomic_load(&s->flushes);
    int stayed_paused = 1;
    for (int t = 0; t < 32000; t += 100, sleep_ms(100))
        stayed_paused &= atomic_load(&s->paused) == 1;
    uint64_t after_wait = atomic_load(&s->consumed), flushes_after = atomic_load(&s->flushes);
    sp_env_redis_up(&env);
    int caught_up = sp_runner_wait(&r, GEN_N, 120);
    int resumed = !atomic_load(&s->paused);
    sp_runner_stop(&r);
    sp_config_free(&cfg);
    log_back(saved, log);
    cr_assert(paused, "the pipeline did not pause while Redis was down");
    cr_expect(stayed_paused, "it stayed paused for as long as Redis was down");
    cr_expect_eq(after_wait, at_pause, "nothing consumed while paused (%llu, then %llu)",
                 (unsigned long long)at_pause, (unsigned long long)after_wait);
    cr_expect_lt(after_wait, GEN_N, "the second half waited in Kafka");
    cr_expect_eq(flushes_after, flushes_at_pause, "no flush succeeded while Redis was down");
    cr_assert(caught_up, "did not catch up after the outage");
    cr_expect(resumed, "not paused any more at the end");
    cr_expect_geq(count_in_file(log, "pausing consumption and retrying"), 1,
                  "the log says why it paused");
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), GEN_N);
    run_to_end("gen", "reference", "ref", GEN_N);
    expect_same_rollups("ref", "sp");
}

/* Copies file from to file to (the test fails when it cannot). */
static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    cr_assert(in && out, "copying %s to %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n, "writing %s", to);
    fclose(in);
    cr_assert_eq(fclose(out), 0, "writing %s", to);
}

/* Waits (up to timeout_s) until {p}:meta's consumed is n; returns it as last seen. */
static long long wait_meta_consumed(long long n, int timeout_s)
{
    long long c = -1;
    for (int i = 0; i < timeout_s * 20 && (c = sp_hget_ll(&env, "sp:meta", "consumed", 0)) != n;
         i++)
        sleep_ms(50);
    return c;
}

/* Redis goes back in time under a sole group member (restarted from an older RDB, as a
 * failover to a lagging replica does): the partitions whose flush finds Redis behind are
 * restored from what Redis holds and consumed again from there, the log says so, and
 * consumption goes on. What Redis holds is the truth; nothing is counted twice. */
Test(pipeline, redis_back_in_time_is_restored_and_resumes, .fini = teardown, .timeout = 300)
{
    enum { PART = GEN_N / 3 };
    sp_env_start(&env, "rewind", 4);
    produce_generated_from("rewind", 0, PART, 17);
    sp_config cfg;
    config_for(&cfg, "rewind", "rewind", "sp");
    char log[512], rdb[600], old[600];
    snprintf(log, sizeof log, "%s/rewind.log", env.tmpdir);
    snprintf(rdb, sizeof rdb, "%s/dump.rdb", env.redis.dir);
    snprintf(old, sizeof old, "%s/older.rdb", env.tmpdir);
    int saved = log_to(log);
    sp_runner r;
    sp_runner_start(&r, &cfg);
    long long first = wait_meta_consumed(PART, 120);
    redisReply *rep = redisCommand(env.rc, "SAVE");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "SAVE failed");
    freeReplyObject(rep);
    copy_file(rdb, old);
    produce_generated_from("rewind", PART, PART, 17);
    long long second = wait_meta_consumed(2 * PART, 120);
    /* kill -9: nothing saved on the way out; then start from the older snapshot */
    kill(env.redis.pid, SIGKILL);
    sp_env_redis_down(&env);
    copy_file(old, rdb);
    sp_env_redis_up(&env);
    long long rewound = sp_hget_ll(&env, "sp:meta", "consumed", 0);
    produce_generated_from("rewind", 2 * PART, GEN_N - 2 * PART, 17);
    long long last = wait_meta_consumed(GEN_N, 180);
    const sp_pipeline_stats *s = sp_pipeline_get_stats(r.pl);
    int running = !atomic_load(&r.finished) && !atomic_load(&s->paused);
    sp_runner_stop(&r);
    sp_config_free(&cfg);
    log_back(saved, log);
    cr_assert_eq(first, PART, "the first part did not reach Redis");
    cr_assert_eq(second, 2 * PART, "the second part did not reach Redis");
    cr_assert_eq(rewound, PART, "Redis did not come back from the older snapshot");
    cr_expect_eq(last, GEN_N, "consumption did not resume after Redis went back in time "
                              "({p}:meta consumed %lld of %d)", last, GEN_N);
    cr_expect(running, "the pipeline was still running and not paused");
    cr_expect_geq(count_in_file(log, "Redis went back in time"), 1, "the log says what happened");
    cr_expect_geq(count_in_file(log, "restored from Redis again"), 1,
                  "the log says the partitions were restored");
    run_to_end("rewind", "reference", "ref", GEN_N);
    expect_same_rollups("ref", "sp");
}

/* The pipeline as a Redis ACL user allowed only the prefix's keys and channels
 * (~sp:* &sp:*): every key and channel it touches is under the prefix, so it runs as it
 * does with full rights, and writes the same rollups. */
Test(pipeline, runs_as_an_acl_user_limited_to_its_prefix, .fini = teardown, .timeout = 300)
{
    sp_env_start(&env, "acl", 3);
    redisReply *r = redisCommand(env.rc, "ACL SETUSER spw on >w-pass ~sp:* &sp:* +@all");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r ? r->str : "");
    freeReplyObject(r);
    produce_generated("acl", GEN_N, 23);
    sp_config cfg;
    char err[256];
    config_for(&cfg, "acl", "acl-user", "sp");
    cr_assert_eq(sp_config_set(&cfg, "redis_user", "spw", err, sizeof err), 0, "%s", err);
    cfg.redis_password = strdup("w-pass");
    cr_assert(cfg.redis_password);
    sp_runner run;
    sp_runner_start(&run, &cfg);
    cr_assert(sp_runner_wait(&run, GEN_N, 120), "the ACL user's run did not consume %d: %s",
              GEN_N, run.err);
    sp_runner_stop(&run);
    sp_config_free(&cfg);
    run_to_end("acl", "reference", "ref", GEN_N);
    expect_same_rollups("ref", "sp");
}

/* Over TLS with a client certificate (a Redis with tls-auth-clients, and no plain TCP
 * port): the pipeline connects with the redis_tls_* files, and what it writes equals a
 * plain run's. */
Test(pipeline, runs_over_tls_with_a_client_certificate, .fini = teardown, .timeout = 300)
{
    sp_env_start(&env, "tls", 3);
    sp_tls_certs(env.tmpdir);
    int port = sp_redis_enable_tls(env.rc, env.tmpdir, 1);
    produce_generated("tls", GEN_N, 29);
    sp_config cfg;
    char err[256], v[640];
    config_for(&cfg, "tls", "tls", "sp");
    snprintf(v, sizeof v, "rediss://127.0.0.1:%d", port);
    cr_assert_eq(sp_config_set(&cfg, "redis", v, err, sizeof err), 0, "%s", err);
    static const char *const files[][2] = {{"redis_tls_ca_file", "ca.crt"},
                                           {"redis_tls_cert_file", "client.crt"},
                                           {"redis_tls_key_file", "client.key"}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(v, sizeof v, "%s/%s", env.tmpdir, files[i][1]);
        cr_assert_eq(sp_config_set(&cfg, files[i][0], v, err, sizeof err), 0, "%s", err);
    }
    sp_runner run;
    sp_runner_start(&run, &cfg);
    cr_assert(sp_runner_wait(&run, GEN_N, 120), "the TLS run did not consume %d: %s", GEN_N,
              run.err);
    sp_runner_stop(&run);
    sp_config_free(&cfg);
    run_to_end("tls", "reference", "ref", GEN_N);
    expect_same_rollups("ref", "sp");
}

/* A wall board: reads a live hash and a rollup as fast as it can on its own connection
 * until told to stop, counting what it got. */
typedef struct {
    const char *socket;
    atomic_int stop;
    long reads, busy, errors;
    char last_error[256];
} board;

static void *board_reads(void *arg)
{
    board *b = arg;
    redisContext *c = redisConnectUnix(b->socket);
    while (c && !c->err && !atomic_load(&b->stop)) {
        redisReply *r = redisCommand(c, "HGETALL sp:live:all");
        if (!r)
            break;
        if (r->type == REDIS_REPLY_ERROR) {
            b->busy += strncmp(r->str, "BUSY", 4) == 0;
            b->errors++;
            snprintf(b->last_error, sizeof b->last_error, "%s", r->str);
        }
        b->reads++;
        freeReplyObject(r);
    }
    if (!c || c->err)
        snprintf(b->last_error, sizeof b->last_error, "%s", c ? c->errstr : "no connection");
    redisFree(c);
    return NULL;
}

/* A reader of a live hash throughout a run never waits behind the pipeline: with Redis's
 * script time limit lowered from 5 s to 500 ms (a reader gets BUSY while a script runs
 * past it), no read is refused. Each call of the pipeline is bounded (redis_call_cells),
 * so no script comes near. */
Test(pipeline, a_reader_never_gets_busy, .fini = teardown, .timeout = 300)
{
    sp_env_start(&env, "busy", 3);
    redisReply *r = redisCommand(env.rc, "CONFIG SET busy-reply-threshold 500");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET: %s", r ? r->str : env.rc->errstr);
    freeReplyObject(r);
    produce_generated("busy", GEN_N, 31);
    board b = {.socket = env.redis.socket};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, board_reads, &b), 0);
    run_to_end("busy", "g", "sp", GEN_N);
    atomic_store(&b.stop, 1);
    pthread_join(th, NULL);
    cr_expect_gt(b.reads, 100, "the board read throughout (%ld reads; %s)", b.reads,
                 b.last_error);
    cr_expect_eq(b.busy, 0, "%ld of %ld reads got BUSY", b.busy, b.reads);
    cr_expect_eq(b.errors, 0, "%ld errors, the last: %s", b.errors, b.last_error);
    cr_expect_gt(sp_hget_ll(&env, "sp:live:all", "updated_at", 0), 0, "the board had data");
}

/* Produces tickets [from, to) of a stream of new tickets, one per 10 ms from BASE,
 * none of them ever ending: every one stays in the case store until it is full. */
static void produce_new_tickets(const char *topic, int from, int to)
{
    enum { MAX = 1200 };
    static char bufs[MAX][256], keys[MAX][16];
    const char *k[MAX], *v[MAX];
    cr_assert(to - from <= MAX);
    for (int i = from; i < to; i++) {
        snprintf(keys[i - from], sizeof keys[0], "T%d", i);
        snprintf(bufs[i - from], sizeof bufs[0],
                 "{\"id\":\"n%d\",\"type\":\"ticket.created\",\"ticket_id\":\"T%d\","
                 "\"queue\":\"payments\",\"channel\":\"email\",\"ts\":%lld}",
                 i, i, BASE + 10LL * i);
        k[i - from] = keys[i - from];
        v[i - from] = bufs[i - from];
    }
    sp_produce(&env, topic, k, v, to - from);
}

/* 2,300 new tickets into stores of 1,000: 1,300 cases and 1,300 ids are forgotten, and
 * the 1,300 cases that leave fill the attribution store past its 1,000 by 300. Counted
 * in {p}:meta exactly once across a restart (the second run starts from the restored
 * stores), and warned about in the log, naming the setting. */
Test(pipeline, full_stores_count_their_evictions_in_meta, .fini = teardown, .timeout = 180)
{
    sp_env_start(&env, "full", 1);
    sp_config cfg;
    char err[256];
    sp_env_config(&env, &cfg, "full", "g1");
    cr_assert_eq(sp_config_set(&cfg, "max_cases", "1000", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_config_set(&cfg, "dedup_capacity", "1000", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_config_set(&cfg, "max_attributions", "1000", err, sizeof err), 0, "%s", err);
    char log[512];
    snprintf(log, sizeof log, "%s/evictions.log", env.tmpdir);
    int saved = log_to(log);
    for (int half = 0; half < 2; half++) {
        produce_new_tickets("full", half * 1150, (half + 1) * 1150);
        sp_runner r;
        sp_runner_start(&r, &cfg);
        int done = sp_runner_wait(&r, 1150, 60);
        sp_runner_stop(&r);
        if (!done)
            break;
    }
    sp_config_free(&cfg);
    log_back(saved, log);
    cr_assert_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), 2300);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "applied", 0), 2300);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "evicted_cases", 0), 1300);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "evicted_ids", 0), 1300);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "evicted_attributions", 0), 300);
    cr_expect_geq(count_in_file(log, "raise max_cases"), 1);
    cr_expect_geq(count_in_file(log, "raise dedup_capacity"), 1);
    cr_expect_geq(count_in_file(log, "raise max_attributions"), 1);
    cr_expect_eq(sp_hget_ll(&env, "sp:r:1d:all:1795305600", "created", 0), 2300,
                 "an evicted case still counted where it happened");
}

/* Tickets of 50 queues and 20 tenants into names tables of 10 and 5: the events of the
 * queues and tenants past the limits count as "(other)", and how many did is in {p}:meta
 * (overflow_queues, overflow_tenants) exactly once across a restart, with a warning
 * naming the setting; so is the number of names that came padded (normalized_names). */
Test(pipeline, full_names_tables_count_their_overflow_in_meta, .fini = teardown, .timeout = 180)
{
    enum { N = 2300, HALF = N / 2 };
    sp_env_start(&env, "names", 1);
    static char bufs[N][256], keys[N][16];
    static const char *k[N], *v[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[0], "T%d", i);
        snprintf(bufs[i], sizeof bufs[0],
                 "{\"id\":\"o%d\",\"type\":\"ticket.created\",\"ticket_id\":\"T%d\","
                 "\"queue\":\"q%d%s\",\"tenant\":\"t%d\",\"channel\":\"email\",\"ts\":%lld}",
                 i, i, i % 50, i % 7 ? "" : " ", i % 20, BASE + 10LL * i);
        k[i] = keys[i];
        v[i] = bufs[i];
    }
    sp_config cfg;
    char err[256];
    sp_env_config(&env, &cfg, "names", "g1");
    cr_assert_eq(sp_config_set(&cfg, "max_queues", "10", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_config_set(&cfg, "max_tenants", "5", err, sizeof err), 0, "%s", err);
    char log[512];
    snprintf(log, sizeof log, "%s/overflow.log", env.tmpdir);
    int saved = log_to(log);
    for (int half = 0; half < 2; half++) {
        sp_produce(&env, "names", k + half * HALF, v + half * HALF, HALF);
        sp_runner r;
        sp_runner_start(&r, &cfg);
        int done = sp_runner_wait(&r, HALF, 60);
        sp_runner_stop(&r);
        if (!done)
            break;
    }
    sp_config_free(&cfg);
    log_back(saved, log);
    cr_assert_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), N);
    /* q0..q9 and t0..t4 fill the tables; the rest of each cycle overflows */
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "overflow_queues", 0), N / 50 * 40, "queues %lld",
                 sp_hget_ll(&env, "sp:meta", "overflow_queues", 0));
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "overflow_tenants", 0), N / 20 * 15, "tenants %lld",
                 sp_hget_ll(&env, "sp:meta", "overflow_tenants", 0));
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "overflow_agents", 0), 0);
    /* every 7th queue name came with a trailing space: trimmed, and counted once */
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "normalized_names", 0), (N + 6) / 7);
    cr_expect_geq(count_in_file(log, "raise max_queues"), 1);
    cr_expect_geq(count_in_file(log, "raise max_tenants"), 1);
}

Test(pipeline, idle_partition_does_not_hold_the_watermark, .fini = teardown, .timeout = 120)
{
    sp_env_start(&env, "idle", 2);
    char v[256];
    snprintf(v, sizeof v, "{\"id\":\"p1\",\"type\":\"call.offered\",\"call_id\":\"X\",\"queue\":\"q\",\"ts\":%lld}", BASE);
    sp_produce_to(&env, "idle", 1, "X", v);
    for (int i = 0; i < 10; i++) {
        snprintf(v, sizeof v, "{\"id\":\"p0-%d\",\"type\":\"call.offered\",\"call_id\":\"Y%d\",\"queue\":\"q\",\"ts\":%lld}",
                 i, i, BASE + i * 60000LL);
        sp_produce_to(&env, "idle", 0, "Y", v);
    }
    sp_config cfg;
    char err[256];
    sp_env_config(&env, &cfg, "idle", "g");
    cr_assert_eq(sp_config_set(&cfg, "idle_s", "2", err, sizeof err), 0);
    sp_runner r;
    sp_runner_start(&r, &cfg);
    cr_assert(sp_runner_wait(&r, 11, 60));
    const sp_pipeline_stats *s = sp_pipeline_get_stats(r.pl);
    int64_t wm = atomic_load(&s->watermark_ms);
    cr_expect_eq(wm, BASE - 120000, "both partitions active: the slower one sets it");
    sleep_ms(2500); /* both go idle: nothing moves */
    cr_expect_eq(atomic_load(&s->watermark_ms), BASE - 120000);
    snprintf(v, sizeof v, "{\"id\":\"p0-x\",\"type\":\"call.offered\",\"call_id\":\"Z\",\"queue\":\"q\",\"ts\":%lld}",
             BASE + 10 * 60000LL);
    sp_produce_to(&env, "idle", 0, "Y", v);
    int64_t want = BASE + 10 * 60000LL - 120000;
    for (int i = 0; i < 100 && atomic_load(&s->watermark_ms) != want; i++)
        sleep_ms(100);
    cr_expect_eq(atomic_load(&s->watermark_ms), want,
                 "partition 1 is idle, partition 0 active: partition 0 alone sets it");
    sp_runner_stop(&r);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "watermark_ms", 0), want);
    sp_config_free(&cfg);
}

/* With flush_ms a minute away, a stream that changes more than max_dirty_cells cells is
 * written early, whether the pipeline thread applies the events or decode threads do
 * (they hand back each partition's dirty-cell count with every event). */
Test(pipeline, many_changed_cells_are_flushed_before_flush_ms, .fini = teardown, .timeout = 180)
{
    sp_env_start(&env, "early", 4);
    produce_generated("early", GEN_N, 5);
    static const char *const threads[2] = {"0", "2"};
    for (int run = 0; run < 2; run++) {
        char prefix[16], key[48], err[256];
        snprintf(prefix, sizeof prefix, "early%s", threads[run]);
        sp_config cfg;
        config_for(&cfg, "early", prefix, prefix);
        cr_assert_eq(sp_config_set(&cfg, "decode_threads", threads[run], err, sizeof err), 0);
        cr_assert_eq(sp_config_set(&cfg, "flush_ms", "60000", err, sizeof err), 0);
        cr_assert_eq(sp_config_set(&cfg, "max_dirty_cells", "100", err, sizeof err), 0);
        sp_runner r;
        sp_runner_start(&r, &cfg);
        const sp_pipeline_stats *s = sp_pipeline_get_stats(r.pl);
        for (int i = 0; i < 900 && atomic_load(&s->flushes) < 3; i++)
            sleep_ms(50);
        uint64_t flushes = atomic_load(&s->flushes);
        snprintf(key, sizeof key, "%s:ts:1m:all", prefix);
        long long windows = sp_zcard(&env, key);
        sp_runner_stop(&r);
        sp_config_free(&cfg);
        cr_expect_geq(flushes, 3, "decode_threads %s: %llu flushes in 45 s", threads[run],
                      (unsigned long long)flushes);
        cr_expect_gt(windows, 0, "decode_threads %s: nothing in Redis before the stop",
                     threads[run]);
    }
}

Test(pipeline, kafka_broker_outage_loses_nothing, .fini = teardown, .timeout = 300)
{
    sp_env_start(&env, "gen", 3);
    produce_generated_from("gen", 0, GEN_N / 2, 13);
    sp_config cfg;
    config_for(&cfg, "gen", "broker-outage", "sp");
    sp_runner r;
    sp_runner_start(&r, &cfg);
    const sp_pipeline_stats *s = sp_pipeline_get_stats(r.pl);
    cr_assert(sp_runner_wait(&r, GEN_N / 2, 120));
    rd_kafka_mock_cluster_t *mc = sp_mock_cluster(env.mock);
    cr_assert_eq(rd_kafka_mock_broker_set_down(mc, 1), 0);
    sleep_ms(4000); /* the only broker is down: the pipeline waits, it does not exit */
    cr_assert_eq(rd_kafka_mock_broker_set_up(mc, 1), 0);
    produce_generated_from("gen", GEN_N / 2, GEN_N / 2, 13); /* the rest, after the outage */
    cr_assert(sp_runner_wait(&r, GEN_N, 120), "did not go on after the broker came back: %llu",
              (unsigned long long)atomic_load(&s->consumed));
    sp_runner_stop(&r);
    sp_config_free(&cfg);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), GEN_N);
    run_to_end("gen", "reference", "ref", GEN_N); /* one uninterrupted read of it all */
    expect_same_rollups("ref", "sp");
}

/* ---- the forecaster beside the pipeline ------------------------------------------------ */

/* A call every 3 minutes for 26 hours (5 an interval): the pipeline's own forecaster
 * thread turns the 15m rollups into {p}:fc, a daily model forecasting 5 an interval. */
Test(pipeline, forecast_from_the_stream, .fini = teardown, .timeout = 180)
{
    enum { N = 26 * 20 };
    const long long t0 = 1795305600000LL; /* 2026-11-22T00:00:00Z */
    sp_env_start(&env, "fcs", 2);
    static char bufs[N][256], keys[N][16];
    const char *k[N], *v[N];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "F%d", i);
        snprintf(bufs[i], sizeof bufs[i], "{\"id\":\"f%d\",\"type\":\"call.offered\",\"call_id\":"
                 "\"F%d\",\"queue\":\"payments\",\"ts\":%lld}", i, i, t0 + i * 180000LL);
        k[i] = keys[i];
        v[i] = bufs[i];
    }
    sp_produce(&env, "fcs", k, v, N);
    sp_config cfg;
    char err[256];
    sp_env_config(&env, &cfg, "fcs", "g-fc");
    cr_assert(sp_config_set(&cfg, "forecast_check_s", "1", err, sizeof err) == 0);
    sp_runner r;
    sp_runner_start(&r, &cfg);
    cr_assert(sp_runner_wait(&r, N, 120), "the pipeline did not consume the stream");
    /* the newest event is 25:57; with 2 minutes of lateness the last complete interval
     * is 25:30-25:45, so the forecast starts at 25:45 */
    long long first = (t0 + 25 * 3600000LL + 45 * 60000LL) / 1000;
    redisReply *rep = NULL;
    for (int i = 0; i < 100; i++) {
        rep = redisCommand(env.rc, "GET sp:fc:queue=payments|channel=phone");
        if (rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "\"daily\""))
            break;
        freeReplyObject(rep);
        rep = NULL;
        sleep_ms(200);
    }
    sp_runner_stop(&r);
    sp_config_free(&cfg);
    cr_assert(rep, "no daily forecast written");
    json_t *fc = json_loads(rep->str, 0, NULL);
    freeReplyObject(rep);
    cr_assert(fc);
    json_t *iv = json_object_get(fc, "intervals");
    cr_assert_eq(json_array_size(iv), 96);
    cr_expect_eq(json_integer_value(json_object_get(json_array_get(iv, 0), "start")), first);
    for (size_t i = 0; i < 96; i++) {
        double vol = json_number_value(json_object_get(json_array_get(iv, i), "volume"));
        cr_expect(fabs(vol - 5) < 0.5, "interval %zu: %.3f", i, vol);
    }
    cr_expect_eq(json_number_value(json_object_get(fc, "handle_s")), 300, "default_handle_s");
    json_decref(fc);
}
