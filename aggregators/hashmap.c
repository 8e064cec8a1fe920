/*
 * hashmap.c - see hashmap.h. Slots hold (hash, key, len, value); an empty slot has
 * key == NULL. Deletion shifts later members of the probe run back so lookups never
 * need tombstones and the table never degrades under churn (open cases come and go).
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

/* ---- sp_u64map ------------------------------------------------------------------ */

typedef struct {
    uint64_t key; /* 0 = empty */
    uint32_t value;
} u64slot;

struct sp_u64map {
    u64slot *slots;
    size_t mask, size, max;
};

/* Starts small and doubles at 50% load, up to 2 * max_entries slots: memory follows
 * what is stored, not the cap. */
sp_u64map *sp_u64map_new(size_t max_entries)
{
    sp_u64map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->slots = calloc(64, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->mask = 63;
    m->max = max_entries;
    return m;
}

void sp_u64map_destroy(sp_u64map *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m);
}

static size_t u64_find(const sp_u64map *m, uint64_t key, int *found)
{
    size_t i = key & m->mask;
    while (m->slots[i].key) {
        if (m->slots[i].key == key) {
            *found = 1;
            return i;
        }
        i = (i + 1) & m->mask;
    }
    *found = 0;
    return i;
}

static int u64_grow(sp_u64map *m)
{
    size_t ncap = (m->mask + 1) * 2;
    u64slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = m->slots[i].key & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->mask = ncap - 1;
    return 0;
}

int sp_u64map_get(const sp_u64map *m, uint64_t key, uint32_t *value)
{
    int found;
    size_t i = u64_find(m, key, &found);
    if (found && value)
        *value = m->slots[i].value;
    return found;
}

/* The slot of key, claimed for it (key set, size counted) when it was absent: *found
 * tells which. -1 when absent and the map is full or cannot grow. */
static long u64_claim(sp_u64map *m, uint64_t key, int *found)
{
    size_t i = u64_find(m, key, found);
    if (*found)
        return (long)i;
    if (m->size >= m->max)
        return -1;
    if ((m->size + 1) * 2 > m->mask + 1) {
        if (u64_grow(m) < 0)
            return -1;
        i = u64_find(m, key, found);
    }
    m->slots[i].key = key;
    m->size++;
    return (long)i;
}

int sp_u64map_insert(sp_u64map *m, uint64_t key, uint32_t value, uint32_t *existing)
{
    int found;
    long i = u64_claim(m, key, &found);
    if (i < 0)
        return -1;
    if (found) {
        if (existing)
            *existing = m->slots[i].value;
        return 1;
    }
    m->slots[i].value = value;
    return 0;
}

int sp_u64map_put(sp_u64map *m, uint64_t key, uint32_t value)
{
    int found;
    long i = u64_claim(m, key, &found);
    if (i < 0)
        return -1;
    m->slots[i].value = value;
    return 0;
}

int sp_u64map_del(sp_u64map *m, uint64_t key)
{
    int found;
    size_t i = u64_find(m, key, &found);
    if (!found)
        return 0;
    m->slots[i].key = 0;
    m->size--;
    for (size_t j = (i + 1) & m->mask; m->slots[j].key; j = (j + 1) & m->mask) {
        if (stays(i, j, m->slots[j].key & m->mask))
            continue;
        m->slots[i] = m->slots[j];
        m->slots[j].key = 0;
        i = j;
    }
    return 1;
}

size_t sp_u64map_size(const sp_u64map *m) { return m->size; }

/* ---- sp_u64set ------------------------------------------------------------------ */

struct sp_u64set {
    uint64_t *slots; /* 0 = empty */
    size_t mask, size, max;
};

sp_u64set *sp_u64set_new(size_t max_entries)
{
    sp_u64set *s = calloc(1, sizeof *s);
    if (!s || !(s->slots = calloc(64, sizeof *s->slots))) {
        free(s);
        return NULL;
    }
    s->mask = 63;
    s->max = max_entries;
    return s;
}

void sp_u64set_destroy(sp_u64set *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s);
}

/* The slot holding key, or the empty slot that ends its probe run. */
static size_t set_find(const sp_u64set *s, uint64_t key)
{
    size_t i = key & s->mask;
    while (s->slots[i] && s->slots[i] != key)
        i = (i + 1) & s->mask;
    return i;
}

static int set_grow(sp_u64set *s)
{
    size_t ncap = (s->mask + 1) * 2;
    uint64_t *old = s->slots;
    size_t omask = s->mask;
    if (!(s->slots = calloc(ncap, sizeof *s->slots))) {
        s->slots = old;
        return -1;
    }
    s->mask = ncap - 1;
    for (size_t i = 0; i <= omask; i++)
        if (old[i])
            s->slots[set_find(s, old[i])] = old[i];
    free(old);
    return 0;
}

int sp_u64set_add(sp_u64set *s, uint64_t key)
{
    size_t i = set_find(s, key);
    if (s->slots[i])
        return 1;
    if (s->size >= s->max)
        return -1;
    if ((s->size + 1) * 2 > s->mask + 1) {
        if (set_grow(s) < 0)
            return -1;
        i = set_find(s, key);
    }
    s->slots[i] = key;
    s->size++;
    return 0;
}

int sp_u64set_has(const sp_u64set *s, uint64_t key) { return s->slots[set_find(s, key)] != 0; }

int sp_u64set_del(sp_u64set *s, uint64_t key)
{
    size_t i = set_find(s, key);
    if (!s->slots[i])
        return 0;
    s->slots[i] = 0;
    s->size--;
    for (size_t j = (i + 1) & s->mask; s->slots[j]; j = (j + 1) & s->mask) {
        if (stays(i, j, s->slots[j] & s->mask))
            continue;
        s->slots[i] = s->slots[j];
        s->slots[j] = 0;
        i = j;
    }
    return 1;
}

size_t sp_u64set_size(const sp_u64set *s) { return s->size; }

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
