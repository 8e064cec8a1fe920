/*
 * rollups.c - see rollups.h.
 *
 * A write: (1) the totals: every dirty cell's change, added to the rollup of each
 * resolution its dims class is rolled up at, remembering which cells fed which rollup
 * (refs), so a partition's share can be left out again when its mark shows it is in
 * already; (2) rounds of calls: each rollup's new state is its cache entry plus its
 * change (applied to the entry as the call is built), sent with the entry's version;
 * rollups Redis held otherwise come back with what it holds, which replaces the entry,
 * and go into the next round; (3) the follow-up commands: series indexes of new
 * rollups, PUBLISH, the agent sets of csat_smoothed. A call whose outcome is unknown
 * (connection lost) leaves its rollups' entries cleared: the next write learns their
 * state from Redis.
 */
#include "supportpulse/rollups.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "supportpulse/bytes.h"
#include "supportpulse/clock.h"
#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/log.h"
#include "supportpulse/numfmt.h"
#include "supportpulse/redis_dump.h"
#include "supportpulse/redis_keys.h"
#include "supportpulse/rollup_cache.h"

extern const char sp_lua_rollups[];
extern const char sp_lua_csat_smoothed[];
extern const char sp_lua_csat_done[];

#define MAX_ROUNDS 16

/* (pos + m * desk) / (n + m), desk = dpos / dn, with the decimals of csat; "" when
 * either has no response. */
static void smoothed_value(double m, long long pos, long long n, long long dpos, long long dn,
                           char *out, size_t size)
{
    char v[SP_NUMFMT_MAX];
    out[0] = '\0';
    if (n <= 0 || dn <= 0)
        return;
    double x = ((double)pos + m * (double)dpos / (double)dn) / ((double)n + m);
    size_t len = sp_fmt_fixed(x, sp_ratio_find("csat")->decimals, v);
    if (len < size)
        memcpy(out, v, len + 1);
}

/* ---- the fields of a rollup ------------------------------------------------------------ */

static const double quantiles[3] = {0.5, 0.9, 0.99};
static const char *const pct_suffix[3] = {"_p50", "_p90", "_p99"};

/* Where a rollup's fields go: text (HSET, the tests' reference) or a RESTORE payload. */
typedef struct {
    void (*num)(void *arg, const char *name, size_t nlen, int64_t v);
    void (*text)(void *arg, const char *name, size_t nlen, const char *v, size_t vlen);
    void *arg;
} field_sink;

static char pct_names[SP_D__COUNT][3][40];
static size_t pct_len[SP_D__COUNT][3], metric_len[SP_M__COUNT], ratio_len[64];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static void names_init(void)
{
    for (int d = 0; d < SP_D__COUNT; d++)
        for (int q = 0; q < 3; q++)
            pct_len[d][q] = (size_t)snprintf(pct_names[d][q], sizeof pct_names[d][q], "%s%s",
                                             sp_duration_name((sp_duration)d), pct_suffix[q]);
    for (int m = 0; m < SP_M__COUNT; m++)
        metric_len[m] = strlen(sp_metric_name((sp_metric)m));
    for (int r = 0; r < sp_nratios && r < 64; r++)
        ratio_len[r] = strlen(sp_ratios[r].name);
}

/* The fields of a rollup with counters c and sketches sk (sorted on the way): the core
 * counts (sp_metric_core; of an agent's rollup when agent) and the others that are not
 * zero, the ratios that are defined (sp_ratios), each duration's _p50, _p90, _p99
 * (unless with_pct is 0). The one list of them: both sinks read it. */
static void emit_fields(const sp_counters *c, sp_sketch *sk, int with_pct, int agent,
                        const field_sink *o)
{
    pthread_once(&names_once, names_init);
    for (int m = 0; m < SP_M__COUNT; m++)
        if (c->v[m] || sp_metric_core((sp_metric)m, agent))
            o->num(o->arg, sp_metric_name((sp_metric)m), metric_len[m], c->v[m]);
    for (int r = 0; r < sp_nratios; r++) {
        double x;
        if (sp_ratio_value(&sp_ratios[r], c->v, &x) == 0) {
            char v[SP_NUMFMT_MAX];
            size_t n = sp_fmt_fixed(x, sp_ratios[r].decimals, v);
            o->text(o->arg, sp_ratios[r].name, r < 64 ? ratio_len[r] : strlen(sp_ratios[r].name),
                    v, n);
        }
    }
    for (int d = 0; with_pct && d < SP_D__COUNT; d++) {
        int64_t p[3];
        if (!sk[d].nb || sp_sketch_quantiles(&sk[d], quantiles, 3, p) < 0)
            continue;
        for (int q = 0; q < 3; q++)
            o->num(o->arg, pct_names[d][q], pct_len[d][q], p[q]);
    }
}

void sp_rollup_fields_add(sp_rollup_fields *out, const char *name, const char *value)
{
    if (out->n >= 96)
        return;
    int i = out->n++;
    out->name[i] = name;
    snprintf(out->text[i], sizeof out->text[i], "%s", value);
    out->value[i] = out->text[i];
    out->vlen[i] = strlen(out->text[i]);
}

static void fields_num(void *arg, const char *name, size_t nlen, int64_t v)
{
    (void)nlen;
    sp_rollup_fields *out = arg;
    if (out->n >= 96)
        return;
    int i = out->n++;
    out->name[i] = name;
    out->vlen[i] = sp_fmt_i64(v, out->text[i]);
    out->value[i] = out->text[i];
}

static void fields_text(void *arg, const char *name, size_t nlen, const char *v, size_t vlen)
{
    (void)nlen;
    (void)vlen;
    sp_rollup_fields_add(arg, name, v);
}

void sp_rollup_fields_of(sp_rollup_fields *out, const sp_counters *c, sp_sketch *sk,
                         int with_pct, int agent)
{
    out->n = 0;
    field_sink o = {fields_num, fields_text, out};
    emit_fields(c, sk, with_pct, agent, &o);
}

static void dump_num(void *arg, const char *name, size_t nlen, int64_t v)
{
    sp_dump_field_int(arg, name, nlen, v);
}

static void dump_text(void *arg, const char *name, size_t nlen, const char *v, size_t vlen)
{
    sp_dump_field(arg, name, nlen, v, vlen);
}

/* ---- the writer ------------------------------------------------------------------------ */

typedef struct {
    uint32_t off;    /* the cell's change, encoded in the job's contrib (put_change) */
    int part;        /* index into the job's parts */
    uint32_t next;   /* next ref of the same total + 1; 0 = end */
} ref;

enum { TODO, SENT, DONE };

typedef struct {
    int res;
    sp_dims_class cls;
    int64_t start;
    uint32_t key_off, key_len;  /* the rollup key in the keys arena (keyed jobs) */
    uint32_t gid;               /* its dims: the job's dims number */
    unsigned slot;
    sp_counters d;              /* the change of every contributing partition */
    sp_sketch dsk[SP_D__COUNT];
    uint32_t first_ref;
    sp_rollup_entry *e;
    int state;
    int created;                /* written where no rollup was (kept across attempts) */
    unsigned char expect[SP_ROLLUP_VERSION_LEN]; /* the version the write expects */
    int expect_none;            /* ... or that there is no companion */
    unsigned char newv[SP_ROLLUP_VERSION_LEN];
    char smoothed[24];
    uint8_t csat_changed;
} total;

typedef struct {
    char *p;
    size_t n, cap;
} arena;

struct sp_rollups_job {
    sp_rollup_part *parts;       /* copies; p is NULL once the job is built */
    int nparts, capparts;
    const uint8_t *include;      /* per part, during a write: its change may be written */
    total *t;
    size_t nt, capt, ninit;      /* totals; the first ninit have their sketches set up */
    sp_u64map *index;            /* (dims number, resolution, window) -> total */
    sp_strmap *dims_index;       /* dims -> dims number (kept when the job is reused) */
    uint32_t *dims_off;          /* dims number -> its text in the dims arena */
    size_t ndims, capdims;
    arena dims;
    uint32_t *gcache;            /* per part and dims id: dims number + 1, 0 unknown */
    size_t capgcache;
    ref *refs;
    size_t nrefs, caprefs;
    int keyed;                   /* the rollup keys are in the keys arena */
    uint64_t ns_built;           /* time building it (counted by its first write) */
    arena keys;                  /* rollup keys of the totals */
    sp_buf contrib;              /* each ref's change */
    const sp_zones *zones;       /* the writer's: where 1d windows start */
};

struct sp_rollups {
    sp_rollups_conf conf;
    char *prefix;
    sp_redis *r;
    int script, smooth_script, done_script;
    int use_restore, probed;
    sp_rollup_cache *cache;
    uint64_t token;              /* this writer's part of every version */
    uint64_t counter;            /* ... and the write's */
    uint64_t write_no;
    sp_rollups_job *j;           /* the job being written */
    /* one write's state */
    size_t *order;               /* the totals of a round (ids), by slot */
    size_t *sent;                /* the totals of the round's calls, in the order sent */
    size_t nsent, cap_order, cap_sent;
    long *call_first;            /* per batch command: its first total in `sent` ... */
    size_t *call_n;              /* ... and how many */
    size_t capcalls;
    /* scratch for calls */
    sp_redis_batch *batch;
    sp_buf payload, comp, argbuf;
    sp_dump_builder dump;
    sp_u64map *series;           /* series index hash -> when last trimmed (wall s) */
    size_t *argoff, *arglen;
    size_t nargs, capargs;
    const char **argv;
    size_t *argvlen;
    size_t capargv;
    int64_t smoothed_at;         /* the last csat_smoothed pass (wall clock) */
    sp_rollups_stats stats;
};

sp_rollups *sp_rollups_new(const sp_rollups_conf *conf, sp_redis *r, char *errstr,
                           size_t errstr_size)
{
    sp_rollups *w = calloc(1, sizeof *w);
    if (!w || !(w->prefix = strdup(conf->prefix)) ||
        !(w->cache = sp_rollup_cache_new(conf->cache_entries)) ||
        !(w->batch = sp_redis_batch_new())) {
        snprintf(errstr, errstr_size, "out of memory creating the rollup writer");
        sp_rollups_destroy(w);
        return NULL;
    }
    w->conf = *conf;
    w->conf.prefix = w->prefix;
    if (w->conf.max_call < 1)
        w->conf.max_call = 1;
    w->r = r;
    w->script = sp_redis_script(r, sp_lua_rollups);
    w->smooth_script = sp_redis_script(r, sp_lua_csat_smoothed);
    w->done_script = sp_redis_script(r, sp_lua_csat_done);
    if (w->script < 0 || w->smooth_script < 0 || w->done_script < 0) {
        snprintf(errstr, errstr_size, "too many Redis scripts");
        sp_rollups_destroy(w);
        return NULL;
    }
    w->use_restore = 1;
    w->series = sp_u64map_new(1u << 22); /* NULL: every index add refreshes */
    if (getrandom(&w->token, sizeof w->token, 0) != (ssize_t)sizeof w->token)
        w->token = (uint64_t)sp_wall_ms() * 6364136223846793005ULL ^ (uint64_t)getpid() << 40;
    return w;
}

void sp_rollups_job_destroy(sp_rollups_job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->ninit; i++)
        for (int d = 0; d < SP_D__COUNT; d++)
            sp_sketch_free(&j->t[i].dsk[d]);
    free(j->t);
    sp_u64map_destroy(j->index);
    sp_strmap_destroy(j->dims_index);
    free(j->dims_off);
    free(j->dims.p);
    free(j->gcache);
    free(j->refs);
    free(j->keys.p);
    sp_buf_free(&j->contrib);
    free(j->parts);
    free(j);
}

void sp_rollups_destroy(sp_rollups *w)
{
    if (!w)
        return;
    free(w->order);
    free(w->sent);
    free(w->call_first);
    free(w->call_n);
    sp_redis_batch_destroy(w->batch);
    sp_buf_free(&w->payload);
    sp_buf_free(&w->comp);
    sp_buf_free(&w->argbuf);
    sp_dump_builder_free(&w->dump);
    sp_u64map_destroy(w->series);
    free(w->argoff);
    free(w->arglen);
    free(w->argv);
    free(w->argvlen);
    sp_rollup_cache_destroy(w->cache);
    free(w->prefix);
    free(w);
}

const sp_rollups_stats *sp_rollups_get_stats(const sp_rollups *w) { return &w->stats; }

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

static const char *job_key(const sp_rollups_job *j, const total *t) { return j->keys.p + t->key_off; }
static const char *job_dims(const sp_rollups_job *j, const total *t)
{
    return j->dims.p + j->dims_off[t->gid];
}
static const char *total_key(const sp_rollups *w, const total *t) { return job_key(w->j, t); }
static const char *total_dims(const sp_rollups *w, const total *t) { return job_dims(w->j, t); }

/* ---- (1) totals ------------------------------------------------------------------------ */

static int arena_put(arena *a, const char *s, size_t n, uint32_t *off)
{
    if (grow((void **)&a->p, &a->cap, a->n + n + 1, 1) < 0)
        return -1;
    *off = (uint32_t)a->n;
    memcpy(a->p + a->n, s, n);
    a->p[a->n + n] = '\0';
    a->n += n + 1;
    return 0;
}

/* The job's number for a dims text (new ones get the next). -1 when out of memory. */
static long dims_number(sp_rollups_job *j, const char *dims)
{
    size_t dl = strlen(dims);
    uint32_t g;
    if (sp_strmap_get(j->dims_index, dims, dl, &g))
        return g;
    uint32_t off;
    if (j->ndims >= UINT32_MAX / 2 ||
        grow((void **)&j->dims_off, &j->capdims, j->ndims + 1, sizeof *j->dims_off) < 0 ||
        arena_put(&j->dims, dims, dl, &off) < 0 ||
        sp_strmap_put(j->dims_index, dims, dl, (uint32_t)j->ndims) < 0)
        return -1;
    j->dims_off[j->ndims] = off;
    return (long)j->ndims++;
}

/* The total of (res, dims number, start), created empty. NULL when out of memory. Its
 * key is made later, by the writer (sp_rollups_write), off the partitions' thread. */
static total *total_of(sp_rollups_job *j, int res, sp_dims_class cls, uint32_t gid,
                       int64_t start)
{
    /* exact: the dims number, the resolution and the window's minute, each in its own
     * bits, through a mixer that is a bijection (distinct keys, distinct hashes) */
    uint64_t key = sp_hash_u64((uint64_t)(gid + 1) << 40 | (uint64_t)res << 36 |
                               ((uint64_t)(start / 60) & ((1ULL << 36) - 1)));
    uint32_t idx;
    int rc = sp_u64map_insert(j->index, key, (uint32_t)j->nt, &idx);
    if (rc == 1)
        return &j->t[idx];
    if (rc < 0 || grow((void **)&j->t, &j->capt, j->nt + 1, sizeof *j->t) < 0) {
        if (rc == 0)
            sp_u64map_del(j->index, key);
        return NULL;
    }
    if (j->nt == j->ninit) {
        for (int d = 0; d < SP_D__COUNT; d++)
            sp_sketch_init(&j->t[j->nt].dsk[d]);
        j->ninit++;
    }
    total *t = &j->t[j->nt++];
    sp_sketch dsk[SP_D__COUNT];
    memcpy(dsk, t->dsk, sizeof dsk); /* emptied memory, kept for reuse */
    memset(t, 0, sizeof *t);
    memcpy(t->dsk, dsk, sizeof dsk);
    t->res = res;
    t->cls = cls;
    t->start = start;
    t->gid = gid;
    return t;
}

/* Adds a cell's change (c - pub) to d and dsk; 0 or -1 when out of memory. */
static int add_change(sp_counters *d, sp_sketch *dsk, const sp_cell *c)
{
    for (int m = 0; m < SP_M__COUNT; m++)
        d->v[m] += c->c.v[m] - c->pub.v[m];
    for (int k = 0; k < SP_D__COUNT; k++)
        for (uint32_t i = 0; i < c->sk[k].nb; i++) {
            const sp_sketch_bin *b = &c->sk[k].b[i];
            if (b->n != b->pub && sp_sketch_add_bucket(&dsk[k], b->idx, b->n - b->pub) < 0)
                return -1;
        }
    return 0;
}

/* A cell's change, kept for when only some partitions' shares are to be written: the
 * mask of counters that moved and their changes, then per duration the buckets that
 * moved (count, then index and change). */
static void put_change(sp_buf *b, const sp_cell *c)
{
    uint64_t mask = 0;
    for (int m = 0; m < SP_M__COUNT; m++)
        if (c->c.v[m] != c->pub.v[m])
            mask |= 1ull << m;
    sp_buf_put_uv(b, mask);
    for (int m = 0; m < SP_M__COUNT; m++)
        if (mask & (1ull << m))
            sp_buf_put_sv(b, c->c.v[m] - c->pub.v[m]);
    for (int k = 0; k < SP_D__COUNT; k++) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < c->sk[k].nb; i++)
            n += c->sk[k].b[i].n != c->sk[k].b[i].pub;
        sp_buf_put_uv(b, n);
        for (uint32_t i = 0; n && i < c->sk[k].nb; i++) {
            const sp_sketch_bin *x = &c->sk[k].b[i];
            if (x->n != x->pub) {
                sp_buf_put_uv(b, x->idx);
                sp_buf_put_uv(b, x->n - x->pub);
            }
        }
    }
}

/* Adds a change kept by put_change to d and dsk; 0, or -1 when out of memory. */
static int add_kept_change(const sp_buf *b, uint32_t off, sp_counters *d, sp_sketch *dsk)
{
    sp_reader r = sp_reader_of(b->p + off, b->n - off);
    uint64_t mask = sp_get_uv(&r);
    for (int m = 0; m < SP_M__COUNT; m++)
        if (mask & (1ull << m))
            d->v[m] += sp_get_sv(&r);
    for (int k = 0; k < SP_D__COUNT; k++) {
        uint64_t n = sp_get_uv(&r);
        for (uint64_t i = 0; i < n && !r.bad; i++) {
            uint16_t idx = (uint16_t)sp_get_uv(&r);
            if (sp_sketch_add_bucket(&dsk[k], idx, (uint32_t)sp_get_uv(&r)) < 0)
                return -1;
        }
    }
    return r.bad ? -1 : 0;
}

static int changed(const sp_cell *c)
{
    for (int m = 0; m < SP_M__COUNT; m++)
        if (c->c.v[m] != c->pub.v[m])
            return 1;
    return 0; /* a bucket cannot change without its duration's count */
}

static int add_cell(sp_rollups_job *j, int part, uint32_t *gcache, const sp_partition *p,
                    int64_t wstart, const sp_cell *c)
{
    sp_dims_class cls = sp_partition_dims_class(p, c->dims_id);
    if (!gcache[c->dims_id]) {
        long g = dims_number(j, sp_partition_dims_key(p, c->dims_id));
        if (g < 0)
            return -1;
        gcache[c->dims_id] = (uint32_t)g + 1;
    }
    uint32_t gid = gcache[c->dims_id] - 1;
    uint8_t mask = sp_partition_res(p)->mask[cls];
    uint32_t off = (uint32_t)j->contrib.n;
    put_change(&j->contrib, c);
    if (j->contrib.failed || j->contrib.n > UINT32_MAX)
        return -1;
    for (int r = 0; r < SP_NRES; r++) {
        if (!(mask & (1u << r)))
            continue;
        int64_t start = r == SP_NRES - 1
                            ? sp_zones_window_start(j->zones, sp_partition_dims_key(p, c->dims_id),
                                                    wstart, r)
                            : sp_res_start(wstart, r);
        total *t = total_of(j, r, cls, gid, start);
        if (!t || grow((void **)&j->refs, &j->caprefs, j->nrefs + 1, sizeof *j->refs) < 0 ||
            add_change(&t->d, t->dsk, c) < 0)
            return -1;
        j->refs[j->nrefs] = (ref){off, part, t->first_ref};
        t->first_ref = (uint32_t)++j->nrefs;
        t->csat_changed |= c->c.v[SP_M_CSAT_RESPONSES] != c->pub.v[SP_M_CSAT_RESPONSES];
    }
    return 0;
}

static int build_totals(sp_rollups_job *j)
{
    for (int i = 0; i < j->nparts; i++) {
        const sp_partition *p = j->parts[i].p;
        size_t nd = sp_partition_dims_count(p);
        if (grow((void **)&j->gcache, &j->capgcache, nd + 1, sizeof *j->gcache) < 0)
            return -1;
        memset(j->gcache, 0, (nd + 1) * sizeof *j->gcache);
        for (int r = 0; r < SP_NRES; r++) {
            sp_window_set *ws = sp_partition_window_set((sp_partition *)p, r);
            for (size_t k = 0; k < ws->n; k++) {
                sp_window *win = &ws->w[k];
                for (size_t c = 0; c < win->ncells && win->ndirty; c++)
                    if (win->cells[c].dirty && changed(&win->cells[c]) &&
                        add_cell(j, i, j->gcache, p, win->start, &win->cells[c]) < 0)
                        return -1;
            }
        }
    }
    return 0;
}

/* Empties a job for reuse, keeping its memory (and its dims numbers). */
static void job_reset(sp_rollups_job *j)
{
    for (size_t i = 0; i < j->nt; i++)
        for (int d = 0; d < SP_D__COUNT; d++)
            sp_sketch_clear(&j->t[i].dsk[d]);
    j->nt = j->nrefs = j->keys.n = 0;
    j->keyed = 0;
    sp_buf_reset(&j->contrib);
    if (j->index)
        sp_u64map_clear(j->index);
}

sp_rollups_job *sp_rollups_job_new(const sp_rollups *w, const sp_rollup_part *parts, int n,
                                   sp_rollups_job *reuse, char *errstr, size_t errstr_size)
{
    sp_rollups_job *j = reuse ? reuse : calloc(1, sizeof *j);
    int ok = j != NULL;
    if (ok && reuse)
        job_reset(j);
    if (ok)
        j->zones = w->conf.zones;
    if (ok && !j->index)
        ok = (j->index = sp_u64map_new(SIZE_MAX / 4)) != NULL;
    if (ok && !j->dims_index)
        ok = (j->dims_index = sp_strmap_new(1024)) != NULL;
    if (ok && n > j->capparts) {
        sp_rollup_part *np = realloc(j->parts, (size_t)n * sizeof *np);
        ok = np != NULL;
        if (ok) {
            j->parts = np;
            j->capparts = n;
        }
    }
    if (ok) {
        uint64_t t0 = now_ns();
        if (n > 0)
            memcpy(j->parts, parts, (size_t)n * sizeof *parts);
        j->nparts = n;
        ok = build_totals(j) == 0;
        j->ns_built = now_ns() - t0;
    }
    if (!ok) {
        snprintf(errstr, errstr_size, "out of memory building a flush's rollups");
        sp_rollups_job_destroy(j);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        j->parts[i].p = NULL;
    return j;
}

size_t sp_rollups_job_size(const sp_rollups_job *j) { return j->nt; }

/* ---- (2) building a rollup's write ----------------------------------------------------- */

/* Whether partition `part`'s change is to be added: this write may write it (its
 * checkpoint is committed) and the entry does not hold it already. */
static int wanted(const sp_rollups *w, const sp_rollup_entry *e, int part)
{
    const sp_rollups_job *j = w->j;
    return j->include[part] && sp_rollup_mark_of(e, j->parts[part].partition) < j->parts[part].seq;
}

/* The change to add now: the total's, or (when some partitions' change is in the rollup
 * already, or is not to be written yet) that of the others only, summed again from the
 * changes kept. 0 nothing to add, 1 something, -1 out of memory. */
static int change_to_add(sp_rollups *w, total *t, sp_counters *d, sp_sketch *dsk, int *split)
{
    int any_in = 0, any_out = 0;
    for (uint32_t r = t->first_ref; r; r = w->j->refs[r - 1].next) {
        if (wanted(w, t->e, w->j->refs[r - 1].part))
            any_out = 1;
        else
            any_in = 1;
    }
    *split = any_in;
    if (!any_out)
        return 0;
    if (!any_in) {
        *d = t->d;
        for (int k = 0; k < SP_D__COUNT; k++)
            if (sp_sketch_merge(&dsk[k], &t->dsk[k]) < 0)
                return -1;
        return 1;
    }
    memset(d, 0, sizeof *d);
    for (uint32_t r = t->first_ref; r; r = w->j->refs[r - 1].next)
        if (wanted(w, t->e, w->j->refs[r - 1].part) &&
            add_kept_change(&w->j->contrib, w->j->refs[r - 1].off, d, dsk) < 0)
            return -1;
    return 1;
}

/* The desk an agent's csat_smoothed leans toward: "agent=A" -> "all", "tenant=T|agent=A"
 * -> "tenant=T". */
static int desk_of(const char *dims, char *out, size_t size)
{
    const char *bar = strstr(dims, "|agent=");
    if (strncmp(dims, "agent=", 6) == 0)
        return snprintf(out, size, "all") < (int)size ? 0 : -1;
    if (bar && strncmp(dims, "tenant=", 7) == 0 && !memchr(dims, '|', (size_t)(bar - dims)))
        return snprintf(out, size, "%.*s", (int)(bar - dims), dims) < (int)size ? 0 : -1;
    return -1;
}

/* csat_smoothed of an agent's rollup from what the writer knows of its desk's: the desk
 * total of this write (built before the agents'), else its cache entry; "" when unknown. */
static void smoothed_of(sp_rollups *w, const total *t, const sp_rollup_entry *e, char *out,
                        size_t size)
{
    char desk[SP_DIMS_MAX], key[SP_KEY_MAX];
    snprintf(out, size, "%s", e->smoothed);
    int64_t n = e->c.v[SP_M_CSAT_RESPONSES], pos = e->c.v[SP_M_CSAT_POSITIVE];
    double m = (double)w->conf.csat_prior_weight;
    if (m <= 0 || desk_of(total_dims(w, t), desk, sizeof desk) < 0)
        return;
    int kl = sp_key_rollup(key, sizeof key, w->prefix, t->res, desk, t->start);
    const sp_rollup_entry *de = kl < 0 ? NULL : sp_rollup_cache_find(w->cache, key, (size_t)kl);
    if (!de || !de->exists)
        return;
    int64_t dn = de->c.v[SP_M_CSAT_RESPONSES], dpos = de->c.v[SP_M_CSAT_POSITIVE];
    smoothed_value(m, pos, n, dpos, dn, out, size);
}

static void new_version(sp_rollups *w, unsigned char v[SP_ROLLUP_VERSION_LEN])
{
    uint64_t c = ++w->counter;
    for (int i = 0; i < 8; i++) {
        v[i] = (unsigned char)(w->token >> (8 * i));
        v[8 + i] = (unsigned char)(c >> (8 * i));
    }
}

/* Applies a rollup's change to its entry (counts, sketches, marks) and sets what its
 * write expects and the new version. 0: to write; 1: nothing to write (every change is
 * in already); -1: out of memory. */
static int prepare(sp_rollups *w, total *t)
{
    sp_rollup_entry *e = t->e;
    sp_counters d;
    sp_sketch dsk[SP_D__COUNT] = {{0}};
    int split, rc = change_to_add(w, t, &d, dsk, &split);
    if (split)
        w->stats.merged_out++;
    if (rc <= 0) {
        for (int k = 0; k < SP_D__COUNT; k++)
            sp_sketch_free(&dsk[k]);
        return rc < 0 ? -1 : 1;
    }
    memcpy(t->expect, e->version, sizeof t->expect);
    t->expect_none = !e->has_companion;
    for (int m = 0; m < SP_M__COUNT; m++)
        e->c.v[m] += d.v[m];
    for (int k = 0; k < SP_D__COUNT; k++) {
        if (rc >= 0 && sp_sketch_merge(&e->sk[k], &dsk[k]) < 0)
            rc = -1;
        sp_sketch_free(&dsk[k]);
    }
    for (uint32_t r = t->first_ref; r && rc >= 0; r = w->j->refs[r - 1].next) {
        int part = w->j->refs[r - 1].part;
        const sp_rollup_part *p = &w->j->parts[part];
        if (wanted(w, e, part) && sp_rollup_mark_set(e, p->partition, p->seq) < 0)
            rc = -1;
    }
    if (rc < 0)
        return -1;
    t->created |= !e->exists;
    if (t->cls == SP_DC_AGENT)
        smoothed_of(w, t, e, t->smoothed, sizeof t->smoothed);
    new_version(w, t->newv);
    return 0;
}


/* ---- (2) calls --------------------------------------------------------------------------- */

/* argv under construction: bytes in argbuf, referred to by offset until the call is
 * complete (argbuf may move as it grows). */
static void arg_reset(sp_rollups *w)
{
    w->nargs = 0;
    sp_buf_reset(&w->argbuf);
}

static int arg_add(sp_rollups *w, const void *s, size_t n)
{
    size_t lc = w->capargs;
    if (grow((void **)&w->argoff, &w->capargs, w->nargs + 1, sizeof *w->argoff) < 0 ||
        grow((void **)&w->arglen, &lc, w->nargs + 1, sizeof *w->arglen) < 0)
        return -1;
    w->argoff[w->nargs] = w->argbuf.n;
    w->arglen[w->nargs++] = n;
    sp_buf_put(&w->argbuf, s, n);
    return w->argbuf.failed ? -1 : 0;
}

static int arg_str(sp_rollups *w, const char *s) { return arg_add(w, s, strlen(s)); }

/* A rollup's arguments: expected version, new companion, TTL, mode and body. */
static int append_args(sp_rollups *w, total *t, int64_t now_ms)
{
    sp_rollup_entry *e = t->e;
    int frozen = (e->flags & SP_ROLLUP_FROZEN) != 0;
    char ttl[SP_NUMFMT_MAX];
    size_t ttl_len = sp_fmt_i64(w->conf.ttl_s[t->res] * 1000, ttl);
    sp_buf_reset(&w->comp);
    const char *mode = frozen ? "u" : w->use_restore ? "r" : "h";
    int agent = sp_dims_class_of(total_dims(w, t)) == SP_DC_AGENT;
    if (sp_companion_encode(e, t->newv, &w->comp) < 0 ||
        arg_add(w, t->expect, t->expect_none ? 0 : sizeof t->expect) < 0 ||
        arg_add(w, w->comp.p, w->comp.n) < 0 || arg_add(w, ttl, ttl_len) < 0 ||
        arg_add(w, mode, 1) < 0)
        return -1;
    if (*mode == 'r') { /* the whole hash, serialized: no text for the counts at all */
        sp_dump_begin(&w->dump);
        field_sink o = {dump_num, dump_text, &w->dump};
        emit_fields(&e->c, e->sk, 1, agent, &o);
        if (t->smoothed[0])
            sp_dump_field(&w->dump, "csat_smoothed", 13, t->smoothed, strlen(t->smoothed));
        sp_dump_field_int(&w->dump, "updated_at", 10, now_ms);
        sp_buf_reset(&w->payload);
        return sp_dump_end(&w->dump, &w->payload) < 0 ||
                       arg_add(w, w->payload.p, w->payload.n) < 0
                   ? -1
                   : 0;
    }
    sp_rollup_fields f;
    sp_rollup_fields_of(&f, &e->c, e->sk, !frozen, agent);
    if (t->smoothed[0])
        sp_rollup_fields_add(&f, "csat_smoothed", t->smoothed);
    char now[SP_NUMFMT_MAX];
    sp_fmt_i64(now_ms, now);
    sp_rollup_fields_add(&f, "updated_at", now);
    char nf[16];
    snprintf(nf, sizeof nf, "%d", f.n);
    if (arg_str(w, nf) < 0)
        return -1;
    for (int i = 0; i < f.n; i++)
        if (arg_str(w, f.name[i]) < 0 || arg_add(w, f.value[i], f.vlen[i]) < 0)
            return -1;
    return 0;
}

/* One call of the rollups ids[0..n) (all in TODO; those with nothing to write become
 * DONE). 0, or -1 when out of memory. */
static int add_call(sp_rollups *w, const size_t *ids, size_t n, int64_t now_ms)
{
    size_t first = w->nsent;
    for (size_t i = 0; i < n; i++) {
        total *t = &w->j->t[ids[i]];
        int rc = prepare(w, t);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            t->state = DONE;
            continue;
        }
        t->state = SENT;
        w->sent[w->nsent++] = ids[i];
    }
    size_t nw = w->nsent - first;
    if (!nw)
        return 0;
    arg_reset(w);
    char comp[SP_KEY_MAX];
    for (size_t i = first; i < w->nsent; i++) {
        const total *t = &w->j->t[w->sent[i]];
        int cl = sp_key_companion(comp, sizeof comp, w->prefix, total_key(w, t));
        if (cl < 0 || arg_add(w, total_key(w, t), t->key_len) < 0 ||
            arg_add(w, comp, (size_t)cl) < 0)
            return -1;
    }
    size_t nkeys = w->nargs;
    for (size_t i = first; i < w->nsent; i++)
        if (append_args(w, &w->j->t[w->sent[i]], now_ms) < 0)
            return -1;
    size_t pc = w->capargv;
    if (grow((void **)&w->argv, &w->capargv, w->nargs, sizeof *w->argv) < 0 ||
        grow((void **)&w->argvlen, &pc, w->nargs, sizeof *w->argvlen) < 0)
        return -1;
    for (size_t i = 0; i < w->nargs; i++) {
        w->argv[i] = (const char *)w->argbuf.p + w->argoff[i];
        w->argvlen[i] = w->arglen[i];
    }
    long idx = sp_redis_batch_eval(w->batch, w->script, (int)nkeys, (int)(w->nargs - nkeys),
                                   w->argv, w->argvlen);
    size_t cc = w->capcalls;
    if (idx < 0 || grow((void **)&w->call_first, &w->capcalls, (size_t)idx + 1,
                        sizeof *w->call_first) < 0 ||
        grow((void **)&w->call_n, &cc, (size_t)idx + 1, sizeof *w->call_n) < 0)
        return -1;
    w->call_first[idx] = (long)first;
    w->call_n[idx] = nw;
    w->stats.calls++;
    if (nw > w->stats.max_call)
        w->stats.max_call = nw;
    return 0;
}

/* Agents after desks (their csat_smoothed reads the desks' new counts), then by slot. */
static int by_slot(const void *x, const void *y, void *arg)
{
    const sp_rollups *w = arg;
    const total *s = &w->j->t[*(const size_t *)x], *t = &w->j->t[*(const size_t *)y];
    int sa = s->cls == SP_DC_AGENT, ta = t->cls == SP_DC_AGENT;
    if (sa != ta)
        return sa - ta;
    return (s->slot > t->slot) - (s->slot < t->slot);
}

/* qsort has no argument: the writer being sorted, per thread (flush threads of several
 * pipelines may sort at once). */
static _Thread_local sp_rollups *sort_w;
static int by_slot_q(const void *x, const void *y) { return by_slot(x, y, sort_w); }

/* The calls of one round: the TODO totals in calls of at most max_call rollups, each of
 * one hash slot when Redis is a cluster. n of them, listed in w->order. Calls go out as
 * they are built (every SEND_AHEAD bytes), so Redis runs them while the next are built.
 * 0, or -1 with errstr. */
#define SEND_AHEAD (256u << 10)
static int build_round(sp_rollups *w, size_t n, int64_t now_ms, char *errstr, size_t errstr_size)
{
    if (sp_redis_is_cluster(w->r) && n > 1) {
        sort_w = w;
        qsort(w->order, n, sizeof *w->order, by_slot_q);
    }
    size_t k = (size_t)w->conf.max_call, sent = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        unsigned slot = w->j->t[w->order[i]].slot;
        while (j < n && j - i < k &&
               (!sp_redis_is_cluster(w->r) || w->j->t[w->order[j]].slot == slot))
            j++;
        if (add_call(w, w->order + i, j - i, now_ms) < 0) {
            snprintf(errstr, errstr_size, "out of memory building rollup calls");
            return -1;
        }
        size_t bytes = sp_redis_batch_bytes(w->batch);
        if (bytes - sent >= SEND_AHEAD) {
            uint64_t t0 = now_ns();
            if (sp_redis_batch_send(w->r, w->batch, errstr, errstr_size) < 0)
                return -1;
            w->stats.ns_redis += now_ns() - t0;
            sent = bytes;
        }
        i = j;
    }
    return 0;
}

/* A rollup's counts from the fields of its hash (the derived ones are computed again). */
static void counts_from_fields(sp_counters *c, const redisReply *flat)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; flat && i + 1 < flat->elements; i += 2) {
        if (flat->element[i]->type != REDIS_REPLY_STRING)
            continue;
        int m = sp_metric_parse(flat->element[i]->str);
        if (m >= 0 && flat->element[i + 1]->type == REDIS_REPLY_STRING)
            c->v[m] = strtoll(flat->element[i + 1]->str, NULL, 10);
    }
}

/* What Redis holds of a rollup (a conflict's reply): its companion (may be "") and its
 * fields, into the entry. -1 when the companion is malformed. */
static int take_state(sp_rollup_entry *e, const redisReply *comp, const redisReply *flat)
{
    sp_rollup_entry_clear(e);
    counts_from_fields(&e->c, flat);
    e->exists = flat && flat->elements > 0;
    if (comp->type == REDIS_REPLY_STRING && comp->len > 0) {
        if (sp_companion_decode(e, comp->str, comp->len) < 0)
            return -1;
        e->has_companion = 1;
        e->exists = 1;
    } else if (e->exists) {
        e->flags |= SP_ROLLUP_FROZEN; /* the rollup outlived its companion: no sketch */
        sp_log(SP_LOG_WARN, "rollup without its companion (its sketches are gone): counts "
               "are added, its percentiles kept as they are");
    }
    for (size_t i = 0; flat && i + 1 < flat->elements; i += 2)
        if (flat->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(flat->element[i]->str, "csat_smoothed") == 0)
            snprintf(e->smoothed, sizeof e->smoothed, "%s", flat->element[i + 1]->str);
    return 0;
}

/* The replies of a round: written rollups take their new version; the others get what
 * Redis holds and go into the next round. Returns how many go again, -1 on a bad reply. */
static long take_replies(sp_rollups *w, char *errstr, size_t errstr_size)
{
    long again = 0;
    for (size_t c = 0; c < sp_redis_batch_size(w->batch); c++) {
        const redisReply *r = sp_redis_batch_reply(w->batch, (long)c);
        size_t first = (size_t)w->call_first[c], n = w->call_n[c];
        if (r->type != REDIS_REPLY_ARRAY || r->elements % 3) {
            snprintf(errstr, errstr_size, "rollup write: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            return -1;
        }
        for (size_t j = 0; j + 2 < r->elements; j += 3) {
            long at = r->element[j]->type == REDIS_REPLY_INTEGER ? (long)r->element[j]->integer : 0;
            if (at < 1 || (size_t)at > n) {
                snprintf(errstr, errstr_size, "rollup write: a reply names rollup %ld of %zu",
                         at, n);
                return -1;
            }
            total *t = &w->j->t[w->sent[first + (size_t)at - 1]];
            if (take_state(t->e, r->element[j + 1], r->element[j + 2]) < 0) {
                snprintf(errstr, errstr_size, "rollup write: %s holds a malformed companion",
                         total_key(w, t));
                return -1;
            }
            t->state = TODO; /* merged again next round */
            w->stats.conflicts++;
            again++;
        }
        for (size_t i = 0; i < n; i++) {
            total *t = &w->j->t[w->sent[first + i]];
            if (t->state != SENT)
                continue;
            t->state = DONE;
            t->e->exists = t->e->has_companion = 1;
            memcpy(t->e->version, t->newv, sizeof t->newv);
            snprintf(t->e->smoothed, sizeof t->e->smoothed, "%s", t->smoothed);
            w->stats.writes++;
        }
    }
    return again;
}

/* ---- (3) what follows the writes ----------------------------------------------------------- */

static int add_argv(sp_rollups *w, const char *key, int argc, const char *const *argv)
{
    return sp_redis_batch_add(w->batch, key, strlen(key), argc, argv, NULL) < 0 ? -1 : 0;
}

/* Adds agent rollup key to its window's set of agents (set, sl bytes), giving the set
 * its TTL once per batch. 0, or -1 when out of memory. */
static int join_agents(sp_rollups *w, sp_strmap *seen, const char *set, size_t sl,
                       const char *key, int res)
{
    const char *sadd[] = {"SADD", set, key};
    int rc = add_argv(w, set, 3, sadd);
    int64_t ttl_s = w->conf.ttl_s[res];
    uint32_t x;
    if (ttl_s > 0 && !sp_strmap_get(seen, set, sl, &x)) {
        char ttl[24];
        snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s);
        const char *exp[] = {"EXPIRE", set, ttl};
        rc |= add_argv(w, set, 3, exp) | sp_strmap_put(seen, set, sl, 1);
    }
    return rc;
}

/* Before the writes: each agent with new surveys joins its window's set, and each window
 * whose agents' or desk's CSAT moves is listed in {p}:csat_due, so a crash at any point
 * leaves the smoothing pass (sp_rollups_smooth, of any instance) all it needs. After the
 * writes also each window of an agent written with a csat_smoothed (prepare set it): the
 * value came from this writer's view of the desk, which may be behind what another
 * writer put there since, so a pass sets it again from the desk Redis holds. */
static int note_csat(sp_rollups *w, char *errstr, size_t errstr_size)
{
    if (w->conf.csat_prior_weight <= 0)
        return 0;
    char set[SP_KEY_MAX], due_key[SP_KEY_MAX], desk[SP_DIMS_MAX], due[SP_DIMS_MAX + 48];
    sp_key_csat_due(due_key, sizeof due_key, w->prefix);
    sp_redis_batch_reset(w->batch);
    sp_strmap *seen = sp_strmap_new(64); /* sets and due windows already in the batch */
    int rc = seen ? 0 : -1;
    uint32_t x;
    for (size_t i = 0; i < w->j->nt && rc == 0; i++) {
        const total *t = &w->j->t[i];
        int smoothed = t->cls == SP_DC_AGENT && t->state == DONE && t->smoothed[0];
        if (!(t->csat_changed || smoothed) || (t->cls != SP_DC_AGENT && t->cls != SP_DC_ALL))
            continue;
        const char *d = total_dims(w, t);
        if (t->cls == SP_DC_AGENT) {
            int sl;
            if (desk_of(total_dims(w, t), desk, sizeof desk) < 0 ||
                (sl = sp_key_csat_agents(set, sizeof set, w->prefix, t->res, desk, t->start)) < 0)
                continue;
            d = desk;
            if (t->csat_changed) /* else in the set since its first survey: only the mark */
                rc |= join_agents(w, seen, set, (size_t)sl, total_key(w, t), t->res);
        }
        int dl = snprintf(due, sizeof due, "%d\t%s\t%" PRId64, t->res, d, t->start);
        if (dl > 0 && (size_t)dl < sizeof due && !sp_strmap_get(seen, due, (size_t)dl, &x)) {
            const char *mark[] = {"HINCRBY", due_key, due, "1"};
            rc |= add_argv(w, due_key, 4, mark) | sp_strmap_put(seen, due, (size_t)dl, 1);
        }
    }
    sp_strmap_destroy(seen);
    if (rc) {
        snprintf(errstr, errstr_size, "out of memory noting CSAT changes");
        return -1;
    }
    return sp_redis_batch_size(w->batch) ? sp_redis_batch_run(w->r, w->batch, errstr, errstr_size)
                                         : 0;
}

/* Whether a series index is due for its trim and TTL: not refreshed by this writer in
 * the last ttl/16 (wall clock), so each index is trimmed and its TTL extended a few
 * times per TTL, not with every window added. Marks it refreshed now. */
static int series_due(sp_rollups *w, const char *series, size_t len, int64_t ttl_s,
                      int64_t now_s)
{
    uint64_t h = sp_hash_bytes(series, len);
    uint32_t at;
    h += !h;
    if (w->series && sp_u64map_get(w->series, h, &at) && now_s - (int64_t)at < ttl_s / 16)
        return 0;
    if (w->series)
        sp_u64map_put(w->series, h, (uint32_t)now_s); /* when full: every add refreshes */
    return 1;
}

/* Series indexes of the rollups created (ZADD; now and then their trim and TTL),
 * PUBLISH of every rollup written. */
static int follow_up(sp_rollups *w, char *errstr, size_t errstr_size)
{
    char series[SP_KEY_MAX], start[24], ttl[24], floor[32], chan[SP_KEY_MAX];
    int64_t now_s = sp_wall_ms() / 1000;
    sp_redis_batch_reset(w->batch);
    sp_key_updates(chan, sizeof chan, w->prefix);
    sp_u64map *newest = sp_u64map_new(SIZE_MAX / 4); /* series -> its newest created total */
    int rc = newest ? 0 : -1;
    for (size_t i = 0; i < w->j->nt && rc == 0; i++) {
        total *t = &w->j->t[i];
        if (t->state != DONE || !t->e || !t->e->exists)
            continue;
        int sl;
        if (t->created &&
            (sl = sp_key_series(series, sizeof series, w->prefix, t->res, total_dims(w, t))) > 0) {
            snprintf(start, sizeof start, "%" PRId64, t->start);
            const char *zadd[] = {"ZADD", series, start, start};
            rc |= add_argv(w, series, 4, zadd);
            uint64_t h = sp_hash_bytes(series, (size_t)sl);
            uint32_t at;
            h += !h;
            if (sp_u64map_insert(newest, h, (uint32_t)i, &at) == 1 && w->j->t[at].start < t->start)
                sp_u64map_put(newest, h, (uint32_t)i);
            w->stats.index_adds++;
        }
        const char *pub[] = {"PUBLISH", chan, total_key(w, t)};
        rc |= sp_redis_batch_add(w->batch, NULL, 0, 3, pub, NULL) < 0 ? -1 : 0;
        w->stats.publishes++;
    }
    /* each series once: trimmed below its newest window's retention */
    for (size_t i = 0; i < w->j->nt && rc == 0; i++) {
        total *t = &w->j->t[i];
        int64_t ttl_s = w->conf.ttl_s[t->res];
        int sl;
        uint32_t at;
        if (t->state != DONE || !t->created || ttl_s <= 0 || !t->e || !t->e->exists ||
            (sl = sp_key_series(series, sizeof series, w->prefix, t->res, total_dims(w, t))) <= 0)
            continue;
        uint64_t h = sp_hash_bytes(series, (size_t)sl);
        h += !h;
        if (!sp_u64map_get(newest, h, &at) || at != i ||
            !series_due(w, series, (size_t)sl, ttl_s, now_s))
            continue;
        /* the index outlives its newest rollup: its TTL runs ttl/16 past that of a
         * rollup written when it was last refreshed */
        snprintf(floor, sizeof floor, "(%" PRId64, t->start - ttl_s);
        snprintf(ttl, sizeof ttl, "%" PRId64, ttl_s + ttl_s / 16);
        const char *trim[] = {"ZREMRANGEBYSCORE", series, "-inf", floor};
        const char *exp[] = {"EXPIRE", series, ttl};
        rc |= add_argv(w, series, 4, trim) | add_argv(w, series, 3, exp);
    }
    sp_u64map_destroy(newest);
    if (rc) {
        snprintf(errstr, errstr_size, "out of memory after a rollup write");
        return -1;
    }
    return sp_redis_batch_run(w->r, w->batch, errstr, errstr_size);
}

/* ---- a write ----------------------------------------------------------------------------- */

/* The totals' keys (made once per job) and cache entries, marked used by this write. */
static int attach_entries(sp_rollups *w)
{
    sp_rollups_job *j = w->j;
    for (size_t i = 0; !j->keyed && i < j->nt; i++) {
        total *t = &j->t[i];
        char key[SP_KEY_MAX];
        int kl = sp_key_rollup(key, sizeof key, w->prefix, t->res, job_dims(j, t), t->start);
        uint32_t off;
        if (kl < 0 || arena_put(&j->keys, key, (size_t)kl, &off) < 0)
            return -1;
        t->key_off = off;
        t->key_len = (uint32_t)kl;
        t->slot = sp_redis_key_slot(key, (size_t)kl);
    }
    j->keyed = 1;
    for (size_t i = 0; i < j->nt; i++) {
        total *t = &j->t[i];
        if (!(t->e = sp_rollup_cache_get(w->cache, total_key(w, t), t->key_len)))
            return -1;
        t->e->used = w->write_no;
        t->e->final_ms =
            sp_zones_window_end(w->conf.zones, total_dims(w, t), t->start, t->res) * 1000 +
            w->conf.retention_ms;
    }
    return 0;
}

/* Rollups whose outcome is unknown (the round failed): nothing is known of them now. */
static void forget_sent(sp_rollups *w)
{
    for (size_t i = 0; i < w->j->nt; i++)
        if (w->j->t[i].state != DONE && w->j->t[i].e)
            sp_rollup_entry_clear(w->j->t[i].e);
}

/* Totals of agents go last: their csat_smoothed reads the desk's new counts. */
static size_t list_todo(sp_rollups *w)
{
    size_t n = 0;
    for (int agents = 0; agents < 2; agents++)
        for (size_t i = 0; i < w->j->nt; i++)
            if (w->j->t[i].state == TODO && (w->j->t[i].cls == SP_DC_AGENT) == agents)
                w->order[n++] = i;
    return n;
}

/* The rounds of calls until every rollup holds the change; -1 with errstr. */
static int write_rounds(sp_rollups *w, int64_t now_ms, char *errstr, size_t errstr_size)
{
    for (int round = 0;; round++) {
        size_t todo = list_todo(w);
        if (!todo)
            return 0;
        if (round == MAX_ROUNDS) {
            snprintf(errstr, errstr_size, "rollup write: %zu rollups still changed by other "
                     "writers after %d rounds", todo, MAX_ROUNDS);
            return -1;
        }
        sp_redis_batch_reset(w->batch);
        w->nsent = 0;
        w->stats.rounds++;
        uint64_t t1 = now_ns(), r0 = w->stats.ns_redis;
        if (build_round(w, todo, now_ms, errstr, errstr_size) < 0)
            return -1;
        uint64_t t2 = now_ns();
        w->stats.ns_build += t2 - t1 - (w->stats.ns_redis - r0);
        if (!sp_redis_batch_size(w->batch))
            continue;
        int rc = sp_redis_batch_run(w->r, w->batch, errstr, errstr_size);
        w->stats.ns_redis += now_ns() - t2;
        if (rc < 0 || take_replies(w, errstr, errstr_size) < 0)
            return -1;
    }
}

int sp_rollups_write(sp_rollups *w, sp_rollups_job *job, const uint8_t *include,
                     int64_t now_ms, char *errstr, size_t errstr_size)
{
    w->j = job;
    job->include = include;
    w->write_no++;
    w->stats.ns_totals += job->ns_built;
    job->ns_built = 0;
    for (size_t i = 0; i < job->nt; i++)
        job->t[i].state = TODO;
    int rc = -1;
    if (attach_entries(w) < 0 ||
        grow((void **)&w->order, &w->cap_order, job->nt + 1, sizeof *w->order) < 0 ||
        grow((void **)&w->sent, &w->cap_sent, job->nt + 1, sizeof *w->sent) < 0)
        snprintf(errstr, errstr_size, "out of memory building a flush's rollups");
    else if (sp_rollups_probe(w, errstr, errstr_size) == 0 &&
             note_csat(w, errstr, errstr_size) == 0 &&
             write_rounds(w, now_ms, errstr, errstr_size) == 0)
        rc = 0;
    if (rc < 0) {
        forget_sent(w);
        w->j = NULL;
        return -1;
    }
    uint64_t t3 = now_ns();
    /* noted again after the writes: a pass that ran meanwhile read the agents before
     * them, and must run once more */
    rc = follow_up(w, errstr, errstr_size) < 0 || note_csat(w, errstr, errstr_size) < 0 ? -1 : 0;
    w->stats.ns_follow += now_ns() - t3;
    w->j = NULL;
    return rc;
}

void sp_rollups_job_each_live_dims(const sp_rollups_job *j,
                                   void (*fn)(const char *dims, void *arg), void *arg)
{
    for (size_t i = 0; i < j->nt; i++) {
        const total *t = &j->t[i];
        if (t->cls != SP_DC_AGENT && (t->res == 0 || t->res == SP_NRES - 1))
            fn(job_dims(j, t), arg);
    }
}

/* ---- releasing closed windows ------------------------------------------------------------ */

static void unlink_companion(const sp_rollup_entry *e, void *arg)
{
    sp_rollups *w = arg;
    char comp[SP_KEY_MAX];
    if (!e->has_companion || sp_key_companion(comp, sizeof comp, w->prefix, e->key) < 0)
        return;
    const char *argv[] = {"UNLINK", comp};
    sp_redis_batch_add(w->batch, comp, strlen(comp), 2, argv, NULL);
    w->stats.released++;
}

int sp_rollups_release(sp_rollups *w, int64_t watermark_ms, char *errstr, size_t errstr_size)
{
    sp_redis_batch_reset(w->batch);
    sp_rollup_cache_final(w->cache, watermark_ms, unlink_companion, w);
    sp_rollup_cache_trim(w->cache);
    if (!sp_redis_batch_size(w->batch))
        return 0;
    /* an unreachable Redis leaves the companions: a later write finds none to trust */
    return sp_redis_batch_run(w->r, w->batch, errstr, errstr_size);
}

void sp_rollups_forget(sp_rollups *w)
{
    sp_rollup_cache_clear(w->cache);
    if (w->series)
        sp_u64map_clear(w->series);
}

/* ---- RESTORE or HSET --------------------------------------------------------------------- */

int sp_rollups_probe(sp_rollups *w, char *errstr, size_t errstr_size)
{
    if (w->probed)
        return 0;
    char key[SP_KEY_MAX];
    snprintf(key, sizeof key, "%s:probe:%016" PRIx64, w->prefix, w->token);
    const char *f[] = {"f"}, *v[] = {"1"};
    size_t fl[] = {1}, vl[] = {1};
    sp_buf payload = {0};
    if (sp_dump_hash(&payload, 1, f, fl, v, vl) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    const char *argv[] = {"RESTORE", key, "10000", (const char *)payload.p, "REPLACE"};
    size_t lens[] = {7, strlen(key), 5, payload.n, 7};
    redisReply *r = sp_redis_cmd_argv(w->r, 1, 5, argv, lens, errstr, errstr_size);
    sp_buf_free(&payload);
    if (!r)
        return -1;
    w->use_restore = r->type == REDIS_REPLY_STATUS;
    if (!w->use_restore)
        sp_log(SP_LOG_WARN, "Redis refuses RESTORE of a hash (%s): rollups are written with "
               "HSET, which costs Redis more (docs/operations.md)", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    w->stats.hset_mode = !w->use_restore;
    freeReplyObject(r);
    w->probed = 1;
    return 0;
}

void sp_rollups_force_hset(sp_rollups *w)
{
    w->use_restore = 0;
    w->probed = 1;
    w->stats.hset_mode = 1;
}

/* ---- csat_smoothed --------------------------------------------------------------------- */


static long long reply_ll(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* The desk's counts: 0, or -1 with errstr. */
static int desk_counts(sp_rollups *w, const char *key, long long *pos, long long *n, char *errstr,
                       size_t errstr_size)
{
    const char *argv[] = {"HMGET", key, "csat_positive", "csat_responses"};
    redisReply *r = sp_redis_cmd_argv(w->r, 1, 4, argv, NULL, errstr, errstr_size);
    if (!r)
        return -1;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    if (ok) {
        *pos = reply_ll(r->element[0]);
        *n = reply_ll(r->element[1]);
    } else {
        snprintf(errstr, errstr_size, "HMGET %s: unexpected reply", key);
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* One batch of agent rollups of a window: reads their counts and sets what changed. */
static int smooth_agents(sp_rollups *w, const redisReply *keys, long long dpos, long long dn,
                         char *errstr, size_t errstr_size)
{
    sp_redis_batch *b = w->batch;
    sp_redis_batch_reset(b);
    for (size_t i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        const char *argv[] = {"HMGET", k, "csat_positive", "csat_responses", "csat_smoothed"};
        if (sp_redis_batch_add(b, k, strlen(k), 5, argv, NULL) < 0)
            return -1;
    }
    if (sp_redis_batch_run(w->r, b, errstr, errstr_size) < 0)
        return -1;
    sp_redis_batch *set = sp_redis_batch_new();
    if (!set)
        return -1;
    double m = (double)w->conf.csat_prior_weight;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *r = sp_redis_batch_reply(b, (long)i);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
            r->element[1]->type != REDIS_REPLY_STRING)
            continue; /* gone (expired) or never surveyed */
        char v[32];
        smoothed_value(m, reply_ll(r->element[0]), reply_ll(r->element[1]), dpos, dn, v, sizeof v);
        const char *cur = r->element[2]->type == REDIS_REPLY_STRING ? r->element[2]->str : "";
        if (strcmp(cur, v) == 0)
            continue;
        const char *k = keys->element[i]->str;
        const char *pos = r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "0";
        const char *argv[] = {k, pos, r->element[1]->str, v};
        if (sp_redis_batch_eval(set, w->smooth_script, 1, 3, argv, NULL) < 0) {
            sp_redis_batch_destroy(set);
            return -1;
        }
        sp_rollup_entry *e = sp_rollup_cache_find(w->cache, k, strlen(k));
        if (e)
            snprintf(e->smoothed, sizeof e->smoothed, "%.*s", (int)sizeof e->smoothed - 1, v);
    }
    int rc = sp_redis_batch_size(set) ? sp_redis_batch_run(w->r, set, errstr, errstr_size) : 0;
    sp_redis_batch_destroy(set);
    return rc;
}

/* Every agent of one window, against the desk's counts; again while the desk moved
 * under it (another writer): the last pass reads the last counts. */
static int smooth_window(sp_rollups *w, const char *due, char *errstr, size_t errstr_size)
{
    char desk[SP_DIMS_MAX], rkey[SP_KEY_MAX], set[SP_KEY_MAX];
    int res = atoi(due);
    const char *t1 = strchr(due, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if (!t2 || (size_t)(t2 - t1 - 1) >= sizeof desk)
        return 0;
    snprintf(desk, sizeof desk, "%.*s", (int)(t2 - t1 - 1), t1 + 1);
    int64_t start = strtoll(t2 + 1, NULL, 10);
    if (sp_key_rollup(rkey, sizeof rkey, w->prefix, res, desk, start) < 0 ||
        sp_key_csat_agents(set, sizeof set, w->prefix, res, desk, start) < 0)
        return 0;
    for (int pass = 0; pass < 4; pass++) {
        long long dpos, dn, dpos2, dn2;
        if (desk_counts(w, rkey, &dpos, &dn, errstr, errstr_size) < 0)
            return -1;
        char cursor[32] = "0";
        do {
            const char *argv[] = {"SSCAN", set, cursor, "COUNT", "1000"};
            redisReply *r = sp_redis_cmd_argv(w->r, 1, 5, argv, NULL, errstr, errstr_size);
            if (!r)
                return -1;
            int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
            if (ok) {
                snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
                ok = smooth_agents(w, r->element[1], dpos, dn, errstr, errstr_size) == 0;
            } else {
                snprintf(errstr, errstr_size, "SSCAN %s: unexpected reply", set);
            }
            freeReplyObject(r);
            if (!ok)
                return -1;
        } while (strcmp(cursor, "0") != 0);
        if (desk_counts(w, rkey, &dpos2, &dn2, errstr, errstr_size) < 0)
            return -1;
        if (dpos2 == dpos && dn2 == dn)
            return 0;
    }
    return 1; /* the desk kept moving: left marked for the next pass */
}

int sp_rollups_smooth(sp_rollups *w, int force, int64_t now_wall_ms, char *errstr,
                      size_t errstr_size)
{
    if (w->conf.csat_prior_weight <= 0 ||
        (!force && now_wall_ms - w->smoothed_at < w->conf.smooth_every_ms))
        return 0;
    char due_key[SP_KEY_MAX];
    sp_key_csat_due(due_key, sizeof due_key, w->prefix);
    const char *argv[] = {"HGETALL", due_key};
    redisReply *r = sp_redis_cmd_argv(w->r, 1, 2, argv, NULL, errstr, errstr_size);
    if (!r)
        return -1;
    int rc = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements && rc >= 0; i += 2) {
        const char *due = r->element[i]->str, *marks = r->element[i + 1]->str;
        if ((rc = smooth_window(w, due, errstr, errstr_size)) == 0) {
            /* cleared only if no writer marked it again while the pass ran */
            sp_redis_batch *b = w->batch;
            sp_redis_batch_reset(b);
            const char *done[] = {due_key, due, marks};
            rc = sp_redis_batch_eval(b, w->done_script, 1, 2, done, NULL) < 0 ||
                         sp_redis_batch_run(w->r, b, errstr, errstr_size) < 0
                     ? -1
                     : 0;
        }
    }
    if (rc > 0)
        rc = 0;
    freeReplyObject(r);
    if (rc == 0)
        w->smoothed_at = now_wall_ms;
    return rc;
}
