/*
 * rules.h - alert rules: the JSON rules file (docs/alerting.md) parsed and checked into
 * plain structs that the evaluator (alert_eval.h) and the state machine (alert_state.h)
 * read.
 *
 * A rule names a metric (a live-hash field, or a rollup field of the last complete
 * window of a resolution, optionally combined with a second field by + - * /), a
 * dimension filter (each of tenant, queue, channel, agent: absent, one value, or "*"
 * for every value), a comparison with a threshold and a resolve threshold (hysteresis),
 * a minimum volume, a `for` duration, a severity and a message template.
 *
 * Checking reports every problem, one line each, naming the rule and the field.
 * Ownership: sp_rules owns every string of its rules; sp_rules_free releases them.
 */
#ifndef SUPPORTPULSE_RULES_H
#define SUPPORTPULSE_RULES_H

#include <stddef.h>
#include <stdint.h>

#define SP_RULE_NAME_MAX 64
#define SP_FIELD_MAX 64

typedef enum { SP_OP_GT, SP_OP_GE, SP_OP_LT, SP_OP_LE } sp_rule_op;
typedef enum { SP_SEV_INFO, SP_SEV_WARNING, SP_SEV_CRITICAL } sp_severity;
typedef enum { SP_DIM_TENANT, SP_DIM_QUEUE, SP_DIM_CHANNEL, SP_DIM_AGENT, SP_DIM__COUNT } sp_dim;

typedef struct {
    char name[SP_RULE_NAME_MAX + 1];
    char metric[SP_FIELD_MAX + 1];   /* the field read */
    char metric2[SP_FIELD_MAX + 1];  /* second operand, "" when none */
    char arith;                      /* '+', '-', '*', '/' with metric2, else 0 */
    int res;                         /* rollup resolution index (0 = 1m .. 4 = 1d), -1 = live */
    char *dim[SP_DIM__COUNT];        /* NULL = not in the set, "*" = every value, else one */
    sp_rule_op op;
    double threshold, resolve;       /* resolve = threshold when not given */
    char volume[SP_FIELD_MAX + 1];   /* field holding the volume, "" when none */
    double min_volume;               /* 0 = no minimum */
    int64_t for_ms, resolve_for_ms;
    sp_severity severity;
    char *message;                   /* template, see sp_rule_render */
    char *description;               /* free text, may be NULL */
} sp_rule;

typedef struct {
    sp_rule *rules;
    size_t n;
} sp_rules;

/* Parses and checks a rules document. 0, or -1 with every problem in errstr (one per
 * line, truncated to errstr_size). On success *out owns the rules. */
int sp_rules_parse(const char *json, size_t len, sp_rules *out, char *errstr, size_t errstr_size);
/* Reads and parses a file. 0 or -1 with errstr (the file's name first). */
int sp_rules_load(const char *path, sp_rules *out, char *errstr, size_t errstr_size);
void sp_rules_free(sp_rules *r); /* NULL or an empty set is a no-op */

const char *sp_rule_op_name(sp_rule_op op);
const char *sp_severity_name(sp_severity s);
/* "1m", "5m", "15m", "1h", "1d"; res in 0..4. */
const char *sp_rule_res_name(int res);

/* The metric as written: "field" or "field OP field". */
void sp_rule_metric_text(const sp_rule *r, char *out, size_t size);
/* A value of the rule's metric as messages, the stream and the CLI show it: with the
 * field's decimals (sp_field_decimals), plain decimals for arithmetic; no exponent. */
void sp_rule_format_value(const sp_rule *r, double v, char *out, size_t size);

/* True when the condition holds for v against t (the threshold or the resolve value). */
int sp_rule_breaches(const sp_rule *r, double v, double t);

/* Whether dims (a {dims} key) is one the rule's filter selects. */
int sp_rule_matches(const sp_rule *r, const char *dims);
/* The single dims key of a rule without "*", into out. 0, or -1 when it has one or the
 * key does not fit. */
int sp_rule_exact_dims(const sp_rule *r, char *out, size_t size);

typedef struct {
    const char *dims, *state;       /* state: "firing" or "resolved" */
    double value, volume;
    int has_volume;
} sp_rule_vars;

/* Renders the message template into out (always NUL-terminated, truncated to size).
 * Placeholders: {rule} {severity} {state} {metric} {value} {value_pct} {threshold}
 * {threshold_pct} {resolve} {volume} {dims} {tenant} {queue} {channel} {agent} {for}. */
void sp_rule_render(const sp_rule *r, const sp_rule_vars *v, char *out, size_t size);

#endif
