/*
 * window.h - event-time tumbling windows of ONE Kafka partition.
 *
 * A window set holds the open windows of one width (1 minute for most dimension sets,
 * 15 minutes for agents: the finest resolution each is rolled up at) in start order,
 * starts in epoch seconds aligned to the width; each window holds one cell of
 * sp_counters per dimension id that it has seen.
 * Cells changed since the last publish are dirty. The publisher reads dirty cells,
 * marks them clean after Redis has them, and expired clean windows are dropped.
 *
 * Single writer: a window set is owned by the thread that consumes its partition.
 * Ownership: the set owns its windows and cells; pointers it hands out stay valid until
 * the next call that adds a window or expires windows.
 */
#ifndef SUPPORTPULSE_WINDOW_H
#define SUPPORTPULSE_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/metrics.h"
#include "supportpulse/sketch.h"

#define SP_WINDOW_S 60

typedef struct {
    uint32_t dims_id;
    uint8_t dirty;
    sp_counters c;      /* this partition's counts for the cell */
    sp_counters pub;    /* what Redis holds of them (the last published partial) */
    sp_sketch sk[SP_D__COUNT]; /* durations; each bucket keeps its published count */
} sp_cell;

typedef struct {
    int64_t start;      /* epoch seconds */
    sp_cell *cells;
    size_t ncells, capcells;
    uint32_t *cell_of;  /* dims id -> cell index + 1, 0 = none */
    size_t cell_of_cap;
    size_t ndirty;
    size_t *set_ndirty; /* the set's count of dirty cells, kept with this one */
} sp_window;

typedef struct {
    sp_window *w;       /* sorted by start */
    size_t n, cap;
    size_t ndirty;      /* dirty cells over all windows */
    int64_t width_s;    /* of every window of the set */
} sp_window_set;

void sp_window_set_init(sp_window_set *s, int64_t width_s);
void sp_window_set_free(sp_window_set *s);

/* The window starting at start (creating it), or NULL when out of memory. */
sp_window *sp_window_get(sp_window_set *s, int64_t start);
/* The cell of dims_id in w, marked dirty (created empty), or NULL when out of memory.
 * The pointer is valid until the next call that adds a cell to w. */
sp_cell *sp_window_cell(sp_window *w, uint32_t dims_id);
/* Adds one duration: its sum, count and sketch. 0, or -1 when out of memory. */
int sp_cell_add_duration(sp_cell *c, sp_duration d, int64_t ms);

/* Drops every window whose end (start + width) + retention_s <= watermark_s and that
 * has no dirty cell.
 * Returns how many were dropped. */
size_t sp_window_expire(sp_window_set *s, int64_t watermark_s, int64_t retention_s);
/* Dirty cells over all windows, kept as cells change: cheap enough to ask per event. */
size_t sp_window_dirty_cells(const sp_window_set *s);
/* After Redis has every dirty cell: pub = c (counters and sketch buckets), dirty = 0. */
void sp_window_mark_clean(sp_window_set *s);

/* The start of the window of width_s holding ts_ms. */
static inline int64_t sp_window_start_w(int64_t ts_ms, int64_t width_s)
{
    int64_t s = ts_ms >= 0 ? ts_ms / 1000 : (ts_ms - 999) / 1000;
    return s - ((s % width_s) + width_s) % width_s;
}

/* ... of the 1-minute window (lateness is judged by it). */
static inline int64_t sp_window_start_of(int64_t ts_ms)
{
    return sp_window_start_w(ts_ms, SP_WINDOW_S);
}

#endif
