/*
 * live.c - see live.h. A write: (1) presence.lua with the flush's agent.status entries
 * (the dims whose counts moved come back); (2) the set of live dims to refresh; (3) one
 * batch of reads: per dims its 15 one-minute panes, the last hour (5-minute rollups where
 * they fit, one-minute ones at either end) and today, and the presence counts; (4) one
 * batch of live.lua calls and PUBLISHes.
 */
#include "supportpulse/live.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/metrics.h"
#include "supportpulse/numfmt.h"
#include "supportpulse/presence.h"
#include "supportpulse/redis_keys.h"

extern const char sp_lua_live[];
extern const char sp_lua_presence[];

/* The counts the live values are taken over. */
static const sp_metric live_fields[] = {
    SP_M_ANSWERED_IN_SL, SP_M_WAIT_COUNT, SP_M_ABANDON_WAIT_COUNT, SP_M_SHORT_ABANDONED,
    SP_M_ABANDONED, SP_M_OFFERED, SP_M_WAIT_SUM, SP_M_CSAT_POSITIVE, SP_M_CSAT_RESPONSES,
    SP_M_CSAT_NEGATIVE};
#define NLIVE (int)(sizeof live_fields / sizeof live_fields[0])
static const char *const live_ratios[] = {"service_level", "asa_ms_avg", "abandon_rate", "csat"};

#define PANES 15       /* the last 15 one-minute windows */
#define HOUR_MAX 60    /* at most: every minute of the hour */

struct sp_live {
    sp_live_conf conf;
    char *prefix, *topic;
    sp_redis *r;
    int live_script, presence_script;
    sp_redis_batch *batch;
    sp_strmap *known;      /* dims already added to {p}:livedims by this writer */
    /* the dims of one write */
    char **dims;
    size_t ndims, capdims;
    sp_strmap *index;
};

/* ---- what a flush's partitions show (a copy: the partitions move on) ------------------ */

typedef struct {
    uint32_t dims_off;     /* in the job's names */
    int32_t partition;
    int64_t in_queue, backlog, oldest_ts;
    uint8_t moved;
    uint32_t next;         /* the next gauge of the same dims + 1; 0 = none */
} job_gauge;

struct sp_live_job {
    sp_presence *presence;
    size_t npresence, cappresence;
    job_gauge *g;
    size_t ng, capg;
    char *names;
    size_t nnames, capnames;
    sp_strmap *by_dims;    /* dims -> its first gauge + 1 */
    int all_dims;
};

void sp_live_job_destroy(sp_live_job *j)
{
    if (!j)
        return;
    free(j->presence);
    free(j->g);
    free(j->names);
    sp_strmap_destroy(j->by_dims);
    free(j);
}

static int job_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = n;
    return 0;
}

/* Wall boards show the dims of queues and channels; agents have rollups only. */
static int has_live(const char *dims) { return sp_dims_class_of(dims) != SP_DC_AGENT; }

static int copy_gauge(sp_live_job *j, int32_t partition, const char *dims, const sp_gauges *g)
{
    size_t dl = strlen(dims);
    uint32_t first = 0;
    int known = sp_strmap_get(j->by_dims, dims, dl, &first);
    if (job_grow((void **)&j->g, &j->capg, j->ng + 1, sizeof *j->g) < 0)
        return -1;
    job_gauge *x = &j->g[j->ng];
    if (known) {
        x->dims_off = j->g[first - 1].dims_off;
    } else {
        if (job_grow((void **)&j->names, &j->capnames, j->nnames + dl + 1, 1) < 0)
            return -1;
        x->dims_off = (uint32_t)j->nnames;
        memcpy(j->names + j->nnames, dims, dl + 1);
        j->nnames += dl + 1;
    }
    int moved = g->oldest_ts != g->oldest_pub || g->v[SP_G_IN_QUEUE] > 0;
    for (int k = 0; k < SP_G__COUNT; k++)
        moved |= g->v[k] != g->pub[k];
    x->partition = partition;
    x->in_queue = g->v[SP_G_IN_QUEUE];
    x->backlog = g->v[SP_G_BACKLOG];
    x->oldest_ts = g->oldest_ts;
    x->moved = (uint8_t)moved;
    x->next = first;
    j->ng++;
    return sp_strmap_put(j->by_dims, dims, dl, (uint32_t)j->ng);
}

sp_live_job *sp_live_job_new(const sp_rollup_part *parts, int n, int all_dims, char *errstr,
                             size_t errstr_size)
{
    sp_live_job *j = calloc(1, sizeof *j);
    int rc = j && (j->by_dims = sp_strmap_new(64)) ? 0 : -1;
    if (j)
        j->all_dims = all_dims;
    for (int i = 0; i < n && rc == 0; i++) {
        size_t m, ng;
        const sp_presence *e = sp_presence_list(sp_partition_presence(parts[i].p), &m);
        if (m && job_grow((void **)&j->presence, &j->cappresence, j->npresence + m,
                          sizeof *j->presence) < 0) {
            rc = -1;
            break;
        }
        if (m)
            memcpy(j->presence + j->npresence, e, m * sizeof *e);
        j->npresence += m;
        sp_gauges *g = sp_partition_gauges(parts[i].p, &ng);
        for (size_t k = 1; g && k < ng && rc == 0; k++) {
            const char *dims = sp_partition_dims_key(parts[i].p, (uint32_t)k);
            if (*dims && has_live(dims))
                rc = copy_gauge(j, parts[i].partition, dims, &g[k]);
        }
    }
    if (rc < 0) {
        snprintf(errstr, errstr_size, "out of memory copying live gauges");
        sp_live_job_destroy(j);
        return NULL;
    }
    return j;
}

sp_live *sp_live_new(const sp_live_conf *conf, sp_redis *r, char *errstr, size_t errstr_size)
{
    sp_live *l = calloc(1, sizeof *l);
    if (!l || !(l->prefix = strdup(conf->prefix)) || !(l->topic = strdup(conf->topic)) ||
        !(l->batch = sp_redis_batch_new()) || !(l->known = sp_strmap_new(64))) {
        snprintf(errstr, errstr_size, "out of memory creating the live writer");
        sp_live_destroy(l);
        return NULL;
    }
    l->conf = *conf;
    l->conf.prefix = l->prefix;
    l->conf.topic = l->topic;
    if (l->conf.max_call < 1)
        l->conf.max_call = 1;
    l->r = r;
    l->live_script = sp_redis_script(r, sp_lua_live);
    l->presence_script = sp_redis_script(r, sp_lua_presence);
    if (l->live_script < 0 || l->presence_script < 0) {
        snprintf(errstr, errstr_size, "too many Redis scripts");
        sp_live_destroy(l);
        return NULL;
    }
    return l;
}

static void clear_dims(sp_live *l)
{
    for (size_t i = 0; i < l->ndims; i++)
        free(l->dims[i]);
    l->ndims = 0;
    sp_strmap_destroy(l->index);
    l->index = NULL;
}

void sp_live_destroy(sp_live *l)
{
    if (!l)
        return;
    clear_dims(l);
    free(l->dims);
    sp_redis_batch_destroy(l->batch);
    sp_strmap_destroy(l->known);
    free(l->prefix);
    free(l->topic);
    free(l);
}

void sp_live_forget(sp_live *l) { sp_strmap_clear(l->known); }

static void add_dims(const char *dims, void *arg)
{
    sp_live *l = arg;
    uint32_t x;
    size_t len = strlen(dims);
    if (!has_live(dims) || !*dims || sp_strmap_get(l->index, dims, len, &x))
        return;
    if (l->ndims == l->capdims) {
        size_t cap = l->capdims ? 2 * l->capdims : 64;
        char **nd = realloc(l->dims, cap * sizeof *nd);
        if (!nd)
            return;
        l->dims = nd;
        l->capdims = cap;
    }
    char *copy = strdup(dims);
    if (!copy || sp_strmap_put(l->index, dims, len, (uint32_t)l->ndims) < 0) {
        free(copy);
        return;
    }
    l->dims[l->ndims++] = copy;
}

/* ---- presence ------------------------------------------------------------------------- */

typedef struct {
    const char *v[4096];
    size_t len[4096];
    char text[4096][SP_DIMS_MAX];
    int n;
} arglist;

static int arg(arglist *a, const char *s)
{
    size_t len = strlen(s);
    if (a->n >= 4096 || len >= sizeof a->text[0])
        return -1;
    memcpy(a->text[a->n], s, len + 1);
    a->v[a->n] = a->text[a->n];
    a->len[a->n] = len;
    a->n++;
    return 0;
}

static int repeated_queue(const sp_presence *e, const char *q)
{
    for (const char *r = e->queues; r < q; r += strlen(r) + 1)
        if (strcmp(r, q) == 0)
            return 1;
    return 0;
}

/* One presence update: the agent's dims key, ts, status, then the live dims it counts
 * in: all and each distinct queue, with and without a tenant other than default. */
static int add_presence(arglist *a, const sp_presence *e)
{
    const char *tenant = strcmp(e->tenant, "default") == 0 ? NULL : e->tenant;
    char key[SP_DIMS_MAX], dims[8 + 2 * 32][SP_DIMS_MAX], num[24];
    int nd = 0;
    if (sp_dims_format(tenant, NULL, NULL, e->agent, key, sizeof key) < 0)
        return -1;
    for (int with = 0; with <= (tenant != NULL); with++)
        if (sp_dims_format(with ? tenant : NULL, NULL, NULL, NULL, dims[nd++], SP_DIMS_MAX) < 0)
            return -1;
    const char *q = e->queues;
    for (int k = 0; k < e->nqueues && nd + 2 <= (int)(sizeof dims / sizeof dims[0]);
         k++, q += strlen(q) + 1) {
        if (repeated_queue(e, q))
            continue;
        for (int with = 0; with <= (tenant != NULL); with++)
            if (sp_dims_format(with ? tenant : NULL, q, NULL, NULL, dims[nd++], SP_DIMS_MAX) < 0)
                return -1;
    }
    if (a->n + 4 + nd > 4096)
        return 1; /* the call is full: the next one takes it */
    snprintf(num, sizeof num, "%" PRId64, e->ts_ms);
    arg(a, key);
    arg(a, num);
    arg(a, sp_agent_status_name(e->status));
    snprintf(num, sizeof num, "%d", nd);
    arg(a, num);
    for (int i = 0; i < nd; i++)
        arg(a, dims[i]);
    return 0;
}

static int send_presence_call(sp_live *l, arglist *a, int entries, const char *rec,
                              const char *cnt)
{
    char n[16];
    snprintf(n, sizeof n, "%d", entries);
    snprintf(a->text[0], sizeof a->text[0], "%s", n);
    a->len[0] = strlen(n);
    const char *argv[4096 + 2];
    size_t lens[4096 + 2];
    argv[0] = rec;
    argv[1] = cnt;
    lens[0] = strlen(rec);
    lens[1] = strlen(cnt);
    for (int i = 0; i < a->n; i++) {
        argv[2 + i] = a->v[i];
        lens[2 + i] = a->len[i];
    }
    return sp_redis_batch_eval(l->batch, l->presence_script, 2, a->n, argv, lens) < 0 ? -1 : 0;
}

/* presence.lua with every entry of the flush's partitions, max_call entries a call; the
 * dims whose counts moved join the refresh. */
static int write_presence(sp_live *l, const sp_live_job *job, char *errstr, size_t errstr_size)
{
    char rec[SP_KEY_MAX], cnt[SP_KEY_MAX];
    sp_key_presence(rec, sizeof rec, l->prefix, 0);
    sp_key_presence(cnt, sizeof cnt, l->prefix, 1);
    arglist *a = malloc(sizeof *a);
    if (!a) {
        snprintf(errstr, errstr_size, "out of memory writing presence");
        return -1;
    }
    sp_redis_batch_reset(l->batch);
    a->n = 0;
    arg(a, "0");
    int entries = 0, rc = 0;
    for (size_t j = 0; j < job->npresence && rc == 0; j++) {
        const sp_presence *e = &job->presence[j];
        int added = entries == l->conf.max_call ? 1 : add_presence(a, e);
        if (added == 1) { /* the call is full: send it, this entry starts the next */
            rc = send_presence_call(l, a, entries, rec, cnt);
            a->n = 0;
            arg(a, "0");
            entries = 0;
            added = rc < 0 ? -1 : add_presence(a, e);
        }
        if (added < 0)
            rc = -1;
        entries += added == 0;
    }
    if (rc == 0 && entries)
        rc = send_presence_call(l, a, entries, rec, cnt);
    free(a);
    if (rc < 0) {
        snprintf(errstr, errstr_size, "out of memory writing presence");
        return -1;
    }
    if (!sp_redis_batch_size(l->batch))
        return 0;
    if (sp_redis_batch_run(l->r, l->batch, errstr, errstr_size) < 0)
        return -1;
    for (size_t c = 0; c < sp_redis_batch_size(l->batch); c++) {
        const redisReply *r = sp_redis_batch_reply(l->batch, (long)c);
        if (r->type != REDIS_REPLY_ARRAY) {
            snprintf(errstr, errstr_size, "presence: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            return -1;
        }
        for (size_t k = 0; k < r->elements; k++)
            if (r->element[k]->type == REDIS_REPLY_STRING)
                add_dims(r->element[k]->str, l);
    }
    return 0;
}

/* ---- which live hashes ----------------------------------------------------------------- */

static void gauge_dims(sp_live *l, const sp_live_job *job)
{
    for (size_t k = 0; k < job->ng; k++)
        if (job->g[k].moved || job->all_dims)
            add_dims(job->names + job->g[k].dims_off, l);
}

/* ---- reads, then writes ------------------------------------------------------------------- */

typedef struct {
    long panes[PANES], hour[HOUR_MAX], today, presence;
    int nhour;
} reads;

static long read_fields(sp_live *l, const char *key)
{
    const char *argv[2 + NLIVE];
    argv[0] = "HMGET";
    argv[1] = key;
    for (int i = 0; i < NLIVE; i++)
        argv[2 + i] = sp_metric_name(live_fields[i]);
    return sp_redis_batch_add(l->batch, key, strlen(key), 2 + NLIVE, argv, NULL);
}

static int add_reads(sp_live *l, const char *dims, int64_t now_s, reads *rd)
{
    char key[SP_KEY_MAX];
    int64_t pane = now_s - now_s % 60;
    int64_t day = sp_zones_window_start(l->conf.zones, dims, now_s, SP_NRES - 1);
    for (int i = 0; i < PANES; i++) {
        if (sp_key_rollup(key, sizeof key, l->prefix, 0, dims, pane - (PANES - 1 - i) * 60) < 0 ||
            (rd->panes[i] = read_fields(l, key)) < 0)
            return -1;
    }
    /* the 60 one-minute windows up to the last pane: whole 5-minute windows where they
     * fit, one-minute ones at either end */
    rd->nhour = 0;
    for (int64_t s = pane - 59 * 60; s <= pane && rd->nhour < HOUR_MAX;) {
        int five = s % 300 == 0 && s + 240 <= pane;
        if (sp_key_rollup(key, sizeof key, l->prefix, five ? 1 : 0, dims, s) < 0 ||
            (rd->hour[rd->nhour++] = read_fields(l, key)) < 0)
            return -1;
        s += five ? 300 : 60;
    }
    if (sp_key_rollup(key, sizeof key, l->prefix, SP_NRES - 1, dims, day) < 0 ||
        (rd->today = read_fields(l, key)) < 0)
        return -1;
    char cnt[SP_KEY_MAX], fa[SP_DIMS_MAX + 16], fs[SP_DIMS_MAX + 16];
    sp_key_presence(cnt, sizeof cnt, l->prefix, 1);
    snprintf(fa, sizeof fa, "%s\tavailable", dims);
    snprintf(fs, sizeof fs, "%s\tstaffed", dims);
    const char *argv[] = {"HMGET", cnt, fa, fs};
    return (rd->presence = sp_redis_batch_add(l->batch, cnt, strlen(cnt), 4, argv, NULL)) < 0 ? -1 : 0;
}

/* Adds the counts of one HMGET reply of live_fields to sum. */
static void sum_reply(const redisReply *r, sp_counters *sum)
{
    for (int i = 0; r && r->type == REDIS_REPLY_ARRAY && i < NLIVE && (size_t)i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            sum->v[live_fields[i]] += strtoll(r->element[i]->str, NULL, 10);
}

typedef struct {
    const char *v[96];
    size_t len[96];
    char text[96][48];
    int n;
} pairs;

static void pair(pairs *p, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pair(pairs *p, const char *name, const char *fmt, ...)
{
    if (p->n + 2 > 96)
        return;
    snprintf(p->text[p->n], sizeof p->text[p->n], "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->text[p->n + 1], sizeof p->text[p->n + 1], fmt, ap);
    va_end(ap);
    for (int k = 0; k < 2; k++) {
        p->v[p->n + k] = p->text[p->n + k];
        p->len[p->n + k] = strlen(p->text[p->n + k]);
    }
    p->n += 2;
}

static void del(pairs *d, const char *name, const char *suffix)
{
    if (d->n >= 96)
        return;
    snprintf(d->text[d->n], sizeof d->text[d->n], "%s%s", name, suffix);
    d->v[d->n] = d->text[d->n];
    d->len[d->n] = strlen(d->text[d->n]);
    d->n++;
}

/* The ratios over sum, and the volumes they are taken over (alert rules' minimums). */
static void ratios(const sp_counters *sum, const char *suffix, pairs *set, pairs *gone)
{
    char name[64];
    snprintf(name, sizeof name, "offered%s", suffix);
    pair(set, name, "%" PRId64, sum->v[SP_M_OFFERED]);
    snprintf(name, sizeof name, "csat_responses%s", suffix);
    pair(set, name, "%" PRId64, sum->v[SP_M_CSAT_RESPONSES]);
    for (size_t i = 0; i < sizeof live_ratios / sizeof live_ratios[0]; i++) {
        double x;
        char v[SP_NUMFMT_MAX];
        const sp_ratio *r = sp_ratio_find(live_ratios[i]);
        snprintf(name, sizeof name, "%s%s", live_ratios[i], suffix);
        if (sp_ratio_value(r, sum->v, &x) == 0)
            pair(set, name, "%s", (sp_fmt_fixed(x, r->decimals, v), v));
        else
            del(gone, live_ratios[i], suffix);
    }
}

static void live_values(sp_live *l, const reads *rd, pairs *set, pairs *gone)
{
    sp_counters s15 = {{0}}, today = {{0}}, hour = {{0}};
    for (int i = 0; i < PANES; i++)
        sum_reply(sp_redis_batch_reply(l->batch, rd->panes[i]), &s15);
    for (int i = 0; i < rd->nhour; i++)
        sum_reply(sp_redis_batch_reply(l->batch, rd->hour[i]), &hour);
    sum_reply(sp_redis_batch_reply(l->batch, rd->today), &today);
    ratios(&s15, "_15m", set, gone);
    ratios(&today, "_today", set, gone);
    pair(set, "csat_responses_1h", "%" PRId64, hour.v[SP_M_CSAT_RESPONSES]);
    double x;
    char v[SP_NUMFMT_MAX];
    const sp_ratio *dis = sp_ratio_find("dissatisfied");
    if (sp_ratio_value(dis, hour.v, &x) == 0)
        pair(set, "dissatisfied_1h", "%s", (sp_fmt_fixed(x, dis->decimals, v), v));
    else
        del(gone, "dissatisfied_1h", "");
    const redisReply *pr = sp_redis_batch_reply(l->batch, rd->presence);
    for (int k = 0; pr && pr->type == REDIS_REPLY_ARRAY && k < 2 && (size_t)k < pr->elements; k++)
        if (pr->element[k]->type == REDIS_REPLY_STRING)
            pair(set, k ? "agents_staffed" : "agents_available", "%s", pr->element[k]->str);
}

/* One live.lua call: the gauges of the flush's partitions for dims, and its values. */
static long add_live_call(sp_live *l, sp_redis_batch *out, const char *dims,
                          const sp_live_job *job, const pairs *set, const pairs *gone,
                          int64_t now_ms, int64_t now_event_ms)
{
    char lk[SP_KEY_MAX], lx[SP_KEY_MAX], now[24], ev[24], np[16], ns[16], nd[16];
    if (sp_key_live(lk, sizeof lk, l->prefix, dims) < 0 ||
        sp_key_live_companion(lx, sizeof lx, l->prefix, lk) < 0)
        return -1;
    enum { MAXP = 256 };
    char pf[MAXP][160], pv[MAXP][80];
    int np_ = 0;
    uint32_t at = 0; /* the partitions of the flush that know the dims; the others' fields stay */
    sp_strmap_get(job->by_dims, dims, strlen(dims), &at);
    for (; at && np_ < MAXP; at = job->g[at - 1].next) {
        const job_gauge *g = &job->g[at - 1];
        snprintf(pf[np_], sizeof pf[np_], "%s:%d", l->topic, (int)g->partition);
        if (g->oldest_ts == INT64_MAX)
            snprintf(pv[np_], sizeof pv[np_], "%" PRId64 " %" PRId64 " -", g->in_queue,
                     g->backlog);
        else
            snprintf(pv[np_], sizeof pv[np_], "%" PRId64 " %" PRId64 " %" PRId64, g->in_queue,
                     g->backlog, g->oldest_ts);
        np_++;
    }
    const char *argv[2 + 8 + 2 * MAXP + 96 + 96];
    int a = 0;
    argv[a++] = lk;
    argv[a++] = lx;
    snprintf(now, sizeof now, "%" PRId64, now_ms);
    snprintf(ev, sizeof ev, "%" PRId64, now_event_ms);
    snprintf(np, sizeof np, "%d", np_);
    argv[a++] = now;
    argv[a++] = ev;
    argv[a++] = np;
    for (int i = 0; i < np_; i++) {
        argv[a++] = pf[i];
        argv[a++] = pv[i];
    }
    snprintf(ns, sizeof ns, "%d", set->n / 2);
    argv[a++] = ns;
    for (int i = 0; i < set->n; i++)
        argv[a++] = set->v[i];
    snprintf(nd, sizeof nd, "%d", gone->n);
    argv[a++] = nd;
    for (int i = 0; i < gone->n; i++)
        argv[a++] = gone->v[i];
    long idx = sp_redis_batch_eval(out, l->live_script, 2, a - 2, argv, NULL);
    if (idx < 0)
        return -1;
    char chan[SP_KEY_MAX];
    sp_key_updates(chan, sizeof chan, l->prefix);
    const char *pub[] = {"PUBLISH", chan, lk};
    if (sp_redis_batch_add(out, NULL, 0, 3, pub, NULL) < 0)
        return -1;
    uint32_t x;
    if (!sp_strmap_get(l->known, dims, strlen(dims), &x)) {
        char set_key[SP_KEY_MAX];
        sp_key_livedims(set_key, sizeof set_key, l->prefix);
        const char *sadd[] = {"SADD", set_key, dims};
        if (sp_redis_batch_add(out, set_key, strlen(set_key), 3, sadd, NULL) < 0 ||
            sp_strmap_put(l->known, dims, strlen(dims), 1) < 0)
            return -1;
    }
    return idx;
}

/* The dims with a call waiting on any partition (of any instance): their oldest wait
 * grows with every flush's "now", whoever's partitions the flush holds. */
static int waiting_dims(sp_live *l, char *errstr, size_t errstr_size)
{
    char key[SP_KEY_MAX];
    sp_key_waiting(key, sizeof key, l->prefix);
    const char *argv[] = {"SMEMBERS", key};
    redisReply *r = sp_redis_cmd_argv(l->r, 1, 2, argv, NULL, errstr, errstr_size);
    if (!r)
        return -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            add_dims(r->element[i]->str, l);
    freeReplyObject(r);
    return 0;
}

/* After the live writes: each dims whose calls in queue (over all partitions, live.lua's
 * reply) are above zero is listed in {p}:waiting, the others taken out. */
static int note_waiting(sp_live *l, sp_redis_batch *out, const long *calls, char *errstr,
                        size_t errstr_size)
{
    char key[SP_KEY_MAX];
    sp_key_waiting(key, sizeof key, l->prefix);
    sp_redis_batch *b = sp_redis_batch_new();
    if (!b) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t d = 0; d < l->ndims; d++) {
        const redisReply *r = sp_redis_batch_reply(out, calls[d]);
        if (!r || r->type != REDIS_REPLY_INTEGER)
            continue;
        const char *argv[] = {r->integer > 0 ? "SADD" : "SREM", key, l->dims[d]};
        if (sp_redis_batch_add(b, key, strlen(key), 3, argv, NULL) < 0) {
            sp_redis_batch_destroy(b);
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
    }
    int rc = sp_redis_batch_run(l->r, b, errstr, errstr_size);
    sp_redis_batch_destroy(b);
    return rc;
}

int sp_live_write(sp_live *l, const sp_live_job *job, const sp_rollups_job *rollups,
                  int64_t now_ms, int64_t now_event_ms, char *errstr, size_t errstr_size)
{
    clear_dims(l);
    if (!(l->index = sp_strmap_new(64))) {
        snprintf(errstr, errstr_size, "out of memory writing live hashes");
        return -1;
    }
    if (write_presence(l, job, errstr, errstr_size) < 0 || waiting_dims(l, errstr, errstr_size) < 0)
        return -1;
    if (rollups)
        sp_rollups_job_each_live_dims(rollups, add_dims, l);
    gauge_dims(l, job);
    if (!l->ndims)
        return 0;
    reads *rd = calloc(l->ndims, sizeof *rd);
    long *calls = calloc(l->ndims, sizeof *calls);
    sp_redis_batch *out = sp_redis_batch_new();
    int rc = -1;
    sp_redis_batch_reset(l->batch);
    if (!rd || !calls || !out) {
        snprintf(errstr, errstr_size, "out of memory writing live hashes");
        goto done;
    }
    int64_t now_s = now_event_ms / 1000;
    for (size_t i = 0; i < l->ndims; i++)
        if (add_reads(l, l->dims[i], now_s, &rd[i]) < 0) {
            snprintf(errstr, errstr_size, "out of memory reading rollups for live hashes");
            goto done;
        }
    if (sp_redis_batch_run(l->r, l->batch, errstr, errstr_size) < 0)
        goto done;
    for (size_t i = 0; i < l->ndims; i++) {
        pairs set = {.n = 0}, gone = {.n = 0};
        live_values(l, &rd[i], &set, &gone);
        if ((calls[i] = add_live_call(l, out, l->dims[i], job, &set, &gone, now_ms,
                                      now_event_ms)) < 0) {
            snprintf(errstr, errstr_size, "out of memory writing live hashes");
            goto done;
        }
    }
    rc = sp_redis_batch_run(l->r, out, errstr, errstr_size);
    for (size_t c = 0; rc == 0 && c < sp_redis_batch_size(out); c++) {
        const redisReply *r = sp_redis_batch_reply(out, (long)c);
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "live hash: %s", r->str);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = note_waiting(l, out, calls, errstr, errstr_size);
done:
    free(rd);
    free(calls);
    sp_redis_batch_destroy(out);
    return rc;
}
