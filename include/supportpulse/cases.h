/*
 * cases.h - what the pipeline remembers of each ticket and call of one partition, so
 * that a later event that does not repeat them (call.answered, ticket.solved, a survey
 * days later) is counted under the right queue, channel, tenant and agent.
 *
 * The record also holds what the response-time metrics correlate (lifecycle.h): when
 * the call was offered and answered, when the ticket was created and first replied to,
 * reply counts and state flags.
 *
 * Cases are keyed by the 64-bit hash of "t:"/"c:" + id and kept in a ring in order of
 * creation. A case leaves when it has ended (SP_CASE_ENDED) and seen no event for the
 * grace period (late events, surveys), when its last event is older than max_age, or
 * when the ring is full (the oldest leaves first, counted as an eviction). Removed
 * cases leave a hole in the ring that is reused once the ring's head passes it.
 * Strings (queue, agent, tenant) are interned per partition, so one case costs 64
 * bytes of record plus 16-32 bytes of index, whatever its id's length.
 *
 * Single writer, owned by one partition's state. Changed cases are listed as dirty so
 * the publisher can store them in Redis and a restarted pipeline can restore them.
 */
#ifndef SUPPORTPULSE_CASES_H
#define SUPPORTPULSE_CASES_H

#include <stddef.h>
#include <stdint.h>

/* flags */
#define SP_CASE_CALL        0x0001u
#define SP_CASE_STARTED     0x0002u /* start_ts known (call.offered / ticket.created) */
#define SP_CASE_T1          0x0004u /* t1 known */
#define SP_CASE_T2          0x0008u /* t2 known */
#define SP_CASE_WAITING     0x0010u /* call in queue */
#define SP_CASE_OPEN        0x0020u /* ticket in the backlog */
#define SP_CASE_ENDED       0x0040u /* over: leaves after the grace period */
#define SP_CASE_WAIT_DONE   0x0080u /* calls: the first answer's wait is counted */
#define SP_CASE_ABANDONED   0x0100u /* calls: t2 is the abandon time */
#define SP_CASE_HANDLED     0x0200u /* calls: handle time counted */
#define SP_CASE_WRAPPED     0x0400u /* calls: acw_ms known */
#define SP_CASE_FR_DONE     0x0800u /* tickets: first reply time counted */
#define SP_CASE_REOPENED    0x1000u /* tickets */
#define SP_CASE_RES_PENDING 0x2000u /* tickets: solved before created was seen */
#define SP_CASE_ABN_DONE    0x4000u /* calls: abandon wait counted */
#define SP_CASE_CSAT_SEEN   0x8000u /* a survey.csat for this case was counted */
/* xflags */
#define SP_CASE_X_ORPHANED  0x01u   /* calls: timed out in queue or in conversation */

typedef struct {
    uint64_t key;       /* hash of kind+id; 0 = free slot */
    int64_t last_ts;    /* newest event time seen for this case */
    int64_t start_ts;   /* first call.offered (kept across transfers) / ticket.created */
    int64_t t1;         /* calls: first call.answered; tickets: first agent reply */
    int64_t t2;         /* calls: call.ended or call.abandoned; tickets: last solve */
    uint32_t queue;     /* interned name ids */
    uint32_t agent;
    uint32_t acw_ms;    /* calls: after-call work of the wrap-up */
    uint32_t qpos;      /* position + 1 in the partition's list of waiting calls */
    uint16_t tenant;
    uint16_t flags;
    uint8_t channel;    /* sp_channel */
    uint8_t dirty;
    uint8_t replies;    /* tickets: agent replies, saturating at 255 */
    uint8_t xflags;     /* SP_CASE_X_*: flags is full, and this keeps the record 64 bytes */
} sp_case;

typedef struct sp_cases sp_cases;

sp_cases *sp_cases_new(size_t capacity, int64_t max_age_ms, int64_t grace_ms);
/* fn is called with each case just before it leaves (expiry, removal or eviction). */
void sp_cases_on_drop(sp_cases *c, void (*fn)(sp_case *k, void *arg), void *arg);
void sp_cases_destroy(sp_cases *c); /* NULL is a no-op */
uint64_t sp_case_key(int is_call, const char *id, size_t len);
/* Starts loading the index entry a lookup of key will read; no other effect. */
void sp_cases_prefetch(const sp_cases *c, uint64_t key);
/* The case, or NULL when unknown. The pointer is valid until the next sp_cases_open. */
sp_case *sp_cases_find(sp_cases *c, uint64_t key);
/* Finds or creates the case (marked dirty); when full the oldest leaves. NULL only
 * when out of memory. */
sp_case *sp_cases_open(sp_cases *c, uint64_t key, int64_t ts_ms);
void sp_cases_touch(sp_cases *c, sp_case *k, int64_t ts_ms);
/* Marks a changed case for the next publish. */
void sp_cases_mark_dirty(sp_cases *c, sp_case *k);
/* Drops cases older than max_age, and ended cases older than grace, before now_ts
 * (event time). Walks every case (the partition calls it once per expiry interval,
 * sp_partition_expiry_interval). Returns how many. */
size_t sp_cases_expire(sp_cases *c, int64_t now_ts);
size_t sp_cases_size(const sp_cases *c);
/* The case's place in the order cases were opened (increasing, unique within the store's
 * life): evictions follow it, and a restore puts cases back in it. */
uint64_t sp_cases_order(const sp_cases *c, const sp_case *k);
/* The ring as orders: the order of the slot at its head, and the slots in use from there
 * (removed cases leave holes that count until the head passes them). */
void sp_cases_layout(const sp_cases *c, uint64_t *head_order, uint64_t *used);
/* A restore lays an empty store out the same way, places each case at its order's slot
 * (NULL when that slot is outside the layout, taken, or out of memory), then calls
 * restore_done. Placed cases are clean; their fields are the caller's to fill. */
int sp_cases_restore_layout(sp_cases *c, uint64_t head_order, uint64_t used);
sp_case *sp_cases_place(sp_cases *c, uint64_t order, uint64_t key);
void sp_cases_restore_done(sp_cases *c);
uint64_t sp_cases_evictions(const sp_cases *c);

/* Every case, oldest first (the order they were created in). */
void sp_cases_each(sp_cases *c, void (*fn)(const sp_case *k, void *arg), void *arg);

/* Dirty tracking for the publisher: the dirty cases, and keys removed since last clean. */
void sp_cases_each_dirty(sp_cases *c, void (*fn)(const sp_case *k, void *arg), void *arg);
void sp_cases_each_removed(sp_cases *c, void (*fn)(uint64_t key, void *arg), void *arg);
void sp_cases_mark_clean(sp_cases *c);

#endif
