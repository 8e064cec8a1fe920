/*
 * flusher.h - the flush thread: sends one flush job at a time (redis_publisher.h) while
 * the pipeline thread goes on consuming and applying events, so that decoding and
 * Redis's work overlap instead of taking turns.
 *
 * The pipeline thread builds a job from its quiescent partitions, marks them published
 * and hands the job over (sp_flusher_submit); it takes the job back, with its outcome,
 * once sent (sp_flusher_take). While a job is in flight the flush thread owns the
 * publisher; the pipeline thread uses the publisher itself (restores, a revocation's
 * flush, shutdown) only when none is (sp_flusher_busy is 0, or after a waiting take).
 *
 * Synchronization: a mutex and a condition variable, taken twice per job (submit, take)
 * and never per event. Ownership: a submitted job belongs to the flusher until taken.
 */
#ifndef SUPPORTPULSE_FLUSHER_H
#define SUPPORTPULSE_FLUSHER_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/redis_publisher.h"

typedef struct sp_flusher sp_flusher;

/* Starts the thread (pub stays the caller's). NULL with errstr on failure. */
sp_flusher *sp_flusher_new(sp_publisher *pub, char *errstr, size_t errstr_size);
/* Stops the thread once the job in flight is sent; that job, if never taken, is
 * destroyed. NULL is a no-op. */
void sp_flusher_destroy(sp_flusher *f);

/* Hands a job over to be sent. 0, or -1 when a job is in flight or taken back not yet
 * (the caller keeps the job). */
int sp_flusher_submit(sp_flusher *f, sp_flush_job *job, int64_t now_event_ms);
/* A job handed over, once sent: returns it (the caller owns it again) with the send's
 * return in *rc and its message in errstr; NULL when none is in flight, or (wait = 0)
 * while it is still being sent. */
sp_flush_job *sp_flusher_take(sp_flusher *f, int wait, int *rc, char *errstr,
                              size_t errstr_size);
/* Whether a job is handed over and not taken back. Only the submitting thread's answer
 * is reliable (it alone submits and takes). */
int sp_flusher_busy(const sp_flusher *f);
/* The publisher's statistics as of the end of the last job sent by the thread. */
void sp_flusher_stats(sp_flusher *f, sp_publisher_stats *out);

#endif
