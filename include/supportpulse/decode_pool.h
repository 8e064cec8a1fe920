/*
 * decode_pool.h - the per-event work off the pipeline thread: worker threads decode
 * Kafka message values and apply them to the partitions they own; results are handed
 * back in submission order.
 *
 * Data flow: the pipeline thread submits each message value to the worker that owns its
 * partition (the caller names the worker; the pipeline gives each assigned partition
 * one), into the next slot of that worker's ring. The worker decodes it (sp_event_decode:
 * JSON parsing, validation, timestamps, the hashes of the id and the case) into a buffer
 * of its own (not the slot: the event stays in that core's cache), applies it (sp_partition_apply: dedup,
 * lateness, the case, the window counters and sketches) and records the outcome in the
 * slot. The pipeline thread collects the jobs in the order it submitted them and acts
 * on the outcomes (statistics, dead letters, offsets). A partition's events all go to
 * one worker, in Kafka order, so each partition's state has exactly one writer, and
 * workers with different partitions share nothing: two workers do twice the work.
 *
 * Threading model and memory ordering. Each worker ring is single-producer (the
 * pipeline thread) / single-consumer (the worker), with two counters:
 *   submitted - written by the pipeline thread with release after it has filled the
 *               slot; read by the worker with acquire, so the worker sees the slot's
 *               input, and whatever the pipeline thread wrote to the partition before
 *               submitting (a flush marking cells clean);
 *   done      - written by the worker (seq_cst, so release) after it has filled the
 *               slots' results and applied the events up to it (every 16 jobs, and
 *               whenever it has done all it was given, so none waits unpublished while
 *               the worker idles); read by the pipeline thread with acquire, so it sees
 *               the results and the partition as those applies left it.
 * The pipeline thread reuses a slot only after collecting the job that held it, so a
 * slot is never written by both sides at once. The pipeline thread reads or writes a
 * partition's state (to flush it, restore it, revoke it) only when every job it
 * submitted has been collected (sp_decode_pool_pending() == 0): then no worker touches
 * any partition until the next submit, and the counters above order the two sides. No
 * lock is taken per message. An idle worker sleeps on a semaphore: it announces
 * `sleeping` (seq_cst) and re-checks `submitted` before sem_wait; the submitter stores
 * `submitted` (seq_cst) and posts only if it then sees `sleeping` - the Dekker pattern,
 * so a wake-up cannot be lost and the busy path makes no system call. The pipeline
 * thread, waiting for an outcome when the workers have no core to spare, sleeps the
 * same way the other way round: it stores `want` (the `done` it waits for: a quarter
 * ring on) and re-checks `done`; the worker stores `done` and posts `space` only if it
 * then sees `want` reached, and whichever side clears `want` (a compare-exchange)
 * decides whether a post is owed. With a spare core it spins, yields, then naps.
 *
 * Ownership: the pool does not own submitted payloads or partitions; they must stay
 * valid until the job is collected and released. Only the thread that created the pool
 * may submit, peek and release.
 */
#ifndef SUPPORTPULSE_DECODE_POOL_H
#define SUPPORTPULSE_DECODE_POOL_H

#include <stddef.h>

#include "supportpulse/event.h"
#include "supportpulse/partition.h"

typedef struct {
    const void *payload;   /* input, borrowed */
    size_t len;
    void *opaque;          /* the caller's (the Kafka message) */
    sp_partition *part;    /* input: the partition to apply to */
    int rc;                /* output: 0 decoded, -1 rejected by the decoder */
    sp_apply_result applied; /* when rc == 0: sp_partition_apply's result */
    sp_reject_reason reason; /* of a decoder or apply rejection */
    size_t dirty_cells;    /* when rc == 0: the partition's dirty window cells afterwards */
    char detail[256];        /* its message; for SP_APPLY_NOMEM, what ran out */
} sp_decode_job;

typedef struct sp_decode_pool sp_decode_pool;

#define SP_DECODE_POOL_MAX_WORKERS 64

/* Starts `workers` threads (1..SP_DECODE_POOL_MAX_WORKERS), each with a ring of `depth`
 * slots. */
sp_decode_pool *sp_decode_pool_new(int workers, size_t depth, char *errstr, size_t errstr_size);
/* Stops and joins the workers. Jobs not collected are dropped. NULL is a no-op. */
void sp_decode_pool_destroy(sp_decode_pool *p);
int sp_decode_pool_workers(const sp_decode_pool *p);
/* How sp_decode_pool_peek waits: block != 0 sleeps on a semaphore until the worker has
 * done a quarter of its ring more (the default when the workers have no core to spare:
 * online CPUs <= workers); 0 spins, yields, then sleeps in 20 us steps (the default when
 * there is a spare core, where spinning takes nothing from the workers). */
void sp_decode_pool_set_blocking(sp_decode_pool *p, int block);

/* Submits a payload to worker `worker` (taken modulo the number of workers), to be
 * decoded and applied to part (not NULL). All jobs of one partition must go to the same
 * worker. 0, or -1 when that worker's ring is full (collect first). */
int sp_decode_pool_submit(sp_decode_pool *p, int worker, const void *payload, size_t len,
                          sp_partition *part, void *opaque);
/* The oldest job not yet released, once done; NULL when none is pending or (with
 * wait = 0) it is not done yet. With wait != 0 it waits for it. The job stays valid
 * until sp_decode_pool_release. */
sp_decode_job *sp_decode_pool_peek(sp_decode_pool *p, int wait);
void sp_decode_pool_release(sp_decode_pool *p);
/* Jobs submitted and not released. */
size_t sp_decode_pool_pending(const sp_decode_pool *p);

#endif
