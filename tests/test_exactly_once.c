/*
 * test_exactly_once.c - issue 6's guarantees, end to end against librdkafka's mock
 * cluster and a real redis-server: the same generated stream gives byte-identical
 * rollups (sp_dump_prefix) whether one, two or three instances read it, whatever
 * instances join and leave on the way, whatever point an instance is killed -9 at
 * (seeded, including mid-publish through the crash points), and through broker,
 * leader, request and Redis faults.
 *
 * Built twice: test_exactly_once on one redis-server, and test_exactly_once_cluster
 * (SP_TEST_CLUSTER) on a three-master Redis Cluster, where the joining-and-leaving
 * test also moves hash slots between masters while the instances write.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "helpers.h"
#include "instances.h"
#include "supportpulse/redis_keys.h"

#ifdef SP_TEST_CLUSTER
#define SUITE exactly_once_cluster
#define START_ENV(topic, parts) sp_env_start_cluster(&env, topic, parts)
#else
#define SUITE exactly_once
#define START_ENV(topic, parts) sp_env_start(&env, topic, parts)
#endif

static sp_env env;
static void teardown(void) { sp_env_stop(&env); }

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- in-process instances ---------------------------------------------------------- */

static void config_for(sp_config *cfg, const char *topic, const char *group, const char *prefix)
{
    char err[256];
    sp_env_config(&env, cfg, topic, group);
    cr_assert_eq(sp_config_set(cfg, "prefix", prefix, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_config_set(cfg, "forecast", "0", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_config_set(cfg, "max_backoff_ms", "1000", err, sizeof err), 0, "%s", err);
}

/* n instances of one group reading the whole topic to its end, then stopped. */
static void run_group(const char *topic, int partitions, const char *group, const char *prefix,
                      int n)
{
    sp_config cfg;
    config_for(&cfg, topic, group, prefix);
    sp_runner r[4];
    for (int i = 0; i < n; i++)
        sp_runner_start(&r[i], &cfg);
    cr_assert(sp_wait_caught_up(&env, prefix, topic, partitions, 180),
              "%d instances did not consume %s to its end", n, topic);
    for (int i = 0; i < n; i++)
        sp_runner_stop(&r[i]);
    sp_config_free(&cfg);
}

#define PARTS 6

Test(SUITE, one_two_or_three_instances_give_identical_rollups, .fini = teardown,
     .timeout = 600)
{
    START_ENV("ev", PARTS);
    sp_stream s;
    sp_stream_open(&env, &s, "ev", 21);
    sp_stream_produce(&s, 12000);
    sp_stream_close(&s);
    run_group("ev", PARTS, "g1", "one", 1);
    run_group("ev", PARTS, "g2", "two", 2);
    run_group("ev", PARTS, "g3", "three", 3);
    cr_expect_eq(sp_hget_ll(&env, "one:meta", "consumed", 0), 12000);
    long lines = sp_expect_same_dump(&env, "one", "two");
    cr_expect_gt(lines, 5000, "too little compared (%ld lines)", lines);
    sp_expect_same_dump(&env, "one", "three");
}

static void show_log(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tail -40 %s >&2", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot show %s\n", path);
}

/* 1 when the file has a line containing what (an instance's log). */
static int has_line(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* ---- kill -9 at seeded points ------------------------------------------------------ */

/* flush-call falls between any two calls of one flush (checkpoint, rollups, live, meta) */
static const char *const crash_points[] = {"flush-before-send", "flush-sent", "flush-call",
                                           "flush-applied", "dead-letter", "revoke"};
#define NPOINTS ((int)(sizeof crash_points / sizeof *crash_points))

/* A paced stream: each round produces its chunk while an instance reads, and the
 * instance dies -- at a crash point (its n-th visit) or by kill -9 at a random moment
 * -- and the next round's instance takes over from what Redis recorded. After the
 * rounds one last instance reads to the end; the rollups must equal an uninterrupted
 * run's, every message counted once, every rejected one in the dead-letter topic.
 *
 * Each instance life joins a consumer group of its own, so that the killed member's
 * session (6 s) does not hold up the next one's join: the resume points are in Redis,
 * the group only hands out the partitions. Killed members of one group and rebalances
 * are the rebalance test's. */
Test(SUITE, kill_9_at_24_seeded_points_changes_nothing, .fini = teardown, .timeout = 900)
{
    enum { ROUNDS = 24, BURST = 50 };
    START_ENV("ev", 4);
    char log[512], group[16];
    unsigned seed = 20261123;
    sp_stream s;
    sp_stream_open(&env, &s, "ev", 22);
    int at_point = 0, by_kill = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int r = rand_r(&seed);
        char crash[64] = "";
        if (round % 4 != 3) /* three rounds in four die at a crash point */
            snprintf(crash, sizeof crash, "%s:%d", crash_points[r % NPOINTS],
                     1 + (r / NPOINTS) % (r % NPOINTS == 2 ? 40 : 4)); /* a flush has many calls */
        snprintf(log, sizeof log, "%s/instance-%02d.log", env.tmpdir, round);
        snprintf(group, sizeof group, "g%02d", round);
        sp_child_conf cc = {"ev", group, "sp", crash[0] ? crash : NULL, log, 50};
        pid_t pid = sp_child_start(&env, &cc);
        /* bursts of 50 messages until it owns the partitions (the mock coordinator
         * answers a new group's first join after 3 s), then 6 more while it runs, a
         * flush or more each; a revoke point needs a stop */
        for (int t = 0; t < 50 && !has_line(log, "assigned"); t++) {
            sp_stream_produce(&s, BURST);
            sleep_ms(300);
        }
        for (int b = 0; b < 6; b++) {
            sp_stream_produce(&s, BURST);
            sleep_ms(150);
        }
        int st, died = 0;
        long wait_ms = crash[0] ? 4000 : 300 + rand_r(&seed) % 3000;
        for (long t = 0; t < wait_ms && !(died = sp_child_exited(pid, &st)); t += 50)
            sleep_ms(50);
        if (!died && strncmp(crash, "revoke", 6) == 0) {
            kill(pid, SIGTERM); /* shutting down revokes: it dies there */
            for (int t = 0; t < 200 && !(died = sp_child_exited(pid, &st)); t++)
                sleep_ms(50);
        }
        if (died) {
            if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
                show_log(log);
            cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                      "round %d (%s): the instance exited by itself (status %d)", round, crash,
                      st);
            at_point++;
        } else {
            sp_child_kill(pid);
            by_kill++;
        }
    }
    int total = s.produced;
    sp_stream_close(&s);
    snprintf(log, sizeof log, "%s/instance-last.log", env.tmpdir);
    sp_child_conf last = {"ev", "glast", "sp", NULL, log, 50};
    pid_t pid = sp_child_start(&env, &last);
    for (int t = 0; t < 300 && !has_line(log, "assigned"); t++)
        sleep_ms(100);
    cr_assert(sp_wait_caught_up(&env, "sp", "ev", 4, 240), "did not catch up; see %s", log);
    int code = sp_child_stop(pid, 60);
    if (code != 0)
        show_log(log);
    cr_expect_eq(code, 0, "a graceful stop exits 0");
    cr_expect_geq(at_point, 12, "only %d of %d rounds died at their crash point", at_point,
                  ROUNDS);
    cr_log_info("%d rounds died at a crash point, %d by kill -9 at a random moment", at_point,
                by_kill);

    run_group("ev", 4, "reference", "ref", 1);
    long lines = sp_expect_same_dump(&env, "ref", "sp");
    cr_expect_gt(lines, 3000, "too little compared (%ld lines)", lines);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), total,
                 "every message counted once, though many were consumed twice");

    /* every rejected message is in the dead-letter topic (a replay may put it there
     * again: by its partition and offset it is the same message) */
    long long rejected = 0;
    redisReply *m = sp_env_cmd(&env, "HGETALL sp:meta");
    for (size_t i = 0; i + 1 < m->elements; i += 2)
        if (strncmp(m->element[i]->str, "rejected:", 9) == 0)
            rejected += strtoll(m->element[i + 1]->str, NULL, 10);
    freeReplyObject(m);
    cr_expect_gt(rejected, 0, "the stream has malformed messages");
    enum { MAXDL = 4000 };
    sp_dead_letter *dl = calloc(MAXDL, sizeof *dl);
    cr_assert(dl);
    int n = sp_read_dlq(&env, "ev-dlq", dl, MAXDL, (int)rejected, 20);
    char(*seen)[48] = calloc(MAXDL, sizeof *seen);
    int distinct = 0;
    for (int i = 0; i < n; i++) {
        char id[48];
        snprintf(id, sizeof id, "%s/%s", dl[i].partition, dl[i].offset);
        int dup = 0;
        for (int j = 0; j < distinct && !dup; j++)
            dup = strcmp(seen[j], id) == 0;
        if (!dup)
            snprintf(seen[distinct++], sizeof seen[0], "%s", id);
    }
    cr_expect_eq(distinct, rejected, "%d distinct dead letters (%d in all) for %lld rejected",
                 distinct, n, rejected);
    free(seen);
    free(dl);
}

/* ---- instances joining and leaving one group --------------------------------------- */

/* 2,000 messages over ~4 s, while instances come and go. */
static void produce_paced(sp_stream *s)
{
    for (int i = 0; i < 8; i++) {
        sp_stream_produce(s, 250);
        sleep_ms(500);
    }
}

/* Four instances of one group over a paced stream: two start, a third joins, the
 * first leaves (SIGTERM), the second is killed -9 (its partitions move when its
 * session expires), a fourth joins; then the stream ends. */
Test(SUITE, instances_joining_and_leaving_change_nothing, .fini = teardown, .timeout = 600)
{
    START_ENV("ev", PARTS);
    sp_stream s;
    sp_stream_open(&env, &s, "ev", 23);
    char logs[4][512];
    pid_t pid[4];
    for (int i = 0; i < 4; i++)
        snprintf(logs[i], sizeof logs[i], "%s/instance-%c.log", env.tmpdir, 'a' + i);
    sp_child_conf cc[4];
    for (int i = 0; i < 4; i++)
        cc[i] = (sp_child_conf){"ev", "g", "sp", NULL, logs[i], 100};
    pid[0] = sp_child_start(&env, &cc[0]);
    pid[1] = sp_child_start(&env, &cc[1]);
    produce_paced(&s);
    pid[2] = sp_child_start(&env, &cc[2]);
    produce_paced(&s);
    int code = sp_child_stop(pid[0], 60);
    if (code != 0)
        show_log(logs[0]);
    cr_expect_eq(code, 0, "an instance leaving the group stops cleanly");
    produce_paced(&s);
#ifdef SP_TEST_CLUSTER
    /* a slot migration while two instances write: the master holding partition 0's
     * checkpoint hands (nearly) all its slots to another master, keys included */
    char cp[SP_KEY_MAX];
    sp_key_checkpoint(cp, sizeof cp, "sp", "ev", 0, 'h');
    sp_cluster_reshard(&env.cluster, (int)sp_redis_key_slot(cp, strlen(cp)), 5461);
#endif
    sp_child_kill(pid[1]);
    produce_paced(&s);
    pid[3] = sp_child_start(&env, &cc[3]);
    produce_paced(&s);
    int total = s.produced;
    sp_stream_close(&s);
    cr_assert(sp_wait_caught_up(&env, "sp", "ev", PARTS, 240), "did not catch up");
    for (int i = 2; i < 4; i++) {
        code = sp_child_stop(pid[i], 60);
        if (code != 0)
            show_log(logs[i]);
        cr_expect_eq(code, 0);
    }
    int moved = 0;
    for (int i = 0; i < 4; i++)
        moved += has_line(logs[i], "revoked");
    cr_expect_geq(moved, 2, "partitions moved between instances");
    run_group("ev", PARTS, "reference", "ref", 1);
    long lines = sp_expect_same_dump(&env, "ref", "sp");
    cr_expect_gt(lines, 5000, "too little compared (%ld lines)", lines);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), total);
}

/* ---- Kafka and Redis faults -------------------------------------------------------- */

#ifndef SP_TEST_CLUSTER /* it restarts the one redis-server */

/* Kafka protocol API keys (librdkafka keeps its table in a private header) */
enum { API_PRODUCE = 0, API_FETCH = 1, API_OFFSET_COMMIT = 8, API_HEARTBEAT = 12 };

/* Each instance's counters, printed when the test is about to fail. */
static void report(sp_runner *r, int n)
{
    for (int i = 0; i < n; i++) {
        const sp_pipeline_stats *st = sp_pipeline_get_stats(r[i].pl);
        fprintf(stderr,
                "instance %d: partitions %d paused %d consumed %llu flushes %llu "
                "flush_errors %llu restore_errors %llu finished %d %s\n",
                i, atomic_load(&st->partitions), atomic_load(&st->paused),
                (unsigned long long)atomic_load(&st->consumed),
                (unsigned long long)atomic_load(&st->flushes),
                (unsigned long long)atomic_load(&st->flush_errors),
                (unsigned long long)atomic_load(&st->restore_errors),
                atomic_load(&r[i].finished), r[i].err);
    }
}

/* Flushes and restores that failed, over n instances: how an outage of Redis shows. */
static uint64_t failures(sp_runner *r, int n)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        const sp_pipeline_stats *st = sp_pipeline_get_stats(r[i].pl);
        sum += atomic_load(&st->flush_errors) + atomic_load(&st->restore_errors);
    }
    return sum;
}

static int caught_up(sp_runner *r, int n)
{
    if (sp_wait_caught_up(&env, "sp", "ev", PARTS, 240))
        return 1;
    report(r, n);
    return 0;
}

/* Two instances on a three-broker cluster through: request errors on fetches, offset
 * commits, heartbeats and the dead letters' produce requests; partition leaders
 * moving; a broker down for 3 s; Redis down for 3 s. Neither instance exits by itself,
 * and the rollups equal an uninterrupted run's. */
Test(exactly_once, kafka_and_redis_faults_change_nothing, .fini = teardown, .timeout = 600)
{
    sp_env_start_brokers(&env, "ev", PARTS, 3);
    rd_kafka_mock_cluster_t *mc = sp_mock_cluster(env.mock);
    sp_stream s;
    sp_stream_open(&env, &s, "ev", 24);
    sp_stream_produce(&s, 2000);
    sp_config cfg;
    config_for(&cfg, "ev", "g", "sp");
    sp_runner r[2];
    sp_runner_start(&r[0], &cfg);
    sp_runner_start(&r[1], &cfg);
    sleep_ms(3000);

    rd_kafka_mock_push_request_errors(mc, API_FETCH, 6,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    rd_kafka_mock_push_request_errors(mc, API_OFFSET_COMMIT, 3,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    rd_kafka_mock_push_request_errors(mc, API_HEARTBEAT, 2,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS);
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 3,
                                      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                                      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                                      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION);
    sp_stream_produce(&s, 2000);
    sleep_ms(2000);

    for (int p = 0; p < PARTS; p++) /* every leader moves */
        rd_kafka_mock_partition_set_leader(mc, "ev", p, 1 + (p + 1) % 3);
    sp_stream_produce(&s, 2000);
    sleep_ms(1000);

    cr_assert_eq(rd_kafka_mock_broker_set_down(mc, 2), 0);
    sleep_ms(3000);
    cr_assert_eq(rd_kafka_mock_broker_set_up(mc, 2), 0);
    sp_stream_produce(&s, 2000);
    sleep_ms(1000);

    cr_assert(caught_up(r, 2), "did not catch up after the Kafka faults");
    sp_env_redis_down(&env); /* Redis down while events arrive and are read */
    uint64_t before = atomic_load(&sp_pipeline_get_stats(r[0].pl)->consumed) +
                      atomic_load(&sp_pipeline_get_stats(r[1].pl)->consumed);
    sp_stream_produce(&s, 2000);
    for (int t = 0; t < 200 && atomic_load(&sp_pipeline_get_stats(r[0].pl)->consumed) +
                                       atomic_load(&sp_pipeline_get_stats(r[1].pl)->consumed) ==
                                   before;
         t++)
        sleep_ms(50);
    /* keep Redis down until an instance has failed a flush or a restore on it (or 60 s);
     * a fixed wait could end before a flush fell inside it while a rebalance ran */
    for (int t = 0; t < 1200 && failures(r, 2) == 0; t++)
        sleep_ms(50);
    sleep_ms(1000);
    sp_env_redis_up(&env);
    sp_stream_produce(&s, 2000);
    int total = s.produced;
    sp_stream_close(&s);
    cr_assert(caught_up(r, 2), "did not catch up after the Redis outage");
    for (int i = 0; i < 2; i++) {
        cr_expect(!atomic_load(&r[i].finished), "instance %d exited by itself: %s", i, r[i].err);
        cr_expect_gt(atomic_load(&sp_pipeline_get_stats(r[i].pl)->consumed), 0);
    }
    /* the outage shows as failed flushes, or as failed restores when a rebalance left
     * partitions being assigned while Redis was down */
    cr_expect_gt(failures(r, 2), 0, "the Redis outage was noticed");
    for (int i = 0; i < 2; i++)
        sp_runner_stop(&r[i]);
    sp_config_free(&cfg);
    run_group("ev", PARTS, "reference", "ref", 1);
    long lines = sp_expect_same_dump(&env, "ref", "sp");
    cr_expect_gt(lines, 5000, "too little compared (%ld lines)", lines);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), total);
}
#endif
