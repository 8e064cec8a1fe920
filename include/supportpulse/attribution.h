/*
 * attribution.h - what a partition still knows of tickets and calls that have left its
 * correlation state (cases.h): the queue, channel, tenant and agent that handled each,
 * so that a survey arriving days later is credited to them.
 *
 * A case enters this store when it leaves the case store (its grace period after
 * ending ran out, it aged out, or it was evicted to make room), and is looked up for a
 * survey (or any later event) that names a case the case store no longer has. An entry
 * lives for the horizon after the case's last event, and the store holds at most
 * `capacity` entries (the oldest leave first, counted as evictions): 24 bytes of record
 * plus its index slot per entry, whatever the id's length.
 *
 * Entries are kept in a ring in order of insertion, which is the order of their last
 * event time up to the reorder after a restore (sp_attrs_reorder), so expiry only looks
 * at the head. New and changed entries are listed as fresh until the publisher has
 * written them to Redis (in the partition's checkpoint, checkpoint.h), from where a
 * restarted owner restores them.
 *
 * Single writer: owned by one partition's state, touched by one thread.
 */
#ifndef SUPPORTPULSE_ATTRIBUTION_H
#define SUPPORTPULSE_ATTRIBUTION_H

#include <stddef.h>
#include <stdint.h>

#define SP_ATTR_CSAT_SEEN 0x01u /* a survey.csat for this case was counted */
#define SP_ATTR_FRESH     0x80u /* not yet written to Redis (internal) */

typedef struct {
    uint64_t key;      /* case key (sp_case_key); 0 = hole */
    uint32_t queue;    /* interned ids of the owning partition */
    uint32_t agent;
    uint32_t last_min; /* the case's last event, minutes since the epoch */
    uint16_t tenant;
    uint8_t channel;   /* sp_channel */
    uint8_t flags;     /* SP_ATTR_* */
} sp_attr;

typedef struct sp_attrs sp_attrs;

/* NULL when out of memory. capacity 0 keeps nothing (every put is a no-op). */
sp_attrs *sp_attrs_new(size_t capacity, int64_t horizon_ms);
void sp_attrs_destroy(sp_attrs *s); /* NULL is a no-op */

/* Records a (copied), replacing an entry with the same key, and lists it as fresh.
 * When full, the oldest entry leaves. 0, or -1 when out of memory (store unchanged). */
int sp_attrs_put(sp_attrs *s, const sp_attr *a);
/* The entry, or NULL. Valid until the next put, expire or reorder. */
sp_attr *sp_attrs_find(sp_attrs *s, uint64_t key);
/* Lists a changed entry (flags) as fresh. */
void sp_attrs_mark_fresh(sp_attrs *s, sp_attr *a);
/* Drops entries whose last event is more than the horizon before now_ms (event time).
 * Returns how many left. */
size_t sp_attrs_expire(sp_attrs *s, int64_t now_ms);
/* Puts the ring back in order of last event time (after a restore has added entries
 * in any order). 0, or -1 when out of memory (order unchanged). */
int sp_attrs_reorder(sp_attrs *s);

/* Every entry, oldest first. */
void sp_attrs_each(sp_attrs *s, void (*fn)(const sp_attr *a, void *arg), void *arg);

/* The entries not yet in Redis, then (after the write) marks them written. */
void sp_attrs_each_fresh(sp_attrs *s, void (*fn)(const sp_attr *a, void *arg), void *arg);
void sp_attrs_mark_written(sp_attrs *s);

size_t sp_attrs_size(const sp_attrs *s);
/* The entry's place in the order entries were put (increasing, unique within the store's
 * life; a replaced entry takes a new place): expiry and evictions follow it. */
uint64_t sp_attrs_order(const sp_attrs *s, const sp_attr *a);
/* As for cases (cases.h): the ring's layout, and a restore that reproduces it. place:
 * 0, or -1 when the slot is outside the layout or taken, or out of memory. */
void sp_attrs_layout(const sp_attrs *s, uint64_t *head_order, uint64_t *used);
int sp_attrs_restore_layout(sp_attrs *s, uint64_t head_order, uint64_t used);
int sp_attrs_place(sp_attrs *s, uint64_t order, const sp_attr *a);
void sp_attrs_restore_done(sp_attrs *s);
uint64_t sp_attrs_evictions(const sp_attrs *s);
int64_t sp_attrs_horizon_ms(const sp_attrs *s);

#endif
