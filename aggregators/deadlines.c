/*
 * deadlines.c - see deadlines.h. A binary min-heap in an array, ordered by due time,
 * then key.
 */
#include "supportpulse/deadlines.h"

#include <stdlib.h>

static int before(const sp_deadline *a, const sp_deadline *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->key < b->key);
}

static void swap(sp_deadline *a, sp_deadline *b)
{
    sp_deadline t = *a;
    *a = *b;
    *b = t;
}

int sp_deadlines_push(sp_deadlines *d, int64_t due_ms, uint64_t key)
{
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 64;
        sp_deadline *nv = realloc(d->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        d->v = nv;
        d->cap = ncap;
    }
    size_t i = d->n++;
    d->v[i] = (sp_deadline){due_ms, key};
    while (i > 0 && before(&d->v[i], &d->v[(i - 1) / 2])) {
        swap(&d->v[i], &d->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    return 0;
}

static void sift_down(sp_deadlines *d, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->n && before(&d->v[l], &d->v[m]))
            m = l;
        if (r < d->n && before(&d->v[r], &d->v[m]))
            m = r;
        if (m == i)
            return;
        swap(&d->v[i], &d->v[m]);
        i = m;
    }
}

int sp_deadlines_pop_due(sp_deadlines *d, int64_t now_ms, sp_deadline *out)
{
    if (d->n == 0 || d->v[0].due_ms > now_ms)
        return 0;
    *out = d->v[0];
    d->v[0] = d->v[--d->n];
    sift_down(d, 0);
    return 1;
}

void sp_deadlines_free(sp_deadlines *d)
{
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}
