/*
 * window.c - see window.h. Most events land in the newest one or two windows, so the
 * lookup scans from the end of the start-ordered array; a late event walks back a few
 * entries. Cells are found through a dense dims-id index per window.
 */
#include "supportpulse/window.h"

#include <stdlib.h>
#include <string.h>

void sp_window_set_init(sp_window_set *s, int64_t width_s)
{
    memset(s, 0, sizeof *s);
    s->width_s = width_s;
}

static void window_free(sp_window *w)
{
    for (size_t i = 0; i < w->ncells; i++)
        for (int d = 0; d < SP_D__COUNT; d++)
            sp_sketch_free(&w->cells[i].sk[d]);
    free(w->cells);
    free(w->cell_of);
}

void sp_window_set_free(sp_window_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        window_free(&s->w[i]);
    free(s->w);
    int64_t width = s->width_s;
    memset(s, 0, sizeof *s);
    s->width_s = width;
}

/* A new window will hold about as many cells as its neighbour: with thousands of agents
 * a minute, growing the cell array by doubling copied it ~log2(n) times (each cell is
 * ~640 bytes). Best effort: without memory now, the window grows as cells come. */
static void presize(sp_window *w, const sp_window *like)
{
    if (!like || like->ncells <= 8)
        return;
    size_t n = like->ncells + like->ncells / 4; /* room for a busier minute */
    if ((w->cells = malloc(n * sizeof *w->cells)))
        w->capcells = n;
    if ((w->cell_of = calloc(like->cell_of_cap, sizeof *w->cell_of)))
        w->cell_of_cap = like->cell_of_cap;
}

sp_window *sp_window_get(sp_window_set *s, int64_t start)
{
    size_t i = s->n;
    while (i > 0 && s->w[i - 1].start > start)
        i--;
    if (i > 0 && s->w[i - 1].start == start)
        return &s->w[i - 1];
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        sp_window *nw = realloc(s->w, ncap * sizeof *nw);
        if (!nw)
            return NULL;
        s->w = nw;
        s->cap = ncap;
    }
    memmove(&s->w[i + 1], &s->w[i], (s->n - i) * sizeof *s->w);
    memset(&s->w[i], 0, sizeof *s->w);
    s->w[i].start = start;
    s->w[i].set_ndirty = &s->ndirty;
    s->n++;
    presize(&s->w[i], i > 0 ? &s->w[i - 1] : i + 1 < s->n ? &s->w[i + 1] : NULL);
    return &s->w[i];
}

static int ensure_index(sp_window *w, uint32_t dims_id)
{
    if (dims_id < w->cell_of_cap)
        return 0;
    size_t ncap = w->cell_of_cap ? w->cell_of_cap : 16;
    while (ncap <= dims_id)
        ncap *= 2;
    uint32_t *n = realloc(w->cell_of, ncap * sizeof *n);
    if (!n)
        return -1;
    memset(n + w->cell_of_cap, 0, (ncap - w->cell_of_cap) * sizeof *n);
    w->cell_of = n;
    w->cell_of_cap = ncap;
    return 0;
}

sp_cell *sp_window_cell(sp_window *w, uint32_t dims_id)
{
    if (ensure_index(w, dims_id) < 0)
        return NULL;
    uint32_t k = w->cell_of[dims_id];
    if (k == 0) {
        if (w->ncells == w->capcells) {
            size_t ncap = w->capcells ? w->capcells * 2 : 8;
            sp_cell *nc = realloc(w->cells, ncap * sizeof *nc);
            if (!nc)
                return NULL;
            w->cells = nc;
            w->capcells = ncap;
        }
        memset(&w->cells[w->ncells], 0, sizeof *w->cells);
        w->cells[w->ncells].dims_id = dims_id;
        k = (uint32_t)++w->ncells;
        w->cell_of[dims_id] = k;
    }
    sp_cell *c = &w->cells[k - 1];
    if (!c->dirty) {
        c->dirty = 1;
        w->ndirty++;
        (*w->set_ndirty)++;
    }
    return c;
}

int sp_cell_add_duration(sp_cell *c, sp_duration d, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    if (sp_sketch_add(&c->sk[d], ms) < 0)
        return -1;
    c->c.v[SP_M_DUR_SUM(d)] += ms;
    c->c.v[SP_M_DUR_COUNT(d)]++;
    return 0;
}

size_t sp_window_expire(sp_window_set *s, int64_t watermark_s, int64_t retention_s)
{
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < s->n; i++) {
        sp_window *w = &s->w[i];
        if (w->start + s->width_s + retention_s <= watermark_s && w->ndirty == 0) {
            window_free(w);
            dropped++;
        } else {
            s->w[kept++] = *w;
        }
    }
    s->n = kept;
    return dropped;
}

size_t sp_window_dirty_cells(const sp_window_set *s) { return s->ndirty; }

void sp_window_mark_clean(sp_window_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        sp_window *w = &s->w[i];
        for (size_t j = 0; j < w->ncells && w->ndirty; j++)
            if (w->cells[j].dirty) {
                w->cells[j].pub = w->cells[j].c;
                for (int d = 0; d < SP_D__COUNT; d++)
                    sp_sketch_mark_clean(&w->cells[j].sk[d]);
                w->cells[j].dirty = 0;
                w->ndirty--;
            }
    }
    s->ndirty = 0;
}
