/*
 * decode_pool.h - decoding of Kafka message values on worker threads, results handed
 * back in submission order.
 *
 * Data flow: the pipeline thread submits each message value (job i goes to worker
 * i % W, into slot (i / W) % depth of that worker's ring); the worker decodes it into
 * the slot (sp_event_decode: JSON parsing, validation, timestamps, the hashes of the
 * id and the case: about 3/4 of the per-event work); the pipeline thread collects the
 * jobs in the order it submitted them and applies them to the window state, which it
 * alone writes. So the events of every partition are applied in Kafka order, and the
 * window, case and dedup state has a single writer and no lock.
 *
 * Threading model and memory ordering. Each worker ring is single-producer (the
 * pipeline thread) / single-consumer (the worker), with two counters:
 *   submitted - written by the pipeline thread with memory_order_release after it has
 *               filled the slot; read by the worker with acquire, so the worker sees
 *               the slot's input;
 *   decoded   - written by the worker with release after it has filled the slot's
 *               result; read by the pipeline thread with acquire, so it sees the result.
 * The pipeline thread reuses a slot only after collecting the job that held it (its own
 * counter, submitted - collected < depth), so a slot is never written by both sides at
 * once. No lock is taken per message. An idle worker sleeps on a semaphore: it
 * announces `sleeping` (seq_cst) and re-checks `submitted` before sem_wait; the
 * submitter stores `submitted` (seq_cst) and posts only if it then sees `sleeping` - the
 * Dekker pattern, so a wake-up cannot be lost and the busy path makes no system call.
 *
 * Ownership: the pool does not own submitted payloads; they must stay valid until the
 * job is collected and released. Only the thread that created the pool may submit,
 * peek and release.
 */
#ifndef SUPPORTPULSE_DECODE_POOL_H
#define SUPPORTPULSE_DECODE_POOL_H

#include <stddef.h>

#include "supportpulse/event.h"

typedef struct {
    const void *payload;   /* input, borrowed */
    size_t len;
    void *opaque;          /* the caller's (the Kafka message) */
    int rc;                /* output: 0 decoded, -1 rejected */
    sp_reject_reason reason;
    char detail[256];
    sp_event ev;
} sp_decode_job;

typedef struct sp_decode_pool sp_decode_pool;

/* Starts `workers` threads (1..64), each with a ring of `depth` slots. */
sp_decode_pool *sp_decode_pool_new(int workers, size_t depth, char *errstr, size_t errstr_size);
/* Stops and joins the workers. Jobs not collected are dropped. NULL is a no-op. */
void sp_decode_pool_destroy(sp_decode_pool *p);

/* Submits a payload. 0, or -1 when the next worker's ring is full (collect first). */
int sp_decode_pool_submit(sp_decode_pool *p, const void *payload, size_t len, void *opaque);
/* The oldest job not yet released, once decoded; NULL when none is pending or (with
 * wait = 0) it is not decoded yet. With wait != 0 it waits for it. The job stays valid
 * until sp_decode_pool_release. */
sp_decode_job *sp_decode_pool_peek(sp_decode_pool *p, int wait);
/* The job `ahead` places after the oldest (1 = the next), if it is decoded; NULL when
 * it is not (yet) or was not submitted. Never waits. For looking ahead while the oldest
 * is applied (sp_partition_prefetch); read-only use, valid as long as that job is not
 * released. */
sp_decode_job *sp_decode_pool_peek_ahead(sp_decode_pool *p, size_t ahead);
/* How far ahead the pipeline thread looks (app/pipeline.c, and spbench as it does): one
 * job's apply (~0.5 us) covers a memory load; a few keep the loads ahead when jobs are
 * cheaper (duplicates, late events). */
#define SP_PREFETCH_AHEAD 3
void sp_decode_pool_release(sp_decode_pool *p);
/* Jobs submitted and not released. */
size_t sp_decode_pool_pending(const sp_decode_pool *p);

#endif
