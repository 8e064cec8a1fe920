/*
 * cmd_demo.c - `supportpulse demo`: the whole path on one machine. Starts the mock
 * Kafka cluster in-process, a redis-server (left running afterwards so redis-cli can
 * read the rollups), a generator thread producing a wallet help desk's traffic, and the
 * pipeline thread; prints a live summary every second; stops after --duration seconds
 * or on Ctrl-C, flushing everything first.
 */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "supportpulse/config.h"
#include "supportpulse/gen_kafka.h"
#include "supportpulse/log.h"
#include "supportpulse/mock_cluster.h"
#include "supportpulse/pipeline.h"
#include "supportpulse/redis_server.h"
#include "supportpulse/timezone.h"

typedef struct {
    long long duration_s, port, partitions;
    double rate, malformed;
    const char *dir, *alert_rules, *time_zone;
} demo_opts;

typedef struct {
    sp_gen *gen;
    sp_gen_kafka_conf kc;
    atomic_int stop;
    atomic_uint_fast64_t produced;
    int rc;
    char err[256];
} gen_thread;

typedef struct {
    sp_pipeline *pl;
    int rc;
    char err[512];
} run_thread;

static atomic_int demo_stop;
static void stop_demo(void *arg) { (void)arg; atomic_store(&demo_stop, 1); }

static void *gen_main(void *arg)
{
    gen_thread *t = arg;
    t->rc = sp_gen_produce(t->gen, &t->kc, &t->stop, &t->produced, t->err, sizeof t->err);
    return NULL;
}

static void *run_main(void *arg)
{
    run_thread *t = arg;
    t->rc = sp_pipeline_run(t->pl, t->err, sizeof t->err);
    return NULL;
}

static int parse_demo(int argc, char **argv, demo_opts *o)
{
    const char *v;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: supportpulse demo [--duration S] [--rate R] [--redis-port P]\n"
                   "                         [--partitions N] [--malformed F] [--dir D]\n"
                   "                         [--alert-rules FILE] [--time-zone ZONE]\n\n"
                   "Runs the pipeline on an embedded Kafka cluster and a local redis-server\n"
                   "with generated traffic (a week of a wallet help desk, replayed fast),\n"
                   "printing a summary every second. Defaults: 60 s, 5000 events/s, Redis\n"
                   "on 127.0.0.1:6390 (left running), 4 partitions, 0.5%% malformed,\n"
                   "state in /tmp/supportpulse-demo, alert rules deploy/alert-rules.json\n"
                   "when it is there ('' for none), the desk's days in UTC (--time-zone\n"
                   "Asia/Shanghai: 1d rollups and _today from local midnight).\n");
            return 1;
        }
        if ((v = sp_flag(argc, argv, &i, "--duration"))) {
            if (sp_flag_int("--duration", v, 1, 86400, &o->duration_s) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--rate"))) {
            if (sp_flag_double("--rate", v, 1, 1e7, &o->rate) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--redis-port"))) {
            if (sp_flag_int("--redis-port", v, 1, 65535, &o->port) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--partitions"))) {
            if (sp_flag_int("--partitions", v, 1, 64, &o->partitions) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--malformed"))) {
            if (sp_flag_double("--malformed", v, 0, 1, &o->malformed) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--dir"))) {
            o->dir = v;
        } else if ((v = sp_flag(argc, argv, &i, "--alert-rules"))) {
            o->alert_rules = v;
        } else if ((v = sp_flag(argc, argv, &i, "--time-zone"))) {
            char why[256];
            sp_tz *z = sp_tz_load(v, why, sizeof why);
            if (!z) {
                fprintf(stderr, "supportpulse demo: --time-zone: %s\n", why);
                return -1;
            }
            sp_tz_free(z);
            o->time_zone = v;
        } else {
            fprintf(stderr, "supportpulse demo: unknown or incomplete option '%s'\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

/* Uses a redis-server already answering on the port, or starts one (daemonized). */
static int ensure_redis(const demo_opts *o, char *address, size_t size)
{
    char err[512];
    snprintf(address, size, "127.0.0.1:%lld", o->port);
    struct timeval tv = {0, 300000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", (int)o->port, tv);
    int up = c && !c->err;
    if (c)
        redisFree(c);
    if (up) {
        printf("using the redis-server already on %s\n", address);
        return 0;
    }
    mkdir(o->dir, 0700);
    sp_redis_server srv;
    if (sp_redis_server_start(&srv, o->dir, (int)o->port, 1, err, sizeof err) < 0) {
        fprintf(stderr, "supportpulse demo: %s\n", err);
        return -1;
    }
    printf("started redis-server on %s (data in %s; stop it with: redis-cli -p %lld shutdown)\n",
           address, o->dir, o->port);
    return 0;
}

static void print_summary(const sp_pipeline_stats *s, uint64_t produced, double elapsed)
{
    char wm[40] = "-";
    int64_t w = atomic_load(&s->watermark_ms);
    if (w != INT64_MIN)
        sp_ts_format(w, wm, sizeof wm);
    printf("[%5.0fs] produced %8llu  consumed %8llu  applied %8llu  dead-lettered %5llu  "
           "dups %4llu  flushes %4llu  event time %s%s\n",
           elapsed, (unsigned long long)produced, (unsigned long long)atomic_load(&s->consumed),
           (unsigned long long)atomic_load(&s->applied),
           (unsigned long long)(atomic_load(&s->rejected) + atomic_load(&s->late)),
           (unsigned long long)atomic_load(&s->duplicates),
           (unsigned long long)atomic_load(&s->flushes), wm,
           atomic_load(&s->paused) ? "  (paused: Redis unreachable)" : "");
    fflush(stdout);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_demo(const demo_opts *o, sp_config *cfg, sp_mock *mock)
{
    char err[512];
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.start_ms = ((int64_t)time(NULL) - 7 * 86400) * 1000; /* a week ago, replayed fast */
    gc.malformed = o->malformed;
    gc.duplicates = 0.002;
    gc.out_of_order = 0.01;
    gc.promo_day = 5;
    gen_thread gt = {.kc = {.bootstrap = sp_mock_bootstraps(mock), .topic = cfg->topic,
                            .rate = o->rate}};
    if (!(gt.gen = sp_gen_new(&gc, err, sizeof err))) {
        fprintf(stderr, "supportpulse demo: %s\n", err);
        return 1;
    }
    run_thread rt = {0};
    if (!(rt.pl = sp_pipeline_new(cfg, err, sizeof err))) {
        fprintf(stderr, "supportpulse demo: %s\n", err);
        sp_gen_destroy(gt.gen);
        return 1;
    }
    pthread_t gth, rth;
    pthread_create(&rth, NULL, run_main, &rt);
    pthread_create(&gth, NULL, gen_main, &gt);
    double t0 = mono_s();
    while (!atomic_load(&demo_stop) && mono_s() - t0 < (double)o->duration_s) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        print_summary(sp_pipeline_get_stats(rt.pl), atomic_load(&gt.produced), mono_s() - t0);
    }
    atomic_store(&gt.stop, 1);
    pthread_join(gth, NULL);
    /* let the pipeline catch up with what was produced, then stop it */
    for (int i = 0; i < 300 && atomic_load(&sp_pipeline_get_stats(rt.pl)->consumed) <
                                   atomic_load(&gt.produced); i++) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    sp_pipeline_stop(rt.pl);
    pthread_join(rth, NULL);
    print_summary(sp_pipeline_get_stats(rt.pl), atomic_load(&gt.produced), mono_s() - t0);
    sp_pipeline_destroy(rt.pl);
    sp_gen_destroy(gt.gen);
    if (gt.rc < 0)
        fprintf(stderr, "supportpulse demo: generator: %s\n", gt.err);
    return rt.rc < 0 ? 1 : 0;
}

int sp_cmd_demo(int argc, char **argv, char **envp)
{
    (void)envp;
    demo_opts o = {60, 6390, 4, 5000, 0.005, "/tmp/supportpulse-demo", NULL, "UTC"};
    int rc = parse_demo(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 2 : 0;
    if (!o.alert_rules) /* the seed rules, when run from the source tree */
        o.alert_rules = access("deploy/alert-rules.json", R_OK) == 0 ? "deploy/alert-rules.json" : "";
    char address[64], err[1024];
    if (ensure_redis(&o, address, sizeof address) < 0)
        return 1;
    sp_mock *mock = sp_mock_new(1, err, sizeof err);
    sp_config cfg;
    if (!mock || sp_config_init(&cfg) < 0) {
        fprintf(stderr, "supportpulse demo: %s\n", mock ? "out of memory" : err);
        sp_mock_destroy(mock);
        return 1;
    }
    if (sp_mock_create_topic(mock, cfg.topic, (int)o.partitions, err, sizeof err) < 0 ||
        sp_mock_create_topic(mock, cfg.dlq_topic, 1, err, sizeof err) < 0 ||
        sp_config_set(&cfg, "bootstrap", sp_mock_bootstraps(mock), err, sizeof err) < 0 ||
        sp_config_set(&cfg, "redis", address, err, sizeof err) < 0 ||
        sp_config_set(&cfg, "max_future_s", "0", err, sizeof err) < 0 ||
        sp_config_set(&cfg, "forecast_check_s", "1", err, sizeof err) < 0 ||
        sp_config_set(&cfg, "log_level", "warn", err, sizeof err) < 0 ||
        sp_config_set(&cfg, "alert_rules", o.alert_rules, err, sizeof err) < 0 ||
        sp_config_set(&cfg, "alert_eval_ms", "500", err, sizeof err) < 0 ||
        sp_config_set(&cfg, "time_zone", o.time_zone, err, sizeof err) < 0) {
        fprintf(stderr, "supportpulse demo: %s\n", err);
        rc = 1;
    } else {
        printf("embedded Kafka at %s, topic %s (%lld partitions)\n", sp_mock_bootstraps(mock),
               cfg.topic, o.partitions);
        sp_install_signals(stop_demo, NULL);
        rc = run_demo(&o, &cfg, mock);
        printf("\nrollups are in Redis (prefix sp). Try:\n"
               "  redis-cli -p %lld zrange sp:ts:1h:all -3 -1\n"
               "  redis-cli -p %lld hgetall sp:r:1h:all:$(redis-cli -p %lld zrange sp:ts:1h:all -1 -1)\n"
               "  redis-cli -p %lld hgetall sp:live:all          (the wall board: in_queue, "
               "service_level_15m, csat_today, dissatisfied_1h, ...)\n"
               "  redis-cli -p %lld hgetall sp:meta\n"
               "  redis-cli -p %lld --scan --pattern 'sp:ts:1d:*'\n"
               "  redis-cli -p %lld --scan --pattern 'sp:r:1d:agent=*'   (agents: csat, "
               "csat_smoothed, handle_ms_avg, ...)\n"
               "  supportpulse forecast --redis 127.0.0.1:%lld --queue payments --channel phone\n"
               "      (arrivals per 15 minutes for the next day, agents required, the peak)\n"
               "  supportpulse staffing --calls-per-interval 120 --aht 240\n"
               "  supportpulse alerts --redis 127.0.0.1:%lld --history 10\n"
               "      (alerts firing now and the last transitions; rules: %s)\n",
               o.port, o.port, o.port, o.port, o.port, o.port, o.port, o.port, o.port,
               *o.alert_rules ? o.alert_rules : "none");
    }
    sp_config_free(&cfg);
    sp_mock_destroy(mock);
    return rc;
}
