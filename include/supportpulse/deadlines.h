/*
 * deadlines.h - a min-heap of (due time, key): "look at key again at this time".
 *
 * The partition keeps in it the calls whose handle time waits for a wrap-up, due when
 * the wrap-up is overdue, so the once-a-minute sweep looks at those calls only instead
 * of at every case it remembers. Entries are hints: the owner re-checks the case when
 * one comes due, so an entry whose case changed or left meanwhile does no harm. Ties
 * pop by key, so the order does not depend on the order of the pushes.
 *
 * Single writer, owned by one partition's state. Memory: 16 bytes an entry, in an
 * array that grows by doubling.
 */
#ifndef SUPPORTPULSE_DEADLINES_H
#define SUPPORTPULSE_DEADLINES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t due_ms;
    uint64_t key;
} sp_deadline;

typedef struct {
    sp_deadline *v;
    size_t n, cap;
} sp_deadlines; /* zero-initialise; sp_deadlines_free releases it */

/* 0, or -1 when out of memory (nothing changed). */
int sp_deadlines_push(sp_deadlines *d, int64_t due_ms, uint64_t key);
/* Removes the earliest entry into *out when it is due (due_ms <= now_ms): 1, else 0. */
int sp_deadlines_pop_due(sp_deadlines *d, int64_t now_ms, sp_deadline *out);
void sp_deadlines_free(sp_deadlines *d);

#endif
