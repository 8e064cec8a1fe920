/*
 * bench.c - supportpulse's benchmark program (built, never run as a test).
 *
 *   spbench decode [--events N] [--runs R] [--depth D]
 *                  [--seed S --arrivals A --start TS --clean]
 *       in memory, on one generated corpus, interleaved runs, medians:
 *       bare json_loadb | sp_event_decode through jansson alone | sp_event_decode
 *       (yajl's reader, jansson where it declines) | decode + the full metric set (4
 *       partitions: counts, correlation, sketches, gauges) on one thread | the same
 *       on 1 and 2 decode threads (decode_pool.h), each decoding and applying the
 *       events of its partitions, as the pipeline runs them
 *   spbench sketch [--runs R]
 *       ns per sketch insert: the bucket index alone, and index + sparse insert into
 *       1-minute cells of 1,000 values (what the windows do)
 *   spbench cases
 *       memory per open case: 100,000 waiting calls in a case store, and in a partition
 *       (case store, index, waiting list, dedup of their event ids), from the RSS
 *   spbench attrs [--runs R]
 *       the attribution store (surveys days after their case): bytes per entry for
 *       1,000,000 closed cases, from the RSS; ns per put (a case leaving the case store)
 *       and per lookup of a remembered case (a late survey), medians of R runs
 *   spbench e2e [--events N] [--runs R] [--partitions P]
 *       the same corpus produced into an embedded mock cluster (lz4), then read by
 *       a bare librdkafka consumer | the full pipeline into a private redis-server
 *   spbench forecast [--runs R]
 *       held-out accuracy of the arrivals forecast against seasonal naive, interval
 *       coverage, and the CPU time of a refresh and a refit of 100 series
 *       (bench_forecast.c)
 *   spbench alerts [--runs R]
 *       one alert evaluation of the seed rules over 351 live dimension sets: nothing
 *       breached, all pending, all firing at once (bench_alerts.c)
 *   spbench redis [--hours H]
 *       Redis commands for H hours of traffic at two densities (x1 and x4 events), and
 *       per rollup key left in Redis (windows x dimension sets x resolutions): they
 *       should follow windows and dimensions, not events
 *
 * The corpus: `supportpulse gen` traffic of a busy wallet help desk (60,000 contacts an
 * hour at an average hour; ~100,000 in the Monday-morning peak the decode and e2e
 * corpora start at), seed 1, 1% duplicates, 2% out of order, 0.5% malformed. The redis
 * benchmark starts on a Saturday at midnight, the quiet hours, where Redis costs most
 * per event. decode takes the corpus flags of `supportpulse gen` instead (--seed,
 * --arrivals for --arrivals-per-hour, --start RFC 3339 or epoch ms; --clean keeps gen's
 * own defaults for duplicates, disorder and malformed messages), so that its rate is
 * measured on exactly the corpus a catch-up benchmark produced (benchmarks/catchup.sh).
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "supportpulse/attribution.h"
#include "supportpulse/cases.h"
#include "supportpulse/config.h"
#include "supportpulse/decode_pool.h"
#include "supportpulse/gen_kafka.h"
#include "supportpulse/generator.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/mock_cluster.h"
#include "supportpulse/partition.h"
#include "supportpulse/pipeline.h"
#include "supportpulse/redis_server.h"

#define NPART 4 /* partitions of the in-memory benchmarks */
#define APPLY_AHEAD 3 /* spbench apply: prefetch the events this many places on */
#define STR_(x) #x
#define STR(x) STR_(x)
#define PEAK_START_MS 1763974800000LL /* Monday 2025-11-24T09:00:00Z: the morning peak */

typedef struct {
    char **key, **val;
    size_t *klen, *vlen;
    unsigned char *part; /* the partition of each message, as Kafka's producer chose it */
    size_t n, bytes;
} corpus;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "spbench: %s\n", what);
    exit(1);
}

/* The decode corpus as the flags set it (spbench decode --seed/--arrivals/--start/--clean). */
static struct {
    uint64_t seed;
    double arrivals;
    int64_t start_ms;
    int clean;
} decode_corpus = {1, 60000, PEAK_START_MS, 0};

/* start_ms 0: the generator's default (a Saturday, 00:00 UTC: the quiet hours) */
static corpus make_corpus_seeded(size_t n, uint64_t seed, double arrivals_per_hour,
                                 int64_t start_ms, int64_t until_ms, int clean)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = seed;
    if (start_ms)
        gc.start_ms = start_ms;
    gc.arrivals_per_hour = arrivals_per_hour;
    if (!clean) {
        gc.duplicates = 0.01;
        gc.out_of_order = 0.02;
        gc.malformed = 0.005;
    }
    char err[256];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    corpus c = {calloc(n, sizeof(char *)), calloc(n, sizeof(char *)), calloc(n, sizeof(size_t)),
                calloc(n, sizeof(size_t)), calloc(n, 1), 0, 0};
    if (!g || !c.key || !c.val || !c.klen || !c.vlen || !c.part)
        die("out of memory");
    while (c.n < n) {
        sp_gen_msg m;
        if (sp_gen_next(g, &m) < 0)
            die("generator");
        if (until_ms && m.ts_ms >= until_ms)
            break;
        c.key[c.n] = strndup(m.key, m.key_len);
        c.val[c.n] = strndup(m.value, m.value_len);
        c.klen[c.n] = m.key_len;
        c.vlen[c.n] = m.value_len;
        c.part[c.n] = (unsigned char)(sp_hash_bytes(m.key, m.key_len) % NPART);
        c.bytes += m.value_len;
        c.n++;
    }
    sp_gen_destroy(g);
    return c;
}

static corpus make_corpus(size_t n, double arrivals_per_hour, int64_t start_ms, int64_t until_ms)
{
    return make_corpus_seeded(n, 1, arrivals_per_hour, start_ms, until_ms, 0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- decode ----------------------------------------------------------------------- */

/* The baseline runs with jansson's own allocator (malloc/free), not the decoder's
 * arena hook, which stays installed for the decoder's runs. */
static double run_jansson(const corpus *c)
{
    json_malloc_t saved_malloc;
    json_free_t saved_free;
    json_get_alloc_funcs(&saved_malloc, &saved_free);
    json_set_alloc_funcs(malloc, free);
    double t0 = now_s();
    size_t ok = 0;
    for (size_t i = 0; i < c->n; i++) {
        json_error_t e;
        json_t *j = json_loadb(c->val[i], c->vlen[i], 0, &e);
        ok += j != NULL;
        json_decref(j);
    }
    double dt = now_s() - t0;
    json_set_alloc_funcs(saved_malloc, saved_free);
    if (ok == 0)
        die("nothing parsed");
    return dt;
}

/* tree: decode through jansson alone (sp_event_decode_tree), as before yajl's reader */
static double run_decode(const corpus *c, int tree)
{
    double t0 = now_s();
    size_t ok = 0;
    for (size_t i = 0; i < c->n; i++) {
        sp_event ev;
        sp_reject_reason r;
        char err[256];
        ok += (tree ? sp_event_decode_tree : sp_event_decode)(c->val[i], c->vlen[i], &ev, &r,
                                                              err, sizeof err) == 0;
    }
    double dt = now_s() - t0;
    if (ok == 0)
        die("nothing decoded");
    return dt;
}

static void partitions_new(sp_partition *p[NPART])
{
    sp_partition_conf pc;
    sp_partition_conf_defaults(&pc);
    pc.max_future_ms = 0;
    char err[256];
    for (int i = 0; i < NPART; i++)
        if (!(p[i] = sp_partition_new(&pc, err, sizeof err)))
            die(err);
}

static void partitions_destroy(sp_partition *p[NPART], size_t applied)
{
    for (int i = 0; i < NPART; i++)
        sp_partition_destroy(p[i]);
    if (applied == 0)
        die("nothing applied");
}

/* Applies event i of the corpus to its partition (the one Kafka gave it); every 8,192
 * events marks them published, as the publisher does once a second. 1 when applied. */
static int apply_event(sp_partition *p[NPART], const corpus *c, size_t i, const sp_event *ev)
{
    char err[256];
    sp_reject_reason r;
    sp_partition *part = p[c->part[i]];
    int ok = sp_partition_apply(part, ev, 0, &r, err, sizeof err) == SP_APPLY_OK;
    if ((i & 8191) == 0)
        for (int k = 0; k < NPART; k++)
            sp_partition_published(p[k], INT64_MIN);
    return ok;
}

static double run_windows(const corpus *c)
{
    sp_partition *p[NPART];
    partitions_new(p);
    char err[256];
    double t0 = now_s();
    size_t applied = 0;
    for (size_t i = 0; i < c->n; i++) {
        sp_event ev;
        sp_reject_reason r;
        if (sp_event_decode(c->val[i], c->vlen[i], &ev, &r, err, sizeof err) == 0)
            applied += apply_event(p, c, i, &ev);
    }
    double dt = now_s() - t0;
    partitions_destroy(p, applied);
    return dt;
}

/* Collects the oldest job, waiting for it: 1 when it was applied. */
static size_t collect_one(sp_decode_pool *pool)
{
    const sp_decode_job *j = sp_decode_pool_peek(pool, 1);
    size_t applied = j->rc == 0 && j->applied == SP_APPLY_OK;
    sp_decode_pool_release(pool);
    return applied;
}

/* Collects every job handed to the pool, and counts those applied. */
static size_t drain_pool(sp_decode_pool *pool)
{
    size_t applied = 0;
    while (sp_decode_pool_pending(pool) > 0)
        applied += collect_one(pool);
    return applied;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t pool_depth = 1024; /* the pipeline's; --depth changes it */

/* As the pipeline does it: `threads` decode threads decode and apply, partition k's
 * events on thread k mod threads; this thread hands out the values, collects the
 * outcomes, and every 8,192 events waits for the threads to finish what they have and
 * marks the partitions published (as a flush does). *cpu: the CPU time this (the
 * submitting) thread used meanwhile. */
static double run_pool(const corpus *c, int threads, double *cpu)
{
    sp_partition *p[NPART];
    partitions_new(p);
    char err[256];
    sp_decode_pool *pool = sp_decode_pool_new(threads, pool_depth, err, sizeof err);
    if (!pool)
        die(err);
    double t0 = now_s(), c0 = thread_cpu_s();
    size_t applied = 0;
    for (size_t i = 0; i < c->n; i++) {
        if ((i & 8191) == 0) {
            applied += drain_pool(pool);
            for (int k = 0; k < NPART; k++)
                sp_partition_published(p[k], INT64_MIN);
        }
        int part = c->part[i];
        while (sp_decode_pool_submit(pool, part, c->val[i], c->vlen[i], p[part], NULL) < 0)
            applied += collect_one(pool); /* that ring is full */
    }
    applied += drain_pool(pool);
    double dt = now_s() - t0;
    *cpu = thread_cpu_s() - c0;
    sp_decode_pool_destroy(pool);
    partitions_destroy(p, applied);
    return dt;
}

static void report(const char *name, const corpus *c, double t, double base)
{
    printf("  %-26s %10.0f events/s %8.1f MB/s   %.3fx json_loadb\n", name, c->n / t,
           c->bytes / t / 1e6, base / t);
}

static int bench_decode(size_t n, int runs)
{
    corpus c = make_corpus_seeded(n, decode_corpus.seed, decode_corpus.arrivals,
                                  decode_corpus.start_ms, 0, decode_corpus.clean);
    printf("corpus: %zu messages, gen seed %llu, %.0f arrivals an hour, from %lld ms%s\n", c.n,
           (unsigned long long)decode_corpus.seed, decode_corpus.arrivals,
           (long long)decode_corpus.start_ms,
           decode_corpus.clean ? ", gen's own duplicates/disorder/malformed" : "");
    double tj[64], tt[64], td[64], tw[64], t1[64], t2[64], c1[64], c2[64];
    for (int r = 0; r < runs; r++) { /* interleaved: the machine's noise hits all of them */
        tj[r] = run_jansson(&c);
        tt[r] = run_decode(&c, 1);
        td[r] = run_decode(&c, 0);
        tw[r] = run_windows(&c);
        t1[r] = run_pool(&c, 1, &c1[r]);
        t2[r] = run_pool(&c, 2, &c2[r]);
    }
    double j = median(tj, runs), t = median(tt, runs), d = median(td, runs);
    double w = median(tw, runs);
    double p1 = median(t1, runs), p2 = median(t2, runs);
    printf("decode: %zu events, %.1f MB, median of %d runs\n", c.n, c.bytes / 1e6, runs);
    report("bare json_loadb", &c, j, j);
    report("decode, jansson only", &c, t, j);
    report("decode", &c, d, j);
    report("decode + full metrics", &c, w, j);
    report("  1 decode thread", &c, p1, j);
    report("  2 decode threads", &c, p2, j);
    printf("  2 decode threads / one thread: %.2fx; / 1 decode thread: %.2fx\n", w / p2, p1 / p2);
    printf("  submitting thread's CPU per event: %.0f ns with 1 decode thread, %.0f ns with 2"
           " (ring depth %zu)\n", median(c1, runs) / c.n * 1e9, median(c2, runs) / c.n * 1e9,
           pool_depth);
    return 0;
}

/* ---- the apply step alone ---------------------------------------------------------- */

/* Applies every decoded event of the corpus to fresh partitions; with `ahead`, first
 * prefetches the table entries of the event that many places on (as the pipeline does
 * with decoded jobs). Times the first and the second half into t[0], t[1]. */
static void apply_all(const corpus *c, const sp_event *ev, const unsigned char *ok,
                      size_t ahead, double t[2])
{
    sp_partition *p[NPART];
    partitions_new(p);
    size_t applied = 0, half = c->n / 2;
    double t0 = now_s();
    for (size_t i = 0; i < c->n; i++) {
        if (i == half) {
            t[0] = now_s() - t0;
            t0 = now_s();
        }
        if (ahead && i + ahead < c->n && ok[i + ahead])
            sp_partition_prefetch(p[c->part[i + ahead]], &ev[i + ahead]);
        if (ok[i])
            applied += apply_event(p, c, i, &ev[i]);
    }
    t[1] = now_s() - t0;
    partitions_destroy(p, applied);
}

/* Events decoded beforehand (outside the timing); times sp_partition_apply alone, in
 * ns per event, for the first and the second half of the corpus: the second half runs
 * against the state the first half built (more open cases, a fuller dedup set), as a
 * pipeline does once it has run for a while. Each run applies the corpus twice, without
 * and with the look-ahead prefetch. The bare json_loadb time per event gives the
 * scale. */
static int bench_apply(size_t n, int runs)
{
    corpus c = make_corpus(n, 60000, PEAK_START_MS, 0);
    sp_event *ev = malloc(c.n * sizeof *ev);
    unsigned char *ok = calloc(c.n, 1);
    if (!ev || !ok)
        die("out of memory");
    char err[256];
    for (size_t i = 0; i < c.n; i++) {
        sp_reject_reason r;
        ok[i] = sp_event_decode(c.val[i], c.vlen[i], &ev[i], &r, err, sizeof err) == 0;
    }
    double tj[64], t[2][2][64];
    for (int r = 0; r < runs; r++) {
        double h[2] = {0, 0};
        tj[r] = run_jansson(&c);
        for (int v = 0; v < 2; v++) {
            apply_all(&c, ev, ok, v ? APPLY_AHEAD : 0, h);
            t[v][0][r] = h[0];
            t[v][1][r] = h[1];
        }
    }
    double j = median(tj, runs) / c.n * 1e9;
    size_t half = c.n / 2;
    printf("apply: %zu events, median of %d runs\n", c.n, runs);
    printf("  bare json_loadb                        %6.0f ns/event\n", j);
    for (int v = 0; v < 2; v++)
        for (int hf = 0; hf < 2; hf++) {
            double a = median(t[v][hf], runs) / (double)(hf ? c.n - half : half) * 1e9;
            printf("  apply%-19s %s half %6.0f ns/event   %.3fx of json_loadb's time\n",
                   v ? ", prefetch " STR(APPLY_AHEAD) " ahead" : "",
                   hf ? "second" : "first ", a, a / j);
        }
    free(ev);
    free(ok);
    return 0;
}

/* ---- end to end -------------------------------------------------------------------- */

static void produce(const char *bootstrap, const char *topic, const corpus *c)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "compression.codec", "lz4", err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err);
    rd_kafka_conf_set(conf, "batch.size", "1000000", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk)
        die(err);
    for (size_t i = 0; i < c->n; i++)
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(0),
                                 RD_KAFKA_V_KEY(c->key[i], c->klen[i]),
                                 RD_KAFKA_V_VALUE(c->val[i], c->vlen[i]),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    if (rd_kafka_flush(rk, 120000))
        die("produce did not complete");
    rd_kafka_destroy(rk);
}

/* A plain consumer-group member reading every message once (the baseline). */
static double bare_consume(const char *bootstrap, const char *topic, const char *group, size_t n)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t got = 0, bytes = 0;
    double t0 = 0;
    while (got < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m)
            continue;
        if (!m->err) {
            if (got++ == 0)
                t0 = now_s();
            bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double dt = now_s() - t0;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return dt * (double)n / (double)(n - 1); /* the first message started the clock */
}

typedef struct {
    double seconds;       /* first message consumed .. last message consumed */
    double flush_seconds; /* .. and written to Redis by the next flush */
    long long client_cmds, script_calls;
    long long flushes, longest_call_us; /* Redis is busy for readers that long */
} pipeline_run;

/* The longest command Redis ran since the slow log was reset (µs); readers wait that long. */
static long long longest_call_us(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "SLOWLOG GET 100000");
    long long max = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 3 &&
            e->element[2]->type == REDIS_REPLY_INTEGER && e->element[2]->integer > max)
            max = e->element[2]->integer;
    }
    if (r)
        freeReplyObject(r);
    return max;
}

static void reset_redis_stats(redisContext *rc)
{
    const char *cmds[] = {"CONFIG RESETSTAT", "CONFIG SET slowlog-log-slower-than 10000",
                          "CONFIG SET slowlog-max-len 100000", "SLOWLOG RESET"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        redisReply *r = redisCommand(rc, cmds[i]);
        if (r)
            freeReplyObject(r);
    }
}

static long long info_field(redisContext *rc, const char *section, const char *field)
{
    redisReply *r = redisCommand(rc, "INFO %s", section);
    long long v = 0;
    if (r && r->type == REDIS_REPLY_STRING) {
        char *p = r->str;
        size_t fl = strlen(field);
        while ((p = strstr(p, field))) {
            if (strncmp(section, "commandstats", 12) == 0) {
                char *c = strstr(p, "calls=");
                if (c)
                    v += strtoll(c + 6, NULL, 10);
                p += fl;
            } else {
                v = strtoll(p + fl + 1, NULL, 10);
                break;
            }
        }
    }
    if (r)
        freeReplyObject(r);
    return v;
}

static long long dbsize(redisContext *rc)
{
    redisReply *r = redisCommand(rc, "DBSIZE");
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

typedef struct {
    sp_pipeline *pl;
    char err[512];
} run_ctx;

static void *run_thread(void *arg)
{
    run_ctx *c = arg;
    if (sp_pipeline_run(c->pl, c->err, sizeof c->err) < 0)
        fprintf(stderr, "spbench: pipeline: %s\n", c->err);
    return NULL;
}

/* SPBENCH_SET="name=value,name=value": pipeline settings for a tuning experiment. */
static void set_extra(sp_config *cfg, const char *list)
{
    char buf[512], err[512];
    if (!list)
        return;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            die("SPBENCH_SET: expected name=value");
        *eq = '\0';
        if (sp_config_set(cfg, kv, eq + 1, err, sizeof err) < 0)
            die(err);
    }
}

static pipeline_run run_pipeline(const char *bootstrap, const char *topic, const char *group,
                                 const char *redis_addr, redisContext *rc, size_t n)
{
    sp_config cfg;
    char err[512];
    if (sp_config_init(&cfg) < 0)
        die("config");
    sp_config_set(&cfg, "bootstrap", bootstrap, err, sizeof err);
    sp_config_set(&cfg, "topic", topic, err, sizeof err);
    sp_config_set(&cfg, "group", group, err, sizeof err);
    sp_config_set(&cfg, "prefix", group, err, sizeof err);
    sp_config_set(&cfg, "redis", redis_addr, err, sizeof err);
    sp_config_set(&cfg, "max_future_s", "0", err, sizeof err);
    sp_config_set(&cfg, "log_level", "error", err, sizeof err);
    set_extra(&cfg, getenv("SPBENCH_SET"));
    reset_redis_stats(rc);
    sp_pipeline *pl = sp_pipeline_new(&cfg, err, sizeof err);
    if (!pl)
        die(err);
    const sp_pipeline_stats *s = sp_pipeline_get_stats(pl);
    /* the pipeline runs on its own thread; this one only samples its stats */
    pipeline_run out = {0, 0, 0, 0, 0, 0};
    double t0 = 0, t_end = 0;
    pthread_t th;
    run_ctx c = {pl, ""};
    pthread_create(&th, NULL, run_thread, &c);
    while (atomic_load(&s->consumed) == 0)
        usleep(200);
    t0 = now_s();
    while (atomic_load(&s->consumed) < n)
        usleep(200);
    double t_consumed = now_s();
    uint64_t f = atomic_load(&s->flushes);
    while (atomic_load(&s->flushes) < f + 1) /* the flush that holds the last event */
        usleep(200);
    t_end = now_s();
    sp_pipeline_stop(pl);
    pthread_join(th, NULL);
    out.seconds = t_consumed - t0;
    out.flush_seconds = t_end - t_consumed;
    out.client_cmds = info_field(rc, "stats", "total_commands_processed");
    out.script_calls = info_field(rc, "commandstats", "cmdstat_");
    out.flushes = (long long)atomic_load(&s->flushes);
    out.longest_call_us = longest_call_us(rc);
    if (getenv("SPBENCH_CMDSTATS")) { /* the breakdown by command, for tuning */
        redisReply *r = redisCommand(rc, "INFO commandstats");
        if (r && r->type == REDIS_REPLY_STRING)
            fprintf(stderr, "%s", r->str);
        if (r)
            freeReplyObject(r);
        fprintf(stderr, "redis keys %lld, used_memory %lld bytes\n", dbsize(rc),
                info_field(rc, "memory", "used_memory"));
    }
    sp_pipeline_destroy(pl);
    sp_config_free(&cfg);
    return out;
}

typedef struct {
    sp_mock *mock;
    sp_redis_server redis;
    redisContext *rc;
    char dir[256];
} bench_env;

static void env_start(bench_env *e, const char *topic, int partitions)
{
    char err[512];
    if (sp_tmpdir(e->dir, sizeof e->dir, "spbench") < 0 || sp_redis_server_start(&e->redis, e->dir, 0, 0, err, sizeof err) < 0)
        die("redis-server");
    e->rc = redisConnectUnix(e->redis.socket);
    const char *extra = getenv("SPBENCH_REDIS"); /* "name value": a Redis setting to try */
    if (extra && *extra) {
        char name[128], value[128];
        if (sscanf(extra, "%127s %127s", name, value) != 2)
            die("SPBENCH_REDIS: expected \"name value\"");
        redisReply *r = redisCommand(e->rc, "CONFIG SET %s %s", name, value);
        if (!r || r->type == REDIS_REPLY_ERROR)
            die("SPBENCH_REDIS: CONFIG SET failed");
        freeReplyObject(r);
    }
    if (!(e->mock = sp_mock_new(1, err, sizeof err)) ||
        sp_mock_create_topic(e->mock, topic, partitions, err, sizeof err) < 0)
        die(err);
    char dlq[128];
    snprintf(dlq, sizeof dlq, "%s-dlq", topic);
    sp_mock_create_topic(e->mock, dlq, 1, err, sizeof err);
}

static void env_stop(bench_env *e)
{
    redisFree(e->rc);
    sp_redis_server_stop(&e->redis);
    sp_mock_destroy(e->mock);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", e->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "spbench: could not remove %s\n", e->dir);
}

static int bench_e2e(size_t n, int runs, int partitions)
{
    corpus c = make_corpus(n, 60000, PEAK_START_MS, 0);
    bench_env e;
    env_start(&e, "bench", partitions);
    const char *bs = sp_mock_bootstraps(e.mock);
    produce(bs, "bench", &c);
    double tb[64], tp[64], tf[64], tt[64], tl[64];
    long long cmds = 0, calls = 0, flushes = 0;
    for (int r = 0; r < runs; r++) {
        char g[32];
        snprintf(g, sizeof g, "bare%d", r);
        tb[r] = bare_consume(bs, "bench", g, c.n);
        snprintf(g, sizeof g, "sp%d", r);
        pipeline_run pr = run_pipeline(bs, "bench", g, e.redis.address, e.rc, c.n);
        tp[r] = pr.seconds;
        tf[r] = pr.flush_seconds;
        tt[r] = pr.seconds + pr.flush_seconds;
        tl[r] = (double)pr.longest_call_us / 1e6;
        flushes = pr.flushes;
        cmds = pr.client_cmds;
        calls = pr.script_calls;
    }
    double b = median(tb, runs), p = median(tp, runs);
    printf("e2e: %zu events, %.1f MB, %d partitions (lz4), median of %d runs\n", c.n,
           c.bytes / 1e6, partitions, runs);
    printf("  %-26s %10.0f events/s %8.1f MB/s\n", "bare librdkafka consumer", c.n / b,
           c.bytes / b / 1e6);
    printf("  %-26s %10.0f events/s %8.1f MB/s   %.3fx bare consumer\n",
           "pipeline into Redis", c.n / p, c.bytes / p / 1e6, b / p);
    double t = median(tt, runs);
    printf("  %-26s %10.0f events/s %8.1f MB/s   %.3fx bare consumer\n",
           "  ... until all in Redis", c.n / t, c.bytes / t / 1e6, b / t);
    printf("  last event to Redis: median %.2f s after it was consumed\n", median(tf, runs));
    printf("  longest script call (Redis busy for readers): median %.2f s; %lld flushes in the "
           "last run\n", median(tl, runs), flushes);
    printf("  redis: %lld commands (incl. inside scripts) in the last run, %.2f per event\n",
           calls, (double)calls / (double)c.n);
    (void)cmds;
    env_stop(&e);
    return 0;
}

/* Keys matching pattern, by SCAN (the rollups a run left: windows x dimension sets x
 * resolutions). */
static long long count_keys(redisContext *rc, const char *pattern)
{
    long long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
            die("SCAN");
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (long long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static int bench_redis(int hours)
{
    int64_t start = 0;
    sp_gen_conf d;
    sp_gen_conf_defaults(&d);
    start = d.start_ms;
    int64_t until = start + hours * 3600000LL;
    printf("redis: commands for %d hours of traffic at two densities\n", hours);
    printf("  %-12s %10s %12s %10s %14s %14s %14s\n", "contacts/h", "events", "1m windows",
           "rollups", "client cmds", "all commands", "per rollup");
    for (int k = 1; k <= 4; k *= 4) {
        corpus c = make_corpus(5000000, 15000.0 * k, 0, until);
        bench_env e;
        char topic[32];
        snprintf(topic, sizeof topic, "dens%d", k);
        env_start(&e, topic, 4);
        produce(sp_mock_bootstraps(e.mock), topic, &c);
        pipeline_run pr = run_pipeline(sp_mock_bootstraps(e.mock), topic, "r", e.redis.address,
                                       e.rc, c.n);
        long long rollups = count_keys(e.rc, "r:r:*");
        printf("  %-12d %10zu %12d %10lld %14lld %14lld %14.2f\n", 15000 * k, c.n, hours * 60,
               rollups, pr.client_cmds, pr.script_calls,
               rollups ? (double)pr.script_calls / (double)rollups : 0.0);
        env_stop(&e);
    }
    return 0;
}

/* ---- sketch and case memory --------------------------------------------------------- */

static int bench_sketch(int runs)
{
    enum { N = 4000000, CELL = 1000 };
    int64_t *v = malloc(N * sizeof *v);
    if (!v)
        die("out of memory");
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0; i < N; i++) { /* log-uniform 100 ms .. 2 h: waits to handle times */
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v[i] = (int64_t)(100.0 * pow(72000.0, (double)(x >> 11) / 9007199254740992.0));
    }
    double ti[64], ts[64];
    volatile unsigned sink = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        unsigned acc = 0;
        for (size_t i = 0; i < N; i++)
            acc += sp_sketch_index(v[i]);
        ti[r] = (now_s() - t0) / N * 1e9;
        sink += acc;
        t0 = now_s();
        for (size_t i = 0; i < N; i += CELL) {
            sp_sketch s;
            sp_sketch_init(&s);
            for (size_t k = i; k < i + CELL; k++)
                if (sp_sketch_add(&s, v[k]) < 0)
                    die("out of memory");
            sink += s.nb;
            sp_sketch_free(&s);
        }
        ts[r] = (now_s() - t0) / N * 1e9;
    }
    printf("sketch: %d values, log-uniform 100 ms..2 h, median of %d runs\n", N, runs);
    printf("  bucket index                %6.2f ns/op\n", median(ti, runs));
    printf("  insert into 1,000-value cells %6.2f ns/op (index, table lookup, count)\n",
           median(ts, runs));
    free(v);
    return (int)(sink & 0);
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        die("cannot read /proc/self/statm");
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static int bench_cases(void)
{
    enum { N = 100000 };
    long before = rss_bytes();
    sp_cases *c = sp_cases_new(N, 7LL * 86400000, 7LL * 86400000);
    if (!c)
        die("out of memory");
    for (int i = 0; i < N; i++) {
        char id[32];
        int len = snprintf(id, sizeof id, "CALL-%08d", i);
        sp_case *k = sp_cases_open(c, sp_case_key(1, id, (size_t)len), 1000 + i);
        if (!k)
            die("out of memory");
        k->flags = SP_CASE_CALL | SP_CASE_STARTED | SP_CASE_WAITING;
        k->start_ts = 1000 + i;
    }
    long store = rss_bytes() - before;
    sp_cases_destroy(c);

    sp_partition_conf pc;
    sp_partition_conf_defaults(&pc);
    pc.max_future_ms = 0;
    pc.max_cases = N;
    char err[256];
    before = rss_bytes();
    sp_partition *p = sp_partition_new(&pc, err, sizeof err);
    if (!p)
        die(err);
    for (int i = 0; i < N; i++) {
        sp_event ev = {.type = SP_EV_CALL_OFFERED, .ts_ms = 1763974800000LL + i * 10,
                       .channel = SP_CH_PHONE, .score = -1, .acw_ms = -1, .hold_ms = -1,
                       .ivr_ms = -1, .case_is_call = 1};
        snprintf(ev.id, sizeof ev.id, "ev-%08d", i);
        snprintf(ev.case_id, sizeof ev.case_id, "CALL-%08d", i);
        snprintf(ev.queue, sizeof ev.queue, "%s", i % 2 ? "payments" : "security");
        snprintf(ev.tenant, sizeof ev.tenant, "default");
        sp_reject_reason r;
        if (sp_partition_apply(p, &ev, 0, &r, err, sizeof err) != SP_APPLY_OK)
            die(err);
    }
    long part = rss_bytes() - before;
    size_t ng;
    sp_gauges *g = sp_partition_gauges(p, &ng);
    long long waiting = -1;
    for (size_t i = 0; g && i < ng; i++)
        if (strcmp(sp_partition_dims_key(p, (uint32_t)i), "all") == 0)
            waiting = g[i].v[SP_G_IN_QUEUE];
    printf("cases: %d calls waiting (in_queue of 'all': %lld)\n", N, waiting);
    printf("  case store (record + index)          %6.1f bytes per open case\n", (double)store / N);
    printf("  partition (store, waiting list, the window cells of 1,000 minutes,\n"
           "  dedup of the 100,000 event ids)      %6.1f bytes per open case\n", (double)part / N);
    sp_partition_destroy(p);
    return 0;
}

static int bench_attrs(int runs)
{
    enum { N = 1000000 };
    uint64_t *keys = malloc(N * sizeof *keys);
    double *tput = malloc((size_t)runs * sizeof *tput), *tfind = malloc((size_t)runs * sizeof *tfind);
    if (!keys || !tput || !tfind)
        die("out of memory");
    for (int i = 0; i < N; i++) {
        char id[32];
        int len = snprintf(id, sizeof id, "TICKET-%08d", i);
        keys[i] = sp_case_key(0, id, (size_t)len);
    }
    long mem = 0;
    uint64_t found = 0;
    for (int r = 0; r < runs; r++) {
        long before = rss_bytes();
        sp_attrs *s = sp_attrs_new(N, 7LL * 86400000);
        if (!s)
            die("out of memory");
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
            sp_attr a = {.key = keys[i], .queue = (uint32_t)(i % 8) + 1, .agent = (uint32_t)(i % 500) + 1,
                         .last_min = 29396160u + (uint32_t)(i / 100), .channel = 2};
            if (sp_attrs_put(s, &a) < 0)
                die("out of memory");
        }
        double t1 = now_s();
        uint64_t x = 88172645463325252ULL;
        for (int i = 0; i < N; i++) { /* surveys for random remembered cases */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            found += sp_attrs_find(s, keys[x % N]) != NULL;
        }
        double t2 = now_s();
        tput[r] = (t1 - t0) * 1e9 / N;
        tfind[r] = (t2 - t1) * 1e9 / N;
        if (r == 0)
            mem = rss_bytes() - before;
        sp_attrs_destroy(s);
    }
    printf("attribution store: %d closed cases, %d runs (medians)\n", N, runs);
    printf("  memory (record + index)     %6.1f bytes per entry\n", (double)mem / N);
    printf("  put (case leaves the store) %6.1f ns\n", median(tput, runs));
    printf("  lookup (a late survey)      %6.1f ns   (%llu found of %llu)\n", median(tfind, runs),
           (unsigned long long)found, (unsigned long long)N * (unsigned long long)runs);
    free(keys);
    free(tput);
    free(tfind);
    return found == (uint64_t)N * (uint64_t)runs ? 0 : 1;
}

int bench_forecast(int runs); /* bench_forecast.c */
int bench_alerts(int runs, const char *rules_path); /* bench_alerts.c */

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: spbench decode|apply|e2e|redis|sketch|cases|attrs|forecast|alerts"
                        " [--events N] [--runs R] [--partitions P] [--hours H] [--depth D]"
                        " [--seed S] [--arrivals A] [--start TS] [--clean]\n");
        return 2;
    }
    size_t n = 200000;
    int runs = 5, partitions = 16, hours = 6;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--clean") == 0) { /* the one flag without a value */
            decode_corpus.clean = 1;
            memmove(argv + i, argv + i + 1, (size_t)(argc - i) * sizeof *argv);
            argc--;
            i--;
        }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seed") == 0)
            decode_corpus.seed = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--arrivals") == 0)
            decode_corpus.arrivals = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--start") == 0 &&
                 sp_ts_parse_rfc3339(argv[i + 1], strlen(argv[i + 1]), &decode_corpus.start_ms) < 0)
            decode_corpus.start_ms = strtoll(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--events") == 0)
            n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--partitions") == 0)
            partitions = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--depth") == 0)
            pool_depth = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--hours") == 0)
            hours = atoi(argv[i + 1]);
    }
    if (runs < 1 || runs > 64 || n < 2)
        die("--runs must be 1..64 and --events >= 2");
    if (pool_depth < 1 || pool_depth > 65536)
        die("--depth must be 1..65536");
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[1], "decode") == 0)
        return bench_decode(n, runs);
    if (strcmp(argv[1], "apply") == 0)
        return bench_apply(n, runs);
    if (strcmp(argv[1], "e2e") == 0)
        return bench_e2e(n, runs, partitions);
    if (strcmp(argv[1], "redis") == 0)
        return bench_redis(hours);
    if (strcmp(argv[1], "sketch") == 0)
        return bench_sketch(runs);
    if (strcmp(argv[1], "cases") == 0)
        return bench_cases();
    if (strcmp(argv[1], "attrs") == 0)
        return bench_attrs(runs);
    if (strcmp(argv[1], "forecast") == 0)
        return bench_forecast(runs);
    if (strcmp(argv[1], "alerts") == 0)
        return bench_alerts(runs, SP_SOURCE_DIR "/deploy/alert-rules.json");
    die("unknown benchmark");
    return 2;
}
