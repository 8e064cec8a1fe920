/*
 * threads_pipeline.c - the pipeline's cross-thread contract under ThreadSanitizer
 * (Criterion cannot run under TSan: Snaipe/Criterion#274, so this is a plain program).
 *
 * First the decode pool alone: four decode threads decode and apply the events of
 * eight partitions (two each) through small rings (so every slot is reused thousands of
 * times) while the submitting thread collects the outcomes and, every 3,000 events,
 * waits for the threads and reads and writes every partition as a flush does; every
 * outcome must arrive in submission order and equal what one thread doing everything
 * got. Then the pipeline, with three decode threads, on its own thread against the mock
 * cluster and a real redis-server, while a generator thread produces, three reader
 * threads poll sp_pipeline_stats continuously (as the demo's display does), and the
 * main thread stops it. It checks that every message was consumed, that the totals
 * in Redis add up to what was applied, and prints "N passed, M failed". Exit 0 when
 * all passed.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supportpulse/config.h"
#include "supportpulse/decode_pool.h"
#include "supportpulse/gen_kafka.h"
#include "supportpulse/mock_cluster.h"
#include "supportpulse/pipeline.h"
#include "supportpulse/redis_server.h"

#define N_EVENTS 20000

static int passed, failed;

static void check(int ok, const char *what)
{
    printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    ok ? passed++ : failed++;
}

typedef struct {
    sp_pipeline *pl;
    atomic_int *done;
    uint64_t reads;
} reader;

static void *read_stats(void *arg)
{
    reader *r = arg;
    const sp_pipeline_stats *s = sp_pipeline_get_stats(r->pl);
    uint64_t last = 0;
    while (!atomic_load(r->done)) {
        uint64_t c = atomic_load(&s->consumed);
        if (c < last) /* counters never go back */
            fprintf(stderr, "consumed went back from %llu to %llu\n", (unsigned long long)last,
                    (unsigned long long)c);
        last = c;
        (void)atomic_load(&s->watermark_ms);
        (void)atomic_load(&s->paused);
        r->reads++;
    }
    return NULL;
}

typedef struct {
    sp_pipeline *pl;
    char err[512];
    int rc;
} runner;

static void *run(void *arg)
{
    runner *r = arg;
    r->rc = sp_pipeline_run(r->pl, r->err, sizeof r->err);
    return NULL;
}

typedef struct {
    sp_gen *g;
    sp_gen_kafka_conf kc;
    atomic_uint_fast64_t delivered;
    char err[256];
    int rc;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    p->rc = sp_gen_produce(p->g, &p->kc, NULL, &p->delivered, p->err, sizeof p->err);
    return NULL;
}

/* ---- the decode pool alone ------------------------------------------------------- */

enum { NMSG = 8192, ROUNDS = 8, NPART = 8, NJOBS = NMSG * ROUNDS, FLUSH_EVERY = 3000 };

static char msgs[NMSG][1024];
static size_t lens[NMSG];
static int part_of[NMSG];
/* what one thread doing everything gets for job n */
static int expect_rc[NJOBS];
static sp_apply_result expect_applied[NJOBS];
static size_t expect_dirty[NJOBS];

static int make_messages(void)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.malformed = 0.05;
    char err[256];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    for (int i = 0; g && i < NMSG; i++) {
        sp_gen_msg m;
        sp_gen_next(g, &m);
        lens[i] = m.value_len < sizeof msgs[i] ? m.value_len : sizeof msgs[i] - 1;
        memcpy(msgs[i], m.value, lens[i]);
        uint32_t h = 2166136261u; /* by key, as Kafka partitions: a case stays on one */
        for (size_t k = 0; k < m.key_len; k++)
            h = (h ^ (unsigned char)m.key[k]) * 16777619u;
        part_of[i] = (int)(h % NPART);
    }
    sp_gen_destroy(g);
    return g ? 0 : -1;
}

static void new_partitions(sp_partition *p[NPART])
{
    sp_partition_conf pc;
    sp_partition_conf_defaults(&pc);
    pc.max_future_ms = 0;
    char err[256];
    for (int i = 0; i < NPART; i++)
        p[i] = sp_partition_new(&pc, err, sizeof err);
}

static void free_partitions(sp_partition *p[NPART])
{
    for (int i = 0; i < NPART; i++)
        sp_partition_destroy(p[i]);
}

/* A flush's part, done by the submitting thread with no job pending: it reads every
 * partition's state (as the publisher does) and writes it (marks it published). */
static size_t flush_partitions(sp_partition *p[NPART])
{
    size_t dirty = 0;
    for (int k = 0; k < NPART; k++) {
        dirty += sp_partition_dirty_cells(p[k]);
        sp_partition_published(p[k], INT64_MIN);
    }
    return dirty;
}

/* Job n, decoded and applied on this thread: the reference. */
static void reference_run(void)
{
    sp_partition *p[NPART];
    new_partitions(p);
    for (int n = 0; n < NJOBS; n++) {
        int k = n % NMSG;
        if (n % FLUSH_EVERY == 0)
            flush_partitions(p);
        sp_event ev;
        sp_reject_reason why;
        char err[256];
        expect_rc[n] = sp_event_decode(msgs[k], lens[k], &ev, &why, err, sizeof err);
        if (expect_rc[n] == 0) {
            expect_applied[n] = sp_partition_apply(p[part_of[k]], &ev, 0, &why, err, sizeof err);
            expect_dirty[n] = sp_partition_dirty_cells(p[part_of[k]]);
        }
    }
    free_partitions(p);
}

/* Checks the job collected as number n; 1 when it is what the reference got. */
static int job_ok(const sp_decode_job *j, size_t n)
{
    if ((size_t)(uintptr_t)j->opaque != n || j->rc != expect_rc[n])
        return 0;
    return j->rc != 0 || (j->applied == expect_applied[n] && j->dirty_cells == expect_dirty[n]);
}

/* The decode pool under churn (with the collector blocking or spinning while it waits):
 * four decode threads, each decoding and applying the
 * events of two of eight partitions, in 16-slot rings reused thousands of times; this
 * thread submits and collects at random, and every FLUSH_EVERY jobs waits for all of
 * them and reads and writes every partition (a flush). Every job must come back in
 * order with what one thread doing everything got. */
static void stress_decode_pool(int blocking)
{
    if (make_messages() < 0) {
        check(0, "generating messages");
        return;
    }
    reference_run();
    char err[256];
    sp_partition *p[NPART];
    new_partitions(p);
    sp_decode_pool *pool = sp_decode_pool_new(4, 16, err, sizeof err);
    if (!pool) {
        check(0, err);
        free_partitions(p);
        return;
    }
    sp_decode_pool_set_blocking(pool, blocking);
    size_t next = 0, bad = 0, collected = 0, flushes = 0;
    uint64_t r = 1;
    while (collected < NJOBS) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        /* flush f is due before job f * FLUSH_EVERY is submitted, with nothing pending */
        int at_flush = next < NJOBS && next % FLUSH_EVERY == 0 && flushes == next / FLUSH_EVERY;
        if (at_flush && collected == next) {
            flush_partitions(p);
            flushes++;
            continue;
        }
        int k = (int)(next % NMSG);
        if (next < NJOBS && !at_flush && (r >> 60) < 11 &&
            sp_decode_pool_submit(pool, part_of[k], msgs[k], lens[k], p[part_of[k]],
                                  (void *)(uintptr_t)next) == 0) {
            next++;
            continue;
        }
        sp_decode_job *j = sp_decode_pool_peek(pool, at_flush || ((r >> 59) & 1));
        if (!j)
            continue;
        bad += !job_ok(j, collected);
        collected++;
        sp_decode_pool_release(pool);
    }
    sp_decode_pool_destroy(pool);
    free_partitions(p);
    check(bad == 0 && flushes == (NJOBS + FLUSH_EVERY - 1) / FLUSH_EVERY,
          blocking ? "decode pool, collector blocking: 65,536 jobs on four threads over eight "
                     "partitions, with a flush every 3,000, come back in order with what one "
                     "thread doing everything got"
                   : "decode pool, collector spinning: the same");
}

static long long sum_all_events(redisContext *rc)
{
    redisReply *idx = redisCommand(rc, "ZRANGE sp:ts:1d:all 0 -1");
    long long total = 0;
    for (size_t i = 0; idx && i < idx->elements; i++) {
        redisReply *v = redisCommand(rc, "HGET sp:r:1d:all:%s events", idx->element[i]->str);
        if (v && v->type == REDIS_REPLY_STRING)
            total += atoll(v->str);
        if (v)
            freeReplyObject(v);
    }
    if (idx)
        freeReplyObject(idx);
    return total;
}

static long long hget(redisContext *rc, const char *key, const char *field)
{
    redisReply *r = redisCommand(rc, "HGET %s %s", key, field);
    long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    if (r)
        freeReplyObject(r);
    return v;
}

static long long alert_count(const char *socket)
{
    redisContext *rc = redisConnectUnix(socket);
    redisReply *r = rc && !rc->err ? redisCommand(rc, "XLEN sp:alerts") : NULL;
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    if (rc)
        redisFree(rc);
    return n;
}

/* Every transition the evaluator recorded went through both hooks once. */
static void check_alerts(redisContext *rc, const char *hooked)
{
    redisReply *r = rc ? redisCommand(rc, "XLEN sp:alerts") : NULL;
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    long long lines = 0;
    FILE *f = fopen(hooked, "r");
    for (int c; f && (c = fgetc(f)) != EOF;)
        lines += c == '\n';
    if (f)
        fclose(f);
    printf("%lld alert transitions, %lld commands run\n", n, lines);
    check(n > 0, "alerts fired while events flowed");
    check(lines == n && hget(rc, "sp:alerts:hooks", "command_ok") == n,
          "the command ran once per transition");
    check(hget(rc, "sp:alerts:hooks", "webhook_failed") == n,
          "each webhook to a closed port failed once and was counted");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    stress_decode_pool(1); /* the collector sleeps until a quarter ring is done */
    stress_decode_pool(0); /* it spins and yields */
    char dir[256], err[512];
    sp_redis_server redis;
    sp_mock *mock;
    if (sp_tmpdir(dir, sizeof dir, "spthreads") < 0 || sp_redis_server_start(&redis, dir, 0, 0, err, sizeof err) < 0 ||
        !(mock = sp_mock_new(1, err, sizeof err)) ||
        sp_mock_create_topic(mock, "ev", 4, err, sizeof err) < 0 ||
        sp_mock_create_topic(mock, "ev-dlq", 1, err, sizeof err) < 0) {
        fprintf(stderr, "set-up: %s\n", err);
        return 1;
    }
    /* alerting beside it: the evaluator thread, a command hook and a webhook to a closed
     * port (each transition fails once, quickly) */
    char rules[300], hooked[300], command[400];
    snprintf(rules, sizeof rules, "%s/rules.json", dir);
    snprintf(hooked, sizeof hooked, "%s/hooked", dir);
    snprintf(command, sizeof command, "echo \"$SP_ALERT_STATE\" >> %s", hooked);
    FILE *rf = fopen(rules, "w");
    if (!rf || fputs("{\"rules\":[{\"name\":\"waiting\",\"metric\":\"in_queue\","
                     "\"dims\":{\"queue\":\"*\"},\"op\":\">\",\"threshold\":0,"
                     "\"resolve_for\":\"1m\"}]}", rf) < 0) {
        fprintf(stderr, "set-up: cannot write %s\n", rules);
        return 1;
    }
    fclose(rf);
    sp_config cfg;
    sp_config_init(&cfg);
    const char *opts[][2] = {{"bootstrap", sp_mock_bootstraps(mock)}, {"redis", redis.address},
                             {"topic", "ev"}, {"dlq_topic", "ev-dlq"}, {"flush_ms", "50"},
                             {"max_future_s", "0"}, {"log_level", "error"},
                             {"decode_threads", "3"}, {"alert_rules", rules},
                             {"alert_eval_ms", "100"}, {"alert_command", command},
                             {"alert_webhook_url", "http://127.0.0.1:1/"},
                             {"alert_webhook_retries", "0"}};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (sp_config_set(&cfg, opts[i][0], opts[i][1], err, sizeof err) < 0) {
            fprintf(stderr, "set-up: %s\n", err);
            return 1;
        }

    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.arrivals_per_hour = 30000;
    gc.duplicates = 0.01;
    gc.malformed = 0.01;
    producer p = {.g = sp_gen_new(&gc, err, sizeof err),
                  .kc = {.bootstrap = sp_mock_bootstraps(mock), .topic = "ev", .count = N_EVENTS}};
    runner r = {.pl = sp_pipeline_new(&cfg, err, sizeof err)};
    if (!p.g || !r.pl) {
        fprintf(stderr, "set-up: %s\n", err);
        return 1;
    }
    atomic_int done = 0;
    reader rd[3] = {{r.pl, &done, 0}, {r.pl, &done, 0}, {r.pl, &done, 0}};
    pthread_t tp, tr, trd[3];
    pthread_create(&tr, NULL, run, &r);
    pthread_create(&tp, NULL, produce, &p);
    for (int i = 0; i < 3; i++)
        pthread_create(&trd[i], NULL, read_stats, &rd[i]);
    pthread_join(tp, NULL);
    const sp_pipeline_stats *s = sp_pipeline_get_stats(r.pl);
    for (int i = 0; i < 1200 && atomic_load(&s->consumed) < N_EVENTS; i++)
        usleep(50000);
    uint64_t f = atomic_load(&s->flushes);
    for (int i = 0; i < 100 && atomic_load(&s->flushes) < f + 2; i++)
        usleep(50000);
    /* calls still wait at the end of the stream: let the alert thread see them (a fast
     * run may finish before its first evaluation) */
    for (int i = 0; i < 200 && alert_count(redis.socket) == 0; i++)
        usleep(50000);
    sp_pipeline_stop(r.pl); /* from another thread than the pipeline's */
    pthread_join(tr, NULL);
    atomic_store(&done, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(trd[i], NULL);

    check(p.rc == 0, "the generator delivered every message");
    check(r.rc == 0, "the pipeline stopped cleanly");
    check(atomic_load(&s->consumed) == N_EVENTS, "every message was consumed");
    check(rd[0].reads > 0 && rd[1].reads > 0 && rd[2].reads > 0, "readers ran alongside");
    redisContext *rc = redisConnectUnix(redis.socket);
    long long in_redis = rc && !rc->err ? sum_all_events(rc) : -1;
    check(in_redis == (long long)atomic_load(&s->applied), "Redis totals equal the applied events");
    check_alerts(rc, hooked);
    if (rc)
        redisFree(rc);
    sp_pipeline_destroy(r.pl);
    sp_gen_destroy(p.g);
    sp_config_free(&cfg);
    sp_mock_destroy(mock);
    sp_redis_server_stop(&redis);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
