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
