/*
 * redis_publisher.c - see redis_publisher.h: the order of a flush's steps and the
 * restore. Each step runs every partition's calls in one batch; a step that fails leaves
 * the flush to be finished by the next attempt, which repeats only what may not have
 * landed (commits are recognised, rollup writes carry marks, the rest is absolute).
 */
#include "supportpulse/redis_publisher.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supportpulse/bytes.h"
#include "supportpulse/clock.h"
#include "supportpulse/crashpoint.h"
#include "supportpulse/live.h"
#include "supportpulse/log.h"
#include "supportpulse/partition_codec.h"
#include "supportpulse/redis_keys.h"

extern const char sp_lua_meta[];

#define SCHEMA_VERSION "1"

struct sp_publisher {
    sp_publisher_conf conf;
    char *address, *prefix, *topic, *resolutions;
    sp_redis *r;
    sp_checkpoint_scripts cps;
    int meta_script;
    sp_rollups *rollups;
    sp_live *live;
    int checked;                 /* the prefix's topic and resolutions were checked */
    int topic_partitions;        /* 0 = not known: no window is released */
    int64_t watermark_ms;        /* oldest watermark in Redis, as of the last flush */
    sp_redis_batch *batch;
    sp_buf seg;
    char count_names[1024];      /* the {p}:meta fields of sp_part_count, space-separated */
    sp_rollup_part *rparts;
    size_t caprparts;
    sp_publisher_stats stats;
};

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

/* The crash-point tests kill the process between two calls of a flush. */
static void after_reply(void *arg)
{
    (void)arg;
    sp_crashpoint(SP_CRASH_FLUSH_CALL);
}

sp_publisher *sp_publisher_new(const sp_publisher_conf *conf, char *errstr, size_t errstr_size)
{
    sp_publisher *pub = calloc(1, sizeof *pub);
    if (!pub || !(pub->address = strdup(conf->address)) || !(pub->prefix = strdup(conf->prefix)) ||
        !(pub->topic = strdup(conf->topic)) ||
        !(pub->resolutions = strdup(conf->resolutions ? conf->resolutions : "")) ||
        !(pub->batch = sp_redis_batch_new()) ||
        !(pub->r = sp_redis_new(conf->address, conf->connect_timeout_ms, conf->command_timeout_ms))) {
        snprintf(errstr, errstr_size, "out of memory creating the Redis publisher");
        sp_publisher_destroy(pub);
        return NULL;
    }
    pub->conf = *conf;
    pub->conf.address = pub->address;
    pub->conf.prefix = pub->prefix;
    pub->conf.topic = pub->topic;
    pub->conf.resolutions = pub->resolutions;
    pub->watermark_ms = INT64_MIN;
    count_names(pub->count_names, sizeof pub->count_names);
    sp_rollups_conf rc = {pub->prefix, {0}, conf->max_call, conf->csat_prior_weight,
                          conf->retention_ms, conf->cache_entries, conf->smooth_every_ms};
    memcpy(rc.ttl_s, conf->ttl_s, sizeof rc.ttl_s);
    sp_live_conf lc = {pub->prefix, pub->topic, conf->max_call};
    if (sp_checkpoint_scripts_add(pub->r, &pub->cps) < 0 ||
        (pub->meta_script = sp_redis_script(pub->r, sp_lua_meta)) < 0 ||
        !(pub->rollups = sp_rollups_new(&rc, pub->r, errstr, errstr_size)) ||
        !(pub->live = sp_live_new(&lc, pub->r, errstr, errstr_size))) {
        if (!pub->rollups || !pub->live)
            ; /* errstr is set */
        else
            snprintf(errstr, errstr_size, "too many Redis scripts");
        sp_publisher_destroy(pub);
        return NULL;
    }
    if (sp_crashpoint_armed(SP_CRASH_FLUSH_CALL))
        sp_redis_on_reply(pub->r, after_reply, NULL, 1);
    return pub;
}

void sp_publisher_destroy(sp_publisher *pub)
{
    if (!pub)
        return;
    sp_live_destroy(pub->live);
    sp_rollups_destroy(pub->rollups);
    sp_redis_batch_destroy(pub->batch);
    sp_redis_destroy(pub->r);
    sp_buf_free(&pub->seg);
    free(pub->rparts);
    free(pub->address);
    free(pub->prefix);
    free(pub->topic);
    free(pub->resolutions);
    free(pub);
}

const sp_publisher_stats *sp_publisher_get_stats(const sp_publisher *pub)
{
    ((sp_publisher *)pub)->stats.rollups = *sp_rollups_get_stats(pub->rollups);
    return &pub->stats;
}

sp_redis *sp_publisher_redis(sp_publisher *pub) { return pub->r; }
void sp_publisher_set_partitions(sp_publisher *pub, int n) { pub->topic_partitions = n; }
void sp_publisher_force_hset(sp_publisher *pub) { sp_rollups_force_hset(pub->rollups); }
int64_t sp_publisher_watermark(const sp_publisher *pub) { return pub->watermark_ms; }

/* A field of {p}:meta must match the setting, or be recorded as it when absent. */
static int check_meta(sp_publisher *pub, const char *field, const char *want, int *conflict,
                      char *errstr, size_t errstr_size)
{
    char meta[SP_KEY_MAX];
    sp_key_meta(meta, sizeof meta, pub->prefix);
    const char *get[] = {"HSETNX", meta, field, want};
    redisReply *r = sp_redis_cmd_argv(pub->r, 1, 4, get, NULL, errstr, errstr_size);
    if (!r)
        return -1;
    freeReplyObject(r);
    const char *hget[] = {"HGET", meta, field};
    if (!(r = sp_redis_cmd_argv(pub->r, 1, 3, hget, NULL, errstr, errstr_size)))
        return -1;
    int same = r->type == REDIS_REPLY_STRING && strcmp(r->str, want) == 0;
    if (!same) {
        *conflict = 1;
        snprintf(errstr, errstr_size, "prefix '%s' was written with %s '%s', not '%s': use "
                 "that, or another prefix", pub->prefix, field,
                 r->type == REDIS_REPLY_STRING ? r->str : "?", want);
    }
    freeReplyObject(r);
    return same ? 0 : -1;
}

int sp_publisher_connect(sp_publisher *pub, int *conflict, char *errstr, size_t errstr_size)
{
    *conflict = 0;
    if (sp_redis_connect(pub->r, errstr, errstr_size) < 0)
        return -1;
    if (pub->checked)
        return 0;
    if (check_meta(pub, "topic", pub->topic, conflict, errstr, errstr_size) < 0 ||
        check_meta(pub, "resolutions_by_dims", pub->resolutions, conflict, errstr,
                   errstr_size) < 0 ||
        sp_rollups_probe(pub->rollups, errstr, errstr_size) < 0)
        return -1;
    pub->checked = 1;
    return 0;
}

static int connect_quiet(sp_publisher *pub, char *errstr, size_t errstr_size)
{
    int conflict;
    return sp_publisher_connect(pub, &conflict, errstr, errstr_size);
}

/* ---- flush -------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void resume_value(const sp_flush_part *fp, char *out, size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%" PRId64 " %" PRId64, fp->next_offset,
                                   sp_partition_max_ts(fp->p));
    for (int i = 0; i < SP_PC__COUNT && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, " %" PRIu64,
                                 fp->counts ? fp->counts[i] : 0);
}

/* Step 1: the checkpoints of the partitions not committed yet. */
static int commit_all(sp_publisher *pub, sp_flush_part *parts, int n, char *errstr,
                      size_t errstr_size)
{
    long *cmd = calloc((size_t)(n ? n : 1), sizeof *cmd);
    size_t *bytes = calloc((size_t)(n ? n : 1), sizeof *bytes);
    char resume[32 * (SP_PC__COUNT + 2)];
    int rc = 0, any = 0;
    if (!cmd || !bytes)
        goto nomem;
    sp_redis_batch_reset(pub->batch);
    for (int i = 0; i < n; i++) {
        cmd[i] = -1;
        if (parts[i].committed || parts[i].result != SP_FLUSH_OK)
            continue;
        sp_buf_reset(&pub->seg);
        resume_value(&parts[i], resume, sizeof resume);
        if (sp_codec_delta(parts[i].p, &pub->seg) < 0 ||
            (cmd[i] = sp_checkpoint_stage(pub->batch, &pub->cps, pub->prefix, pub->topic,
                                          parts[i].partition, parts[i].cp, parts[i].cp->seq + 1,
                                          'D', resume, pub->seg.p, pub->seg.n)) < 0)
            goto nomem;
        bytes[i] = pub->seg.n;
        any = 1;
    }
    if (!any) {
        free(cmd);
        free(bytes);
        return 0;
    }
    sp_crashpoint(SP_CRASH_FLUSH_BEFORE_SEND);
    if (sp_redis_batch_run(pub->r, pub->batch, errstr, errstr_size) < 0) {
        for (int i = 0; i < n; i++)
            if (cmd[i] >= 0) /* committed or not: the next attempt finds out */
                parts[i].result = SP_FLUSH_FAILED;
        free(cmd);
        free(bytes);
        return -1;
    }
    sp_crashpoint(SP_CRASH_FLUSH_SENT);
    for (int i = 0; i < n; i++) {
        if (cmd[i] < 0)
            continue;
        char why[256];
        sp_cp_result r = sp_checkpoint_result(sp_redis_batch_reply(pub->batch, cmd[i]), why,
                                              sizeof why);
        if (r == SP_CP_OK) {
            parts[i].committed = 1;
            parts[i].cp->seq++;
            parts[i].cp->segments++;
            parts[i].cp->bytes += bytes[i];
            pub->stats.checkpoint_bytes += bytes[i];
            pub->stats.commits++;
            continue;
        }
        parts[i].result = r == SP_CP_STALE ? SP_FLUSH_STALE
                        : r == SP_CP_BEHIND ? SP_FLUSH_BEHIND : SP_FLUSH_FAILED;
        snprintf(errstr, errstr_size, "%s[%d]: %s", pub->topic, parts[i].partition, why);
        rc = -1;
    }
    free(cmd);
    free(bytes);
    return rc;
nomem:
    free(cmd);
    free(bytes);
    snprintf(errstr, errstr_size, "out of memory building a flush of %d partitions", n);
    return -1;
}

/* The partitions committed (and not dropped) as rollup writer parts. */
static int committed_parts(sp_publisher *pub, sp_flush_part *parts, int n)
{
    if ((size_t)n > pub->caprparts) {
        sp_rollup_part *rp = realloc(pub->rparts, (size_t)n * sizeof *rp);
        if (!rp)
            return -1;
        pub->rparts = rp;
        pub->caprparts = (size_t)n;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (parts[i].committed && parts[i].result == SP_FLUSH_OK)
            pub->rparts[k++] = (sp_rollup_part){parts[i].partition, parts[i].p, parts[i].cp->seq};
    return k;
}

/* Step 4: resume points and counts in {p}:meta; learns the oldest watermark. */
static int write_meta(sp_publisher *pub, sp_flush_part *parts, int n, char *errstr,
                      size_t errstr_size)
{
    char meta[SP_KEY_MAX], np[16], pre[256], nparts[16];
    sp_key_meta(meta, sizeof meta, pub->prefix);
    snprintf(pre, sizeof pre, "resume:%s:", pub->topic);
    snprintf(nparts, sizeof nparts, "%d", pub->topic_partitions);
    enum { MAXP = 512 };
    char field[MAXP][160], value[MAXP][32 * (SP_PC__COUNT + 2)];
    sp_redis_batch_reset(pub->batch);
    for (int at = 0; at < n;) {
        int k = 0;
        for (; at < n && k < MAXP && k < pub->conf.max_call; at++) {
            if (!parts[at].committed || parts[at].result != SP_FLUSH_OK)
                continue;
            snprintf(field[k], sizeof field[k], "resume:%s:%d", pub->topic, parts[at].partition);
            resume_value(&parts[at], value[k], sizeof value[k]);
            k++;
        }
        const char *argv[3 + 2 * MAXP + 3];
        int a = 0;
        argv[a++] = meta;
        argv[a++] = pub->count_names;
        snprintf(np, sizeof np, "%d", k);
        argv[a++] = np;
        for (int i = 0; i < k; i++) {
            argv[a++] = field[i];
            argv[a++] = value[i];
        }
        argv[a++] = "0";
        argv[a++] = pre;
        argv[a++] = nparts;
        if (k && sp_redis_batch_eval(pub->batch, pub->meta_script, 1, a - 1, argv, NULL) < 0) {
            snprintf(errstr, errstr_size, "out of memory writing meta");
            return -1;
        }
    }
    if (!sp_redis_batch_size(pub->batch))
        return 0;
    if (sp_redis_batch_run(pub->r, pub->batch, errstr, errstr_size) < 0)
        return -1;
    for (size_t c = 0; c < sp_redis_batch_size(pub->batch); c++) {
        const redisReply *r = sp_redis_batch_reply(pub->batch, (long)c);
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "meta: %s", r->str);
            return -1;
        }
        if (r->type == REDIS_REPLY_STRING)
            pub->watermark_ms = r->len > 0 ? strtoll(r->str, NULL, 10) - pub->conf.lateness_ms
                                           : INT64_MIN;
    }
    return 0;
}

/* Steps 2-4 for the committed partitions, with all_dims for a restore's re-send. */
static int send_changes(sp_publisher *pub, sp_flush_part *parts, int n, int all_dims,
                        int64_t now_event_ms, char *errstr, size_t errstr_size)
{
    int k = committed_parts(pub, parts, n);
    if (k < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (k == 0)
        return 0;
    int64_t now = sp_wall_ms();
    uint64_t t1 = 0;
    if (sp_rollups_write(pub->rollups, pub->rparts, k, now, errstr, errstr_size) < 0 ||
        (t1 = now_ns(), sp_live_write(pub->live, pub->rparts, k, pub->rollups, all_dims, now,
                                      now_event_ms == INT64_MIN ? now : now_event_ms, errstr,
                                      errstr_size) < 0) ||
        (pub->stats.ns_live += now_ns() - t1, write_meta(pub, parts, n, errstr, errstr_size) < 0)) {
        for (int i = 0; i < n; i++)
            if (parts[i].committed && parts[i].result == SP_FLUSH_OK)
                parts[i].result = SP_FLUSH_FAILED;
        return -1;
    }
    return 0;
}

int sp_publisher_flush(sp_publisher *pub, sp_flush_part *parts, int n, int64_t now_event_ms,
                       char *errstr, size_t errstr_size)
{
    for (int i = 0; i < n; i++)
        parts[i].result = SP_FLUSH_OK;
    if (connect_quiet(pub, errstr, errstr_size) < 0) {
        for (int i = 0; i < n; i++)
            parts[i].result = SP_FLUSH_FAILED;
        return -1;
    }
    uint64_t t0 = now_ns();
    int rc = commit_all(pub, parts, n, errstr, errstr_size);
    pub->stats.ns_commit += now_ns() - t0;
    char later[512];
    /* the committed ones go on even when another partition's commit failed */
    if (send_changes(pub, parts, n, 0, now_event_ms, rc < 0 ? later : errstr,
                     rc < 0 ? sizeof later : errstr_size) < 0)
        rc = -1;
    if (rc == 0) {
        pub->stats.flushes++;
        char err[256];
        if (sp_rollups_release(pub->rollups, pub->watermark_ms, err, sizeof err) < 0 ||
            sp_rollups_smooth(pub->rollups, 0, sp_wall_ms(), err, sizeof err) < 0)
            sp_debug("after a flush: %s (done at a later flush)", err);
    }
    return rc;
}

int sp_publisher_smooth(sp_publisher *pub, int force, char *errstr, size_t errstr_size)
{
    if (connect_quiet(pub, errstr, errstr_size) < 0)
        return -1;
    return sp_rollups_smooth(pub->rollups, force, sp_wall_ms(), errstr, errstr_size);
}

int sp_publisher_meta(sp_publisher *pub, int64_t watermark_ms, const char *version,
                      char *errstr, size_t errstr_size)
{
    if (connect_quiet(pub, errstr, errstr_size) < 0)
        return -1;
    char meta[SP_KEY_MAX], wm[32];
    sp_key_meta(meta, sizeof meta, pub->prefix);
    snprintf(wm, sizeof wm, "%" PRId64, watermark_ms);
    const char *argv[] = {"HSET", meta, "schema_version", SCHEMA_VERSION, "pipeline_version",
                          version, "watermark_ms", wm};
    redisReply *r = sp_redis_cmd_argv(pub->r, 1, 8, argv, NULL, errstr, errstr_size);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r && !ok)
        snprintf(errstr, errstr_size, "meta: %s", r->str);
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* ---- restore ----------------------------------------------------------------------- */

/* "<next offset> <newest event time> <count> ...": missing counts are 0. */
static int parse_resume(const char *s, int64_t *offset, uint64_t *counts)
{
    char *end;
    long long off = strtoll(s, &end, 10);
    if (end == s)
        return -1;
    s = end;
    strtoll(s, &end, 10); /* the newest event time: the checkpoint has its own */
    s = end;
    for (int i = 0; counts && i < SP_PC__COUNT; i++) {
        unsigned long long v = strtoull(s, &end, 10);
        counts[i] = end == s ? 0 : (uint64_t)v;
        s = end;
    }
    *offset = off;
    return 0;
}

/* Whether {p}:meta holds this resume point for the partition: 1, 0, or -1 with errstr. */
static int meta_has(sp_publisher *pub, int32_t partition, const char *resume, char *errstr,
                    size_t errstr_size)
{
    char meta[SP_KEY_MAX], field[256];
    sp_key_meta(meta, sizeof meta, pub->prefix);
    snprintf(field, sizeof field, "resume:%s:%d", pub->topic, partition);
    const char *argv[] = {"HGET", meta, field};
    redisReply *r = sp_redis_cmd_argv(pub->r, 1, 3, argv, NULL, errstr, errstr_size);
    if (!r)
        return -1;
    int same = r->type == REDIS_REPLY_STRING && strcmp(r->str, resume) == 0;
    freeReplyObject(r);
    return same;
}

int sp_publisher_restore(sp_publisher *pub, int32_t partition, sp_partition *p,
                         sp_checkpoint *cp, int64_t *next_offset, uint64_t *counts,
                         char *errstr, size_t errstr_size)
{
    *next_offset = -1;
    if (counts)
        memset(counts, 0, SP_PC__COUNT * sizeof *counts);
    if (connect_quiet(pub, errstr, errstr_size) < 0)
        return -1;
    char resume[32 * (SP_PC__COUNT + 2)];
    size_t log_len;
    int pending;
    if (sp_checkpoint_claim(pub->r, &pub->cps, pub->prefix, pub->topic, partition, cp, resume,
                            sizeof resume, &log_len, errstr, errstr_size) < 0 ||
        sp_checkpoint_load(pub->r, pub->prefix, pub->topic, partition, cp, log_len, p, &pending,
                           errstr, errstr_size) < 0)
        return -1;
    if (!*resume) {
        sp_partition_published(p, INT64_MIN);
        return 0;
    }
    if (parse_resume(resume, next_offset, counts) < 0) {
        snprintf(errstr, errstr_size, "%s[%d]: a malformed resume point '%s'", pub->topic,
                 partition, resume);
        return -1;
    }
    /* {p}:meta gets a flush's resume point only after its rollups are all written: the
     * same point there means the last segment is in the rollups, and nothing is sent */
    if (pending) {
        int written = meta_has(pub, partition, resume, errstr, errstr_size);
        if (written < 0)
            return -1;
        pending = !written;
    }
    if (pending) { /* the last flush's changes, again: every write counts once */
        sp_flush_part fp = {partition, p, *next_offset, counts, cp, 1, SP_FLUSH_OK};
        if (send_changes(pub, &fp, 1, 1, sp_partition_max_ts(p), errstr, errstr_size) < 0)
            return -1;
        pub->stats.resends++;
    }
    sp_partition_published(p, INT64_MIN);
    return 0;
}

int sp_publisher_compact(sp_publisher *pub, int32_t partition, sp_partition *p,
                         sp_checkpoint *cp, int64_t next_offset, const uint64_t *counts,
                         char *errstr, size_t errstr_size)
{
    uint64_t floor = 8u << 20;
    uint64_t due = cp->snapshot_bytes * 2 > floor ? cp->snapshot_bytes * 2 : floor;
    if (cp->bytes < due && cp->segments < 256)
        return 0;
    sp_buf_reset(&pub->seg);
    char resume[32 * (SP_PC__COUNT + 2)];
    sp_flush_part fp = {partition, p, next_offset, counts, cp, 0, SP_FLUSH_OK};
    resume_value(&fp, resume, sizeof resume);
    sp_redis_batch_reset(pub->batch);
    long cmd;
    if (sp_codec_snapshot(p, &pub->seg) < 0 ||
        (cmd = sp_checkpoint_stage(pub->batch, &pub->cps, pub->prefix, pub->topic, partition, cp,
                                   cp->seq, 'S', resume, pub->seg.p, pub->seg.n)) < 0) {
        snprintf(errstr, errstr_size, "out of memory writing a snapshot of %s[%d]", pub->topic,
                 partition);
        return -1;
    }
    if (sp_redis_batch_run(pub->r, pub->batch, errstr, errstr_size) < 0 ||
        sp_checkpoint_result(sp_redis_batch_reply(pub->batch, cmd), errstr, errstr_size) != SP_CP_OK)
        return -1;
    cp->bytes = cp->snapshot_bytes = pub->seg.n;
    cp->segments = 1;
    pub->stats.snapshots++;
    return 0;
}
