/*
 * partition_codec.c - see partition_codec.h for the format. Encoding walks the
 * partition's stores (through their public iterators) into records; decoding creates
 * cells and ids directly and collects cases and attributions first (the latest record
 * of each, removals applied), then fills their stores in the order the records name
 * (sp_cases_order, sp_attrs_order): the order the original store holds them in, which
 * decides what it evicts next. An order is only comparable within one store's life:
 * after a restore the new owner writes a snapshot before any delta.
 */
#include "supportpulse/partition_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/dedup.h"
#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"

enum {
    REC_END = 0,
    REC_STR,      /* uv len, bytes: the next string number */
    REC_MAXTS,    /* sv newest event time */
    REC_CELL,     /* u8 res, sv start, uv dims, uv counter mask, sv value per set bit,
                     u8 duration mask, per duration: uv nb, nb x (uv idx step, uv count) */
    REC_CASE,     /* le64 key, uv order, sv last, sv start, sv t1, sv t2, uv acw,
                     uv flags | xflags << 16,
                     u8 replies, u8 channel, uv queue, uv tenant, uv agent */
    REC_GONE,     /* le64 key of a case that left the store */
    REC_IDS,      /* uv n, n x (le64 hash, sv event time) */
    REC_ATTR,     /* le64 key, uv order, uv last minute, u8 channel, u8 flags, uv queue,
                     uv tenant, uv agent */
    REC_PRESENCE, /* sv ts, u8 status, uv tenant, uv agent, u8 n, n x uv queue */
    REC_LAYOUT,   /* uv case head order, uv case slots used, uv attr head, uv attr used */
};

/* ---- encoding ---------------------------------------------------------------------- */

typedef struct {
    sp_partition *p;
    sp_buf *out;
    sp_strmap *strings; /* string -> its number in this segment */
    uint32_t nstrings;
    int failed;
} enc;

/* The number of s in this segment, writing it first when new. */
static uint64_t str_ref(enc *e, const char *s)
{
    size_t len = strlen(s);
    uint32_t n;
    if (sp_strmap_get(e->strings, s, len, &n))
        return n;
    if (sp_strmap_put(e->strings, s, len, e->nstrings) < 0)
        e->failed = 1;
    sp_buf_put_u8(e->out, REC_STR);
    sp_buf_put_str(e->out, s, len);
    return e->nstrings++;
}

static void put_cell(enc *e, int res, int64_t start, const sp_cell *c)
{
    uint64_t dims = str_ref(e, sp_partition_dims_key(e->p, c->dims_id));
    uint64_t mask = 0;
    for (int m = 0; m < SP_M__COUNT; m++)
        if (c->c.v[m])
            mask |= 1ull << m;
    unsigned dmask = 0;
    for (int d = 0; d < SP_D__COUNT; d++)
        if (c->sk[d].nb)
            dmask |= 1u << d;
    sp_buf *b = e->out;
    sp_buf_put_u8(b, REC_CELL);
    sp_buf_put_u8(b, (unsigned)res);
    sp_buf_put_sv(b, start);
    sp_buf_put_uv(b, dims);
    sp_buf_put_uv(b, mask);
    for (int m = 0; m < SP_M__COUNT; m++)
        if (c->c.v[m])
            sp_buf_put_sv(b, c->c.v[m]);
    sp_buf_put_u8(b, dmask);
    for (int d = 0; d < SP_D__COUNT; d++) {
        sp_sketch *sk = (sp_sketch *)&c->sk[d]; /* sorting changes no count */
        if (!sk->nb)
            continue;
        sp_sketch_sort(sk);
        sp_buf_put_uv(b, sk->nb);
        unsigned prev = 0;
        for (uint32_t i = 0; i < sk->nb; i++) {
            sp_buf_put_uv(b, sk->b[i].idx - prev);
            sp_buf_put_uv(b, sk->b[i].n);
            prev = sk->b[i].idx;
        }
    }
}

static void put_cells(enc *e, int all)
{
    for (int r = 0; r < SP_NRES; r++) {
        sp_window_set *ws = sp_partition_window_set(e->p, r);
        for (size_t i = 0; i < ws->n; i++) {
            sp_window *w = &ws->w[i];
            for (size_t j = 0; j < w->ncells; j++)
                if (all || w->cells[j].dirty)
                    put_cell(e, r, w->start, &w->cells[j]);
        }
    }
}

static void put_case(const sp_case *k, void *arg)
{
    enc *e = arg;
    uint64_t q = str_ref(e, sp_partition_name(e->p, SP_NAME_QUEUE, k->queue));
    uint64_t t = str_ref(e, sp_partition_name(e->p, SP_NAME_TENANT, k->tenant));
    uint64_t a = str_ref(e, sp_partition_name(e->p, SP_NAME_AGENT, k->agent));
    sp_buf *b = e->out;
    sp_buf_put_u8(b, REC_CASE);
    sp_buf_put_le(b, k->key, 8);
    sp_buf_put_uv(b, sp_cases_order(sp_partition_cases(e->p), k));
    sp_buf_put_sv(b, k->last_ts);
    sp_buf_put_sv(b, k->start_ts);
    sp_buf_put_sv(b, k->t1);
    sp_buf_put_sv(b, k->t2);
    sp_buf_put_uv(b, k->acw_ms);
    sp_buf_put_uv(b, k->flags | (uint64_t)k->xflags << 16);
    sp_buf_put_u8(b, k->replies);
    sp_buf_put_u8(b, k->channel);
    sp_buf_put_uv(b, q);
    sp_buf_put_uv(b, t);
    sp_buf_put_uv(b, a);
}

static void put_gone(uint64_t key, void *arg)
{
    enc *e = arg;
    sp_buf_put_u8(e->out, REC_GONE);
    sp_buf_put_le(e->out, key, 8);
}

/* Ids go in records of up to 4,096. */
typedef struct {
    enc *e;
    sp_buf ids;
    size_t n;
} id_list;

static void flush_ids(id_list *l)
{
    if (!l->n)
        return;
    sp_buf_put_u8(l->e->out, REC_IDS);
    sp_buf_put_uv(l->e->out, l->n);
    sp_buf_put(l->e->out, l->ids.p, l->ids.n);
    l->e->failed |= l->ids.failed;
    sp_buf_reset(&l->ids);
    l->n = 0;
}

static void put_id(uint64_t hash, int64_t ts_ms, void *arg)
{
    id_list *l = arg;
    sp_buf_put_le(&l->ids, hash, 8);
    sp_buf_put_sv(&l->ids, ts_ms);
    if (++l->n == 4096)
        flush_ids(l);
}

static void put_attr(const sp_attr *a, void *arg)
{
    enc *e = arg;
    uint64_t q = str_ref(e, sp_partition_name(e->p, SP_NAME_QUEUE, a->queue));
    uint64_t t = str_ref(e, sp_partition_name(e->p, SP_NAME_TENANT, a->tenant));
    uint64_t g = str_ref(e, sp_partition_name(e->p, SP_NAME_AGENT, a->agent));
    sp_buf *b = e->out;
    sp_buf_put_u8(b, REC_ATTR);
    sp_buf_put_le(b, a->key, 8);
    sp_buf_put_uv(b, sp_attrs_order(sp_partition_attrs(e->p), a));
    sp_buf_put_uv(b, a->last_min);
    sp_buf_put_u8(b, a->channel);
    sp_buf_put_u8(b, a->flags & ~SP_ATTR_FRESH);
    sp_buf_put_uv(b, q);
    sp_buf_put_uv(b, t);
    sp_buf_put_uv(b, g);
}

static void put_presence(enc *e)
{
    size_t n;
    const sp_presence *list = sp_presence_list(sp_partition_presence(e->p), &n);
    for (size_t i = 0; i < n; i++) {
        const sp_presence *x = &list[i];
        uint64_t refs[2 + 64];
        int nq = 0;
        refs[0] = str_ref(e, x->tenant);
        refs[1] = str_ref(e, x->agent);
        const char *q = x->queues;
        for (int k = 0; k < x->nqueues && nq < 64; k++, q += strlen(q) + 1)
            refs[2 + nq++] = str_ref(e, q);
        sp_buf *b = e->out;
        sp_buf_put_u8(b, REC_PRESENCE);
        sp_buf_put_sv(b, x->ts_ms);
        sp_buf_put_u8(b, (unsigned)x->status);
        sp_buf_put_uv(b, refs[0]);
        sp_buf_put_uv(b, refs[1]);
        sp_buf_put_u8(b, (unsigned)nq);
        for (int k = 0; k < nq; k++)
            sp_buf_put_uv(b, refs[2 + k]);
    }
}

static int encode(sp_partition *p, sp_buf *out, int snapshot)
{
    enc e = {p, out, sp_strmap_new(256), 0, 0};
    id_list ids = {&e, {0}, 0};
    if (!e.strings)
        return -1;
    sp_buf_put_u8(out, 'P');
    sp_buf_put_u8(out, SP_CODEC_VERSION);
    sp_buf_put_u8(out, snapshot ? 'S' : 'D');
    sp_buf_put_u8(out, REC_MAXTS);
    sp_buf_put_sv(out, sp_partition_max_ts(p));
    uint64_t layout[4];
    sp_cases_layout(sp_partition_cases(p), &layout[0], &layout[1]);
    sp_attrs_layout(sp_partition_attrs(p), &layout[2], &layout[3]);
    sp_buf_put_u8(out, REC_LAYOUT);
    for (int i = 0; i < 4; i++)
        sp_buf_put_uv(out, layout[i]);
    put_cells(&e, snapshot);
    sp_cases *cs = sp_partition_cases(p);
    if (snapshot) {
        sp_cases_each(cs, put_case, &e);
        sp_dedup_each(sp_partition_dedup(p), put_id, &ids);
        sp_attrs_each(sp_partition_attrs(p), put_attr, &e);
    } else {
        sp_cases_each_dirty(cs, put_case, &e);
        sp_cases_each_removed(cs, put_gone, &e);
        sp_dedup_each_fresh(sp_partition_dedup(p), put_id, &ids);
        sp_attrs_each_fresh(sp_partition_attrs(p), put_attr, &e);
        put_presence(&e);
    }
    flush_ids(&ids);
    sp_buf_put_u8(out, REC_END);
    sp_buf_free(&ids.ids);
    sp_strmap_destroy(e.strings);
    return e.failed || out->failed ? -1 : 0;
}

int sp_codec_delta(sp_partition *p, sp_buf *out) { return encode(p, out, 0); }
int sp_codec_snapshot(sp_partition *p, sp_buf *out) { return encode(p, out, 1); }

int sp_codec_kind(const void *data, size_t len)
{
    const unsigned char *b = data;
    return len >= 3 && b[0] == 'P' && b[1] == SP_CODEC_VERSION && (b[2] == 'D' || b[2] == 'S')
               ? b[2]
               : 0;
}

/* ---- decoding ------------------------------------------------------------------------ */

/* A case or attribution as collected: its latest record, its place in its store and
 * its names (numbers into the restore's pool). */
typedef struct {
    sp_case rec;
    sp_attr attr;
    uint64_t order;
    uint32_t queue, tenant, agent;
} case_image;

typedef struct {
    case_image *e;         /* key 0 = removed */
    size_t n, cap;
    sp_u64map *index;      /* key -> index into e */
} image;

struct sp_restore {
    sp_partition *p;
    image cases, attrs;
    char **pool;           /* names of cases, interned */
    size_t npool, cappool;
    sp_strmap *pool_index;
    int64_t max_ts;
    uint64_t layout[4];    /* the latest segment's (REC_LAYOUT) */
    int has_layout;
    const unsigned char *pending;
    size_t pending_len;
};

sp_restore *sp_restore_new(sp_partition *p)
{
    sp_restore *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->p = p;
    r->max_ts = INT64_MIN;
    r->cases.index = sp_u64map_new(1u << 30);
    r->attrs.index = sp_u64map_new(1u << 30);
    r->pool_index = sp_strmap_new(256);
    if (!r->cases.index || !r->attrs.index || !r->pool_index) {
        sp_restore_destroy(r);
        return NULL;
    }
    return r;
}

void sp_restore_destroy(sp_restore *r)
{
    if (!r)
        return;
    free(r->cases.e);
    free(r->attrs.e);
    sp_u64map_destroy(r->cases.index);
    sp_u64map_destroy(r->attrs.index);
    for (size_t i = 0; i < r->npool; i++)
        free(r->pool[i]);
    free(r->pool);
    sp_strmap_destroy(r->pool_index);
    free(r);
}

/* The strings of one segment, pointing into its bytes. */
typedef struct {
    const char **s;
    size_t *len;
    size_t n, cap;
} str_table;

static int table_add(str_table *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        const char **ns = realloc(t->s, cap * sizeof *ns);
        if (!ns)
            return -1;
        t->s = ns;
        size_t *nl = realloc(t->len, cap * sizeof *nl);
        if (!nl)
            return -1;
        t->len = nl;
        t->cap = cap;
    }
    t->s[t->n] = s;
    t->len[t->n++] = len;
    return 0;
}

/* String number i of the segment as a C string in buf. -1 when out of range. */
static int table_get(const str_table *t, uint64_t i, char *buf, size_t size)
{
    if (i >= t->n || t->len[i] >= size)
        return -1;
    memcpy(buf, t->s[i], t->len[i]);
    buf[t->len[i]] = '\0';
    return 0;
}

/* The pool number of a name (cases keep names until finish). */
static int pool_ref(sp_restore *r, const char *s, uint32_t *out)
{
    size_t len = strlen(s);
    if (sp_strmap_get(r->pool_index, s, len, out))
        return 0;
    if (r->npool == r->cappool) {
        size_t cap = r->cappool ? 2 * r->cappool : 64;
        char **np = realloc(r->pool, cap * sizeof *np);
        if (!np)
            return -1;
        r->pool = np;
        r->cappool = cap;
    }
    char *copy = strdup(s);
    if (!copy || sp_strmap_put(r->pool_index, s, len, (uint32_t)r->npool) < 0) {
        free(copy);
        return -1;
    }
    r->pool[r->npool] = copy;
    *out = (uint32_t)r->npool++;
    return 0;
}

/* How a segment is read: a settled one whole (its presence was sent already); a pending
 * one in two passes, its cases, ids and attributions with the others, its cells and
 * presence after everything before it is marked published. */
typedef enum { PASS_SETTLED, PASS_PENDING_STATE, PASS_PENDING_CHANGES } pass;

typedef struct {
    sp_restore *r;
    sp_reader in;
    str_table strings;
    pass pass;
    char *errstr;
    size_t errstr_size;
} dec;

static int bad(dec *d, const char *what)
{
    snprintf(d->errstr, d->errstr_size, "checkpoint: %s", what);
    return -1;
}

static int get_name(dec *d, char *buf, size_t size)
{
    uint64_t i = sp_get_uv(&d->in);
    return d->in.bad || table_get(&d->strings, i, buf, size) < 0 ? -1 : 0;
}

/* Sets a cell's counts and sketch buckets to the record's (absolute) values. Each
 * reader below parses its record whole and applies it only when `take` is set. */
static int read_cell(dec *d, int take)
{
    char dims[SP_DIMS_MAX + 1];
    int res = (int)sp_get_u8(&d->in);
    int64_t start = sp_get_sv(&d->in);
    if (get_name(d, dims, sizeof dims) < 0)
        return bad(d, "a cell names no dimension set");
    uint64_t mask = sp_get_uv(&d->in);
    int64_t v[SP_M__COUNT] = {0};
    for (int m = 0; m < SP_M__COUNT; m++)
        if (mask & (1ull << m))
            v[m] = sp_get_sv(&d->in);
    unsigned dmask = sp_get_u8(&d->in);
    sp_cell *c = NULL;
    if (take && !d->in.bad && !(c = sp_partition_restore_cell(d->r->p, res, start, dims)))
        return bad(d, "a cell's window does not fit this partition's resolutions_by_dims "
                      "(or out of memory)");
    if (c)
        memcpy(c->c.v, v, sizeof v);
    for (int dd = 0; dd < SP_D__COUNT; dd++) {
        if (!(dmask & (1u << dd)))
            continue;
        uint64_t nb = sp_get_uv(&d->in), idx = 0;
        for (uint64_t i = 0; i < nb && !d->in.bad; i++) {
            idx += sp_get_uv(&d->in);
            uint64_t n = sp_get_uv(&d->in);
            if (idx >= SP_SKETCH_NBUCKETS || n > UINT32_MAX)
                return bad(d, "a sketch bucket out of range");
            uint32_t have = c ? sp_sketch_get(&c->sk[dd], (uint16_t)idx) : 0;
            if (c && n < have)
                return bad(d, "a sketch bucket went down");
            if (c && n > have &&
                sp_sketch_add_bucket(&c->sk[dd], (uint16_t)idx, (uint32_t)(n - have)) < 0)
                return bad(d, "out of memory");
        }
    }
    return d->in.bad ? bad(d, "a cell is cut short") : 0;
}

static case_image *image_slot(image *im, uint64_t key)
{
    uint32_t idx;
    if (sp_u64map_get(im->index, key, &idx))
        return &im->e[idx];
    if (im->n == im->cap) {
        size_t cap = im->cap ? 2 * im->cap : 1024;
        case_image *ne = realloc(im->e, cap * sizeof *ne);
        if (!ne)
            return NULL;
        im->e = ne;
        im->cap = cap;
    }
    if (sp_u64map_put(im->index, key, (uint32_t)im->n) < 0)
        return NULL;
    case_image *c = &im->e[im->n++];
    memset(c, 0, sizeof *c);
    return c;
}

static int read_case(dec *d, int take)
{
    sp_case rec = {0};
    char q[SP_NAME_MAX + 1], t[SP_NAME_MAX + 1], a[SP_NAME_MAX + 1];
    rec.key = sp_get_le(&d->in, 8);
    uint64_t order = sp_get_uv(&d->in);
    rec.last_ts = sp_get_sv(&d->in);
    rec.start_ts = sp_get_sv(&d->in);
    rec.t1 = sp_get_sv(&d->in);
    rec.t2 = sp_get_sv(&d->in);
    rec.acw_ms = (uint32_t)sp_get_uv(&d->in);
    uint64_t flags = sp_get_uv(&d->in);
    rec.flags = (uint16_t)flags;
    rec.xflags = (uint8_t)(flags >> 16);
    rec.replies = (uint8_t)sp_get_u8(&d->in);
    rec.channel = (uint8_t)sp_get_u8(&d->in);
    if (get_name(d, q, sizeof q) < 0 || get_name(d, t, sizeof t) < 0 ||
        get_name(d, a, sizeof a) < 0 || !rec.key)
        return bad(d, "a case is cut short");
    if (!take)
        return 0;
    case_image *c = image_slot(&d->r->cases, rec.key);
    if (!c || pool_ref(d->r, q, &c->queue) < 0 || pool_ref(d->r, t, &c->tenant) < 0 ||
        pool_ref(d->r, a, &c->agent) < 0)
        return bad(d, "out of memory");
    c->rec = rec;
    c->order = order;
    return 0;
}

static void read_gone(dec *d, int take)
{
    uint64_t key = sp_get_le(&d->in, 8);
    uint32_t idx;
    if (take && !d->in.bad && sp_u64map_get(d->r->cases.index, key, &idx)) {
        d->r->cases.e[idx].rec.key = 0;
        sp_u64map_del(d->r->cases.index, key);
    }
}

static int read_ids(dec *d, int take)
{
    uint64_t n = sp_get_uv(&d->in);
    for (uint64_t i = 0; i < n && !d->in.bad; i++) {
        uint64_t h = sp_get_le(&d->in, 8);
        int64_t ts = sp_get_sv(&d->in);
        if (take && !d->in.bad)
            sp_partition_restore_id(d->r->p, h, ts);
    }
    return d->in.bad ? bad(d, "event ids cut short") : 0;
}

static int read_attr(dec *d, int take)
{
    sp_attr rec = {0};
    char q[SP_NAME_MAX + 1], t[SP_NAME_MAX + 1], a[SP_NAME_MAX + 1];
    rec.key = sp_get_le(&d->in, 8);
    uint64_t order = sp_get_uv(&d->in);
    rec.last_min = (uint32_t)sp_get_uv(&d->in);
    rec.channel = (uint8_t)sp_get_u8(&d->in);
    rec.flags = (uint8_t)sp_get_u8(&d->in);
    if (get_name(d, q, sizeof q) < 0 || get_name(d, t, sizeof t) < 0 ||
        get_name(d, a, sizeof a) < 0)
        return bad(d, "an attribution is cut short");
    if (!take || !rec.key)
        return 0;
    case_image *c = image_slot(&d->r->attrs, rec.key);
    if (!c || pool_ref(d->r, q, &c->queue) < 0 || pool_ref(d->r, t, &c->tenant) < 0 ||
        pool_ref(d->r, a, &c->agent) < 0)
        return bad(d, "out of memory");
    c->attr = rec;
    c->order = order;
    return 0;
}

static int read_presence(dec *d, int take)
{
    sp_presence e;
    memset(&e, 0, sizeof e);
    e.ts_ms = sp_get_sv(&d->in);
    e.status = (sp_agent_status)sp_get_u8(&d->in);
    if (get_name(d, e.tenant, sizeof e.tenant) < 0 || get_name(d, e.agent, sizeof e.agent) < 0)
        return bad(d, "a presence entry is cut short");
    unsigned nq = sp_get_u8(&d->in);
    size_t used = 0;
    for (unsigned k = 0; k < nq; k++) {
        char q[SP_NAME_MAX + 1];
        if (get_name(d, q, sizeof q) < 0 || used + strlen(q) + 1 > sizeof e.queues)
            return bad(d, "a presence entry's queues are cut short");
        memcpy(e.queues + used, q, strlen(q) + 1);
        used += strlen(q) + 1;
        e.nqueues++;
    }
    if (take && sp_partition_restore_presence(d->r->p, &e) < 0)
        return bad(d, "out of memory");
    return 0;
}

static int decode(dec *d)
{
    if (!sp_codec_kind(d->in.p, (size_t)(d->in.end - d->in.p)))
        return bad(d, "not a segment of this version");
    d->in.p += 3;
    /* what each pass takes: state (cases, ids, attributions) and changes (cells, presence) */
    int state = d->pass != PASS_PENDING_CHANGES, cells = d->pass != PASS_PENDING_STATE;
    int presence = d->pass == PASS_PENDING_CHANGES;
    for (;;) {
        unsigned tag = sp_get_u8(&d->in);
        int rc = 0;
        if (d->in.bad)
            return bad(d, "a segment ends without its end mark");
        switch (tag) {
        case REC_END:
            return 0;
        case REC_STR: {
            size_t len;
            const char *s = sp_get_str(&d->in, &len);
            if (!s || table_add(&d->strings, s, len) < 0)
                return bad(d, "a string is cut short (or out of memory)");
            break;
        }
        case REC_MAXTS: {
            int64_t ts = sp_get_sv(&d->in);
            if (ts > d->r->max_ts)
                d->r->max_ts = ts;
            break;
        }
        case REC_LAYOUT:
            for (int i = 0; i < 4; i++)
                d->r->layout[i] = sp_get_uv(&d->in);
            d->r->has_layout = 1;
            break;
        case REC_CELL:
            rc = read_cell(d, cells);
            break;
        case REC_CASE:
            rc = read_case(d, state);
            break;
        case REC_GONE:
            read_gone(d, state);
            break;
        case REC_IDS:
            rc = read_ids(d, state);
            break;
        case REC_ATTR:
            rc = read_attr(d, state);
            break;
        case REC_PRESENCE:
            rc = read_presence(d, presence);
            break;
        default:
            return bad(d, "an unknown record");
        }
        if (rc < 0)
            return -1;
        if (d->in.bad)
            return bad(d, "a record is cut short");
    }
}

static int run(sp_restore *r, const void *data, size_t len, pass how, char *errstr,
               size_t errstr_size)
{
    dec d = {r, sp_reader_of(data, len), {0}, how, errstr, errstr_size};
    int rc = decode(&d);
    free(d.strings.s);
    free(d.strings.len);
    return rc;
}

int sp_restore_segment(sp_restore *r, const void *data, size_t len, int pending,
                       char *errstr, size_t errstr_size)
{
    if (pending) {
        r->pending = data;
        r->pending_len = len;
    }
    return run(r, data, len, pending ? PASS_PENDING_STATE : PASS_SETTLED, errstr, errstr_size);
}

static int by_order(const void *x, const void *y)
{
    const case_image *a = x, *b = y;
    return (a->order > b->order) - (a->order < b->order);
}

/* Places the collected cases and attributions at their slots; those before the head
 * of the layout had left their store (attributions leave without a record). */
static int place_stores(sp_restore *r, char *errstr, size_t errstr_size)
{
    if (!r->has_layout)
        return 0;
    if (sp_partition_restore_layout(r->p, r->layout[0], r->layout[1], r->layout[2],
                                    r->layout[3]) < 0) {
        snprintf(errstr, errstr_size, "checkpoint: its stores are larger than max_cases or "
                 "max_attributions allow now");
        return -1;
    }
    if (r->cases.n)
        qsort(r->cases.e, r->cases.n, sizeof *r->cases.e, by_order);
    for (size_t i = 0; i < r->cases.n; i++) {
        const case_image *c = &r->cases.e[i];
        if (c->rec.key && c->order >= r->layout[0] &&
            sp_partition_place_case(r->p, c->order, &c->rec, r->pool[c->queue],
                                    r->pool[c->tenant], r->pool[c->agent]) < 0) {
            snprintf(errstr, errstr_size, "checkpoint: a case outside its store's layout "
                     "(or out of memory)");
            return -1;
        }
    }
    if (r->attrs.n)
        qsort(r->attrs.e, r->attrs.n, sizeof *r->attrs.e, by_order);
    for (size_t i = 0; i < r->attrs.n; i++) {
        const case_image *c = &r->attrs.e[i];
        if (c->order >= r->layout[2] &&
            sp_partition_place_attr(r->p, c->order, &c->attr, r->pool[c->queue],
                                    r->pool[c->tenant], r->pool[c->agent]) < 0) {
            snprintf(errstr, errstr_size, "checkpoint: an attribution outside its store's "
                     "layout (or out of memory)");
            return -1;
        }
    }
    sp_partition_place_done(r->p);
    return 0;
}

int sp_restore_finish(sp_restore *r, char *errstr, size_t errstr_size)
{
    if (place_stores(r, errstr, errstr_size) < 0)
        return -1;
    if (r->max_ts != INT64_MIN)
        sp_partition_restore_max_ts(r->p, r->max_ts);
    sp_partition_mark_clean(r->p);
    if (r->pending)
        return run(r, r->pending, r->pending_len, PASS_PENDING_CHANGES, errstr, errstr_size);
    return 0;
}
