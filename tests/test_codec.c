/*
 * test_codec.c - partition checkpoints (aggregators/partition_codec.c): a partition fed
 * generated traffic and "flushed" now and then is rebuilt from its segments, and the
 * rebuilt one must hold the same cells, cases, ids and attributions and go on exactly
 * like the original; a pending last segment must give back that flush's changes; a
 * snapshot must stand for the deltas before it; damaged bytes must be refused.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/dedup.h"
#include "supportpulse/generator.h"
#include "supportpulse/partition_codec.h"

static sp_partition *fresh(size_t max_cases)
{
    sp_partition_conf c;
    sp_partition_conf_defaults(&c);
    c.max_future_ms = 0;
    c.max_cases = max_cases;
    c.dedup_capacity = 20000;
    c.max_attributions = 3000;
    c.case_grace_ms = 20 * 60 * 1000; /* cases leave (to attributions) within the test */
    c.max_wait_ms = 60 * 1000;        /* calls are orphaned within the test */
    c.max_handle_ms = 3 * 60 * 1000;
    char err[256];
    sp_partition *p = sp_partition_new(&c, err, sizeof err);
    cr_assert(p, "%s", err);
    return p;
}

/* The same traffic for every partition of a test: valid events of one generator. */
typedef struct {
    sp_gen *g;
} feed;

static feed feed_open(uint64_t seed)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = seed;
    gc.arrivals_per_hour = 3000;
    gc.duplicates = 0.02;
    gc.out_of_order = 0.03;
    char err[256];
    feed f = {sp_gen_new(&gc, err, sizeof err)};
    cr_assert(f.g, "%s", err);
    return f;
}

/* Applies the next n valid events to each of the partitions given. */
static void feed_n(feed *f, int n, sp_partition **ps, int nps)
{
    for (int i = 0; i < n;) {
        sp_gen_msg m;
        cr_assert_eq(sp_gen_next(f->g, &m), 0);
        sp_event ev;
        sp_reject_reason r;
        char err[256];
        if (m.kind == 1 || sp_event_decode(m.value, m.value_len, &ev, &r, err, sizeof err) < 0)
            continue;
        for (int k = 0; k < nps; k++)
            sp_partition_apply(ps[k], &ev, 0, &r, err, sizeof err);
        i++;
    }
}

/* ---- a canonical text of a partition's state ------------------------------------------ */

typedef struct {
    char *s;
    size_t n, cap;
    sp_partition *p;
} text;

static void addf(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(text *t, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (t->n + (size_t)n + 1 > t->cap) {
        t->cap = 2 * (t->n + (size_t)n + 1);
        t->s = realloc(t->s, t->cap);
        cr_assert(t->s);
    }
    memcpy(t->s + t->n, line, (size_t)n + 1);
    t->n += (size_t)n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Cells sorted by their key (only the dirty ones with `dirty_only`), with pub values
 * when `with_pub`. */
static int dirty_only;
static void cells_text(text *t, int with_pub)
{
    char **lines = NULL;
    size_t n = 0, cap = 0;
    for (int r = 0; r < SP_NRES; r++) {
        sp_window_set *ws = sp_partition_window_set(t->p, r);
        for (size_t i = 0; i < ws->n; i++)
            for (size_t j = 0; j < ws->w[i].ncells; j++) {
                sp_cell *c = &ws->w[i].cells[j];
                if (dirty_only && !c->dirty)
                    continue;
                text one = {0};
                addf(&one, "cell %d %lld %s", r, (long long)ws->w[i].start,
                     sp_partition_dims_key(t->p, c->dims_id));
                for (int m = 0; m < SP_M__COUNT; m++)
                    if (c->c.v[m] || (with_pub && c->pub.v[m]))
                        addf(&one, " %d=%lld", m, (long long)c->c.v[m]);
                for (int m = 0; with_pub && m < SP_M__COUNT; m++)
                    if (c->pub.v[m])
                        addf(&one, " p%d=%lld", m, (long long)c->pub.v[m]);
                for (int d = 0; d < SP_D__COUNT; d++) {
                    sp_sketch_sort(&c->sk[d]);
                    for (uint32_t b = 0; b < c->sk[d].nb; b++) {
                        addf(&one, " s%d:%u=%u", d, c->sk[d].b[b].idx, c->sk[d].b[b].n);
                        if (with_pub)
                            addf(&one, "/%u", c->sk[d].b[b].pub);
                    }
                }
                if (n == cap)
                    lines = realloc(lines, (cap = cap ? 2 * cap : 256) * sizeof *lines);
                lines[n++] = one.s ? one.s : strdup("");
            }
    }
    qsort(lines, n, sizeof *lines, cmp_str);
    for (size_t i = 0; i < n; i++) {
        addf(t, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
}

static void case_line(const sp_case *k, void *arg)
{
    text *t = arg;
    addf(t, "case %016llx %lld %lld %lld %lld %u %u %u %u %u %s/%s/%s\n",
         (unsigned long long)k->key, (long long)k->last_ts, (long long)k->start_ts,
         (long long)k->t1, (long long)k->t2, k->acw_ms, k->flags, k->xflags, k->replies,
         k->channel,
         sp_partition_name(t->p, SP_NAME_QUEUE, k->queue),
         sp_partition_name(t->p, SP_NAME_TENANT, k->tenant),
         sp_partition_name(t->p, SP_NAME_AGENT, k->agent));
}

static void id_line(uint64_t h, int64_t ts, void *arg)
{
    addf(arg, "id %016llx %lld\n", (unsigned long long)h, (long long)ts);
}

static void attr_line(const sp_attr *a, void *arg)
{
    text *t = arg;
    addf(t, "attr %016llx %u %u %u %s/%s/%s\n", (unsigned long long)a->key, a->last_min,
         a->channel, a->flags & ~SP_ATTR_FRESH, sp_partition_name(t->p, SP_NAME_QUEUE, a->queue),
         sp_partition_name(t->p, SP_NAME_TENANT, a->tenant),
         sp_partition_name(t->p, SP_NAME_AGENT, a->agent));
}

/* Cases, ids and attributions in store order (it decides evictions), cells sorted. */
static char *state_text(sp_partition *p, int with_pub)
{
    text t = {NULL, 0, 0, p};
    addf(&t, "max_ts %lld\n", (long long)sp_partition_max_ts(p));
    cells_text(&t, with_pub);
    sp_cases_each(sp_partition_cases(p), case_line, &t);
    sp_dedup_each(sp_partition_dedup(p), id_line, &t);
    sp_attrs_each(sp_partition_attrs(p), attr_line, &t);
    return t.s;
}

static void expect_same(sp_partition *a, sp_partition *b, int with_pub, const char *when)
{
    char *sa = state_text(a, with_pub), *sb = state_text(b, with_pub);
    size_t i = 0;
    while (sa[i] && sa[i] == sb[i])
        i++;
    size_t line_start = i;
    while (line_start > 0 && sa[line_start - 1] != '\n')
        line_start--;
    cr_assert(sa[i] == sb[i], "%s: states differ at\n  original: %.200s\n  restored: %.200s",
              when, sa + line_start, sb + line_start);
    free(sa);
    free(sb);
}

/* ---- segments ---------------------------------------------------------------------------- */

typedef struct {
    sp_buf seg[256];
    int n;
} log_t;

static void flush_delta(log_t *l, sp_partition *p)
{
    cr_assert(l->n < 256);
    memset(&l->seg[l->n], 0, sizeof l->seg[0]);
    cr_assert_eq(sp_codec_delta(p, &l->seg[l->n]), 0);
    l->n++;
    sp_partition_published(p, INT64_MIN);
}

static void log_free(log_t *l)
{
    for (int i = 0; i < l->n; i++)
        sp_buf_free(&l->seg[i]);
    l->n = 0;
}

static sp_partition *restore(const log_t *l, int from, int last_pending, size_t max_cases)
{
    sp_partition *p = fresh(max_cases);
    sp_restore *r = sp_restore_new(p);
    char err[256];
    cr_assert(r);
    for (int i = from; i < l->n; i++)
        cr_assert_eq(sp_restore_segment(r, l->seg[i].p, l->seg[i].n,
                                        last_pending && i == l->n - 1, err, sizeof err),
                     0, "segment %d: %s", i, err);
    cr_assert_eq(sp_restore_finish(r, err, sizeof err), 0, "%s", err);
    sp_restore_destroy(r);
    return p;
}

Test(codec, a_partition_rebuilt_from_its_deltas_is_the_same_and_goes_on_the_same)
{
    sp_partition *orig = fresh(2000); /* small: cases are evicted during the test */
    feed f = feed_open(11);
    log_t l = {0};
    for (int k = 0; k < 30; k++) {
        feed_n(&f, 400, &orig, 1);
        flush_delta(&l, orig);
    }
    cr_assert_gt(sp_cases_evictions(sp_partition_cases(orig)), 0, "evictions exercised");
    cr_assert_gt(sp_attrs_size(sp_partition_attrs(orig)), 0, "attributions exercised");
    cr_assert_gt(sp_partition_get_stats(orig)->orphaned, 0, "orphaned calls exercised");
    sp_partition *back = restore(&l, 0, 0, 2000);
    sp_partition_published(back, INT64_MIN);
    expect_same(orig, back, 0, "after the restore");
    sp_partition *both[2] = {orig, back};
    for (int k = 0; k < 10; k++) { /* the same events from here on: the same state */
        feed_n(&f, 400, both, 2);
        sp_partition_published(orig, INT64_MIN);
        sp_partition_published(back, INT64_MIN);
    }
    expect_same(orig, back, 0, "4,000 events after the restore");
    log_free(&l);
    sp_gen_destroy(f.g);
    sp_partition_destroy(orig);
    sp_partition_destroy(back);
}

Test(codec, a_pending_last_segment_gives_back_that_flushs_changes)
{
    sp_partition *orig = fresh(50000);
    feed f = feed_open(12);
    log_t l = {0};
    for (int k = 0; k < 8; k++) {
        feed_n(&f, 500, &orig, 1);
        flush_delta(&l, orig);
    }
    feed_n(&f, 500, &orig, 1);
    /* the original as it stands just before its last flush: dirty cells with their pub */
    dirty_only = 1;
    char *before = state_text(orig, 1);
    flush_delta(&l, orig);
    sp_partition *back = restore(&l, 0, 1, 50000);
    char *again = state_text(back, 1);
    dirty_only = 0;
    cr_assert_str_eq(again, before, "the pending delta's cells, with the published values "
                                    "before it");
    cr_assert_gt(sp_partition_dirty_cells(back), 0);
    size_t presence;
    sp_presence_list(sp_partition_presence(back), &presence);
    cr_assert_gt(presence, 0, "its agent presence, to be sent again");
    sp_partition_published(back, INT64_MIN); /* as after the flush is sent again */
    expect_same(orig, back, 0, "the pending delta published");
    free(before);
    free(again);
    log_free(&l);
    sp_gen_destroy(f.g);
    sp_partition_destroy(orig);
    sp_partition_destroy(back);
}

Test(codec, a_snapshot_stands_for_the_deltas_before_it)
{
    sp_partition *orig = fresh(50000);
    feed f = feed_open(13);
    log_t l = {0};
    for (int k = 0; k < 6; k++) {
        feed_n(&f, 500, &orig, 1);
        flush_delta(&l, orig);
    }
    int snap = l.n;
    memset(&l.seg[l.n], 0, sizeof l.seg[0]);
    cr_assert_eq(sp_codec_snapshot(orig, &l.seg[l.n++]), 0);
    cr_assert_eq(sp_codec_kind(l.seg[snap].p, l.seg[snap].n), 'S');
    for (int k = 0; k < 4; k++) {
        feed_n(&f, 500, &orig, 1);
        flush_delta(&l, orig);
    }
    sp_partition *back = restore(&l, snap, 0, 50000);
    sp_partition_published(back, INT64_MIN);
    expect_same(orig, back, 0, "snapshot and four deltas");
    log_free(&l);
    sp_gen_destroy(f.g);
    sp_partition_destroy(orig);
    sp_partition_destroy(back);
}

Test(codec, damaged_segments_are_refused)
{
    sp_partition *orig = fresh(50000);
    feed f = feed_open(14);
    feed_n(&f, 2000, &orig, 1);
    sp_buf seg = {0};
    cr_assert_eq(sp_codec_delta(orig, &seg), 0);
    char err[256];
    unsigned s = 7;
    int refused = 0;
    for (int round = 0; round < 400; round++) {
        unsigned char *copy = malloc(seg.n);
        memcpy(copy, seg.p, seg.n);
        size_t len = seg.n;
        s = s * 1103515245u + 12345u;
        if (round % 2)
            len = (s >> 8) % seg.n; /* cut short */
        else
            for (int k = 0; k < 4; k++) /* a few bytes changed */
                copy[((s >> (k + 3)) * 2654435761u) % seg.n] ^= (unsigned char)(1u << (k + 1));
        sp_partition *p = fresh(50000);
        sp_restore *r = sp_restore_new(p);
        int rc = sp_restore_segment(r, copy, len, 0, err, sizeof err);
        if (rc == 0)
            rc = sp_restore_finish(r, err, sizeof err);
        refused += rc < 0;
        if (rc < 0)
            cr_assert(strncmp(err, "checkpoint:", 11) == 0, "%s", err);
        sp_restore_destroy(r);
        sp_partition_destroy(p);
        free(copy);
    }
    cr_assert_geq(refused, 200, "every cut-short segment is refused (%d)", refused);
    sp_buf_free(&seg);
    sp_gen_destroy(f.g);
    sp_partition_destroy(orig);
}
