/*
 * redis_publisher.c - see redis_publisher.h for the key layout and the protocol.
 *
 * A flush is one EVALSHA of merge.lua whose arguments carry, per partition, the fence,
 * the resume point, the changed partials, the changed and removed cases and the event
 * ids seen since the last flush; then the total deltas summed over the partitions, and
 * the gauge changes. An error leaves every partition dirty, so the next flush sends it
 * again; the fence recognises one that was applied but whose reply was lost.
 *
 * Sketches: building a flush merges each total's bucket changes into the writer's copy
 * (sketch_cache.h) and sends the new counts and percentiles with the copy's version; the
 * reply names the rollups whose version had changed, and those copies are read back
 * (reload_copies) before the flush returns. A flush whose outcome is unknown drops
 * every copy.
 */
#include "supportpulse/redis_publisher.h"
#include "supportpulse/crashpoint.h"
#include "supportpulse/clock.h"
#include "supportpulse/redis_conn.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "supportpulse/dedup.h"
#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/log.h"
#include "supportpulse/sketch_cache.h"

extern const char sp_merge_lua[];

const char *const sp_res_names[SP_NRES] = {"1m", "5m", "15m", "1h", "1d"};
const int64_t sp_res_seconds[SP_NRES] = {60, 300, 900, 3600, 86400};

/* An argv under construction. Strings live in one growable arena and are referred to
 * by offset, so growing it never leaves a dangling pointer; sp_argv_send turns offsets
 * into pointers once, when the command is complete. */
typedef struct {
    char *arena;
    size_t used, cap;
    size_t *off, *len;
    size_t argc, argcap;
    const char **ptrs;
    size_t ptrcap;
    int failed; /* out of memory */
} argvb;

static void argv_reset(argvb *a)
{
    a->used = a->argc = 0;
    a->failed = 0;
}

static void argv_free(argvb *a)
{
    free(a->arena);
    free(a->off);
    free(a->len);
    free(a->ptrs);
    memset(a, 0, sizeof *a);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    void *np = realloc(*p, ncap * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = ncap;
    return 0;
}

static void argv_addn(argvb *a, const char *s, size_t n)
{
    size_t lc = a->argcap;
    if (a->failed || grow((void **)&a->arena, &a->cap, a->used + n + 1, 1) < 0 ||
        grow((void **)&a->off, &a->argcap, a->argc + 1, sizeof *a->off) < 0 ||
        grow((void **)&a->len, &lc, a->argc + 1, sizeof *a->len) < 0) {
        a->failed = 1;
        return;
    }
    memcpy(a->arena + a->used, s, n);
    a->arena[a->used + n] = '\0';
    a->off[a->argc] = a->used;
    a->len[a->argc++] = n;
    a->used += n + 1;
}

static void argv_add(argvb *a, const char *s) { argv_addn(a, s, strlen(s)); }

static void argv_addf(argvb *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void argv_addf(argvb *a, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        a->failed = 1;
        return;
    }
    argv_addn(a, tmp, (size_t)n);
}

static void argv_addi(argvb *a, int64_t v) { argv_addf(a, "%" PRId64, v); }

/* Appends b's arguments to a. */
static void argv_cat(argvb *a, const argvb *b)
{
    for (size_t i = 0; i < b->argc && !a->failed; i++)
        argv_addn(a, b->arena + b->off[i], b->len[i]);
    a->failed |= b->failed;
}

typedef struct {
    int res;
    const char *dims; /* a partition's dims key: valid during the flush */
    int64_t start;
    sp_counters d;
    sp_sketch dsk[SP_D__COUNT]; /* bucket count changes */
} total_delta;

/* A fresh attribution entry and the day (epoch seconds) whose hash it goes to. */
typedef struct {
    int64_t day;
    const sp_attr *a;
} attr_ref;

/* The change of one dimension set's gauges in this flush, over all partitions. */
typedef struct {
    const char *dims;
    int64_t d[SP_G__COUNT];
    int refresh;            /* the live hash must be recomputed */
    size_t oldest_first;    /* into oldest[]: this dims' per-partition oldest changes */
    size_t noldest;
} live_delta;

typedef struct {
    int32_t partition;
    int64_t ts;             /* INT64_MAX: none waiting any more */
    size_t next;            /* next of the same dims + 1, 0 = end */
} oldest_change;

struct sp_publisher {
    sp_publisher_conf conf;
    char *address, *prefix;
    redisContext *rc;
    char sha[41];
    argvb cmd, keys, args; /* scratch, reused across flushes */
    total_delta *totals;   /* the flush's deltas per (resolution, dims, window) ... */
    size_t ntotals, captotals;
    sp_strmap *total_index; /* ... found by that triple */
    live_delta *lives;      /* the flush's live-hash changes per dims ... */
    size_t nlives, caplives;
    sp_strmap *live_index;  /* ... found by dims */
    oldest_change *oldest;
    size_t noldest, capoldest;
    char *text;             /* scratch for a serialised sketch */
    size_t textcap;
    attr_ref *arefs;        /* scratch: a partition's fresh attribution entries */
    size_t narefs, caparefs;
    int64_t now_event_ms;   /* newest event time of the flush's partitions */
    sp_skcache *skc;        /* the merged sketches this writer last wrote */
    uint64_t flush_no;      /* flushes built, for the versions and cache ageing */
    char token[24];         /* this writer's random part of a version */
    sp_skcache_entry **reload; /* copies to read back after this flush */
    size_t nreload, capreload;
    sp_publisher_stats stats;
    char count_names[1024]; /* the {p}:meta fields of sp_part_count, space-separated */
};

static int send_argv(sp_publisher *pub, argvb *a, int *pending)
{
    if (a->failed || grow((void **)&a->ptrs, &a->ptrcap, a->argc, sizeof *a->ptrs) < 0)
        return -1;
    for (size_t i = 0; i < a->argc; i++)
        a->ptrs[i] = a->arena + a->off[i];
    if (redisAppendCommandArgv(pub->rc, (int)a->argc, a->ptrs, a->len) != REDIS_OK)
        return -1;
    (*pending)++;
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------- */

/* The {p}:meta fields of sp_part_count, space-separated, for the script. */
static void count_names(char *out, size_t size)
{
    static const char *const base[SP_PC_REJECTED] = {"consumed", "applied", "duplicates",
                                                     "late_dropped"};
    static const char *const evicted[SP_PC__COUNT - SP_PC_EVICTED_CASES] = SP_PC_EVICTED_FIELDS;
    size_t used = 0;
    for (int i = 0; i < SP_PC__COUNT && used < size; i++) {
        const char *sep = i ? " " : "";
        if (i < SP_PC_REJECTED)
            used += (size_t)snprintf(out + used, size - used, "%s%s", sep, base[i]);
        else if (i < SP_PC_EVICTED_CASES)
            used += (size_t)snprintf(out + used, size - used, "%srejected:%s", sep,
                                     sp_reject_reason_name((sp_reject_reason)(i - SP_PC_REJECTED)));
        else
            used += (size_t)snprintf(out + used, size - used, "%s%s", sep,
                                     evicted[i - SP_PC_EVICTED_CASES]);
    }
}

sp_publisher *sp_publisher_new(const sp_publisher_conf *conf, char *errstr, size_t errstr_size)
{
    sp_publisher *pub = calloc(1, sizeof *pub);
    if (!pub || !(pub->address = strdup(conf->address)) || !(pub->prefix = strdup(conf->prefix))) {
        snprintf(errstr, errstr_size, "out of memory creating the Redis publisher");
        sp_publisher_destroy(pub);
        return NULL;
    }
    pub->conf = *conf;
    pub->conf.address = pub->address;
    pub->conf.prefix = pub->prefix;
    count_names(pub->count_names, sizeof pub->count_names);
    if (!(pub->skc = sp_skcache_new(0))) {
        snprintf(errstr, errstr_size, "out of memory creating the Redis publisher");
        sp_publisher_destroy(pub);
        return NULL;
    }
    uint64_t r;
    /* 64 random bits name this writer in the sketch versions: two writers must never
     * share one, or one could trust a copy the other has outdated */
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint64_t)sp_wall_ms() * 1000003u ^ (uint64_t)getpid() << 40;
    snprintf(pub->token, sizeof pub->token, "%016" PRIx64, r);
    return pub;
}

const sp_publisher_stats *sp_publisher_get_stats(const sp_publisher *pub) { return &pub->stats; }


static void disconnect(sp_publisher *pub)
{
    if (pub->rc)
        redisFree(pub->rc);
    pub->rc = NULL;
}

void sp_publisher_destroy(sp_publisher *pub)
{
    if (!pub)
        return;
    disconnect(pub);
    argv_free(&pub->cmd);
    argv_free(&pub->keys);
    argv_free(&pub->args);
    for (size_t i = 0; i < pub->ntotals; i++)
        for (int d = 0; d < SP_D__COUNT; d++)
            sp_sketch_free(&pub->totals[i].dsk[d]);
    free(pub->totals);
    sp_strmap_destroy(pub->total_index);
    free(pub->lives);
    sp_strmap_destroy(pub->live_index);
    free(pub->oldest);
    free(pub->text);
    free(pub->arefs);
    sp_skcache_destroy(pub->skc);
    free(pub->reload);
    free(pub->address);
    free(pub->prefix);
    free(pub);
}


int sp_publisher_connect(sp_publisher *pub, char *errstr, size_t errstr_size)
{
    if (pub->rc)
        return 0;
    pub->rc = sp_redis_open(pub->address, pub->conf.connect_timeout_ms,
                            pub->conf.command_timeout_ms);
    if (!pub->rc || pub->rc->err) {
        snprintf(errstr, errstr_size, "redis %s: %s", pub->address,
                 pub->rc ? pub->rc->errstr : "cannot allocate context");
        disconnect(pub);
        return -1;
    }
    redisReply *r = redisCommand(pub->rc, "SCRIPT LOAD %s", sp_merge_lua);
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 40) {
        snprintf(errstr, errstr_size, "redis %s: SCRIPT LOAD failed: %s", pub->address,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : pub->rc->errstr);
        if (r)
            freeReplyObject(r);
        disconnect(pub);
        return -1;
    }
    memcpy(pub->sha, r->str, 40);
    pub->sha[40] = '\0';
    freeReplyObject(r);
    return 0;
}

typedef void (*reply_fn)(sp_publisher *pub, const redisReply *r);

/* Reads n replies; -1 and errstr on the first error (all are read regardless, so the
 * connection stays in step; a broken connection is closed). A reply starting SPSTALE
 * sets *stale. on_reply (may be NULL) sees each good reply. */
static int read_replies(sp_publisher *pub, int n, int *stale, reply_fn on_reply, char *errstr,
                        size_t errstr_size)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(pub->rc, (void **)&r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "redis %s: %s", pub->address, pub->rc->errstr);
            disconnect(pub);
            return -1;
        }
        const redisReply *bad = r->type == REDIS_REPLY_ERROR ? r : NULL;
        for (size_t j = 0; !bad && r->type == REDIS_REPLY_ARRAY && j < r->elements; j++)
            if (r->element[j]->type == REDIS_REPLY_ERROR)
                bad = r->element[j];
        if ((bad || r->type == REDIS_REPLY_NIL) && rc == 0) {
            snprintf(errstr, errstr_size, "redis %s: %s", pub->address,
                     bad ? bad->str : "transaction aborted");
            if (bad && stale && strncmp(bad->str, "SPSTALE", 7) == 0)
                *stale = 1;
            rc = -1;
        } else if (on_reply) {
            on_reply(pub, r);
        }
        freeReplyObject(r);
    }
    return rc;
}

/* ---- flush ------------------------------------------------------------------------- */

static int64_t res_start(int64_t start, int r)
{
    return start - ((start % sp_res_seconds[r]) + sp_res_seconds[r]) % sp_res_seconds[r];
}

static int nonzero_fields(const sp_counters *c)
{
    int n = 0;
    for (int m = 0; m < SP_M__COUNT; m++)
        n += c->v[m] != 0;
    return n;
}

static int sketch_fields(const sp_cell *c)
{
    int n = 0;
    for (int d = 0; d < SP_D__COUNT; d++)
        n += c->sk[d].nb > 0;
    return n;
}

static int sketch_durations(const total_delta *t)
{
    int n = 0;
    for (int d = 0; d < SP_D__COUNT; d++)
        n += t->dsk[d].nb > 0;
    return n;
}

static int add_sketch_delta(total_delta *t, const sp_cell *c)
{
    for (int d = 0; d < SP_D__COUNT; d++)
        for (uint32_t i = 0; i < c->sk[d].nb; i++) {
            const sp_sketch_bin *b = &c->sk[d].b[i];
            if (b->n != b->pub && sp_sketch_add_bucket(&t->dsk[d], b->idx, b->n - b->pub) < 0)
                return -1;
        }
    return 0;
}

/* Adds a cell's change to the total of (res, dims, window), summing over every cell and
 * partition of the flush. */
static int add_delta(sp_publisher *pub, int res, const char *dims, int64_t start,
                     const sp_counters *d, const sp_cell *cell)
{
    char key[SP_DIMS_MAX + 16];
    size_t dl = strlen(dims);
    if (dl > SP_DIMS_MAX)
        return -1;
    key[0] = (char)res;
    memcpy(key + 1, &start, 8);
    memcpy(key + 9, dims, dl);
    uint32_t idx;
    if (sp_strmap_get(pub->total_index, key, dl + 9, &idx)) {
        for (int m = 0; m < SP_M__COUNT; m++)
            pub->totals[idx].d.v[m] += d->v[m];
        return add_sketch_delta(&pub->totals[idx], cell);
    }
    if (grow((void **)&pub->totals, &pub->captotals, pub->ntotals + 1, sizeof *pub->totals) < 0 ||
        sp_strmap_put(pub->total_index, key, dl + 9, (uint32_t)pub->ntotals) < 0)
        return -1;
    total_delta *t = &pub->totals[pub->ntotals++];
    memset(t, 0, sizeof *t);
    t->res = res;
    t->dims = dims;
    t->start = start;
    t->d = *d;
    return add_sketch_delta(t, cell);
}

/* The live-hash change of dims, created empty. */
static live_delta *live_get(sp_publisher *pub, const char *dims)
{
    uint32_t idx;
    size_t dl = strlen(dims);
    if (sp_strmap_get(pub->live_index, dims, dl, &idx))
        return &pub->lives[idx];
    if (grow((void **)&pub->lives, &pub->caplives, pub->nlives + 1, sizeof *pub->lives) < 0 ||
        sp_strmap_put(pub->live_index, dims, dl, (uint32_t)pub->nlives) < 0)
        return NULL;
    live_delta *l = &pub->lives[pub->nlives++];
    memset(l, 0, sizeof *l);
    l->dims = dims;
    return l;
}

/* Wall boards show the dimension sets of queues and channels; agents have rollups. */
static int has_live(const char *dims) { return strstr(dims, "agent=") == NULL; }

/* One partition's gauge changes, and the dims whose live hash must be recomputed
 * (changed gauges, or calls still waiting: their oldest wait grows). */
static int add_gauges(sp_publisher *pub, const sp_flush_part *fp)
{
    size_t n;
    sp_gauges *g = sp_partition_gauges(fp->p, &n);
    for (size_t i = 0; g && i < n; i++) {
        int changed = g[i].oldest_ts != g[i].oldest_pub;
        for (int k = 0; k < SP_G__COUNT; k++)
            changed |= g[i].v[k] != g[i].pub[k];
        const char *dims = sp_partition_dims_key(fp->p, (uint32_t)i);
        if ((!changed && g[i].v[SP_G_IN_QUEUE] == 0) || !has_live(dims))
            continue;
        live_delta *l = live_get(pub, dims);
        if (!l)
            return -1;
        l->refresh = 1;
        for (int k = 0; k < SP_G__COUNT; k++)
            l->d[k] += g[i].v[k] - g[i].pub[k];
        if (g[i].oldest_ts == g[i].oldest_pub)
            continue;
        if (grow((void **)&pub->oldest, &pub->capoldest, pub->noldest + 1,
                 sizeof *pub->oldest) < 0)
            return -1;
        pub->oldest[pub->noldest] = (oldest_change){fp->partition, g[i].oldest_ts,
                                                   l->noldest ? l->oldest_first + 1 : 0};
        l->oldest_first = pub->noldest++;
        l->noldest++;
    }
    return 0;
}

/* Appends the serialised sketch of a cell as field "sk:<duration>:<dims>". */
static void add_sketch_field(sp_publisher *pub, argvb *a, sp_sketch *sk, sp_duration d,
                             const char *dims)
{
    size_t need = sp_sketch_format(sk, NULL, 0);
    if (grow((void **)&pub->text, &pub->textcap, need + 1, 1) < 0) {
        a->failed = 1;
        return;
    }
    sp_sketch_format(sk, pub->text, need + 1);
    argv_addf(a, "sk:%s:%s", sp_duration_name(d), dims);
    argv_addn(a, pub->text, need);
}

typedef struct {
    sp_partition *p;
    argvb *a;
    size_t n;
} case_list;

static void add_case(const sp_case *k, void *arg)
{
    case_list *l = arg;
    argv_addf(l->a, "%016" PRIx64, k->key);
    argv_addf(l->a,
              "%" PRId64 "\t%d\t%s\t%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%u\t%u\t%u",
              k->last_ts, k->channel, sp_partition_name(l->p, SP_NAME_QUEUE, k->queue),
              sp_partition_name(l->p, SP_NAME_TENANT, k->tenant),
              sp_partition_name(l->p, SP_NAME_AGENT, k->agent), k->start_ts, k->t1, k->t2,
              (unsigned)k->acw_ms, (unsigned)k->flags, (unsigned)k->replies);
    l->n++;
}

static void del_case(uint64_t key, void *arg)
{
    case_list *l = arg;
    argv_addf(l->a, "%016" PRIx64, key);
    l->n++;
}

/* The changed cases (written by the script after its fence check): cases key#, nset,
 * field/value pairs, ndel, fields. */
static void build_cases(sp_publisher *pub, const char *topic, const sp_flush_part *fp)
{
    argvb *k = &pub->keys, *a = &pub->args, *tmp = &pub->cmd;
    sp_cases *c = sp_partition_cases(fp->p);
    argv_addf(k, "%s:cases:%s:%d", pub->prefix, topic, fp->partition);
    argv_addi(a, (int64_t)k->argc);
    case_list l = {fp->p, tmp, 0};
    argv_reset(tmp);
    sp_cases_each_dirty(c, add_case, &l);
    argv_addi(a, (int64_t)l.n);
    argv_cat(a, tmp);
    argv_reset(tmp);
    l.n = 0;
    sp_cases_each_removed(c, del_case, &l);
    argv_addi(a, (int64_t)l.n);
    argv_cat(a, tmp);
}

typedef struct {
    sp_publisher *pub;
    size_t len;
    int failed;
} id_blob;

static void add_id(uint64_t hash, int64_t ts_ms, void *arg)
{
    id_blob *b = arg;
    if (b->failed || grow((void **)&b->pub->text, &b->pub->textcap, b->len + 16, 1) < 0) {
        b->failed = 1;
        return;
    }
    unsigned char *o = (unsigned char *)b->pub->text + b->len;
    for (int i = 0; i < 8; i++) {
        o[i] = (unsigned char)(hash >> (8 * i));
        o[8 + i] = (unsigned char)((uint64_t)ts_ms >> (8 * i));
    }
    b->len += 16;
}

/* The event ids seen since the last flush, journalled for dedup across restarts: ids
 * key#, one binary value of 16 bytes per id (hash, event time; little-endian), and how
 * many such values the journal keeps. */
static void build_ids(sp_publisher *pub, const char *topic, const sp_flush_part *fp)
{
    argvb *k = &pub->keys, *a = &pub->args;
    argv_addf(k, "%s:ids:%s:%d", pub->prefix, topic, fp->partition);
    argv_addi(a, (int64_t)k->argc);
    id_blob b = {pub, 0, 0};
    sp_dedup_each_fresh(sp_partition_dedup(fp->p), add_id, &b);
    if (b.failed)
        a->failed = 1;
    argv_addn(a, pub->text ? pub->text : "", b.len);
    argv_addi(a, pub->conf.id_journal_flushes > 0 ? pub->conf.id_journal_flushes : 4096);
}

static int64_t attr_horizon_s(const sp_publisher *pub)
{
    return pub->conf.attribution_horizon_s > 0 ? pub->conf.attribution_horizon_s : 7 * 86400;
}

static void collect_attr(const sp_attr *e, void *arg)
{
    sp_publisher *pub = arg;
    if (pub->narefs == pub->caparefs &&
        grow((void **)&pub->arefs, &pub->caparefs, pub->narefs + 1, sizeof *pub->arefs) < 0) {
        pub->args.failed = 1;
        return;
    }
    int64_t min = e->last_min;
    pub->arefs[pub->narefs++] = (attr_ref){min * 60 - min * 60 % 86400, e};
}

static int by_day(const void *x, const void *y)
{
    const attr_ref *a = x, *b = y;
    return (a->day > b->day) - (a->day < b->day);
}

/* The attribution entries new since the last flush, one hash per day of their last
 * event, "{p}:attr:{topic}:{partition}:{day}", expiring the horizon after that day ends
 * (counted from the flush's newest event time): NB, then NB times key#, ttl, n, field,
 * value, ... Values: last event minute, channel, queue, tenant, agent, flags. */
static void build_attrs(sp_publisher *pub, const char *topic, const sp_flush_part *fp)
{
    argvb *k = &pub->keys, *a = &pub->args;
    pub->narefs = 0;
    sp_attrs_each_fresh(sp_partition_attrs(fp->p), collect_attr, pub);
    if (pub->narefs > 1)
        qsort(pub->arefs, pub->narefs, sizeof *pub->arefs, by_day);
    int64_t now_s = pub->now_event_ms / 1000, nb = 0;
    for (size_t i = 0; i < pub->narefs; i++)
        nb += i == 0 || pub->arefs[i].day != pub->arefs[i - 1].day;
    argv_addi(a, nb);
    for (size_t i = 0, j; i < pub->narefs; i = j) {
        int64_t day = pub->arefs[i].day, ttl = day + 86400 + attr_horizon_s(pub) - now_s;
        for (j = i; j < pub->narefs && pub->arefs[j].day == day; j++)
            ;
        argv_addf(k, "%s:attr:%s:%d:%" PRId64, pub->prefix, topic, fp->partition, day);
        argv_addi(a, (int64_t)k->argc);
        argv_addi(a, ttl > 3600 ? ttl : 3600);
        argv_addi(a, (int64_t)(j - i));
        for (size_t x = i; x < j; x++) {
            const sp_attr *e = pub->arefs[x].a;
            argv_addf(a, "%016" PRIx64, e->key);
            argv_addf(a, "%u\t%u\t%s\t%s\t%s\t%u", (unsigned)e->last_min, (unsigned)e->channel,
                      sp_partition_name(fp->p, SP_NAME_QUEUE, e->queue),
                      sp_partition_name(fp->p, SP_NAME_TENANT, e->tenant),
                      sp_partition_name(fp->p, SP_NAME_AGENT, e->agent),
                      (unsigned)(e->flags & ~SP_ATTR_FRESH));
        }
    }
}

/* One partition: fence, resume point, and its changed windows as partial hashes
 * "{p}:pw:{topic}:{partition}:{start}" with fields "<metric>:<dims>". */
static int build_partition(sp_publisher *pub, const char *topic, const sp_flush_part *fp)
{
    argvb *k = &pub->keys, *a = &pub->args;
    sp_partition *p = fp->p;
    argv_addf(a, "seq:%s:%d", topic, fp->partition);
    argv_addi(a, *fp->seq);
    argv_addf(a, "resume:%s:%d", topic, fp->partition);
    char counts[SP_PC__COUNT * 21 + 1];
    size_t used = 0;
    for (int i = 0; i < SP_PC__COUNT; i++)
        used += (size_t)snprintf(counts + used, sizeof counts - used, " %" PRIu64,
                                 fp->counts ? fp->counts[i] : 0);
    argv_addf(a, "%" PRId64 " %" PRId64 "%s", fp->next_offset, sp_partition_max_ts(p), counts);
    argv_addf(k, "%s:pidx:%s:%d", pub->prefix, topic, fp->partition);
    argv_addi(a, (int64_t)k->argc);
    sp_window_set *ws = sp_partition_windows(p);
    size_t nw = 0;
    for (size_t i = 0; i < ws->n; i++)
        nw += ws->w[i].ndirty > 0;
    argv_addi(a, (int64_t)nw);
    for (size_t i = 0; i < ws->n; i++) {
        sp_window *w = &ws->w[i];
        if (!w->ndirty)
            continue;
        argv_addf(k, "%s:pw:%s:%d:%" PRId64, pub->prefix, topic, fp->partition, w->start);
        argv_addi(a, (int64_t)k->argc);
        argv_addi(a, w->start);
        int64_t nf = 0;
        for (size_t j = 0; j < w->ncells; j++)
            nf += w->cells[j].dirty ? nonzero_fields(&w->cells[j].c) + sketch_fields(&w->cells[j]) : 0;
        argv_addi(a, nf);
        for (size_t j = 0; j < w->ncells; j++) {
            sp_cell *c = &w->cells[j];
            if (!c->dirty)
                continue;
            const char *dims = sp_partition_dims_key(p, c->dims_id);
            sp_counters d;
            int changed = 0;
            for (int m = 0; m < SP_M__COUNT; m++) {
                if (c->c.v[m]) {
                    argv_addf(a, "%s:%s", sp_metric_name((sp_metric)m), dims);
                    argv_addi(a, c->c.v[m]);
                }
                d.v[m] = c->c.v[m] - c->pub.v[m];
                changed |= d.v[m] != 0;
            }
            for (int dd = 0; dd < SP_D__COUNT; dd++)
                if (c->sk[dd].nb)
                    add_sketch_field(pub, a, &c->sk[dd], (sp_duration)dd, dims);
            for (int r = 0; changed && r < SP_NRES; r++)
                if (add_delta(pub, r, dims, res_start(w->start, r), &d, c) < 0)
                    return -1;
        }
    }
    build_cases(pub, topic, fp);
    build_ids(pub, topic, fp);
    build_attrs(pub, topic, fp);
    return 0;
}

/* The desk an agent's csat_smoothed leans toward: "agent=X" -> "all", "tenant=T|agent=X"
 * -> "tenant=T"; a desk is its own ("all", "tenant=T"). NULL for any other dims. Sets
 * *agent when dims is an agent's. */
static const char *desk_dims(const char *dims, size_t *len, int *agent)
{
    const char *bar = strstr(dims, "|agent=");
    int tenant = strncmp(dims, "tenant=", 7) == 0;
    *agent = 0;
    if (strcmp(dims, "all") == 0 || (tenant && !strchr(dims, '|'))) {
        *len = strlen(dims);
        return dims;
    }
    *agent = 1;
    if (strncmp(dims, "agent=", 6) == 0) {
        *len = 3;
        return "all";
    }
    if (tenant && bar && memchr(dims, '|', (size_t)(bar - dims)) == NULL) {
        *len = (size_t)(bar - dims);
        return dims;
    }
    return NULL;
}

/* For csat_smoothed: when the CSAT counts of a desk or an agent changed, the key# of
 * "{p}:csat_agents:{res}:{desk}:{start}" (the agents with surveys in that window) and,
 * for an agent, the key# of the desk's rollup; 0 0 otherwise. */
static void add_smoothing(sp_publisher *pub, const total_delta *t, const char *res)
{
    argvb *k = &pub->keys, *a = &pub->args;
    size_t len = 0;
    int agent;
    const char *desk = desk_dims(t->dims, &len, &agent);
    if (!desk || pub->conf.csat_prior_weight <= 0 ||
        !(t->d.v[SP_M_CSAT_RESPONSES] || t->d.v[SP_M_CSAT_POSITIVE])) {
        argv_addi(a, 0);
        argv_addi(a, 0);
        return;
    }
    argv_addf(k, "%s:csat_agents:%s:%.*s:%" PRId64, pub->prefix, res, (int)len, desk, t->start);
    argv_addi(a, (int64_t)k->argc);
    if (!agent) {
        argv_addi(a, 0);
        return;
    }
    argv_addf(k, "%s:r:%s:%.*s:%" PRId64, pub->prefix, res, (int)len, desk, t->start);
    argv_addi(a, (int64_t)k->argc);
}

static const double quantiles[3] = {0.5, 0.9, 0.99}; /* _p50, _p90, _p99 */

/* A bucket's field in a rollup's sketch hash: the duration's number times SKETCH_STRIDE
 * plus the bucket, a number that Redis keeps and compares as an integer (merge.lua has
 * the same STRIDE and numbers the durations as sp_duration does). */
#define SKETCH_STRIDE 100000
_Static_assert(SP_SKETCH_NBUCKETS < SKETCH_STRIDE, "a bucket fits below the stride");
static int64_t bucket_field(sp_duration d, uint16_t bucket)
{
    return (int64_t)d * SKETCH_STRIDE + bucket;
}

/* Merges a total's bucket changes into the writer's copy of the rollup's sketches (e)
 * and works out the percentiles to send. -1 when out of memory: the caller then drops
 * the copy and sends the rollup uncached. */
static int merge_copy(sp_skcache_entry *e, const total_delta *t, int64_t pct[][3])
{
    for (int d = 0; d < SP_D__COUNT; d++) {
        if (!t->dsk[d].nb)
            continue;
        if (sp_sketch_merge(&e->sk[d], &t->dsk[d]) < 0 ||
            sp_sketch_quantiles(&e->sk[d], quantiles, 3, pct[d]) < 0)
            return -1;
    }
    return 0;
}

/* The sketch part of a total (see merge.lua): sketch key#, expected and new version,
 * then per changed duration its name, bucket count, percentiles and (field, change,
 * new count) triples. All durations of a rollup share one hash, {p}:sk:{res}:{dims}:
 * {start}; a bucket's field is bucket_field(), and field "v" holds their version.
 * With no usable copy of the rollup's sketches the expected version is "*", which
 * never matches: the script merges the changes itself. A total with no changed
 * duration sends no key (0). */
static void add_sketches(sp_publisher *pub, const total_delta *t, const char *res,
                         const char *rollup, size_t rollup_len)
{
    argvb *k = &pub->keys, *a = &pub->args;
    int nd = sketch_durations(t);
    if (!nd) {
        argv_add(a, "0");
        argv_add(a, "-");
        argv_add(a, "-");
        argv_add(a, "0");
        return;
    }
    argv_addf(k, "%s:sk:%s:%s:%" PRId64, pub->prefix, res, t->dims, t->start);
    argv_addi(a, (int64_t)k->argc);
    int64_t pct[SP_D__COUNT][3];
    sp_skcache_entry *e =
        pub->skc ? sp_skcache_get(pub->skc, rollup, rollup_len, pub->flush_no) : NULL;
    if (e && e->shared && pub->flush_no - e->shared >= SP_SKCACHE_SHARED_FLUSHES) {
        e->shared = 0; /* try again: the other writer may have gone */
        e->misses = 0;
    }
    if (e && e->shared)
        e = NULL;
    if (e && merge_copy(e, t, pct) < 0) {
        sp_skcache_forget(pub->skc, rollup, rollup_len);
        e = NULL;
    }
    pub->stats.sketch_rollups++;
    pub->stats.sketch_copies += e != NULL;
    argv_add(a, e ? e->version : "*");
    argv_addf(a, "%s:%" PRIu64, pub->token, pub->flush_no);
    if (e)
        snprintf(e->version, sizeof e->version, "%s:%" PRIu64, pub->token, pub->flush_no);
    argv_addi(a, nd);
    for (int d = 0; d < SP_D__COUNT; d++) {
        if (!t->dsk[d].nb)
            continue;
        argv_add(a, sp_duration_name((sp_duration)d));
        argv_addi(a, t->dsk[d].nb);
        for (int q = 0; q < 3; q++)
            if (e)
                argv_addi(a, pct[d][q]);
            else
                argv_add(a, "-");
        for (uint32_t j = 0; j < t->dsk[d].nb; j++) {
            uint16_t idx = t->dsk[d].b[j].idx;
            argv_addi(a, bucket_field((sp_duration)d, idx));
            argv_addi(a, t->dsk[d].b[j].n);
            argv_addi(a, e ? sp_sketch_get(&e->sk[d], idx) : t->dsk[d].b[j].n);
        }
    }
}

/* Totals: NT, m (the prior weight of csat_smoothed), then per total its rollup, index,
 * ttl, start, changed counts, smoothing keys (add_smoothing) and its sketch bucket
 * changes (add_sketches). */
static void build_totals(sp_publisher *pub)
{
    argvb *k = &pub->keys, *a = &pub->args;
    argv_addi(a, (int64_t)pub->ntotals);
    argv_addi(a, pub->conf.csat_prior_weight);
    for (size_t i = 0; i < pub->ntotals; i++) {
        const total_delta *t = &pub->totals[i];
        const char *res = sp_res_names[t->res];
        char rollup[SP_DIMS_MAX + 256];
        int rl = snprintf(rollup, sizeof rollup, "%s:r:%s:%s:%" PRId64, pub->prefix, res,
                          t->dims, t->start);
        if (rl < 0 || (size_t)rl >= sizeof rollup) {
            k->failed = 1;
            return;
        }
        argv_addn(k, rollup, (size_t)rl);
        argv_addi(a, (int64_t)k->argc);
        argv_addf(k, "%s:ts:%s:%s", pub->prefix, res, t->dims);
        argv_addi(a, (int64_t)k->argc);
        argv_addi(a, pub->conf.ttl_s[t->res]);
        argv_addi(a, t->start);
        argv_addi(a, nonzero_fields(&t->d));
        for (int m = 0; m < SP_M__COUNT; m++)
            if (t->d.v[m]) {
                argv_add(a, sp_metric_name((sp_metric)m));
                argv_addi(a, t->d.v[m]);
            }
        add_smoothing(pub, t, res);
        add_sketches(pub, t, res, rollup, (size_t)rl);
    }
}

/* The live hashes to recompute: dims, gauge deltas, per-partition oldest changes. */
static void build_lives(sp_publisher *pub, const char *topic)
{
    argvb *a = &pub->args;
    int64_t n = 0;
    for (size_t i = 0; i < pub->nlives; i++)
        n += pub->lives[i].refresh;
    argv_addi(a, n);
    for (size_t i = 0; i < pub->nlives; i++) {
        const live_delta *l = &pub->lives[i];
        if (!l->refresh)
            continue;
        argv_add(a, l->dims);
        argv_addi(a, l->d[SP_G_IN_QUEUE]);
        argv_addi(a, l->d[SP_G_BACKLOG]);
        argv_addi(a, (int64_t)l->noldest);
        for (size_t j = l->oldest_first + 1, c = 0; j && c < l->noldest; c++) {
            const oldest_change *o = &pub->oldest[j - 1];
            argv_addf(a, "%s:%d", topic, o->partition);
            if (o->ts == INT64_MAX)
                argv_add(a, "-");
            else
                argv_addi(a, o->ts);
            j = o->next;
        }
    }
}

/* Whether the packed queue q of e was listed before it. */
static int repeated_queue(const sp_presence *e, const char *q)
{
    for (const char *r = e->queues; r < q; r += strlen(r) + 1)
        if (strcmp(r, q) == 0)
            return 1;
    return 0;
}

/* Adds dims of (tenant, queue) to the argv; tenant NULL = without one. */
static void add_dims(argvb *a, const char *tenant, const char *queue)
{
    char dims[SP_DIMS_MAX];
    if (sp_dims_format(tenant, queue, NULL, NULL, dims, sizeof dims) < 0)
        a->failed = 1; /* cannot happen: names are at most 64 bytes */
    else
        argv_add(a, dims);
}

/* One presence update: the agent's dims key, ts, status, then the live dims it counts
 * in: all and each distinct queue, with and without a tenant other than default. */
static void add_presence(argvb *a, const sp_presence *e)
{
    const char *tenant = strcmp(e->tenant, "default") == 0 ? NULL : e->tenant;
    char key[SP_DIMS_MAX];
    if (sp_dims_format(tenant, NULL, NULL, e->agent, key, sizeof key) < 0) {
        a->failed = 1;
        return;
    }
    int per = tenant ? 2 : 1, nd = per;
    const char *q = e->queues;
    for (int k = 0; k < e->nqueues; k++, q += strlen(q) + 1)
        nd += repeated_queue(e, q) ? 0 : per;
    argv_add(a, key);
    argv_addi(a, e->ts_ms);
    argv_add(a, sp_agent_status_name(e->status));
    argv_addi(a, nd);
    add_dims(a, NULL, NULL);
    if (tenant)
        add_dims(a, tenant, NULL);
    q = e->queues;
    for (int k = 0; k < e->nqueues; k++, q += strlen(q) + 1) {
        if (repeated_queue(e, q))
            continue;
        add_dims(a, NULL, q);
        if (tenant)
            add_dims(a, tenant, q);
    }
}

/* Agent presence of every partition of the flush. */
static void build_presence(sp_publisher *pub, const sp_flush_part *parts, int n)
{
    argvb *a = &pub->args;
    size_t total = 0, m;
    for (int i = 0; i < n; i++) {
        sp_presence_list(sp_partition_presence(parts[i].p), &m);
        total += m;
    }
    argv_addi(a, (int64_t)total);
    for (int i = 0; i < n; i++) {
        const sp_presence *e = sp_presence_list(sp_partition_presence(parts[i].p), &m);
        for (size_t j = 0; j < m; j++)
            add_presence(a, &e[j]);
    }
}

static void reset_flush(sp_publisher *pub)
{
    for (size_t i = 0; i < pub->ntotals; i++)
        for (int d = 0; d < SP_D__COUNT; d++)
            sp_sketch_free(&pub->totals[i].dsk[d]);
    pub->ntotals = pub->nlives = pub->noldest = 0;
    pub->now_event_ms = INT64_MIN;
    sp_strmap_destroy(pub->total_index);
    sp_strmap_destroy(pub->live_index);
    pub->total_index = sp_strmap_new(1024);
    pub->live_index = sp_strmap_new(256);
}

/* EVALSHA sha numkeys KEYS... ARGV... for the whole flush. */
static int build_script(sp_publisher *pub, const char *topic, const sp_flush_part *parts,
                        int n)
{
    argvb *k = &pub->keys, *a = &pub->args, *cmd = &pub->cmd;
    argv_reset(k);
    argv_reset(a);
    reset_flush(pub);
    if (!pub->total_index || !pub->live_index)
        return -1;
    pub->flush_no++; /* a new version for every flush built */
    int64_t state_s = (pub->conf.lateness_ms + pub->conf.retention_ms) / 1000;
    int64_t partial_ttl = pub->conf.ttl_s[0] > 2 * state_s + 600 ? pub->conf.ttl_s[0]
                                                                 : 2 * state_s + 600;
    for (int i = 0; i < n; i++)
        if (sp_partition_max_ts(parts[i].p) > pub->now_event_ms)
            pub->now_event_ms = sp_partition_max_ts(parts[i].p);
    argv_addf(k, "%s:meta", pub->prefix);
    argv_addi(a, sp_wall_ms());
    argv_addf(a, "%s:updates", pub->prefix);
    argv_addi(a, partial_ttl);
    argv_add(a, pub->prefix);
    argv_addi(a, pub->now_event_ms == INT64_MIN ? sp_wall_ms() : pub->now_event_ms);
    argv_add(a, pub->count_names);
    argv_addi(a, n);
    for (int i = 0; i < n; i++)
        if (build_partition(pub, topic, &parts[i]) < 0 || add_gauges(pub, &parts[i]) < 0)
            return -1;
    for (size_t i = 0; i < pub->ntotals; i++) {
        live_delta *l = pub->totals[i].res == 0 && has_live(pub->totals[i].dims)
                            ? live_get(pub, pub->totals[i].dims) : NULL;
        if (l)
            l->refresh = 1;
        else if (pub->totals[i].res == 0 && has_live(pub->totals[i].dims))
            return -1;
    }
    build_totals(pub);
    build_lives(pub, topic);
    build_presence(pub, parts, n);
    argv_reset(cmd);
    argv_add(cmd, "EVALSHA");
    argv_add(cmd, pub->sha);
    argv_addi(cmd, (int64_t)k->argc);
    argv_cat(cmd, k);
    argv_cat(cmd, a);
    return cmd->failed ? -1 : 0;
}

/* ---- the writer's sketch copies after a flush ---------------------------------------- */

/* A rollup the script did not trust: its copy is emptied and read back after the flush,
 * unless it missed too often lately (another writer writes it too). */
static void copy_missed(sp_publisher *pub, const char *key, size_t len)
{
    sp_skcache_entry *e = sp_skcache_find(pub->skc, key, len);
    if (!e || e->shared) /* sent without a copy: the script was expected to merge */
        return;
    pub->stats.sketch_misses++;
    sp_skcache_reset(e);
    e->misses = e->last_miss && pub->flush_no - e->last_miss <= 64 ? e->misses + 1 : 1;
    e->last_miss = pub->flush_no;
    if (e->misses >= SP_SKCACHE_SHARED_AFTER) {
        e->shared = pub->flush_no;
        pub->stats.sketch_shared++;
        return;
    }
    if (grow((void **)&pub->reload, &pub->capreload, pub->nreload + 1, sizeof *pub->reload) < 0)
        sp_skcache_forget(pub->skc, key, len);
    else
        pub->reload[pub->nreload++] = e;
}

/* The flush's reply: 0 when it had been applied already (what Redis holds is then not
 * what the copies say: all are dropped), else {1, rollups the script did not trust}. */
static void drop_copies(sp_publisher *pub);

static void on_flush_reply(sp_publisher *pub, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY) {
        drop_copies(pub);
        return;
    }
    for (size_t j = 1; j < r->elements; j++)
        if (r->element[j]->type == REDIS_REPLY_STRING)
            copy_missed(pub, r->element[j]->str, r->element[j]->len);
}

/* Adds one field of a sketch hash (bucket_field() = count) to e. -1 when the field or
 * the count is malformed, or on no memory. */
static int fill_bucket(sp_skcache_entry *e, const redisReply *f, const redisReply *c)
{
    char *end;
    unsigned long field = strtoul(f->str, &end, 10);
    unsigned long d = field / SKETCH_STRIDE, idx = field % SKETCH_STRIDE;
    unsigned long long n = strtoull(c->str, NULL, 10);
    if (end == f->str || *end || d >= SP_D__COUNT || idx >= SP_SKETCH_NBUCKETS ||
        n > UINT32_MAX)
        return -1;
    return sp_sketch_add_bucket(&e->sk[d], (uint16_t)idx, (uint32_t)n);
}

/* Fills e from the reply of HGETALL {p}:sk:... (its version in field "v"). -1 on a
 * malformed reply or no memory. */
static int fill_copy(sp_skcache_entry *e, const redisReply *h)
{
    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2)
        return -1;
    for (size_t j = 0; j < h->elements; j += 2) {
        const redisReply *f = h->element[j], *c = h->element[j + 1];
        if (f->type != REDIS_REPLY_STRING || c->type != REDIS_REPLY_STRING)
            return -1;
        if (f->len == 1 && f->str[0] == 'v') {
            if (c->len >= sizeof e->version)
                return -1;
            memcpy(e->version, c->str, c->len + 1);
        } else if (fill_bucket(e, f, c) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Appends HGETALL of the sketch hash of the rollup key (prefix:r:rest): its buckets and
 * version in one read, so they agree. 0 or -1. */
static int append_reload(sp_publisher *pub, const sp_skcache_entry *e)
{
    const char *rest = e->key + strlen(pub->prefix) + 3;
    return redisAppendCommand(pub->rc, "HGETALL %s:sk:%s", pub->prefix, rest) == REDIS_OK
               ? 0
               : -1;
}

/* Drops every copy: the next flush sends each rollup as new, and the script's reply
 * names those it must read back. */
static void drop_copies(sp_publisher *pub)
{
    sp_skcache_clear(pub->skc);
    pub->stats.sketch_clears++;
    pub->nreload = 0;
}

/* Reads back the copies of the rollups the flush's script did not trust, in one round
 * trip. The flush has succeeded already: a failure here only drops copies. */
static void reload_copies(sp_publisher *pub)
{
    for (size_t i = 0; i < pub->nreload; i++)
        if (append_reload(pub, pub->reload[i]) < 0) { /* no memory: out of step now */
            disconnect(pub);
            drop_copies(pub);
            return;
        }
    for (size_t i = 0; i < pub->nreload; i++) {
        sp_skcache_entry *e = pub->reload[i];
        redisReply *r = NULL;
        if (redisGetReply(pub->rc, (void **)&r) != REDIS_OK || !r) {
            disconnect(pub); /* the next flush reconnects */
            drop_copies(pub);
            return;
        }
        int ok = fill_copy(e, r) == 0;
        freeReplyObject(r);
        if (ok)
            pub->stats.sketch_reloads++;
        else
            sp_skcache_forget(pub->skc, e->key, e->len);
    }
    pub->nreload = 0;
}

int sp_publisher_flush(sp_publisher *pub, const char *topic, const sp_flush_part *parts,
                       int n, int32_t *stale_partition, char *errstr, size_t errstr_size)
{
    *stale_partition = -1;
    if (sp_publisher_connect(pub, errstr, errstr_size) < 0)
        return -1;
    if (build_script(pub, topic, parts, n) < 0) {
        drop_copies(pub); /* versions were set that no flush carried */
        snprintf(errstr, errstr_size, "out of memory building a flush of %d partitions", n);
        return -1;
    }
    /* one script call: everything lands together, after the fences, or nothing does */
    int pending = 0, written = 0;
    sp_crashpoint(SP_CRASH_FLUSH_BEFORE_SEND);
    if (send_argv(pub, &pub->cmd, &pending) < 0) {
        snprintf(errstr, errstr_size, "redis %s: cannot send a flush of %d partitions",
                 pub->address, n);
        disconnect(pub); /* a half-sent pipeline must not be completed */
        drop_copies(pub);
        return -1;
    }
    while (!written && redisBufferWrite(pub->rc, &written) == REDIS_OK)
        ; /* on to the socket now (an error shows when the reply is read) */
    sp_crashpoint(SP_CRASH_FLUSH_SENT);
    int stale = 0;
    pub->nreload = 0;
    if (read_replies(pub, pending, &stale, on_flush_reply, errstr, errstr_size) < 0) {
        drop_copies(pub); /* what Redis holds now is not known */
        const char *seq = stale ? strstr(errstr, "seq:") : NULL;
        const char *colon = seq ? strrchr(seq, ':') : NULL;
        if (colon) /* "seq:<topic>:<partition> is at ..." */
            *stale_partition = (int32_t)strtol(colon + 1, NULL, 10);
        return -1;
    }
    for (int i = 0; i < n; i++)
        (*parts[i].seq)++;
    reload_copies(pub);
    if (pub->flush_no % 64 == 0)
        sp_skcache_trim(pub->skc, pub->flush_no, SP_SKCACHE_IDLE_FLUSHES, SP_SKCACHE_BUCKETS);
    return 0;
}

int sp_publisher_meta(sp_publisher *pub, const char *const *counters, const int64_t *deltas,
                      size_t n, const char *const *fields, const char *const *values, size_t m,
                      char *errstr, size_t errstr_size)
{
    if (sp_publisher_connect(pub, errstr, errstr_size) < 0)
        return -1;
    int pending = 0;
    argvb *a = &pub->args;
    for (size_t i = 0; i < n + m; i++) {
        if (i < n && deltas[i] == 0)
            continue;
        argv_reset(a);
        argv_add(a, i < n ? "HINCRBY" : "HSET");
        argv_addf(a, "%s:meta", pub->prefix);
        argv_add(a, i < n ? counters[i] : fields[i - n]);
        if (i < n)
            argv_addi(a, deltas[i]);
        else
            argv_add(a, values[i - n]);
        if (send_argv(pub, a, &pending) < 0) {
            disconnect(pub);
            snprintf(errstr, errstr_size, "redis %s: cannot send meta", pub->address);
            return -1;
        }
    }
    return read_replies(pub, pending, NULL, NULL, errstr, errstr_size);
}

/* ---- restore ----------------------------------------------------------------------- */

static redisReply *command(sp_publisher *pub, char *errstr, size_t errstr_size, int argc,
                           const char **argv, const size_t *len)
{
    redisReply *r = redisCommandArgv(pub->rc, argc, argv, len);
    if (!r) {
        snprintf(errstr, errstr_size, "redis %s: %s", pub->address, pub->rc->errstr);
        disconnect(pub);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errstr_size, "redis %s: %s", pub->address, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static redisReply *commandf(sp_publisher *pub, char *errstr, size_t errstr_size, int argc, ...)
{
    const char *argv[8];
    size_t len[8];
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 8; i++) {
        argv[i] = va_arg(ap, const char *);
        len[i] = strlen(argv[i]);
    }
    va_end(ap);
    return command(pub, errstr, errstr_size, argc, argv, len);
}

/* A field "sk:<duration>:<dims>" of a partial. */
static int restore_sketch(sp_partition *p, int64_t start, char *name, const char *text)
{
    char *colon = strchr(name, ':');
    if (!colon)
        return 0;
    *colon = '\0';
    int d = sp_duration_parse(name);
    return d < 0 ? 0 : sp_partition_restore_sketch(p, start, colon + 1, (sp_duration)d, text);
}

/* The partials of windows still within retention: one hash per window, fields
 * "<metric>:<dims>" and "sk:<duration>:<dims>". */
static int restore_cells(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, char *errstr, size_t errstr_size)
{
    char pidx[512], floor_s[32];
    snprintf(pidx, sizeof pidx, "%s:pidx:%s:%d", pub->prefix, topic, partition);
    int64_t wm = sp_partition_watermark(p);
    int64_t state_s = (pub->conf.lateness_ms + pub->conf.retention_ms) / 1000;
    snprintf(floor_s, sizeof floor_s, "%" PRId64, wm / 1000 - state_s - 2 * SP_WINDOW_S);
    redisReply *starts = commandf(pub, errstr, errstr_size, 4, "ZRANGEBYSCORE", pidx, floor_s,
                                  "+inf");
    if (!starts)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < starts->elements && rc == 0; i++) {
        int64_t start = strtoll(starts->element[i]->str, NULL, 10);
        char key[512];
        snprintf(key, sizeof key, "%s:pw:%s:%d:%" PRId64, pub->prefix, topic, partition, start);
        redisReply *h = commandf(pub, errstr, errstr_size, 2, "HGETALL", key);
        if (!h) {
            rc = -1;
            break;
        }
        for (size_t j = 0; j + 1 < h->elements && rc == 0; j += 2) {
            char *f = h->element[j]->str, *colon = strchr(f, ':');
            if (!colon)
                continue;
            if (strncmp(f, "sk:", 3) == 0) {
                rc = restore_sketch(p, start, f + 3, h->element[j + 1]->str);
                if (rc < 0)
                    snprintf(errstr, errstr_size, "restoring partition %d: bad sketch %s", partition, f);
                continue;
            }
            *colon = '\0';
            int metric = sp_metric_parse(f);
            if (metric >= 0 &&
                sp_partition_restore_value(p, start, colon + 1, (sp_metric)metric,
                                           strtoll(h->element[j + 1]->str, NULL, 10)) < 0) {
                snprintf(errstr, errstr_size, "out of memory restoring partition %d", partition);
                rc = -1;
            }
        }
        freeReplyObject(h);
    }
    freeReplyObject(starts);
    return rc;
}

/* Splits value (copied into buf) at tabs into at most nf fields; returns how many. */
static int split_tabs(const char *value, char *buf, size_t size, char **f, int nf)
{
    snprintf(buf, size, "%s", value);
    char *s = buf;
    int n = 0;
    while (s && n < nf) {
        f[n++] = s;
        char *tab = strchr(s, '\t');
        if (tab)
            *tab = '\0';
        s = tab ? tab + 1 : NULL;
    }
    return n;
}

/* One case as written by add_case: last_ts, channel, queue, tenant, agent, start_ts,
 * t1, t2, acw_ms, flags, replies, tab-separated (the first five are enough: a value
 * written before the correlation fields existed restores without them). */
static int restore_one_case(sp_partition *p, const char *field, const char *value)
{
    enum { NF = 11 };
    char buf[768], *f[NF] = {0};
    int n = split_tabs(value, buf, sizeof buf, f, NF);
    sp_case rec = {0};
    rec.key = strtoull(field, NULL, 16);
    if (n < 5 || !rec.key)
        return 0; /* malformed: skip */
    rec.last_ts = strtoll(f[0], NULL, 10);
    rec.channel = (uint8_t)atoi(f[1]);
    if (n == NF) {
        rec.start_ts = strtoll(f[5], NULL, 10);
        rec.t1 = strtoll(f[6], NULL, 10);
        rec.t2 = strtoll(f[7], NULL, 10);
        rec.acw_ms = (uint32_t)strtoul(f[8], NULL, 10);
        rec.flags = (uint16_t)strtoul(f[9], NULL, 10);
        rec.replies = (uint8_t)strtoul(f[10], NULL, 10);
    }
    return sp_partition_restore_case(p, &rec, f[2], f[3], f[4]);
}

/* One attribution entry as written by build_attrs. */
static int restore_one_attr(sp_partition *p, const char *field, const char *value)
{
    enum { NF = 6 };
    char buf[768], *f[NF] = {0};
    int n = split_tabs(value, buf, sizeof buf, f, NF);
    sp_attr rec = {0};
    rec.key = strtoull(field, NULL, 16);
    if (n < NF || !rec.key)
        return 0; /* malformed: skip */
    rec.last_min = (uint32_t)strtoul(f[0], NULL, 10);
    rec.channel = (uint8_t)atoi(f[1]);
    rec.flags = (uint8_t)(strtoul(f[5], NULL, 10) & ~SP_ATTR_FRESH);
    return sp_partition_restore_attr(p, &rec, f[2], f[3], f[4]);
}

/* Calls fn(p, field, value) for every field of the hash key (HSCAN, so a large hash
 * does not block Redis). -1 with errstr on a Redis error or when fn fails. */
static int hscan_each(sp_publisher *pub, const char *key, sp_partition *p,
                      int (*fn)(sp_partition *p, const char *field, const char *value),
                      char *errstr, size_t errstr_size)
{
    char cursor[32] = "0";
    do {
        redisReply *r = commandf(pub, errstr, errstr_size, 5, "HSCAN", key, cursor, "COUNT",
                                 "2000");
        if (!r)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            snprintf(errstr, errstr_size, "redis %s: unexpected HSCAN reply", pub->address);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *kv = r->element[1];
        for (size_t j = 0; j + 1 < kv->elements; j += 2)
            if (fn(p, kv->element[j]->str, kv->element[j + 1]->str) < 0) {
                freeReplyObject(r);
                snprintf(errstr, errstr_size, "out of memory restoring %s", key);
                return -1;
            }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int restore_cases(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, char *errstr, size_t errstr_size)
{
    char key[512];
    snprintf(key, sizeof key, "%s:cases:%s:%d", pub->prefix, topic, partition);
    return hscan_each(pub, key, p, restore_one_case, errstr, errstr_size);
}

/* The attribution hashes of the days within the horizon of the partition's newest
 * event, then the store put back in order of time. */
static int restore_attrs(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, char *errstr, size_t errstr_size)
{
    if (sp_partition_max_ts(p) == INT64_MIN)
        return 0;
    int64_t max_s = sp_partition_max_ts(p) / 1000;
    for (int64_t day = (max_s - attr_horizon_s(pub)) / 86400 * 86400; day <= max_s;
         day += 86400) {
        char key[512];
        snprintf(key, sizeof key, "%s:attr:%s:%d:%" PRId64, pub->prefix, topic, partition, day);
        if (hscan_each(pub, key, p, restore_one_attr, errstr, errstr_size) < 0)
            return -1;
    }
    if (sp_partition_restore_attrs_done(p) < 0) {
        snprintf(errstr, errstr_size, "out of memory restoring attributions");
        return -1;
    }
    return 0;
}

/* The journal of event ids: binary values of 16-byte records (hash, event time). */
static int restore_ids(sp_publisher *pub, const char *topic, int32_t partition,
                       sp_partition *p, char *errstr, size_t errstr_size)
{
    char key[512];
    snprintf(key, sizeof key, "%s:ids:%s:%d", pub->prefix, topic, partition);
    redisReply *r = commandf(pub, errstr, errstr_size, 4, "LRANGE", key, "0", "-1");
    if (!r)
        return -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const unsigned char *b = (const unsigned char *)r->element[i]->str;
        for (size_t off = 0; b && off + 16 <= r->element[i]->len; off += 16) {
            uint64_t h = 0, ts = 0;
            for (int k = 0; k < 8; k++) {
                h |= (uint64_t)b[off + k] << (8 * k);
                ts |= (uint64_t)b[off + 8 + k] << (8 * k);
            }
            sp_partition_restore_id(p, h, (int64_t)ts);
        }
    }
    freeReplyObject(r);
    return 0;
}

static int64_t restore_seq(sp_publisher *pub, const char *meta, const char *topic,
                           int32_t partition, char *errstr, size_t errstr_size)
{
    char field[512];
    snprintf(field, sizeof field, "seq:%s:%d", topic, partition);
    redisReply *r = commandf(pub, errstr, errstr_size, 3, "HGET", meta, field);
    if (!r)
        return -1;
    int64_t seq = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    freeReplyObject(r);
    return seq;
}

/* The counts after "<offset> <newest event time>" in a resume point; missing ones (a
 * point written before counts were kept) are 0, which is also what the script takes
 * them for, so the totals stay right. */
static void parse_counts(const char *s, uint64_t *counts)
{
    for (int i = 0; i < SP_PC__COUNT; i++) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        counts[i] = end == s ? 0 : (uint64_t)v;
        s = end;
    }
}

int sp_publisher_restore(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, int64_t *next_offset, int64_t *seq,
                         uint64_t *counts, char *errstr, size_t errstr_size)
{
    *next_offset = -1;
    if (sp_publisher_connect(pub, errstr, errstr_size) < 0)
        return -1;
    char meta[512], field[512];
    snprintf(meta, sizeof meta, "%s:meta", pub->prefix);
    snprintf(field, sizeof field, "resume:%s:%d", topic, partition);
    if ((*seq = restore_seq(pub, meta, topic, partition, errstr, errstr_size)) < 0)
        return -1;
    redisReply *r = commandf(pub, errstr, errstr_size, 3, "HGET", meta, field);
    if (!r)
        return -1;
    long long off = -1, max_ts = 0;
    int used = 0;
    int found = r->type == REDIS_REPLY_STRING &&
                sscanf(r->str, "%lld %lld%n", &off, &max_ts, &used) == 2;
    if (counts)
        parse_counts(found ? r->str + used : "", counts);
    freeReplyObject(r);
    if (!found)
        return 0;
    if (max_ts != INT64_MIN)
        sp_partition_restore_max_ts(p, max_ts);
    if (restore_cells(pub, topic, partition, p, errstr, errstr_size) < 0 ||
        restore_cases(pub, topic, partition, p, errstr, errstr_size) < 0 ||
        restore_attrs(pub, topic, partition, p, errstr, errstr_size) < 0 ||
        restore_ids(pub, topic, partition, p, errstr, errstr_size) < 0)
        return -1;
    sp_partition_published(p, INT64_MIN); /* restored state is already in Redis */
    *next_offset = off;
    return 0;
}
