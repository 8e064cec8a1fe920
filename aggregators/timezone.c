/*
 * timezone.c - see timezone.h. A zone is a table of offsets from transition instants:
 * the TZif file's 64-bit transitions, then those its POSIX TZ footer gives, generated
 * year by year through 2100. A day starts at the first instant whose local time reaches
 * its midnight, searched segment by segment around it, so a day that a change of
 * offset makes 23 or 25 hours long, or that starts at 01:00, comes out right.
 */
#include "supportpulse/timezone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/bytes.h"
#include "supportpulse/hashmap.h"

#define DAY_S 86400
#define LAST_YEAR 2100
#define SEARCH_S (27 * 3600) /* a local midnight is within this of its UTC instant */

/* ---- calendar -------------------------------------------------------------------------- */

int64_t sp_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2; /* Howard Hinnant's algorithm */
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int sp_is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int sp_days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && sp_is_leap(y) ? 29 : dm[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* ---- the zone table ---------------------------------------------------------------------- */

typedef struct {
    int64_t at;  /* a transition instant */
    int32_t off; /* the offset from it on */
} tz_seg;

struct sp_tz {
    char name[64];
    tz_seg *seg;   /* transitions, ascending */
    size_t n, cap;
    int32_t off0;  /* before the first transition */
};

static int tz_push(sp_tz *z, int64_t at, int32_t off)
{
    if (z->n && at <= z->seg[z->n - 1].at)
        return 0; /* the footer repeats what the table already has */
    if (z->n == z->cap) {
        size_t ncap = z->cap ? z->cap * 2 : 64;
        tz_seg *ns = realloc(z->seg, ncap * sizeof *ns);
        if (!ns)
            return -1;
        z->seg = ns;
        z->cap = ncap;
    }
    z->seg[z->n++] = (tz_seg){at, off};
    return 0;
}

/* The segment holding s: the index of the last transition at or before it, -1 before all. */
static long segment_of(const sp_tz *z, int64_t s)
{
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->seg[mid].at <= s)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

static int32_t seg_off(const sp_tz *z, long i) { return i < 0 ? z->off0 : z->seg[i].off; }
static int64_t seg_end(const sp_tz *z, long i) { return (size_t)(i + 1) < z->n ? z->seg[i + 1].at : INT64_MAX; }

int32_t sp_tz_offset(const sp_tz *z, int64_t s) { return seg_off(z, segment_of(z, s)); }
const char *sp_tz_name(const sp_tz *z) { return z->name; }

/* The first instant whose local time is at or past local midnight lm (local seconds). */
static int64_t start_of_local(const sp_tz *z, int64_t lm)
{
    int64_t lo = lm - SEARCH_S, hi = lm + SEARCH_S;
    for (long i = segment_of(z, lo); i < (long)z->n; i++) {
        int64_t a = i < 0 ? lo : z->seg[i].at > lo ? z->seg[i].at : lo;
        if (a > hi)
            break;
        int64_t cand = lm - seg_off(z, i) > a ? lm - seg_off(z, i) : a;
        if (cand < seg_end(z, i))
            return cand;
    }
    return lm - seg_off(z, segment_of(z, lm)); /* not reached with real offsets */
}

static int64_t local_day(const sp_tz *z, int64_t s)
{
    return floor_div(s + sp_tz_offset(z, s), DAY_S);
}

int64_t sp_tz_day_start(const sp_tz *z, int64_t s)
{
    int64_t d = local_day(z, s);
    int64_t next = start_of_local(z, (d + 1) * DAY_S); /* after a fall-back over midnight */
    return next <= s ? next : start_of_local(z, d * DAY_S);
}

int64_t sp_tz_date_start(const sp_tz *z, int64_t days)
{
    return z ? start_of_local(z, days * DAY_S) : days * DAY_S;
}

int64_t sp_tz_day_end(const sp_tz *z, int64_t s)
{
    int64_t start = sp_tz_day_start(z, s);
    int64_t d = local_day(z, start);
    return start_of_local(z, (d + 1) * DAY_S);
}

int sp_tz_days_align(const sp_tz *z, int64_t width_s)
{
    int64_t from = sp_days_from_civil(2000, 1, 1), to = sp_days_from_civil(LAST_YEAR, 12, 31);
    for (int64_t d = from; d <= to; d++)
        if (start_of_local(z, d * DAY_S) % width_s != 0)
            return 0;
    return 1;
}

void sp_tz_free(sp_tz *z)
{
    if (!z)
        return;
    free(z->seg);
    free(z);
}

/* ---- the POSIX TZ rule at the end of a TZif file ("CET-1CEST,M3.5.0,M10.5.0/3") ------ */

typedef struct {
    char kind;     /* 'M', 'J' (1..365, no Feb 29) or 'D' (0..365) */
    int m, w, d;   /* M: month, week 1..5 (5 = last), weekday 0 = Sunday; J/D: day in d */
    int32_t time;  /* seconds after local midnight, may be negative or past 24 h */
} tz_rule;

typedef struct {
    int32_t std, dst; /* seconds east of UTC */
    int has_dst;
    tz_rule start, end;
} tz_posix;

static const char *skip_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e ? e + 1 : NULL;
    }
    const char *b = s;
    while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
        s++;
    return s - b >= 3 ? s : NULL;
}

/* [+-]hh[:mm[:ss]] into seconds; hours up to 167 (RFC 8536's extension). */
static const char *parse_hms(const char *s, int32_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int32_t v[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) {
        if (k && *s != ':')
            break;
        if (k)
            s++;
        if (*s < '0' || *s > '9')
            return NULL;
        int n = 0;
        while (*s >= '0' && *s <= '9' && n < 1000)
            n = n * 10 + (*s++ - '0');
        v[k] = n;
    }
    if (v[0] > 167 || v[1] > 59 || v[2] > 59)
        return NULL;
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return s;
}

static const char *parse_int(const char *s, int *out, int lo, int hi)
{
    if (*s < '0' || *s > '9')
        return NULL;
    int n = 0;
    while (*s >= '0' && *s <= '9' && n <= hi)
        n = n * 10 + (*s++ - '0');
    if (n < lo || n > hi)
        return NULL;
    *out = n;
    return s;
}

static const char *parse_rule(const char *s, tz_rule *r)
{
    memset(r, 0, sizeof *r);
    if (*s == 'M') {
        r->kind = 'M';
        if (!(s = parse_int(s + 1, &r->m, 1, 12)) || *s != '.' ||
            !(s = parse_int(s + 1, &r->w, 1, 5)) || *s != '.' ||
            !(s = parse_int(s + 1, &r->d, 0, 6)))
            return NULL;
    } else if (*s == 'J') {
        r->kind = 'J';
        if (!(s = parse_int(s + 1, &r->d, 1, 365)))
            return NULL;
    } else {
        r->kind = 'D';
        if (!(s = parse_int(s, &r->d, 0, 365)))
            return NULL;
    }
    r->time = 7200;
    if (*s == '/' && !(s = parse_hms(s + 1, &r->time)))
        return NULL;
    return s;
}

static int parse_posix(const char *s, tz_posix *p)
{
    memset(p, 0, sizeof *p);
    int32_t v;
    if (!(s = skip_name(s)) || !(s = parse_hms(s, &v)))
        return -1;
    p->std = -v; /* POSIX offsets count west */
    if (!*s)
        return 0;
    if (!(s = skip_name(s)))
        return -1;
    p->has_dst = 1;
    p->dst = p->std + 3600;
    if (*s && *s != ',') {
        if (!(s = parse_hms(s, &v)))
            return -1;
        p->dst = -v;
    }
    if (!*s) { /* no rule given: POSIX leaves it to the implementation; glibc's US rule */
        p->start = (tz_rule){'M', 3, 2, 0, 7200};
        p->end = (tz_rule){'M', 11, 1, 0, 7200};
        return 0;
    }
    if (*s != ',' || !(s = parse_rule(s + 1, &p->start)) || *s != ',' ||
        !(s = parse_rule(s + 1, &p->end)) || *s)
        return -1;
    return 0;
}

/* The local instant (seconds) a rule names in year y. */
static int64_t rule_local(const tz_rule *r, int64_t y)
{
    int64_t day;
    if (r->kind == 'J')
        day = sp_days_from_civil(y, 1, 1) + r->d - 1 + (sp_is_leap(y) && r->d >= 60);
    else if (r->kind == 'D')
        day = sp_days_from_civil(y, 1, 1) + r->d;
    else {
        int64_t first = sp_days_from_civil(y, r->m, 1);
        int wd = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int mday = 1 + (r->d - wd + 7) % 7 + (r->w - 1) * 7;
        while (mday > sp_days_in_month(y, r->m))
            mday -= 7;
        day = first + mday - 1;
    }
    return day * DAY_S + r->time;
}

/* Appends the footer's transitions from year `from` through LAST_YEAR. */
static int extend(sp_tz *z, const tz_posix *p, int64_t from)
{
    if (!p->has_dst)
        return z->n && z->seg[z->n - 1].off != p->std ? tz_push(z, z->seg[z->n - 1].at + 1, p->std) : 0;
    for (int64_t y = from; y <= LAST_YEAR; y++) {
        int64_t on = rule_local(&p->start, y) - p->std, off = rule_local(&p->end, y) - p->dst;
        int64_t first = on < off ? on : off, second = on < off ? off : on;
        if (tz_push(z, first, first == on ? p->dst : p->std) < 0 ||
            tz_push(z, second, second == on ? p->dst : p->std) < 0)
            return -1;
    }
    return 0;
}

/* ---- TZif (RFC 8536) ----------------------------------------------------------------------- */

static int64_t be(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

typedef struct {
    int64_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_counts;

static int read_header(const unsigned char *b, size_t len, tzif_counts *c, int *version)
{
    if (len < 44 || memcmp(b, "TZif", 4) != 0)
        return -1;
    *version = b[4] ? b[4] - '0' : 1;
    int64_t *f[6] = {&c->isutcnt, &c->isstdcnt, &c->leapcnt, &c->timecnt, &c->typecnt, &c->charcnt};
    for (int i = 0; i < 6; i++)
        *f[i] = be(b + 20 + 4 * i, 4);
    return c->typecnt < 1 || c->typecnt > 256 || c->timecnt < 0 || c->timecnt > 100000 ? -1 : 0;
}

static size_t block_size(const tzif_counts *c, int tsize)
{
    return (size_t)(c->timecnt * tsize + c->timecnt + c->typecnt * 6 + c->charcnt +
                    c->leapcnt * (tsize + 4) + c->isstdcnt + c->isutcnt);
}

static int parse_tzif(sp_tz *z, const unsigned char *b, size_t len)
{
    tzif_counts c;
    int version, tsize = 4;
    if (read_header(b, len, &c, &version) < 0)
        return -1;
    size_t at = 44;
    if (version >= 2) { /* skip the 32-bit block: the 64-bit one follows */
        at += block_size(&c, 4);
        if (at + 44 > len || read_header(b + at, len - at, &c, &version) < 0)
            return -1;
        at += 44;
        tsize = 8;
    }
    size_t need = block_size(&c, tsize);
    if (at + need > len)
        return -1;
    const unsigned char *times = b + at, *idx = times + c.timecnt * tsize,
                        *types = idx + c.timecnt;
    for (int64_t i = 0; i < c.typecnt; i++)
        if (types[i * 6 + 5] >= c.charcnt && c.charcnt)
            return -1;
    z->off0 = (int32_t)be(types, 4);
    for (int64_t i = 0; i < c.timecnt; i++) {
        if (idx[i] >= c.typecnt)
            return -1;
        if (tz_push(z, be(times + i * tsize, tsize), (int32_t)be(types + idx[i] * 6, 4)) < 0)
            return -1;
    }
    at += need;
    if (version < 2 || at >= len || b[at] != '\n')
        return 0;
    const unsigned char *end = memchr(b + at + 1, '\n', len - at - 1);
    if (!end)
        return -1;
    char footer[128];
    size_t fl = (size_t)(end - (b + at + 1));
    if (fl == 0)
        return 0;
    if (fl >= sizeof footer)
        return -1;
    memcpy(footer, b + at + 1, fl);
    footer[fl] = '\0';
    tz_posix p;
    if (parse_posix(footer, &p) < 0)
        return -1;
    if (!z->n)
        z->off0 = p.std;
    int64_t from = z->n ? 1970 + floor_div(z->seg[z->n - 1].at, 31556952) : 1970;
    return extend(z, &p, from < 1970 ? 1970 : from);
}

/* A zone name is a relative path of plain components: no "..", no leading '/'. */
static int good_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= 64 || name[0] == '/' || name[0] == '.' || strstr(name, "..") ||
        strstr(name, "//") || name[n - 1] == '/')
        return 0;
    for (const char *s = name; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("/_+-", *s)))
            return 0;
    return 1;
}

sp_tz *sp_tz_load(const char *name, char *errstr, size_t errstr_size)
{
    sp_tz *z = calloc(1, sizeof *z);
    if (!z) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (!name[0] || strcmp(name, "UTC") == 0) {
        snprintf(z->name, sizeof z->name, "UTC");
        return z;
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    if (!good_name(name)) {
        snprintf(errstr, errstr_size, "'%.64s' is not a time zone name (an IANA name such as "
                                      "Asia/Shanghai)", name);
        sp_tz_free(z);
        return NULL;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    sp_buf b = {0};
    if (sp_buf_read_file(&b, path, 1u << 20) < 0) {
        if (b.failed)
            snprintf(errstr, errstr_size, "out of memory");
        else
            snprintf(errstr, errstr_size, "unknown time zone '%s' (no %s; is tzdata installed?)",
                     name, path);
        sp_buf_free(&b);
        sp_tz_free(z);
        return NULL;
    }
    int rc = parse_tzif(z, b.p, b.n);
    sp_buf_free(&b);
    if (rc < 0) {
        snprintf(errstr, errstr_size, "time zone '%s': %s is not a TZif file this reads", name,
                 path);
        sp_tz_free(z);
        return NULL;
    }
    return z;
}

/* ---- zones of a desk ----------------------------------------------------------------------- */

struct sp_zones {
    sp_tz *def;
    sp_tz **tz;      /* distinct zones of tenants */
    size_t ntz;
    sp_strmap *tenant; /* tenant -> index in tz */
};

void sp_zones_free(sp_zones *z)
{
    if (!z)
        return;
    sp_tz_free(z->def);
    for (size_t i = 0; i < z->ntz; i++)
        sp_tz_free(z->tz[i]);
    free(z->tz);
    sp_strmap_destroy(z->tenant);
    free(z);
}

/* The index of zone `name` in z->tz, loading it on first use; -1 with errstr. */
static long zone_index(sp_zones *z, const char *name, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < z->ntz; i++)
        if (strcmp(z->tz[i]->name, name) == 0)
            return (long)i;
    sp_tz **nt = realloc(z->tz, (z->ntz + 1) * sizeof *nt);
    if (!nt) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    z->tz = nt;
    if (!(z->tz[z->ntz] = sp_tz_load(name, errstr, errstr_size)))
        return -1;
    return (long)z->ntz++;
}

static int add_tenant(sp_zones *z, const char *item, size_t len, char *errstr,
                      size_t errstr_size)
{
    const char *eq = memchr(item, '=', len);
    char zone[128], why[200];
    size_t zl = eq ? len - (size_t)(eq - item) - 1 : 0;
    if (!eq || eq == item || zl == 0 || zl >= sizeof zone) {
        snprintf(errstr, errstr_size, "tenant_time_zones: '%.*s' must be tenant=Zone", (int)len,
                 item);
        return -1;
    }
    memcpy(zone, eq + 1, zl);
    zone[zl] = '\0';
    long i = zone_index(z, zone, why, sizeof why);
    if (i < 0) {
        snprintf(errstr, errstr_size, "tenant_time_zones: %s", why);
        return -1;
    }
    if (sp_strmap_put(z->tenant, item, (size_t)(eq - item), (uint32_t)i) < 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

sp_zones *sp_zones_new(const char *time_zone, const char *tenant_zones, char *errstr,
                       size_t errstr_size)
{
    sp_zones *z = calloc(1, sizeof *z);
    char why[200];
    if (!z || !(z->tenant = sp_strmap_new(16))) {
        snprintf(errstr, errstr_size, "out of memory");
        sp_zones_free(z);
        return NULL;
    }
    if (!(z->def = sp_tz_load(time_zone ? time_zone : "", why, sizeof why))) {
        snprintf(errstr, errstr_size, "time_zone: %s", why);
        sp_zones_free(z);
        return NULL;
    }
    for (const char *s = tenant_zones ? tenant_zones : ""; *s;) {
        const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s);
        if (add_tenant(z, s, (size_t)(end - s), errstr, errstr_size) < 0) {
            sp_zones_free(z);
            return NULL;
        }
        s = comma ? comma + 1 : end;
    }
    return z;
}

static sp_tz utc_zone = {"UTC", NULL, 0, 0, 0};

const sp_tz *sp_zones_for_dims(const sp_zones *z, const char *dims)
{
    if (!z)
        return &utc_zone;
    uint32_t i;
    if (z->ntz && strncmp(dims, "tenant=", 7) == 0) {
        const char *t = dims + 7, *bar = strchr(t, '|');
        size_t len = bar ? (size_t)(bar - t) : strlen(t);
        if (sp_strmap_get(z->tenant, t, len, &i))
            return z->tz[i];
    }
    return z->def;
}

int64_t sp_zones_window_start(const sp_zones *z, const char *dims, int64_t s, int r)
{
    if (r != SP_NRES - 1)
        return sp_res_start(s, r);
    return sp_tz_day_start(sp_zones_for_dims(z, dims), s);
}

int64_t sp_zones_window_end(const sp_zones *z, const char *dims, int64_t start, int r)
{
    if (r != SP_NRES - 1)
        return start + sp_res_seconds[r];
    return sp_tz_day_end(sp_zones_for_dims(z, dims), start);
}

static int check_zone(const sp_tz *tz, const sp_res_by_class *rc, char *errstr,
                      size_t errstr_size)
{
    for (int c = 0; c < SP_DC__COUNT; c++) {
        int base = sp_res_base(rc, (sp_dims_class)c);
        if (!(rc->mask[c] & (1u << (SP_NRES - 1))) || sp_tz_days_align(tz, sp_res_seconds[base]))
            continue;
        snprintf(errstr, errstr_size,
                 "resolutions_by_dims: the %s class is kept in %s windows, which do not "
                 "divide the days of time zone %s (local midnight is not on a %s boundary); "
                 "give the class a finer resolution (15m fits every zone in use)",
                 sp_dims_class_name((sp_dims_class)c), sp_res_names[base], tz->name,
                 sp_res_names[base]);
        return -1;
    }
    return 0;
}

int sp_zones_check_res(const sp_zones *z, const sp_res_by_class *rc, char *errstr,
                       size_t errstr_size)
{
    if (check_zone(z->def, rc, errstr, errstr_size) < 0)
        return -1;
    for (size_t i = 0; i < z->ntz; i++)
        if (check_zone(z->tz[i], rc, errstr, errstr_size) < 0)
            return -1;
    return 0;
}
