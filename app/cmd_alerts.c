/*
 * cmd_alerts.c - `supportpulse rules check FILE` (validate a rules file, every problem
 * named by rule and field) and `supportpulse alerts` (what is firing now, from
 * {p}:alerts:active, plus the recent transitions of {p}:alerts on request).
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "supportpulse/numfmt.h"
#include "supportpulse/event.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_keys.h"
#include "supportpulse/rules.h"

int sp_cmd_rules(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "check") != 0 || argc != 2) {
        FILE *out = argc >= 1 && strcmp(argv[0], "--help") == 0 ? stdout : stderr;
        fprintf(out, "usage: supportpulse rules check FILE\n\n"
                     "Checks an alert rules file (docs/alerting.md): prints each problem as\n"
                     "'rule: field: what is wrong' and exits 1, or lists the rules and exits 0.\n");
        return out == stdout ? 0 : 2;
    }
    sp_rules rules;
    static char err[16384];
    if (sp_rules_load(argv[1], &rules, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (size_t i = 0; i < rules.n; i++) {
        const sp_rule *r = &rules.rules[i];
        char metric[2 * SP_FIELD_MAX + 8];
        sp_rule_metric_text(r, metric, sizeof metric);
        char th[SP_NUMFMT_MAX], rs[SP_NUMFMT_MAX];
        sp_fmt_plain(r->threshold, th);
        sp_fmt_plain(r->resolve, rs);
        printf("%-28s %-8s %s %s %s (resolve %s), %s%s, for %llds\n", r->name,
               sp_severity_name(r->severity), metric, sp_rule_op_name(r->op), th, rs, r->res < 0 ? "live" : "last complete ",
               r->res < 0 ? "" : sp_rule_res_name(r->res), (long long)(r->for_ms / 1000));
    }
    printf("%s: %zu rule(s), no problems\n", argv[1], rules.n);
    sp_rules_free(&rules);
    return 0;
}

static void alerts_usage(FILE *out)
{
    fprintf(out, "usage: supportpulse alerts [options]\n\n"
                 "Lists the alerts firing now ({p}:alerts:active) and the hooks' counters.\n"
                 SP_CLI_REDIS_USAGE
                 "  --history N      also print the last N transitions of {p}:alerts\n"
                 "  --json           one JSON object per line instead of a table\n");
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void print_alert(const char *text, int as_json)
{
    if (as_json) {
        printf("%s\n", text);
        return;
    }
    json_t *o = json_loads(text, 0, NULL);
    if (!o)
        return;
    char when[32], evaluated[32] = "", value[SP_NUMFMT_MAX], now[SP_NUMFMT_MAX] = "-",
                                       threshold[SP_NUMFMT_MAX];
    sp_ts_format((int64_t)json_integer_value(json_object_get(o, "fired_at")), when, sizeof when);
    if (json_object_get(o, "evaluated_at"))
        sp_ts_format((int64_t)json_integer_value(json_object_get(o, "evaluated_at")), evaluated,
                     sizeof evaluated);
    sp_fmt_plain(json_number_value(json_object_get(o, "value")), value);
    if (json_object_get(o, "value_now"))
        sp_fmt_plain(json_number_value(json_object_get(o, "value_now")), now);
    sp_fmt_plain(json_number_value(json_object_get(o, "threshold")), threshold);
    printf("%-8s %-26s %-34s now %s (at %s), %s at firing %s %s, since %s  %s\n",
           str(o, "severity"), str(o, "rule"), str(o, "dims"), now, evaluated, value,
           str(o, "op"), threshold, when, str(o, "message"));
    json_decref(o);
}

static int list_active(sp_redis *rc, const char *prefix, int as_json)
{
    char key[SP_KEY_MAX], why[512];
    sp_key_alerts(key, sizeof key, prefix, 'a');
    redisReply *r = sp_redis_cmd(rc, why, sizeof why, "HVALS %s", key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "supportpulse alerts: %s\n",
                !r ? why : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    if (!as_json)
        printf("%zu alert(s) firing\n", r->elements);
    for (size_t i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            print_alert(r->element[i]->str, as_json);
    freeReplyObject(r);
    return 0;
}

static void list_history(sp_redis *rc, const char *prefix, long long n, int as_json)
{
    char key[SP_KEY_MAX], why[512];
    sp_key_alerts(key, sizeof key, prefix, 's');
    redisReply *r = sp_redis_cmd(rc, why, sizeof why, "XREVRANGE %s + - COUNT %lld", key, n);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return;
    }
    if (!as_json)
        printf("last %zu transition(s), newest first\n", r->elements);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i], *f = e->element[1];
        json_t *o = json_object();
        for (size_t k = 0; k + 1 < f->elements; k += 2)
            json_object_set_new(o, f->element[k]->str, json_string(f->element[k + 1]->str));
        char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (text && as_json)
            printf("%s\n", text);
        else if (text)
            printf("  %-9s %-26s %-34s value %s threshold %s at %s\n", str(o, "state"),
                   str(o, "rule"), str(o, "dims"), str(o, "value"), str(o, "threshold"),
                   str(o, "at"));
        free(text);
        json_decref(o);
    }
    freeReplyObject(r);
}

static void print_hooks(sp_redis *rc, const char *prefix)
{
    char key[SP_KEY_MAX], why[512];
    sp_key_alerts(key, sizeof key, prefix, 'h');
    redisReply *r = sp_redis_cmd(rc, why, sizeof why, "HGETALL %s", key);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements) {
        printf("hooks:");
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            printf(" %s=%s", r->element[i]->str, r->element[i + 1]->str);
        printf("\n");
    }
    freeReplyObject(r);
}

int sp_cmd_alerts(int argc, char **argv)
{
    sp_cli_redis c;
    sp_cli_redis_defaults(&c);
    long long history = 0;
    int as_json = 0;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            alerts_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (sp_cli_redis_flag(&c, argc, argv, &i)) {
            continue;
        } else if ((v = sp_flag(argc, argv, &i, "--history"))) {
            if (sp_flag_int("--history", v, 0, 100000, &history) < 0)
                return 2;
        } else {
            fprintf(stderr, "supportpulse alerts: unknown option '%s'\n", argv[i]);
            alerts_usage(stderr);
            return 2;
        }
    }
    int status;
    sp_redis *rc = sp_cli_redis_open(&c, "alerts", 10000, &status);
    if (!rc)
        return status;
    int rc2 = list_active(rc, c.prefix, as_json);
    if (rc2 == 0 && history)
        list_history(rc, c.prefix, history, as_json);
    if (rc2 == 0 && !as_json)
        print_hooks(rc, c.prefix);
    sp_redis_destroy(rc);
    return rc2 < 0 ? 1 : 0;
}
