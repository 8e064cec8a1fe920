/*
 * redis_publisher.c - see redis_publisher.h: the order of a flush's steps and the
 * restore. Each step runs every partition's calls in one batch; a step that fails leaves
 * the flush to be finished by the next attempt, which repeats only what may not have
 * landed (commits are recognised, rollup writes carry marks, the rest is absolute).
 */
#include "supportpulse/redis_publisher.h"

#include <inttypes.h>
#include <stdatomic.h>
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
    atomic_int topic_partitions;  /* 0 = not known: no window is released */
    _Atomic int64_t watermark_ms; /* oldest watermark in Redis, as of the last flush */
    sp_redis_batch *batch;
    char count_names[1024];      /* the {p}:meta fields of sp_part_count, space-separated */
    sp_publisher_stats stats;
};

static void count_names(char *out, size_t size)
{
    static const char *const base[SP_PC_REJECTED] = {"consumed", "applied", "duplicates",
                                                     "late_dropped"};
    static const char *const evicted[SP_PC__COUNT - SP_PC_EVICTED_CASES] = SP_PC_STORE_FIELDS;
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
        !(pub->r = sp_redis_new(conf->address, conf->connect_timeout_ms, conf->command_timeout_ms)) ||
        sp_redis_set_auth(pub->r, conf->user, conf->password) < 0) {
        snprintf(errstr, errstr_size, "out of memory creating the Redis publisher");
        sp_publisher_destroy(pub);
        return NULL;
    }
    if (sp_redis_set_tls(pub->r, &conf->tls, errstr, errstr_size) < 0) {
        sp_publisher_destroy(pub);
        return NULL;
    }
    pub->conf = *conf;
    pub->conf.address = pub->address;
    pub->conf.prefix = pub->prefix;
    pub->conf.topic = pub->topic;
    pub->conf.resolutions = pub->resolutions;
    atomic_init(&pub->watermark_ms, INT64_MIN);
    atomic_init(&pub->topic_partitions, 0);
    count_names(pub->count_names, sizeof pub->count_names);
    sp_rollups_conf rc = {pub->prefix, {0}, conf->max_call, conf->csat_prior_weight,
                          conf->retention_ms, conf->cache_entries, conf->smooth_every_ms,
                          conf->zones};
    memcpy(rc.ttl_s, conf->ttl_s, sizeof rc.ttl_s);
    sp_live_conf lc = {pub->prefix, pub->topic, conf->max_call, conf->zones};
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
void sp_publisher_set_partitions(sp_publisher *pub, int n) { atomic_store(&pub->topic_partitions, n); }
void sp_publisher_force_hset(sp_publisher *pub) { sp_rollups_force_hset(pub->rollups); }

void sp_publisher_forget(sp_publisher *pub)
{
    sp_rollups_forget(pub->rollups);
    sp_live_forget(pub->live);
}
int64_t sp_publisher_watermark(const sp_publisher *pub)
{
    return atomic_load(&((sp_publisher *)pub)->watermark_ms);
}

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

/* ---- a flush job: what the partitions showed, then the steps in Redis ------------------- */

#define RESUME_MAX (32 * (SP_PC__COUNT + 2))

typedef struct {
    sp_flush_outcome o;
    sp_buf seg;                  /* its checkpoint segment, until committed */
    sp_buf snap;                 /* a snapshot to replace its log once flushed, or empty */
    char resume[RESUME_MAX];
} job_part;

struct sp_flush_job {
    job_part *parts;
    int n, cap;
    uint8_t *include;            /* per part, during a send: its rollups may be written */
    sp_rollups_job *rollups;
    sp_live_job *live;
    int resend;                  /* a restore's re-send (nothing to commit) */
    int64_t meta_watermark_ms;   /* the instance-wide meta fields, when version is set */
    char version[32];
};

static void resume_value(int64_t next_offset, int64_t max_ts, const uint64_t *counts, char *out,
                         size_t size)
{
    size_t used = (size_t)snprintf(out, size, "%" PRId64 " %" PRId64, next_offset, max_ts);
    for (int i = 0; i < SP_PC__COUNT && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, " %" PRIu64, counts ? counts[i] : 0);
}

/* Whether a log of `bytes` in `segments` is to be replaced by a snapshot: at twice the
 * last snapshot (at least 8 MB) or 256 segments, so a restore reads a bounded log. */
static int compact_due(const sp_checkpoint *cp, uint64_t bytes, int segments)
{
    uint64_t floor = 8u << 20;
    uint64_t due = cp->snapshot_bytes * 2 > floor ? cp->snapshot_bytes * 2 : floor;
    return bytes >= due || segments >= 256;
}

void sp_flush_job_destroy(sp_flush_job *job)
{
    if (!job)
        return;
    for (int i = 0; i < job->cap; i++) {
        sp_buf_free(&job->parts[i].seg);
        sp_buf_free(&job->parts[i].snap);
    }
    free(job->parts);
    free(job->include);
    sp_rollups_job_destroy(job->rollups);
    sp_live_job_destroy(job->live);
    free(job);
}

/* A part's segment (unless committed) and, when the log is due for it, its snapshot. */
static int copy_part(job_part *jp, const sp_flush_part *fp)
{
    jp->o = (sp_flush_outcome){fp->partition, fp->next_offset, *fp->cp, fp->committed,
                               SP_FLUSH_OK, 0};
    resume_value(fp->next_offset, sp_partition_max_ts(fp->p), fp->counts, jp->resume,
                 sizeof jp->resume);
    sp_buf_reset(&jp->seg);
    sp_buf_reset(&jp->snap);
    if (!fp->committed && sp_codec_delta(fp->p, &jp->seg) < 0)
        return -1;
    if (!fp->committed &&
        compact_due(fp->cp, fp->cp->bytes + jp->seg.n, fp->cp->segments + 1) &&
        sp_codec_snapshot(fp->p, &jp->snap) < 0)
        return -1;
    return 0;
}

/* Room for n parts (a reused job keeps its parts' buffers). -1 when out of memory. */
static int job_room(sp_flush_job *job, int n)
{
    if (n <= job->cap)
        return 0;
    job_part *np = realloc(job->parts, (size_t)n * sizeof *np);
    uint8_t *ni = np ? realloc(job->include, (size_t)n) : NULL;
    if (np)
        job->parts = np;
    if (!ni)
        return -1;
    job->include = ni;
    memset(job->parts + job->cap, 0, (size_t)(n - job->cap) * sizeof *np);
    job->cap = n;
    return 0;
}

static sp_flush_job *job_new(const sp_publisher *pub, const sp_flush_part *parts, int n,
                             int resend, sp_flush_job *reuse, char *errstr, size_t errstr_size)
{
    sp_flush_job *job = reuse ? reuse : calloc(1, sizeof *job);
    sp_rollup_part *rp = calloc((size_t)(n ? n : 1), sizeof *rp);
    int ok = job && rp && job_room(job, n ? n : 1) == 0;
    if (job) {
        job->n = 0;
        job->resend = resend;
        job->version[0] = '\0';
        sp_live_job_destroy(job->live);
        job->live = NULL;
    }
    for (int i = 0; ok && i < n; i++) {
        ok = copy_part(&job->parts[i], &parts[i]) == 0;
        job->n = i + 1;
        /* a part not committed yet is written under the flush number its commit takes */
        rp[i] = (sp_rollup_part){parts[i].partition, parts[i].p,
                                 parts[i].cp->seq + (parts[i].committed ? 0 : 1)};
    }
    if (!ok) {
        free(rp);
        sp_flush_job_destroy(job);
        snprintf(errstr, errstr_size, "out of memory building a flush of %d partitions", n);
        return NULL;
    }
    sp_rollups_job *rj = job->rollups;
    job->rollups = NULL; /* handed to sp_rollups_job_new, which consumes it */
    job->rollups = sp_rollups_job_new(pub->rollups, rp, n, rj, errstr, errstr_size);
    job->live = job->rollups ? sp_live_job_new(rp, n, resend, errstr, errstr_size) : NULL;
    free(rp);
    if (!job->live) {
        sp_flush_job_destroy(job);
        return NULL;
    }
    return job;
}

sp_flush_job *sp_flush_job_new(const sp_publisher *pub, const sp_flush_part *parts, int n,
                               sp_flush_job *reuse, char *errstr, size_t errstr_size)
{
    return job_new(pub, parts, n, 0, reuse, errstr, errstr_size);
}

int sp_flush_job_parts(const sp_flush_job *job) { return job->n; }
const sp_flush_outcome *sp_flush_job_outcome(const sp_flush_job *job, int i)
{
    return &job->parts[i].o;
}
size_t sp_flush_job_rollups(const sp_flush_job *job) { return sp_rollups_job_size(job->rollups); }

void sp_flush_job_forget(sp_flush_job *job, int32_t partition)
{
    for (int i = 0; i < job->n; i++)
        if (job->parts[i].o.partition == partition)
            job->parts[i].o.forgotten = 1;
}

int sp_flush_job_pending(const sp_flush_job *job)
{
    for (int i = 0; i < job->n; i++)
        if (!job->parts[i].o.forgotten && job->parts[i].o.result == SP_FLUSH_FAILED)
            return 1;
    return 0;
}

void sp_flush_job_set_meta(sp_flush_job *job, int64_t watermark_ms, const char *version)
{
    job->meta_watermark_ms = watermark_ms;
    snprintf(job->version, sizeof job->version, "%s", version);
}

static int live_part(const job_part *jp)
{
    return !jp->o.forgotten && jp->o.result == SP_FLUSH_OK;
}

/* Step 1: the checkpoints of the parts not committed yet. */
static int commit_all(sp_publisher *pub, sp_flush_job *job, char *errstr, size_t errstr_size)
{
    long *cmd = calloc((size_t)(job->n ? job->n : 1), sizeof *cmd);
    int rc = 0, any = 0;
    if (!cmd) {
        snprintf(errstr, errstr_size, "out of memory sending a flush of %d partitions", job->n);
        return -1;
    }
    sp_redis_batch_reset(pub->batch);
    for (int i = 0; i < job->n; i++) {
        job_part *jp = &job->parts[i];
        cmd[i] = -1;
        if (jp->o.committed || !live_part(jp))
            continue;
        if ((cmd[i] = sp_checkpoint_stage(pub->batch, &pub->cps, pub->prefix, pub->topic,
                                          jp->o.partition, &jp->o.cp, jp->o.cp.seq + 1, 'D',
                                          jp->resume, jp->seg.p, jp->seg.n)) < 0) {
            free(cmd);
            snprintf(errstr, errstr_size, "out of memory sending a flush of %d partitions",
                     job->n);
            return -1;
        }
        any = 1;
    }
    if (!any) {
        free(cmd);
        return 0;
    }
    sp_crashpoint(SP_CRASH_FLUSH_BEFORE_SEND);
    if (sp_redis_batch_run(pub->r, pub->batch, errstr, errstr_size) < 0) {
        for (int i = 0; i < job->n; i++)
            if (cmd[i] >= 0) /* committed or not: the next attempt finds out */
                job->parts[i].o.result = SP_FLUSH_FAILED;
        free(cmd);
        return -1;
    }
    sp_crashpoint(SP_CRASH_FLUSH_SENT);
    for (int i = 0; i < job->n; i++) {
        job_part *jp = &job->parts[i];
        if (cmd[i] < 0)
            continue;
        char why[256];
        sp_cp_result r = sp_checkpoint_result(sp_redis_batch_reply(pub->batch, cmd[i]), why,
                                              sizeof why);
        if (r == SP_CP_OK) {
            jp->o.committed = 1;
            jp->o.cp.seq++;
            jp->o.cp.segments++;
            jp->o.cp.bytes += jp->seg.n;
            pub->stats.checkpoint_bytes += jp->seg.n;
            pub->stats.commits++;
            continue;
        }
        jp->o.result = r == SP_CP_STALE ? SP_FLUSH_STALE
                     : r == SP_CP_BEHIND ? SP_FLUSH_BEHIND : SP_FLUSH_FAILED;
        snprintf(errstr, errstr_size, "%s[%d]: %s", pub->topic, jp->o.partition, why);
        rc = -1;
    }
    free(cmd);
    return rc;
}

/* Step 4: resume points and counts in {p}:meta; learns the oldest watermark. */
static int write_meta(sp_publisher *pub, sp_flush_job *job, char *errstr, size_t errstr_size)
{
    char meta[SP_KEY_MAX], np[16], pre[256], nparts[16];
    sp_key_meta(meta, sizeof meta, pub->prefix);
    snprintf(pre, sizeof pre, "resume:%s:", pub->topic);
    snprintf(nparts, sizeof nparts, "%d", atomic_load(&pub->topic_partitions));
    enum { MAXP = 512 };
    char (*field)[160] = malloc(MAXP * sizeof *field);
    if (!field) {
        snprintf(errstr, errstr_size, "out of memory writing meta");
        return -1;
    }
    sp_redis_batch_reset(pub->batch);
    int rc = 0;
    for (int at = 0; at < job->n && rc == 0;) {
        int k = 0;
        const char *argv[3 + 2 * MAXP + 3];
        int a = 3;
        for (; at < job->n && k < MAXP && k < pub->conf.max_call; at++) {
            job_part *jp = &job->parts[at];
            if (!jp->o.committed || !live_part(jp))
                continue;
            snprintf(field[k], sizeof field[k], "resume:%s:%d", pub->topic, jp->o.partition);
            argv[a++] = field[k];
            argv[a++] = jp->resume;
            k++;
        }
        argv[0] = meta;
        argv[1] = pub->count_names;
        snprintf(np, sizeof np, "%d", k);
        argv[2] = np;
        argv[a++] = "0";
        argv[a++] = pre;
        argv[a++] = nparts;
        if (k && sp_redis_batch_eval(pub->batch, pub->meta_script, 1, a - 1, argv, NULL) < 0) {
            snprintf(errstr, errstr_size, "out of memory writing meta");
            rc = -1;
        }
    }
    if (rc == 0 && sp_redis_batch_size(pub->batch))
        rc = sp_redis_batch_run(pub->r, pub->batch, errstr, errstr_size);
    for (size_t c = 0; rc == 0 && c < sp_redis_batch_size(pub->batch); c++) {
        const redisReply *r = sp_redis_batch_reply(pub->batch, (long)c);
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "meta: %s", r->str);
            rc = -1;
        } else if (r->type == REDIS_REPLY_STRING) {
            atomic_store(&pub->watermark_ms, r->len > 0 ? strtoll(r->str, NULL, 10) -
                                                            pub->conf.lateness_ms
                                                      : INT64_MIN);
        }
    }
    free(field);
    return rc;
}

/* Steps 2-4 for the committed parts. */
static int send_changes(sp_publisher *pub, sp_flush_job *job, int64_t now_event_ms,
                        char *errstr, size_t errstr_size)
{
    int k = 0;
    for (int i = 0; i < job->n; i++) {
        job->include[i] = job->parts[i].o.committed && live_part(&job->parts[i]);
        k += job->include[i];
    }
    if (k == 0)
        return 0;
    int64_t now = sp_wall_ms();
    uint64_t t1 = 0;
    if (sp_rollups_write(pub->rollups, job->rollups, job->include, now, errstr, errstr_size) < 0 ||
        (t1 = now_ns(), sp_live_write(pub->live, job->live, job->rollups, now,
                                      now_event_ms == INT64_MIN ? now : now_event_ms, errstr,
                                      errstr_size) < 0) ||
        (pub->stats.ns_live += now_ns() - t1, write_meta(pub, job, errstr, errstr_size) < 0)) {
        for (int i = 0; i < job->n; i++)
            if (job->include[i])
                job->parts[i].o.result = SP_FLUSH_FAILED;
        return -1;
    }
    return 0;
}

/* After a flush: a grown log becomes one snapshot (best effort: tried at a later flush). */
static void compact_parts(sp_publisher *pub, sp_flush_job *job)
{
    for (int i = 0; i < job->n; i++) {
        job_part *jp = &job->parts[i];
        if (!jp->snap.n || !live_part(jp))
            continue;
        sp_redis_batch_reset(pub->batch);
        char err[256];
        long cmd = sp_checkpoint_stage(pub->batch, &pub->cps, pub->prefix, pub->topic,
                                       jp->o.partition, &jp->o.cp, jp->o.cp.seq, 'S',
                                       jp->resume, jp->snap.p, jp->snap.n);
        if (cmd < 0 || sp_redis_batch_run(pub->r, pub->batch, err, sizeof err) < 0 ||
            sp_checkpoint_result(sp_redis_batch_reply(pub->batch, cmd), err, sizeof err) !=
                SP_CP_OK) {
            sp_debug("%s[%d]: snapshot: %s (tried again later)", pub->topic, jp->o.partition,
                     cmd < 0 ? "out of memory" : err);
            continue;
        }
        jp->o.cp.bytes = jp->o.cp.snapshot_bytes = jp->snap.n;
        jp->o.cp.segments = 1;
        pub->stats.snapshots++;
        sp_buf_reset(&jp->snap);
    }
}

int sp_flush_job_send(sp_publisher *pub, sp_flush_job *job, int64_t now_event_ms,
                      char *errstr, size_t errstr_size)
{
    for (int i = 0; i < job->n; i++)
        if (job->parts[i].o.result == SP_FLUSH_FAILED)
            job->parts[i].o.result = SP_FLUSH_OK;
    if (connect_quiet(pub, errstr, errstr_size) < 0) {
        for (int i = 0; i < job->n; i++)
            if (live_part(&job->parts[i]))
                job->parts[i].o.result = SP_FLUSH_FAILED;
        return -1;
    }
    uint64_t t0 = now_ns();
    int rc = commit_all(pub, job, errstr, errstr_size);
    pub->stats.ns_commit += now_ns() - t0;
    char later[512];
    /* the committed ones go on even when another partition's commit failed */
    if (send_changes(pub, job, now_event_ms, rc < 0 ? later : errstr,
                     rc < 0 ? sizeof later : errstr_size) < 0)
        rc = -1;
    if (rc == 0) {
        pub->stats.flushes++;
        char err[256];
        compact_parts(pub, job);
        if (sp_rollups_release(pub->rollups, atomic_load(&pub->watermark_ms), err, sizeof err) < 0 ||
            sp_rollups_smooth(pub->rollups, 0, sp_wall_ms(), err, sizeof err) < 0 ||
            (job->version[0] && sp_publisher_meta(pub, job->meta_watermark_ms, job->version, err,
                                                  sizeof err) < 0))
            sp_debug("after a flush: %s (done at a later flush)", err);
    }
    return rc;
}

int sp_publisher_flush(sp_publisher *pub, sp_flush_part *parts, int n, int64_t now_event_ms,
                       char *errstr, size_t errstr_size)
{
    sp_flush_job *job = sp_flush_job_new(pub, parts, n, NULL, errstr, errstr_size);
    if (!job) {
        for (int i = 0; i < n; i++)
            parts[i].result = SP_FLUSH_FAILED;
        return -1;
    }
    int rc = sp_flush_job_send(pub, job, now_event_ms, errstr, errstr_size);
    for (int i = 0; i < n; i++) {
        const sp_flush_outcome *o = &job->parts[i].o;
        parts[i].result = o->result;
        parts[i].committed = o->committed;
        *parts[i].cp = o->cp;
    }
    sp_flush_job_destroy(job);
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
    int pending;
    if (sp_checkpoint_claim(pub->r, &pub->cps, pub->prefix, pub->topic, partition, cp, resume,
                            sizeof resume, errstr, errstr_size) < 0 ||
        sp_checkpoint_load(pub->r, pub->prefix, pub->topic, partition, cp, p, &pending,
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
        sp_flush_job *job = job_new(pub, &fp, 1, 1, NULL, errstr, errstr_size);
        int rc = job ? send_changes(pub, job, sp_partition_max_ts(p), errstr, errstr_size) : -1;
        sp_flush_job_destroy(job);
        if (rc < 0)
            return -1;
        pub->stats.resends++;
    }
    sp_partition_published(p, INT64_MIN);
    return 0;
}
