/*
 * alert_eval.c - see alert_eval.h.
 *
 * Flow of a tick: clock -> stored states (HGETALL) -> targets (rule x dims: the exact
 * set, or every live/rollup set the filter selects, plus every set with a stored
 * state) -> values (pipelined HMGET) -> sp_alert_step -> changed states written by
 * the compare-and-set script below, which records a transition in the same call: the
 * stream entry, the firing alert's JSON, the PUBLISH (the state key is in the stream's
 * slot). Last, the active hash (a contract key in a slot of its own) is made to equal
 * the firing JSON: it follows the recorded truth within a tick whoever wrote it.
 */
#include "supportpulse/alert_eval.h"
#include "supportpulse/numfmt.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/clock.h"
#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_conn.h"
#include "supportpulse/redis_keys.h"

#define STATE_MAX 160
#define KEY_MAX (SP_DIMS_MAX + 128)

/* KEYS: state hash, firing hash, stream (one slot). ARGV: field, expected state ("" =
 * none), new state ("" = delete), transition ("" / firing / resolved), stream length,
 * channel, json, n, then n stream field/value pairs. 1 written, 0 another writer was
 * first. */
static const char cas_script[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1]) or ''\n"
    "if cur ~= ARGV[2] then return 0 end\n"
    "if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end\n"
    "if ARGV[4] ~= '' then\n"
    "  local f = {}\n"
    "  for i = 1, 2 * tonumber(ARGV[8]) do f[i] = ARGV[8 + i] end\n"
    "  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', unpack(f))\n"
    "  if ARGV[4] == 'firing' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[7])\n"
    "  else redis.call('HDEL', KEYS[2], ARGV[1]) end\n"
    "  redis.call('PUBLISH', ARGV[6], ARGV[7])\n"
    "end\n"
    "return 1\n";

typedef struct {
    const sp_rule *rule;         /* NULL: a state left by a removed rule */
    char field[KEY_MAX];         /* "<rule>:<dims>" */
    const char *dims;            /* inside field (set once the array stops growing) */
    size_t name_len;             /* of the rule name at the start of field */
    const char *stored;          /* the stored state, "" when none */
    sp_alert_sample sample;
} target;

struct sp_alert_eval {
    sp_alert_eval_conf conf;
    const sp_rules *rules;
    sp_redis *rc;                /* NULL until the first tick */
    int cas_script;              /* its id in rc */
    sp_redis_batch *batch;
    char key_state[SP_KEY_MAX], key_firing[SP_KEY_MAX], key_active[SP_KEY_MAX],
        key_stream[SP_KEY_MAX];
    int64_t clock;
    redisReply *states;          /* HGETALL of the states key, this tick */
    sp_strmap *state_index;      /* field -> element index of its value */
    redisReply *livedims;        /* SMEMBERS {p}:livedims of this tick */
    char **series[5];            /* per resolution: the dims of {p}:ts:{res}:*, re-listed */
    size_t nseries[5];
    int64_t series_at[5];
    target *t;
    size_t nt, capt;
    sp_strmap *target_index;
};

void sp_alert_eval_conf_defaults(sp_alert_eval_conf *c)
{
    memset(c, 0, sizeof *c);
    c->address = "127.0.0.1:6379";
    c->prefix = "sp";
    c->connect_timeout_ms = c->command_timeout_ms = 5000;
    c->stream_max = 10000;
    c->dims_refresh_ms = 60000;
}

sp_alert_eval *sp_alert_eval_new(const sp_alert_eval_conf *conf, const sp_rules *rules,
                                 char *errstr, size_t errstr_size)
{
    sp_alert_eval *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(errstr, errstr_size, "alerts: out of memory");
        return NULL;
    }
    e->conf = *conf;
    e->rules = rules;
    e->clock = -1;
    return e;
}

static void drop_tick(sp_alert_eval *e)
{
    freeReplyObject(e->states);
    freeReplyObject(e->livedims);
    e->states = e->livedims = NULL;
    sp_strmap_destroy(e->state_index);
    sp_strmap_destroy(e->target_index);
    e->state_index = e->target_index = NULL;
    e->nt = 0;
}

static void free_series(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static void drop_connection(sp_alert_eval *e)
{
    if (e->rc)
        sp_redis_close(e->rc);
    for (int r = 0; r < 5; r++) {
        free_series(e->series[r], e->nseries[r]);
        e->series[r] = NULL;
        e->nseries[r] = 0;
        e->series_at[r] = 0;
    }
}

void sp_alert_eval_destroy(sp_alert_eval *e)
{
    if (!e)
        return;
    drop_tick(e);
    drop_connection(e);
    sp_redis_batch_destroy(e->batch);
    sp_redis_destroy(e->rc);
    free(e->t);
    free(e);
}

int64_t sp_alert_eval_clock(const sp_alert_eval *e) { return e->clock; }

/* ---- Redis ---------------------------------------------------------------------- */

/* why: the client's message when there is no reply. */
static int fail_redis(sp_alert_eval *e, const char *what, const redisReply *r, const char *why,
                      char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "alerts: redis %s: %s: %s", e->conf.address, what,
             r ? (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply") : why);
    if (!r)
        drop_connection(e);
    return -1;
}

static int connect_redis(sp_alert_eval *e, char *errstr, size_t errstr_size)
{
    char why[512];
    if (!e->rc) {
        const char *p = e->conf.prefix;
        if (sp_key_alerts(e->key_state, sizeof e->key_state, p, 't') < 0 ||
            sp_key_alerts(e->key_firing, sizeof e->key_firing, p, 'f') < 0 ||
            sp_key_alerts(e->key_active, sizeof e->key_active, p, 'a') < 0 ||
            sp_key_alerts(e->key_stream, sizeof e->key_stream, p, 's') < 0)
            return snprintf(errstr, errstr_size, "alerts: prefix too long"), -1;
        e->rc = sp_redis_new(e->conf.address, e->conf.connect_timeout_ms,
                             e->conf.command_timeout_ms);
        e->batch = sp_redis_batch_new();
        if (!e->rc || !e->batch || sp_redis_set_auth(e->rc, e->conf.user, e->conf.password) < 0 ||
            (e->cas_script = sp_redis_script(e->rc, cas_script)) < 0)
            return snprintf(errstr, errstr_size, "alerts: out of memory"), -1;
        if (sp_redis_set_tls(e->rc, &e->conf.tls, why, sizeof why) < 0) {
            snprintf(errstr, errstr_size, "alerts: %s", why);
            drop_connection(e);
            return -1;
        }
    }
    if (sp_redis_connect(e->rc, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "alerts: %s", why);
        drop_connection(e);
        return -1;
    }
    return 0;
}

/* A reply of the expected type (array or integer), or NULL with errstr. */
static redisReply *expect(sp_alert_eval *e, redisReply *r, int type, const char *what,
                          const char *why, char *errstr, size_t errstr_size)
{
    if (r && r->type == type)
        return r;
    fail_redis(e, what, r, why, errstr, errstr_size);
    freeReplyObject(r);
    return NULL;
}

static int load_states(sp_alert_eval *e, char *errstr, size_t errstr_size)
{
    char why[512];
    e->states = expect(e, sp_redis_cmd(e->rc, why, sizeof why, "HGETALL %s", e->key_state),
                       REDIS_REPLY_ARRAY, "HGETALL alerts:state", why, errstr, errstr_size);
    if (!e->states)
        return -1;
    if (!(e->state_index = sp_strmap_new(64 + e->states->elements)))
        goto nomem;
    for (size_t i = 0; i + 1 < e->states->elements; i += 2) {
        const redisReply *k = e->states->element[i];
        if (k->type == REDIS_REPLY_STRING &&
            sp_strmap_put(e->state_index, k->str, k->len, (uint32_t)(i + 1)) < 0)
            goto nomem;
    }
    return 0;
nomem:
    snprintf(errstr, errstr_size, "alerts: out of memory");
    return -1;
}

static const char *stored_state(const sp_alert_eval *e, const char *field)
{
    uint32_t i;
    if (!sp_strmap_get(e->state_index, field, strlen(field), &i))
        return "";
    const redisReply *v = e->states->element[i];
    return v->type == REDIS_REPLY_STRING ? v->str : "";
}

/* ---- targets -------------------------------------------------------------------- */

static int add_target(sp_alert_eval *e, const sp_rule *r, const char *rule_name,
                      const char *dims)
{
    char field[KEY_MAX];
    int n = snprintf(field, sizeof field, "%s:%s", rule_name, dims);
    uint32_t idx;
    if (n < 0 || (size_t)n >= sizeof field || sp_strmap_get(e->target_index, field, (size_t)n, &idx))
        return 0;
    if (e->nt == e->capt) {
        size_t cap = e->capt ? 2 * e->capt : 64;
        target *t = realloc(e->t, cap * sizeof *t);
        if (!t)
            return -1;
        e->t = t;
        e->capt = cap;
    }
    target *t = &e->t[e->nt];
    memcpy(t->field, field, (size_t)n + 1);
    t->name_len = strlen(rule_name);
    t->dims = NULL;
    t->rule = r;
    t->stored = stored_state(e, field);
    memset(&t->sample, 0, sizeof t->sample);
    if (sp_strmap_put(e->target_index, field, (size_t)n, (uint32_t)e->nt) < 0)
        return -1;
    e->nt++;
    return 0;
}

static int load_livedims(sp_alert_eval *e, char *errstr, size_t errstr_size)
{
    char key[SP_KEY_MAX], why[512];
    if (e->livedims)
        return 0;
    if (sp_key_livedims(key, sizeof key, e->conf.prefix) < 0)
        return snprintf(errstr, errstr_size, "alerts: prefix too long"), -1;
    e->livedims = expect(e, sp_redis_cmd(e->rc, why, sizeof why, "SMEMBERS %s", key),
                         REDIS_REPLY_ARRAY, "SMEMBERS livedims", why, errstr, errstr_size);
    return e->livedims ? 0 : -1;
}

/* Appends the dims of the keys of one SCAN page (prefix skipped). 0 or -1. */
static int add_page(char ***list, size_t *n, const redisReply *keys, size_t skip)
{
    char **grown = realloc(*list, (*n + keys->elements + 1) * sizeof *grown);
    if (!grown)
        return -1;
    *list = grown;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || k->len <= skip)
            continue;
        if (!(grown[*n] = strdup(k->str + skip)))
            return -1;
        (*n)++;
    }
    return 0;
}

/* Adds one master's {p}:ts:{res}:* keys (pattern) to list. 0, or -1 with errstr. */
static int scan_node(sp_alert_eval *e, int node, const char *pattern, size_t skip,
                     char ***list, size_t *n, char *errstr, size_t errstr_size)
{
    char cursor[32] = "0", why[512];
    do {
        redisReply *r = expect(e, sp_redis_node_cmd(e->rc, node, why, sizeof why,
                                                    "SCAN %s MATCH %s COUNT 1000", cursor,
                                                    pattern),
                               REDIS_REPLY_ARRAY, "SCAN", why, errstr, errstr_size);
        int rc = !r ? -1
               : r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
                         r->element[1]->type != REDIS_REPLY_ARRAY
                   ? fail_redis(e, "SCAN", r, why, errstr, errstr_size)
                   : 0;
        if (rc == 0) {
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            if ((rc = add_page(list, n, r->element[1], skip)) < 0)
                snprintf(errstr, errstr_size, "alerts: out of memory");
        }
        freeReplyObject(r);
        if (rc < 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Lists the dims of {p}:ts:{res}:* (every series of a resolution) on every master, at
 * most every dims_refresh_ms. */
static int load_series(sp_alert_eval *e, int res, char *errstr, size_t errstr_size)
{
    int64_t now = sp_mono_ms();
    if (e->series[res] && now - e->series_at[res] < e->conf.dims_refresh_ms)
        return 0;
    char pattern[SP_KEY_MAX], **list = NULL;
    int plen = snprintf(pattern, sizeof pattern, "%s:ts:%s:", e->conf.prefix,
                        sp_rule_res_name(res));
    if (plen < 0 || (size_t)plen + 2 > sizeof pattern)
        return snprintf(errstr, errstr_size, "alerts: prefix too long"), -1;
    strcat(pattern, "*");
    size_t n = 0, skip = (size_t)plen;
    for (int node = 0; node < sp_redis_nodes(e->rc); node++)
        if (scan_node(e, node, pattern, skip, &list, &n, errstr, errstr_size) < 0) {
            free_series(list, n);
            return -1;
        }
    free_series(e->series[res], e->nseries[res]);
    e->series[res] = list ? list : calloc(1, sizeof *list);
    e->nseries[res] = n;
    e->series_at[res] = now;
    return e->series[res] ? 0 : (snprintf(errstr, errstr_size, "alerts: out of memory"), -1);
}

/* Every dims of the rule's source its filter selects. -1 with errstr, -2 out of memory. */
static int select_dims(sp_alert_eval *e, const sp_rule *r, char *errstr, size_t errstr_size)
{
    char dims[SP_DIMS_MAX];
    if (sp_rule_exact_dims(r, dims, sizeof dims) == 0)
        return add_target(e, r, r->name, dims) < 0 ? -2 : 0;
    if (r->res >= 0) {
        if (load_series(e, r->res, errstr, errstr_size) < 0)
            return -1;
        for (size_t i = 0; i < e->nseries[r->res]; i++)
            if (sp_rule_matches(r, e->series[r->res][i]) &&
                add_target(e, r, r->name, e->series[r->res][i]) < 0)
                return -2;
        return 0;
    }
    if (load_livedims(e, errstr, errstr_size) < 0)
        return -1;
    for (size_t i = 0; i < e->livedims->elements; i++) {
        const redisReply *m = e->livedims->element[i];
        if (m->type == REDIS_REPLY_STRING && sp_rule_matches(r, m->str) &&
            add_target(e, r, r->name, m->str) < 0)
            return -2;
    }
    return 0;
}

static const sp_rule *find_rule(const sp_alert_eval *e, const char *name, size_t len)
{
    for (size_t i = 0; i < e->rules->n; i++)
        if (strlen(e->rules->rules[i].name) == len &&
            memcmp(e->rules->rules[i].name, name, len) == 0)
            return &e->rules->rules[i];
    return NULL;
}

/* Alerts with a stored state are evaluated even when their dims is no longer listed
 * (they resolve for lack of data); those of removed rules are resolved. */
static int add_stored(sp_alert_eval *e)
{
    for (size_t i = 0; i + 1 < e->states->elements; i += 2) {
        const redisReply *k = e->states->element[i];
        const char *colon = k->type == REDIS_REPLY_STRING ? strchr(k->str, ':') : NULL;
        if (!colon)
            continue;
        char name[SP_RULE_NAME_MAX + 1];
        size_t len = (size_t)(colon - k->str);
        if (len > SP_RULE_NAME_MAX)
            continue;
        memcpy(name, k->str, len);
        name[len] = '\0';
        if (add_target(e, find_rule(e, name, len), name, colon + 1) < 0)
            return -1;
    }
    return 0;
}

static int gather(sp_alert_eval *e, char *errstr, size_t errstr_size)
{
    if (!(e->target_index = sp_strmap_new(256)))
        return snprintf(errstr, errstr_size, "alerts: out of memory"), -1;
    for (size_t i = 0; i < e->rules->n; i++) {
        int rc = select_dims(e, &e->rules->rules[i], errstr, errstr_size);
        if (rc == -2)
            snprintf(errstr, errstr_size, "alerts: out of memory");
        if (rc < 0)
            return -1;
    }
    if (add_stored(e) < 0)
        return snprintf(errstr, errstr_size, "alerts: out of memory"), -1;
    for (size_t i = 0; i < e->nt; i++)
        e->t[i].dims = e->t[i].field + e->t[i].name_len + 1;
    return 0;
}

/* ---- values --------------------------------------------------------------------- */

/* The key a target's values come from. */
static void source_key(const sp_alert_eval *e, const target *t, char *out, size_t size)
{
    if (t->rule->res < 0) {
        snprintf(out, size, "%s:live:%s", e->conf.prefix, t->dims);
        return;
    }
    int64_t now_s = e->clock / 1000, r = t->rule->res;
    int64_t cur = sp_zones_window_start(e->conf.zones, t->dims, now_s, (int)r);
    int64_t start = sp_zones_window_start(e->conf.zones, t->dims, cur - 1, (int)r); /* the last
                                                                              complete window */
    snprintf(out, size, "%s:r:%s:%s:%" PRId64, e->conf.prefix, sp_rule_res_name(t->rule->res),
             t->dims, start);
}

static long ask_values(sp_alert_eval *e, const target *t)
{
    char key[KEY_MAX + 64];
    const sp_rule *r = t->rule;
    source_key(e, t, key, sizeof key);
    const char *argv[7] = {"HMGET", key, r->metric, r->metric2[0] ? r->metric2 : r->metric,
                           r->volume[0] ? r->volume : r->metric, "as_of"};
    return sp_redis_batch_add(e->batch, key, strlen(key), 6, argv, NULL);
}

static int field(const redisReply *r, size_t i, double *out)
{
    if (i >= r->elements || r->element[i]->type != REDIS_REPLY_STRING)
        return 0;
    char *end;
    *out = strtod(r->element[i]->str, &end);
    return end != r->element[i]->str && isfinite(*out);
}

/* How long a live field stays meaningful without a refresh of its hash: the window it
 * is taken over (its dimension set had no event since); 0 for gauges. "_today" is
 * handled by the day test. */
static int64_t window_ms(const char *name)
{
    size_t n = strlen(name);
    if (n > 4 && strcmp(name + n - 4, "_15m") == 0)
        return 15 * 60 * 1000;
    if (n > 3 && strcmp(name + n - 3, "_1h") == 0)
        return 60 * 60 * 1000;
    return 0;
}

static int stale(const sp_alert_eval *e, const char *dims, const char *name, double as_of)
{
    int64_t w = window_ms(name), a = (int64_t)as_of;
    size_t n = strlen(name);
    if (n > 6 && strcmp(name + n - 6, "_today") == 0) /* the dims' local day */
        return sp_zones_window_start(e->conf.zones, dims, a / 1000, SP_NRES - 1) !=
               sp_zones_window_start(e->conf.zones, dims, e->clock / 1000, SP_NRES - 1);
    return w && a < e->clock - w;
}

static void to_sample(const sp_alert_eval *e, target *t, const redisReply *r)
{
    const sp_rule *rule = t->rule;
    double a, b = 0, as_of, vol;
    sp_alert_sample *s = &t->sample;
    memset(s, 0, sizeof *s);
    if (r->type != REDIS_REPLY_ARRAY || !field(r, 0, &a) || (rule->arith && !field(r, 1, &b)))
        return;
    if (rule->res < 0 && field(r, 3, &as_of) &&
        (stale(e, t->dims, rule->metric, as_of) ||
         (rule->arith && stale(e, t->dims, rule->metric2, as_of))))
        return;
    double v = rule->arith == '+' ? a + b : rule->arith == '-' ? a - b
             : rule->arith == '*' ? a * b : rule->arith == '/' ? (b != 0 ? a / b : NAN) : a;
    if (!isfinite(v))
        return;
    s->has_value = 1;
    s->value = v;
    if (rule->volume[0] && field(r, 2, &vol)) {
        s->has_volume = 1;
        s->volume = vol;
    }
}

static int read_values(sp_alert_eval *e, char *errstr, size_t errstr_size)
{
    char why[512];
    sp_redis_batch_reset(e->batch);
    for (size_t i = 0; i < e->nt; i++)
        if (e->t[i].rule && ask_values(e, &e->t[i]) < 0)
            return snprintf(errstr, errstr_size, "alerts: out of memory"), -1;
    if (!sp_redis_batch_size(e->batch))
        return 0;
    if (sp_redis_batch_run(e->rc, e->batch, why, sizeof why) < 0)
        return fail_redis(e, "HMGET", NULL, why, errstr, errstr_size);
    long k = 0;
    for (size_t i = 0; i < e->nt; i++)
        if (e->t[i].rule)
            to_sample(e, &e->t[i], sp_redis_batch_reply(e->batch, k++));
    return 0;
}

/* ---- transitions ---------------------------------------------------------------- */

static void set_dims(json_t *o, const char *dims)
{
    static const char *const names[4] = {"tenant", "queue", "channel", "agent"};
    char v[4][SP_DIMS_MAX];
    if (sp_dims_parse(dims, v[0], v[1], v[2], v[3], SP_DIMS_MAX) < 0)
        return;
    for (int d = 0; d < 4; d++)
        if (v[d][0])
            json_object_set_new(o, names[d], json_string(v[d]));
}

/* JSON numbers are written with 15 significant digits: a value rounded to its field's
 * decimals reads as it does everywhere else (0.734, not 0.73399999999999999). */
#define JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

/* v as the rule's messages show it (sp_rule_format_value), back as a number. */
static double shown(const sp_rule *r, double v)
{
    char t[64];
    if (!r)
        return v;
    sp_rule_format_value(r, v, t, sizeof t);
    return strtod(t, NULL);
}

/* The JSON of a transition: webhook body, PUBLISH payload and (firing) active entry. */
static json_t *notice_json(const sp_alert_eval *e, const target *t, const char *state,
                           const char *reason, const sp_alert_state *before, double value,
                           const char *message)
{
    const sp_rule *r = t->rule;
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "rule", json_stringn(t->field, t->name_len));
    json_object_set_new(o, "dims", json_string(t->dims));
    set_dims(o, t->dims);
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "reason", json_string(reason));
    json_object_set_new(o, "value", json_real(shown(r, value)));
    if (r) {
        char metric[2 * SP_FIELD_MAX + 8];
        sp_rule_metric_text(r, metric, sizeof metric);
        json_object_set_new(o, "metric", json_string(metric));
        json_object_set_new(o, "window", json_string(sp_rule_res_name(r->res)));
        json_object_set_new(o, "op", json_string(sp_rule_op_name(r->op)));
        json_object_set_new(o, "threshold", json_real(r->threshold));
        json_object_set_new(o, "resolve", json_real(r->resolve));
        json_object_set_new(o, "severity", json_string(sp_severity_name(r->severity)));
        if (t->sample.has_volume)
            json_object_set_new(o, "volume", json_real(round(t->sample.volume)));
        if (r->description)
            json_object_set_new(o, "description", json_string(r->description));
    }
    json_object_set_new(o, "message", json_string(message));
    json_object_set_new(o, "active_since", json_integer(before->active_since));
    json_object_set_new(o, "fired_at", json_integer(before->fired_at));
    json_object_set_new(o, "at", json_integer(e->clock));
    json_object_set_new(o, "recorded_at", json_integer(sp_wall_ms()));
    json_object_set_new(o, "prefix", json_string(e->conf.prefix));
    return o;
}

typedef struct {
    char field[KEY_MAX];
    const char *old, *new_state, *transition, *json;
    char stream[6][2][96 + KEY_MAX];
    int nstream;
} cas_args;

/* 1 written, 0 another instance was first, -1 with errstr. */
static int cas(sp_alert_eval *e, const cas_args *a, char *errstr, size_t errstr_size)
{
    char why[512], len[32], n[8];
    snprintf(len, sizeof len, "%" PRId64, e->conf.stream_max);
    snprintf(n, sizeof n, "%d", a->nstream);
    const char *argv[3 + 8 + 2 * 6] = {e->key_state, e->key_firing, e->key_stream, a->field,
                                       a->old, a->new_state, a->transition, len,
                                       e->key_stream, a->json ? a->json : "", n};
    int argc = 11;
    for (int i = 0; i < a->nstream; i++) {
        argv[argc++] = a->stream[i][0];
        argv[argc++] = a->stream[i][1];
    }
    sp_redis_batch_reset(e->batch);
    if (sp_redis_batch_eval(e->batch, e->cas_script, 3, argc - 3, argv, NULL) < 0)
        return snprintf(errstr, errstr_size, "alerts: out of memory"), -1;
    if (sp_redis_batch_run(e->rc, e->batch, why, sizeof why) < 0)
        return fail_redis(e, "alert state", NULL, why, errstr, errstr_size);
    const redisReply *r = sp_redis_batch_reply(e->batch, 0);
    if (r->type != REDIS_REPLY_INTEGER)
        return fail_redis(e, "alert state", r, why, errstr, errstr_size);
    return r->integer == 1;
}

/* The active entry of a firing alert: its JSON at firing, plus what this evaluation saw
 * (value_now, evaluated_at; no value_now when the value is missing now), so a board
 * shows the wait as it is, not as it was. The caller frees the result. */
static char *active_entry(const sp_alert_eval *e, const char *field, size_t len,
                          const char *fired)
{
    const target *t = NULL;
    for (size_t i = 0; i < e->nt && !t; i++)
        if (strlen(e->t[i].field) == len && memcmp(e->t[i].field, field, len) == 0)
            t = &e->t[i];
    json_t *o = json_loads(fired, 0, NULL);
    if (!o)
        return strdup(fired);
    json_object_set_new(o, "evaluated_at", json_integer(e->clock));
    if (t && t->sample.has_value)
        json_object_set_new(o, "value_now", json_real(shown(t->rule, t->sample.value)));
    else
        json_object_del(o, "value_now");
    char *text = json_dumps(o, JSON_FLAGS);
    json_decref(o);
    return text;
}

/* Makes the active hash hold exactly the firing alerts' JSON with what this evaluation
 * saw (both read, the difference written). Idempotent: whichever instance runs it last
 * leaves the recorded truth with its latest values. */
static int sync_active(sp_alert_eval *e, char *errstr, size_t errstr_size)
{
    char why[512];
    sp_redis_batch_reset(e->batch);
    if (sp_redis_batch_addf(e->batch, "HGETALL %s", e->key_firing) < 0 ||
        sp_redis_batch_addf(e->batch, "HGETALL %s", e->key_active) < 0)
        return snprintf(errstr, errstr_size, "alerts: out of memory"), -1;
    if (sp_redis_batch_run(e->rc, e->batch, why, sizeof why) < 0)
        return fail_redis(e, "HGETALL alerts", NULL, why, errstr, errstr_size);
    const redisReply *want = sp_redis_batch_reply(e->batch, 0),
                     *have = sp_redis_batch_reply(e->batch, 1);
    if (want->type != REDIS_REPLY_ARRAY || have->type != REDIS_REPLY_ARRAY)
        return fail_redis(e, "HGETALL alerts", want->type != REDIS_REPLY_ARRAY ? want : have,
                          why, errstr, errstr_size);
    sp_strmap *had = sp_strmap_new(16 + have->elements);
    sp_redis_batch *out = sp_redis_batch_new();
    int rc = had && out ? 0 : -1;
    for (size_t i = 0; rc == 0 && i + 1 < have->elements; i += 2)
        rc = sp_strmap_put(had, have->element[i]->str, have->element[i]->len, (uint32_t)i + 1);
    for (size_t i = 0; rc == 0 && i + 1 < want->elements; i += 2) {
        const redisReply *k = want->element[i];
        char *v = active_entry(e, k->str, k->len, want->element[i + 1]->str);
        uint32_t at = 0;
        int same = v && sp_strmap_get(had, k->str, k->len, &at) &&
                   strcmp(have->element[at]->str, v) == 0;
        sp_strmap_del(had, k->str, k->len); /* wanted: not to be deleted */
        if (!v || (!same && sp_redis_batch_addf(out, "HSET %s %b %b", e->key_active, k->str,
                                                k->len, v, strlen(v)) < 0))
            rc = -1;
        free(v);
    }
    for (size_t i = 0; rc == 0 && i + 1 < have->elements; i += 2)
        if (sp_strmap_get(had, have->element[i]->str, have->element[i]->len, &(uint32_t){0}) &&
            sp_redis_batch_addf(out, "HDEL %s %b", e->key_active, have->element[i]->str,
                                have->element[i]->len) < 0)
            rc = -1;
    sp_strmap_destroy(had);
    if (rc < 0)
        snprintf(errstr, errstr_size, "alerts: out of memory");
    else if (sp_redis_batch_size(out) && sp_redis_batch_run(e->rc, out, why, sizeof why) < 0)
        rc = fail_redis(e, "HSET alerts:active", NULL, why, errstr, errstr_size);
    sp_redis_batch_destroy(out);
    return rc;
}

static void stream_field(cas_args *a, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void stream_field(cas_args *a, const char *name, const char *fmt, ...)
{
    snprintf(a->stream[a->nstream][0], sizeof a->stream[0][0], "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->stream[a->nstream][1], sizeof a->stream[0][1], fmt, ap);
    va_end(ap);
    a->nstream++;
}

/* Records the step of one target; notifies a transition this instance wrote. */
static int record(sp_alert_eval *e, target *t, const sp_alert_state *before,
                  const sp_alert_state *after, sp_transition tr, sp_alert_notify_fn fn,
                  void *arg, char *errstr, size_t errstr_size)
{
    cas_args a = {.old = t->stored, .nstream = 0};
    char next[STATE_MAX], message[1024];
    if (sp_alert_state_format(after, next, sizeof next) < 0)
        return 0;
    if (!tr && strcmp(next, t->stored) == 0)
        return 0;
    snprintf(a.field, sizeof a.field, "%s", t->field);
    a.new_state = next;
    a.transition = tr == SP_TRANSITION_FIRING ? "firing" : tr == SP_TRANSITION_RESOLVED ? "resolved" : "";
    double value = t->sample.has_value ? t->sample.value : before->value;
    const char *reason = tr == SP_TRANSITION_FIRING ? "breached"
                       : !t->rule ? "rule removed" : !t->sample.has_value ? "no data" : "recovered";
    message[0] = '\0';
    if (t->rule) {
        sp_rule_vars v = {t->dims, a.transition, value, t->sample.volume, t->sample.has_volume};
        sp_rule_render(t->rule, &v, message, sizeof message);
    }
    json_t *o = NULL;
    char *json = NULL;
    if (tr) {
        o = notice_json(e, t, a.transition, reason, tr == SP_TRANSITION_FIRING ? after : before,
                        value, message);
        if (!o || !(json = json_dumps(o, JSON_FLAGS))) {
            json_decref(o);
            return snprintf(errstr, errstr_size, "alerts: out of memory"), -1;
        }
        a.json = json;
        stream_field(&a, "rule", "%.*s", (int)t->name_len, t->field);
        stream_field(&a, "dims", "%s", t->dims);
        stream_field(&a, "state", "%s", a.transition);
        char vt[64], tt[SP_NUMFMT_MAX];
        if (t->rule)
            sp_rule_format_value(t->rule, value, vt, sizeof vt);
        else
            sp_fmt_auto(value, vt);
        stream_field(&a, "value", "%s", vt);
        if (t->rule)
            stream_field(&a, "threshold", "%s", (sp_fmt_plain(t->rule->threshold, tt), tt));
        else
            stream_field(&a, "threshold", "%s", "");
        stream_field(&a, "at", "%" PRId64, e->clock);
    }
    int won = cas(e, &a, errstr, errstr_size);
    if (won == 1 && tr && fn) {
        sp_alert_notice n = {t->rule, json_string_value(json_object_get(o, "rule")), t->dims,
                             a.transition, reason, message, json, value, e->clock};
        fn(arg, &n);
    }
    json_decref(o);
    free(json);
    return won < 0 ? -1 : won == 1 && tr;
}

static int step_all(sp_alert_eval *e, sp_alert_notify_fn fn, void *arg, char *errstr,
                    size_t errstr_size)
{
    int notified = 0;
    for (size_t i = 0; i < e->nt; i++) {
        target *t = &e->t[i];
        sp_alert_state before, after;
        if (sp_alert_state_parse(t->stored, &before) < 0)
            memset(&before, 0, sizeof before); /* unreadable: start over */
        after = before;
        sp_transition tr;
        if (t->rule)
            tr = sp_alert_step(t->rule, &after, &t->sample, e->clock);
        else if (before.phase == SP_ALERT_FIRING)
            tr = SP_TRANSITION_RESOLVED, memset(&after, 0, sizeof after);
        else
            tr = SP_TRANSITION_NONE, memset(&after, 0, sizeof after);
        int rc = record(e, t, &before, &after, tr, fn, arg, errstr, errstr_size);
        if (rc < 0)
            return -1;
        notified += rc;
    }
    return notified;
}

int sp_alert_eval_tick(sp_alert_eval *e, sp_alert_notify_fn fn, void *arg, char *errstr,
                       size_t errstr_size)
{
    if (connect_redis(e, errstr, errstr_size) < 0)
        return -1;
    char why[256];
    int64_t clock;
    if (sp_redis_event_now(e->rc, e->conf.prefix, &clock, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "alerts: redis %s: %s", e->conf.address, why);
        drop_connection(e);
        return -1;
    }
    if (clock < 0)
        return 0;
    e->clock = clock;
    int rc = load_states(e, errstr, errstr_size) < 0 || gather(e, errstr, errstr_size) < 0 ||
                     read_values(e, errstr, errstr_size) < 0
                 ? -1
                 : step_all(e, fn, arg, errstr, errstr_size);
    if (rc >= 0 && sync_active(e, errstr, errstr_size) < 0)
        rc = -1;
    drop_tick(e);
    return rc;
}
