/*
 * checkpoint.c - see checkpoint.h. The log is read as its segments' names, then each
 * segment one chunk per command (each at most SP_CHECKPOINT_CHUNK bytes, so no reply is
 * large), a batch of them at a time; consecutive chunks with the same header are one
 * segment, decoded once whole.
 */
#include "supportpulse/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "supportpulse/bytes.h"
#include "supportpulse/clock.h"
#include "supportpulse/partition_codec.h"
#include "supportpulse/redis_keys.h"

extern const char sp_lua_checkpoint_claim[];
extern const char sp_lua_checkpoint_commit[];

#define READ_AHEAD 16 /* log elements per batch */

int sp_checkpoint_scripts_add(sp_redis *r, sp_checkpoint_scripts *s)
{
    s->claim = sp_redis_script(r, sp_lua_checkpoint_claim);
    s->commit = sp_redis_script(r, sp_lua_checkpoint_commit);
    return s->claim < 0 || s->commit < 0 ? -1 : 0;
}

typedef struct {
    char h[SP_KEY_MAX], l[SP_KEY_MAX], s[SP_KEY_MAX];
} cp_keys;

static int keys_of(cp_keys *k, const char *prefix, const char *topic, int32_t partition)
{
    return sp_key_checkpoint(k->h, sizeof k->h, prefix, topic, partition, 'h') < 0 ||
                   sp_key_checkpoint(k->l, sizeof k->l, prefix, topic, partition, 'l') < 0 ||
                   sp_key_checkpoint(k->s, sizeof k->s, prefix, topic, partition, 's') < 0
               ? -1
               : 0;
}

static void new_token(char out[17])
{
    uint64_t v;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
        v = (uint64_t)sp_wall_ms() * 6364136223846793005ULL ^ (uint64_t)getpid() << 32;
    snprintf(out, 17, "%016" PRIx64, v);
}

static long long as_int(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

int sp_checkpoint_claim(sp_redis *r, const sp_checkpoint_scripts *s, const char *prefix,
                        const char *topic, int32_t partition, sp_checkpoint *cp, char *resume,
                        size_t resume_size, char *errstr, size_t errstr_size)
{
    cp_keys k;
    if (keys_of(&k, prefix, topic, partition) < 0) {
        snprintf(errstr, errstr_size, "checkpoint key of %s[%d] too long", topic, partition);
        return -1;
    }
    memset(cp, 0, sizeof *cp);
    new_token(cp->token);
    sp_redis_batch *b = sp_redis_batch_new();
    const char *argv[] = {k.h, k.s, k.l, cp->token};
    int rc = -1;
    if (!b || sp_redis_batch_eval(b, s->claim, 3, 1, argv, NULL) < 0) {
        snprintf(errstr, errstr_size, "out of memory claiming %s[%d]", topic, partition);
    } else if (sp_redis_batch_run(r, b, errstr, errstr_size) == 0) {
        const redisReply *rep = sp_redis_batch_reply(b, 0);
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 7) {
            snprintf(errstr, errstr_size, "claiming %s[%d]: %s", topic, partition,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        } else {
            cp->claims = (uint64_t)as_int(rep->element[0]);
            cp->seq = as_int(rep->element[1]);
            snprintf(resume, resume_size, "%s",
                     rep->element[2]->type == REDIS_REPLY_STRING ? rep->element[2]->str : "");
            cp->bytes = (uint64_t)as_int(rep->element[4]);
            cp->snapshot_bytes = (uint64_t)as_int(rep->element[5]);
            cp->segments = (int)as_int(rep->element[6]);
            rc = 0;
        }
    }
    sp_redis_batch_destroy(b);
    return rc;
}

/* ---- reading the log ------------------------------------------------------------------- */

typedef struct {
    sp_restore *restore;
    sp_buf seg;            /* the segment being gathered */
    char header[128];      /* its header */
    int64_t seq;
    char kind;
} loader;

/* "SPC1:<token>:<flush>:<kind>\n": the header's length, or -1 when malformed. */
static int parse_header(const char *s, size_t len, int64_t *seq, char *kind)
{
    const char *nl = memchr(s, '\n', len < 128 ? len : 128);
    if (!nl || len < 5 || memcmp(s, "SPC1:", 5) != 0)
        return -1;
    const char *c2 = memchr(s + 5, ':', (size_t)(nl - s - 5));
    const char *c3 = c2 ? memchr(c2 + 1, ':', (size_t)(nl - c2 - 1)) : NULL;
    if (!c3 || c3 + 2 != nl)
        return -1;
    *seq = strtoll(c2 + 1, NULL, 10);
    *kind = c3[1];
    return (int)(nl - s + 1);
}

/* Decodes the gathered segment (not pending: a later one follows). */
static int settle(loader *l, char *errstr, size_t errstr_size)
{
    if (!l->seg.n)
        return 0;
    int rc = sp_restore_segment(l->restore, l->seg.p, l->seg.n, 0, errstr, errstr_size);
    sp_buf_reset(&l->seg);
    return rc;
}

static int take_element(loader *l, const redisReply *e, char *errstr, size_t errstr_size)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 1 ||
        e->element[0]->type != REDIS_REPLY_STRING) {
        snprintf(errstr, errstr_size, "checkpoint: the log changed while it was read");
        return -1;
    }
    const char *s = e->element[0]->str;
    size_t len = e->element[0]->len;
    int64_t seq;
    char kind;
    int hl = parse_header(s, len, &seq, &kind);
    if (hl < 0) {
        snprintf(errstr, errstr_size, "checkpoint: a log element without its header");
        return -1;
    }
    if ((size_t)hl != strlen(l->header) || memcmp(s, l->header, (size_t)hl) != 0) {
        if (settle(l, errstr, errstr_size) < 0)
            return -1;
        snprintf(l->header, sizeof l->header, "%.*s", hl, s);
        l->seq = seq;
        l->kind = kind;
    }
    sp_buf_put(&l->seg, s + hl, len - (size_t)hl);
    if (l->seg.failed) {
        snprintf(errstr, errstr_size, "checkpoint: out of memory reading the log");
        return -1;
    }
    return 0;
}

/* Replies of a batch of n commands as integers (LLEN). */
static int read_lengths(sp_redis *r, sp_redis_batch *b, long long *out, size_t n, char *errstr,
                        size_t errstr_size)
{
    if (sp_redis_batch_run(r, b, errstr, errstr_size) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const redisReply *rep = sp_redis_batch_reply(b, (long)i);
        if (rep->type != REDIS_REPLY_INTEGER) {
            snprintf(errstr, errstr_size, "checkpoint: %s",
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            return -1;
        }
        out[i] = rep->integer;
    }
    return 0;
}

/* The chunks of one segment, READ_AHEAD commands a batch. */
static int read_segment(sp_redis *r, sp_redis_batch *b, const char *key, long long len,
                        loader *l, char *errstr, size_t errstr_size)
{
    if (len <= 0) {
        snprintf(errstr, errstr_size, "checkpoint: segment %s is missing", key);
        return -1;
    }
    int rc = 0;
    for (long long at = 0; at < len && rc == 0; at += READ_AHEAD) {
        sp_redis_batch_reset(b);
        long long n = len - at < READ_AHEAD ? len - at : READ_AHEAD;
        for (long long i = 0; i < n && rc == 0; i++) {
            char idx[32];
            snprintf(idx, sizeof idx, "%lld", at + i);
            const char *argv[] = {"LRANGE", key, idx, idx};
            if (sp_redis_batch_add(b, key, strlen(key), 4, argv, NULL) < 0) {
                snprintf(errstr, errstr_size, "out of memory reading a checkpoint");
                rc = -1;
            }
        }
        if (rc == 0 && sp_redis_batch_run(r, b, errstr, errstr_size) < 0)
            rc = -1;
        for (long long i = 0; i < n && rc == 0; i++)
            rc = take_element(l, sp_redis_batch_reply(b, (long)i), errstr, errstr_size);
    }
    return rc;
}

/* The log: the names of its segments, then each segment's chunks in order. */
static int read_log(sp_redis *r, const char *prefix, const char *topic, int32_t partition,
                    const cp_keys *k, loader *l, char *errstr, size_t errstr_size)
{
    const char *argv[] = {"LRANGE", k->l, "0", "-1"};
    redisReply *names = sp_redis_cmd_argv(r, 1, 4, argv, NULL, errstr, errstr_size);
    if (!names)
        return -1;
    size_t n = names->type == REDIS_REPLY_ARRAY ? names->elements : 0;
    sp_redis_batch *b = sp_redis_batch_new();
    char (*keys)[SP_KEY_MAX] = calloc(n ? n : 1, sizeof *keys);
    long long *lens = calloc(n ? n : 1, sizeof *lens);
    int rc = b && keys && lens ? 0 : -1;
    if (rc < 0)
        snprintf(errstr, errstr_size, "out of memory reading a checkpoint");
    if (rc == 0 && names->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "checkpoint: %s",
                 names->type == REDIS_REPLY_ERROR ? names->str : "unexpected log reply");
        rc = -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *llen[2] = {"LLEN", keys[i]};
        if (names->element[i]->type != REDIS_REPLY_STRING ||
            sp_key_checkpoint_segment(keys[i], sizeof keys[i], prefix, topic, partition,
                                      names->element[i]->str) < 0 ||
            sp_redis_batch_add(b, keys[i], strlen(keys[i]), 2, llen, NULL) < 0) {
            snprintf(errstr, errstr_size, "checkpoint: a bad segment name in the log");
            rc = -1;
        }
    }
    if (rc == 0 && n)
        rc = read_lengths(r, b, lens, n, errstr, errstr_size);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = read_segment(r, b, keys[i], lens[i], l, errstr, errstr_size);
    freeReplyObject(names);
    sp_redis_batch_destroy(b);
    free(keys);
    free(lens);
    return rc;
}

int sp_checkpoint_load(sp_redis *r, const char *prefix, const char *topic, int32_t partition,
                       const sp_checkpoint *cp, sp_partition *p, int *pending,
                       char *errstr, size_t errstr_size)
{
    cp_keys k;
    *pending = 0;
    if (keys_of(&k, prefix, topic, partition) < 0) {
        snprintf(errstr, errstr_size, "checkpoint key of %s[%d] too long", topic, partition);
        return -1;
    }
    loader l = {sp_restore_new(p), {0}, "", 0, 0};
    int rc = -1;
    if (!l.restore) {
        snprintf(errstr, errstr_size, "out of memory restoring %s[%d]", topic, partition);
        goto out;
    }
    if (read_log(r, prefix, topic, partition, &k, &l, errstr, errstr_size) < 0)
        goto out;
    /* the last segment: pending when it is the delta of the committed flush */
    *pending = l.seg.n && l.kind == 'D' && l.seq == cp->seq;
    if (l.seg.n && sp_restore_segment(l.restore, l.seg.p, l.seg.n, *pending, errstr,
                                      errstr_size) < 0)
        goto out;
    if (sp_restore_finish(l.restore, errstr, errstr_size) < 0)
        goto out;
    rc = 0;
out:
    sp_restore_destroy(l.restore);
    sp_buf_free(&l.seg);
    return rc;
}

/* ---- committing ------------------------------------------------------------------------ */

long sp_checkpoint_stage(sp_redis_batch *b, const sp_checkpoint_scripts *s, const char *prefix,
                         const char *topic, int32_t partition, const sp_checkpoint *cp,
                         int64_t new_seq, char kind, const char *resume,
                         const unsigned char *seg, size_t len)
{
    cp_keys k;
    if (keys_of(&k, prefix, topic, partition) < 0)
        return -1;
    char header[128];
    int64_t hseq = kind == 'D' ? new_seq : cp->seq;
    int hl = snprintf(header, sizeof header, "SPC1:%s:%" PRId64 ":%c\n", cp->token, hseq, kind);
    const char *unlink[] = {"UNLINK", k.s};
    if (sp_redis_batch_add(b, k.s, strlen(k.s), 2, unlink, NULL) < 0)
        return -1;
    size_t nchunks = 0;
    sp_buf chunk = {0};
    for (size_t at = 0; at < len || nchunks == 0; at += SP_CHECKPOINT_CHUNK) {
        size_t n = len - at < SP_CHECKPOINT_CHUNK ? len - at : SP_CHECKPOINT_CHUNK;
        sp_buf_reset(&chunk);
        sp_buf_put(&chunk, header, (size_t)hl);
        sp_buf_put(&chunk, seg + at, n);
        const char *argv[] = {"RPUSH", k.s, (const char *)chunk.p};
        size_t lens[] = {5, strlen(k.s), chunk.n};
        if (chunk.failed || sp_redis_batch_add(b, k.s, strlen(k.s), 3, argv, lens) < 0) {
            sp_buf_free(&chunk);
            return -1;
        }
        nchunks++;
        if (len == 0)
            break;
    }
    sp_buf_free(&chunk);
    char claims[24], expect[24], next[24], nc[24], bytes[24], kd[2] = {kind, 0};
    snprintf(claims, sizeof claims, "%" PRIu64, cp->claims);
    snprintf(expect, sizeof expect, "%" PRId64, cp->seq);
    snprintf(next, sizeof next, "%" PRId64, kind == 'D' ? new_seq : cp->seq);
    snprintf(nc, sizeof nc, "%zu", nchunks);
    snprintf(bytes, sizeof bytes, "%zu", len);
    char name[32], seg_key[SP_KEY_MAX], seg_pre[SP_KEY_MAX];
    snprintf(name, sizeof name, "%c%" PRId64, kind, hseq);
    if (sp_key_checkpoint_segment(seg_key, sizeof seg_key, prefix, topic, partition, name) < 0 ||
        sp_key_checkpoint_segment(seg_pre, sizeof seg_pre, prefix, topic, partition, "") < 0)
        return -1;
    const char *argv[] = {k.h, k.s, k.l, seg_key, claims, cp->token, expect, next, nc, kd,
                          resume, bytes, header, name, seg_pre};
    return sp_redis_batch_eval(b, s->commit, 4, 11, argv, NULL);
}

sp_cp_result sp_checkpoint_result(const redisReply *r, char *errstr, size_t errstr_size)
{
    if (!r) {
        snprintf(errstr, errstr_size, "checkpoint commit: no reply");
        return SP_CP_FAILED;
    }
    if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING)
        return SP_CP_OK;
    snprintf(errstr, errstr_size, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "SPSTALE", 7) == 0)
        return SP_CP_STALE;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "SPBEHIND", 8) == 0)
        return SP_CP_BEHIND;
    return SP_CP_FAILED;
}
