/*
 * forecaster.c - see forecaster.h.
 *
 * Per series in memory: its model (sp_hw), the first interval it has data for, the
 * handle-time sums of the last days, and the surge run. Each tick: find the last
 * complete interval, list the series, and for each one load a newer stored state if
 * another instance wrote one, build the model from history when there is none, fold
 * the new intervals, and write (conditional on the stored state being older).
 */
#include "supportpulse/forecaster.h"
#include "supportpulse/clock.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supportpulse/dims.h"
#include "supportpulse/erlang.h"
#include "supportpulse/metrics.h"
#include "supportpulse/partition.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_conn.h"
#include "supportpulse/redis_keys.h"

#define WEEK_HANDLE SP_FC_WEEK /* handle-time window: the last 7 days (+ today) */
#define BATCH 512              /* rollup reads per pipeline round trip */
#define RES_15M 2              /* sp_res_names[2] == "15m" */

typedef struct {
    char dims[SP_DIMS_MAX], tenant[65], queue[65], channel[65];
    int realtime, loaded, seen;
    sp_hw hw;
    int64_t first;              /* first interval index with a rollup */
    double hsum, hcnt;          /* handle ms and calls, recent days */
    int64_t surge_run, surge_since;
    double last_actual, last_forecast;
    int64_t live_next;          /* the model's next interval when its live fields were written */
} series;

struct sp_forecaster {
    sp_forecaster_conf conf;
    sp_redis *r;                /* NULL until the first tick */
    int write_script;           /* its id in r */
    sp_redis_batch *batch;
    series *s;
    size_t n, cap;
    sp_forecaster_stats stats;
    int64_t done_upto;          /* last complete interval every series was brought to */
};

/* KEYS[1] the model state {p}:fcstate:{<fc key>}, KEYS[2] the forecast (one slot).
 * ARGV: next interval, state, ttl, forecast JSON. 1 written, 0 a newer state is stored. */
static const char write_script[] =
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'next') or '-1')\n"
    "if cur >= tonumber(ARGV[1]) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'next', ARGV[1], 'state', ARGV[2])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[3])\n"
    "return 1\n";

void sp_forecaster_conf_defaults(sp_forecaster_conf *c)
{
    memset(c, 0, sizeof *c);
    c->address = "127.0.0.1:6379";
    c->prefix = "sp";
    c->connect_timeout_ms = c->command_timeout_ms = 5000;
    c->lateness_ms = 120000;
    c->history_days = 28;
    c->sl_threshold_s = 20;
    c->sl_target_pct = 80;
    c->default_handle_s = 300;
    c->surge_intervals = 2;
    c->surge_min_volume = 10;
    c->max_agents = 100000;
}

sp_forecaster *sp_forecaster_new(const sp_forecaster_conf *conf, char *errstr,
                                 size_t errstr_size)
{
    sp_forecaster *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(errstr, errstr_size, "forecaster: out of memory");
        return NULL;
    }
    f->conf = *conf;
    return f;
}

void sp_forecaster_destroy(sp_forecaster *f)
{
    if (!f)
        return;
    sp_redis_batch_destroy(f->batch);
    sp_redis_destroy(f->r);
    free(f->s);
    free(f);
}

const sp_forecaster_stats *sp_forecaster_get_stats(const sp_forecaster *f) { return &f->stats; }

/* ---- Redis ---------------------------------------------------------------------- */

static void drop_connection(sp_forecaster *f)
{
    if (f->r)
        sp_redis_close(f->r);
    for (size_t i = 0; i < f->n; i++)
        f->s[i].loaded = 0; /* re-read stored states after any failure */
}

static int connect_redis(sp_forecaster *f, char *errstr, size_t errstr_size)
{
    char why[512];
    if (!f->r) {
        f->r = sp_redis_new(f->conf.address, f->conf.connect_timeout_ms,
                            f->conf.command_timeout_ms);
        f->batch = sp_redis_batch_new();
        if (!f->r || !f->batch || sp_redis_set_auth(f->r, f->conf.user, f->conf.password) < 0 ||
            (f->write_script = sp_redis_script(f->r, write_script)) < 0) {
            snprintf(errstr, errstr_size, "forecaster: out of memory");
            return -1;
        }
        if (sp_redis_set_tls(f->r, &f->conf.tls, why, sizeof why) < 0) {
            snprintf(errstr, errstr_size, "forecaster: %s", why);
            drop_connection(f);
            return -1;
        }
    }
    if (sp_redis_connect(f->r, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "forecaster: %s", why);
        drop_connection(f);
        return -1;
    }
    return 0;
}

/* A reply (not an error reply), or NULL with errstr; a failed command drops the
 * connection. Caller frees. */
static redisReply *checked(sp_forecaster *f, redisReply *r, const char *why, char *errstr,
                           size_t errstr_size)
{
    if (!r) {
        snprintf(errstr, errstr_size, "forecaster: %s", why);
        drop_connection(f);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "forecaster: redis %s: %s", f->conf.address, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* Runs the batch; 0 when every command has a reply (each may be an error reply). */
static int run_batch(sp_forecaster *f, char *errstr, size_t errstr_size)
{
    char why[512];
    if (sp_redis_batch_run(f->r, f->batch, why, sizeof why) == 0)
        return 0;
    snprintf(errstr, errstr_size, "forecaster: %s", why);
    drop_connection(f);
    return -1;
}

/* Newest event time of any partition (redis_conn.h), -1 before any, -2 on error. */
static int64_t event_now_ms(sp_forecaster *f, char *errstr, size_t errstr_size)
{
    int64_t now;
    char why[512];
    if (sp_redis_event_now(f->r, f->conf.prefix, &now, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "forecaster: %s", why);
        drop_connection(f);
        return -2;
    }
    return now;
}

/* ---- series list ---------------------------------------------------------------- */

static int is_realtime(const char *channel)
{
    return strcmp(channel, "phone") == 0 || strcmp(channel, "chat") == 0 ||
           strcmp(channel, "video") == 0;
}

static series *find_series(sp_forecaster *f, const char *dims)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->s[i].dims, dims) == 0)
            return &f->s[i];
    return NULL;
}

static int add_series(sp_forecaster *f, const char *dims)
{
    char agent[65];
    series tmp;
    memset(&tmp, 0, sizeof tmp);
    if (strlen(dims) >= sizeof tmp.dims ||
        sp_dims_parse(dims, tmp.tenant, tmp.queue, tmp.channel, agent, sizeof tmp.queue) < 0 ||
        !tmp.queue[0] || !tmp.channel[0] || agent[0])
        return 0; /* not a (queue, channel) series */
    series *s = find_series(f, dims);
    if (s) {
        s->seen = 1;
        return 0;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        series *grown = realloc(f->s, cap * sizeof *grown);
        if (!grown)
            return -1;
        f->s = grown;
        f->cap = cap;
    }
    strcpy(tmp.dims, dims);
    tmp.live_next = -1;
    tmp.realtime = is_realtime(tmp.channel);
    tmp.seen = 1;
    f->s[f->n++] = tmp;
    return 0;
}

/* Adds the series of one SCAN page; 0, or -1 with errstr. */
static int add_page(sp_forecaster *f, const redisReply *r, int plen, char *cursor,
                    size_t cursor_size, char *errstr, size_t errstr_size)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "forecaster: unexpected SCAN reply");
        return -1;
    }
    snprintf(cursor, cursor_size, "%s", r->element[0]->str);
    for (size_t i = 0; i < r->element[1]->elements; i++)
        if (add_series(f, r->element[1]->element[i]->str + plen) < 0) {
            snprintf(errstr, errstr_size, "forecaster: out of memory");
            return -1;
        }
    return 0;
}

/* Lists {p}:ts:15m:{dims} on every master; series no longer there are forgotten. */
static int discover(sp_forecaster *f, char *errstr, size_t errstr_size)
{
    char pattern[256], why[512];
    int plen = sp_key_series(pattern, sizeof pattern - 1, f->conf.prefix, RES_15M, "");
    if (plen < 0) {
        snprintf(errstr, errstr_size, "forecaster: prefix too long");
        return -1;
    }
    strcat(pattern, "*");
    for (size_t i = 0; i < f->n; i++)
        f->s[i].seen = 0;
    for (int node = 0; node < sp_redis_nodes(f->r); node++) {
        char cursor[32] = "0";
        do {
            redisReply *r = checked(f, sp_redis_node_cmd(f->r, node, why, sizeof why,
                                                         "SCAN %s MATCH %s COUNT 1000", cursor,
                                                         pattern),
                                    why, errstr, errstr_size);
            if (!r)
                return -1;
            int rc = add_page(f, r, plen, cursor, sizeof cursor, errstr, errstr_size);
            freeReplyObject(r);
            if (rc < 0)
                return -1;
        } while (strcmp(cursor, "0") != 0);
    }
    size_t kept = 0;
    for (size_t i = 0; i < f->n; i++)
        if (f->s[i].seen)
            f->s[kept++] = f->s[i];
    f->n = kept;
    return 0;
}

/* ---- reading rollups ------------------------------------------------------------- */

typedef struct {
    double arrivals, handle_ms, handled;
} interval_in;

static double field_num(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? strtod(r->str, NULL) : 0.0;
}

/* Arrivals and handle sums of n intervals from index `from`; a missing rollup is an
 * interval without events. */
static int read_intervals(sp_forecaster *f, const series *s, int64_t from, size_t n,
                          interval_in *out, char *errstr, size_t errstr_size)
{
    for (size_t done = 0; done < n;) {
        size_t k = n - done < BATCH ? n - done : BATCH;
        sp_redis_batch_reset(f->batch);
        for (size_t i = 0; i < k; i++) {
            char key[SP_KEY_MAX];
            int64_t start = (from + (int64_t)(done + i)) * SP_FC_INTERVAL_S;
            if (sp_key_rollup(key, sizeof key, f->conf.prefix, RES_15M, s->dims, start) < 0 ||
                sp_redis_batch_addf(f->batch, "HMGET %s offered created handle_ms_sum "
                                    "handle_ms_count", key) < 0) {
                snprintf(errstr, errstr_size, "forecaster: out of memory");
                return -1;
            }
        }
        if (run_batch(f, errstr, errstr_size) < 0)
            return -1;
        for (size_t i = 0; i < k; i++) {
            const redisReply *r = sp_redis_batch_reply(f->batch, (long)i);
            if (r->type == REDIS_REPLY_ERROR) {
                snprintf(errstr, errstr_size, "forecaster: redis %s: %s", f->conf.address,
                         r->str);
                return -1;
            }
            out[done + i] = r->type == REDIS_REPLY_ARRAY && r->elements == 4
                ? (interval_in){field_num(r->element[0]) + field_num(r->element[1]),
                                field_num(r->element[2]), field_num(r->element[3])}
                : (interval_in){0, 0, 0};
        }
        done += k;
    }
    return 0;
}

/* The first interval the series has a 15m rollup for, or -1 when none. */
static int64_t first_interval(sp_forecaster *f, const series *s, char *errstr, size_t errstr_size)
{
    char key[SP_KEY_MAX], why[512];
    if (sp_key_series(key, sizeof key, f->conf.prefix, RES_15M, s->dims) < 0)
        return snprintf(errstr, errstr_size, "forecaster: key too long"), -2;
    redisReply *r = checked(f, sp_redis_cmd(f->r, why, sizeof why, "ZRANGE %s 0 0", key), why,
                            errstr, errstr_size);
    if (!r)
        return -2;
    int64_t first = r->type == REDIS_REPLY_ARRAY && r->elements == 1
                        ? strtoll(r->element[0]->str, NULL, 10) / SP_FC_INTERVAL_S : -1;
    freeReplyObject(r);
    return first;
}

static double multiplier(const sp_forecaster_conf *c, const series *s, int64_t t,
                         const char **name)
{
    return sp_fc_events_multiplier(c->events, t * SP_FC_INTERVAL_S, s->queue, s->channel, name);
}

/* ---- the model ------------------------------------------------------------------- */

/* Builds the model from the history before interval `end` (exclusive). */
static int refit(sp_forecaster *f, series *s, int64_t end, char *errstr, size_t errstr_size)
{
    int64_t from = end - f->conf.history_days * SP_FC_DAY;
    if (from < s->first)
        from = s->first;
    size_t n = end > from ? (size_t)(end - from) : 0;
    interval_in *in = malloc((n + 1) * sizeof *in);
    double *x = malloc((n + 1) * sizeof *x);
    int rc = -1;
    if (!in || !x)
        snprintf(errstr, errstr_size, "forecaster: out of memory");
    else if (read_intervals(f, s, from, n, in, errstr, errstr_size) == 0) {
        s->hsum = s->hcnt = 0;
        for (size_t i = 0; i < n; i++) {
            x[i] = in[i].arrivals / multiplier(&f->conf, s, from + (int64_t)i, NULL);
            if (i + WEEK_HANDLE >= n) {
                s->hsum += in[i].handle_ms;
                s->hcnt += in[i].handled;
            }
        }
        rc = sp_hw_fit(&s->hw, x, n, from);
        if (rc < 0)
            snprintf(errstr, errstr_size, "forecaster: out of memory");
        f->stats.refits += rc == 0;
    }
    free(in);
    free(x);
    return rc;
}

/* Surge: this interval's arrivals above the 95% bound forecast for it, with volume. */
static void check_surge(const sp_forecaster_conf *c, series *s, double actual)
{
    double mult = multiplier(c, s, s->hw.next, NULL);
    sp_fc_point p = sp_hw_point(&s->hw, 1);
    s->last_actual = actual;
    s->last_forecast = p.volume * mult;
    if (s->hw.kind != SP_FC_MEAN && actual > p.hi95 * mult &&
        actual >= (double)c->surge_min_volume) { /* not judged before a daily shape exists */
        if (s->surge_run++ == 0)
            s->surge_since = s->hw.next * SP_FC_INTERVAL_S;
    } else {
        s->surge_run = 0;
        s->surge_since = 0;
    }
}

/* Folds intervals s->hw.next .. upto (inclusive), refitting at each UTC midnight and
 * when the history first reaches one day, two days and two weeks. */
static int fold(sp_forecaster *f, series *s, int64_t upto, char *errstr, size_t errstr_size)
{
    interval_in in[BATCH];
    while (s->hw.next <= upto) {
        int64_t left = upto - s->hw.next + 1;
        size_t k = left < BATCH ? (size_t)left : BATCH;
        if (read_intervals(f, s, s->hw.next, k, in, errstr, errstr_size) < 0)
            return -1;
        for (size_t i = 0; i < k; i++) {
            check_surge(&f->conf, s, in[i].arrivals);
            sp_hw_update(&s->hw, in[i].arrivals / multiplier(&f->conf, s, s->hw.next, NULL));
            s->hsum += in[i].handle_ms;
            s->hcnt += in[i].handled;
            f->stats.folded++;
            int64_t have = s->hw.next - s->first;
            if (s->hw.next % SP_FC_DAY == 0 || have == SP_FC_DAY || have == 2 * SP_FC_DAY ||
                have == 2 * SP_FC_WEEK) { /* each midnight, and as soon as a richer model fits */
                if (refit(f, s, s->hw.next, errstr, errstr_size) < 0)
                    return -1;
                break; /* the batch's later intervals are read again after the refit */
            }
        }
    }
    return 0;
}

static double handle_s(const sp_forecaster_conf *c, const series *s)
{
    if (!s->realtime)
        return (double)sp_queue_seconds_lookup(c->handle_s_by_channel, s->channel,
                                               c->default_handle_s);
    return s->hcnt > 0 ? s->hsum / s->hcnt / 1000.0 : (double)c->default_handle_s;
}

/* ---- output ---------------------------------------------------------------------- */

static double r3(double v) { return round(v * 1000.0) / 1000.0; }

typedef struct {
    int agents;         /* -1: more than max_agents */
    double occupancy, service_level, asa_s, workload_h;
} staffing;

static double target_of(const sp_forecaster_conf *c, const char *queue)
{
    return (double)sp_queue_seconds_lookup(c->sl_target_by_queue, queue, c->sl_target_pct) / 100.0;
}

static staffing staff(const sp_forecaster_conf *c, int realtime, const char *queue,
                      double volume, double handle)
{
    staffing st = {0, 0, 1, 0, volume * handle / 3600.0};
    double load = volume * handle / SP_FC_INTERVAL_S;
    if (!realtime) {
        st.agents = (int)ceil(load - 1e-9);
        st.occupancy = st.agents > 0 ? load / st.agents : 0;
        return st;
    }
    char why[200];
    sp_erlang_point p;
    int64_t within = sp_queue_seconds_lookup(c->sl_by_queue, queue, c->sl_threshold_s);
    st.agents = sp_erlang_required(volume, handle, SP_FC_INTERVAL_S, target_of(c, queue),
                                   (double)within, (int)c->max_agents, &p, why, sizeof why);
    st.occupancy = p.occupancy;
    st.service_level = p.service_level;
    st.asa_s = p.asa_s;
    return st;
}

static json_t *interval_json(const sp_forecaster_conf *c, const sp_hw *m, int h,
                             int realtime, const char *queue, const char *channel, double handle,
                             double *volume_out, int *agents_out)
{
    int64_t t = m->next - 1 + h;
    const char *event = NULL;
    double mult = sp_fc_events_multiplier(c->events, t * SP_FC_INTERVAL_S, queue, channel, &event);
    sp_fc_point p = sp_hw_point(m, h);
    double vol = p.volume * mult;
    staffing st = staff(c, realtime, queue, vol, handle);
    json_t *o = json_pack("{sI sf sf sf sf sf sf}", "start", (json_int_t)(t * SP_FC_INTERVAL_S),
                          "volume", r3(vol), "lo80", r3(p.lo80 * mult), "hi80", r3(p.hi80 * mult),
                          "lo95", r3(p.lo95 * mult), "hi95", r3(p.hi95 * mult), "handle_s",
                          r3(handle));
    if (!o)
        return NULL;
    json_object_set_new(o, "agents_required", st.agents >= 0 ? json_integer(st.agents) : json_null());
    json_object_set_new(o, "occupancy", json_real(r3(st.occupancy)));
    if (realtime) {
        json_object_set_new(o, "service_level", st.agents >= 0 ? json_real(r3(st.service_level)) : json_null());
        json_object_set_new(o, "asa_s", st.agents >= 0 && isfinite(st.asa_s) ? json_real(r3(st.asa_s)) : json_null());
    } else {
        json_object_set_new(o, "workload_h", json_real(r3(st.workload_h)));
    }
    if (event) {
        json_object_set_new(o, "event", json_string(event));
        json_object_set_new(o, "multiplier", json_real(r3(mult)));
    }
    *volume_out = r3(vol);
    *agents_out = st.agents;
    return o;
}

static json_t *render_json(const sp_forecaster_conf *c, const sp_hw *m, const char *dims,
                           const char *queue, const char *channel, double handle,
                           int64_t generated_at_ms)
{
    int realtime = is_realtime(channel);
    json_t *root = json_pack("{ss ss ss sI sI ss ss sf}", "dims", dims, "queue", queue,
                             "channel", channel, "generated_at", (json_int_t)generated_at_ms,
                             "interval_s", (json_int_t)SP_FC_INTERVAL_S, "model",
                             sp_fc_kind_name(m->kind), "staffing",
                             realtime ? "erlang_c" : "workload", "handle_s", r3(handle));
    json_t *arr = json_array();
    if (!root || !arr) {
        json_decref(root);
        json_decref(arr);
        return NULL;
    }
    json_object_set_new(root, "params", json_pack("{sf sf sf sf}", "alpha", m->par.alpha,
                                                  "delta", m->par.delta, "omega", m->par.omega,
                                                  "phi", m->par.phi));
    if (realtime) {
        json_object_set_new(root, "sl_target", json_real(target_of(c, queue)));
        json_object_set_new(root, "sl_within_s", json_integer(sp_queue_seconds_lookup(
                                                     c->sl_by_queue, queue, c->sl_threshold_s)));
    }
    int best = 0, best_agents = 0;
    double best_vol = -1;
    for (int h = 1; h <= SP_FC_HORIZON; h++) {
        double vol;
        int agents;
        json_t *o = interval_json(c, m, h, realtime, queue, channel, handle, &vol, &agents);
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(root);
            json_decref(arr);
            return NULL;
        }
        if (vol > best_vol) {
            best_vol = vol;
            best = h;
            best_agents = agents;
        }
    }
    json_object_set_new(root, "intervals", arr);
    json_object_set_new(root, "peak", json_pack("{sI sf so}", "start",
                                                (json_int_t)((m->next - 1 + best) * SP_FC_INTERVAL_S),
                                                "volume", best_vol, "agents_required",
                                                best_agents >= 0 ? json_integer(best_agents) : json_null()));
    return root;
}

static char *dump_fc(const json_t *root)
{
    return root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
}

char *sp_forecaster_render(const sp_forecaster_conf *conf, const sp_hw *m, const char *dims,
                           const char *queue, const char *channel, double handle_s,
                           int64_t generated_at_ms)
{
    json_t *root = render_json(conf, m, dims, queue, channel, handle_s, generated_at_ms);
    char *text = dump_fc(root);
    json_decref(root);
    return text;
}

/* ---- stored state ---------------------------------------------------------------- */

static json_t *doubles(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static int read_doubles(json_t *a, double *v, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(a, i);
        if (!json_is_number(e))
            return -1;
        v[i] = json_number_value(e);
    }
    return 0;
}

/* Doubles are written with 17 significant digits, so a state read back is the same. */
static char *encode_state(const series *s)
{
    const sp_hw *m = &s->hw;
    json_t *o = json_pack("{si sI sI sI si sf sf sf sf sf sf sf sf sI sI sf sf}", "v", 1,
                          "next", (json_int_t)m->next, "nobs", (json_int_t)m->nobs, "first",
                          (json_int_t)s->first, "kind", (int)m->kind, "alpha", m->par.alpha,
                          "delta", m->par.delta, "omega", m->par.omega, "phi", m->par.phi,
                          "level", m->level, "err", m->err, "hsum", s->hsum, "hcnt", s->hcnt,
                          "surge_run", (json_int_t)s->surge_run, "surge_since",
                          (json_int_t)s->surge_since, "last_actual", s->last_actual,
                          "last_forecast", s->last_forecast);
    if (!o)
        return NULL;
    json_object_set_new(o, "day", doubles(m->day, SP_FC_DAY));
    json_object_set_new(o, "week", doubles(m->week, SP_FC_WEEK));
    json_object_set_new(o, "q", doubles(&m->q[0][0], SP_FC_BANDS * 4));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return text;
}

static int decode_state(series *s, const char *text)
{
    json_t *o = json_loads(text, 0, NULL);
    series t = *s;
    int v = 0, kind = 0;
    json_int_t next = 0, nobs = 0, first = 0, run = 0, since = 0;
    int rc = !o || json_unpack(o, "{si sI sI sI si sF sF sF sF sF sF sF sF sI sI sF sF}", "v", &v,
                               "next", &next, "nobs", &nobs, "first", &first, "kind", &kind,
                               "alpha", &t.hw.par.alpha, "delta", &t.hw.par.delta, "omega",
                               &t.hw.par.omega, "phi", &t.hw.par.phi, "level", &t.hw.level, "err",
                               &t.hw.err, "hsum", &t.hsum, "hcnt", &t.hcnt, "surge_run", &run,
                               "surge_since", &since, "last_actual", &t.last_actual,
                               "last_forecast", &t.last_forecast) != 0 ||
             v != 1 || kind < SP_FC_MEAN || kind > SP_FC_WEEKLY ||
             read_doubles(json_object_get(o, "day"), t.hw.day, SP_FC_DAY) < 0 ||
             read_doubles(json_object_get(o, "week"), t.hw.week, SP_FC_WEEK) < 0 ||
             read_doubles(json_object_get(o, "q"), &t.hw.q[0][0], SP_FC_BANDS * 4) < 0
                 ? -1 : 0;
    json_decref(o);
    if (rc < 0)
        return -1;
    t.hw.kind = (sp_fc_kind)kind;
    t.hw.next = next;
    t.hw.nobs = nobs;
    t.first = first;
    t.surge_run = run;
    t.surge_since = since;
    *s = t;
    return 0;
}

/* ---- writing --------------------------------------------------------------------- */

/* The live-hash fields for the alerting work: the forecast of the interval now starting,
 * as the rendered forecast has it (its first interval), and the surge. */
static int live_fields(const sp_forecaster_conf *c, const series *s, json_t *fc, char v[7][48])
{
    json_t *first = json_array_get(json_object_get(fc, "intervals"), 0);
    json_t *agents = json_object_get(first, "agents_required");
    double ratio = s->last_forecast > 0 ? s->last_actual / s->last_forecast : 0;
    snprintf(v[0], 48, "%.3f", json_number_value(json_object_get(first, "volume")));
    snprintf(v[1], 48, "%.3f", json_number_value(json_object_get(first, "hi95")));
    snprintf(v[2], 48, "%lld", json_is_integer(agents) ? (long long)json_integer_value(agents) : -1LL);
    snprintf(v[3], 48, "%d", s->surge_run >= c->surge_intervals ? 1 : 0);
    snprintf(v[4], 48, "%.3f", ratio);
    snprintf(v[5], 48, "%" PRId64, s->surge_run >= c->surge_intervals ? s->surge_since : 0);
    snprintf(v[6], 48, "%" PRId64, sp_wall_ms());
    return 7;
}

static const char *const live_names[7] = {"fc_volume", "fc_hi95", "fc_agents_required",
                                          "surge", "surge_ratio", "surge_since",
                                          "fc_updated_at"};

/* The series' keys: its forecast, the model state (in the forecast's slot), its live hash. */
static int series_keys(const sp_forecaster *f, const series *s, char fc[SP_KEY_MAX],
                       char state[SP_KEY_MAX], char live[SP_KEY_MAX])
{
    return sp_key_forecast(fc, SP_KEY_MAX, f->conf.prefix, s->dims) < 0 ||
                   sp_key_forecast_state(state, SP_KEY_MAX, f->conf.prefix, fc) < 0 ||
                   sp_key_live(live, SP_KEY_MAX, f->conf.prefix, s->dims) < 0
               ? -1
               : 0;
}

/* Writes the forecast and surge fields of the series' live hash from the model as it
 * stands (root: its rendered forecast), then announces the forecast. Idempotent. */
static int write_live(sp_forecaster *f, series *s, json_t *root, char *errstr,
                      size_t errstr_size)
{
    char fc[SP_KEY_MAX], state[SP_KEY_MAX], live[SP_KEY_MAX], chan[SP_KEY_MAX], lv[7][48];
    if (series_keys(f, s, fc, state, live) < 0 || sp_key_updates(chan, sizeof chan, f->conf.prefix) < 0)
        return snprintf(errstr, errstr_size, "forecaster: key too long"), -1;
    int nl = live_fields(&f->conf, s, root, lv);
    const char *argv[2 + 2 * 7] = {"HSET", live};
    int argc = 2;
    for (int i = 0; i < nl; i++) {
        argv[argc++] = live_names[i];
        argv[argc++] = lv[i];
    }
    const char *pub[] = {"PUBLISH", chan, fc};
    sp_redis_batch_reset(f->batch);
    if (sp_redis_batch_add(f->batch, live, strlen(live), argc, argv, NULL) < 0 ||
        sp_redis_batch_add(f->batch, NULL, 0, 3, pub, NULL) < 0)
        return snprintf(errstr, errstr_size, "forecaster: out of memory"), -1;
    if (run_batch(f, errstr, errstr_size) < 0)
        return -1;
    for (long i = 0; i < 2; i++) {
        const redisReply *r = sp_redis_batch_reply(f->batch, i);
        if (r->type == REDIS_REPLY_ERROR)
            return snprintf(errstr, errstr_size, "forecaster: redis %s: %s", f->conf.address,
                            r->str), -1;
    }
    s->live_next = s->hw.next;
    return 0;
}

static json_t *render(const sp_forecaster *f, const series *s)
{
    return render_json(&f->conf, &s->hw, s->dims, s->queue, s->channel, handle_s(&f->conf, s),
                       sp_wall_ms());
}

/* The forecast and the model state in one call (their slot), conditional on the stored
 * state being older; then, when written, the live fields. A failure between the two
 * leaves the live fields one interval behind until the next tick writes them (live_next).
 * 1 written, 0 refused (a newer state is stored), -1 with errstr. */
static int write_series(sp_forecaster *f, series *s, char *errstr, size_t errstr_size)
{
    json_t *root = render(f, s);
    char *fc_json = dump_fc(root);
    char *state_text = encode_state(s);
    char fc[SP_KEY_MAX], state[SP_KEY_MAX], live[SP_KEY_MAX], next[32], ttl[32];
    int rc = -1;
    if (!root || !fc_json || !state_text) {
        snprintf(errstr, errstr_size, "forecaster: out of memory");
        goto out;
    }
    if (series_keys(f, s, fc, state, live) < 0) {
        snprintf(errstr, errstr_size, "forecaster: key too long");
        goto out;
    }
    snprintf(next, sizeof next, "%" PRId64, s->hw.next);
    snprintf(ttl, sizeof ttl, "%" PRId64, (f->conf.history_days + 7) * 86400);
    const char *argv[] = {state, fc, next, state_text, ttl, fc_json};
    sp_redis_batch_reset(f->batch);
    if (sp_redis_batch_eval(f->batch, f->write_script, 2, 4, argv, NULL) < 0) {
        snprintf(errstr, errstr_size, "forecaster: out of memory");
        goto out;
    }
    if (run_batch(f, errstr, errstr_size) < 0)
        goto out;
    const redisReply *r = sp_redis_batch_reply(f->batch, 0);
    if (r->type != REDIS_REPLY_INTEGER) {
        snprintf(errstr, errstr_size, "forecaster: redis %s: %s", f->conf.address,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply to the write");
        goto out;
    }
    rc = r->integer == 1;
    f->stats.writes += rc == 1;
    f->stats.stale_writes += rc == 0;
    if (rc == 1 && write_live(f, s, root, errstr, errstr_size) < 0)
        rc = -1;
out:
    json_decref(root);
    free(fc_json);
    free(state_text);
    return rc;
}

/* ---- one series, one tick -------------------------------------------------------- */

/* Loads the stored state when it is newer than ours (or we have none): the small
 * `next` field first, the state only when needed. 1 loaded, 0 not, -1 error. */
static int load_stored(sp_forecaster *f, series *s, char *errstr, size_t errstr_size)
{
    char fc[SP_KEY_MAX], state[SP_KEY_MAX], live[SP_KEY_MAX], why[512];
    if (series_keys(f, s, fc, state, live) < 0)
        return snprintf(errstr, errstr_size, "forecaster: key too long"), -1;
    redisReply *r = checked(f, sp_redis_cmd(f->r, why, sizeof why, "HGET %s next", state), why,
                            errstr, errstr_size);
    if (!r)
        return -1;
    int64_t next = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
    freeReplyObject(r);
    if (next < 0 || (s->loaded && next <= s->hw.next))
        return 0;
    r = checked(f, sp_redis_cmd(f->r, why, sizeof why, "HGET %s state", state), why, errstr,
                errstr_size);
    if (!r)
        return -1;
    int loaded = r->type == REDIS_REPLY_STRING && decode_state(s, r->str) == 0;
    freeReplyObject(r);
    if (!loaded) { /* unreadable (another version?): rebuilt from the rollups instead */
        r = checked(f, sp_redis_cmd(f->r, why, sizeof why, "DEL %s", state), why, errstr,
                    errstr_size);
        if (!r)
            return -1;
        freeReplyObject(r);
    }
    s->live_next = -1; /* whoever wrote the state may not have written the live fields */
    return loaded;
}

static int sync_series(sp_forecaster *f, series *s, int64_t upto, char *errstr,
                       size_t errstr_size)
{
    int l = load_stored(f, s, errstr, errstr_size);
    if (l < 0)
        return -1;
    if (l == 1)
        s->loaded = 1;
    int64_t horizon = f->conf.history_days * SP_FC_DAY;
    if (s->loaded && s->hw.next > upto) { /* up to date; its live fields may not be */
        if (s->live_next == s->hw.next)
            return 0;
        json_t *root = render(f, s);
        int rc = root ? write_live(f, s, root, errstr, errstr_size)
                      : (snprintf(errstr, errstr_size, "forecaster: out of memory"), -1);
        json_decref(root);
        return rc;
    }
    if (!s->loaded || s->hw.next < upto + 1 - horizon) {
        int64_t first = first_interval(f, s, errstr, errstr_size);
        if (first < -1)
            return -1;
        if (first < 0 || first > upto)
            return 0; /* no complete interval yet */
        s->first = first;
        s->surge_run = s->surge_since = 0;
        s->last_actual = s->last_forecast = 0;
        if (refit(f, s, upto + 1, errstr, errstr_size) < 0)
            return -1;
        s->loaded = 1;
    } else if (fold(f, s, upto, errstr, errstr_size) < 0) {
        return -1;
    }
    int w = write_series(f, s, errstr, errstr_size);
    if (w == 0)
        s->loaded = 0; /* another instance is ahead: read its state next time */
    return w < 0 ? -1 : w;
}

/* ---- queue totals ---------------------------------------------------------------- */

typedef struct {
    char dims[SP_DIMS_MAX];
    double agents, volume;
} queue_sum;

/* Adds one series' live fc_agents_required and fc_volume (as Redis has them, whoever
 * wrote them) to its queue's sum. */
static int add_to_queue(queue_sum **sums, size_t *n, const series *s, const redisReply *r)
{
    char dims[SP_DIMS_MAX];
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        sp_dims_format(s->tenant, s->queue, NULL, NULL, dims, sizeof dims) < 0)
        return 0;
    double agents = strtod(r->element[0]->str, NULL), volume = field_num(r->element[1]);
    if (agents < 0)
        return 0; /* no staffing for this series (yet) */
    size_t i = 0;
    while (i < *n && strcmp((*sums)[i].dims, dims) != 0)
        i++;
    if (i == *n) {
        queue_sum *g = realloc(*sums, (*n + 1) * sizeof *g);
        if (!g)
            return -1;
        *sums = g;
        snprintf(g[i].dims, sizeof g[i].dims, "%s", dims);
        g[i].agents = g[i].volume = 0;
        (*n)++;
    }
    (*sums)[i].agents += agents;
    (*sums)[i].volume += volume;
    return 0;
}

/* One queue's summed staffing into its live hash, listed in livedims, announced. */
static int add_queue_sum(sp_forecaster *f, const queue_sum *q)
{
    char live[SP_KEY_MAX], set[SP_KEY_MAX], chan[SP_KEY_MAX], agents[32], volume[32];
    if (sp_key_live(live, sizeof live, f->conf.prefix, q->dims) < 0 ||
        sp_key_livedims(set, sizeof set, f->conf.prefix) < 0 ||
        sp_key_updates(chan, sizeof chan, f->conf.prefix) < 0)
        return -1;
    snprintf(agents, sizeof agents, "%.0f", q->agents);
    snprintf(volume, sizeof volume, "%.3f", q->volume);
    const char *hset[] = {"HSET", live, "fc_agents_required", agents, "fc_volume", volume};
    const char *sadd[] = {"SADD", set, q->dims};
    const char *pub[] = {"PUBLISH", chan, live};
    return sp_redis_batch_add(f->batch, live, strlen(live), 6, hset, NULL) < 0 ||
                   sp_redis_batch_add(f->batch, set, strlen(set), 3, sadd, NULL) < 0 ||
                   sp_redis_batch_add(f->batch, NULL, 0, 3, pub, NULL) < 0
               ? -1
               : 0;
}

/* Writes each queue's staffing over its channels (fc_agents_required and fc_volume
 * summed) into the queue's live hash, where the staffing alert compares it with the
 * agents staffed on the queue (agents have queues, not channels). */
static int write_queue_sums(sp_forecaster *f, char *errstr, size_t errstr_size)
{
    sp_redis_batch_reset(f->batch);
    for (size_t i = 0; i < f->n; i++) {
        char live[SP_KEY_MAX];
        if (sp_key_live(live, sizeof live, f->conf.prefix, f->s[i].dims) < 0 ||
            sp_redis_batch_addf(f->batch, "HMGET %s fc_agents_required fc_volume", live) < 0)
            return snprintf(errstr, errstr_size, "forecaster: out of memory"), -1;
    }
    if (f->n && run_batch(f, errstr, errstr_size) < 0)
        return -1;
    queue_sum *sums = NULL;
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        if (add_to_queue(&sums, &n, &f->s[i], sp_redis_batch_reply(f->batch, (long)i)) < 0) {
            free(sums);
            return snprintf(errstr, errstr_size, "forecaster: out of memory"), -1;
        }
    sp_redis_batch_reset(f->batch);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (add_queue_sum(f, &sums[i]) < 0) {
            snprintf(errstr, errstr_size, "forecaster: out of memory");
            rc = -1;
        }
    free(sums);
    if (rc < 0 || !n)
        return rc;
    if (run_batch(f, errstr, errstr_size) < 0)
        return -1;
    for (long i = 0; i < (long)sp_redis_batch_size(f->batch); i++) {
        const redisReply *r = sp_redis_batch_reply(f->batch, i);
        if (r->type == REDIS_REPLY_ERROR)
            return snprintf(errstr, errstr_size, "forecaster: redis %s: %s", f->conf.address,
                            r->str), -1;
    }
    return 0;
}

int sp_forecaster_tick(sp_forecaster *f, char *errstr, size_t errstr_size)
{
    if (connect_redis(f, errstr, errstr_size) < 0)
        return -1;
    int64_t now = event_now_ms(f, errstr, errstr_size);
    if (now < -1)
        return -1;
    if (now < 0)
        return 0; /* nothing consumed yet */
    int64_t upto = (now - f->conf.lateness_ms) / 1000 / SP_FC_INTERVAL_S - 1;
    if (upto <= f->done_upto)
        return 0; /* no interval completed since the last pass */
    if (discover(f, errstr, errstr_size) < 0)
        return -1;
    f->stats.series = f->n;
    int written = 0;
    for (size_t i = 0; i < f->n; i++) {
        int w = sync_series(f, &f->s[i], upto, errstr, errstr_size);
        if (w < 0)
            return -1;
        written += w;
    }
    if (write_queue_sums(f, errstr, errstr_size) < 0)
        return -1;
    f->done_upto = upto;
    return written;
}
