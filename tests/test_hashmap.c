/*
 * test_hashmap.c - the open-addressing tables under churn, checked against a plain
 * array model (deletion by backward shift is the part that is easy to get wrong).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"

Test(hashmap, strmap_matches_a_model_under_churn)
{
    enum { N = 3000 };
    static int present[N];
    static uint32_t value[N];
    memset(present, 0, sizeof present);
    sp_strmap *m = sp_strmap_new(4);
    uint64_t s = 1;
    for (int step = 0; step < 60000; step++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = (int)((s >> 33) % N), op = (int)((s >> 20) % 3);
        char key[32];
        int len = snprintf(key, sizeof key, "case-%d", k);
        if (op < 2) {
            cr_assert_eq(sp_strmap_put(m, key, (size_t)len, (uint32_t)step), 0);
            present[k] = 1;
            value[k] = (uint32_t)step;
        } else {
            cr_assert_eq(sp_strmap_del(m, key, (size_t)len), present[k]);
            present[k] = 0;
        }
    }
    size_t count = 0;
    for (int k = 0; k < N; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "case-%d", k);
        uint32_t v;
        cr_assert_eq(sp_strmap_get(m, key, (size_t)len, &v), present[k], "key %d", k);
        if (present[k])
            cr_assert_eq(v, value[k]);
        count += (size_t)present[k];
    }
    cr_expect_eq(sp_strmap_size(m), count);
    sp_strmap_destroy(m);
}

/* A cleared map holds nothing, frees its keys (ASan checks) and takes keys again. */
Test(hashmap, strmap_clear_empties_and_is_reusable)
{
    sp_strmap *m = sp_strmap_new(4);
    cr_assert(m);
    char key[32];
    for (int k = 0; k < 100; k++) {
        int len = snprintf(key, sizeof key, "key-%d", k);
        cr_assert_eq(sp_strmap_put(m, key, (size_t)len, (uint32_t)k), 0);
    }
    sp_strmap_clear(m);
    cr_expect_eq(sp_strmap_size(m), 0);
    uint32_t v;
    for (int k = 0; k < 100; k++) {
        int len = snprintf(key, sizeof key, "key-%d", k);
        cr_expect_not(sp_strmap_get(m, key, (size_t)len, &v), "key %d survived the clear", k);
    }
    cr_assert_eq(sp_strmap_put(m, "again", 5, 7), 0);
    cr_expect(sp_strmap_get(m, "again", 5, &v) && v == 7);
    cr_expect_eq(sp_strmap_size(m), 1);
    sp_strmap_destroy(m);
}

Test(hashmap, u64map_is_bounded_and_consistent)
{
    sp_u64map *m = sp_u64map_new(100);
    for (uint64_t k = 1; k <= 100; k++)
        cr_assert_eq(sp_u64map_put(m, k * 0x9e3779b97f4a7c15ULL, (uint32_t)k), 0);
    cr_expect_eq(sp_u64map_put(m, 12345, 1), -1, "full: refuses, never grows");
    for (uint64_t k = 1; k <= 100; k += 2)
        cr_assert_eq(sp_u64map_del(m, k * 0x9e3779b97f4a7c15ULL), 1);
    for (uint64_t k = 1; k <= 100; k++) {
        uint32_t v = 0;
        int found = sp_u64map_get(m, k * 0x9e3779b97f4a7c15ULL, &v);
        cr_assert_eq(found, k % 2 == 0, "key %llu", (unsigned long long)k);
        if (found)
            cr_assert_eq(v, (uint32_t)k);
    }
    cr_expect_eq(sp_u64map_size(m), 50);
    sp_u64map_destroy(m);
}

Test(dims, keys_follow_the_spec_and_escape_values)
{
    char k[SP_DIMS_MAX];
    sp_dims_format(NULL, NULL, NULL, NULL, k, sizeof k);
    cr_expect_str_eq(k, "all");
    sp_dims_format("default", "payments", "phone", NULL, k, sizeof k);
    cr_expect_str_eq(k, "queue=payments|channel=phone", "tenant default is omitted");
    sp_dims_format("hk", "a|b=c:d%e", NULL, "ag 1", k, sizeof k);
    cr_expect_str_eq(k, "tenant=hk|queue=a%7Cb%3Dc%3Ad%25e|agent=ag 1");
    sp_dims_format(NULL, "技术支持", NULL, NULL, k, sizeof k);
    cr_expect_str_eq(k, "queue=技术支持", "UTF-8 is kept as is");
    cr_expect_eq(sp_dims_format(NULL, "payments", NULL, NULL, k, 8), -1, "too small");
}

Test(hashmap, u64map_insert_if_absent)
{
    sp_u64map *m = sp_u64map_new(3);
    uint32_t v = 0;
    cr_expect_eq(sp_u64map_insert(m, 7, 70, &v), 0);
    cr_expect_eq(sp_u64map_insert(m, 7, 71, &v), 1, "present: not replaced");
    cr_expect_eq(v, 70);
    cr_expect_eq(sp_u64map_insert(m, 8, 80, NULL), 0);
    cr_expect_eq(sp_u64map_insert(m, 9, 90, NULL), 0);
    cr_expect_eq(sp_u64map_insert(m, 10, 100, NULL), -1, "full");
    cr_expect_eq(sp_u64map_insert(m, 9, 91, NULL), 1, "a present key is found even when full");
    sp_u64map_destroy(m);
}

/* Keys whose low bits crowd the last slots of the table, so probe runs wrap around the
 * end and deletions shift members back across it; checked against an array model. */
Test(hashmap, u64set_matches_a_model_under_churn_and_wrap_around)
{
    enum { N = 2000 };
    static int present[N];
    memset(present, 0, sizeof present);
    sp_u64set *s = sp_u64set_new(N);
    uint64_t r = 7;
    for (int step = 0; step < 80000; step++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        int k = (int)((r >> 33) % N), op = (int)((r >> 20) % 3);
        uint64_t key = ((uint64_t)(k + 1) << 32) | (uint64_t)(0xffffffffu - (unsigned)(k % 5));
        if (op < 2) {
            cr_assert_eq(sp_u64set_add(s, key), present[k], "step %d key %d", step, k);
            present[k] = 1;
        } else {
            cr_assert_eq(sp_u64set_del(s, key), present[k], "step %d key %d", step, k);
            present[k] = 0;
        }
    }
    size_t count = 0;
    for (int k = 0; k < N; k++) {
        uint64_t key = ((uint64_t)(k + 1) << 32) | (uint64_t)(0xffffffffu - (unsigned)(k % 5));
        cr_assert_eq(sp_u64set_has(s, key), present[k], "key %d", k);
        count += (size_t)present[k];
    }
    cr_expect_eq(sp_u64set_size(s), count);
    sp_u64set_destroy(s);
}

Test(hashmap, u64set_is_bounded)
{
    sp_u64set *s = sp_u64set_new(100);
    for (uint64_t k = 1; k <= 100; k++)
        cr_assert_eq(sp_u64set_add(s, k * 0x9e3779b97f4a7c15ULL), 0);
    cr_expect_eq(sp_u64set_add(s, 12345), -1, "full: refuses, never grows past the cap");
    cr_expect_eq(sp_u64set_add(s, 7 * 0x9e3779b97f4a7c15ULL), 1, "a present key is found when full");
    cr_expect_eq(sp_u64set_del(s, 12345), 0);
    cr_expect_eq(sp_u64set_del(s, 3 * 0x9e3779b97f4a7c15ULL), 1);
    cr_expect_eq(sp_u64set_add(s, 12345), 0, "room again after a removal");
    cr_expect_eq(sp_u64set_size(s), 100);
    sp_u64set_destroy(s);
}

/* The u64 tables take a key's low bits as its home slot. Packed keys (tenant, queue and
 * channel in separate bit fields) differ mostly in high bits; sp_hash_u64 must spread
 * them over the low bits without ever merging two keys. */
Test(hashmap, packed_keys_spread_over_the_low_bits)
{
    enum { N = 4096, MASK = 4095 };
    static unsigned char used[N];
    memset(used, 0, sizeof used);
    int homes = 0, raw_homes = 0;
    static unsigned char raw_used[N];
    memset(raw_used, 0, sizeof raw_used);
    for (uint64_t tenant = 0; tenant < 64; tenant++)
        for (uint64_t queue = 0; queue < 16; queue++)
            for (uint64_t ch = 0; ch < 4; ch++) {
                uint64_t packed = (tenant << 40 | queue << 8 | ch) + 1;
                uint64_t h = sp_hash_u64(packed);
                cr_assert_neq(h, 0, "only 0 maps to 0");
                homes += !used[h & MASK]++;
                raw_homes += !raw_used[packed & MASK]++;
            }
    cr_expect_eq(sp_hash_u64(0), 0);
    cr_expect_eq(raw_homes, 64, "unmixed: only queue and channel reach the low 12 bits");
    /* 4096 keys thrown at 4096 slots fill about 1 - 1/e of them (2,589) */
    cr_expect_gt(homes, 2400, "%d distinct home slots", homes);
    /* a bijection: spot-check that distinct inputs stay distinct across a range */
    sp_u64set *seen = sp_u64set_new(1 << 17);
    cr_assert_not_null(seen);
    for (uint64_t x = 1; x <= 100000; x++)
        cr_assert_eq(sp_u64set_add(seen, sp_hash_u64(x << 20)), 0, "collision at %llu",
                     (unsigned long long)x);
    sp_u64set_destroy(seen);
}
