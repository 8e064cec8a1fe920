/*
 * json_members.c - the top-level members of one JSON object message, read into a table
 * of typed values (see json_members.h for the contract).
 *
 * Flow: prescan (control bytes, \u escapes, strict UTF-8) -> yajl's callback parser,
 * keeping the known members' values (strings point into the message; unescaped ones
 * are copied into the doc's scratch) -> on any decline or error, jansson reads the
 * message into a tree (from a per-thread bump arena) and the known members are taken
 * from it; the tree lives until release.
 *
 * Why the fast reader declines what it does (each is where yajl 2.1 and jansson 2.14
 * differ): yajl accepts overlong and surrogate UTF-8 and \v, \f as whitespace; it
 * turns \u0000 into a NUL byte and a lone surrogate escape into '?' or a wrong code
 * point; it has no nesting limit; numbers are handed over as text, so a number jansson
 * finds too large is declined here after strtoll/strtod say so.
 */
#include "supportpulse/json_members.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

/* ---- the message arena (jansson reads only) ----------------------------------------
 * jansson allocates every value of the tree, and the tree is released once the caller
 * is done with the message. While jansson reads a message, its allocations on this
 * thread come from a bump arena that is reset afterwards (which releases the tree);
 * outside a read, or when a message needs more than the arena, they go to malloc. A
 * pointer is freed to malloc unless it lies inside this thread's arena, so nothing
 * allocated outside the arena is affected. Trees never leave the reading thread.
 * Under AddressSanitizer the arena is off, so ASan keeps checking every allocation. */
#if defined(__SANITIZE_ADDRESS__)
#define SP_ARENA 0
#else
#define SP_ARENA 1
#endif
#define ARENA_SIZE (32 * 1024)

typedef struct {
    _Alignas(16) char buf[ARENA_SIZE];
    size_t used;
    int active;
    int spilled; /* a malloc fallback happened during this read */
} arena;

static _Thread_local arena tl_arena;

static void *arena_malloc(size_t n)
{
    arena *a = &tl_arena;
    size_t need = (n + 15) & ~(size_t)15;
    if (a->active && need <= ARENA_SIZE - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    a->spilled |= a->active;
    return malloc(n);
}

static void arena_free(void *p)
{
    const arena *a = &tl_arena;
    if ((uintptr_t)p - (uintptr_t)a->buf < ARENA_SIZE)
        return; /* released all at once when the message is done */
    free(p);
}

/* Installed before main() runs, so no thread can be inside jansson while the
 * allocation functions change; both fall back to malloc/free outside a read. */
__attribute__((constructor)) static void arena_install(void)
{
    if (SP_ARENA)
        json_set_alloc_funcs(arena_malloc, arena_free);
}

void sp_json_members_release(sp_json_doc *d)
{
    if (!d->tree)
        return;
    tl_arena.active = 0;
    if (!SP_ARENA || tl_arena.spilled)
        json_decref(d->tree); /* frees the values that went to malloc */
    d->tree = NULL;
}

static void doc_reset(sp_json_doc *d, const sp_json_schema *s)
{
    memset(d->field, 0, (size_t)s->nkeys * sizeof d->field[0]);
    d->nitems = 0;
    d->via_tree = 0;
    d->tree = NULL;
    d->scratch_used = 0;
}

/* ---- jansson: the reference reader -------------------------------------------------- */

static sp_jv jv_of(json_t *v)
{
    sp_jv out = {SP_JV_OTHER, NULL, 0, 0};
    if (json_is_null(v))
        out.type = SP_JV_NULL;
    else if (json_is_string(v)) {
        out.type = SP_JV_STRING;
        out.s = json_string_value(v);
        out.len = json_string_length(v);
    } else if (json_is_integer(v)) {
        out.type = SP_JV_INTEGER;
        out.i = json_integer_value(v);
    } else if (json_is_array(v))
        out.type = SP_JV_ARRAY;
    return out;
}

/* One pass over the object's members (iterator calls, not the foreach macro, which
 * converts each key back to an iterator three times). */
static void tree_members(sp_json_doc *d, const sp_json_schema *s, json_t *obj)
{
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        int k = s->key_index(json_object_iter_key(it), json_object_iter_key_len(it));
        if (k < 0)
            continue;
        json_t *v = json_object_iter_value(it);
        d->field[k] = jv_of(v);
        if (k != s->list_key || !json_is_array(v))
            continue;
        size_t n = json_array_size(v);
        d->nitems = n < SP_JSON_MAX_ITEMS ? n : SP_JSON_MAX_ITEMS;
        for (size_t i = 0; i < d->nitems; i++)
            d->item[i] = jv_of(json_array_get(v, i));
    }
}

sp_json_rc sp_json_members_read_tree(sp_json_doc *d, const sp_json_schema *s,
                                     const char *buf, size_t len, char *errstr,
                                     size_t errstr_size)
{
    doc_reset(d, s);
    d->via_tree = 1;
    tl_arena.used = 0;
    tl_arena.spilled = 0;
    tl_arena.active = SP_ARENA;
    json_error_t err;
    json_t *root = json_loadb(buf, len, JSON_DECODE_ANY, &err); /* scalars: not_object */
    if (!root) {
        tl_arena.active = 0;
        snprintf(errstr, errstr_size, "%s at byte %d", err.text, err.position);
        return json_error_code(&err) == json_error_invalid_utf8 ? SP_JSON_INVALID_UTF8
                                                                : SP_JSON_INVALID;
    }
    d->tree = root;
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "the message is not a JSON object");
        return SP_JSON_NOT_OBJECT;
    }
    tree_members(d, s, root);
    return SP_JSON_OK;
}

/* ---- the prescan -------------------------------------------------------------------- */

int sp_utf8_valid(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint32_t cp, min;
        if (b >= 0xC2 && b <= 0xDF)
            more = 1, cp = b & 0x1F, min = 0x80;
        else if (b >= 0xE0 && b <= 0xEF)
            more = 2, cp = b & 0x0F, min = 0x800;
        else if (b >= 0xF0 && b <= 0xF4)
            more = 3, cp = b & 0x07, min = 0x10000;
        else
            return 0;
        if (n - i - 1 < more)
            return 0;
        for (size_t k = 1; k <= more; k++) {
            unsigned c = p[i + k];
            if ((c & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (c & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += more + 1;
    }
    return 1;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = p[k];
        unsigned d = c >= '0' && c <= '9' ? c - '0'
                   : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : 16;
        if (d > 15)
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* 1 when the fast reader may take the text: see the file comment. A backslash-u that
 * is really an escaped backslash followed by 'u' may be declined too; that only costs
 * time. */
static int fast_path_ok(const unsigned char *p, size_t n)
{
    int high = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned b = p[i];
        if (b < 0x20 && b != '\t' && b != '\n' && b != '\r')
            return 0;
        high |= b >= 0x80;
        if (b == '\\' && i + 1 < n && p[i + 1] == 'u') {
            uint32_t cp;
            if (n - i < 6 || hex4(p + i + 2, &cp) < 0 || cp == 0 ||
                (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        }
    }
    return !high || sp_utf8_valid(p, n);
}

/* ---- yajl: the fast reader ---------------------------------------------------------- */

typedef struct {
    sp_json_doc *d;
    const sp_json_schema *s;
    const char *buf;
    size_t len;
    int depth; /* 1 inside the top-level object */
    int cur;   /* key index of the current top-level member, -1 when unknown */
    int in_list;
    yajl_handle h;
    size_t end; /* the bytes up to the top-level object's closing brace, 0 before it */
} reader;

/* Where a value goes: its member's slot, a list item, or nowhere (NULL). A new value
 * of the list member drops the items of an earlier one (the last value counts). */
static sp_jv *slot(reader *r)
{
    if (r->depth == 1) {
        if (r->cur < 0)
            return NULL;
        if (r->cur == r->s->list_key)
            r->d->nitems = 0;
        return &r->d->field[r->cur];
    }
    if (r->depth == 2 && r->in_list && r->d->nitems < SP_JSON_MAX_ITEMS)
        return &r->d->item[r->d->nitems++];
    return NULL;
}

static int put(reader *r, sp_jv_type t)
{
    if (r->depth == 0)
        return 0; /* a top-level scalar: jansson names it */
    sp_jv *v = slot(r);
    if (v)
        *v = (sp_jv){t, NULL, 0, 0};
    return 1;
}

static int on_null(void *ctx)
{
    return put(ctx, SP_JV_NULL);
}

static int on_bool(void *ctx, int b)
{
    (void)b;
    return put(ctx, SP_JV_OTHER);
}

/* An integer jansson would accept (it fits int64), or a real that does not overflow;
 * anything else declines. Reals are not kept: the schema has none. */
static int on_number(void *ctx, const char *s, size_t n)
{
    reader *r = ctx;
    char tmp[64];
    if (r->depth == 0 || n >= sizeof tmp)
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    int real = strpbrk(tmp, ".eE") != NULL;
    errno = 0;
    long long i = 0;
    if (real) {
        double x = strtod(tmp, NULL);
        if (errno == ERANGE && isinf(x))
            return 0;
    } else if ((i = strtoll(tmp, NULL, 10)), errno == ERANGE)
        return 0;
    sp_jv *v = slot(r);
    if (v)
        *v = (sp_jv){real ? SP_JV_OTHER : SP_JV_INTEGER, NULL, 0, i};
    return 1;
}

/* Points into the message when yajl handed out its own bytes; otherwise (an unescaped
 * copy in yajl's buffer) copies into the scratch, declining when it is full. */
static const char *keep(reader *r, const unsigned char *s, size_t n)
{
    uintptr_t at = (uintptr_t)s, from = (uintptr_t)r->buf;
    if (at >= from && at - from <= r->len && n <= r->len - (at - from))
        return (const char *)s; /* inside the message, which outlives the doc's use */
    sp_json_doc *d = r->d;
    if (n > SP_JSON_SCRATCH - d->scratch_used)
        return NULL;
    char *dst = d->scratch + d->scratch_used;
    memcpy(dst, s, n);
    d->scratch_used += n;
    return dst;
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    reader *r = ctx;
    if (r->depth == 0)
        return 0;
    sp_jv *v = slot(r);
    if (!v)
        return 1;
    const char *kept = keep(r, s, n);
    if (!kept)
        return 0;
    *v = (sp_jv){SP_JV_STRING, kept, n, 0};
    return 1;
}

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
    reader *r = ctx;
    if (r->depth == 1)
        r->cur = r->s->key_index((const char *)s, n);
    return 1;
}

static int on_start_map(void *ctx)
{
    reader *r = ctx;
    if (r->depth > 0)
        put(r, SP_JV_OTHER);
    return ++r->depth <= SP_JSON_MAX_DEPTH;
}

static int on_end(void *ctx)
{
    reader *r = ctx;
    r->depth--;
    if (r->depth == 1)
        r->in_list = 0;
    if (r->depth == 0)
        r->end = yajl_get_bytes_consumed(r->h);
    return 1;
}

/* Whether only JSON whitespace follows the top-level object. yajl's complete_parse
 * accepts a token left open after it (`{...}"`, `{...}"abc`); jansson does not. */
static int nothing_after(const reader *r)
{
    for (size_t i = r->end; i < r->len; i++)
        if (r->buf[i] != ' ' && r->buf[i] != '\t' && r->buf[i] != '\n' && r->buf[i] != '\r')
            return 0;
    return r->end > 0;
}

static int on_start_array(void *ctx)
{
    reader *r = ctx;
    if (r->depth == 0)
        return 0; /* a top-level array: jansson names it */
    put(r, SP_JV_ARRAY);
    if (r->depth == 1 && r->cur >= 0 && r->cur == r->s->list_key)
        r->in_list = 1;
    return ++r->depth <= SP_JSON_MAX_DEPTH;
}

static const yajl_callbacks callbacks = {
    on_null, on_bool, NULL, NULL, on_number, on_string,
    on_start_map, on_key, on_end, on_start_array, on_end,
};

/* 0 when yajl read the whole text as one object; -1 when it declined or failed. */
static int read_fast(sp_json_doc *d, const sp_json_schema *s, const char *buf, size_t len)
{
    if (!fast_path_ok((const unsigned char *)buf, len))
        return -1;
    reader r = {d, s, buf, len, 0, -1, 0, NULL, 0};
    yajl_handle h = yajl_alloc(&callbacks, NULL, &r);
    if (!h)
        return -1;
    r.h = h;
    int ok = yajl_parse(h, (const unsigned char *)buf, len) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok && nothing_after(&r);
    yajl_free(h);
    return ok ? 0 : -1;
}

sp_json_rc sp_json_members_read(sp_json_doc *d, const sp_json_schema *s, const char *buf,
                                size_t len, char *errstr, size_t errstr_size)
{
    doc_reset(d, s);
    if (read_fast(d, s, buf, len) == 0)
        return SP_JSON_OK;
    return sp_json_members_read_tree(d, s, buf, len, errstr, errstr_size);
}
