/*
 * hashmap.c - see hashmap.h. sp_strmap's slots hold (hash, key, len, value), an empty
 * slot has key == NULL; sp_u64map and sp_u64set share one implementation over 64-bit
 * keys (keytab below), an empty slot has key 0. Deletion shifts later members of the
 * probe run back so lookups never need tombstones and the tables never degrade under
 * churn (open cases come and go).
 */
#include "supportpulse/hashmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t hash;
    char *key;
    uint32_t len;
    uint32_t value;
} slot;

struct sp_strmap {
    slot *slots;
    size_t cap; /* power of two */
    size_t size;
};

uint64_t sp_hash_bytes(const void *data, size_t len)
{
    /* 8 bytes at a time: multiply-xorshift per word, splitmix64's finaliser at the end,
     * so the low bits are usable as a table index. Not for adversarial keys. */
    const unsigned char *p = data;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 29;
        p += 8;
        len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w ^ ((uint64_t)len << 56)) * 0x94d049bb133111ebULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* Backward-shift deletion: whether the member at j, whose home slot is `home`, may stay
 * where it is after slot i (earlier in its probe run) was emptied. */
static int stays(size_t i, size_t j, size_t home)
{
    return i <= j ? (home > i && home <= j) : (home > i || home <= j);
}

sp_strmap *sp_strmap_new(size_t initial_capacity)
{
    sp_strmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    size_t cap = 16;
    while (cap < initial_capacity)
        cap <<= 1;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->cap = cap;
    return m;
}

void sp_strmap_destroy(sp_strmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

void sp_strmap_clear(sp_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        m->slots[i].key = NULL;
    }
    m->size = 0;
}

static size_t find(const sp_strmap *m, uint64_t h, const char *key, size_t len, int *found)
{
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key) {
        const slot *s = &m->slots[i];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
    *found = 0;
    return i;
}

int sp_strmap_get(const sp_strmap *m, const char *key, size_t len, uint32_t *value)
{
    int found;
    size_t i = find(m, sp_hash_bytes(key, len), key, len, &found);
    if (found)
        *value = m->slots[i].value;
    return found;
}

static int grow(sp_strmap *m)
{
    size_t ncap = m->cap * 2;
    slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = m->slots[i].hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int sp_strmap_put(sp_strmap *m, const char *key, size_t len, uint32_t value)
{
    if ((m->size + 1) * 10 > m->cap * 7 && grow(m) < 0)
        return -1;
    uint64_t h = sp_hash_bytes(key, len);
    int found;
    size_t i = find(m, h, key, len, &found);
    if (found) {
        m->slots[i].value = value;
        return 0;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, key, len);
    copy[len] = '\0';
    m->slots[i] = (slot){h, copy, (uint32_t)len, value};
    m->size++;
    return 0;
}

int sp_strmap_del(sp_strmap *m, const char *key, size_t len)
{
    int found;
    size_t mask = m->cap - 1;
    size_t i = find(m, sp_hash_bytes(key, len), key, len, &found);
    if (!found)
        return 0;
    free(m->slots[i].key);
    m->slots[i].key = NULL;
    m->size--;
    /* backward shift: move later run members whose home is not in (i, j] into the hole */
    for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        if (stays(i, j, m->slots[j].hash & mask))
            continue;
        m->slots[i] = m->slots[j];
        m->slots[j].key = NULL;
        i = j;
    }
    return 1;
}

size_t sp_strmap_size(const sp_strmap *m) { return m->size; }

/* ---- tables of 64-bit keys: sp_u64map and sp_u64set ------------------------------- */

/* One probing implementation for both: slot i is `stride` words at w[i * stride], its
 * key the first word (0 = empty); sp_u64map keeps its value in the second word,
 * sp_u64set has no second word (half the memory). Starts at 64 slots and doubles at 50%
 * load, up to 2 * max entries' worth: memory follows what is stored, not the cap. The
 * stride is a constant at every call, so the inlined code is as if written for each. */
typedef struct {
    uint64_t *w;
    size_t mask, size, max;
} keytab;

static int kt_init(keytab *t, size_t stride, size_t max_entries)
{
    if (!(t->w = calloc(64 * stride, sizeof *t->w)))
        return -1;
    t->mask = 63;
    t->size = 0;
    t->max = max_entries;
    return 0;
}

/* The slot holding key, or the empty slot that ends its probe run. */
static inline size_t kt_find(const keytab *t, size_t stride, uint64_t key)
{
    size_t i = key & t->mask;
    while (t->w[i * stride] && t->w[i * stride] != key)
        i = (i + 1) & t->mask;
    return i;
}

/* The home slot of key, for a later lookup (prefetching for read and write). */
static inline void kt_prefetch(const keytab *t, size_t stride, uint64_t key)
{
    __builtin_prefetch(&t->w[(key & t->mask) * stride], 1, 3);
}

static int kt_grow(keytab *t, size_t stride)
{
    size_t ncap = (t->mask + 1) * 2, omask = t->mask;
    uint64_t *old = t->w, *nw = calloc(ncap * stride, sizeof *nw);
    if (!nw)
        return -1;
    t->w = nw;
    t->mask = ncap - 1;
    for (size_t i = 0; i <= omask; i++)
        if (old[i * stride])
            memcpy(&nw[kt_find(t, stride, old[i * stride]) * stride], &old[i * stride],
                   stride * sizeof *nw);
    free(old);
    return 0;
}

/* The slot of key, claimed for it (key set, size counted) when it was absent: *found
 * tells which. -1 when absent and the table is full or cannot grow. */
static inline long kt_claim(keytab *t, size_t stride, uint64_t key, int *found)
{
    size_t i = kt_find(t, stride, key);
    if ((*found = t->w[i * stride] != 0))
        return (long)i;
    if (t->size >= t->max)
        return -1;
    if ((t->size + 1) * 2 > t->mask + 1) {
        if (kt_grow(t, stride) < 0)
            return -1;
        i = kt_find(t, stride, key);
    }
    t->w[i * stride] = key;
    t->size++;
    return (long)i;
}

static int kt_del(keytab *t, size_t stride, uint64_t key)
{
    size_t i = kt_find(t, stride, key);
    if (!t->w[i * stride])
        return 0;
    t->w[i * stride] = 0;
    t->size--;
    for (size_t j = (i + 1) & t->mask; t->w[j * stride]; j = (j + 1) & t->mask) {
        if (stays(i, j, t->w[j * stride] & t->mask))
            continue;
        memcpy(&t->w[i * stride], &t->w[j * stride], stride * sizeof *t->w);
        t->w[j * stride] = 0;
        i = j;
    }
    return 1;
}

/* ---- sp_u64map ------------------------------------------------------------------ */

#define MAP 2 /* words a slot: key, value */

struct sp_u64map {
    keytab t;
};

sp_u64map *sp_u64map_new(size_t max_entries)
{
    sp_u64map *m = calloc(1, sizeof *m);
    if (!m || kt_init(&m->t, MAP, max_entries) < 0) {
        free(m);
        return NULL;
    }
    return m;
}

void sp_u64map_destroy(sp_u64map *m)
{
    if (!m)
        return;
    free(m->t.w);
    free(m);
}

void sp_u64map_clear(sp_u64map *m)
{
    memset(m->t.w, 0, (m->t.mask + 1) * MAP * sizeof *m->t.w);
    m->t.size = 0;
}

int sp_u64map_get(const sp_u64map *m, uint64_t key, uint32_t *value)
{
    size_t i = kt_find(&m->t, MAP, key);
    int found = m->t.w[i * MAP] != 0;
    if (found && value)
        *value = (uint32_t)m->t.w[i * MAP + 1];
    return found;
}

int sp_u64map_insert(sp_u64map *m, uint64_t key, uint32_t value, uint32_t *existing)
{
    int found;
    long i = kt_claim(&m->t, MAP, key, &found);
    if (i < 0)
        return -1;
    if (found) {
        if (existing)
            *existing = (uint32_t)m->t.w[i * MAP + 1];
        return 1;
    }
    m->t.w[i * MAP + 1] = value;
    return 0;
}

int sp_u64map_put(sp_u64map *m, uint64_t key, uint32_t value)
{
    int found;
    long i = kt_claim(&m->t, MAP, key, &found);
    if (i < 0)
        return -1;
    m->t.w[i * MAP + 1] = value;
    return 0;
}

int sp_u64map_del(sp_u64map *m, uint64_t key) { return kt_del(&m->t, MAP, key); }
size_t sp_u64map_size(const sp_u64map *m) { return m->t.size; }
void sp_u64map_prefetch(const sp_u64map *m, uint64_t key) { kt_prefetch(&m->t, MAP, key); }

/* ---- sp_u64set ------------------------------------------------------------------ */

#define SET 1 /* words a slot: key */

struct sp_u64set {
    keytab t;
};

sp_u64set *sp_u64set_new(size_t max_entries)
{
    sp_u64set *s = calloc(1, sizeof *s);
    if (!s || kt_init(&s->t, SET, max_entries) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

void sp_u64set_destroy(sp_u64set *s)
{
    if (!s)
        return;
    free(s->t.w);
    free(s);
}

int sp_u64set_add(sp_u64set *s, uint64_t key)
{
    int found;
    long i = kt_claim(&s->t, SET, key, &found);
    return i < 0 ? -1 : found;
}

int sp_u64set_has(const sp_u64set *s, uint64_t key)
{
    return s->t.w[kt_find(&s->t, SET, key)] != 0;
}

int sp_u64set_del(sp_u64set *s, uint64_t key) { return kt_del(&s->t, SET, key); }
size_t sp_u64set_size(const sp_u64set *s) { return s->t.size; }
void sp_u64set_prefetch(const sp_u64set *s, uint64_t key) { kt_prefetch(&s->t, SET, key); }

int sp_u64vec_push(sp_u64vec *v, uint64_t x)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 256;
        uint64_t *nv = realloc(v->v, ncap * sizeof *nv);
        if (!nv)
            return -1;
        v->v = nv;
        v->cap = ncap;
    }
    v->v[v->n++] = x;
    return 0;
}

void sp_u64vec_free(sp_u64vec *v)
{
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}
