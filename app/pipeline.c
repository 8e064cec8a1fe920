/*
 * pipeline.c - see pipeline.h.
 *
 * State per assigned partition (slot): its sp_partition, the next offset to consume,
 * the offset of its last flush job and the offset last written to Redis, its checkpoint
 * claim, and when it last saw an event (idleness). A slot whose state could not be
 * restored is not consumed and never flushed, so an incomplete state can never overwrite
 * what Redis holds.
 *
 * A flush (docs/design.md, "The flush and commit protocol"): with the decode threads
 * drained, a flush job copies what the moved partitions show and marks them published;
 * the flush thread (flusher.h) writes it to Redis while this thread goes on consuming.
 * One job at a time: the next is built once the last is sent. A job that failed is kept
 * and sent again, unchanged, after a backoff (consumption paused meanwhile) before any
 * newer change of its partitions is.
 *
 * Threads (docs/design.md, Threading): this thread polls Kafka and hands each message of
 * an assigned partition to the decode thread that owns the partition (slot.worker),
 * which decodes and applies it; this thread acts on the outcomes in the order it handed
 * the messages out (statistics, dead letters, next offsets). It touches partition state
 * itself (flush, assignment, revocation, shutdown) only after drain(), when no job is
 * pending and so no decode thread is touching any partition; and it uses the publisher
 * itself (restores, a revocation's flush, shutdown) only after wait_flusher().
 */
#include "supportpulse/pipeline.h"
#include "supportpulse/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supportpulse/attribution.h"
#include "supportpulse/cases.h"
#include "supportpulse/crashpoint.h"
#include "supportpulse/dedup.h"
#include "supportpulse/decode_pool.h"
#include "supportpulse/dlq.h"
#include "supportpulse/flusher.h"
#include "supportpulse/forecast_loop.h"
#include "supportpulse/alert_loop.h"
#include "supportpulse/kafka_consumer.h"
#include "supportpulse/log.h"
#include "supportpulse/partition.h"
#include "supportpulse/redis_publisher.h"

#define VERSION "0.1.0"
#define SP_MAX_PARTITIONS 4096 /* partitions of the topic one instance may own */

/* The kinds of loss counted per partition: SP_PC_EVICTED_CASES .. SP_PC_OVERFLOW_COMBOS
 * (warned about), then the normalized names (counted only). */
#define NLOSSES (SP_PC_OVERFLOW_COMBOS + 1 - SP_PC_EVICTED_CASES)
#define NSTORE (SP_PC__COUNT - SP_PC_EVICTED_CASES)

typedef struct {
    sp_partition *st;      /* NULL when not assigned */
    int restored;
    int64_t next_offset;   /* -1 until the first message */
    int64_t job_offset;    /* the next offset as of its last flush job */
    int64_t flushed_offset; /* ... and as Redis holds it */
    int64_t last_event_mono;
    sp_checkpoint cp;      /* this instance's claim; the flush number Redis holds */
    int restore_again;     /* Redis went back in time: restore from what it holds */
    uint64_t counts[SP_PC__COUNT]; /* messages counted, restored with the resume point */
    uint64_t losses_seen[NSTORE];    /* the stores' and tables' counters when last counted */
    int64_t losses_warned_mono[NLOSSES]; /* when each full one was last warned about */
    int worker;            /* the decode thread that applies this partition's events */
    size_t dirty;          /* its dirty window cells, as of the last job collected */
} slot;

struct sp_pipeline {
    const sp_config *cfg;
    sp_partition_conf pconf;
    sp_consumer *consumer;
    sp_dlq *dlq;
    sp_publisher *pub;
    sp_zones *zones;       /* the publisher's: where each dims' day starts */
    sp_flusher *flusher;   /* the flush thread */
    sp_flush_job *retry;   /* a job that failed, to be sent again */
    sp_flush_job *spare;   /* a job done with: the next one reuses its memory */
    sp_decode_pool *pool;  /* NULL: messages are decoded on this thread */
    slot *slots;
    int nslots;
    atomic_int stop;
    sp_pipeline_stats stats;
    int64_t next_flush_mono, backoff_ms, next_stats_mono;
    int fatal;                           /* a callback failed; the run loop returns it */
    char fatal_err[512];
    int failing;                         /* last flush failed */
    int64_t last_flush_mono;             /* the last flush that succeeded */
    int64_t last_flush_event_ms;         /* ... and the newest event time it wrote */
    int64_t partitions_at_mono;          /* when the topic's partition count was read */
    int behind;                          /* catching up a backlog (catchup_lag) */
    char fail_msg[256];                  /* what the last failure warning said */
    int64_t fail_logged_mono;            /* and when */
    int64_t failing_since_mono;          /* the first failed flush of this run of them */
    sp_flush_part flush[SP_MAX_PARTITIONS]; /* scratch for one flush (not on the stack) */
    int32_t commit_parts[SP_MAX_PARTITIONS];
    int64_t commit_offsets[SP_MAX_PARTITIONS];
};

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static slot *slot_get(sp_pipeline *pl, int32_t partition, int create)
{
    if (partition < 0)
        return NULL;
    if (partition >= pl->nslots) {
        if (!create)
            return NULL;
        int n = partition + 16;
        slot *ns = realloc(pl->slots, (size_t)n * sizeof *ns);
        if (!ns)
            return NULL;
        memset(ns + pl->nslots, 0, (size_t)(n - pl->nslots) * sizeof *ns);
        pl->slots = ns;
        pl->nslots = n;
    }
    return &pl->slots[partition];
}

/* ---- flushing ---------------------------------------------------------------------- */

static int is_idle(const sp_pipeline *pl, const slot *s, int64_t now)
{
    return now - s->last_event_mono > pl->cfg->idle_s * 1000;
}

/* Minimum watermark over assigned partitions that have seen events, leaving out idle
 * ones while any partition is active (when all are idle, over all of them: nothing
 * moves). INT64_MIN before any event. */
static int64_t pipeline_watermark(const sp_pipeline *pl, int64_t now)
{
    int64_t active = INT64_MAX, any = INT64_MAX;
    for (int i = 0; i < pl->nslots; i++) {
        const slot *s = &pl->slots[i];
        if (!s->st || !s->restored || sp_partition_max_ts(s->st) == INT64_MIN)
            continue;
        int64_t wm = sp_partition_watermark(s->st);
        if (wm < any)
            any = wm;
        if (!is_idle(pl, s, now) && wm < active)
            active = wm;
    }
    return active != INT64_MAX ? active : any != INT64_MAX ? any : INT64_MIN;
}

/* Adds what the partition's full stores forgot, and the events its full names tables
 * counted under SP_OVERFLOW_NAME, since the last call to its counts (they reach {p}:meta with the
 * next flush), and warns, at most once a minute per kind and partition, naming the
 * setting that would have kept them apart. */
static void count_losses(sp_pipeline *pl, slot *s, int32_t partition)
{
    static const char *const what[NLOSSES] = {
        "cases (tickets and calls) forgotten before their time",
        "event ids forgotten before their time",
        "attributions of cases that left the case store forgotten before their time",
        "events counted under queue " SP_OVERFLOW_NAME " (too many distinct queues)",
        "events counted under agent " SP_OVERFLOW_NAME " (too many distinct agents)",
        "events counted under tenant " SP_OVERFLOW_NAME " (too many distinct tenants)",
        "events counted under queue " SP_OVERFLOW_NAME
        " (too many distinct tenant, queue and channel combinations)"};
    static const char *const setting[NLOSSES] = {
        "max_cases",  "dedup_capacity", "max_attributions", "max_queues",
        "max_agents", "max_tenants",    "max_combos"};
    static const char *const field[NSTORE] = SP_PC_STORE_FIELDS;
    const sp_partition_stats *ps = sp_partition_get_stats(s->st);
    const uint64_t now[NSTORE] = {sp_cases_evictions(sp_partition_cases(s->st)),
                                   sp_dedup_evictions(sp_partition_dedup(s->st)),
                                   sp_attrs_evictions(sp_partition_attrs(s->st)),
                                   ps->overflow_queue, ps->overflow_agent, ps->overflow_tenant,
                                   ps->overflow_combo, ps->normalized_names, ps->orphaned};
    for (int i = 0; i < NSTORE; i++) {
        uint64_t n = now[i] - s->losses_seen[i];
        if (n == 0)
            continue;
        s->counts[SP_PC_EVICTED_CASES + i] += n;
        s->losses_seen[i] = now[i];
        if (i >= NLOSSES)
            continue;
        if (SP_PC_EVICTED_CASES + i >= SP_PC_OVERFLOW_QUEUES)
            atomic_fetch_add(&pl->stats.overflowed, n);
        int64_t mono = sp_mono_ms();
        if (s->losses_warned_mono[i] && mono - s->losses_warned_mono[i] < 60000)
            continue;
        s->losses_warned_mono[i] = mono;
        sp_warn("%s[%d]: %" PRIu64 " %s since the last flush (counted in %s:meta as %s); "
                "raise %s", pl->cfg->topic, partition, n, what[i], pl->cfg->prefix, field[i],
                setting[i]);
    }
}

/* Builds the list of partitions to write: those that moved since their last flush
 * (only `only` when it is not -1). */
static int moved_partitions(sp_pipeline *pl, sp_flush_part *parts, int max, int32_t only)
{
    int n = 0;
    for (int i = 0; i < pl->nslots && n < max; i++) {
        slot *s = &pl->slots[i];
        if (!s->st || !s->restored || s->restore_again || (only >= 0 && i != only))
            continue;
        if (s->next_offset >= 0 && s->next_offset != s->job_offset) {
            count_losses(pl, s, i);
            parts[n++] = (sp_flush_part){i, s->st, s->next_offset, s->counts, &s->cp, 0,
                                         SP_FLUSH_OK};
        }
    }
    return n;
}

/* Newest event time over the assigned partitions (the live hashes' "now"). */
static int64_t newest_event(const sp_pipeline *pl)
{
    int64_t best = INT64_MIN;
    for (int i = 0; i < pl->nslots; i++)
        if (pl->slots[i].st && sp_partition_max_ts(pl->slots[i].st) > best)
            best = sp_partition_max_ts(pl->slots[i].st);
    return best;
}

/* The flush job of the partitions that moved (only `only`, unless -1), which are then
 * marked published: from here on they take events again while the job is written.
 * *none is set when nothing moved. NULL with errstr when the dead letters are not
 * delivered or memory ran out (nothing is marked). Call with the decode threads drained. */
static sp_flush_job *build_job(sp_pipeline *pl, int32_t only, int dlq_timeout_ms, int *none,
                               char *errstr, size_t errstr_size)
{
    *none = 0;
    if (sp_dlq_flush(pl->dlq, dlq_timeout_ms) < 0) { /* dead letters go out first */
        snprintf(errstr, errstr_size, "dead-letter topic %s: deliveries pending",
                 pl->cfg->dlq_topic);
        return NULL;
    }
    int64_t now = sp_mono_ms(), wm = pipeline_watermark(pl, now);
    if (now - pl->partitions_at_mono > 60000) { /* new partitions hold releases back */
        int np = sp_consumer_partitions(pl->consumer, pl->cfg->topic, 2000);
        if (np > 0) {
            sp_publisher_set_partitions(pl->pub, np);
            pl->partitions_at_mono = now;
        }
    }
    sp_flush_part *fp = pl->flush;
    int n = moved_partitions(pl, fp, SP_MAX_PARTITIONS, only);
    if (n == 0) {
        *none = 1;
        return NULL;
    }
    sp_flush_job *job = sp_flush_job_new(pl->pub, fp, n, pl->spare, errstr, errstr_size);
    pl->spare = NULL;
    if (!job)
        return NULL;
    sp_flush_job_set_meta(job, wm, VERSION);
    for (int i = 0; i < n; i++) {
        slot *s = &pl->slots[fp[i].partition];
        sp_partition_published(s->st, is_idle(pl, s, now) ? wm : INT64_MIN);
        s->dirty = sp_partition_dirty_cells(s->st);
        s->job_offset = fp[i].next_offset;
    }
    atomic_store(&pl->stats.watermark_ms, wm);
    pl->last_flush_mono = now;
    return job;
}

/* Acts on each partition's outcome of a job sent: the flushed ones commit their offsets
 * to Kafka. Returns whether some partition is to be sent again (the job is kept). */
static int job_outcomes(sp_pipeline *pl, sp_flush_job *job, const char *why)
{
    int n = 0;
    for (int i = 0; i < sp_flush_job_parts(job); i++) {
        const sp_flush_outcome *o = sp_flush_job_outcome(job, i);
        slot *s = slot_get(pl, o->partition, 0);
        if (o->forgotten || !s || !s->st || !s->restored)
            continue;
        switch (o->result) {
        case SP_FLUSH_OK:
            s->cp = o->cp;
            s->flushed_offset = o->next_offset;
            pl->commit_parts[n] = o->partition;
            pl->commit_offsets[n++] = o->next_offset;
            break;
        case SP_FLUSH_STALE:
            sp_err("%s[%d]: another instance claimed it since (%s); dropping its local state "
                   "until it is assigned again", pl->cfg->topic, o->partition, why);
            s->restored = 0;
            sp_flush_job_forget(job, o->partition);
            break;
        case SP_FLUSH_BEHIND:
            sp_err("%s[%d]: Redis holds less than this instance committed (flush %" PRId64
                   "): Redis went back in time (restarted from an older snapshot, or a "
                   "failover to a replica that lagged); restoring the partition from what "
                   "Redis holds, which is the truth from now on",
                   pl->cfg->topic, o->partition, s->cp.seq);
            s->restore_again = 1;
            sp_flush_job_forget(job, o->partition);
            break;
        case SP_FLUSH_FAILED:
            break;
        }
    }
    if (n > 0) {
        sp_crashpoint(SP_CRASH_FLUSH_APPLIED);
        atomic_fetch_add(&pl->stats.flushes, 1);
        char cerr[256];
        if (sp_consumer_commit(pl->consumer, pl->cfg->topic, pl->commit_parts, pl->commit_offsets,
                               n, 1, cerr, sizeof cerr))
            sp_debug("%s (Redis holds the resume point; retried at the next flush)", cerr);
    }
    return sp_flush_job_pending(job);
}

/* Warns on the first failed flush; while flushes keep failing, again when the reason
 * changes (at most every 5 s) and every 30 s otherwise, so a pause that lasts says why. */
static void warn_failing(sp_pipeline *pl, const char *why)
{
    int64_t now = sp_mono_ms(), since = now - pl->fail_logged_mono;
    if (!pl->failing)
        sp_warn("%s; pausing consumption and retrying", why);
    else if (since >= (strncmp(why, pl->fail_msg, sizeof pl->fail_msg - 1) ? 5000 : 30000))
        sp_warn("%s; consumption paused for %lld s, still retrying", why,
                (long long)((now - pl->failing_since_mono) / 1000));
    else
        return;
    snprintf(pl->fail_msg, sizeof pl->fail_msg, "%.255s", why);
    pl->fail_logged_mono = now;
}

static void flush_failed(sp_pipeline *pl, const char *why)
{
    atomic_fetch_add(&pl->stats.flush_errors, 1);
    warn_failing(pl, why);
    if (!pl->failing)
        pl->failing_since_mono = sp_mono_ms();
    pl->failing = 1;
    sp_consumer_pause(pl->consumer, 1);
    atomic_store(&pl->stats.paused, 1);
    pl->next_flush_mono = sp_mono_ms() + pl->backoff_ms;
    pl->backoff_ms = pl->backoff_ms * 2 > pl->cfg->max_backoff_ms ? pl->cfg->max_backoff_ms
                                                                  : pl->backoff_ms * 2;
}

static void flush_succeeded(sp_pipeline *pl)
{
    if (pl->failing)
        sp_info("Redis and the dead-letter topic are reachable again; resuming");
    pl->failing = 0;
    pl->backoff_ms = 100;
    sp_consumer_pause(pl->consumer, 0);
    atomic_store(&pl->stats.paused, 0);
}

/* A job sent (by the flush thread or this one): kept to be sent again while a
 * partition of it failed (consumption paused meanwhile), else done. */
static void job_sent(sp_pipeline *pl, sp_flush_job *job, int rc, const char *why)
{
    if (job_outcomes(pl, job, why)) {
        pl->retry = job;
        flush_failed(pl, rc < 0 && *why ? why : "a flush failed");
        return;
    }
    sp_flush_job_destroy(pl->spare);
    pl->spare = job; /* its memory serves the next job */
    pl->retry = NULL;
    flush_succeeded(pl);
}

/* Waits for the job in flight, if any, and acts on its outcome: afterwards this thread
 * may use the publisher. */
static void wait_flusher(sp_pipeline *pl)
{
    char err[512];
    int rc;
    sp_flush_job *job = pl->flusher ? sp_flusher_take(pl->flusher, 1, &rc, err, sizeof err) : NULL;
    if (job)
        job_sent(pl, job, rc, err);
}

/* The job in flight, when sent. */
static void poll_flusher(sp_pipeline *pl)
{
    char err[512];
    int rc;
    sp_flush_job *job = pl->flusher ? sp_flusher_take(pl->flusher, 0, &rc, err, sizeof err) : NULL;
    if (job)
        job_sent(pl, job, rc, err);
}

static int collect(sp_pipeline *pl, int drain, char *errstr, size_t errstr_size);

/* Waits for every job handed to the decode threads and acts on the outcomes, so that
 * each partition's state and next offset agree and no decode thread touches any state
 * (before a flush, an assignment, a revocation, shutdown). A failure is kept for the run
 * loop to report; its partition is left out (record_outcome). */
static void drain(sp_pipeline *pl)
{
    char err[512];
    if (collect(pl, 1, err, sizeof err) < 0 && !pl->fatal) {
        pl->fatal = 1;
        snprintf(pl->fatal_err, sizeof pl->fatal_err, "%s", err);
    }
}

/* Sends a job on this thread (the flush thread idle) and acts on the outcome. */
static void send_here(sp_pipeline *pl, sp_flush_job *job)
{
    char err[512] = "";
    int rc = sp_flush_job_send(pl->pub, job, newest_event(pl), err, sizeof err);
    job_sent(pl, job, rc, err);
}

/* Starts a flush: the job that failed, again, or a new one of what moved since; on the
 * flush thread when there is one, else here. */
static void try_flush(sp_pipeline *pl)
{
    char err[512];
    sp_flush_job *job = pl->retry;
    pl->retry = NULL;
    pl->next_flush_mono = sp_mono_ms() + pl->cfg->flush_ms;
    if (!job) {
        int none;
        drain(pl);
        if (!(job = build_job(pl, -1, pl->failing ? 100 : 5000, &none, err, sizeof err))) {
            if (none)
                flush_succeeded(pl);
            else
                flush_failed(pl, err);
            return;
        }
    }
    if (!pl->flusher || sp_flusher_submit(pl->flusher, job, newest_event(pl)) < 0)
        send_here(pl, job);
}

/* ---- rebalance ----------------------------------------------------------------------- */

/* The decode thread with the fewest assigned partitions (partitions are its unit of
 * work: all events of one go to the same thread). */
static int least_busy_worker(const sp_pipeline *pl)
{
    int nw = pl->pool ? sp_decode_pool_workers(pl->pool) : 1, best = 0;
    size_t load[SP_DECODE_POOL_MAX_WORKERS] = {0};
    for (int i = 0; i < pl->nslots; i++)
        if (pl->slots[i].st)
            load[pl->slots[i].worker % nw]++;
    for (int w = 1; w < nw; w++)
        if (load[w] < load[best])
            best = w;
    return best;
}

/* A fresh state for the slot, restored from Redis (retrying with backoff while Redis
 * is away). Returns the offset to consume from (-1: Redis has none). */
static int64_t restore_slot(sp_pipeline *pl, const char *topic, int32_t partition, slot *s)
{
    char err[512];
    int worker = s->worker;
    sp_partition_destroy(s->st);
    memset(s, 0, sizeof *s);
    s->worker = worker;
    s->next_offset = s->job_offset = s->flushed_offset = -1;
    s->last_event_mono = sp_mono_ms();
    if (!(s->st = sp_partition_new(&pl->pconf, err, sizeof err))) {
        sp_err("%s[%d]: %s", topic, partition, err);
        return -1;
    }
    int64_t resume = -1, backoff = 100;
    while (!atomic_load(&pl->stop)) {
        if (sp_publisher_restore(pl->pub, partition, s->st, &s->cp, &resume, s->counts, err,
                                 sizeof err) == 0) {
            s->restored = 1;
            break;
        }
        sp_partition_destroy(s->st); /* a partial restore is thrown away */
        if (!(s->st = sp_partition_new(&pl->pconf, err, sizeof err))) {
            sp_err("%s[%d]: %s", topic, partition, err);
            return -1;
        }
        atomic_fetch_add(&pl->stats.restore_errors, 1);
        sp_warn("restoring %s[%d] from Redis: %s; retrying in %lld ms", topic, partition, err,
                (long long)backoff);
        sleep_ms(backoff);
        backoff = backoff * 2 > pl->cfg->max_backoff_ms ? pl->cfg->max_backoff_ms : backoff * 2;
    }
    s->dirty = sp_partition_dirty_cells(s->st);
    s->next_offset = s->job_offset = s->flushed_offset = resume;
    return resume;
}

static int64_t on_assign(void *arg, const char *topic, int32_t partition)
{
    sp_pipeline *pl = arg;
    drain(pl); /* no decode thread may hold a job of a state replaced here */
    wait_flusher(pl); /* the restore uses the publisher */
    slot *s = slot_get(pl, partition, 1);
    if (!s) {
        sp_err("out of memory assigning %s[%d]", topic, partition);
        return RD_KAFKA_OFFSET_INVALID;
    }
    sp_partition_destroy(s->st);
    memset(s, 0, sizeof *s);
    s->worker = least_busy_worker(pl);
    int64_t resume = restore_slot(pl, topic, partition, s);
    atomic_fetch_add(&pl->stats.partitions, 1);
    return resume >= 0 ? resume : RD_KAFKA_OFFSET_INVALID;
}

/* Partitions whose flush found Redis behind: restored from what Redis holds, and
 * consumed again from its resume point. What the writers knew of Redis is forgotten
 * first: rollups written after the point Redis went back to are gone, and their
 * versions and marks in the writer's cache would skip them. */
static void restore_again(sp_pipeline *pl)
{
    int forgot = 0;
    for (int i = 0; i < pl->nslots; i++) {
        slot *s = &pl->slots[i];
        if (!s->st || !s->restore_again)
            continue;
        drain(pl);
        wait_flusher(pl); /* the restore uses the publisher */
        if (!forgot++)
            sp_publisher_forget(pl->pub);
        if (pl->retry)
            sp_flush_job_forget(pl->retry, i);
        int64_t had_seq = s->cp.seq, had_offset = s->flushed_offset;
        int64_t resume = restore_slot(pl, pl->cfg->topic, i, s);
        char err[256];
        if (sp_consumer_seek(pl->consumer, pl->cfg->topic, i, resume, err, sizeof err) < 0) {
            sp_err("%s; %s[%d] is left out until it is assigned again", err, pl->cfg->topic, i);
            s->restored = 0;
        } else {
            sp_warn("%s[%d] restored from Redis again: back from flush %" PRId64 " (offset %"
                    PRId64 ") to flush %" PRId64 "; consuming again from %s %" PRId64,
                    pl->cfg->topic, i, had_seq, had_offset, s->cp.seq,
                    resume >= 0 ? "offset" : "the committed offset", resume);
        }
    }
}

/* The job kept to be sent again, tried once more when it holds the partition: 1 when
 * the partition's part of it is done (or it has none), else 0 (left out of it). */
static int retry_for(sp_pipeline *pl, int32_t partition)
{
    sp_flush_job *job = pl->retry;
    if (!job)
        return 1;
    int has = 0;
    for (int i = 0; i < sp_flush_job_parts(job); i++) {
        const sp_flush_outcome *o = sp_flush_job_outcome(job, i);
        has |= o->partition == partition && !o->forgotten && o->result == SP_FLUSH_FAILED;
    }
    if (!has)
        return 1;
    pl->retry = NULL;
    send_here(pl, job);
    job = pl->retry;
    for (int i = 0; job && i < sp_flush_job_parts(job); i++) {
        const sp_flush_outcome *o = sp_flush_job_outcome(job, i);
        if (o->partition == partition && !o->forgotten && o->result == SP_FLUSH_FAILED) {
            sp_flush_job_forget(job, partition);
            return 0;
        }
    }
    return 1;
}

static void on_revoke(void *arg, const char *topic, int32_t partition)
{
    sp_pipeline *pl = arg;
    drain(pl); /* messages of this partition in flight are done and recorded first */
    wait_flusher(pl);
    slot *s = slot_get(pl, partition, 0);
    if (!s || !s->st)
        return;
    char err[512];
    sp_crashpoint(SP_CRASH_REVOKE);
    if (s->restored && !s->restore_again) {
        int none = 1, done = retry_for(pl, partition);
        sp_flush_job *job = NULL;
        if (done && s->restored)
            job = build_job(pl, partition, 10000, &none, err, sizeof err);
        if (job) { /* the partition's last events */
            char why[512] = "";
            sp_flush_job_send(pl->pub, job, newest_event(pl), why, sizeof why);
            done = !job_outcomes(pl, job, why);
            sp_flush_job_destroy(job);
        }
        if (!done || (!none && !job))
            sp_warn("%s[%d] revoked before its last events reached Redis; the next owner "
                    "replays them from the last resume point", topic, partition);
    }
    sp_partition_destroy(s->st);
    memset(s, 0, sizeof *s);
    atomic_fetch_sub(&pl->stats.partitions, 1);
}

/* ---- messages ------------------------------------------------------------------------ */

static int dead_letter(sp_pipeline *pl, slot *s, const rd_kafka_message_t *m,
                       sp_reject_reason r, const char *detail, char *errstr, size_t errstr_size)
{
    atomic_fetch_add(&pl->stats.rejected_by[r], 1);
    s->counts[SP_PC_REJECTED + r]++;
    if (r != SP_REJ_LATE)
        atomic_fetch_add(&pl->stats.rejected, 1);
    sp_debug("dead letter %s[%d]@%" PRId64 ": %s: %s", rd_kafka_topic_name(m->rkt), m->partition,
             m->offset, sp_reject_reason_name(r), detail);
    int rc = sp_dlq_send(pl->dlq, m, sp_reject_reason_name(r), detail, errstr, errstr_size);
    sp_crashpoint(SP_CRASH_DEAD_LETTER);
    return rc;
}

/* Acts on what became of one message of an assigned partition: decode_rc < 0, the
 * decoder rejected it (reason, detail); else sp_partition_apply returned `applied`.
 * When that fails (the dead letter was refused, or memory ran out mid-apply), the
 * partition's state no longer matches its next offset: its decode thread may have
 * applied later events, or this one only part of it. The partition is then left out
 * (restored = 0): not consumed further here, never flushed, so the next owner or a
 * restart consumes it again from the resume point Redis holds, message included. */
static int record_outcome(sp_pipeline *pl, slot *s, const rd_kafka_message_t *m, int decode_rc,
                          sp_apply_result applied, sp_reject_reason reason, const char *detail,
                          char *errstr, size_t errstr_size)
{
    atomic_fetch_add(&pl->stats.consumed, 1);
    s->counts[SP_PC_CONSUMED]++;
    int rc = 0;
    if (decode_rc < 0) {
        rc = dead_letter(pl, s, m, reason, detail, errstr, errstr_size);
    } else {
        switch (applied) {
        case SP_APPLY_OK:
            atomic_fetch_add(&pl->stats.applied, 1);
            s->counts[SP_PC_APPLIED]++;
            break;
        case SP_APPLY_DUPLICATE:
            atomic_fetch_add(&pl->stats.duplicates, 1);
            s->counts[SP_PC_DUPLICATES]++;
            break;
        case SP_APPLY_LATE:
            atomic_fetch_add(&pl->stats.late, 1);
            s->counts[SP_PC_LATE]++;
            rc = dead_letter(pl, s, m, SP_REJ_LATE, "older than the window retention", errstr,
                             errstr_size);
            break;
        case SP_APPLY_REJECT:
            rc = dead_letter(pl, s, m, reason, detail, errstr, errstr_size);
            break;
        case SP_APPLY_NOMEM:
            snprintf(errstr, errstr_size, "%s", detail);
            rc = -1;
            break;
        }
    }
    if (rc < 0) {
        s->restored = 0;
        return -1;
    }
    s->next_offset = m->offset + 1;
    s->last_event_mono = sp_mono_ms();
    return 0;
}

/* The slot of a message's partition when this instance consumes it, else NULL. */
static slot *owned_slot(sp_pipeline *pl, const rd_kafka_message_t *m)
{
    slot *s = slot_get(pl, m->partition, 0);
    return s && s->st && s->restored && !s->restore_again ? s : NULL;
}

/* A message decoded and applied on this thread (decode_threads = 0). */
static int handle_message(sp_pipeline *pl, slot *s, const rd_kafka_message_t *m, char *errstr,
                          size_t errstr_size)
{
    sp_event ev;
    sp_reject_reason reason = SP_REJ_NONE;
    char detail[256];
    sp_apply_result applied = SP_APPLY_OK;
    int rc = sp_event_decode(m->payload, m->len, &ev, &reason, detail, sizeof detail);
    if (rc == 0) {
        applied = sp_partition_apply(s->st, &ev, sp_wall_ms(), &reason, detail, sizeof detail);
        s->dirty = sp_partition_dirty_cells(s->st);
    }
    return record_outcome(pl, s, m, rc, applied, reason, detail, errstr, errstr_size);
}

/* Acts on a collected job (a partition left out after a failure is skipped), destroys
 * its message and releases its slot. 0, or -1 with errstr. */
static int apply_job(sp_pipeline *pl, sp_decode_job *j, char *errstr, size_t errstr_size)
{
    rd_kafka_message_t *m = j->opaque;
    slot *s = owned_slot(pl, m);
    int rc = 0;
    if (s) {
        if (j->rc == 0)
            s->dirty = j->dirty_cells;
        rc = record_outcome(pl, s, m, j->rc, j->applied, j->reason, j->detail, errstr,
                            errstr_size);
    }
    rd_kafka_message_destroy(m);
    sp_decode_pool_release(pl->pool);
    return rc;
}

/* Acts on the jobs at the head of the pool, in submission order: all of them (waiting
 * for the decode threads) when drain is set, else those already done. 0, or -1 with
 * the first failure in errstr; the messages are destroyed either way. */
static int collect(sp_pipeline *pl, int drain, char *errstr, size_t errstr_size)
{
    sp_decode_job *j;
    int rc = 0;
    char later[512];
    while (pl->pool && (j = sp_decode_pool_peek(pl->pool, drain)) != NULL)
        if (apply_job(pl, j, rc < 0 ? later : errstr, rc < 0 ? sizeof later : errstr_size) < 0)
            rc = -1;
    return rc;
}

/* Takes ownership of m. A message of a partition this instance does not consume (any
 * more) is dropped: its owner consumes it. */
static int consume(sp_pipeline *pl, rd_kafka_message_t *m, char *errstr, size_t errstr_size)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            sp_warn("kafka: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return 0;
    }
    slot *s = owned_slot(pl, m);
    if (!s || !pl->pool) {
        int rc = s ? handle_message(pl, s, m, errstr, errstr_size) : 0;
        rd_kafka_message_destroy(m);
        return rc;
    }
    /* while its decode thread's ring is full, collect first */
    while (sp_decode_pool_submit(pl->pool, s->worker, m->payload, m->len, s->st, m) < 0)
        if (apply_job(pl, sp_decode_pool_peek(pl->pool, 1), errstr, errstr_size) < 0) {
            rd_kafka_message_destroy(m);
            return -1;
        }
    return collect(pl, 0, errstr, errstr_size);
}

/* ---- life cycle ---------------------------------------------------------------------- */

sp_pipeline *sp_pipeline_new(const sp_config *cfg, char *errstr, size_t errstr_size)
{
    sp_log_level lvl;
    if (sp_log_parse_level(cfg->log_level, &lvl) == 0)
        sp_log_set_level(lvl);
    if (sp_crashpoint_init(errstr, errstr_size) < 0)
        return NULL;
    sp_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl) {
        snprintf(errstr, errstr_size, "out of memory creating the pipeline");
        return NULL;
    }
    pl->cfg = cfg;
    pl->backoff_ms = 100;
    atomic_store(&pl->stats.watermark_ms, INT64_MIN);
    sp_partition_conf *pc = &pl->pconf;
    sp_partition_conf_defaults(pc);
    pc->lateness_ms = cfg->lateness_s * 1000;
    pc->retention_ms = cfg->retention_s * 1000;
    pc->dedup_horizon_ms = cfg->dedup_horizon_s * 1000;
    pc->dedup_capacity = (size_t)cfg->dedup_capacity;
    pc->max_cases = (size_t)cfg->max_cases;
    pc->case_max_age_ms = cfg->case_max_age_s * 1000;
    pc->max_queues = (size_t)cfg->max_queues;
    pc->max_agents = (size_t)cfg->max_agents;
    pc->max_tenants = (size_t)cfg->max_tenants;
    pc->max_combos = (size_t)cfg->max_combos;
    pc->max_future_ms = cfg->max_future_s * 1000;
    pc->case_grace_ms = cfg->case_grace_s * 1000;
    pc->max_attributions = (size_t)cfg->max_attributions;
    pc->attribution_horizon_ms = cfg->attribution_horizon_s * 1000;
    pc->sl_ms = cfg->sl_threshold_s * 1000;
    pc->short_abandon_ms = cfg->short_abandon_s * 1000;
    pc->sl_by_queue = cfg->sl_by_queue;
    pc->short_abandon_by_queue = cfg->short_abandon_by_queue;
    pc->max_wait_ms = cfg->max_wait_s * 1000;
    pc->max_handle_ms = cfg->max_handle_s * 1000;
    pc->max_wait_by_queue = cfg->max_wait_by_queue;
    pc->max_handle_by_queue = cfg->max_handle_by_queue;
    if (sp_res_by_class_parse(cfg->resolutions_by_dims, &pc->res, errstr, errstr_size) < 0) {
        sp_pipeline_destroy(pl);
        return NULL;
    }
    sp_publisher_conf rc = {.address = cfg->redis,
                            .user = cfg->redis_user,
                            .password = cfg->redis_password,
                            .tls = sp_config_redis_tls(cfg),
                            .prefix = cfg->prefix,
                            .topic = cfg->topic,
                            .connect_timeout_ms = (int)cfg->redis_timeout_ms,
                            .command_timeout_ms = (int)cfg->redis_timeout_ms,
                            .lateness_ms = pc->lateness_ms,
                            .retention_ms = pc->retention_ms,
                            .csat_prior_weight = cfg->csat_prior_weight,
                            .max_call = (int)cfg->redis_call_cells,
                            .resolutions = cfg->resolutions_by_dims,
                            .smooth_every_ms = 10000};
    memcpy(rc.ttl_s, cfg->ttl_s, sizeof rc.ttl_s);
    if (!(pl->zones = sp_zones_new(cfg->time_zone, cfg->tenant_time_zones, errstr, errstr_size)) ||
        sp_zones_check_res(pl->zones, &pc->res, errstr, errstr_size) < 0)
        goto fail;
    rc.zones = pl->zones;
    if ((cfg->decode_threads > 0 &&
         !(pl->pool = sp_decode_pool_new((int)cfg->decode_threads, 1024, errstr, errstr_size))) ||
        !(pl->pub = sp_publisher_new(&rc, errstr, errstr_size)) ||
        !(pl->flusher = sp_flusher_new(pl->pub, errstr, errstr_size)) ||
        !(pl->dlq = sp_dlq_new(cfg->bootstrap, cfg->dlq_topic, cfg->kafka_key, cfg->kafka_val,
                               cfg->nkafka, errstr, errstr_size)))
        goto fail;
    sp_consumer_conf cc = {cfg->bootstrap, cfg->group, cfg->topic, cfg->offset_reset,
                           cfg->kafka_key, cfg->kafka_val, cfg->nkafka, on_assign, on_revoke, pl};
    if (!(pl->consumer = sp_consumer_new(&cc, errstr, errstr_size)))
        goto fail;
    return pl;
fail:
    sp_pipeline_destroy(pl);
    return NULL;
}

void sp_pipeline_destroy(sp_pipeline *pl)
{
    if (!pl)
        return;
    sp_consumer_destroy(pl->consumer); /* revokes: on_revoke flushes what is left */
    sp_decode_job *j;
    while (pl->pool && (j = sp_decode_pool_peek(pl->pool, 1)) != NULL) {
        rd_kafka_message_destroy(j->opaque); /* not recorded: consumed again later */
        sp_decode_pool_release(pl->pool);
    }
    sp_decode_pool_destroy(pl->pool);
    sp_flusher_destroy(pl->flusher);
    sp_flush_job_destroy(pl->retry);
    sp_flush_job_destroy(pl->spare);
    sp_dlq_destroy(pl->dlq);
    sp_publisher_destroy(pl->pub);
    sp_zones_free(pl->zones);
    for (int i = 0; i < pl->nslots; i++)
        sp_partition_destroy(pl->slots[i].st);
    free(pl->slots);
    free(pl);
}

void sp_pipeline_stop(sp_pipeline *pl) { atomic_store(&pl->stop, 1); }
const sp_pipeline_stats *sp_pipeline_get_stats(const sp_pipeline *pl) { return &pl->stats; }

uint64_t sp_pipeline_dead_letters_cut(const sp_pipeline *pl)
{
    return pl->dlq ? sp_dlq_truncated(pl->dlq) : 0;
}

/* Dirty window cells over the assigned partitions, as of the jobs collected (the decode
 * threads may be writing the states themselves). */
static size_t dirty_cells(const sp_pipeline *pl)
{
    size_t n = 0;
    for (int i = 0; i < pl->nslots; i++)
        if (pl->slots[i].st)
            n += pl->slots[i].dirty;
    return n;
}

static void print_stats(sp_pipeline *pl)
{
    const sp_pipeline_stats *s = &pl->stats;
    char wm[40] = "-";
    int64_t w = atomic_load(&s->watermark_ms);
    if (w != INT64_MIN)
        sp_ts_format(w, wm, sizeof wm);
    /* the publisher's counters: its own while this thread owns it, else as of the
     * flush thread's last job */
    sp_publisher_stats st;
    if (pl->flusher && sp_flusher_busy(pl->flusher))
        sp_flusher_stats(pl->flusher, &st);
    else
        st = *sp_publisher_get_stats(pl->pub);
    const sp_publisher_stats *ps = &st;
    sp_info("consumed=%" PRIuFAST64 " applied=%" PRIuFAST64 " rejected=%" PRIuFAST64
            " duplicates=%" PRIuFAST64 " late=%" PRIuFAST64 " flushes=%" PRIuFAST64
            " rollups_written=%" PRIu64 " rollup_conflicts=%" PRIu64
            " dead_letters_cut=%" PRIu64 " overflowed=%" PRIuFAST64 " watermark=%s%s%s",
            atomic_load(&s->consumed), atomic_load(&s->applied), atomic_load(&s->rejected),
            atomic_load(&s->duplicates), atomic_load(&s->late), atomic_load(&s->flushes),
            ps->rollups.writes, ps->rollups.conflicts, sp_pipeline_dead_letters_cut(pl),
            atomic_load(&s->overflowed), wm, pl->behind ? " CATCHING-UP" : "",
            atomic_load(&s->paused) ? " PAUSED" : "");
    sp_debug("flush time (s): checkpoints %.2f, rollup totals %.2f, calls built %.2f, rollups "
             "in Redis %.2f, follow-up %.2f, live %.2f; %" PRIu64 " calls, %" PRIu64 " rounds",
             ps->ns_commit / 1e9, ps->rollups.ns_totals / 1e9, ps->rollups.ns_build / 1e9,
             ps->rollups.ns_redis / 1e9, ps->rollups.ns_follow / 1e9, ps->ns_live / 1e9,
             ps->rollups.calls, ps->rollups.rounds);
}

/* Every change, on this thread: the job kept to be sent again, then what moved since.
 * 0, or -1 with errstr. */
static int flush_here(sp_pipeline *pl, char *errstr, size_t errstr_size)
{
    sp_flush_job *job = pl->retry;
    pl->retry = NULL;
    for (int pass = 0; pass < 2; pass++) {
        if (!job) {
            int none;
            drain(pl);
            if (!(job = build_job(pl, -1, 10000, &none, errstr, errstr_size)))
                return none ? 0 : -1;
        }
        errstr[0] = '\0';
        sp_flush_job_send(pl->pub, job, newest_event(pl), errstr, errstr_size);
        if (job_outcomes(pl, job, errstr)) {
            pl->retry = job;
            if (!errstr[0])
                snprintf(errstr, errstr_size, "a flush failed");
            return -1;
        }
        sp_flush_job_destroy(job);
        job = NULL;
    }
    return 0;
}

/* At shutdown: keep trying to flush for up to 30 s (Redis may be restarting). */
static int final_flush(sp_pipeline *pl, char *errstr, size_t errstr_size)
{
    int64_t deadline = sp_mono_ms() + 30000, backoff = 100;
    wait_flusher(pl);
    while (flush_here(pl, errstr, errstr_size) < 0 ||
           sp_publisher_smooth(pl->pub, 1, errstr, errstr_size) < 0) {
        if (sp_mono_ms() + backoff > deadline) {
            sp_err("shutdown: %s; the unflushed events will be consumed again on restart",
                   errstr);
            return -1;
        }
        sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return 0;
}

static int run_loop(sp_pipeline *pl, char *errstr, size_t errstr_size);

/* The forecaster and the alert evaluator run on their own threads for as long as the
 * pipeline does. */
int sp_pipeline_run(sp_pipeline *pl, char *errstr, size_t errstr_size)
{
    sp_forecast_loop *fl = NULL;
    sp_alert_loop *al = NULL;
    int conflict;
    if (sp_publisher_connect(pl->pub, &conflict, errstr, errstr_size) < 0) {
        if (conflict)
            return -2; /* a setting that disagrees with what the prefix holds */
        sp_warn("%s; retrying as partitions are assigned", errstr);
    }
    if (pl->cfg->forecast && !(fl = sp_forecast_loop_start(pl->cfg, errstr, errstr_size)))
        return -1;
    if (*pl->cfg->alert_rules && !(al = sp_alert_loop_start(pl->cfg, errstr, errstr_size))) {
        sp_forecast_loop_stop(fl);
        return -1;
    }
    int rc = run_loop(pl, errstr, errstr_size);
    sp_alert_loop_stop(al);
    sp_forecast_loop_stop(fl);
    return rc;
}

/* Whether the assigned partitions are catchup_lag messages or more behind the ends of
 * their logs (as librdkafka last heard them). */
static int catching_up(sp_pipeline *pl)
{
    int64_t lag = 0;
    for (int i = 0; i < pl->nslots; i++)
        if (pl->slots[i].st && pl->slots[i].restored)
            lag += sp_consumer_lag(pl->consumer, pl->cfg->topic, i, pl->slots[i].next_offset);
    return lag >= pl->cfg->catchup_lag;
}

/* When to flush: live, every flush_ms or at max_dirty_cells; catching up a backlog, at
 * catchup_dirty_cells or every catchup_flush_ms, so each rollup is written a few times
 * for the whole backlog instead of once a second; after a failure, at the backoff. */
static int flush_due(sp_pipeline *pl, int64_t now, size_t dirty)
{
    if (pl->failing)
        return now >= pl->next_flush_mono;
    if (pl->behind)
        return dirty >= (size_t)pl->cfg->catchup_dirty_cells ||
               now - pl->last_flush_mono >= pl->cfg->catchup_flush_ms;
    return now >= pl->next_flush_mono || dirty >= (size_t)pl->cfg->max_dirty_cells;
}

/* Dirty cells at twice the mode's budget: the flush in flight is waited for. */
static int over_budget(const sp_pipeline *pl, size_t dirty)
{
    int64_t budget = pl->behind ? pl->cfg->catchup_dirty_cells : pl->cfg->max_dirty_cells;
    return dirty >= 2 * (size_t)budget;
}

static int run_loop(sp_pipeline *pl, char *errstr, size_t errstr_size)
{
    unsigned since_check = 0;
    pl->next_flush_mono = sp_mono_ms() + pl->cfg->flush_ms;
    pl->next_stats_mono = sp_mono_ms() + pl->cfg->stats_s * 1000;
    pl->last_flush_mono = sp_mono_ms();
    while (!atomic_load(&pl->stop)) {
        int pending = pl->pool && sp_decode_pool_pending(pl->pool) > 0;
        rd_kafka_message_t *m = sp_consumer_poll(pl->consumer, pending ? 0 : 50);
        if ((m && consume(pl, m, errstr, errstr_size) < 0) ||
            (!m && pending && collect(pl, 1, errstr, errstr_size) < 0)) /* nothing new: wait */
            return -1;
        if (pl->fatal) {
            snprintf(errstr, errstr_size, "%s", pl->fatal_err);
            return -1;
        }
        int64_t now = sp_mono_ms();
        size_t dirty = 0;
        if (++since_check >= 1000 || !m) {
            since_check = 0;
            pl->behind = catching_up(pl);
            dirty = dirty_cells(pl);
        }
        poll_flusher(pl);
        if (flush_due(pl, now, dirty)) {
            /* one job at a time; past twice the budget, this thread waits for it */
            if (pl->flusher && sp_flusher_busy(pl->flusher) && over_budget(pl, dirty))
                wait_flusher(pl);
            if (!pl->flusher || !sp_flusher_busy(pl->flusher))
                try_flush(pl);
        }
        restore_again(pl);
        if (pl->cfg->stats_s && now >= pl->next_stats_mono) {
            print_stats(pl);
            pl->next_stats_mono = now + pl->cfg->stats_s * 1000;
        }
    }
    sp_info("stopping: flushing the last events");
    char err[512];
    drain(pl);
    if (final_flush(pl, err, sizeof err) < 0)
        return 0; /* not fatal: nothing was committed past what Redis holds */
    int n = 0;
    for (int i = 0; i < pl->nslots && n < SP_MAX_PARTITIONS; i++)
        if (pl->slots[i].st && pl->slots[i].restored && pl->slots[i].flushed_offset >= 0) {
            pl->commit_parts[n] = i;
            pl->commit_offsets[n++] = pl->slots[i].flushed_offset;
        }
    if (sp_consumer_commit(pl->consumer, pl->cfg->topic, pl->commit_parts, pl->commit_offsets, n,
                           0, err, sizeof err))
        sp_warn("%s", err);
    print_stats(pl);
    return 0;
}
