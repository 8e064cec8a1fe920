/*
 * timestamp.c - event-time parsing for the decoder: RFC 3339 date-times with a UTC
 * offset ("2026-11-22T10:15:30.123+08:00", "...Z") to epoch milliseconds, and back.
 * Pure functions, no locale, no libc time-zone state (timegm is not C11 and mktime
 * reads TZ), so the result never depends on the machine's time zone.
 */
#include "supportpulse/event.h"
#include "supportpulse/timezone.h"

#include <stdio.h>

/* Reads exactly n digits at s[*i]; -1 if any is not a digit. */
static int digits(const char *s, size_t len, size_t *i, int n)
{
    int v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
    }
    return v;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

/* Fraction of a second: one or more digits, milliseconds kept, the rest truncated. */
static int fraction_ms(const char *s, size_t len, size_t *i)
{
    int ms = 0, n = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (n < 3)
            ms = ms * 10 + (s[*i] - '0');
        n++;
        (*i)++;
    }
    if (n == 0)
        return -1;
    for (; n < 3; n++)
        ms *= 10;
    return ms;
}

static int offset_minutes(const char *s, size_t len, size_t *i, int *out)
{
    if (*i >= len)
        return -1;
    char c = s[(*i)++];
    if (c == 'Z' || c == 'z') {
        *out = 0;
        return 0;
    }
    if (c != '+' && c != '-')
        return -1;
    int hh = digits(s, len, i, 2);
    if (hh < 0 || expect(s, len, i, ':') < 0)
        return -1;
    int mm = digits(s, len, i, 2);
    if (mm < 0 || hh > 23 || mm > 59)
        return -1;
    *out = (c == '-' ? -1 : 1) * (hh * 60 + mm);
    return 0;
}

int sp_ts_parse_rfc3339(const char *s, size_t len, int64_t *out_ms)
{
    size_t i = 0;
    int y = digits(s, len, &i, 4);
    if (y < 0 || expect(s, len, &i, '-') < 0)
        return -1;
    int mo = digits(s, len, &i, 2);
    if (mo < 1 || mo > 12 || expect(s, len, &i, '-') < 0)
        return -1;
    int d = digits(s, len, &i, 2);
    if (d < 1 || d > sp_days_in_month(y, mo) || i >= len)
        return -1;
    char sep = s[i++];
    if (sep != 'T' && sep != 't' && sep != ' ')
        return -1;
    int hh = digits(s, len, &i, 2);
    if (hh < 0 || hh > 23 || expect(s, len, &i, ':') < 0)
        return -1;
    int mi = digits(s, len, &i, 2);
    if (mi < 0 || mi > 59 || expect(s, len, &i, ':') < 0)
        return -1;
    int ss = digits(s, len, &i, 2);
    if (ss < 0 || ss > 60) /* 60: a leap second, counted into the next minute */
        return -1;
    int ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        if ((ms = fraction_ms(s, len, &i)) < 0)
            return -1;
    }
    int off = 0;
    if (offset_minutes(s, len, &i, &off) < 0 || i != len)
        return -1;
    int64_t secs = sp_days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - off * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}

void sp_ts_format(int64_t ms, char *buf, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int msec = (int)(ms - secs * 1000);
    int64_t z = (secs >= 0 ? secs : secs - 86399) / 86400;
    int64_t sod = secs - z * 86400;
    /* civil_from_days, the inverse of days_from_civil */
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    int64_t y = yoe + era * 400 + (m <= 2);
    snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), msec);
}
