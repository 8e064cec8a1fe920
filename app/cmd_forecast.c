/*
 * cmd_forecast.c - `supportpulse forecast` (prints the latest {p}:fc:{dims} for a
 * planner: table, CSV or JSON) and `supportpulse staffing` (the Erlang C what-if
 * calculator). Both only read: the pipeline writes the forecasts.
 */
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "supportpulse/dims.h"
#include "supportpulse/erlang.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_keys.h"

/* ---- forecast ------------------------------------------------------------------- */

static void forecast_usage(FILE *out)
{
    fprintf(out,
            "usage: supportpulse forecast --queue Q --channel C [options]\n\n"
            "Prints the latest peak-load forecast the pipeline wrote for a queue and channel\n"
            "({p}:fc:{dims}): arrivals per 15-minute interval for the next 24 hours with 80%%\n"
            "and 95%% intervals, handle time, agents required and occupancy, and the peak.\n"
            "  --queue Q        queue (required)\n"
            "  --channel C      channel (required)\n"
            "  --tenant T       tenant (default: the default tenant)\n"
            "  --format F       table | csv | json (default table); csv opens in a spreadsheet\n"
            SP_CLI_REDIS_USAGE);
}

static void utc(double epoch_s, char *out, size_t size, const char *fmt)
{
    time_t t = (time_t)epoch_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, fmt, &tm);
}

/* A number field as text: "" when absent or null. */
static void cell(json_t *o, const char *k, char *out, size_t size, const char *fmt)
{
    json_t *v = json_object_get(o, k);
    if (json_is_number(v))
        snprintf(out, size, fmt, json_number_value(v));
    else if (json_is_string(v))
        snprintf(out, size, "%s", json_string_value(v));
    else
        out[0] = '\0';
}

static const char *const columns[] = {"volume", "lo80", "hi80", "lo95", "hi95", "handle_s",
                                      "agents_required", "occupancy", "service_level", "asa_s",
                                      "workload_h", "event"};
#define NCOL (sizeof columns / sizeof columns[0])

static void print_csv(json_t *fc)
{
    printf("interval_start_utc,start_epoch_s");
    for (size_t c = 0; c < NCOL; c++)
        printf(",%s", columns[c]);
    printf("\n");
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(fc, "intervals"), i, o) {
        char when[32], v[96];
        double start = json_number_value(json_object_get(o, "start"));
        utc(start, when, sizeof when, "%Y-%m-%d %H:%M:%S");
        printf("%s,%.0f", when, start);
        for (size_t c = 0; c < NCOL; c++) {
            cell(o, columns[c], v, sizeof v, "%.6g");
            if (strpbrk(v, ",\"\n")) { /* a declared event's name, quoted for CSV */
                printf(",\"");
                for (const char *p = v; *p; p++)
                    printf(*p == '"' ? "\"\"" : "%c", *p);
                printf("\"");
            } else {
                printf(",%s", v);
            }
        }
        printf("\n");
    }
}

static void print_table(json_t *fc)
{
    json_t *peak = json_object_get(fc, "peak");
    double peak_start = json_number_value(json_object_get(peak, "start"));
    char when[32], gen[32];
    utc(json_number_value(json_object_get(fc, "generated_at")) / 1000.0, gen, sizeof gen,
        "%Y-%m-%d %H:%M:%S UTC");
    printf("forecast for %s (model %s, %s staffing), generated %s\n",
           json_string_value(json_object_get(fc, "dims")),
           json_string_value(json_object_get(fc, "model")),
           json_string_value(json_object_get(fc, "staffing")), gen);
    int rt = json_object_get(fc, "sl_target") != NULL;
    if (rt)
        printf("handle time %.0f s; target %.0f%% answered within %.0f s\n",
               json_number_value(json_object_get(fc, "handle_s")),
               100 * json_number_value(json_object_get(fc, "sl_target")),
               json_number_value(json_object_get(fc, "sl_within_s")));
    else
        printf("work per contact %.0f s; agents = workload / interval\n",
               json_number_value(json_object_get(fc, "handle_s")));
    printf("\n%-17s %8s %8s %8s %8s %8s %7s %6s %s\n", "interval (UTC)", "volume", "lo80",
           "hi80", "lo95", "hi95", "agents", "occ", rt ? "  SL    ASA s" : "  work h");
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(fc, "intervals"), i, o) {
        double start = json_number_value(json_object_get(o, "start"));
        char v[NCOL][32];
        for (size_t c = 0; c < NCOL; c++)
            cell(o, columns[c], v[c], sizeof v[c], "%.1f");
        cell(o, "agents_required", v[6], sizeof v[6], "%.0f");
        cell(o, "occupancy", v[7], sizeof v[7], "%.2f");
        cell(o, "service_level", v[8], sizeof v[8], "%.3f");
        utc(start, when, sizeof when, "%Y-%m-%d %H:%M");
        char tail[64];
        if (rt)
            snprintf(tail, sizeof tail, "%s %s", v[8], v[9][0] ? v[9] : "-");
        else
            snprintf(tail, sizeof tail, "%s", v[10]);
        printf("%-17s %8s %8s %8s %8s %8s %7s %6s %s%s\n", when, v[0], v[1], v[2], v[3], v[4],
               v[6][0] ? v[6] : "-", v[7], tail, start == peak_start ? "  <- peak" : "");
        if (v[11][0])
            printf("%18s(event: %s)\n", "", v[11]);
    }
    utc(peak_start, when, sizeof when, "%Y-%m-%d %H:%M UTC");
    printf("\npeak: %s, %.1f contacts", when, json_number_value(json_object_get(peak, "volume")));
    json_t *pa = json_object_get(peak, "agents_required");
    if (json_is_integer(pa))
        printf(", %lld agents", (long long)json_integer_value(pa));
    printf("\n");
}

int sp_cmd_forecast(int argc, char **argv)
{
    const char *queue = NULL, *channel = NULL, *tenant = NULL, *format = "table", *v;
    sp_cli_redis c;
    sp_cli_redis_defaults(&c);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            forecast_usage(stdout);
            return 0;
        }
        if ((v = sp_flag(argc, argv, &i, "--queue")))
            queue = v;
        else if ((v = sp_flag(argc, argv, &i, "--channel")))
            channel = v;
        else if ((v = sp_flag(argc, argv, &i, "--tenant")))
            tenant = v;
        else if ((v = sp_flag(argc, argv, &i, "--format")))
            format = v;
        else if (!sp_cli_redis_flag(&c, argc, argv, &i)) {
            fprintf(stderr, "supportpulse forecast: unknown or incomplete option '%s'\n", argv[i]);
            forecast_usage(stderr);
            return 2;
        }
    }
    if (!queue || !channel || !*queue || !*channel) {
        fprintf(stderr, "supportpulse forecast: --queue and --channel are required\n");
        return 2;
    }
    if (strcmp(format, "table") && strcmp(format, "csv") && strcmp(format, "json")) {
        fprintf(stderr, "supportpulse forecast: --format: '%s' is not one of table|csv|json\n",
                format);
        return 2;
    }
    char dims[SP_DIMS_MAX], key[SP_KEY_MAX], why[512];
    if (sp_dims_format(tenant, queue, channel, NULL, dims, sizeof dims) < 0 ||
        sp_key_forecast(key, sizeof key, c.prefix, dims) < 0) {
        fprintf(stderr, "supportpulse forecast: --queue/--channel/--tenant/--prefix too long\n");
        return 2;
    }
    int status;
    sp_redis *rc = sp_cli_redis_open(&c, "forecast", 10000, &status);
    if (!rc)
        return status;
    redisReply *r = sp_redis_cmd(rc, why, sizeof why, "GET %s", key);
    json_t *fc = NULL;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "supportpulse forecast: redis %s: %s\n", c.redis, r ? r->str : why);
        status = 1;
    } else if (r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "supportpulse forecast: no forecast at %s yet (the pipeline writes one "
                "when a 15-minute interval of that queue and channel completes)\n", key);
        status = 1;
    } else if (strcmp(format, "json") == 0) {
        printf("%s\n", r->str);
    } else if (!(fc = json_loads(r->str, 0, NULL))) {
        fprintf(stderr, "supportpulse forecast: %s does not hold forecast JSON\n", key);
        status = 1;
    } else if (strcmp(format, "csv") == 0) {
        print_csv(fc);
    } else {
        print_table(fc);
    }
    json_decref(fc);
    if (r)
        freeReplyObject(r);
    sp_redis_destroy(rc);
    return status;
}

/* ---- staffing ------------------------------------------------------------------- */

static void staffing_usage(FILE *out)
{
    fprintf(out,
            "usage: supportpulse staffing --calls-per-interval N --aht S [options]\n\n"
            "Erlang C what-if: the agents needed for a service-level target, and what each\n"
            "number of agents around it achieves (service level, ASA, occupancy).\n"
            "  --calls-per-interval N  calls offered per interval (required)\n"
            "  --aht S                 mean handle time in seconds, talk + hold + wrap-up (required)\n"
            "  --target T              share answered within --within: 0.8 or 80 (default 0.8)\n"
            "  --within S              service-level threshold in seconds (default 20)\n"
            "  --interval S            interval length in seconds (default 900)\n"
            "  --max-agents N          give up above this many agents (default 100000)\n"
            "  --format F              table | csv | json (default table)\n");
}

typedef struct {
    double calls, aht, target, within, interval;
    long long max_agents;
    const char *format;
} staffing_opts;

static int parse_staffing(int argc, char **argv, staffing_opts *o)
{
    const char *v;
    int have_calls = 0, have_aht = 0;
    for (int i = 0; i < argc; i++) {
        int bad = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            staffing_usage(stdout);
            return 1;
        }
        if ((v = sp_flag(argc, argv, &i, "--calls-per-interval")))
            bad = sp_flag_double("--calls-per-interval", v, 0, 1e7, &o->calls), have_calls = 1;
        else if ((v = sp_flag(argc, argv, &i, "--aht")))
            bad = sp_flag_double("--aht", v, 0.001, 86400, &o->aht), have_aht = 1;
        else if ((v = sp_flag(argc, argv, &i, "--target")))
            bad = sp_flag_double("--target", v, 0.0001, 99.99, &o->target);
        else if ((v = sp_flag(argc, argv, &i, "--within")))
            bad = sp_flag_double("--within", v, 0, 86400, &o->within);
        else if ((v = sp_flag(argc, argv, &i, "--interval")))
            bad = sp_flag_double("--interval", v, 1, 86400, &o->interval);
        else if ((v = sp_flag(argc, argv, &i, "--max-agents")))
            bad = sp_flag_int("--max-agents", v, 1, 10000000, &o->max_agents);
        else if ((v = sp_flag(argc, argv, &i, "--format")))
            o->format = v;
        else {
            fprintf(stderr, "supportpulse staffing: unknown or incomplete option '%s'\n", argv[i]);
            return -1;
        }
        if (bad)
            return -1;
    }
    if (!have_calls || !have_aht) {
        fprintf(stderr, "supportpulse staffing: --calls-per-interval and --aht are required\n");
        return -1;
    }
    if (o->target >= 1) {
        if (o->target < 1.0001) {
            fprintf(stderr, "supportpulse staffing: --target: 1 (100%%) cannot be met; use "
                    "a share below 1 or a percent below 100\n");
            return -1;
        }
        o->target /= 100; /* given as a percent */
    }
    if (strcmp(o->format, "table") && strcmp(o->format, "csv") && strcmp(o->format, "json")) {
        fprintf(stderr, "supportpulse staffing: --format: '%s' is not one of table|csv|json\n",
                o->format);
        return -1;
    }
    return 0;
}

static void print_point(const staffing_opts *o, const sp_erlang_point *p, int required,
                        int *first)
{
    char asa[32];
    if (isfinite(p->asa_s))
        snprintf(asa, sizeof asa, "%.1f", p->asa_s);
    else
        snprintf(asa, sizeof asa, strcmp(o->format, "json") == 0 ? "null" : "unbounded");
    if (strcmp(o->format, "csv") == 0)
        printf("%d,%.4f,%s,%.4f,%.4f,%s\n", p->agents, p->service_level,
               isfinite(p->asa_s) ? asa : "", p->p_wait, p->occupancy,
               p->agents == required ? "required" : "");
    else if (strcmp(o->format, "json") == 0)
        printf("%s\n    {\"agents\": %d, \"service_level\": %.4f, \"asa_s\": %s, "
               "\"p_wait\": %.4f, \"occupancy\": %.4f}", *first ? "" : ",", p->agents,
               p->service_level, asa, p->p_wait, p->occupancy);
    else
        printf("%7d %8.1f%% %10s %8.1f%% %9.1f%%%s\n", p->agents, 100 * p->service_level, asa,
               100 * p->p_wait, 100 * p->occupancy, p->agents == required ? "  <- required" : "");
    *first = 0;
}

int sp_cmd_staffing(int argc, char **argv)
{
    staffing_opts o = {0, 0, 0.8, 20, 900, 100000, "table"};
    int pr = parse_staffing(argc, argv, &o);
    if (pr != 0) {
        if (pr < 0)
            staffing_usage(stderr);
        return pr < 0 ? 2 : 0;
    }
    char err[256];
    sp_erlang_point req, p;
    int n = sp_erlang_required(o.calls, o.aht, o.interval, o.target, o.within, (int)o.max_agents,
                               &req, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "supportpulse staffing: %s\n", err);
        return 1;
    }
    double load = o.calls * o.aht / o.interval;
    int lo = n - 3 > (int)floor(load) ? n - 3 : (int)floor(load), hi = n + 5, first = 1;
    if (lo < 0)
        lo = 0;
    if (strcmp(o.format, "json") == 0)
        printf("{\"calls_per_interval\": %.6g, \"aht_s\": %.6g, \"interval_s\": %.6g, "
               "\"target\": %.4g, \"within_s\": %.6g, \"load_erlangs\": %.6g, "
               "\"agents_required\": %d, \"rows\": [", o.calls, o.aht, o.interval, o.target,
               o.within, load, n);
    else if (strcmp(o.format, "csv") == 0)
        printf("agents,service_level,asa_s,p_wait,occupancy,note\n");
    else
        printf("%.6g calls per %.0f s, AHT %.6g s: %.2f Erlangs\n"
               "target %.1f%% answered within %.6g s: %d agents required\n\n"
               "%7s %9s %10s %9s %10s\n", o.calls, o.interval, o.aht, load, 100 * o.target,
               o.within, n, "agents", "SL", "ASA s", "P(wait)", "occupancy");
    for (int a = lo; a <= hi; a++) {
        if (sp_erlang_eval(o.calls, o.aht, o.interval, a, o.within, &p, err, sizeof err) < 0) {
            fprintf(stderr, "supportpulse staffing: %s\n", err);
            return 1;
        }
        print_point(&o, &p, n, &first);
    }
    if (strcmp(o.format, "json") == 0)
        printf("\n  ]}\n");
    return 0;
}
