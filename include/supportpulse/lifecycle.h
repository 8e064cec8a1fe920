/*
 * lifecycle.h - correlation of the events of one call or ticket: which durations an
 * event completes (metrics.md), given what the case record remembers.
 *
 * Data flow: partition.c finds the case (cases.h), attributes the event, then calls
 * sp_lifecycle_apply(); it gets back the completed durations, each with the event time
 * whose window it belongs to, and counts them. The case record is updated in place.
 *
 * Rules (docs/metrics.md has the worked examples):
 * - wait (ASA) = call.answered - the FIRST call.offered; a transfer keeps it. Every
 *   answer counts a wait (an answer after a transfer is measured from the first offer);
 *   answered_in_sl when wait <= the queue's threshold.
 * - abandon wait = call.abandoned - offered; short_abandoned when < the queue's limit.
 * - handle = (call.ended - first call.answered) + acw_ms, completed at call.wrapup; a
 *   wrap-up that has not come 10 minutes (event time) after call.ended completes it at
 *   call.ended with acw 0 (sp_lifecycle_timeout); a wrap-up after that is ignored.
 *   "10 minutes later" is judged by the partition's newest event time when the wrap-up
 *   is applied, never by when a sweep ran, so a replay decides the same way.
 * - first reply = first ticket.replied by an agent - ticket.created; bots never count.
 * - resolution = ticket.solved - ticket.created, for every solve (full resolution
 *   time); one_touch when, at the solve, the ticket had exactly one agent reply and had
 *   never been reopened.
 * - orphaned: a call that waits in a queue longer than its queue's max_wait_ms after
 *   its first offer, or is answered and not ended max_handle_ms after its first answer,
 *   times out (sp_lifecycle_orphan): it leaves the queue, counts once as orphaned, and
 *   never waits in a queue again. Its later events are applied as usual (a late answer
 *   still counts its wait, a late end its handle time).
 * - An event that arrives before its start (an answer before its offer, a reply before
 *   the ticket's creation) is remembered; the duration is counted when the start
 *   arrives, in the window of the completing event. Without a start it is never counted.
 *
 * Pure functions on one record: no allocation, no global state.
 */
#ifndef SUPPORTPULSE_LIFECYCLE_H
#define SUPPORTPULSE_LIFECYCLE_H

#include <stdint.h>

#include "supportpulse/cases.h"
#include "supportpulse/event.h"
#include "supportpulse/metrics.h"

#define SP_WRAPUP_WAIT_MS (10 * 60 * 1000)

/* extra counters that go with a completed duration */
#define SP_DONE_IN_SL 1u      /* answered_in_sl */
#define SP_DONE_SHORT 2u      /* short_abandoned */
#define SP_DONE_ONE_TOUCH 4u  /* one_touch */

typedef struct {
    sp_duration d;
    int64_t ms;       /* the duration, >= 0 (clock skew clamps to 0) */
    int64_t at_ms;    /* event time of the completing event: its window gets it */
    unsigned extra;   /* SP_DONE_* */
} sp_done;

typedef struct {
    int64_t sl_ms;            /* answered within this is in the service level */
    int64_t short_abandon_ms; /* abandoned before this is a short abandon */
    int64_t max_wait_ms;      /* in queue longer than this: orphaned */
    int64_t max_handle_ms;    /* answered, and not ended this long after: orphaned */
} sp_thresholds;

#define SP_MAX_DONE 4

/* Updates k with ev and writes the durations ev completes into done[]; returns how
 * many (0..SP_MAX_DONE). th are the thresholds of the queue the event counts under;
 * now_ms is the partition's newest event time, ev included. */
int sp_lifecycle_apply(sp_case *k, const sp_event *ev, const sp_thresholds *th,
                       int64_t now_ms, sp_done done[SP_MAX_DONE]);

/* The handle time of a call whose wrap-up is overdue at now_ms: returns 1 and fills
 * *done, or 0. */
int sp_lifecycle_timeout(sp_case *k, int64_t now_ms, sp_done *done);
/* When sp_lifecycle_timeout will fire for k if nothing else happens to it: the first
 * now_ms at which it returns 1; INT64_MAX when the case waits for no wrap-up. */
int64_t sp_lifecycle_timeout_due(const sp_case *k);

/* When k times out as orphaned if nothing else happens to it (th: its queue's): the
 * first offer + max_wait_ms while it waits in a queue, the first answer + max_handle_ms
 * while it is answered and not ended; INT64_MAX otherwise (a ticket, a call that ended
 * or was abandoned, one already orphaned). */
int64_t sp_lifecycle_orphan_due(const sp_case *k, const sp_thresholds *th);
/* If k is overdue at now_ms: marks it orphaned (out of the queue, and ended, so the
 * case store keeps it only for the grace period after its last event), sets *due_ms to
 * the time it timed out and returns 1; else 0. */
int sp_lifecycle_orphan(sp_case *k, const sp_thresholds *th, int64_t now_ms, int64_t *due_ms);

#endif
