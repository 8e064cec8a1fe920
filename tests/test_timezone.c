/*
 * test_timezone.c - the desk's day (aggregators/timezone.c): local midnights of real
 * zones from the system's tz database, checked against glibc's localtime_r for every day
 * from 2000 to 2100 (an independent reading of the same files), and by hand across
 * Europe/Berlin's change on the last Sunday of October, for +08:00 and +05:30, a day that
 * starts at 01:00, and bad names.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supportpulse/timezone.h"

static sp_tz *load(const char *name)
{
    char err[256];
    sp_tz *z = sp_tz_load(name, err, sizeof err);
    cr_assert_not_null(z, "%s", err);
    return z;
}

static int64_t utc(int y, int m, int d, int hh, int mm)
{
    return sp_days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
}

Test(timezone, berlin_last_sunday_of_october_is_25_hours)
{
    sp_tz *z = load("Europe/Berlin");
    /* 2026-10-25: CEST (+2) until 01:00 UTC, then CET (+1) */
    int64_t start = sp_tz_day_start(z, utc(2026, 10, 25, 12, 0));
    cr_expect_eq(start, utc(2026, 10, 24, 22, 0), "midnight CEST");
    cr_expect_eq(sp_tz_day_end(z, start), utc(2026, 10, 25, 23, 0), "the next midnight, CET");
    cr_expect_eq(sp_tz_day_end(z, start) - start, 25 * 3600);
    cr_expect_eq(sp_tz_day_start(z, utc(2026, 10, 25, 22, 59)), start, "23:59 CET is the same day");
    cr_expect_eq(sp_tz_day_start(z, utc(2026, 10, 25, 23, 0)), utc(2026, 10, 25, 23, 0));
    /* 2026-03-29 is 23 hours */
    int64_t spring = sp_tz_day_start(z, utc(2026, 3, 29, 12, 0));
    cr_expect_eq(spring, utc(2026, 3, 28, 23, 0));
    cr_expect_eq(sp_tz_day_end(z, spring) - spring, 23 * 3600);
    /* past the file's table (2037): from the POSIX rule at its end */
    cr_expect_eq(sp_tz_day_start(z, utc(2040, 10, 28, 12, 0)), utc(2040, 10, 27, 22, 0));
    cr_expect_eq(sp_tz_day_end(z, utc(2040, 10, 28, 12, 0)), utc(2040, 10, 28, 23, 0));
    cr_expect_eq(sp_tz_offset(z, utc(2050, 7, 1, 0, 0)), 7200);
    sp_tz_free(z);
}

Test(timezone, shanghai_and_kolkata)
{
    sp_tz *sh = load("Asia/Shanghai"), *in = load("Asia/Kolkata");
    cr_expect_eq(sp_tz_day_start(sh, utc(2026, 11, 22, 15, 59)), utc(2026, 11, 21, 16, 0));
    cr_expect_eq(sp_tz_day_start(sh, utc(2026, 11, 22, 16, 0)), utc(2026, 11, 22, 16, 0),
                 "08:00 UTC is not midnight in Shanghai; 16:00 UTC is");
    cr_expect_eq(sp_tz_day_start(in, utc(2026, 11, 22, 18, 29)), utc(2026, 11, 21, 18, 30));
    cr_expect_eq(sp_tz_day_start(in, utc(2026, 11, 22, 18, 30)), utc(2026, 11, 22, 18, 30));
    cr_expect(sp_tz_days_align(sh, 3600));
    cr_expect(!sp_tz_days_align(in, 3600), "+05:30: midnight is on the half hour");
    cr_expect(sp_tz_days_align(in, 900));
    sp_tz_free(sh);
    sp_tz_free(in);
}

Test(timezone, a_day_that_begins_at_one_in_the_morning)
{
    /* America/Havana springs forward at 00:00 local: the day starts at 01:00 CDT */
    sp_tz *z = load("America/Havana");
    int64_t s = sp_tz_day_start(z, utc(2026, 3, 8, 12, 0));
    cr_expect_eq(s, utc(2026, 3, 8, 5, 0), "00:00 CST is 05:00 UTC, the moment of the change");
    cr_expect_eq(sp_tz_offset(z, s), -4 * 3600);
    cr_expect_eq(sp_tz_day_end(z, s) - s, 23 * 3600);
    sp_tz_free(z);
}

Test(timezone, utc_and_bad_names)
{
    sp_tz *z = load("UTC");
    cr_expect_eq(sp_tz_day_start(z, utc(2026, 11, 22, 23, 59)), utc(2026, 11, 22, 0, 0));
    cr_expect_str_eq(sp_tz_name(z), "UTC");
    sp_tz_free(z);
    char err[256];
    const char *bad[] = {"Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Asia/../UTC",
                         "Europe/Berlin ", "zone.tab"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cr_expect_null(sp_tz_load(bad[i], err, sizeof err), "%s loaded", bad[i]);
        cr_expect(err[0], "%s: no message", bad[i]);
    }
}

/* Every day from 2000 to 2100: our start is local midnight (or the first instant of the
 * day) by glibc's reading, and the instant before it is the day before. */
static void compare_with_libc(const char *name)
{
    sp_tz *z = load(name);
    setenv("TZ", name, 1);
    tzset();
    int64_t s = utc(2000, 1, 1, 12, 0), bad = 0;
    for (int d = 0; d < 101 * 365 && bad < 5; d++, s += 86400) {
        int64_t st = sp_tz_day_start(z, s), en = sp_tz_day_end(z, s);
        time_t a = (time_t)st, b = (time_t)(st - 1), e = (time_t)en, noon = (time_t)s;
        struct tm ta, tb, te, tn;
        localtime_r(&a, &ta);
        localtime_r(&b, &tb);
        localtime_r(&e, &te);
        localtime_r(&noon, &tn);
        int ok = ta.tm_yday == tn.tm_yday && ta.tm_year == tn.tm_year &&
                 tb.tm_yday != ta.tm_yday && te.tm_yday != ta.tm_yday &&
                 ta.tm_hour * 60 + ta.tm_min <= 60 && en > s && st <= s &&
                 sp_tz_offset(z, s) == tn.tm_gmtoff;
        if (!ok) {
            bad++;
            cr_expect(ok, "%s: the day of %lld starts at %lld (%02d:%02d local), ends %lld",
                      name, (long long)s, (long long)st, ta.tm_hour, ta.tm_min, (long long)en);
        }
    }
    unsetenv("TZ");
    tzset();
    sp_tz_free(z);
}

Test(timezone, every_day_to_2100_agrees_with_libc)
{
    const char *zones[] = {"Europe/Berlin", "Asia/Shanghai", "Asia/Kolkata", "America/New_York",
                           "America/Sao_Paulo", "Australia/Sydney", "Pacific/Chatham",
                           "Asia/Kathmandu", "America/Havana", "Europe/Dublin",
                           "America/Nuuk", "Africa/Casablanca", "Asia/Tehran"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        compare_with_libc(zones[i]);
}

Test(timezone, a_dims_takes_its_tenants_zone)
{
    char err[256];
    sp_zones *z = sp_zones_new("Asia/Shanghai", "t1=Europe/Berlin,t2=Asia/Kolkata", err, sizeof err);
    cr_assert_not_null(z, "%s", err);
    cr_expect_str_eq(sp_tz_name(sp_zones_for_dims(z, "all")), "Asia/Shanghai");
    cr_expect_str_eq(sp_tz_name(sp_zones_for_dims(z, "queue=payments")), "Asia/Shanghai");
    cr_expect_str_eq(sp_tz_name(sp_zones_for_dims(z, "tenant=t1")), "Europe/Berlin");
    cr_expect_str_eq(sp_tz_name(sp_zones_for_dims(z, "tenant=t2|queue=x")), "Asia/Kolkata");
    cr_expect_str_eq(sp_tz_name(sp_zones_for_dims(z, "tenant=t3|queue=x")), "Asia/Shanghai");
    cr_expect_str_eq(sp_tz_name(sp_zones_for_dims(z, "tenant=t10")), "Asia/Shanghai",
                     "t1 is not a prefix match");
    int64_t s = utc(2026, 11, 22, 12, 0);
    cr_expect_eq(sp_zones_window_start(z, "tenant=t2", s, SP_NRES - 1), utc(2026, 11, 21, 18, 30));
    cr_expect_eq(sp_zones_window_start(z, "tenant=t2", s + 7, 3), s, "below 1d: epoch-aligned");
    cr_expect_eq(sp_zones_window_end(z, "all", utc(2026, 11, 21, 16, 0), SP_NRES - 1),
                 utc(2026, 11, 22, 16, 0));
    sp_res_by_class rc;
    cr_assert_eq(sp_res_by_class_parse(NULL, &rc, err, sizeof err), 0);
    cr_expect_eq(sp_zones_check_res(z, &rc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_res_by_class_parse("agent=1h,1d", &rc, err, sizeof err), 0, "%s", err);
    cr_expect_eq(sp_zones_check_res(z, &rc, err, sizeof err), -1, "1h cells across +05:30 midnight");
    cr_expect(strstr(err, "Asia/Kolkata") && strstr(err, "agent"), "%s", err);
    sp_zones_free(z);
    cr_expect_null(sp_zones_new("Asia/Shanghai", "t1", err, sizeof err));
    cr_expect(strstr(err, "tenant_time_zones"), "%s", err);
    cr_expect_null(sp_zones_new("Nowhere/Land", "", err, sizeof err));
    cr_expect(strstr(err, "time_zone") && strstr(err, "Nowhere/Land"), "%s", err);
}

/* A cut or damaged zone file is refused or read, never read past its end (the ASan build
 * runs this too). */
Test(timezone, damaged_files_are_refused_not_overrun)
{
    FILE *f = fopen("/usr/share/zoneinfo/Europe/Berlin", "rb");
    cr_assert_not_null(f);
    unsigned char good[8192];
    size_t n = fread(good, 1, sizeof good, f);
    fclose(f);
    char dir[] = "/tmp/sp-tz-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/Cut", dir);
    setenv("TZDIR", dir, 1);
    int refused = 0;
    uint64_t x = 88172645463325252ull;
    for (size_t len = 0; len <= n; len++) {
        unsigned char buf[8192];
        memcpy(buf, good, n);
        if (len % 3 == 1) { /* and flip a byte */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[x % n] ^= (unsigned char)(1 + x % 255);
        }
        f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(buf, 1, len, f);
        fclose(f);
        sp_tz *z = sp_tz_load("Cut", err, sizeof err);
        if (z)
            (void)sp_tz_day_start(z, 1795342500);
        else
            refused++;
        sp_tz_free(z);
    }
    unsetenv("TZDIR");
    remove(path);
    rmdir(dir);
    cr_expect_gt(refused, 0);
}
