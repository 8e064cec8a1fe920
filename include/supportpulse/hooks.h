/*
 * hooks.h - where alert transitions go besides Redis: an HTTP webhook (POST of the
 * transition's JSON, with libcurl) and a command (run by /bin/sh with the alert in
 * SP_ALERT_* environment variables).
 *
 * Each hook has its own bounded queue and worker thread (hooks.c), so a slow or dead
 * receiver never holds up alert evaluation, let alone the event path: submitting copies
 * the JSON and returns; when a queue is full its oldest entry is dropped and counted.
 * The webhook retries failures (connection errors, timeouts, HTTP 408, 429 and 5xx)
 * with exponential backoff up to `retries` times; other HTTP errors are final. Every
 * outcome is counted (sp_hook_stats) and logged.
 *
 * Ownership: sp_hooks copies what it is given; the conf strings are copied at start.
 */
#ifndef SUPPORTPULSE_HOOKS_H
#define SUPPORTPULSE_HOOKS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *webhook_url;       /* NULL or "" = no webhook */
    const char *webhook_header;    /* one extra header ("Authorization: Bearer ..."), or NULL */
    int64_t webhook_timeout_ms;    /* whole request */
    int64_t webhook_retries;       /* attempts after the first */
    int64_t backoff_ms, max_backoff_ms;
    const char *command;           /* NULL or "" = no command */
    int64_t command_timeout_ms;    /* then the command is killed */
    int64_t queue_max;             /* entries per hook queue */
} sp_hooks_conf;

void sp_hooks_conf_defaults(sp_hooks_conf *c);

typedef struct {
    uint64_t webhook_sent, webhook_failed, webhook_retries, webhook_dropped;
    uint64_t command_ok, command_failed, command_dropped;
} sp_hook_stats;

typedef struct sp_hooks sp_hooks;

/* Starts the worker threads of the configured hooks. NULL with errstr on failure. */
sp_hooks *sp_hooks_start(const sp_hooks_conf *conf, char *errstr, size_t errstr_size);
/* Queues a transition's JSON for every configured hook; never blocks on delivery. */
void sp_hooks_submit(sp_hooks *h, const char *json);
/* Totals so far (thread-safe). */
void sp_hooks_stats(const sp_hooks *h, sp_hook_stats *out);
/* Waits up to drain_ms for the queues to empty, then stops the workers (what is left
 * is logged and counted as dropped), fills *final (when not NULL) and frees everything.
 * NULL is a no-op. */
void sp_hooks_stop(sp_hooks *h, int64_t drain_ms, sp_hook_stats *final);

/* One delivery attempt each, for the workers and the tests. */
typedef enum { SP_HOOK_OK, SP_HOOK_RETRY, SP_HOOK_FAILED } sp_hook_result;
/* POSTs json; errstr says what went wrong. curl_global_init must have run. */
sp_hook_result sp_webhook_post(void *curl, const sp_hooks_conf *c, const char *json, char *errstr,
                               size_t errstr_size);
/* The part of a webhook URL fit for a log line: scheme, host and port only (user,
 * password, path and query, where tokens go, left out); "(a malformed URL)" when it
 * does not parse. Writes at most size bytes into out. */
void sp_webhook_url_shown(const char *url, char *out, size_t size);
/* Runs c->command with the environment plus SP_ALERT_<FIELD> for every top-level field
 * of json and SP_ALERT_JSON; waits up to command_timeout_ms, then kills it. */
sp_hook_result sp_command_run(const sp_hooks_conf *c, const char *json, char *errstr,
                              size_t errstr_size);

#endif
