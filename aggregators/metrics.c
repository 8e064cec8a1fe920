/*
 * metrics.c - see metrics.h: the names of the counters and durations, the ratios
 * derived from them, the rollup resolutions and the classes of dimension sets. Every
 * other place (rollup hashes, live hashes, restore, docs/metrics.md) takes them from here.
 */
#include "supportpulse/metrics.h"

#include <stdio.h>
#include <string.h>

static const char *const metric_names[SP_M__COUNT] = {
    "events", "offered", "answered", "abandoned", "transferred", "created", "solved",
    "reopened", "closed", "escalated_bot", "csat_responses", "csat_positive",
    "csat_score_sum", "nps_responses", "nps_promoters", "nps_detractors",
    "short_abandoned", "answered_in_sl", "one_touch", "csat_negative", "csat_repeat",
    "surveys_unknown_case",
    "wait_ms_sum", "wait_ms_count", "abandon_wait_ms_sum", "abandon_wait_ms_count",
    "handle_ms_sum", "handle_ms_count", "first_reply_ms_sum", "first_reply_ms_count",
    "resolution_ms_sum", "resolution_ms_count", "orphaned",
};

static const char *const duration_names[SP_D__COUNT] = {
    "wait_ms", "abandon_wait_ms", "handle_ms", "first_reply_ms", "resolution_ms",
};

static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

const char *sp_duration_name(sp_duration d)
{
    return (unsigned)d < SP_D__COUNT ? duration_names[d] : "?";
}

int sp_duration_parse(const char *name) { return name_index(duration_names, SP_D__COUNT, name); }

const char *sp_metric_name(sp_metric m)
{
    return (unsigned)m < SP_M__COUNT ? metric_names[m] : "?";
}

int sp_metric_core(sp_metric m, int agent)
{
    switch (m) {
    case SP_M_EVENTS: case SP_M_ANSWERED: case SP_M_SOLVED: case SP_M_CSAT_RESPONSES:
    case SP_M_NPS_RESPONSES:
        return 1;
    case SP_M_OFFERED: case SP_M_ABANDONED: case SP_M_TRANSFERRED: case SP_M_CREATED:
        return !agent;
    default:
        return 0;
    }
}

int sp_metric_parse(const char *name) { return name_index(metric_names, SP_M__COUNT, name); }

/* ---- ratios ----------------------------------------------------------------------------- */

#define T(m) {SP_M_##m, 1}
#define NEG(m) {SP_M_##m, -1}
/* shares (0..1) to 4 decimals (0.01 of a percent), means of milliseconds to whole ms */
#define AVG(name, d) {name, {T(d##_SUM)}, {T(d##_COUNT)}, 1, 1, 1, 0}

const sp_ratio sp_ratios[] = {
    {"csat", {T(CSAT_POSITIVE)}, {T(CSAT_RESPONSES)}, 1, 1, 1, 4},
    {"csat_avg", {T(CSAT_SCORE_SUM)}, {T(CSAT_RESPONSES)}, 1, 1, 1, 2},
    {"dissatisfied", {T(CSAT_NEGATIVE)}, {T(CSAT_RESPONSES)}, 1, 1, 1, 4},
    {"nps", {T(NPS_PROMOTERS), NEG(NPS_DETRACTORS)}, {T(NPS_RESPONSES)}, 2, 1, 100, 1},
    {"reopen_rate", {T(REOPENED)}, {T(SOLVED)}, 1, 1, 1, 4},
    {"handoff_rate", {T(ESCALATED_BOT)}, {T(CREATED)}, 1, 1, 1, 4},
    /* answers and abandons whose wait is known, less the short abandons (docs/metrics.md) */
    {"service_level", {T(ANSWERED_IN_SL)},
     {T(WAIT_COUNT), T(ABANDON_WAIT_COUNT), NEG(SHORT_ABANDONED)}, 1, 3, 1, 4},
    {"abandon_rate", {T(ABANDONED), NEG(SHORT_ABANDONED)}, {T(OFFERED), NEG(SHORT_ABANDONED)},
     2, 2, 1, 4},
    AVG("asa_ms_avg", WAIT),
    AVG("wait_ms_avg", WAIT),
    AVG("abandon_wait_ms_avg", ABANDON_WAIT),
    AVG("handle_ms_avg", HANDLE),
    AVG("first_reply_ms_avg", FIRST_REPLY),
    AVG("resolution_ms_avg", RESOLUTION),
};
const int sp_nratios = sizeof sp_ratios / sizeof sp_ratios[0];

static double term_sum(const sp_term *t, int n, const int64_t *v)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += t[i].sign * (double)v[t[i].m];
    return s;
}

int sp_ratio_value(const sp_ratio *r, const int64_t *v, double *out)
{
    double den = term_sum(r->den, r->nden, v);
    if (den <= 0)
        return -1;
    *out = r->scale * term_sum(r->num, r->nnum, v) / den;
    return 0;
}

int sp_field_decimals(const char *field)
{
    static const char *const suffixes[] = {"_15m", "_today", "_1h"};
    char base[64];
    snprintf(base, sizeof base, "%s", field);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t n = strlen(base), k = strlen(suffixes[i]);
        if (n > k && strcmp(base + n - k, suffixes[i]) == 0)
            base[n - k] = '\0';
    }
    if (strcmp(base, "csat_smoothed") == 0)
        snprintf(base, sizeof base, "csat");
    const sp_ratio *r = sp_ratio_find(base);
    if (r)
        return r->decimals;
    return sp_metric_parse(base) >= 0 || strstr(base, "_ms") || strstr(base, "_s") ||
                   strncmp(base, "in_queue", 8) == 0 || strncmp(base, "agents_", 7) == 0
               ? 0
               : -1;
}

const sp_ratio *sp_ratio_find(const char *name)
{
    for (int i = 0; i < sp_nratios; i++)
        if (strcmp(sp_ratios[i].name, name) == 0)
            return &sp_ratios[i];
    return NULL;
}

/* ---- resolutions and classes -------------------------------------------------------------- */

const char *const sp_res_names[SP_NRES] = {"1m", "5m", "15m", "1h", "1d"};
const int64_t sp_res_seconds[SP_NRES] = {60, 300, 900, 3600, 86400};

int sp_res_parse(const char *name, size_t len)
{
    for (int r = 0; r < SP_NRES; r++)
        if (strlen(sp_res_names[r]) == len && memcmp(sp_res_names[r], name, len) == 0)
            return r;
    return -1;
}

static const char *const class_names[SP_DC__COUNT] = {"all", "queue", "channel",
                                                      "queue,channel", "agent"};

const char *sp_dims_class_name(sp_dims_class c)
{
    return (unsigned)c < SP_DC__COUNT ? class_names[c] : "?";
}

sp_dims_class sp_dims_class_of(const char *dims)
{
    /* keys are "k=v" pairs joined by '|'; values are escaped, so a name is found only
     * at the start or after a '|' */
    int queue = strncmp(dims, "queue=", 6) == 0 || strstr(dims, "|queue=") != NULL;
    int channel = strncmp(dims, "channel=", 8) == 0 || strstr(dims, "|channel=") != NULL;
    if (strncmp(dims, "agent=", 6) == 0 || strstr(dims, "|agent=") != NULL)
        return SP_DC_AGENT;
    if (queue && channel)
        return SP_DC_QUEUE_CHANNEL;
    return queue ? SP_DC_QUEUE : channel ? SP_DC_CHANNEL : SP_DC_ALL;
}

/* One "class=res,res" item over out. */
static int parse_item(const char *item, size_t len, sp_res_by_class *out, char *errstr,
                      size_t errstr_size)
{
    const char *eq = memchr(item, '=', len);
    int c = -1;
    for (int k = 0; eq && k < SP_DC__COUNT; k++)
        if (strlen(class_names[k]) == (size_t)(eq - item) &&
            memcmp(class_names[k], item, (size_t)(eq - item)) == 0)
            c = k;
    if (c < 0) {
        snprintf(errstr, errstr_size, "'%.*s': must be CLASS=RES,... with CLASS one of all, "
                 "queue, channel, queue,channel, agent", (int)len, item);
        return -1;
    }
    uint8_t mask = 0;
    for (const char *s = eq + 1, *end = item + len; s < end;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        int r = sp_res_parse(s, (size_t)(stop - s));
        if (r < 0 || (mask & (1u << r))) {
            snprintf(errstr, errstr_size, "'%.*s': '%.*s' is %s (resolutions: 1m, 5m, 15m, "
                     "1h, 1d, each once)", (int)len, item, (int)(stop - s), s,
                     r < 0 ? "not a resolution" : "repeated");
            return -1;
        }
        mask |= (uint8_t)(1u << r);
        s = comma ? comma + 1 : end;
    }
    if (!mask) {
        snprintf(errstr, errstr_size, "'%.*s': %s needs at least one resolution", (int)len,
                 item, class_names[c]);
        return -1;
    }
    out->mask[c] = mask;
    return 0;
}

/* Items are separated by ';'; the class "queue,channel" holds a comma itself. */
static int parse_list(const char *spec, sp_res_by_class *out, char *errstr, size_t errstr_size)
{
    for (const char *s = spec; *s;) {
        const char *semi = strchr(s, ';');
        size_t len = semi ? (size_t)(semi - s) : strlen(s);
        if (len && parse_item(s, len, out, errstr, errstr_size) < 0)
            return -1;
        s += len + (semi ? 1 : 0);
    }
    return 0;
}

int sp_res_by_class_parse(const char *spec, sp_res_by_class *out, char *errstr,
                          size_t errstr_size)
{
    sp_res_by_class rc = {{0}};
    if (parse_list(SP_RES_BY_DIMS_DEFAULT, &rc, errstr, errstr_size) < 0 ||
        parse_list(spec ? spec : "", &rc, errstr, errstr_size) < 0)
        return -1;
    const uint8_t live = (1u << 0) | (1u << 4); /* 1m and 1d */
    for (int c = 0; c < SP_DC_AGENT; c++)
        if ((rc.mask[c] & live) != live) {
            snprintf(errstr, errstr_size, "%s: needs 1m and 1d (the live hashes read the last "
                     "15 minutes and the day from them)", class_names[c]);
            return -1;
        }
    *out = rc;
    return 0;
}

int sp_res_base(const sp_res_by_class *rc, sp_dims_class c)
{
    for (int r = 0; r < SP_NRES; r++)
        if (rc->mask[c] & (1u << r))
            return r;
    return 0;
}
