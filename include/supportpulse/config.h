/*
 * config.h - the settings of `supportpulse run` (and `demo`). One table of options
 * (config.c) drives the JSON config file, SUPPORTPULSE_* environment variables,
 * command-line flags and --help, so the four never disagree.
 *
 * Precedence: built-in defaults < --config FILE < environment < flags.
 * Every value is validated; an error names the field and the accepted range.
 * Ownership: sp_config owns its strings; sp_config_free releases them.
 */
#ifndef SUPPORTPULSE_CONFIG_H
#define SUPPORTPULSE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "supportpulse/redis_conn.h"

#define SP_MAX_KAFKA_PROPS 64

typedef struct {
    char *bootstrap, *topic, *dlq_topic, *group, *redis, *prefix, *offset_reset, *log_level;
    char *redis_user, *redis_password_file;
    char *redis_tls_ca_file, *redis_tls_cert_file, *redis_tls_key_file, *redis_tls_server_name;
    char *redis_password; /* not an option: $SUPPORTPULSE_REDIS_PASSWORD or the file's line */
    char *sl_by_queue, *short_abandon_by_queue, *max_wait_by_queue, *max_handle_by_queue;
    char *forecast_events, *sl_target_by_queue, *handle_s_by_channel;
    char *alert_rules, *alert_webhook_url, *alert_webhook_header, *alert_command;
    char *resolutions_by_dims;
    char *time_zone, *tenant_time_zones;
    int64_t lateness_s, retention_s, dedup_horizon_s, dedup_capacity, max_cases,
        case_max_age_s, max_queues, max_agents, max_tenants, max_combos, max_future_s, flush_ms,
        max_dirty_cells, idle_s, redis_timeout_ms, stats_s, max_backoff_ms, sl_threshold_s,
        short_abandon_s, case_grace_s, decode_threads, max_attributions, attribution_horizon_s,
        csat_prior_weight, forecast, forecast_history_days, forecast_check_s, sl_target_pct,
        default_handle_s, surge_intervals, surge_min_volume, alert_eval_ms, alert_stream_max,
        alert_webhook_timeout_ms, alert_webhook_retries, alert_webhook_backoff_ms,
        alert_command_timeout_s, alert_hook_queue, catchup_lag, catchup_dirty_cells,
        catchup_flush_ms, redis_call_cells, redis_tls, max_wait_s, max_handle_s;
    int64_t ttl_s[5]; /* 1m 5m 15m 1h 1d */
    /* librdkafka properties passed through (-X key=value, "kafka": {...}) */
    char *kafka_key[SP_MAX_KAFKA_PROPS], *kafka_val[SP_MAX_KAFKA_PROPS];
    int nkafka;
} sp_config;

/* The TLS settings of every Redis connection (the options redis_tls*, and TLS when the
 * address is rediss://); the strings stay the config's. */
sp_redis_tls_conf sp_config_redis_tls(const sp_config *c);

/* Fills defaults. 0, or -1 when out of memory. */
int sp_config_init(sp_config *c);
void sp_config_free(sp_config *c);

/* Loads a JSON object file over the current values. 0 or -1 with errstr. */
int sp_config_load_file(sp_config *c, const char *path, char *errstr, size_t errstr_size);
/* Applies SUPPORTPULSE_<NAME> variables from envp (NULL-terminated). 0 or -1. */
int sp_config_load_env(sp_config *c, char **envp, char *errstr, size_t errstr_size);
/* Sets one option by name ("dlq_topic" or "dlq-topic") from text. 0 or -1 with errstr. */
int sp_config_set(sp_config *c, const char *name, const char *value, char *errstr,
                  size_t errstr_size);
/* Adds a librdkafka property "key=value". 0 or -1. */
int sp_config_add_kafka(sp_config *c, const char *kv, char *errstr, size_t errstr_size);

/* Parses argv for `run`: --config FILE first, then env, then the other flags.
 * Returns 0, 1 when --help was printed, or -1 with errstr. */
int sp_config_from_args(sp_config *c, int argc, char **argv, char **envp, char *errstr,
                        size_t errstr_size);

void sp_config_print_help(FILE *out);

#endif
