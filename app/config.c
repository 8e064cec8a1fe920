/*
 * config.c - the option table and the four ways to set it (see config.h).
 */
#include "supportpulse/config.h"
#include "supportpulse/decode_pool.h"
#include "supportpulse/forecast.h"
#include "supportpulse/metrics.h"
#include "supportpulse/partition.h"
#include "supportpulse/redis_conn.h"
#include "supportpulse/redis_publisher.h"
#include "supportpulse/rules.h"
#include "supportpulse/timezone.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

typedef enum { OPT_STR, OPT_INT } opt_type;

typedef struct {
    const char *name;
    opt_type type;
    size_t offset;
    int64_t min, max;           /* OPT_INT range */
    const char *def;            /* default, as text */
    const char *choices;        /* OPT_STR: "a|b" when restricted, else NULL */
    const char *help;
} option;

#define S(f) OPT_STR, offsetof(sp_config, f), 0, 0
#define I(f, lo, hi) OPT_INT, offsetof(sp_config, f), lo, hi
#define DAY 86400LL

static const option options[] = {
    {"bootstrap", S(bootstrap), "", NULL, "Kafka bootstrap servers HOST:PORT[,...] (required)"},
    {"topic", S(topic), "support-events", NULL, "topic of support events to consume"},
    {"dlq_topic", S(dlq_topic), "support-events-dlq", NULL, "dead-letter topic for rejected events"},
    {"group", S(group), "supportpulse", NULL, "Kafka consumer group id"},
    {"offset_reset", S(offset_reset), "earliest", "earliest|latest",
     "where a group with no committed offset starts"},
    {"redis", S(redis), "127.0.0.1:6379", NULL, "Redis address HOST:PORT, rediss://HOST:PORT (TLS) or unix:/path"},
    {"redis_user", S(redis_user), "", NULL, "Redis ACL user (AUTH user password; empty = the default user); the password comes from $SUPPORTPULSE_REDIS_PASSWORD or redis_password_file, never a flag"},
    {"redis_password_file", S(redis_password_file), "", NULL, "a file whose first line is the Redis password (mode 0600)"},
    {"redis_tls", I(redis_tls, 0, 1), "0", NULL, "1: connect to Redis over TLS (also when redis is rediss://HOST:PORT)"},
    {"redis_tls_ca_file", S(redis_tls_ca_file), "", NULL, "CA certificates (PEM) that Redis's certificate must chain to (empty = the system's)"},
    {"redis_tls_cert_file", S(redis_tls_cert_file), "", NULL, "client certificate (PEM) for a Redis with tls-auth-clients"},
    {"redis_tls_key_file", S(redis_tls_key_file), "", NULL, "the client certificate's private key (PEM)"},
    {"redis_tls_server_name", S(redis_tls_server_name), "", NULL, "name Redis's certificate must carry, and SNI (empty = the host of each node's address)"},
    {"prefix", S(prefix), "sp", NULL, "Redis key prefix {p}"},
    {"log_level", S(log_level), "info", "error|warn|info|debug", "log verbosity"},
    {"lateness_s", I(lateness_s, 0, DAY), "120", NULL, "allowed lateness: watermark = newest event time - this"},
    {"retention_s", I(retention_s, 60, 7 * DAY), "3600", NULL, "a window takes late events until end + this"},
    {"dedup_horizon_s", I(dedup_horizon_s, 0, 7 * DAY), "3600", NULL, "repeated event ids within this are dropped"},
    {"dedup_capacity", I(dedup_capacity, 1000, 100000000), "200000", NULL, "event ids remembered per partition"},
    {"max_cases", I(max_cases, 1000, 100000000), "500000", NULL, "tickets and calls remembered per partition"},
    {"case_max_age_s", I(case_max_age_s, 60, 90 * DAY), "604800", NULL, "a case is forgotten this long after its last event"},
    {"max_queues", I(max_queues, 1, 1000000), "1000", NULL, "distinct queue values per partition; more count as '(other)'"},
    {"max_agents", I(max_agents, 1, 10000000), "20000", NULL, "distinct agents (tenant and agent id) per partition; more count as agent '(other)'"},
    {"max_tenants", I(max_tenants, 1, 100000), "1000", NULL, "distinct tenants per partition; more count as '(other)'"},
    {"max_combos", I(max_combos, 1, 10000000), "20000", NULL, "distinct tenant, queue and channel combinations per partition; more count as queue '(other)'"},
    {"max_future_s", I(max_future_s, 0, 365 * DAY), "86400", NULL, "reject events this far ahead of the clock (0 = never)"},
    {"decode_threads", I(decode_threads, 0, SP_DECODE_POOL_MAX_WORKERS), "2", NULL, "threads that decode and apply events, each owning whole partitions (0 = all on the pipeline thread)"},
    {"flush_ms", I(flush_ms, 10, 60000), "1000", NULL, "how often dirty windows are written to Redis"},
    {"max_dirty_cells", I(max_dirty_cells, 100, 10000000), "20000", NULL, "flush early when this many cells changed"},
    {"catchup_lag", I(catchup_lag, 1, INT64_MAX), "10000", NULL, "messages behind the end of the assigned partitions that count as catching up a backlog"},
    {"catchup_dirty_cells", I(catchup_dirty_cells, 100, 100000000), "100000", NULL, "catching up, flush when this many cells changed (each rollup is then written a few times for the whole backlog)"},
    {"catchup_flush_ms", I(catchup_flush_ms, 100, 600000), "10000", NULL, "catching up, flush at least this often"},
    {"redis_call_cells", I(redis_call_cells, 1, 10000), "200", NULL, "rollups written per Redis call: bounds how long one call holds Redis"},
    {"idle_s", I(idle_s, 1, DAY), "30", NULL, "a partition with no event for this long is idle (not in the watermark)"},
    {"redis_timeout_ms", I(redis_timeout_ms, 100, 600000), "5000", NULL, "Redis connect and command timeout"},
    {"max_backoff_ms", I(max_backoff_ms, 100, 600000), "30000", NULL, "longest wait between retries"},
    {"stats_s", I(stats_s, 0, DAY), "0", NULL, "print a summary line this often (0 = never)"},
    {"sl_threshold_s", I(sl_threshold_s, 0, DAY), "20", NULL, "answered within this is in the service level"},
    {"short_abandon_s", I(short_abandon_s, 0, DAY), "5", NULL, "abandoned sooner than this is a short abandon (left out of SL and abandon rate)"},
    {"sl_by_queue", S(sl_by_queue), "", NULL, "per-queue service-level thresholds: queue=seconds,..."},
    {"short_abandon_by_queue", S(short_abandon_by_queue), "", NULL, "per-queue short-abandon limits: queue=seconds,..."},
    {"max_wait_s", I(max_wait_s, SP_MAX_WAIT_MIN_S, SP_MAX_WAIT_MAX_S), "14400", NULL, "a call or chat still in queue this long after its first offer is orphaned: it leaves in_queue and oldest_wait_s and counts once as orphaned"},
    {"max_wait_by_queue", S(max_wait_by_queue), "", NULL, "per-queue max_wait_s: queue=seconds,..."},
    {"max_handle_s", I(max_handle_s, SP_MAX_WAIT_MIN_S, SP_MAX_WAIT_MAX_S), "14400", NULL, "an answered call or chat with no call.ended this long after the answer is orphaned (counted once as orphaned)"},
    {"max_handle_by_queue", S(max_handle_by_queue), "", NULL, "per-queue max_handle_s: queue=seconds,..."},
    {"case_grace_s", I(case_grace_s, 0, 90 * DAY), "86400", NULL, "an ended ticket or call keeps its full record this long (late events)"},
    {"max_attributions", I(max_attributions, 0, 100000000), "1000000", NULL, "closed cases whose queue, channel and agent are remembered per partition for surveys"},
    {"attribution_horizon_s", I(attribution_horizon_s, 3600, 90 * DAY), "604800", NULL, "a closed case's attribution is remembered this long after its last event"},
    {"forecast", I(forecast, 0, 1), "1", NULL, "write peak-load forecasts and staffing to {p}:fc:{dims} (0 = off)"},
    {"forecast_history_days", I(forecast_history_days, 2, 35), "28", NULL, "days of 15m rollups the forecast model is fitted on"},
    {"forecast_check_s", I(forecast_check_s, 1, 3600), "5", NULL, "how often the forecaster looks for completed 15-minute intervals"},
    {"forecast_events", S(forecast_events), "", NULL, "declared promotions and holidays: NAME,START,END,MULTIPLIER[,QUEUE[,CHANNEL]];..."},
    {"sl_target_pct", I(sl_target_pct, 1, 99), "80", NULL, "staffing target: percent of calls answered within the service-level threshold"},
    {"sl_target_by_queue", S(sl_target_by_queue), "", NULL, "per-queue staffing targets: queue=percent,..."},
    {"default_handle_s", I(default_handle_s, 1, DAY), "300", NULL, "handle time for staffing until a real-time queue has handled calls, and for asynchronous channels not listed below"},
    {"handle_s_by_channel", S(handle_s_by_channel), "", NULL, "work per ticket on asynchronous channels: channel=seconds,... (e.g. email=480,in_app=300)"},
    {"surge_intervals", I(surge_intervals, 1, 96), "2", NULL, "consecutive 15-minute intervals above the forecast's 95% bound that make a surge"},
    {"surge_min_volume", I(surge_min_volume, 0, 1000000), "10", NULL, "an interval counts toward a surge only with at least this many arrivals"},
    {"alert_rules", S(alert_rules), "", NULL, "alert rules file (JSON, docs/alerting.md); empty = no alerting"},
    {"alert_eval_ms", I(alert_eval_ms, 100, 600000), "5000", NULL, "how often the alert rules are evaluated"},
    {"alert_stream_max", I(alert_stream_max, 100, 100000000), "10000", NULL, "transitions kept in the {p}:alerts stream (approximately)"},
    {"alert_webhook_url", S(alert_webhook_url), "", NULL, "POST each alert transition as JSON to this URL (empty = none)"},
    {"alert_webhook_header", S(alert_webhook_header), "", NULL, "one extra webhook header, e.g. 'Authorization: Bearer ...'"},
    {"alert_webhook_timeout_ms", I(alert_webhook_timeout_ms, 100, 600000), "5000", NULL, "webhook request timeout"},
    {"alert_webhook_retries", I(alert_webhook_retries, 0, 100), "5", NULL, "webhook retries after a failed attempt (exponential backoff)"},
    {"alert_webhook_backoff_ms", I(alert_webhook_backoff_ms, 10, 600000), "1000", NULL, "first webhook retry delay; doubles up to max_backoff_ms"},
    {"alert_command", S(alert_command), "", NULL, "run by /bin/sh on each alert transition, alert in SP_ALERT_* variables (empty = none)"},
    {"alert_command_timeout_s", I(alert_command_timeout_s, 1, 3600), "10", NULL, "the alert command is killed after this"},
    {"alert_hook_queue", I(alert_hook_queue, 1, 1000000), "1000", NULL, "notifications waiting per hook; when full the oldest is dropped (counted)"},
    {"csat_prior_weight", I(csat_prior_weight, 0, 100000), "10", NULL, "surveys' worth of the desk-wide CSAT blended into each agent's csat_smoothed"},
    {"time_zone", S(time_zone), "UTC", NULL, "the desk's time zone (IANA name, e.g. Asia/Shanghai, from the system's tz database): 1d rollups and the live _today values follow its local days"},
    {"tenant_time_zones", S(tenant_time_zones), "", NULL, "time zones of tenants: tenant=Zone,... (e.g. t1=Europe/Berlin); other tenants use time_zone"},
    {"resolutions_by_dims", S(resolutions_by_dims), SP_RES_BY_DIMS_DEFAULT, NULL, "the resolutions each class of dimension set is rolled up at: CLASS=RES,...;... (classes all, queue, channel, queue,channel, agent; resolutions 1m, 5m, 15m, 1h, 1d)"},
    {"ttl_1m_s", I(ttl_s[0], 0, 3650 * DAY), "172800", NULL, "retention of 1m rollups (0 = keep)"},
    {"ttl_5m_s", I(ttl_s[1], 0, 3650 * DAY), "604800", NULL, "retention of 5m rollups"},
    {"ttl_15m_s", I(ttl_s[2], 0, 3650 * DAY), "3024000", NULL, "retention of 15m rollups"},
    {"ttl_1h_s", I(ttl_s[3], 0, 3650 * DAY), "34560000", NULL, "retention of 1h rollups"},
    {"ttl_1d_s", I(ttl_s[4], 0, 3650 * DAY), "0", NULL, "retention of 1d rollups"},
};
#define NOPTIONS (sizeof options / sizeof options[0])

/* Text options with a syntax of their own. */
static int check_percents(const char *value, char *errstr, size_t errstr_size)
{
    if (sp_queue_seconds_check(value, errstr, errstr_size) < 0)
        return -1;
    for (const char *eq = strchr(value, '='); eq; eq = strchr(eq + 1, '=')) {
        long v = strtol(eq + 1, NULL, 10);
        if (v < 1 || v > 99) {
            snprintf(errstr, errstr_size, "'%s': a target must be a percent in 1..99", value);
            return -1;
        }
    }
    return 0;
}

static int check_text(const option *o, const char *value, char *errstr, size_t errstr_size)
{
    if (strcmp(o->name, "sl_by_queue") == 0 || strcmp(o->name, "short_abandon_by_queue") == 0 ||
        strcmp(o->name, "handle_s_by_channel") == 0)
        return sp_queue_seconds_check(value, errstr, errstr_size);
    if (strcmp(o->name, "max_wait_by_queue") == 0 || strcmp(o->name, "max_handle_by_queue") == 0)
        return sp_queue_seconds_check_range(value, SP_MAX_WAIT_MIN_S, SP_MAX_WAIT_MAX_S, errstr,
                                            errstr_size);
    if (strcmp(o->name, "sl_target_by_queue") == 0)
        return check_percents(value, errstr, errstr_size);
    if (strcmp(o->name, "resolutions_by_dims") == 0) {
        sp_res_by_class rc;
        return sp_res_by_class_parse(value, &rc, errstr, errstr_size);
    }
    if (strcmp(o->name, "alert_rules") == 0 && *value) {
        sp_rules rules;
        if (sp_rules_load(value, &rules, errstr, errstr_size) < 0)
            return -1;
        sp_rules_free(&rules);
    }
    if (strcmp(o->name, "time_zone") == 0) {
        sp_tz *z = sp_tz_load(value, errstr, errstr_size);
        sp_tz_free(z);
        return z ? 0 : -1;
    }
    if (strcmp(o->name, "tenant_time_zones") == 0) {
        char why[512];
        sp_zones *z = sp_zones_new("", value, why, sizeof why);
        size_t n = strlen(o->name); /* the message names the setting, as the caller does */
        const char *msg = strncmp(why, o->name, n) == 0 && why[n] == ':' ? why + n + 2 : why;
        if (!z)
            snprintf(errstr, errstr_size, "%s", msg);
        sp_zones_free(z);
        return z ? 0 : -1;
    }
    if (strcmp(o->name, "forecast_events") == 0) {
        sp_fc_events ev;
        if (sp_fc_events_parse(value, NULL, &ev, errstr, errstr_size) < 0)
            return -1;
        sp_fc_events_free(&ev);
    }
    return 0;
}

static const option *find_option(const char *name)
{
    char norm[64];
    size_t i;
    for (i = 0; name[i] && i < sizeof norm - 1; i++)
        norm[i] = name[i] == '-' ? '_' : name[i];
    norm[i] = '\0';
    for (size_t k = 0; k < NOPTIONS; k++)
        if (strcmp(options[k].name, norm) == 0)
            return &options[k];
    return NULL;
}

static int set_option(sp_config *c, const option *o, const char *value, char *errstr,
                      size_t errstr_size)
{
    if (o->type == OPT_STR) {
        if (o->choices) {
            size_t n = strlen(value);
            const char *p = strstr(o->choices, value);
            int ok = n > 0 && p && (p == o->choices || p[-1] == '|') &&
                     (p[n] == '\0' || p[n] == '|');
            if (!ok) {
                snprintf(errstr, errstr_size, "%s: '%s' is not one of %s", o->name, value,
                         o->choices);
                return -1;
            }
        }
        char why[1024];
        if (check_text(o, value, why, sizeof why) < 0) {
            snprintf(errstr, errstr_size, "%s: %s", o->name, why);
            return -1;
        }
        char **slot = (char **)((char *)c + o->offset);
        char *copy = strdup(value);
        if (!copy) {
            snprintf(errstr, errstr_size, "%s: out of memory", o->name);
            return -1;
        }
        free(*slot);
        *slot = copy;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < o->min || v > o->max) {
        snprintf(errstr, errstr_size, "%s: '%s' must be an integer in %lld..%lld", o->name,
                 value, (long long)o->min, (long long)o->max);
        return -1;
    }
    *(int64_t *)((char *)c + o->offset) = v;
    return 0;
}

int sp_config_init(sp_config *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t k = 0; k < NOPTIONS; k++)
        if (set_option(c, &options[k], options[k].def, err, sizeof err) < 0)
            return -1;
    return 0;
}

void sp_config_free(sp_config *c)
{
    for (size_t k = 0; k < NOPTIONS; k++)
        if (options[k].type == OPT_STR)
            free(*(char **)((char *)c + options[k].offset));
    for (int i = 0; i < c->nkafka; i++) {
        free(c->kafka_key[i]);
        free(c->kafka_val[i]);
    }
    if (c->redis_password) {
        explicit_bzero(c->redis_password, strlen(c->redis_password));
        free(c->redis_password);
    }
    memset(c, 0, sizeof *c);
}

int sp_config_set(sp_config *c, const char *name, const char *value, char *errstr,
                  size_t errstr_size)
{
    const option *o = find_option(name);
    if (!o) {
        snprintf(errstr, errstr_size, "unknown option '%s' (see --help)", name);
        return -1;
    }
    return set_option(c, o, value, errstr, errstr_size);
}

static int add_kafka(sp_config *c, const char *key, size_t klen, const char *val, char *errstr,
                     size_t errstr_size)
{
    if (klen == 0) {
        snprintf(errstr, errstr_size, "kafka: a property needs a name (key=value)");
        return -1;
    }
    if (c->nkafka == SP_MAX_KAFKA_PROPS) {
        snprintf(errstr, errstr_size, "kafka: at most %d properties", SP_MAX_KAFKA_PROPS);
        return -1;
    }
    char *k = strndup(key, klen), *v = strdup(val);
    if (!k || !v) {
        free(k);
        free(v);
        snprintf(errstr, errstr_size, "kafka: out of memory");
        return -1;
    }
    c->kafka_key[c->nkafka] = k;
    c->kafka_val[c->nkafka++] = v;
    return 0;
}

int sp_config_add_kafka(sp_config *c, const char *kv, char *errstr, size_t errstr_size)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        snprintf(errstr, errstr_size, "kafka property '%s' must be key=value", kv);
        return -1;
    }
    return add_kafka(c, kv, (size_t)(eq - kv), eq + 1, errstr, errstr_size);
}

static int load_kafka_object(sp_config *c, json_t *obj, char *errstr, size_t errstr_size)
{
    const char *k;
    json_t *v;
    if (!json_is_object(obj)) {
        snprintf(errstr, errstr_size, "kafka: must be an object of librdkafka properties");
        return -1;
    }
    json_object_foreach(obj, k, v) {
        if (!json_is_string(v)) {
            snprintf(errstr, errstr_size, "kafka.%s: must be a string", k);
            return -1;
        }
        if (add_kafka(c, k, strlen(k), json_string_value(v), errstr, errstr_size) < 0)
            return -1;
    }
    return 0;
}

/* "forecast_events": [{"name", "start", "end", "multiplier", "queue", "channel"}, ...]
 * in a config file, turned into the text form. */
static int load_events_array(sp_config *c, const option *o, json_t *arr, char *errstr,
                             size_t errstr_size)
{
    size_t cap = 64, len = 0, i;
    char *text = calloc(1, cap);
    json_t *e;
    json_array_foreach(arr, i, e) {
        const char *name = NULL, *start = NULL, *end = NULL, *queue = "*", *channel = "*";
        double mult = 0;
        char item[512];
        if (!text || json_unpack(e, "{s:s, s:s, s:s, s:F, s?s, s?s !}", "name", &name, "start",
                                 &start, "end", &end, "multiplier", &mult, "queue", &queue,
                                 "channel", &channel) != 0) {
            snprintf(errstr, errstr_size, "forecast_events[%zu]: %s", i,
                     text ? "needs name, start, end (strings), multiplier (number), optional "
                            "queue, channel, and nothing else"
                          : "out of memory");
            free(text);
            return -1;
        }
        int n = snprintf(item, sizeof item, "%s%s,%s,%s,%.17g,%s,%s", len ? ";" : "", name,
                         start, end, mult, queue, channel);
        if (n < 0 || (size_t)n >= sizeof item || strpbrk(name, ",;") || strpbrk(queue, ",;")) {
            snprintf(errstr, errstr_size, "forecast_events[%zu]: too long, or ',' or ';' in a "
                     "name or queue", i);
            free(text);
            return -1;
        }
        if (len + (size_t)n + 1 > cap) {
            char *grown = realloc(text, cap = 2 * (len + (size_t)n + 1));
            if (!grown) {
                free(text);
                snprintf(errstr, errstr_size, "forecast_events: out of memory");
                return -1;
            }
            text = grown;
        }
        memcpy(text + len, item, (size_t)n + 1);
        len += (size_t)n;
    }
    int rc = set_option(c, o, text ? text : "", errstr, errstr_size);
    free(text);
    return rc;
}

static int load_value(sp_config *c, const char *k, json_t *v, char *errstr, size_t errstr_size)
{
    const option *o = find_option(k);
    if (!o) {
        snprintf(errstr, errstr_size, "unknown field '%s'", k);
        return -1;
    }
    char num[32];
    const char *text;
    if (strcmp(o->name, "forecast_events") == 0 && json_is_array(v))
        return load_events_array(c, o, v, errstr, errstr_size);
    if (o->type == OPT_INT && json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        text = num;
    } else if (o->type == OPT_STR && json_is_string(v)) {
        text = json_string_value(v);
    } else {
        snprintf(errstr, errstr_size, "%s: must be %s", o->name,
                 o->type == OPT_INT ? "an integer" : "a string");
        return -1;
    }
    return set_option(c, o, text, errstr, errstr_size);
}

int sp_config_load_file(sp_config *c, const char *path, char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    char inner[512];
    int rc = -1;
    if (!root) {
        snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(errstr, errstr_size, "%s: must hold a JSON object", path);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        int r = strcmp(k, "kafka") == 0 ? load_kafka_object(c, v, inner, sizeof inner)
                                         : load_value(c, k, v, inner, sizeof inner);
        if (r < 0) {
            snprintf(errstr, errstr_size, "%s: %s", path, inner);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int sp_config_load_env(sp_config *c, char **envp, char *errstr, size_t errstr_size)
{
    static const char pfx[] = "SUPPORTPULSE_";
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, pfx, sizeof pfx - 1) != 0)
            continue;
        const char *name = *e + sizeof pfx - 1;
        const char *eq = strchr(name, '=');
        char lower[64];
        size_t n = eq ? (size_t)(eq - name) : 0;
        if (!eq || n >= sizeof lower)
            continue;
        for (size_t i = 0; i < n; i++)
            lower[i] = (char)tolower((unsigned char)name[i]);
        lower[n] = '\0';
        if (strcmp(lower, "config") == 0)
            continue; /* handled by sp_config_from_args */
        if (strcmp(lower, "redis_password") == 0) { /* a secret: no option, no flag */
            free(c->redis_password);
            if (!(c->redis_password = strdup(eq + 1))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
            continue;
        }
        char inner[400];
        if (sp_config_set(c, lower, eq + 1, inner, sizeof inner) < 0) {
            snprintf(errstr, errstr_size, "environment SUPPORTPULSE_%.*s: %s", (int)n, name,
                     inner);
            return -1;
        }
    }
    return 0;
}

/* "--name=value" or "--name value"; returns the number of argv entries used, or -1. */
static int flag_value(int argc, char **argv, int i, const char **name, size_t *nlen,
                      const char **value)
{
    const char *a = argv[i] + 2;
    const char *eq = strchr(a, '=');
    *name = a;
    if (eq) {
        *nlen = (size_t)(eq - a);
        *value = eq + 1;
        return 1;
    }
    *nlen = strlen(a);
    if (i + 1 >= argc)
        return -1;
    *value = argv[i + 1];
    return 2;
}

static int config_path(int argc, char **argv, char **envp, const char **path)
{
    *path = NULL;
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, "SUPPORTPULSE_CONFIG=", 20) == 0)
            *path = *e + 20;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            *path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            *path = argv[i] + 9;
    }
    return 0;
}

/* A rollup that expired while its window still takes late events would be re-created
 * from the late events alone (a partial count), and its sketch hash could outlive it:
 * every kept resolution must live at least its window, the lateness and the retention. */
/* The Redis password from redis_password_file: its first line, without the newline. */
static int read_password(sp_config *c, char *errstr, size_t errstr_size)
{
    if (!c->redis_password_file || !*c->redis_password_file)
        return 0;
    if (c->redis_password) {
        snprintf(errstr, errstr_size, "redis_password_file: SUPPORTPULSE_REDIS_PASSWORD is set "
                                      "too; use one of them");
        return -1;
    }
    char line[1024], why[600];
    if (sp_redis_password_read(c->redis_password_file, line, sizeof line, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "redis_password_file: %s", why);
        return -1;
    }
    c->redis_password = strdup(line);
    explicit_bzero(line, sizeof line);
    if (!c->redis_password) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

sp_redis_tls_conf sp_config_redis_tls(const sp_config *c)
{
    return (sp_redis_tls_conf){.enabled = c->redis_tls || sp_redis_address_tls(c->redis),
                               .ca_file = c->redis_tls_ca_file,
                               .cert_file = c->redis_tls_cert_file,
                               .key_file = c->redis_tls_key_file,
                               .server_name = c->redis_tls_server_name};
}

/* The TLS files are read now, so a missing or unusable one is a config error naming its
 * option (exit 2), not a connection that never succeeds. */
static int check_tls(const sp_config *c, char *errstr, size_t errstr_size)
{
    sp_redis_tls_conf t = sp_config_redis_tls(c);
    int given = (t.ca_file && *t.ca_file) || (t.cert_file && *t.cert_file) ||
                (t.key_file && *t.key_file) || (t.server_name && *t.server_name);
    if (!t.enabled) {
        if (given) {
            snprintf(errstr, errstr_size, "redis_tls: TLS files or a server name are set but "
                                          "TLS is off; set redis_tls=1 or redis=rediss://...");
            return -1;
        }
        return 0;
    }
    if (strncmp(sp_redis_address_plain(c->redis), "unix:", 5) == 0) {
        snprintf(errstr, errstr_size, "redis: TLS needs a HOST:PORT address, not a unix socket");
        return -1;
    }
    sp_redis_tls *ctx = sp_redis_tls_new(&t, errstr, errstr_size);
    sp_redis_tls_free(ctx);
    return ctx ? 0 : -1;
}

/* Every librdkafka property (-X, the file's "kafka", SUPPORTPULSE_KAFKA_*) is one
 * librdkafka knows, with a value it takes: checked here, so a bad one is a config error
 * naming it (exit 2), not a failure to start the consumer. */
static int check_kafka(const sp_config *c, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    for (int i = 0; i < c->nkafka && rc == 0; i++) {
        char err[256];
        if (rd_kafka_conf_set(conf, c->kafka_key[i], c->kafka_val[i], err, sizeof err) !=
            RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka property %s: %s", c->kafka_key[i], err);
            rc = -1;
        }
    }
    rd_kafka_conf_destroy(conf);
    return rc;
}

/* The zones against resolutions_by_dims: each class's finest window must not straddle
 * a local midnight, or the 1d rollups would not be sums of whole windows. */
static int check_zones(const sp_config *c, char *errstr, size_t errstr_size)
{
    sp_res_by_class rc;
    sp_zones *z = sp_zones_new(c->time_zone, c->tenant_time_zones, errstr, errstr_size);
    int ok = z && sp_res_by_class_parse(c->resolutions_by_dims, &rc, errstr, errstr_size) == 0 &&
             sp_zones_check_res(z, &rc, errstr, errstr_size) == 0;
    sp_zones_free(z);
    return ok ? 0 : -1;
}

static int check_ttls(const sp_config *c, char *errstr, size_t errstr_size)
{
    for (int r = 0; r < SP_NRES; r++) {
        int64_t need = sp_res_seconds[r] + c->lateness_s + c->retention_s;
        if (c->ttl_s[r] && c->ttl_s[r] < need) {
            snprintf(errstr, errstr_size,
                     "ttl_%s_s: %lld is shorter than its window + lateness_s + retention_s "
                     "(%lld): a late event would re-create an expired rollup from a partial "
                     "count; raise it (or 0 = keep) or lower retention_s",
                     sp_res_names[r], (long long)c->ttl_s[r], (long long)need);
            return -1;
        }
    }
    return 0;
}

int sp_config_from_args(sp_config *c, int argc, char **argv, char **envp, char *errstr,
                        size_t errstr_size)
{
    const char *path;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            sp_config_print_help(stdout);
            return 1;
        }
    config_path(argc, argv, envp, &path);
    if (path && sp_config_load_file(c, path, errstr, errstr_size) < 0)
        return -1;
    if (sp_config_load_env(c, envp, errstr, errstr_size) < 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-X") == 0) {
            if (i + 1 >= argc) {
                snprintf(errstr, errstr_size, "-X needs key=value");
                return -1;
            }
            if (sp_config_add_kafka(c, argv[++i], errstr, errstr_size) < 0)
                return -1;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0) {
            snprintf(errstr, errstr_size, "unexpected argument '%s' (see --help)", argv[i]);
            return -1;
        }
        const char *name, *value;
        size_t nlen;
        int used = flag_value(argc, argv, i, &name, &nlen, &value);
        char nm[64];
        snprintf(nm, sizeof nm, "%.*s", (int)nlen, name);
        if (used < 0) {
            snprintf(errstr, errstr_size, "--%s needs a value", nm);
            return -1;
        }
        i += used - 1;
        if (strcmp(nm, "config") == 0)
            continue;
        char inner[400];
        if (sp_config_set(c, nm, value, inner, sizeof inner) < 0) {
            snprintf(errstr, errstr_size, "--%s", inner);
            return -1;
        }
    }
    if (!c->bootstrap[0]) {
        snprintf(errstr, errstr_size, "bootstrap: required (--bootstrap HOST:PORT[,...])");
        return -1;
    }
    if (check_kafka(c, errstr, errstr_size) < 0 || read_password(c, errstr, errstr_size) < 0 ||
        check_tls(c, errstr, errstr_size) < 0 || check_zones(c, errstr, errstr_size) < 0)
        return -1;
    return check_ttls(c, errstr, errstr_size);
}

void sp_config_print_help(FILE *out)
{
    fprintf(out, "usage: supportpulse run --bootstrap HOST:PORT[,...] [options]\n\n"
                 "Consumes support events from Kafka and publishes rollups to Redis.\n"
                 "Each option is also a config-file field (--config FILE, a JSON object)\n"
                 "and an environment variable SUPPORTPULSE_<NAME>. Precedence: defaults <\n"
                 "file < environment < flags. '-' and '_' are the same in flag names.\n\n");
    for (size_t k = 0; k < NOPTIONS; k++) {
        const option *o = &options[k];
        char flag[64], range[96];
        snprintf(flag, sizeof flag, "--%s", o->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        if (o->type == OPT_INT)
            snprintf(range, sizeof range, "%lld..%lld, default %s", (long long)o->min,
                     (long long)o->max, o->def);
        else if (o->choices)
            snprintf(range, sizeof range, "%s, default %s", o->choices, o->def);
        else
            snprintf(range, sizeof range, "default '%s'", o->def);
        fprintf(out, "  %-22s %s (%s)\n", flag, o->help, range);
    }
    fprintf(out, "  %-22s JSON config file (same field names; \"kafka\": {...} for librdkafka)\n",
            "--config FILE");
    fprintf(out, "  %-22s a librdkafka property, e.g. -X security.protocol=ssl (repeatable)\n",
            "-X key=value");
}
