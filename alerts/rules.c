/*
 * rules.c - see rules.h. Parsing is one pass over the JSON with jansson: each rule's
 * fields are read and checked in turn, every problem appended to a report, so
 * `supportpulse rules check` shows them all at once.
 */
#include "supportpulse/rules.h"
#include "supportpulse/metrics.h"
#include "supportpulse/numfmt.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/bytes.h"
#include "supportpulse/dims.h"
#include "supportpulse/metrics.h"

/* ---- what can be read ---- */

typedef struct {
    const char *name, *volume;   /* volume: the default volume field, or NULL */
} field_info;

/* The live hash ({p}:live:{dims}, docs/metrics.md and docs/alerting.md). */
static const field_info live_fields[] = {
    {"in_queue", NULL}, {"oldest_wait_s", "in_queue"}, {"backlog", NULL},
    {"agents_available", NULL}, {"agents_staffed", NULL},
    {"service_level_15m", "offered_15m"}, {"asa_ms_avg_15m", "offered_15m"},
    {"abandon_rate_15m", "offered_15m"}, {"csat_15m", "csat_responses_15m"},
    {"offered_15m", NULL}, {"csat_responses_15m", NULL},
    {"service_level_today", "offered_today"}, {"asa_ms_avg_today", "offered_today"},
    {"abandon_rate_today", "offered_today"}, {"csat_today", "csat_responses_today"},
    {"offered_today", NULL}, {"csat_responses_today", NULL},
    {"dissatisfied_1h", "csat_responses_1h"}, {"csat_responses_1h", NULL},
    {"fc_volume", NULL}, {"fc_hi95", NULL}, {"fc_agents_required", NULL},
    {"surge", NULL}, {"surge_ratio", NULL}, {"surge_since", NULL},
};

/* Ratios of a rollup hash and the count they are taken over. */
static const field_info rollup_ratios[] = {
    {"csat", "csat_responses"}, {"csat_avg", "csat_responses"},
    {"dissatisfied", "csat_responses"}, {"nps", "nps_responses"},
    {"reopen_rate", "solved"}, {"handoff_rate", "created"},
    {"service_level", "offered"}, {"abandon_rate", "offered"},
    {"asa_ms_avg", "wait_ms_count"},
};

static const char *const res_names[5] = {"1m", "5m", "15m", "1h", "1d"};

const char *sp_rule_res_name(int res) { return res >= 0 && res < 5 ? res_names[res] : "live"; }

const char *sp_rule_op_name(sp_rule_op op)
{
    static const char *const n[] = {">", ">=", "<", "<="};
    return n[op];
}

const char *sp_severity_name(sp_severity s)
{
    static const char *const n[] = {"info", "warning", "critical"};
    return n[s];
}

static const field_info *find_field(const field_info *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return &t[i];
    return NULL;
}

/* A rollup field: a counter, a ratio, <duration>_avg, <duration>_p50/_p90/_p99.
 * Returns 1 and the default volume field into vol ("" when none), or 0. */
static int rollup_field(const char *name, char vol[SP_FIELD_MAX + 1])
{
    vol[0] = '\0';
    if (sp_metric_parse(name) >= 0)
        return 1;
    const field_info *f = find_field(rollup_ratios, sizeof rollup_ratios / sizeof *rollup_ratios,
                                     name);
    if (f) {
        snprintf(vol, SP_FIELD_MAX + 1, "%s", f->volume);
        return 1;
    }
    const char *us = strrchr(name, '_');
    if (!us || (strcmp(us, "_avg") && strcmp(us, "_p50") && strcmp(us, "_p90") &&
                strcmp(us, "_p99")))
        return 0;
    char dur[SP_FIELD_MAX + 1];
    snprintf(dur, sizeof dur, "%.*s", (int)(us - name), name);
    if (sp_duration_parse(dur) < 0)
        return 0;
    int n = snprintf(vol, SP_FIELD_MAX + 1, "%s_count", dur);
    return n > 0 && n <= SP_FIELD_MAX; /* durations have short names */
}

/* Whether name is readable for the rule's source; the default volume into vol. */
static int known_field(int res, const char *name, char vol[SP_FIELD_MAX + 1])
{
    if (res >= 0)
        return rollup_field(name, vol);
    const field_info *f = find_field(live_fields, sizeof live_fields / sizeof *live_fields, name);
    snprintf(vol, SP_FIELD_MAX + 1, "%s", f && f->volume ? f->volume : "");
    return f != NULL;
}

/* ---- the report ---- */

typedef struct {
    char *buf;
    size_t size, len;
    int problems;
} report;

static void problem(report *rep, const char *rule, const char *field, const char *fmt, ...)
{
    rep->problems++;
    if (!rep->buf || rep->size == 0 || rep->len + 1 >= rep->size)
        return;
    int n = snprintf(rep->buf + rep->len, rep->size - rep->len, "%s%s%s%s: ",
                     rep->len ? "\n" : "", rule ? rule : "", rule && field ? ": " : "",
                     field ? field : "");
    if (n < 0 || (size_t)n >= rep->size - rep->len) {
        rep->len = rep->size - 1;
        return;
    }
    rep->len += (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(rep->buf + rep->len, rep->size - rep->len, fmt, ap);
    va_end(ap);
    rep->len = n < 0 || (size_t)n >= rep->size - rep->len ? rep->size - 1 : rep->len + (size_t)n;
}

/* ---- fields of a rule ---- */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SP_RULE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

/* "90", 90, "30s", "5m", "2h", "1d" -> milliseconds; -1 when not a duration. */
static int64_t parse_duration(json_t *v)
{
    double s;
    if (json_is_integer(v))
        s = (double)json_integer_value(v);
    else if (json_is_real(v))
        s = json_real_value(v);
    else if (json_is_string(v)) {
        const char *t = json_string_value(v);
        char *end;
        s = strtod(t, &end);
        if (end == t)
            return -1;
        if (*end == 'm')
            s *= 60, end++;
        else if (*end == 'h')
            s *= 3600, end++;
        else if (*end == 'd')
            s *= 86400, end++;
        else if (*end == 's')
            end++;
        if (*end)
            return -1;
    } else
        return -1;
    if (!(s >= 0 && s <= 7 * 86400.0))
        return -1;
    return (int64_t)llround(s * 1000);
}

/* metric: "field" or "field OP field" with OP one of + - * / (spaces around it). */
static void parse_metric(report *rep, sp_rule *r, const char *text)
{
    char a[SP_FIELD_MAX + 2] = "", op[4] = "", b[SP_FIELD_MAX + 2] = "", rest[2] = "";
    int n = sscanf(text, "%65s %3s %65s %1s", a, op, b, rest);
    int ok = (n == 1 || (n == 3 && strlen(op) == 1 && strchr("+-*/", op[0]))) &&
             strlen(a) <= SP_FIELD_MAX && strlen(b) <= SP_FIELD_MAX;
    if (!ok) {
        problem(rep, r->name, "metric", "'%s' is not a field name or 'field OP field' (OP + - * /)",
                text);
        return;
    }
    snprintf(r->metric, sizeof r->metric, "%.*s", SP_FIELD_MAX, a); /* lengths checked */
    snprintf(r->metric2, sizeof r->metric2, "%.*s", SP_FIELD_MAX, n == 3 ? b : "");
    r->arith = n == 3 ? op[0] : 0;
    char vol[SP_FIELD_MAX + 1];
    const char *src = r->res < 0 ? "a live field" : "a rollup field";
    if (!known_field(r->res, r->metric, vol))
        problem(rep, r->name, "metric", "'%s' is not %s (docs/alerting.md lists them)", r->metric,
                src);
    else if (!r->volume[0] && !r->metric2[0])
        snprintf(r->volume, sizeof r->volume, "%s", vol);
    if (r->metric2[0] && !known_field(r->res, r->metric2, vol))
        problem(rep, r->name, "metric", "'%s' is not %s", r->metric2, src);
}

static void parse_dims(report *rep, sp_rule *r, json_t *v)
{
    static const char *const names[SP_DIM__COUNT] = {"tenant", "queue", "channel", "agent"};
    if (!v)
        return;
    if (!json_is_object(v)) {
        problem(rep, r->name, "dims", "must be an object such as {\"queue\": \"*\"}");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        int d = -1;
        for (int i = 0; i < SP_DIM__COUNT; i++)
            if (strcmp(key, names[i]) == 0)
                d = i;
        char field[80];
        snprintf(field, sizeof field, "dims.%s", key);
        if (d < 0) {
            problem(rep, r->name, field, "unknown dimension (tenant, queue, channel or agent)");
            continue;
        }
        const char *s = json_string_value(val);
        if (!s || !*s || strlen(s) > 64) {
            problem(rep, r->name, field, "must be a value of 1..64 bytes, or \"*\" for every value");
            continue;
        }
        if (!(r->dim[d] = strdup(s)))
            problem(rep, r->name, field, "out of memory");
    }
    if (r->dim[SP_DIM_AGENT] && r->res < 0)
        problem(rep, r->name, "dims.agent",
                "agents have rollups but no live hash: give \"window\" (e.g. \"1h\")");
}

static void parse_op(report *rep, sp_rule *r, json_t *v)
{
    static const char *const ops[] = {">", ">=", "<", "<="};
    const char *s = json_string_value(v);
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, ops[i]) == 0) {
            r->op = (sp_rule_op)i;
            return;
        }
    problem(rep, r->name, "op", "must be one of \">\", \">=\", \"<\", \"<=\"");
}

static int number(json_t *v, double *out)
{
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return isfinite(*out);
}

static void parse_thresholds(report *rep, sp_rule *r, json_t *t, json_t *rs)
{
    if (!number(t, &r->threshold))
        problem(rep, r->name, "threshold", t ? "must be a number" : "is required");
    r->resolve = r->threshold;
    if (!rs)
        return;
    if (!number(rs, &r->resolve)) {
        problem(rep, r->name, "resolve", "must be a number");
        return;
    }
    int above = r->op == SP_OP_GT || r->op == SP_OP_GE;
    if (above ? r->resolve > r->threshold : r->resolve < r->threshold)
        problem(rep, r->name, "resolve",
                "%g is on the firing side of threshold %g: with \"%s\" it must be %s it", r->resolve,
                r->threshold, sp_rule_op_name(r->op), above ? "at most" : "at least");
}

static void parse_volume(report *rep, sp_rule *r, json_t *mv, json_t *vf)
{
    if (vf) {
        const char *s = json_string_value(vf);
        char dummy[SP_FIELD_MAX + 1];
        if (!s || strlen(s) > SP_FIELD_MAX || !known_field(r->res, s, dummy))
            problem(rep, r->name, "volume_metric", "must name a %s field",
                    r->res < 0 ? "live" : "rollup");
        else
            snprintf(r->volume, sizeof r->volume, "%s", s);
    }
    if (!mv)
        return;
    if (!number(mv, &r->min_volume) || r->min_volume < 0)
        problem(rep, r->name, "min_volume", "must be a number >= 0");
    else if (r->min_volume > 0 && !r->volume[0] && !vf)
        problem(rep, r->name, "min_volume",
                "metric '%s' has no volume of its own: name one with \"volume_metric\"", r->metric);
}

static void parse_severity(report *rep, sp_rule *r, json_t *v)
{
    const char *s = v ? json_string_value(v) : "warning";
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, sp_severity_name((sp_severity)i)) == 0) {
            r->severity = (sp_severity)i;
            return;
        }
    problem(rep, r->name, "severity", "must be \"info\", \"warning\" or \"critical\"");
}

static const char *const placeholders[] = {
    "rule", "severity", "state", "metric", "value", "value_pct", "threshold", "threshold_pct",
    "resolve", "volume", "dims", "tenant", "queue", "channel", "agent", "for"};
#define NPLACEHOLDERS (sizeof placeholders / sizeof *placeholders)

static int placeholder(const char *s, size_t n)
{
    for (size_t i = 0; i < NPLACEHOLDERS; i++)
        if (strlen(placeholders[i]) == n && strncmp(placeholders[i], s, n) == 0)
            return (int)i;
    return -1;
}

static void parse_message(report *rep, sp_rule *r, json_t *v)
{
    const char *s = v ? json_string_value(v) : "{rule} {state}: {metric} = {value} on {dims}";
    if (!s) {
        problem(rep, r->name, "message", "must be a string");
        return;
    }
    /* "{word}" must be a known placeholder (a typo is caught here, not at 3 a.m.);
     * any other brace is text */
    for (const char *p = strchr(s, '{'); p; p = strchr(p + 1, '{')) {
        size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz_");
        if (n && p[1 + n] == '}' && placeholder(p + 1, n) < 0) {
            problem(rep, r->name, "message", "unknown placeholder '%.*s' (see docs/alerting.md)",
                    (int)n + 2, p);
            return;
        }
    }
    if (!(r->message = strdup(s)))
        problem(rep, r->name, "message", "out of memory");
}

static const char *const rule_keys[] = {
    "name", "description", "metric", "window", "dims", "op", "threshold", "resolve",
    "min_volume", "volume_metric", "for", "resolve_for", "severity", "message"};

static void parse_window(report *rep, sp_rule *r, json_t *v)
{
    r->res = -1;
    if (!v)
        return;
    const char *s = json_string_value(v);
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, res_names[i]) == 0) {
            r->res = i;
            return;
        }
    problem(rep, r->name, "window", "must be one of \"1m\", \"5m\", \"15m\", \"1h\", \"1d\"");
}

static void parse_rule(report *rep, sp_rule *r, json_t *o, size_t idx)
{
    json_t *name = json_object_get(o, "name");
    const char *nm = json_string_value(name);
    if (nm && valid_name(nm))
        snprintf(r->name, sizeof r->name, "%s", nm);
    else {
        snprintf(r->name, sizeof r->name, "rules[%zu]", idx);
        problem(rep, r->name, "name", name ? "must be 1..64 of A-Z a-z 0-9 _ - ." : "is required");
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        size_t k = 0;
        while (k < sizeof rule_keys / sizeof *rule_keys && strcmp(rule_keys[k], key))
            k++;
        if (k == sizeof rule_keys / sizeof *rule_keys)
            problem(rep, r->name, key, "unknown field");
    }
    parse_window(rep, r, json_object_get(o, "window"));
    json_t *m = json_object_get(o, "metric");
    if (!json_is_string(m))
        problem(rep, r->name, "metric", m ? "must be a string" : "is required");
    else
        parse_metric(rep, r, json_string_value(m));
    parse_dims(rep, r, json_object_get(o, "dims"));
    json_t *op = json_object_get(o, "op");
    if (!op)
        problem(rep, r->name, "op", "is required");
    else
        parse_op(rep, r, op);
    parse_thresholds(rep, r, json_object_get(o, "threshold"), json_object_get(o, "resolve"));
    parse_volume(rep, r, json_object_get(o, "min_volume"), json_object_get(o, "volume_metric"));
    json_t *f = json_object_get(o, "for"), *rf = json_object_get(o, "resolve_for");
    if (f && (r->for_ms = parse_duration(f)) < 0)
        problem(rep, r->name, "for", "must be seconds or a duration like \"90s\", \"5m\", \"1h\" (up to 7d)");
    if (rf && (r->resolve_for_ms = parse_duration(rf)) < 0)
        problem(rep, r->name, "resolve_for", "must be seconds or a duration like \"5m\" (up to 7d)");
    parse_severity(rep, r, json_object_get(o, "severity"));
    parse_message(rep, r, json_object_get(o, "message"));
    json_t *d = json_object_get(o, "description");
    if (d && !json_is_string(d))
        problem(rep, r->name, "description", "must be a string");
    else if (d && !(r->description = strdup(json_string_value(d))))
        problem(rep, r->name, "description", "out of memory");
}

static void parse_rules(report *rep, json_t *root, sp_rules *out)
{
    json_t *arr = json_is_object(root) ? json_object_get(root, "rules") : NULL;
    if (!json_is_array(arr)) {
        problem(rep, NULL, "rules", "the file must be an object with a \"rules\" array");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
        if (strcmp(key, "rules") != 0)
            problem(rep, NULL, key, "unknown top-level field (only \"rules\")");
    size_t n = json_array_size(arr);
    if (n && !(out->rules = calloc(n, sizeof *out->rules))) {
        problem(rep, NULL, "rules", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        sp_rule *r = &out->rules[out->n++];
        if (!json_is_object(o)) {
            snprintf(r->name, sizeof r->name, "rules[%zu]", i);
            problem(rep, r->name, NULL, "must be an object");
            continue;
        }
        parse_rule(rep, r, o, i);
        for (size_t j = 0; j + 1 < out->n; j++)
            if (strcmp(out->rules[j].name, r->name) == 0)
                problem(rep, r->name, "name", "used by another rule too (names must be unique)");
    }
}

int sp_rules_parse(const char *json, size_t len, sp_rules *out, char *errstr, size_t errstr_size)
{
    report rep = {errstr, errstr_size, 0, 0};
    if (errstr && errstr_size)
        errstr[0] = '\0';
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        problem(&rep, NULL, NULL, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return -1;
    }
    parse_rules(&rep, root, out);
    json_decref(root);
    if (rep.problems) {
        sp_rules_free(out);
        return -1;
    }
    return 0;
}

int sp_rules_load(const char *path, sp_rules *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    sp_buf buf = {0};
    int got = sp_buf_read_file(&buf, path, SIZE_MAX / 2);
    if (got < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path,
                 got == -1 ? "cannot open" : buf.failed ? "out of memory" : "read error");
        sp_buf_free(&buf);
        return -1;
    }
    size_t off = (size_t)snprintf(errstr, errstr_size, "%s: ", path);
    off = off < errstr_size ? off : (errstr_size ? errstr_size - 1 : 0);
    int rc = sp_rules_parse(buf.p ? (const char *)buf.p : "", buf.n, out, errstr + off,
                            errstr_size - off);
    sp_buf_free(&buf);
    if (rc == 0 && errstr_size)
        errstr[0] = '\0';
    return rc;
}

void sp_rules_free(sp_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        for (int d = 0; d < SP_DIM__COUNT; d++)
            free(r->rules[i].dim[d]);
        free(r->rules[i].message);
        free(r->rules[i].description);
    }
    free(r->rules);
    r->rules = NULL;
    r->n = 0;
}

/* ---- evaluation helpers ---- */

void sp_rule_metric_text(const sp_rule *r, char *out, size_t size)
{
    if (r->arith)
        snprintf(out, size, "%s %c %s", r->metric, r->arith, r->metric2);
    else
        snprintf(out, size, "%s", r->metric);
}

int sp_rule_breaches(const sp_rule *r, double v, double t)
{
    switch (r->op) {
    case SP_OP_GT: return v > t;
    case SP_OP_GE: return v >= t;
    case SP_OP_LT: return v < t;
    default: return v <= t;
    }
}

int sp_rule_matches(const sp_rule *r, const char *dims)
{
    char v[SP_DIM__COUNT][SP_DIMS_MAX];
    if (sp_dims_parse(dims, v[0], v[1], v[2], v[3], SP_DIMS_MAX) < 0)
        return 0;
    for (int d = 0; d < SP_DIM__COUNT; d++) {
        const char *want = r->dim[d];
        if (!want ? v[d][0] != '\0' : strcmp(want, "*") == 0 ? v[d][0] == '\0'
                                                             : strcmp(want, v[d]) != 0)
            return 0;
    }
    return 1;
}

int sp_rule_exact_dims(const sp_rule *r, char *out, size_t size)
{
    for (int d = 0; d < SP_DIM__COUNT; d++)
        if (r->dim[d] && strcmp(r->dim[d], "*") == 0)
            return -1;
    return sp_dims_format(r->dim[0], r->dim[1], r->dim[2], r->dim[3], out, size) < 0 ? -1 : 0;
}

/* A number of a message: a percentage with one decimal; a measured value with the
 * decimals of the field it comes from (unknown: sp_fmt_auto); a number of the rule
 * (field NULL) as it was written. Never an exponent. */
static void fmt_number(double v, int pct, const char *field, char *out, size_t size)
{
    char t[SP_NUMFMT_MAX];
    int d = field && *field ? sp_field_decimals(field) : -1;
    if (pct)
        snprintf(out, size, "%.1f%%", v * 100);
    else if (!field)
        snprintf(out, size, "%s", (sp_fmt_plain(v, t), t));
    else
        snprintf(out, size, "%s", (d >= 0 ? sp_fmt_fixed(v, d, t) : sp_fmt_auto(v, t), t));
}

void sp_rule_format_value(const sp_rule *r, double v, char *out, size_t size)
{
    fmt_number(v, 0, r->arith ? "" : r->metric, out, size);
}

static void fmt_duration(int64_t ms, char *out, size_t size)
{
    int64_t s = ms / 1000;
    if (s % 3600 == 0 && s)
        snprintf(out, size, "%lldh", (long long)(s / 3600));
    else if (s % 60 == 0 && s)
        snprintf(out, size, "%lldm", (long long)(s / 60));
    else
        snprintf(out, size, "%llds", (long long)s);
}

/* The text of placeholder i. */
static void render_one(const sp_rule *r, const sp_rule_vars *v, int i, char dv[4][SP_DIMS_MAX],
                       char *out, size_t size)
{
    const char *name = placeholders[i];
    out[0] = '\0';
    if (!strcmp(name, "rule")) snprintf(out, size, "%s", r->name);
    else if (!strcmp(name, "severity")) snprintf(out, size, "%s", sp_severity_name(r->severity));
    else if (!strcmp(name, "state")) snprintf(out, size, "%s", v->state ? v->state : "");
    else if (!strcmp(name, "metric")) sp_rule_metric_text(r, out, size);
    else if (!strcmp(name, "value")) sp_rule_format_value(r, v->value, out, size);
    else if (!strcmp(name, "value_pct")) fmt_number(v->value, 1, NULL, out, size);
    else if (!strcmp(name, "threshold")) fmt_number(r->threshold, 0, NULL, out, size);
    else if (!strcmp(name, "threshold_pct")) fmt_number(r->threshold, 1, NULL, out, size);
    else if (!strcmp(name, "resolve")) fmt_number(r->resolve, 0, NULL, out, size);
    else if (!strcmp(name, "volume")) {
        if (v->has_volume)
            fmt_number(v->volume, 0, "", out, size);
    } else if (!strcmp(name, "dims")) snprintf(out, size, "%s", v->dims ? v->dims : "");
    else if (!strcmp(name, "for")) fmt_duration(r->for_ms, out, size);
    else {
        int d = !strcmp(name, "tenant") ? 0 : !strcmp(name, "queue") ? 1
                : !strcmp(name, "channel") ? 2 : 3;
        const char *t = dv[d][0] ? dv[d] : (d == 0 ? "default" : "all");
        size_t n = strlen(t) < size ? strlen(t) : size - 1;
        memcpy(out, t, n);
        out[n] = '\0';
    }
}

void sp_rule_render(const sp_rule *r, const sp_rule_vars *v, char *out, size_t size)
{
    char dv[4][SP_DIMS_MAX] = {"", "", "", ""};
    if (v->dims)
        sp_dims_parse(v->dims, dv[0], dv[1], dv[2], dv[3], SP_DIMS_MAX);
    size_t len = 0;
    if (!size)
        return;
    out[0] = '\0';
    const char *t = r->message ? r->message : "";
    while (*t && len + 1 < size) {
        const char *e = *t == '{' ? strchr(t, '}') : NULL;
        int i = e ? placeholder(t + 1, (size_t)(e - t - 1)) : -1;
        if (i < 0) {
            out[len++] = *t++;
            continue;
        }
        char piece[SP_DIMS_MAX + 64];
        render_one(r, v, i, dv, piece, sizeof piece);
        size_t n = strlen(piece);
        if (n > size - 1 - len)
            n = size - 1 - len;
        memcpy(out + len, piece, n);
        len += n;
        t = e + 1;
    }
    out[len] = '\0';
}
