/*
 * test_forecaster.c - the forecaster against a real redis-server: 15m rollups laid out
 * as the pipeline writes them (redis.md), the forecast JSON and live fields it writes,
 * restart equivalence, surges, declared events, two instances, Redis going away; the
 * forecasts and the two instances again on a three-master Redis Cluster.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/erlang.h"
#include "supportpulse/forecaster.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_server.h"
#include "helpers.h"

static sp_redis_server server;
static sp_cluster cluster;
static int clustered;
static char tmpdir[256], address[700];
static sp_redis *rc; /* routed by key: one server or the cluster */

static void connect_client(void)
{
    char err[300];
    sp_redis_destroy(rc);
    rc = sp_redis_new(address, 5000, 10000);
    cr_assert(rc && sp_redis_connect(rc, err, sizeof err) == 0, "%s", err);
}

static void start(void)
{
    char err[300];
    signal(SIGPIPE, SIG_IGN);
    cr_assert(sp_tmpdir(tmpdir, sizeof tmpdir, "spfc") == 0);
    cr_assert(sp_redis_server_start(&server, tmpdir, 0, 0, err, sizeof err) == 0, "%s", err);
    snprintf(address, sizeof address, "unix:%s", server.socket);
    connect_client();
}

static void start_cluster(void)
{
    signal(SIGPIPE, SIG_IGN);
    cr_assert(sp_tmpdir(tmpdir, sizeof tmpdir, "spfc") == 0);
    sp_cluster_start(&cluster, tmpdir);
    clustered = 1;
    snprintf(address, sizeof address, "%s", cluster.address);
    connect_client();
}

static void stop(void)
{
    sp_redis_destroy(rc);
    rc = NULL;
    if (clustered)
        sp_cluster_stop(&cluster);
    else
        sp_redis_server_stop(&server);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

TestSuite(forecaster, .init = start, .fini = stop, .timeout = 300);
TestSuite(forecaster_cluster, .init = start_cluster, .fini = stop, .timeout = 300);

#define DAY0 (20410LL * 96) /* 2025-11-18 00:00 UTC as an interval index */

/* The arrivals of interval t: two daily peaks, quieter weekends, a little noise. */
static int arrivals(int64_t t, double scale)
{
    double hod = (double)(t % 96) / 4.0;
    int dow = (int)((t / 96 + 3) % 7);
    double d = 0.2 + 1.3 * exp(-pow(hod - 11, 2) / 8) + 1.1 * exp(-pow(hod - 19, 2) / 6);
    uint64_t h = (uint64_t)t * 0x9e3779b97f4a7c15ULL;
    double noise = 0.9 + 0.2 * (double)(h >> 40) / (double)(1ULL << 24);
    return (int)(scale * d * (dow >= 5 ? 0.7 : 1.0) * noise + 0.5);
}

static void cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cmd(const char *fmt, ...)
{
    redisReply *r = NULL;
    char err[300];
    va_list ap;
    va_start(ap, fmt);
    r = sp_redis_vcmd(rc, err, sizeof err, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "redis: %s", r ? r->str : err);
    freeReplyObject(r);
}

/* One command's reply (the caller frees it); fails the test when it cannot run. */
static redisReply *query(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static redisReply *query(const char *fmt, ...)
{
    char err[300];
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = sp_redis_vcmd(rc, err, sizeof err, fmt, ap);
    va_end(ap);
    cr_assert(r, "redis: %s", err);
    return r;
}

/* Writes intervals [from, to) of a series as the pipeline's 15m rollups: `field`
 * (offered or created) = arrivals * mult(t), handle 240 s per call. */
static void seed(const char *prefix, const char *dims, const char *field, int64_t from,
                 int64_t to, double scale, double (*mult)(int64_t))
{
    sp_redis_batch *b = sp_redis_batch_new();
    cr_assert(b);
    for (int64_t t = from; t < to; t++) {
        long long a = (long long)(arrivals(t, scale) * (mult ? mult(t) : 1.0) + 0.5);
        long long start = t * 900;
        char key[256];
        snprintf(key, sizeof key, "%s:r:15m:%s:%lld", prefix, dims, start);
        cr_assert(sp_redis_batch_addf(b, "HSET %s %s %lld handle_ms_sum %lld handle_ms_count %lld",
                                      key, field, a, a * 240000, a) >= 0);
        cr_assert(sp_redis_batch_addf(b, "ZADD %s:ts:15m:%s %lld %lld", prefix, dims, start,
                                      start) >= 0);
    }
    char err[300];
    cr_assert(sp_redis_batch_run(rc, b, err, sizeof err) == 0, "%s", err);
    for (long i = 0; i < (long)sp_redis_batch_size(b); i++)
        cr_assert(sp_redis_batch_reply(b, i)->type != REDIS_REPLY_ERROR);
    sp_redis_batch_destroy(b);
}

/* The pipeline's newest event time: interval `t` is the last complete one. */
static void set_now(const char *prefix, int64_t t)
{
    cmd("HSET %s:meta resume:events:0 %s", prefix, "0 0");
    char v[64];
    snprintf(v, sizeof v, "42 %lld", (long long)((t + 1) * 900 * 1000 + 120000 + 5000));
    cmd("HSET %s:meta resume:events:0 %s", prefix, v);
}

static sp_forecaster *make(const char *prefix, const sp_fc_events *ev)
{
    sp_forecaster_conf c;
    sp_forecaster_conf_defaults(&c);
    c.address = address;
    c.prefix = prefix;
    c.handle_s_by_channel = "email=600";
    c.events = ev;
    char err[300];
    sp_forecaster *f = sp_forecaster_new(&c, err, sizeof err);
    cr_assert(f, "%s", err);
    return f;
}

static int tick(sp_forecaster *f)
{
    char err[300] = "";
    int n = sp_forecaster_tick(f, err, sizeof err);
    cr_assert_geq(n, 0, "tick: %s", err);
    return n;
}

static json_t *get_json(const char *key)
{
    redisReply *r = query("GET %s", key);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "%s missing", key);
    json_error_t e;
    json_t *j = json_loads(r->str, 0, &e);
    cr_assert(j, "%s: %s", key, e.text);
    freeReplyObject(r);
    return j;
}

static double num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    cr_assert(json_is_number(v), "field %s", k);
    return json_number_value(v);
}

static const char *PHONE = "queue=payments|channel=phone", *EMAIL = "queue=payments|channel=email";

static void forecast_per_queue_and_channel(void)
{
    int64_t end = DAY0 + 21 * 96; /* three weeks of history */
    seed("sp", PHONE, "offered", DAY0, end, 40, NULL);
    seed("sp", EMAIL, "created", DAY0, end, 20, NULL);
    seed("sp", "queue=payments", "offered", DAY0, end, 60, NULL);
    seed("sp", "queue=payments|channel=phone|agent=a1", "offered", DAY0, end, 5, NULL);
    set_now("sp", end - 1);
    sp_forecaster *f = make("sp", NULL);
    cr_expect_eq(tick(f), 2, "only queue+channel series are forecast");
    cr_expect_eq(tick(f), 0, "nothing new: nothing written");

    json_t *fc = get_json("sp:fc:queue=payments|channel=phone");
    cr_expect_str_eq(json_string_value(json_object_get(fc, "model")), "double_seasonal");
    cr_expect_eq(num(fc, "interval_s"), 900);
    cr_expect(fabs(num(fc, "handle_s") - 240) < 1e-9);
    json_t *iv = json_object_get(fc, "intervals");
    cr_assert_eq(json_array_size(iv), 96);
    double peak = -1, peak_start = 0;
    for (size_t i = 0; i < 96; i++) {
        json_t *o = json_array_get(iv, i);
        cr_expect_eq(num(o, "start"), (double)((end + (int64_t)i) * 900));
        double v = num(o, "volume");
        cr_expect(num(o, "lo95") <= num(o, "lo80") && num(o, "lo80") <= v + 1e-9 &&
                  v <= num(o, "hi80") + 1e-9 && num(o, "hi80") <= num(o, "hi95"));
        double actual = arrivals(end + (int64_t)i, 40);
        cr_expect(fabs(v - actual) <= 0.25 * actual + 3, "interval %zu: %.1f vs %.0f", i, v, actual);
        sp_erlang_point p;
        char err[200];
        int n = sp_erlang_required(v, 240, 900, 0.8, 20, 100000, &p, err, sizeof err);
        cr_expect_eq(num(o, "agents_required"), n, "interval %zu", i);
        cr_expect(fabs(num(o, "occupancy") - p.occupancy) < 0.001);
        cr_expect(num(o, "service_level") >= 0.8 - 0.0005);
        if (v > peak) {
            peak = v;
            peak_start = num(o, "start");
        }
    }
    json_t *pk = json_object_get(fc, "peak");
    cr_expect_eq(num(pk, "start"), peak_start);
    cr_expect(fabs(num(pk, "volume") - peak) < 1e-9);
    json_decref(fc);

    fc = get_json("sp:fc:queue=payments|channel=email");
    cr_expect_str_eq(json_string_value(json_object_get(fc, "staffing")), "workload");
    json_t *o = json_array_get(json_object_get(fc, "intervals"), 40);
    double v = num(o, "volume");
    cr_expect(fabs(num(o, "workload_h") - v * 600 / 3600) < 0.002);
    cr_expect_eq(num(o, "agents_required"), ceil(v * 600 / 900 - 1e-9));
    cr_expect_null(json_object_get(o, "asa_s"));
    json_decref(fc);

    redisReply *r = query("HMGET sp:live:%s fc_volume surge fc_agents_required", PHONE);
    cr_assert(r && r->elements == 3 && r->element[0]->str);
    cr_expect_str_eq(r->element[1]->str, "0");
    freeReplyObject(r);
    for (int i = 0; i < 2; i++) { /* one slot per key on a cluster */
        r = query("EXISTS sp:fc:queue=payments%s", i ? "|channel=phone|agent=a1" : "");
        cr_expect_eq(r->integer, 0);
        freeReplyObject(r);
    }
    /* the queue's staffing summed over its channels */
    r = query("HMGET sp:live:queue=payments fc_agents_required fc_volume");
    cr_assert(r->elements == 2 && r->element[0]->str && r->element[1]->str);
    freeReplyObject(r);
    sp_forecaster_destroy(f);
}

Test(forecaster, forecast_per_queue_and_channel) { forecast_per_queue_and_channel(); }
Test(forecaster_cluster, forecast_per_queue_and_channel) { forecast_per_queue_and_channel(); }

/* Forecast JSON without its wall-clock stamp. */
static char *fc_text(const char *prefix, const char *dims)
{
    char key[256];
    snprintf(key, sizeof key, "%s:fc:%s", prefix, dims);
    json_t *j = get_json(key);
    json_object_del(j, "generated_at");
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return s;
}

Test(forecaster, restart_gives_the_same_forecast)
{
    int64_t t1 = DAY0 + 16 * 96 + 40, t2 = DAY0 + 17 * 96 + 10; /* a midnight between */
    seed("a", PHONE, "offered", DAY0, t1, 30, NULL);
    seed("b", PHONE, "offered", DAY0, t1, 30, NULL);
    set_now("a", t1 - 1);
    set_now("b", t1 - 1);
    sp_forecaster *a = make("a", NULL), *b = make("b", NULL);
    cr_expect_eq(tick(a), 1);
    cr_expect_eq(tick(b), 1);
    sp_forecaster_destroy(b); /* b restarts; a runs on */
    for (int64_t t = t1; t < t2; t += 7) {
        int64_t to = t + 7 < t2 ? t + 7 : t2;
        seed("a", PHONE, "offered", t, to, 30, NULL);
        set_now("a", to - 1);
        tick(a);
    }
    seed("b", PHONE, "offered", t1, t2, 30, NULL);
    set_now("b", t2 - 1);
    b = make("b", NULL);
    cr_expect_eq(tick(b), 1);
    char *ta = fc_text("a", PHONE), *tb = fc_text("b", PHONE);
    cr_expect_str_eq(ta, tb);
    free(ta);
    free(tb);
    cr_expect_geq(sp_forecaster_get_stats(a)->refits, 2, "the midnight refit ran");
    sp_forecaster_destroy(a);
    sp_forecaster_destroy(b);
}

static double surge(int64_t t) { return t >= DAY0 + 15 * 96 + 50 ? 4.0 : 1.0; }

Test(forecaster, surge_in_live_hash)
{
    int64_t end = DAY0 + 15 * 96 + 48;
    seed("sp", PHONE, "offered", DAY0, end, 40, NULL);
    set_now("sp", end - 1);
    sp_forecaster *f = make("sp", NULL);
    tick(f);
    char key[128];
    snprintf(key, sizeof key, "sp:live:%s", PHONE);
    int64_t t = end;
    for (int i = 0; i < 4; i++, t++) { /* two normal intervals, then two at 4x */
        seed("sp", PHONE, "offered", t, t + 1, 40, surge);
        set_now("sp", t);
        tick(f);
        redisReply *r = query("HMGET %s surge surge_ratio surge_since", key);
        int want = i == 3;
        cr_expect_eq(atoi(r->element[0]->str), want, "interval %d", i);
        if (i >= 2)
            cr_expect_gt(atof(r->element[1]->str), 2.5, "ratio %s", r->element[1]->str);
        if (want)
            cr_expect_eq(atoll(r->element[2]->str), (DAY0 + 15 * 96 + 50) * 900);
        freeReplyObject(r);
    }
    seed("sp", PHONE, "offered", t, t + 1, 40, NULL);
    set_now("sp", t);
    tick(f);
    redisReply *r = query("HGET %s surge", key);
    cr_expect_str_eq(r->str, "0", "back to normal");
    freeReplyObject(r);
    sp_forecaster_destroy(f);
}

Test(forecaster, declared_event_scales_its_intervals)
{
    int64_t end = DAY0 + 15 * 96;
    seed("a", PHONE, "offered", DAY0, end, 40, NULL);
    seed("b", PHONE, "offered", DAY0, end, 40, NULL);
    set_now("a", end - 1);
    set_now("b", end - 1);
    char text[200], err[200];
    snprintf(text, sizeof text, "payday,%lld,%lld,3,payments,phone", (long long)(end + 40) * 900000,
             (long long)(end + 48) * 900000);
    sp_fc_events ev;
    cr_assert_eq(sp_fc_events_parse(text, NULL, &ev, err, sizeof err), 0, "%s", err);
    sp_forecaster *a = make("a", &ev), *b = make("b", NULL);
    tick(a);
    tick(b);
    char ka[128], kb[128];
    snprintf(ka, sizeof ka, "a:fc:%s", PHONE);
    snprintf(kb, sizeof kb, "b:fc:%s", PHONE);
    json_t *ja = get_json(ka), *jb = get_json(kb);
    for (size_t i = 0; i < 96; i++) {
        json_t *oa = json_array_get(json_object_get(ja, "intervals"), i);
        json_t *ob = json_array_get(json_object_get(jb, "intervals"), i);
        double want = i >= 40 && i < 48 ? 3.0 : 1.0;
        cr_expect(fabs(num(oa, "volume") - want * num(ob, "volume")) < 0.01, "interval %zu", i);
        cr_expect_eq(json_object_get(oa, "event") != NULL, want == 3.0);
    }
    cr_expect_eq(num(json_object_get(ja, "peak"), "start"), (double)((end + 40) * 900) +
                 900 * (num(json_object_get(ja, "peak"), "start") / 900 - (end + 40)));
    double pk = num(json_object_get(ja, "peak"), "start") / 900;
    cr_expect(pk >= end + 40 && pk < end + 48, "the peak is in the declared event");
    json_decref(ja);
    json_decref(jb);
    sp_forecaster_destroy(a);
    sp_forecaster_destroy(b);
    sp_fc_events_free(&ev);
}

static void two_instances_write_each_interval_once(void)
{
    int64_t end = DAY0 + 15 * 96;
    seed("sp", PHONE, "offered", DAY0, end, 40, NULL);
    set_now("sp", end - 1);
    sp_forecaster *a = make("sp", NULL), *b = make("sp", NULL);
    cr_expect_eq(tick(a), 1);
    cr_expect_eq(tick(b), 0, "b loads a's state: nothing left to write");
    char *first = fc_text("sp", PHONE);
    seed("sp", PHONE, "offered", end, end + 3, 40, NULL);
    set_now("sp", end + 2);
    cr_expect_eq(tick(b) + tick(a), 1, "one of the two writes the new interval");
    char *second = fc_text("sp", PHONE);
    cr_expect(strcmp(first, second) != 0);
    free(first);
    free(second);
    sp_forecaster_destroy(a);
    sp_forecaster_destroy(b);
}

Test(forecaster, two_instances_write_each_interval_once)
{
    two_instances_write_each_interval_once();
}
Test(forecaster_cluster, two_instances_write_each_interval_once)
{
    two_instances_write_each_interval_once();
}

/* A forecast written while its live fields could not be: the next tick writes them. */
static void live_fields_follow_the_stored_state(void)
{
    int64_t end = DAY0 + 15 * 96;
    seed("sp", PHONE, "offered", DAY0, end, 40, NULL);
    set_now("sp", end - 1);
    sp_forecaster *a = make("sp", NULL);
    cr_expect_eq(tick(a), 1);
    cmd("DEL sp:live:%s", PHONE); /* as if the instance died between its two writes */
    sp_forecaster *b = make("sp", NULL);
    cr_expect_eq(tick(b), 0, "the stored state is current: no forecast to write");
    redisReply *r = query("HMGET sp:live:%s fc_volume fc_agents_required", PHONE);
    cr_expect(r->element[0]->str && r->element[1]->str, "b wrote the live fields it found missing");
    freeReplyObject(r);
    sp_forecaster_destroy(a);
    sp_forecaster_destroy(b);
}
Test(forecaster, live_fields_follow_the_stored_state) { live_fields_follow_the_stored_state(); }

Test(forecaster, redis_away_is_an_error_then_resumes)
{
    int64_t end = DAY0 + 3 * 96;
    seed("sp", PHONE, "offered", DAY0, end, 40, NULL);
    set_now("sp", end - 1);
    cmd("SAVE");
    sp_forecaster *f = make("sp", NULL);
    sp_redis_server_stop(&server);
    char err[300] = "";
    cr_expect_eq(sp_forecaster_tick(f, err, sizeof err), -1);
    cr_expect(strstr(err, "redis"), "%s", err);
    cr_assert(sp_redis_server_start(&server, tmpdir, 0, 0, err, sizeof err) == 0, "%s", err);
    connect_client();
    cr_expect_eq(tick(f), 1, "resumes once Redis is back");
    json_t *fc = get_json("sp:fc:queue=payments|channel=phone");
    cr_expect_str_eq(json_string_value(json_object_get(fc, "model")), "daily");
    json_decref(fc);
    sp_forecaster_destroy(f);
}
