/*
 * bench_alerts.c - `spbench alerts [--runs R]`: the wall time of one alert evaluation
 * (alert_eval.h) against a private redis-server, for the shipped seed rules
 * (deploy/alert-rules.json) over a desk of 50 queues x 6 channels (351 live dimension
 * sets: all, 50 queues, 300 queue/channel pairs), in three states: nothing breached
 * (reads only), the first breached tick (every alert pending: a state write each; those
 * with no `for` fire at once), and ten minutes on, when the rest fire together, each
 * recording its transition (stream, active hash, PUBLISH). Medians of R ticks each.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supportpulse/alert_eval.h"
#include "supportpulse/redis_server.h"

#define NQ 50
#define NCH 6

static const char *const channels[NCH] = {"phone", "chat", "video", "email", "in_app", "social"};

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Every live hash at "good" or "bad" values, at event time now. */
static void seed(redisContext *rc, int bad, long long now)
{
    for (int q = -1; q < NQ; q++)
        for (int c = -1; c < NCH; c++) {
            char dims[128];
            if (q < 0 && c >= 0)
                continue;
            if (q < 0)
                snprintf(dims, sizeof dims, "all");
            else if (c < 0)
                snprintf(dims, sizeof dims, "queue=q%02d", q);
            else
                snprintf(dims, sizeof dims, "queue=q%02d|channel=%s", q, channels[c]);
            redisAppendCommand(rc, "HSET sp:live:%s service_level_15m %s abandon_rate_15m %s "
                                   "offered_15m 100 oldest_wait_s %s in_queue 4 backlog %s "
                                   "csat_15m %s csat_responses_15m 50 surge %s "
                                   "fc_agents_required %s agents_staffed 10 as_of %lld",
                               dims, bad ? "0.5" : "0.95", bad ? "0.3" : "0.02",
                               bad ? "600" : "20", bad ? "90" : "3", bad ? "0.5" : "0.9",
                               bad ? "1" : "0", bad ? "20" : "8", now);
            redisAppendCommand(rc, "SADD sp:livedims %s", dims);
        }
    for (int q = -1; q < NQ; q++)
        for (int c = -1; c < NCH; c++) {
            if (q < 0 && c >= 0)
                continue;
            redisReply *r;
            for (int k = 0; k < 2; k++)
                if (redisGetReply(rc, (void **)&r) == REDIS_OK)
                    freeReplyObject(r);
        }
    char v[64];
    snprintf(v, sizeof v, "1 %lld", now);
    redisReply *r = redisCommand(rc, "HSET sp:meta resume:ev:0 %s", v);
    freeReplyObject(r);
}

static double tick_ms(sp_alert_eval *e, int *transitions)
{
    char err[512];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int n = sp_alert_eval_tick(e, NULL, NULL, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (n < 0) {
        fprintf(stderr, "tick: %s\n", err);
        exit(1);
    }
    *transitions = n;
    return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
}

int bench_alerts(int runs, const char *rules_path)
{
    char dir[256], err[4096];
    sp_redis_server srv;
    sp_rules rules;
    if (sp_rules_load(rules_path, &rules, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (sp_tmpdir(dir, sizeof dir, "spbench-alerts") < 0 ||
        sp_redis_server_start(&srv, dir, 0, 0, err, sizeof err) < 0) {
        fprintf(stderr, "redis: %s\n", err);
        return 1;
    }
    redisContext *rc = redisConnectUnix(srv.socket);
    sp_alert_eval_conf c;
    sp_alert_eval_conf_defaults(&c);
    c.address = srv.address;
    sp_alert_eval *e = sp_alert_eval_new(&c, &rules, err, sizeof err);
    double quiet[64], pending[64], firing[64];
    int n, alerts = 0, first = 0;
    long long now = 1763962200000LL;
    for (int r = 0; r < runs; r++) { /* nothing breached: reads only */
        seed(rc, 0, now);
        quiet[r] = tick_ms(e, &n);
    }
    for (int r = 0; r < runs; r++) { /* breached: every alert pending, its state written */
        redisReply *x = redisCommand(rc, "DEL sp:alerts:state:{sp:alerts} sp:alerts:firing:{sp:alerts}");
        freeReplyObject(x);
        seed(rc, 1, now);
        pending[r] = tick_ms(e, &first);
    }
    for (int r = 0; r < runs; r++) { /* 10 minutes on: every alert fires (a transition each) */
        redisReply *x = redisCommand(rc, "DEL sp:alerts:state:{sp:alerts} sp:alerts:firing:{sp:alerts} sp:alerts:active");
        freeReplyObject(x);
        seed(rc, 1, now);
        tick_ms(e, &n);
        seed(rc, 1, now + 600000);
        firing[r] = tick_ms(e, &alerts);
    }
    qsort(quiet, (size_t)runs, sizeof *quiet, cmp);
    qsort(pending, (size_t)runs, sizeof *pending, cmp);
    qsort(firing, (size_t)runs, sizeof *firing, cmp);
    printf("alert evaluation, %zu rules over %d live dimension sets (median of %d ticks)\n",
           rules.n, 1 + NQ + NQ * NCH, runs);
    printf("  nothing breached:              %8.2f ms\n", quiet[runs / 2]);
    printf("  first breached tick:           %8.2f ms (every alert pending, %d with for=0 fire)\n",
           pending[runs / 2], first);
    printf("  %4d alerts firing at once:     %8.2f ms (%.3f ms per transition)\n", alerts,
           firing[runs / 2], firing[runs / 2] / (alerts ? alerts : 1));
    sp_alert_eval_destroy(e);
    sp_rules_free(&rules);
    redisFree(rc);
    sp_redis_server_stop(&srv);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
