/*
 * hashmap.h - the open-addressing tables of the window state: sp_strmap from byte-string
 * keys to uint32 values (interned names and dimension keys), sp_u64map from 64-bit
 * hashes to uint32 values (the case index, combos, agents) and sp_u64set of 64-bit
 * hashes (the dedup horizon). All use linear probing with backward-shift deletion (no
 * tombstones) and a power-of-two capacity (sp_strmap grows at 70% load, the others at
 * 50%).
 *
 * Ownership: sp_strmap copies each key on insert and frees it on delete or destroy.
 * Single-threaded: one map belongs to one partition's state, touched by one thread.
 */
#ifndef SUPPORTPULSE_HASHMAP_H
#define SUPPORTPULSE_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sp_strmap sp_strmap;

uint64_t sp_hash_bytes(const void *data, size_t len);
/* A bijection of 64-bit values (splitmix64's finaliser) that keeps 0 at 0 and spreads
 * every input bit over the low bits: for keys that are packed numbers, not hashes
 * (the u64 tables take a key's low bits as its home slot). */
static inline uint64_t sp_hash_u64(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Returns a new map or NULL when out of memory. */
sp_strmap *sp_strmap_new(size_t initial_capacity);
void sp_strmap_destroy(sp_strmap *m); /* NULL is a no-op */
/* 1 and *value when found, 0 when not. */
int sp_strmap_get(const sp_strmap *m, const char *key, size_t len, uint32_t *value);
/* Inserts or replaces. 0 on success, -1 when out of memory (the map is unchanged). */
int sp_strmap_put(sp_strmap *m, const char *key, size_t len, uint32_t value);
/* 1 when removed, 0 when absent. */
int sp_strmap_del(sp_strmap *m, const char *key, size_t len);
size_t sp_strmap_size(const sp_strmap *m);
/* Removes every key (their copies are freed); the capacity stays. */
void sp_strmap_clear(sp_strmap *m);

/* A map from non-zero 64-bit hashes to uint32 values (open cases, combos, agents).
 * A key's low bits pick its home slot: pass a hash (sp_hash_bytes, sp_hash_u64), not
 * a packed number, or keys that differ only in high bits share one probe run.
 * It grows by doubling at 50% load, so memory follows what it holds; put fails (-1)
 * beyond max_entries (or when growing finds no memory), never silently. */
typedef struct sp_u64map sp_u64map;
sp_u64map *sp_u64map_new(size_t max_entries);
void sp_u64map_destroy(sp_u64map *m); /* NULL is a no-op */
/* Empties the map, keeping its table (a map refilled to the same size never grows). */
void sp_u64map_clear(sp_u64map *m);
int sp_u64map_get(const sp_u64map *m, uint64_t key, uint32_t *value);
int sp_u64map_put(sp_u64map *m, uint64_t key, uint32_t value);
/* Inserts key -> value unless key is there: 0 inserted, 1 present (*existing set when
 * not NULL), -1 full or out of memory. One probe where get + put would take two. */
int sp_u64map_insert(sp_u64map *m, uint64_t key, uint32_t value, uint32_t *existing);
int sp_u64map_del(sp_u64map *m, uint64_t key);
size_t sp_u64map_size(const sp_u64map *m);
/* Asks the CPU to start loading the slot where key's probe begins (no effect on the
 * map's contents): called a few events ahead, the lookup later finds it in cache. */
void sp_u64map_prefetch(const sp_u64map *m, uint64_t key);

/* A set of non-zero 64-bit hashes (the dedup horizon's event ids): 8 bytes a slot, half
 * of sp_u64map's, so twice as many fit in each cache line and in the caches. Grows by
 * doubling at 50% load; add fails (-1) beyond max_entries or when out of memory. */
typedef struct sp_u64set sp_u64set;
sp_u64set *sp_u64set_new(size_t max_entries);
void sp_u64set_destroy(sp_u64set *s); /* NULL is a no-op */
/* 0 added, 1 already there, -1 full or out of memory (the set is unchanged). */
int sp_u64set_add(sp_u64set *s, uint64_t key);
int sp_u64set_has(const sp_u64set *s, uint64_t key);
/* 1 when removed, 0 when absent. */
int sp_u64set_del(sp_u64set *s, uint64_t key);
size_t sp_u64set_size(const sp_u64set *s);
void sp_u64set_prefetch(const sp_u64set *s, uint64_t key); /* as sp_u64map_prefetch */

/* A growable array of 64-bit keys (case keys waiting, dirty, removed). Zero-initialise;
 * sp_u64vec_free releases it. */
typedef struct {
    uint64_t *v;
    size_t n, cap;
} sp_u64vec;
/* Appends x. 0, or -1 when out of memory (v unchanged). */
int sp_u64vec_push(sp_u64vec *v, uint64_t x);
void sp_u64vec_free(sp_u64vec *v);

#endif
