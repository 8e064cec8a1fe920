/*
 * alert_eval.h - evaluates alert rules (rules.h) over what the pipeline and the
 * forecaster wrote to Redis, steps each alert's state (alert_state.h) and records the
 * transitions: stream {p}:alerts, hash {p}:alerts:active, PUBLISH {p}:alerts.
 *
 * Each tick: read the event-time clock ({p}:meta), the stored alert states
 * ({p}:alerts:state:{<p>:alerts}), the dimension sets the rules select and their values
 * (one pipelined round trip), then step every alert. A changed state is written with a
 * compare-and-set script that also records the transition (stream, firing JSON,
 * PUBLISH: one hash slot), so when several pipeline instances evaluate the same rules,
 * exactly one of them writes each transition; only that one gets the notice for its
 * webhook and command hooks. Last, the active hash is made to equal the firing JSON.
 * Works on one Redis or a Redis Cluster (redis_client.h).
 *
 * Time is event time (the newest event consumed), like the live hashes: a replay of
 * yesterday fires yesterday's alerts at yesterday's times.
 *
 * Not thread-safe: one thread per evaluator. Ownership: rules and conf strings are
 * borrowed and must outlive the evaluator; a notice's strings are valid only during
 * the callback.
 */
#ifndef SUPPORTPULSE_ALERT_EVAL_H
#define SUPPORTPULSE_ALERT_EVAL_H

#include <stddef.h>

#include "supportpulse/redis_conn.h"
#include <stdint.h>

#include "supportpulse/alert_state.h"
#include "supportpulse/rules.h"
#include "supportpulse/timezone.h"

typedef struct {
    const char *address, *prefix;
    const char *user, *password; /* AUTH (sp_redis_set_auth); NULL: none */
    sp_redis_tls_conf tls; /* TLS (sp_redis_set_tls); .enabled 0: plain */
    int connect_timeout_ms, command_timeout_ms;
    int64_t stream_max;        /* {p}:alerts keeps about this many entries */
    int64_t dims_refresh_ms;   /* how often "*" over rollups re-lists series (wall) */
    const sp_zones *zones;     /* where each dims' day starts, for 1d rules and "_today"
                                  (NULL: UTC); borrowed, must outlive the evaluator */
} sp_alert_eval_conf;

void sp_alert_eval_conf_defaults(sp_alert_eval_conf *c);

/* One transition this instance recorded. json: the body of webhooks and of PUBLISH. */
typedef struct {
    const sp_rule *rule;       /* NULL when the rule was removed from the rules file */
    const char *rule_name, *dims, *state, *reason, *message, *json;
    double value;
    int64_t at_ms;
} sp_alert_notice;

typedef void (*sp_alert_notify_fn)(void *arg, const sp_alert_notice *n);

typedef struct sp_alert_eval sp_alert_eval;

sp_alert_eval *sp_alert_eval_new(const sp_alert_eval_conf *conf, const sp_rules *rules,
                                 char *errstr, size_t errstr_size);
void sp_alert_eval_destroy(sp_alert_eval *e); /* NULL is a no-op */

/* One evaluation. Returns the number of transitions recorded by this instance (each
 * passed to fn, which may be NULL), 0 when nothing has been consumed yet, or -1 with
 * errstr (Redis unreachable: the connection is dropped and reopened next tick). */
int sp_alert_eval_tick(sp_alert_eval *e, sp_alert_notify_fn fn, void *arg, char *errstr,
                       size_t errstr_size);

/* The clock of the last tick (event time, ms), -1 before one. */
int64_t sp_alert_eval_clock(const sp_alert_eval *e);

#endif
