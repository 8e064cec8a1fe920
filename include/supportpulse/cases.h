/*
 * cases.h - what the pipeline remembers of each ticket and call of one partition, so
 * that a later event that does not repeat them (call.answered, ticket.solved, a survey
 * days later) is counted under the right queue, channel, tenant and agent.
 *
 * Cases are keyed by the 64-bit hash of "t:"/"c:" + id and kept in a ring in order of
 * creation: a case leaves when it is older than max_age (by last event time) or when
 * the ring is full (the oldest leaves first, counted as an eviction). Strings (queue,
 * agent, tenant) are interned per partition, so one case costs 32 bytes of record plus
 * 32 bytes of index, whatever its id's length.
 *
 * Single writer, owned by one partition's state. Changed cases are listed as dirty so
 * the publisher can store them in Redis and a restarted pipeline can restore them.
 */
#ifndef SUPPORTPULSE_CASES_H
#define SUPPORTPULSE_CASES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t key;       /* hash of kind+id; 0 = free slot */
    int64_t last_ts;    /* newest event time seen for this case */
    uint32_t queue;     /* interned name ids */
    uint32_t agent;
    uint16_t tenant;
    uint8_t channel;    /* sp_channel */
    uint8_t dirty;
} sp_case;

typedef struct sp_cases sp_cases;

sp_cases *sp_cases_new(size_t capacity, int64_t max_age_ms);
void sp_cases_destroy(sp_cases *c); /* NULL is a no-op */
uint64_t sp_case_key(int is_call, const char *id, size_t len);
/* The case, or NULL when unknown. The pointer is valid until the next sp_cases_open. */
sp_case *sp_cases_find(sp_cases *c, uint64_t key);
/* Finds or creates the case (marked dirty); when full the oldest leaves. NULL only
 * when out of memory. */
sp_case *sp_cases_open(sp_cases *c, uint64_t key, int64_t ts_ms);
void sp_cases_touch(sp_cases *c, sp_case *k, int64_t ts_ms);
/* Drops cases older than max_age before now_ts (event time). Returns how many. */
size_t sp_cases_expire(sp_cases *c, int64_t now_ts);
size_t sp_cases_size(const sp_cases *c);
uint64_t sp_cases_evictions(const sp_cases *c);

/* Dirty tracking for the publisher: the dirty cases, and keys removed since last clean. */
void sp_cases_each_dirty(sp_cases *c, void (*fn)(const sp_case *k, void *arg), void *arg);
void sp_cases_each_removed(sp_cases *c, void (*fn)(uint64_t key, void *arg), void *arg);
void sp_cases_mark_clean(sp_cases *c);

#endif
