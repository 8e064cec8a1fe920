/*
 * redis_publisher.c - see redis_publisher.h for the key layout and the protocol.
 *
 * A flush is built as one pipeline: MULTI, an EVALSHA per dirty cell, HSET/HDEL of
 * changed cases, the resume point (through the script), EXEC. Replies are then read
 * in order; any error leaves the partition dirty so the next flush sends it again.
 */
#include "supportpulse/redis_publisher.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/log.h"

extern const char sp_merge_lua[];

const char *const sp_res_names[SP_NRES] = {"1m", "5m", "15m", "1h", "1d"};
const int64_t sp_res_seconds[SP_NRES] = {60, 300, 900, 3600, 86400};

#define MAX_ARGS 520
#define ARGBUF 65536
#define CASE_BATCH 250 /* pairs per HSET: 2 + 2 * 250 args <= MAX_ARGS */


/* An argv under construction; strings are copied into buf. */
typedef struct {
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
    int argc;
    char buf[ARGBUF];
    size_t used;
    int overflow;
} args;

static void args_reset(args *a)
{
    a->argc = 0;
    a->used = 0;
    a->overflow = 0;
}

static void args_addn(args *a, const char *s, size_t n)
{
    if (a->argc == MAX_ARGS || a->used + n + 1 > ARGBUF) {
        a->overflow = 1;
        return;
    }
    char *dst = a->buf + a->used;
    memcpy(dst, s, n);
    dst[n] = '\0';
    a->argv[a->argc] = dst;
    a->len[a->argc++] = n;
    a->used += n + 1;
}

static void args_add(args *a, const char *s) { args_addn(a, s, strlen(s)); }

static void args_addf(args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void args_addf(args *a, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        a->overflow = 1;
        return;
    }
    args_addn(a, tmp, (size_t)n);
}

typedef struct {
    sp_publisher *pub;
    const char *topic;
    int32_t partition;
    sp_partition *p;
    int pending;
    int failed;
    int64_t now_ms, pidx_floor, partial_ttl;
    args a;
    int ncase;
} flush_ctx;

struct sp_publisher {
    sp_publisher_conf conf;
    char *address, *prefix;
    redisContext *rc;
    char sha[41];
    uint64_t commands;
    flush_ctx f; /* scratch for one flush: its 64 KB argument buffer lives here */
};

static int append(sp_publisher *pub, args *a, int *pending)
{
    if (a->overflow)
        return -1;
    if (redisAppendCommandArgv(pub->rc, a->argc, a->argv, a->len) != REDIS_OK)
        return -1;
    (*pending)++;
    pub->commands++;
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------- */

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
    return pub;
}

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
    free(pub->address);
    free(pub->prefix);
    free(pub);
}

int sp_publisher_connected(const sp_publisher *pub) { return pub->rc != NULL; }

static struct timeval ms_tv(int ms) { return (struct timeval){ms / 1000, (ms % 1000) * 1000}; }

static redisContext *open_context(const sp_publisher *pub)
{
    struct timeval tv = ms_tv(pub->conf.connect_timeout_ms);
    if (strncmp(pub->address, "unix:", 5) == 0)
        return redisConnectUnixWithTimeout(pub->address + 5, tv);
    char host[256];
    const char *colon = strrchr(pub->address, ':');
    size_t hl = colon ? (size_t)(colon - pub->address) : strlen(pub->address);
    if (hl >= sizeof host)
        hl = sizeof host - 1;
    memcpy(host, pub->address, hl);
    host[hl] = '\0';
    return redisConnectWithTimeout(host, colon ? atoi(colon + 1) : 6379, tv);
}

int sp_publisher_connect(sp_publisher *pub, char *errstr, size_t errstr_size)
{
    if (pub->rc)
        return 0;
    pub->rc = open_context(pub);
    if (!pub->rc || pub->rc->err) {
        snprintf(errstr, errstr_size, "redis %s: %s", pub->address,
                 pub->rc ? pub->rc->errstr : "cannot allocate context");
        disconnect(pub);
        return -1;
    }
    redisSetTimeout(pub->rc, ms_tv(pub->conf.command_timeout_ms));
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

/* Reads n replies; -1 and errstr on the first error (all are read regardless, so the
 * connection stays in step; a broken connection is closed). */
static int read_replies(sp_publisher *pub, int n, char *errstr, size_t errstr_size)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(pub->rc, (void **)&r) != REDIS_OK || !r) {
            snprintf(errstr, errstr_size, "redis %s: %s", pub->address, pub->rc->errstr);
            disconnect(pub);
            return -1;
        }
        int bad = r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_NIL;
        for (size_t j = 0; !bad && r->type == REDIS_REPLY_ARRAY && j < r->elements; j++)
            bad = r->element[j]->type == REDIS_REPLY_ERROR;
        if (bad && rc == 0) {
            snprintf(errstr, errstr_size, "redis %s: %s", pub->address,
                     r->type == REDIS_REPLY_ERROR ? r->str : "transaction failed");
            rc = -1;
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

static void append_cell(flush_ctx *f, int64_t start, const sp_cell *cell)
{
    const char *pf = f->pub->prefix;
    const char *dims = sp_partition_dims_key(f->p, cell->dims_id);
    args *a = &f->a;
    args_reset(a);
    args_add(a, "EVALSHA");
    args_add(a, f->pub->sha);
    args_add(a, "12");
    args_addf(a, "%s:pp:%s:%d:%s:%" PRId64, pf, f->topic, f->partition, dims, start);
    for (int r = 0; r < SP_NRES; r++)
        args_addf(a, "%s:r:%s:%s:%" PRId64, pf, sp_res_names[r], dims, res_start(start, r));
    for (int r = 0; r < SP_NRES; r++)
        args_addf(a, "%s:ts:%s:%s", pf, sp_res_names[r], dims);
    args_addf(a, "%s:pidx:%s:%d", pf, f->topic, f->partition);
    args_add(a, "cell");
    args_addf(a, "%" PRId64, f->now_ms);
    for (int r = 0; r < SP_NRES; r++)
        args_addf(a, "%" PRId64, f->pub->conf.ttl_s[r]);
    for (int r = 0; r < SP_NRES; r++)
        args_addf(a, "%" PRId64, res_start(start, r));
    args_addf(a, "%" PRId64 " %s", start, dims);
    args_addf(a, "%" PRId64, f->partial_ttl);
    args_addf(a, "%s:updates", pf);
    args_addf(a, "%" PRId64, f->pidx_floor);
    for (int m = 0; m < SP_M__COUNT; m++) {
        args_add(a, sp_metric_name((sp_metric)m));
        args_addf(a, "%" PRId64, cell->c.v[m]);
    }
    if (append(f->pub, a, &f->pending) < 0)
        f->failed = 1;
}

static void cases_begin(flush_ctx *f, const char *cmd)
{
    args_reset(&f->a);
    args_add(&f->a, cmd);
    args_addf(&f->a, "%s:cases:%s:%d", f->pub->prefix, f->topic, f->partition);
    f->ncase = 0;
}

static void cases_end(flush_ctx *f)
{
    if (f->ncase > 0 && append(f->pub, &f->a, &f->pending) < 0)
        f->failed = 1;
    f->ncase = 0;
}

static void add_case(const sp_case *k, void *arg)
{
    flush_ctx *f = arg;
    if (f->ncase == CASE_BATCH || f->a.used > ARGBUF - 1024) {
        cases_end(f);
        cases_begin(f, "HSET");
    }
    args_addf(&f->a, "%016" PRIx64, k->key);
    args_addf(&f->a, "%" PRId64 "\t%d\t%s\t%s\t%s", k->last_ts, k->channel,
              sp_partition_name(f->p, SP_NAME_QUEUE, k->queue),
              sp_partition_name(f->p, SP_NAME_TENANT, k->tenant),
              sp_partition_name(f->p, SP_NAME_AGENT, k->agent));
    f->ncase++;
}

static void del_case(uint64_t key, void *arg)
{
    flush_ctx *f = arg;
    if (f->ncase == CASE_BATCH) {
        cases_end(f);
        cases_begin(f, "HDEL");
    }
    args_addf(&f->a, "%016" PRIx64, key);
    f->ncase++;
}

static void append_resume(flush_ctx *f, int64_t next_offset)
{
    args *a = &f->a;
    args_reset(a);
    args_add(a, "EVALSHA");
    args_add(a, f->pub->sha);
    args_add(a, "1");
    args_addf(a, "%s:meta", f->pub->prefix);
    args_add(a, "meta");
    args_addf(a, "resume:%s:%d", f->topic, f->partition);
    args_addf(a, "%" PRId64 " %" PRId64, next_offset, sp_partition_max_ts(f->p));
    if (append(f->pub, a, &f->pending) < 0)
        f->failed = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void append_plain(flush_ctx *f, const char *cmd)
{
    args_reset(&f->a);
    args_add(&f->a, cmd);
    if (append(f->pub, &f->a, &f->pending) < 0)
        f->failed = 1;
}

int sp_publisher_flush(sp_publisher *pub, const char *topic, int32_t partition,
                       sp_partition *p, int64_t next_offset, char *errstr, size_t errstr_size)
{
    if (sp_publisher_connect(pub, errstr, errstr_size) < 0)
        return -1;
    flush_ctx *f = &pub->f;
    memset(f, 0, sizeof *f);
    f->pub = pub;
    f->topic = topic;
    f->partition = partition;
    f->p = p;
    f->now_ms = now_ms();
    int64_t window_state_s = (pub->conf.lateness_ms + pub->conf.retention_ms) / 1000;
    f->partial_ttl = pub->conf.ttl_s[0] > 2 * window_state_s + 600 ? pub->conf.ttl_s[0]
                                                                   : 2 * window_state_s + 600;
    int64_t wm = sp_partition_watermark(p);
    f->pidx_floor = wm == INT64_MIN ? 0 : wm / 1000 - window_state_s - 2 * SP_WINDOW_S;

    append_plain(f, "MULTI");
    sp_window_set *ws = sp_partition_windows(p);
    for (size_t i = 0; i < ws->n && !f->failed; i++)
        for (size_t j = 0; j < ws->w[i].ncells && ws->w[i].ndirty && !f->failed; j++)
            if (ws->w[i].cells[j].dirty)
                append_cell(f, ws->w[i].start, &ws->w[i].cells[j]);
    cases_begin(f, "HSET");
    sp_cases_each_dirty(sp_partition_cases(p), add_case, f);
    cases_end(f);
    cases_begin(f, "HDEL");
    sp_cases_each_removed(sp_partition_cases(p), del_case, f);
    cases_end(f);
    append_resume(f, next_offset);
    append_plain(f, "EXEC");
    if (f->failed) {
        snprintf(errstr, errstr_size, "redis %s: cannot build the flush pipeline (%s)",
                 pub->address, pub->rc && pub->rc->err ? pub->rc->errstr : "argument too long");
        disconnect(pub); /* the half-built pipeline must not be sent */
        return -1;
    }
    return read_replies(pub, f->pending, errstr, errstr_size);
}

int sp_publisher_meta(sp_publisher *pub, const char *const *counters, const int64_t *deltas,
                      size_t n, const char *const *fields, const char *const *values, size_t m,
                      char *errstr, size_t errstr_size)
{
    if (sp_publisher_connect(pub, errstr, errstr_size) < 0)
        return -1;
    int pending = 0;
    args *a = &pub->f.a;
    for (size_t i = 0; i < n + m; i++) {
        if (i < n && deltas[i] == 0)
            continue;
        args_reset(a);
        args_add(a, i < n ? "HINCRBY" : "HSET");
        args_addf(a, "%s:meta", pub->prefix);
        if (i < n) {
            args_add(a, counters[i]);
            args_addf(a, "%" PRId64, deltas[i]);
        } else {
            args_add(a, fields[i - n]);
            args_add(a, values[i - n]);
        }
        if (append(pub, a, &pending) < 0) {
            disconnect(pub);
            snprintf(errstr, errstr_size, "redis %s: cannot send meta", pub->address);
            return -1;
        }
    }
    return read_replies(pub, pending, errstr, errstr_size);
}

uint64_t sp_publisher_commands(const sp_publisher *pub) { return pub->commands; }

/* ---- restore ----------------------------------------------------------------------- */

static redisReply *command(sp_publisher *pub, char *errstr, size_t errstr_size, int argc,
                           const char **argv, const size_t *len)
{
    pub->commands++;
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

static int restore_cells(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, char *errstr, size_t errstr_size)
{
    char pidx[512], floor_s[32];
    snprintf(pidx, sizeof pidx, "%s:pidx:%s:%d", pub->prefix, topic, partition);
    int64_t wm = sp_partition_watermark(p);
    int64_t state_s = (pub->conf.lateness_ms + pub->conf.retention_ms) / 1000;
    snprintf(floor_s, sizeof floor_s, "%" PRId64, wm / 1000 - state_s - 2 * SP_WINDOW_S);
    redisReply *members = commandf(pub, errstr, errstr_size, 4, "ZRANGEBYSCORE", pidx, floor_s,
                                   "+inf");
    if (!members)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < members->elements && rc == 0; i++) {
        const char *m = members->element[i]->str;
        const char *sp = strchr(m, ' ');
        if (!sp)
            continue;
        char key[1024];
        snprintf(key, sizeof key, "%s:pp:%s:%d:%s:%.*s", pub->prefix, topic, partition, sp + 1,
                 (int)(sp - m), m);
        redisReply *h = commandf(pub, errstr, errstr_size, 2, "HGETALL", key);
        if (!h) {
            rc = -1;
            break;
        }
        sp_counters c;
        memset(&c, 0, sizeof c);
        for (size_t j = 0; j + 1 < h->elements; j += 2) {
            int metric = sp_metric_parse(h->element[j]->str);
            if (metric >= 0)
                c.v[metric] = strtoll(h->element[j + 1]->str, NULL, 10);
        }
        if (h->elements && sp_partition_restore_cell(p, strtoll(m, NULL, 10), sp + 1, &c) < 0) {
            snprintf(errstr, errstr_size, "out of memory restoring partition %d", partition);
            rc = -1;
        }
        freeReplyObject(h);
    }
    freeReplyObject(members);
    return rc;
}

/* One case as written by add_case: last_ts \t channel \t queue \t tenant \t agent. */
static int restore_one_case(sp_partition *p, const char *field, const char *value)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", value);
    char *parts[5] = {0};
    char *s = buf;
    for (int i = 0; i < 5; i++) {
        parts[i] = s;
        char *tab = s ? strchr(s, '\t') : NULL;
        if (tab)
            *tab = '\0';
        s = tab ? tab + 1 : NULL;
        if (!parts[i])
            return 0; /* malformed: skip */
    }
    uint64_t key = strtoull(field, NULL, 16);
    if (!key)
        return 0;
    return sp_partition_restore_case(p, key, strtoll(parts[0], NULL, 10), parts[2],
                                     atoi(parts[1]), parts[3], parts[4]);
}

static int restore_cases(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, char *errstr, size_t errstr_size)
{
    char key[512], cursor[32] = "0";
    snprintf(key, sizeof key, "%s:cases:%s:%d", pub->prefix, topic, partition);
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
            if (restore_one_case(p, kv->element[j]->str, kv->element[j + 1]->str) < 0) {
                freeReplyObject(r);
                snprintf(errstr, errstr_size, "out of memory restoring cases");
                return -1;
            }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int sp_publisher_restore(sp_publisher *pub, const char *topic, int32_t partition,
                         sp_partition *p, int64_t *next_offset, char *errstr,
                         size_t errstr_size)
{
    *next_offset = -1;
    if (sp_publisher_connect(pub, errstr, errstr_size) < 0)
        return -1;
    char meta[512], field[512];
    snprintf(meta, sizeof meta, "%s:meta", pub->prefix);
    snprintf(field, sizeof field, "resume:%s:%d", topic, partition);
    redisReply *r = commandf(pub, errstr, errstr_size, 3, "HGET", meta, field);
    if (!r)
        return -1;
    long long off = -1, max_ts = 0;
    int found = r->type == REDIS_REPLY_STRING && sscanf(r->str, "%lld %lld", &off, &max_ts) == 2;
    freeReplyObject(r);
    if (!found)
        return 0;
    if (max_ts != INT64_MIN)
        sp_partition_restore_max_ts(p, max_ts);
    if (restore_cells(pub, topic, partition, p, errstr, errstr_size) < 0 ||
        restore_cases(pub, topic, partition, p, errstr, errstr_size) < 0)
        return -1;
    sp_partition_published(p, INT64_MIN); /* restored state is already in Redis */
    *next_offset = off;
    return 0;
}
