/*
 * lifecycle.c - see lifecycle.h. One function per event type; each updates the flags
 * and timestamps of the record, then emits what became computable.
 */
#include "supportpulse/lifecycle.h"

typedef struct {
    sp_done *done;
    int n;
} out;

static void emit(out *o, sp_duration d, int64_t ms, int64_t at_ms, unsigned extra)
{
    if (o->n < SP_MAX_DONE)
        o->done[o->n++] = (sp_done){d, ms < 0 ? 0 : ms, at_ms, extra};
}

static int has(const sp_case *k, unsigned f) { return (k->flags & f) != 0; }

static void set_start(sp_case *k, int64_t ts)
{
    if (!has(k, SP_CASE_STARTED) || ts < k->start_ts)
        k->start_ts = ts;
    k->flags |= SP_CASE_STARTED;
}

/* ---- calls ------------------------------------------------------------------------ */

static void wait_of(sp_case *k, const sp_thresholds *th, int64_t answered_ts, out *o)
{
    int64_t w = answered_ts - k->start_ts;
    emit(o, SP_D_WAIT, w, answered_ts, w <= th->sl_ms ? SP_DONE_IN_SL : 0);
}

static void abandon_of(sp_case *k, const sp_thresholds *th, out *o)
{
    int64_t w = k->t2 - k->start_ts;
    emit(o, SP_D_ABANDON_WAIT, w, k->t2, w < th->short_abandon_ms ? SP_DONE_SHORT : 0);
    k->flags |= SP_CASE_ABN_DONE;
}

/* A call (tickets use t1/t2 for other things) answered and ended, handle not counted. */
static int answered_and_ended(const sp_case *k)
{
    return has(k, SP_CASE_CALL) && has(k, SP_CASE_T1) && has(k, SP_CASE_T2) &&
           !has(k, SP_CASE_ABANDONED) && !has(k, SP_CASE_HANDLED);
}

static void try_handle(sp_case *k, int64_t at_ms, out *o)
{
    if (!answered_and_ended(k) || !has(k, SP_CASE_WRAPPED))
        return;
    emit(o, SP_D_HANDLE, k->t2 - k->t1 + (int64_t)k->acw_ms, at_ms, 0);
    k->flags |= SP_CASE_HANDLED | SP_CASE_ENDED;
}

static int orphaned(const sp_case *k) { return (k->xflags & SP_CASE_X_ORPHANED) != 0; }

static void call_offered(sp_case *k, int64_t ts, const sp_thresholds *th, out *o)
{
    set_start(k, ts);
    if (!has(k, SP_CASE_T1) && !has(k, SP_CASE_T2) && !orphaned(k))
        k->flags |= SP_CASE_WAITING;
    if (has(k, SP_CASE_T1) && !has(k, SP_CASE_WAIT_DONE)) { /* the answer came first */
        wait_of(k, th, k->t1, o);
        k->flags |= SP_CASE_WAIT_DONE;
    }
    if (has(k, SP_CASE_ABANDONED) && !has(k, SP_CASE_ABN_DONE))
        abandon_of(k, th, o);
}

static void call_answered(sp_case *k, int64_t ts, const sp_thresholds *th, out *o)
{
    k->flags &= (uint16_t)~SP_CASE_WAITING;
    int first = !has(k, SP_CASE_T1);
    if (first) {
        k->t1 = ts;
        k->flags |= SP_CASE_T1;
    }
    if (has(k, SP_CASE_STARTED)) {
        wait_of(k, th, ts, o);
        if (first)
            k->flags |= SP_CASE_WAIT_DONE;
    }
    try_handle(k, ts, o);
}

static void call_abandoned(sp_case *k, int64_t ts, const sp_thresholds *th, out *o)
{
    k->flags &= (uint16_t)~SP_CASE_WAITING;
    if (has(k, SP_CASE_ABANDONED))
        return; /* a second abandon of one call counts once for the wait */
    k->t2 = ts;
    k->flags |= SP_CASE_T2 | SP_CASE_ABANDONED | SP_CASE_ENDED;
    if (has(k, SP_CASE_STARTED))
        abandon_of(k, th, o);
}

static void call_ended(sp_case *k, int64_t ts, out *o)
{
    k->flags &= (uint16_t)~SP_CASE_WAITING;
    if (!has(k, SP_CASE_ABANDONED)) {
        k->t2 = ts;
        k->flags |= SP_CASE_T2;
    }
    if (!has(k, SP_CASE_T1))
        k->flags |= SP_CASE_ENDED; /* never answered: no handle time will come */
    try_handle(k, ts, o);
}

static void timeout_of(sp_case *k, out *o)
{
    emit(o, SP_D_HANDLE, k->t2 - k->t1, k->t2, 0);
    k->flags |= SP_CASE_HANDLED | SP_CASE_ENDED;
}

static void call_wrapup(sp_case *k, const sp_event *ev, int64_t now_ms, out *o)
{
    if (has(k, SP_CASE_HANDLED))
        return; /* after the 10-minute timeout: already counted with acw 0 */
    if (answered_and_ended(k) && now_ms >= k->t2 + SP_WRAPUP_WAIT_MS) {
        timeout_of(k, o); /* overdue, whether or not a sweep has noticed yet */
        return;
    }
    k->acw_ms = ev->acw_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)(ev->acw_ms < 0 ? 0 : ev->acw_ms);
    k->flags |= SP_CASE_WRAPPED;
    try_handle(k, ev->ts_ms, o);
}

/* ---- tickets ---------------------------------------------------------------------- */

static void resolution_of(sp_case *k, int64_t solved_ts, out *o)
{
    int one_touch = k->replies == 1 && !has(k, SP_CASE_REOPENED);
    emit(o, SP_D_RESOLUTION, solved_ts - k->start_ts, solved_ts,
         one_touch ? SP_DONE_ONE_TOUCH : 0);
}

static void ticket_created(sp_case *k, int64_t ts, out *o)
{
    set_start(k, ts);
    if (!has(k, SP_CASE_T2) && !has(k, SP_CASE_ENDED))
        k->flags |= SP_CASE_OPEN;
    if (has(k, SP_CASE_T1) && !has(k, SP_CASE_FR_DONE)) { /* the reply came first */
        emit(o, SP_D_FIRST_REPLY, k->t1 - k->start_ts, k->t1, 0);
        k->flags |= SP_CASE_FR_DONE;
    }
    if (has(k, SP_CASE_RES_PENDING)) {
        resolution_of(k, k->t2, o);
        k->flags &= (uint16_t)~SP_CASE_RES_PENDING;
    }
}

static void ticket_replied(sp_case *k, const sp_event *ev, out *o)
{
    if (ev->author != SP_AUTHOR_AGENT)
        return; /* bot and customer messages are not replies */
    if (k->replies < 255)
        k->replies++;
    if (has(k, SP_CASE_T1))
        return;
    k->t1 = ev->ts_ms;
    k->flags |= SP_CASE_T1;
    if (has(k, SP_CASE_STARTED)) {
        emit(o, SP_D_FIRST_REPLY, ev->ts_ms - k->start_ts, ev->ts_ms, 0);
        k->flags |= SP_CASE_FR_DONE;
    }
}

static void ticket_solved(sp_case *k, int64_t ts, out *o)
{
    k->flags &= (uint16_t)~SP_CASE_OPEN;
    k->t2 = ts;
    k->flags |= SP_CASE_T2;
    if (has(k, SP_CASE_STARTED))
        resolution_of(k, ts, o);
    else
        k->flags |= SP_CASE_RES_PENDING; /* only the latest solve waits for the start */
}

static void ticket_reopened(sp_case *k)
{
    k->flags |= SP_CASE_REOPENED;
    if (has(k, SP_CASE_STARTED) && !has(k, SP_CASE_ENDED))
        k->flags |= SP_CASE_OPEN;
}

/* ---- dispatch --------------------------------------------------------------------- */

int sp_lifecycle_apply(sp_case *k, const sp_event *ev, const sp_thresholds *th,
                       int64_t now_ms, sp_done done[SP_MAX_DONE])
{
    out o = {done, 0};
    int64_t ts = ev->ts_ms;
    if (ev->case_is_call)
        k->flags |= SP_CASE_CALL;
    switch (ev->type) {
    case SP_EV_CALL_OFFERED: call_offered(k, ts, th, &o); break;
    case SP_EV_CALL_ANSWERED: call_answered(k, ts, th, &o); break;
    case SP_EV_CALL_ABANDONED: call_abandoned(k, ts, th, &o); break;
    case SP_EV_CALL_TRANSFERRED: /* back in a queue: the wait continues */
        if (has(k, SP_CASE_STARTED) && !has(k, SP_CASE_T2) && !orphaned(k))
            k->flags |= SP_CASE_WAITING;
        break;
    case SP_EV_CALL_ENDED: call_ended(k, ts, &o); break;
    case SP_EV_CALL_WRAPUP: call_wrapup(k, ev, now_ms, &o); break;
    case SP_EV_TICKET_CREATED: ticket_created(k, ts, &o); break;
    case SP_EV_TICKET_REPLIED: ticket_replied(k, ev, &o); break;
    case SP_EV_TICKET_SOLVED: ticket_solved(k, ts, &o); break;
    case SP_EV_TICKET_REOPENED: ticket_reopened(k); break;
    case SP_EV_TICKET_CLOSED:
        k->flags = (uint16_t)((k->flags & ~SP_CASE_OPEN) | SP_CASE_ENDED);
        break;
    default: break;
    }
    return o.n;
}

int64_t sp_lifecycle_timeout_due(const sp_case *k)
{
    if (!answered_and_ended(k) || has(k, SP_CASE_WRAPPED))
        return INT64_MAX;
    return k->t2 + SP_WRAPUP_WAIT_MS;
}

int sp_lifecycle_timeout(sp_case *k, int64_t now_ms, sp_done *done)
{
    if (now_ms < sp_lifecycle_timeout_due(k))
        return 0;
    out o = {done, 0};
    timeout_of(k, &o);
    return o.n;
}

/* Answered, and neither ended nor abandoned. */
static int in_conversation(const sp_case *k)
{
    return has(k, SP_CASE_CALL) && has(k, SP_CASE_T1) && !has(k, SP_CASE_T2) &&
           !has(k, SP_CASE_ABANDONED);
}

int64_t sp_lifecycle_orphan_due(const sp_case *k, const sp_thresholds *th)
{
    if (orphaned(k))
        return INT64_MAX;
    if (has(k, SP_CASE_WAITING))
        return k->start_ts + th->max_wait_ms;
    if (in_conversation(k))
        return k->t1 + th->max_handle_ms;
    return INT64_MAX;
}

int sp_lifecycle_orphan(sp_case *k, const sp_thresholds *th, int64_t now_ms, int64_t *due_ms)
{
    int64_t due = sp_lifecycle_orphan_due(k, th);
    if (now_ms < due)
        return 0;
    k->flags = (uint16_t)((k->flags & ~SP_CASE_WAITING) | SP_CASE_ENDED);
    k->xflags |= SP_CASE_X_ORPHANED;
    *due_ms = due;
    return 1;
}
