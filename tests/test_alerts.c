/*
 * test_alerts.c - alerting: the rules file (the shipped seed rules, and every kind of
 * error), the state machine on scripted series (for, hysteresis, minimum volume, no
 * data), evaluation against a real redis-server (transitions in the stream, the
 * active hash and PUBLISH; two evaluators racing record each transition once; rollup
 * rules; removed rules), the webhook against a libmicrohttpd receiver that is down and
 * then up, the command hook, and agent presence.
 *
 * End to end (two pipeline instances, an injected outage) is in test_alerts_e2e.c.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "receiver.h"
#include "supportpulse/alert_eval.h"
#include "supportpulse/generator.h"
#include "supportpulse/alert_state.h"
#include "supportpulse/hooks.h"
#include "supportpulse/rules.h"

/* ---- rules ---------------------------------------------------------------------- */

static void parse_ok(const char *json, sp_rules *out)
{
    char err[4096];
    int rc = sp_rules_parse(json, strlen(json), out, err, sizeof err);
    cr_assert_eq(rc, 0, "rules rejected: %s", err);
}

Test(rules, seed_rules_load)
{
    sp_rules r;
    char err[4096], path[1024];
    snprintf(path, sizeof path, "%s/deploy/alert-rules.json", SP_SOURCE_DIR);
    cr_assert_eq(sp_rules_load(path, &r, err, sizeof err), 0, "%s", err);
    cr_assert_eq(r.n, 7);
    const sp_rule *sl = &r.rules[0];
    cr_assert_str_eq(sl->name, "service_level_under_target");
    cr_assert_str_eq(sl->metric, "service_level_15m");
    cr_assert_eq(sl->res, -1);
    cr_assert_str_eq(sl->dim[SP_DIM_QUEUE], "*");
    cr_assert_null(sl->dim[SP_DIM_CHANNEL]);
    cr_assert_eq(sl->op, SP_OP_LT);
    cr_assert_float_eq(sl->threshold, 0.80, 1e-12);
    cr_assert_float_eq(sl->resolve, 0.85, 1e-12);
    cr_assert_str_eq(sl->volume, "offered_15m");
    cr_assert_float_eq(sl->min_volume, 20, 1e-12);
    cr_assert_eq(sl->for_ms, 300000);
    cr_assert_eq(sl->severity, SP_SEV_CRITICAL);
    const sp_rule *st = &r.rules[6];
    cr_assert_str_eq(st->metric, "fc_agents_required");
    cr_assert_str_eq(st->metric2, "agents_staffed");
    cr_assert_eq(st->arith, '-');
    cr_assert_str_eq(r.rules[3].dim[SP_DIM_QUEUE], "security");
    sp_rules_free(&r);
}

Test(rules, rollup_rules_and_defaults)
{
    sp_rules r;
    parse_ok("{\"rules\":[{\"name\":\"aht\",\"metric\":\"handle_ms_p90\",\"window\":\"1h\","
             "\"dims\":{\"agent\":\"*\"},\"op\":\">=\",\"threshold\":900000,\"min_volume\":5,"
             "\"for\":90},{\"name\":\"q\",\"metric\":\"in_queue\",\"op\":\">\",\"threshold\":3}]}",
             &r);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.rules[0].res, 3);
    cr_assert_str_eq(r.rules[0].volume, "handle_ms_count");
    cr_assert_eq(r.rules[0].for_ms, 90000);
    cr_assert_eq(r.rules[1].severity, SP_SEV_WARNING); /* default */
    cr_assert_float_eq(r.rules[1].resolve, 3, 1e-12);  /* resolve = threshold */
    cr_assert_str_eq(r.rules[1].volume, "");
    cr_assert_not_null(r.rules[1].message);
    sp_rules_free(&r);
}

typedef struct {
    const char *json, *expect;
} bad_case;

#define RULE(extra) "{\"rules\":[{\"name\":\"r1\",\"metric\":\"in_queue\",\"op\":\">\"," \
                    "\"threshold\":1" extra "}]}"

static const bad_case bad[] = {
    {"{\"rules\": [", "line 1"},
    {"[1,2]", "\"rules\" array"},
    {"{\"rules\":[], \"extra\":1}", "extra: unknown top-level field"},
    {"{\"rules\":[3]}", "rules[0]: must be an object"},
    {"{\"rules\":[{\"metric\":\"in_queue\",\"op\":\">\",\"threshold\":1}]}", "rules[0]: name: is required"},
    {"{\"rules\":[{\"name\":\"a b\",\"metric\":\"in_queue\",\"op\":\">\",\"threshold\":1}]}", "name: must be"},
    {"{\"rules\":[" "{\"name\":\"r1\",\"metric\":\"in_queue\",\"op\":\">\",\"threshold\":1},"
     "{\"name\":\"r1\",\"metric\":\"in_queue\",\"op\":\">\",\"threshold\":1}]}", "r1: name: used by another rule"},
    {RULE(",\"treshold\":2"), "r1: treshold: unknown field"},
    {"{\"rules\":[{\"name\":\"r1\",\"op\":\">\",\"threshold\":1}]}", "r1: metric: is required"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"service_lvl_15m\",\"op\":\">\",\"threshold\":1}]}", "r1: metric: 'service_lvl_15m' is not a live field"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"in_queue %\",\"op\":\">\",\"threshold\":1}]}", "r1: metric: 'in_queue %' is not a field name"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"in_queue - nope\",\"op\":\">\",\"threshold\":1}]}", "r1: metric: 'nope' is not a live field"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"handle_ms_p95\",\"window\":\"1h\",\"op\":\">\",\"threshold\":1}]}", "is not a rollup field"},
    {RULE(",\"window\":\"2h\""), "r1: window: must be one of"},
    {RULE(",\"dims\":{\"team\":\"x\"}"), "r1: dims.team: unknown dimension"},
    {RULE(",\"dims\":{\"queue\":\"\"}"), "r1: dims.queue: must be a value"},
    {RULE(",\"dims\":[\"queue\"]"), "r1: dims: must be an object"},
    {RULE(",\"dims\":{\"agent\":\"*\"}"), "r1: dims.agent: agents have rollups but no live hash"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"in_queue\",\"op\":\"=>\",\"threshold\":1}]}", "r1: op: must be one of"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"in_queue\",\"threshold\":1}]}", "r1: op: is required"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"in_queue\",\"op\":\">\"}]}", "r1: threshold: is required"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"in_queue\",\"op\":\">\",\"threshold\":\"5\"}]}", "r1: threshold: must be a number"},
    {RULE(",\"resolve\":2"), "r1: resolve: 2 is on the firing side of threshold 1"},
    {"{\"rules\":[{\"name\":\"r1\",\"metric\":\"csat_15m\",\"op\":\"<\",\"threshold\":0.7,\"resolve\":0.6}]}", "r1: resolve: 0.6 is on the firing side"},
    {RULE(",\"min_volume\":-1"), "r1: min_volume: must be a number >= 0"},
    {RULE(",\"min_volume\":5"), "r1: min_volume: metric 'in_queue' has no volume of its own"},
    {RULE(",\"volume_metric\":\"calls\""), "r1: volume_metric: must name a live field"},
    {RULE(",\"for\":\"5 minutes\""), "r1: for: must be seconds or a duration"},
    {RULE(",\"for\":-3"), "r1: for: must be seconds"},
    {RULE(",\"resolve_for\":\"9d\""), "r1: resolve_for: must be seconds"},
    {RULE(",\"severity\":\"page\""), "r1: severity: must be"},
    {RULE(",\"message\":\"{queue} at {valu}\""), "r1: message: unknown placeholder '{valu}'"},
    {RULE(",\"message\":3"), "r1: message: must be a string"},
    {RULE(",\"description\":false"), "r1: description: must be a string"},
};

Test(rules, each_error_names_rule_and_field)
{
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sp_rules r;
        char err[4096];
        int rc = sp_rules_parse(bad[i].json, strlen(bad[i].json), &r, err, sizeof err);
        cr_assert_eq(rc, -1, "case %zu accepted: %s", i, bad[i].json);
        cr_assert_not_null(strstr(err, bad[i].expect), "case %zu: got '%s', want '%s'", i, err,
                           bad[i].expect);
        cr_assert_null(r.rules);
    }
}

Test(rules, every_problem_is_reported)
{
    const char *json = "{\"rules\":[{\"name\":\"a\",\"metric\":\"nope\",\"op\":\"~\",\"threshold\":1},"
                       "{\"name\":\"b\",\"metric\":\"in_queue\",\"op\":\">\",\"severity\":\"x\"}]}";
    sp_rules r;
    char err[4096];
    cr_assert_eq(sp_rules_parse(json, strlen(json), &r, err, sizeof err), -1);
    int lines = 1;
    for (const char *p = err; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 4, "%s", err);
    cr_assert_not_null(strstr(err, "a: metric"));
    cr_assert_not_null(strstr(err, "a: op"));
    cr_assert_not_null(strstr(err, "b: threshold"));
    cr_assert_not_null(strstr(err, "b: severity"));
}

Test(rules, matching_and_rendering)
{
    sp_rules r;
    parse_ok("{\"rules\":[{\"name\":\"sl\",\"metric\":\"service_level_15m\",\"dims\":{\"queue\":\"*\","
             "\"channel\":\"phone\"},\"op\":\"<\",\"threshold\":0.8,\"for\":\"5m\","
             "\"message\":\"{rule} {state}: {queue}/{channel} at {value_pct} (target "
             "{threshold_pct}, {volume} calls, tenant {tenant}, for {for}) {nope\"}]}",
             &r);
    const sp_rule *sl = &r.rules[0];
    cr_assert(sp_rule_matches(sl, "queue=payments|channel=phone"));
    cr_assert(!sp_rule_matches(sl, "queue=payments"));
    cr_assert(!sp_rule_matches(sl, "queue=payments|channel=chat"));
    cr_assert(!sp_rule_matches(sl, "tenant=acme|queue=payments|channel=phone"));
    cr_assert(!sp_rule_matches(sl, "channel=phone"));
    char dims[640], out[512];
    cr_assert_eq(sp_rule_exact_dims(sl, dims, sizeof dims), -1);
    sp_rule_vars v = {"queue=p%7Cx|channel=phone", "firing", 0.734, 41, 1};
    sp_rule_render(sl, &v, out, sizeof out);
    cr_assert_str_eq(out, "sl firing: p|x/phone at 73.4% (target 80.0%, 41 calls, tenant default, "
                          "for 5m) {nope");
    sp_rule_render(sl, &v, out, 12);
    cr_assert_str_eq(out, "sl firing: ");
    sp_rules_free(&r);
}

/* Values in messages as a board shows them: the field's decimals, never an exponent
 * (a sum of 4,107,780.4 ms once read "4.108e+06"). */
Test(rules, values_are_plain_decimals)
{
    sp_rules r;
    parse_ok("{\"rules\":[{\"name\":\"slow\",\"metric\":\"asa_ms_avg_15m\",\"op\":\">\","
             "\"threshold\":11740.5,\"message\":\"{value} over {threshold}\"},"
             "{\"name\":\"sl\",\"metric\":\"service_level_15m\",\"op\":\"<\","
             "\"threshold\":0.8,\"message\":\"{value}\"},"
             "{\"name\":\"x\",\"metric\":\"offered_15m\",\"op\":\">\",\"threshold\":1,"
             "\"message\":\"{value}\"}]}",
             &r);
    char out[256];
    sp_rule_vars v = {"", "firing", 4107780.4, 0, 0};
    sp_rule_render(&r.rules[0], &v, out, sizeof out);
    cr_expect_str_eq(out, "4107780 over 11740.5");
    v.value = 0.81234;
    sp_rule_render(&r.rules[1], &v, out, sizeof out);
    cr_expect_str_eq(out, "0.8123");
    v.value = 12345678;
    sp_rule_render(&r.rules[2], &v, out, sizeof out);
    cr_expect_str_eq(out, "12345678");
    sp_rules_free(&r);
}

/* ---- the state machine ------------------------------------------------------------ */

/* An active entry without what the last evaluation added (value_now, evaluated_at): the
 * JSON recorded at firing. The caller frees it. */
static char *as_fired(const char *active)
{
    json_t *o = json_loads(active, 0, NULL);
    cr_assert_not_null(o, "%s", active);
    json_object_del(o, "value_now");
    json_object_del(o, "evaluated_at");
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_decref(o);
    return text;
}


/* SL under 0.8 (resolve at 0.85) for `for_`, at least 20 calls, plus extra fields. */
static sp_rules sl_rules_for(const char *for_, const char *extra)
{
    char json[1024];
    snprintf(json, sizeof json,
             "{\"rules\":[{\"name\":\"sl\",\"metric\":\"service_level_15m\",\"op\":\"<\","
             "\"threshold\":0.8,\"resolve\":0.85,\"min_volume\":20,\"for\":%s%s}]}", for_, extra);
    sp_rules r;
    parse_ok(json, &r);
    return r;
}

static sp_rules sl_rules(const char *extra) { return sl_rules_for("\"5m\"", extra); }

#define MIN 60000LL

/* Feeds values (NAN = no data) at one-minute steps; returns the transitions. */
static void run_series(const sp_rule *r, sp_alert_state *st, const double *v, const double *vol,
                       int n, sp_transition *out)
{
    for (int i = 0; i < n; i++) {
        sp_alert_sample s = {!isnan(v[i]), isnan(v[i]) ? 0 : v[i], 1, vol ? vol[i] : 100};
        out[i] = sp_alert_step(r, st, &s, 1000000 * MIN + i * MIN);
    }
}

/* Asserts that minute `fired` (only) fires and minute `resolved` (only) resolves. */
static void expect_transitions(const sp_transition *t, int n, int fired, int resolved)
{
    for (int i = 0; i < n; i++) {
        sp_transition want = i == fired ? SP_TRANSITION_FIRING
                           : i == resolved ? SP_TRANSITION_RESOLVED : SP_TRANSITION_NONE;
        cr_assert_eq(t[i], want, "minute %d: transition %d, want %d", i, t[i], want);
    }
}

Test(alert_state, pending_for_then_firing_with_hysteresis)
{
    sp_rules rs = sl_rules("");
    const sp_rule *r = &rs.rules[0];
    /* minute:        0    1    2    3    4    5    6    7     8     9     10    11 */
    double v[] = {0.90, 0.70, 0.72, 0.75, 0.70, 0.60, 0.65, 0.82, 0.79, 0.84, 0.86, 0.70};
    sp_transition t[12];
    sp_alert_state st = {0};
    run_series(r, &st, v, NULL, 12, t);
    expect_transitions(t, 12, 6, 10);
    cr_assert_eq(st.phase, SP_ALERT_PENDING, "minute 11 starts a new pending alert");
    cr_assert_eq(st.active_since, 1000000 * MIN + 11 * MIN);
    sp_rules_free(&rs);
}

Test(alert_state, hovering_at_the_line_does_not_flap)
{
    sp_rules rs = sl_rules_for("0", "");
    double v[40];
    for (int i = 0; i < 40; i++)
        v[i] = i % 2 ? 0.79 : 0.81;
    sp_transition t[40];
    sp_alert_state st = {0};
    run_series(&rs.rules[0], &st, v, NULL, 40, t);
    int fired = 0, resolved = 0;
    for (int i = 0; i < 40; i++)
        fired += t[i] == SP_TRANSITION_FIRING, resolved += t[i] == SP_TRANSITION_RESOLVED;
    cr_assert_eq(fired, 1);
    cr_assert_eq(resolved, 0);
    cr_assert_eq(t[1], SP_TRANSITION_FIRING, "for 0 fires at once");
    sp_rules_free(&rs);
}

Test(alert_state, volume_and_missing_data)
{
    sp_rules rs = sl_rules("");
    const sp_rule *r = &rs.rules[0];
    /* low volume interrupts a pending alert; it holds a firing one; no data resolves */
    double v[] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.9, NAN, 0.5};
    double vol[] = {50, 50, 5, 50, 50, 50, 50, 50, 50, 3, 3, 3, 50, 50};
    sp_transition t[14];
    sp_alert_state st = {0};
    run_series(r, &st, v, vol, 14, t);
    /* pending at 0, reset at 2 (5 calls), pending again at 3, fires at 8 (5 min);
     * held at 9-11 (3 calls, even at 0.9); no data at 12 resolves */
    expect_transitions(t, 14, 8, 12);
    sp_rules_free(&rs);
}

Test(alert_state, resolve_for_and_text_round_trip)
{
    sp_rules rs = sl_rules_for("0", ",\"resolve_for\":\"3m\"");
    double v[] = {0.5, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9, 0.9};
    sp_transition t[8];
    sp_alert_state st = {0};
    run_series(&rs.rules[0], &st, v, NULL, 8, t);
    expect_transitions(t, 8, 0, 7);
    sp_alert_state a = {SP_ALERT_FIRING, 123456789012, 123456799012, 0, 0.734}, b;
    char text[160];
    cr_assert_gt(sp_alert_state_format(&a, text, sizeof text), 0);
    cr_assert_eq(sp_alert_state_parse(text, &b), 0);
    cr_assert_eq(b.phase, a.phase);
    cr_assert_eq(b.active_since, a.active_since);
    cr_assert_eq(b.fired_at, a.fired_at);
    cr_assert_eq(b.value, a.value);
    cr_assert_eq(sp_alert_state_parse("firing 1 2", &b), -1);
    cr_assert_eq(sp_alert_state_parse("", &b), 0);
    cr_assert_eq(b.phase, SP_ALERT_INACTIVE);
    sp_rules_free(&rs);
}

/* ---- evaluation against Redis ---------------------------------------------------- */

static sp_env env;

static void env_up(void) { sp_env_start(&env, "alerts", 1); }
static void env_up_cluster(void) { sp_env_start_cluster(&env, "alerts", 1); }
static void env_down(void) { sp_env_stop(&env); }

static void cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cmd(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    redisReply *r = sp_env_cmd(&env, "%s", line); /* either mode: routed by key */
    cr_assert(r->type != REDIS_REPLY_ERROR, "redis: %s: %s", line, r->str);
    freeReplyObject(r);
}

/* The clock: a partition's resume point with newest event time ts. */
static void clock_at(long long ts)
{
    char v[64];
    snprintf(v, sizeof v, "100 %lld", ts);
    char err[512];
    redisReply *r = sp_redis_cmd(env.r, err, sizeof err, "HSET t:meta resume:alerts:0 %s", v);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "redis: %s", r ? r->str : err);
    freeReplyObject(r);
}

static sp_alert_eval *evaluator_in(const sp_rules *rules, const sp_zones *zones)
{
    sp_alert_eval_conf c;
    sp_alert_eval_conf_defaults(&c);
    c.address = env.address;
    c.prefix = "t";
    c.zones = zones;
    char err[512];
    sp_alert_eval *e = sp_alert_eval_new(&c, rules, err, sizeof err);
    cr_assert_not_null(e, "%s", err);
    return e;
}

static sp_alert_eval *evaluator(const sp_rules *rules) { return evaluator_in(rules, NULL); }

typedef struct {
    int n;
    char last_json[4096], last_state[16];
} notices;

static void collect(void *arg, const sp_alert_notice *n)
{
    notices *ns = arg;
    ns->n++;
    snprintf(ns->last_json, sizeof ns->last_json, "%s", n->json);
    snprintf(ns->last_state, sizeof ns->last_state, "%s", n->state);
}

static int tick(sp_alert_eval *e, notices *ns)
{
    char err[512];
    int n = sp_alert_eval_tick(e, collect, ns, err, sizeof err);
    cr_assert_geq(n, 0, "%s", err);
    return n;
}

static long long xlen(const char *key)
{
    redisReply *r = sp_env_cmd(&env, "XLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

static long long hlen(const char *key)
{
    redisReply *r = sp_env_cmd(&env, "HLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

#define T0 1763805600000LL /* 2025-11-22T10:00:00Z */

Test(alert_eval, transitions_go_to_stream_active_hash_and_channel, .init = env_up, .fini = env_down)
{
    sp_rules rs = sl_rules(",\"dims\":{\"queue\":\"*\"},\"message\":\"{queue}: SL {value_pct}\"");
    sp_alert_eval *e = evaluator(&rs);
    notices ns = {0};
    cr_assert_eq(tick(e, &ns), 0, "nothing consumed yet: no clock, nothing to do");
    /* a subscriber sees what is published */
    redisContext *sub = redisConnectUnix(env.redis.address + 5);
    redisReply *r = redisCommand(sub, "SUBSCRIBE t:alerts");
    freeReplyObject(r);
    for (int m = 0; m <= 6; m++) {
        long long now = T0 + m * MIN;
        clock_at(now);
        cmd("HSET t:live:queue=payments service_level_15m %s offered_15m 60 as_of %lld",
            m == 0 ? "0.9" : "0.5", now);
        cmd("HSET t:live:queue=refunds service_level_15m 0.95 offered_15m 60 as_of %lld", now);
        cmd("SADD t:livedims queue=payments queue=refunds all");
        cmd("HSET t:live:all service_level_15m 0.1 offered_15m 60 as_of %lld", now);
        int n = tick(e, &ns);
        cr_assert_eq(n, m == 6 ? 1 : 0, "minute %d: %d transitions", m, n);
    }
    cr_assert_eq(xlen("t:alerts"), 1);
    cr_assert_eq(hlen("t:alerts:active"), 1);
    char json[4096];
    cr_assert(sp_hget_str(&env, "t:alerts:active", "sl:queue=payments", json, sizeof json));
    json_t *o = json_loads(json, 0, NULL);
    cr_assert_not_null(o);
    cr_assert_str_eq(json_string_value(json_object_get(o, "state")), "firing");
    cr_assert_str_eq(json_string_value(json_object_get(o, "queue")), "payments");
    cr_assert_str_eq(json_string_value(json_object_get(o, "message")), "payments: SL 50.0%");
    cr_assert_eq(json_integer_value(json_object_get(o, "at")), T0 + 6 * MIN);
    cr_assert_eq(json_integer_value(json_object_get(o, "active_since")), T0 + MIN);
    cr_assert_float_eq(json_number_value(json_object_get(o, "threshold")), 0.8, 1e-9);
    json_decref(o);
    char *fired = as_fired(json);
    cr_assert_str_eq(ns.last_json, fired, "the notice is the entry as fired");
    free(fired);
    /* the stream entry carries the spec's fields */
    r = redisCommand(env.rc, "XRANGE t:alerts - +");
    cr_assert_eq(r->elements, 1);
    redisReply *f = r->element[0]->element[1];
    const char *want[] = {"rule", "sl", "dims", "queue=payments", "state", "firing", "value",
                          "0.5000", "threshold", "0.8"};
    for (int i = 0; i < 10; i++)
        cr_assert_str_eq(f->element[i]->str, want[i]);
    cr_assert_str_eq(f->element[10]->str, "at");
    freeReplyObject(r);
    /* recovered past the resolve threshold (0.82 is not enough) */
    clock_at(T0 + 7 * MIN);
    cmd("HSET t:live:queue=payments service_level_15m 0.82 as_of %lld", T0 + 7 * MIN);
    cr_assert_eq(tick(e, &ns), 0);
    clock_at(T0 + 8 * MIN);
    cmd("HSET t:live:queue=payments service_level_15m 0.9 as_of %lld", T0 + 8 * MIN);
    cr_assert_eq(tick(e, &ns), 1);
    cr_assert_str_eq(ns.last_state, "resolved");
    cr_assert_eq(xlen("t:alerts"), 2);
    cr_assert_eq(hlen("t:alerts:active"), 0);
    cr_assert_eq(hlen("t:alerts:state:{t:alerts}"), 0, "an inactive alert keeps no state");
    /* the channel got both */
    for (int k = 0; k < 2; k++) {
        redisReply *m = NULL;
        cr_assert_eq(redisGetReply(sub, (void **)&m), REDIS_OK);
        cr_assert_str_eq(m->element[1]->str, "t:alerts");
        cr_assert_not_null(strstr(m->element[2]->str, k ? "\"resolved\"" : "\"firing\""));
        freeReplyObject(m);
    }
    redisFree(sub);
    sp_alert_eval_destroy(e);
    sp_rules_free(&rs);
}

/* Minutes 0..6 of payments at SL 0.5 on 60 calls, a tick each: sl_rules fires. */
static void sl_under_target_until_firing(sp_alert_eval *e, notices *ns)
{
    for (int m = 0; m <= 6; m++) {
        clock_at(T0 + m * MIN);
        cmd("HSET t:live:queue=payments service_level_15m 0.5 offered_15m 60 as_of %lld",
            T0 + m * MIN);
        cmd("SADD t:livedims queue=payments");
        tick(e, ns);
    }
}

/* While an alert fires, its active entry shows the value of the latest evaluation and
 * when that was, next to the value at firing (which the message keeps). */
Test(alert_eval, active_entries_show_the_latest_value, .init = env_up, .fini = env_down)
{
    sp_rules rs = sl_rules(",\"dims\":{\"queue\":\"*\"}");
    sp_alert_eval *e = evaluator(&rs);
    notices ns = {0};
    sl_under_target_until_firing(e, &ns);
    cr_assert_eq(ns.n, 1, "fired");
    clock_at(T0 + 8 * MIN);
    cmd("HSET t:live:queue=payments service_level_15m 0.31234 offered_15m 70 as_of %lld",
        T0 + 8 * MIN);
    tick(e, &ns);
    char json[4096];
    cr_assert(sp_hget_str(&env, "t:alerts:active", "sl:queue=payments", json, sizeof json));
    json_t *o = json_loads(json, 0, NULL);
    cr_assert_not_null(o);
    cr_expect_float_eq(json_number_value(json_object_get(o, "value")), 0.5, 1e-12, "%s", json);
    cr_expect_float_eq(json_number_value(json_object_get(o, "value_now")), 0.3123, 1e-12,
                       "rounded to the field's decimals: %s", json);
    cr_expect_eq(json_integer_value(json_object_get(o, "evaluated_at")), T0 + 8 * MIN);
    cr_expect_lt(json_integer_value(json_object_get(o, "fired_at")), T0 + 8 * MIN,
                 "fired before: %s", json);
    cr_expect(strstr(json, "\"value_now\":0.3123,"), "plain in the JSON: %s", json);
    json_decref(o);
    cr_assert_eq(ns.n, 1, "no new notice for a new value");
    sp_alert_eval_destroy(e);
    sp_rules_free(&rs);
}

/* The active hash is a contract key in a slot of its own, written after the state: it
 * is made to hold what the states record on every tick, whatever was lost or raced. */
Test(alert_eval, active_hash_follows_the_recorded_states, .init = env_up, .fini = env_down)
{
    sp_rules rs = sl_rules(",\"dims\":{\"queue\":\"*\"}");
    sp_alert_eval *e = evaluator(&rs);
    notices ns = {0};
    sl_under_target_until_firing(e, &ns);
    cr_assert_eq(ns.n, 1, "fired once");
    char json[4096], again[4096];
    cr_assert(sp_hget_str(&env, "t:alerts:active", "sl:queue=payments", json, sizeof json));
    /* as after a crash between the two writes, or a slower instance's late write */
    cmd("HDEL t:alerts:active sl:queue=payments");
    cmd("HSET t:alerts:active sl:queue=gone {}");
    clock_at(T0 + 7 * MIN);
    cr_assert_eq(tick(e, &ns), 0, "no new transition");
    cr_assert_eq(hlen("t:alerts:active"), 1, "the stray entry is gone");
    cr_assert(sp_hget_str(&env, "t:alerts:active", "sl:queue=payments", again, sizeof again));
    char *a = as_fired(again), *b = as_fired(json);
    cr_assert_str_eq(a, b, "the firing alert's entry is back as recorded");
    free(a);
    free(b);
    cr_assert_eq(xlen("t:alerts"), 1);
    sp_alert_eval_destroy(e);
    sp_rules_free(&rs);
}

/* On a three-master cluster: the state, the firing JSON and the stream share a slot,
 * the active hash and the live hashes are wherever their keys hash. */
Test(alert_eval, fires_and_resolves_on_a_cluster, .init = env_up_cluster, .fini = env_down,
     .timeout = 180)
{
    sp_rules rs = sl_rules(",\"dims\":{\"queue\":\"*\"}");
    sp_alert_eval *e = evaluator(&rs), *other = evaluator(&rs);
    notices ns = {0};
    for (int m = 0; m <= 12; m++) {
        long long now = T0 + m * MIN;
        clock_at(now);
        for (int q = 0; q < 4; q++)
            cmd("HSET t:live:queue=q%d service_level_15m %s offered_15m 60 as_of %lld", q,
                m < 7 ? "0.5" : "0.95", now);
        cmd("SADD t:livedims queue=q0 queue=q1 queue=q2 queue=q3");
        tick(m % 2 ? e : other, &ns);
        if (m == 6)
            cr_assert_eq(hlen("t:alerts:active"), 4, "four queues firing");
    }
    cr_assert_eq(ns.n, 8, "each queue fired and resolved once (%d)", ns.n);
    cr_assert_eq(xlen("t:alerts"), 8);
    cr_assert_eq(hlen("t:alerts:active"), 0);
    cr_assert_eq(hlen("t:alerts:state:{t:alerts}"), 0);
    sp_alert_eval_destroy(e);
    sp_alert_eval_destroy(other);
    sp_rules_free(&rs);
}

Test(alert_eval, stale_values_and_missing_series_resolve, .init = env_up, .fini = env_down)
{
    sp_rules rs = sl_rules_for("0", "");
    sp_alert_eval *e = evaluator(&rs);
    notices ns = {0};
    clock_at(T0);
    cmd("HSET t:live:all service_level_15m 0.5 offered_15m 60 as_of %lld", T0);
    cr_assert_eq(tick(e, &ns), 1);
    /* the desk went quiet: 16 minutes on, the 15-minute value is no longer about now */
    clock_at(T0 + 16 * MIN);
    cr_assert_eq(tick(e, &ns), 1);
    cr_assert_str_eq(ns.last_state, "resolved");
    cr_assert_not_null(strstr(ns.last_json, "\"reason\":\"no data\""));
    sp_alert_eval_destroy(e);
    sp_rules_free(&rs);
}

Test(alert_eval, rollup_rules_and_removed_rules, .init = env_up, .fini = env_down)
{
    sp_rules rs;
    parse_ok("{\"rules\":[{\"name\":\"aht\",\"metric\":\"handle_ms_p90\",\"window\":\"15m\","
             "\"dims\":{\"agent\":\"*\"},\"op\":\">\",\"threshold\":600000,\"min_volume\":3}]}",
             &rs);
    sp_alert_eval *e = evaluator(&rs);
    notices ns = {0};
    long long now = T0 + 20 * MIN, last = T0; /* the last complete 15m window starts at T0 */
    clock_at(now);
    cmd("ZADD t:ts:15m:agent=a1 %lld %lld", last / 1000, last / 1000);
    cmd("ZADD t:ts:15m:agent=a2 %lld %lld", last / 1000, last / 1000);
    cmd("ZADD t:ts:15m:queue=x %lld %lld", last / 1000, last / 1000);
    cmd("HSET t:r:15m:agent=a1:%lld handle_ms_p90 900000 handle_ms_count 4", last / 1000);
    cmd("HSET t:r:15m:agent=a2:%lld handle_ms_p90 900000 handle_ms_count 2", last / 1000);
    cmd("HSET t:r:15m:queue=x:%lld handle_ms_p90 900000 handle_ms_count 9", last / 1000);
    cr_assert_eq(tick(e, &ns), 1, "a1 only: a2 has 2 calls, queue=x is not an agent");
    cr_assert(sp_hget_str(&env, "t:alerts:active", "aht:agent=a1", ns.last_json, 16));
    /* the rule is removed from the file: its firing alert resolves */
    sp_alert_eval_destroy(e);
    sp_rules none = {0};
    e = evaluator(&none);
    cr_assert_eq(tick(e, &ns), 1);
    cr_assert_not_null(strstr(ns.last_json, "\"reason\":\"rule removed\""));
    cr_assert_eq(hlen("t:alerts:active"), 0);
    sp_alert_eval_destroy(e);
    sp_rules_free(&rs);
}

/* In the desk's zone (+08:00) a 1d rule reads the last complete local day. */
Test(alert_eval, a_day_rule_reads_the_desks_day, .init = env_up, .fini = env_down)
{
    char err[256];
    sp_zones *z = sp_zones_new("Asia/Shanghai", "", err, sizeof err);
    cr_assert(z, "%s", err);
    sp_rules rs;
    parse_ok("{\"rules\":[{\"name\":\"day_sl\",\"metric\":\"service_level\",\"window\":\"1d\","
             "\"op\":\"<\",\"threshold\":0.8}]}", &rs);
    sp_alert_eval *e = evaluator_in(&rs, z);
    notices ns = {0};
    long long yesterday = 1763654400; /* 2025-11-20T16:00Z: local midnight of the 21st */
    clock_at(T0);                     /* 2025-11-22T10:00Z, 18:00 in Shanghai */
    cmd("ZADD t:ts:1d:all %lld %lld", yesterday, yesterday);
    cmd("HSET t:r:1d:all:%lld service_level 0.5", yesterday);
    cmd("HSET t:r:1d:all:1763683200 service_level 0.9"); /* the UTC day of the 21st */
    cr_assert_eq(tick(e, &ns), 1, "the local day's rollup is read, not the UTC day's");
    cr_assert_str_eq(ns.last_state, "firing");
    sp_alert_eval_destroy(e);
    sp_rules_free(&rs);
    sp_zones_free(z);
}

/* A "_today" value from before the desk's midnight is no data after it; at 16:01 UTC it is
 * still today in UTC, and a new day in Shanghai. */
static void today_after_midnight(const char *zone, const char *want)
{
    char err[256];
    sp_zones *z = sp_zones_new(zone, "", err, sizeof err);
    cr_assert(z, "%s", err);
    sp_rules rs;
    parse_ok("{\"rules\":[{\"name\":\"csat_day\",\"metric\":\"csat_today\",\"op\":\"<\","
             "\"threshold\":0.8}]}", &rs);
    sp_alert_eval *e = evaluator_in(&rs, z);
    notices ns = {0};
    cmd("HSET t:live:all csat_today 0.5 as_of %lld", 1763827140000LL); /* 15:59Z */
    clock_at(1763827140000LL);
    cr_assert_eq(tick(e, &ns), 1, "%s: fires on its day", zone);
    clock_at(1763827260000LL); /* 16:01Z */
    tick(e, &ns);
    cr_expect_str_eq(ns.last_state, want, "%s", zone);
    sp_alert_eval_destroy(e);
    sp_rules_free(&rs);
    sp_zones_free(z);
}

Test(alert_eval, today_ends_at_the_desks_midnight, .init = env_up, .fini = env_down)
{
    today_after_midnight("Asia/Shanghai", "resolved");
}

Test(alert_eval, today_in_utc_ends_at_utc_midnight, .init = env_up, .fini = env_down)
{
    today_after_midnight("UTC", "firing");
}

typedef struct {
    sp_alert_eval *e;
    atomic_int *step;
    int notified;
} racer;

static void count_notice(void *arg, const sp_alert_notice *n)
{
    (void)n;
    ((racer *)arg)->notified++;
}

static void *race(void *arg)
{
    racer *r = arg;
    char err[512];
    while (atomic_load(r->step) >= 0) {
        if (sp_alert_eval_tick(r->e, count_notice, r, err, sizeof err) < 0)
            fprintf(stderr, "race: %s\n", err);
    }
    return NULL;
}

Test(alert_eval, two_evaluators_record_each_transition_once, .init = env_up, .fini = env_down)
{
    sp_rules rs = sl_rules_for("\"2m\"", ",\"dims\":{\"queue\":\"*\"}");
    atomic_int step = 0;
    racer a = {evaluator(&rs), &step, 0}, b = {evaluator(&rs), &step, 0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, race, &a);
    pthread_create(&tb, NULL, race, &b);
    /* 3 queues, each alternating 8 minutes bad and 8 good, for 96 minutes */
    for (int m = 0; m < 96; m++) {
        long long now = T0 + m * MIN;
        for (int q = 0; q < 3; q++) {
            int bad_now = ((m + 3 * q) / 8) % 2 == 0;
            cmd("HSET t:live:queue=q%d service_level_15m %s offered_15m 50 as_of %lld", q,
                bad_now ? "0.5" : "0.95", now);
            cmd("SADD t:livedims queue=q%d", q);
        }
        clock_at(now);
        usleep(15000);
    }
    usleep(300000);
    atomic_store(&step, -1);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    long long n = xlen("t:alerts");
    cr_assert_gt(n, 12, "each queue fired and resolved several times (%lld)", n);
    cr_assert_eq(a.notified + b.notified, n, "notified %d + %d, recorded %lld", a.notified,
                 b.notified, n);
    /* per alert, transitions alternate firing/resolved: none was recorded twice */
    redisReply *r = redisCommand(env.rc, "XRANGE t:alerts - +");
    char last[3][16] = {"", "", ""};
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *f = r->element[i]->element[1];
        int q = f->element[3]->str[strlen(f->element[3]->str) - 1] - '0';
        cr_assert_str_neq(last[q], f->element[5]->str, "q%d: %s twice", q, last[q]);
        snprintf(last[q], sizeof last[q], "%s", f->element[5]->str);
    }
    freeReplyObject(r);
    sp_alert_eval_destroy(a.e);
    sp_alert_eval_destroy(b.e);
    sp_rules_free(&rs);
}

/* ---- hooks ---------------------------------------------------------------------- */

static void hooks_conf(sp_hooks_conf *c, const char *url)
{
    sp_hooks_conf_defaults(c);
    c->webhook_url = url;
    c->webhook_timeout_ms = 1000;
    c->webhook_retries = 50;
    c->backoff_ms = 50;
    c->max_backoff_ms = 200;
}

static int wait_for(sp_receiver *rv, int n, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 20) {
        if (sp_receiver_count(rv) >= n)
            return 1;
        usleep(20000);
    }
    return sp_receiver_count(rv) >= n;
}

Test(hooks, webhook_receiver_down_then_up)
{
    sp_receiver rv;
    sp_receiver_start(&rv, 0, 200);
    int port = rv.port;
    sp_receiver_stop(&rv); /* down */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/alerts", port);
    sp_hooks_conf c;
    hooks_conf(&c, url);
    char err[256];
    sp_hooks *h = sp_hooks_start(&c, err, sizeof err);
    cr_assert_not_null(h, "%s", err);
    sp_hooks_submit(h, "{\"rule\":\"sl\",\"state\":\"firing\"}");
    sp_hooks_submit(h, "{\"rule\":\"sl\",\"state\":\"resolved\"}");
    usleep(400000);
    sp_hook_stats s;
    sp_hooks_stats(h, &s);
    cr_assert_geq(s.webhook_retries, 2, "retried while the receiver is down");
    cr_assert_eq(s.webhook_sent, 0);
    sp_receiver_start(&rv, port, 200); /* up again, same port */
    cr_assert(wait_for(&rv, 2, 5000), "both delivered once the receiver is back");
    char body[4096];
    sp_receiver_body(&rv, 0, body, sizeof body);
    cr_assert_str_eq(body, "{\"rule\":\"sl\",\"state\":\"firing\"}", "in order");
    sp_receiver_body(&rv, 1, body, sizeof body);
    cr_assert_str_eq(body, "{\"rule\":\"sl\",\"state\":\"resolved\"}");
    cr_assert_str_eq(rv.content_type, "application/json");
    sp_hooks_stop(h, 1000, &s);
    cr_assert_eq(s.webhook_sent, 2);
    cr_assert_eq(s.webhook_failed, 0);
    sp_receiver_free(&rv);
}

Test(hooks, webhook_statuses_retries_and_queue_bound)
{
    sp_receiver rv;
    sp_receiver_start(&rv, 0, 503);
    char url[128], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", rv.port);
    sp_hooks_conf c;
    hooks_conf(&c, url);
    c.webhook_retries = 2;
    c.queue_max = 2;
    c.webhook_header = "Authorization: Bearer s3cret";
    sp_hooks *h = sp_hooks_start(&c, err, sizeof err);
    cr_assert_not_null(h, "%s", err);
    sp_hooks_submit(h, "{\"n\":1}"); /* 503 three times: failed */
    cr_assert(wait_for(&rv, 3, 5000));
    usleep(100000);
    sp_hook_stats s;
    sp_hooks_stats(h, &s);
    cr_assert_eq(s.webhook_failed, 1);
    cr_assert_eq(s.webhook_retries, 2);
    cr_assert_str_eq(rv.authorization, "Bearer s3cret");
    rv.status = 400; /* final: no retry */
    sp_hooks_submit(h, "{\"n\":2}");
    cr_assert(wait_for(&rv, 4, 5000));
    usleep(200000);
    sp_hooks_stats(h, &s);
    cr_assert_eq(s.webhook_failed, 2);
    cr_assert_eq(sp_receiver_count(&rv), 4);
    /* a slow receiver: the queue keeps the newest 2 and counts what it dropped */
    rv.status = 200;
    rv.delay_ms = 300;
    for (int i = 0; i < 6; i++) {
        char j[32];
        snprintf(j, sizeof j, "{\"n\":%d}", 10 + i);
        sp_hooks_submit(h, j);
    }
    sp_hooks_stop(h, 3000, &s);
    cr_assert_geq(s.webhook_dropped, 3, "dropped %llu", (unsigned long long)s.webhook_dropped);
    cr_assert_eq(s.webhook_sent + s.webhook_dropped, 6);
    char body[64];
    sp_receiver_body(&rv, sp_receiver_count(&rv) - 1, body, sizeof body);
    cr_assert_str_eq(body, "{\"n\":15}", "the newest is delivered");
    sp_receiver_free(&rv);
}

static void read_file(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, size - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
}

Test(hooks, command_gets_the_alert_in_its_environment)
{
    char dir[] = "/tmp/sp-cmd-XXXXXX", command[512], out[4096], err[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(command, sizeof command,
             "printf '%%s|%%s|%%s|%%s|%%s\\n' \"$SP_ALERT_RULE\" \"$SP_ALERT_STATE\" "
             "\"$SP_ALERT_QUEUE\" \"$SP_ALERT_VALUE\" \"$SP_ALERT_MESSAGE\" >> %s/out; "
             "printf '%%s' \"$SP_ALERT_JSON\" > %s/json",
             dir, dir);
    sp_hooks_conf c;
    sp_hooks_conf_defaults(&c);
    c.command = command;
    const char *json = "{\"rule\":\"sl\",\"state\":\"firing\",\"queue\":\"pay ments\","
                       "\"value\":0.5,\"message\":\"it's $HOME; `x`\"}";
    cr_assert_eq(sp_command_run(&c, json, err, sizeof err), SP_HOOK_OK, "%s", err);
    char path[256];
    snprintf(path, sizeof path, "%s/out", dir);
    read_file(path, out, sizeof out);
    cr_assert_str_eq(out, "sl|firing|pay ments|0.5|it's $HOME; `x`\n");
    snprintf(path, sizeof path, "%s/json", dir);
    read_file(path, out, sizeof out);
    cr_assert_str_eq(out, json);
    c.command = "exit 3";
    cr_assert_eq(sp_command_run(&c, json, err, sizeof err), SP_HOOK_FAILED);
    cr_assert_str_eq(err, "exit status 3");
    c.command = "sleep 5";
    c.command_timeout_ms = 200;
    cr_assert_eq(sp_command_run(&c, json, err, sizeof err), SP_HOOK_FAILED);
    cr_assert_str_eq(err, "killed after 200 ms");
    /* through the queue: every submitted transition runs, in order */
    snprintf(command, sizeof command, "echo \"$SP_ALERT_STATE\" >> %s/queued", dir);
    c.command = command;
    c.command_timeout_ms = 5000;
    sp_hooks *h = sp_hooks_start(&c, err, sizeof err);
    sp_hooks_submit(h, "{\"state\":\"firing\"}");
    sp_hooks_submit(h, "{\"state\":\"resolved\"}");
    sp_hook_stats s;
    sp_hooks_stop(h, 5000, &s);
    cr_assert_eq(s.command_ok, 2);
    snprintf(path, sizeof path, "%s/queued", dir);
    read_file(path, out, sizeof out);
    cr_assert_str_eq(out, "firing\nresolved\n");
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
}

/* ---- agent presence through the pipeline ------------------------------------------ */

static void produce_status(int n, const char *const *values)
{
    const char *keys[16];
    for (int i = 0; i < n; i++)
        keys[i] = "agents";
    sp_produce(&env, "alerts", keys, values, n);
}

Test(presence, agents_available_and_staffed_per_queue, .init = env_up, .fini = env_down)
{
    const char *first[] = {
        "{\"id\":\"s1\",\"type\":\"agent.status\",\"ts\":1763805600000,\"agent_id\":\"a1\",\"status\":\"available\",\"queues\":[\"payments\",\"refunds\",\"payments\"]}",
        "{\"id\":\"s2\",\"type\":\"agent.status\",\"ts\":1763805601000,\"agent_id\":\"a2\",\"status\":\"busy\",\"queues\":[\"payments\"]}",
        "{\"id\":\"s3\",\"type\":\"agent.status\",\"ts\":1763805602000,\"agent_id\":\"a3\",\"status\":\"available\",\"queues\":[\"payments\"]}",
        "{\"id\":\"s4\",\"type\":\"agent.status\",\"ts\":1763805603000,\"agent_id\":\"a3\",\"status\":\"away\",\"queues\":[\"payments\"]}",
        "{\"id\":\"s5\",\"type\":\"agent.status\",\"ts\":1763805604000,\"agent_id\":\"b1\",\"tenant\":\"acme\",\"status\":\"available\",\"queues\":[\"payments\"]}",
        /* older than a1's newest: ignored */
        "{\"id\":\"s6\",\"type\":\"agent.status\",\"ts\":1763805590000,\"agent_id\":\"a1\",\"status\":\"offline\",\"queues\":[\"payments\"]}",
    };
    produce_status(6, first);
    sp_config cfg;
    sp_env_config(&env, &cfg, "alerts", "presence");
    sp_runner r;
    sp_runner_start(&r, &cfg);
    cr_assert(sp_runner_wait(&r, 6, 60));
    sp_runner_stop(&r);
    cr_assert_eq(sp_hget_ll(&env, "sp:live:queue=payments", "agents_available", -1), 2, "a1, b1");
    cr_assert_eq(sp_hget_ll(&env, "sp:live:queue=payments", "agents_staffed", -1), 3, "a1 a2 b1");
    cr_assert_eq(sp_hget_ll(&env, "sp:live:queue=refunds", "agents_available", -1), 1);
    cr_assert_eq(sp_hget_ll(&env, "sp:live:tenant=acme|queue=payments", "agents_available", -1), 1);
    cr_assert_eq(sp_hget_ll(&env, "sp:live:all", "agents_available", -1), 2);
    cr_assert_eq(sp_hget_ll(&env, "sp:live:all", "agents_staffed", -1), 3);
    /* the same statuses again under new ids (a replaying producer) change nothing; a
     * newer one moves a1 out of refunds and to busy */
    const char *again[] = {
        "{\"id\":\"t1\",\"type\":\"agent.status\",\"ts\":1763805600000,\"agent_id\":\"a1\",\"status\":\"available\",\"queues\":[\"payments\",\"refunds\"]}",
        "{\"id\":\"t2\",\"type\":\"agent.status\",\"ts\":1763805601000,\"agent_id\":\"a2\",\"status\":\"busy\",\"queues\":[\"payments\"]}",
        "{\"id\":\"t3\",\"type\":\"agent.status\",\"ts\":1763805700000,\"agent_id\":\"a1\",\"status\":\"busy\",\"queues\":[\"payments\"]}",
    };
    produce_status(3, again);
    sp_runner_start(&r, &cfg);
    cr_assert(sp_runner_wait(&r, 3, 60));
    sp_runner_stop(&r);
    cr_assert_eq(sp_hget_ll(&env, "sp:live:queue=payments", "agents_available", -1), 1, "b1");
    cr_assert_eq(sp_hget_ll(&env, "sp:live:queue=payments", "agents_staffed", -1), 3);
    cr_assert_eq(sp_hget_ll(&env, "sp:live:queue=refunds", "agents_available", -1), 0);
    cr_assert_eq(sp_hget_ll(&env, "sp:live:queue=refunds", "agents_staffed", -1), 0);
    sp_config_free(&cfg);
}

/* ---- end to end: an outage, two instances ----------------------------------------- */

/* 04:00-07:30 on a Monday at 3,000 contacts an hour: the generated desk answers over
 * 85% of payments calls within 20 s (at 20-140 calls per 15 minutes) except during
 * the phone outage 05:30-06:10, when nobody answers. (Later in the morning the
 * generator's desk is understaffed and misses 80% on its own.) */
#define E2E_START 1763956800000LL  /* 2025-11-24T04:00:00Z */
#define OUTAGE_FROM (E2E_START + 90 * MIN)
#define OUTAGE_TO (OUTAGE_FROM + 40 * MIN)
#define E2E_END (E2E_START + 210 * MIN)

static const char e2e_rules[] =
    "{\"rules\":[{\"name\":\"sl\",\"metric\":\"service_level_15m\",\"dims\":{\"queue\":\"*\"},"
    "\"op\":\"<\",\"threshold\":0.8,\"resolve\":0.85,\"min_volume\":20,\"for\":\"5m\","
    "\"severity\":\"critical\",\"message\":\"{queue}: SL {value_pct}\"}]}";

static void alert_config(sp_config *cfg, const char *rules, const char *url, const char *cmd_)
{
    char err[512];
    sp_env_config(&env, cfg, "desk", "alerting");
    cr_assert(sp_config_set(cfg, "forecast", "0", err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "alert_rules", rules, err, sizeof err) == 0, "%s", err);
    cr_assert(sp_config_set(cfg, "alert_eval_ms", "100", err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "alert_webhook_url", url, err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "alert_webhook_backoff_ms", "50", err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "alert_command", cmd_, err, sizeof err) == 0);
}

/* Produces the generated messages with event time before `until`. */
static int produce_until(sp_gen *g, sp_gen_msg *pending, int *has, long long until)
{
    const char *keys[512], *values[512];
    char *owned[512];
    int n = 0, total = 0;
    while (1) {
        if (!*has) {
            cr_assert_eq(sp_gen_next(g, pending), 0);
            *has = 1;
        }
        if (pending->ts_ms >= until || n == 512) {
            if (n) {
                sp_produce(&env, "desk", keys, values, n);
                for (int i = 0; i < n; i++)
                    free(owned[i]);
                total += n;
                n = 0;
            }
            if (pending->ts_ms >= until)
                return total;
        }
        owned[n] = malloc(pending->key_len + pending->value_len + 2);
        memcpy(owned[n], pending->key, pending->key_len);
        owned[n][pending->key_len] = '\0';
        memcpy(owned[n] + pending->key_len + 1, pending->value, pending->value_len);
        owned[n][pending->key_len + 1 + pending->value_len] = '\0';
        keys[n] = owned[n];
        values[n] = owned[n] + pending->key_len + 1;
        n++;
        *has = 0;
    }
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

Test(alerts_e2e, outage_fires_then_resolves_once_across_two_instances, .timeout = 600)
{
    sp_env_start(&env, "desk", 4);
    char rules[512], out[512], command[1024];
    snprintf(rules, sizeof rules, "%s/rules.json", env.tmpdir);
    snprintf(out, sizeof out, "%s/notified", env.tmpdir);
    FILE *f = fopen(rules, "w");
    fputs(e2e_rules, f);
    fclose(f);
    snprintf(command, sizeof command,
             "echo \"$SP_ALERT_RULE $SP_ALERT_DIMS $SP_ALERT_STATE $SP_ALERT_AT\" >> %s", out);
    sp_receiver rv;
    sp_receiver_start(&rv, 0, 200);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rv.port);
    sp_config ca, cb;
    alert_config(&ca, rules, url, command);
    alert_config(&cb, rules, url, command);
    sp_runner a, b;
    sp_runner_start(&a, &ca);
    sp_runner_start(&b, &cb);
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = 7;
    gc.arrivals_per_hour = 3000;
    gc.start_ms = E2E_START;
    gc.outage_start_ms = OUTAGE_FROM;
    gc.outage_end_ms = OUTAGE_TO;
    char err[256];
    sp_gen *g = sp_gen_new(&gc, err, sizeof err);
    sp_gen_msg m;
    int has = 0;
    long long produced = 0;
    for (long long t = E2E_START + 5 * MIN; t <= E2E_END; t += 5 * MIN) {
        produced += produce_until(g, &m, &has, t);
        int caught = 0;
        for (int w = 0; w < 600 && !caught; w++) {
            caught = sp_hget_ll(&env, "sp:meta", "consumed", 0) >= produced;
            if (!caught)
                usleep(50000);
        }
        cr_assert(caught, "consumed %lld of %lld", sp_hget_ll(&env, "sp:meta", "consumed", 0),
                  produced);
        usleep(200000); /* a few evaluations at this point of the day */
    }
    sp_gen_destroy(g);
    long long n = xlen("sp:alerts");
    for (int w = 0; w < 200 && (sp_receiver_count(&rv) < n || count_lines(out) < n); w++)
        usleep(50000);
    sp_runner_stop(&a);
    sp_runner_stop(&b);
    cr_assert_eq(a.rc, 0, "%s", a.err);
    cr_assert_eq(b.rc, 0, "%s", b.err);
    /* payments: one firing during the outage, one resolved after it */
    redisReply *r = redisCommand(env.rc, "XRANGE sp:alerts - +");
    int pay = 0;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *fl = r->element[i]->element[1];
        const char *dims = fl->element[3]->str, *state = fl->element[5]->str;
        long long at = atoll(fl->element[11]->str);
        if (strcmp(state, "firing") == 0)
            cr_assert_geq(at, OUTAGE_FROM + 5 * MIN, "%s fired at %lld, before the outage", dims,
                          at);
        if (strcmp(dims, "queue=payments") != 0)
            continue;
        cr_assert_str_eq(state, pay == 0 ? "firing" : "resolved");
        if (pay == 0)
            cr_assert_leq(at, OUTAGE_TO, "fired during the outage");
        else
            cr_assert_gt(at, OUTAGE_TO, "resolved after it");
        pay++;
    }
    freeReplyObject(r);
    cr_assert_eq(pay, 2, "payments: %d transitions", pay);
    /* each transition was notified once, by one of the two instances */
    cr_assert_eq(sp_receiver_count(&rv), n, "webhook got %d of %lld", sp_receiver_count(&rv), n);
    cr_assert_eq(count_lines(out), n, "command ran %d times for %lld", count_lines(out), n);
    cr_assert_eq(sp_hget_ll(&env, "sp:alerts:hooks", "webhook_sent", 0), n);
    cr_assert_eq(sp_hget_ll(&env, "sp:alerts:hooks", "command_ok", 0), n);
    char json[4096];
    cr_assert(!sp_hget_str(&env, "sp:alerts:active", "sl:queue=payments", json, sizeof json));
    sp_config_free(&ca);
    sp_config_free(&cb);
    sp_receiver_free(&rv);
    sp_env_stop(&env);
}

/* The log names a webhook by scheme, host and port: credentials, path and query (where
 * tokens go) stay out of it. */
Test(hooks, webhook_url_in_the_log_has_no_secrets)
{
    static const struct {
        const char *url, *shown;
    } rows[] = {
        {"https://user:pass@hooks.example.com:8443/services/T0/B1?token=s3cret",
         "https://hooks.example.com:8443"},
        {"http://127.0.0.1:9/alerts", "http://127.0.0.1:9"},
        {"https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com"},
        {"http://[::1]:8080/x?api_key=k", "http://[::1]:8080"},
        {"not a url at all", "(a malformed URL)"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char out[300];
        sp_webhook_url_shown(rows[i].url, out, sizeof out);
        cr_expect_str_eq(out, rows[i].shown, "for %s", rows[i].url);
    }
}
