/*
 * test_sketch_cache.c - the publisher's cache of sketch copies (sketch_cache.h): entries
 * are found by key after others are dropped and moved, idle ones are trimmed, the cap
 * holds. (How the publisher uses it against Redis: test_publisher.c.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "supportpulse/sketch_cache.h"

static size_t key(char *buf, size_t size, int i)
{
    return (size_t)snprintf(buf, size, "sp:r:1m:queue=q%d:1795342500", i);
}

Test(sketch_cache, entries_survive_the_removal_of_others)
{
    sp_skcache *c = sp_skcache_new(0);
    cr_assert(c);
    char k[64];
    sp_skcache_entry *e[100];
    for (int i = 0; i < 100; i++) {
        size_t n = key(k, sizeof k, i);
        cr_assert((e[i] = sp_skcache_get(c, k, n, 1)));
        cr_expect_str_eq(e[i]->version, "-");
        cr_assert_eq(sp_sketch_add(&e[i]->sk[SP_D_WAIT], 1000 + i), 0);
    }
    for (int i = 0; i < 100; i += 3) { /* drop every third: later entries move */
        size_t n = key(k, sizeof k, i);
        sp_skcache_forget(c, k, n);
        cr_expect_null(sp_skcache_find(c, k, n));
    }
    cr_expect_eq(sp_skcache_size(c), 66);
    for (int i = 0; i < 100; i++) {
        size_t n = key(k, sizeof k, i);
        sp_skcache_entry *f = sp_skcache_find(c, k, n);
        if (i % 3 == 0)
            continue;
        cr_assert_eq(f, e[i], "entry %d moved or lost", i);
        cr_expect_eq(sp_sketch_get(&f->sk[SP_D_WAIT], sp_sketch_index(1000 + i)), 1);
        cr_expect_eq(sp_skcache_get(c, k, n, 2), f, "get finds, does not add");
    }
    cr_expect_eq(sp_skcache_size(c), 66);
    sp_skcache_reset(e[1]);
    cr_expect_eq(e[1]->sk[SP_D_WAIT].nb, 0);
    sp_skcache_clear(c);
    cr_expect_eq(sp_skcache_size(c), 0);
    sp_skcache_destroy(c);
}

Test(sketch_cache, idle_entries_are_trimmed_and_the_cap_holds)
{
    sp_skcache *c = sp_skcache_new(10);
    char k[64];
    for (int i = 0; i < 10; i++)
        cr_assert(sp_skcache_get(c, k, key(k, sizeof k, i), (uint64_t)i + 1));
    cr_expect_null(sp_skcache_get(c, k, key(k, sizeof k, 10), 11), "full: not cached");
    sp_skcache_trim(c, 20, 14, 1000); /* keeps those used at flush 6 or later */
    cr_expect_eq(sp_skcache_size(c), 5);
    for (int i = 0; i < 10; i++) {
        size_t n = key(k, sizeof k, i);
        cr_expect_eq(sp_skcache_find(c, k, n) != NULL, i >= 5, "entry %d", i);
    }
    cr_expect(sp_skcache_get(c, k, key(k, sizeof k, 10), 21), "room again");
    sp_skcache_destroy(c);
}

/* Past the bucket budget the least recently used copies go first, whatever their size. */
Test(sketch_cache, the_bucket_budget_drops_the_least_recently_used)
{
    sp_skcache *c = sp_skcache_new(0);
    char k[64];
    for (int i = 0; i < 20; i++) { /* entry i: used at flush 100 - i, 10 buckets */
        sp_skcache_entry *e = sp_skcache_get(c, k, key(k, sizeof k, i), 100 - (uint64_t)i);
        cr_assert(e);
        for (int b = 0; b < 10; b++)
            cr_assert_eq(sp_sketch_add(&e->sk[SP_D_HANDLE], 1000 * (b + 1)), 0);
    }
    cr_expect_eq(sp_skcache_buckets(c), 200);
    sp_skcache_trim(c, 100, 1000, 125); /* nothing idle; 200 > 125: drop 8 oldest */
    cr_expect_eq(sp_skcache_size(c), 12);
    cr_expect_eq(sp_skcache_buckets(c), 120);
    for (int i = 0; i < 20; i++) {
        size_t n = key(k, sizeof k, i);
        sp_skcache_entry *e = sp_skcache_find(c, k, n);
        cr_expect_eq(e != NULL, i < 12, "entry %d (used at %d)", i, 100 - i);
        if (e)
            cr_expect_eq(e->used, 100 - (uint64_t)i, "the index finds the right entry");
    }
    sp_skcache_destroy(c);
}
