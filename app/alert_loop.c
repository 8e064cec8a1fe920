/*
 * alert_loop.c - see alert_loop.h.
 */
#include "supportpulse/alert_loop.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supportpulse/alert_eval.h"
#include "supportpulse/hooks.h"
#include "supportpulse/log.h"
#include "supportpulse/redis_conn.h"

struct sp_alert_loop {
    const sp_config *cfg;
    sp_rules rules;
    sp_alert_eval *eval;
    sp_hooks *hooks;
    sp_hook_stats reported;   /* what {p}:alerts:hooks has of this instance */
    pthread_t th;
    atomic_int stop;
};

static void nap(sp_alert_loop *l, int64_t ms)
{
    for (int64_t slept = 0; slept < ms && !atomic_load(&l->stop); slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void notify(void *arg, const sp_alert_notice *n)
{
    sp_alert_loop *l = arg;
    sp_info("alert %s %s on %s: %s", n->rule_name, n->state, n->dims, n->message);
    if (l->hooks)
        sp_hooks_submit(l->hooks, n->json);
}

/* Adds the hooks' counters s, less what was reported before, to {p}:alerts:hooks. */
static void report_hooks(sp_alert_loop *l, sp_hook_stats s)
{
    const uint64_t now[7] = {s.webhook_sent, s.webhook_failed, s.webhook_retries,
                             s.webhook_dropped, s.command_ok, s.command_failed, s.command_dropped};
    const uint64_t was[7] = {l->reported.webhook_sent, l->reported.webhook_failed,
                             l->reported.webhook_retries, l->reported.webhook_dropped,
                             l->reported.command_ok, l->reported.command_failed,
                             l->reported.command_dropped};
    static const char *const names[7] = {"webhook_sent", "webhook_failed", "webhook_retries",
                                         "webhook_dropped", "command_ok", "command_failed",
                                         "command_dropped"};
    if (!memcmp(now, was, sizeof now))
        return;
    const sp_config *c = l->cfg;
    redisContext *rc = sp_redis_open(c->redis, (int)c->redis_timeout_ms, (int)c->redis_timeout_ms);
    int ok = rc && !rc->err;
    for (int i = 0; ok && i < 7; i++) {
        if (now[i] == was[i])
            continue;
        redisReply *r = redisCommand(rc, "HINCRBY %s:alerts:hooks %s %llu", c->prefix, names[i],
                                     (unsigned long long)(now[i] - was[i]));
        ok = r && r->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
    }
    if (rc)
        redisFree(rc);
    if (ok) /* else tried again next tick (a partial report may count some twice) */
        l->reported = s;
}

static void *loop_main(void *arg)
{
    sp_alert_loop *l = arg;
    int failing = 0;
    int64_t backoff = 1000;
    while (!atomic_load(&l->stop)) {
        char err[512];
        int n = sp_alert_eval_tick(l->eval, notify, l, err, sizeof err);
        if (n < 0) {
            if (!failing++)
                sp_warn("%s; retrying", err);
            nap(l, backoff);
            backoff = backoff * 2 > l->cfg->max_backoff_ms ? l->cfg->max_backoff_ms : backoff * 2;
            continue;
        }
        if (failing)
            sp_info("alerts: Redis is back");
        failing = 0;
        backoff = 1000;
        if (l->hooks) {
            sp_hook_stats s;
            sp_hooks_stats(l->hooks, &s);
            report_hooks(l, s);
        }
        nap(l, l->cfg->alert_eval_ms);
    }
    return NULL;
}

static void hooks_conf(sp_hooks_conf *h, const sp_config *c)
{
    sp_hooks_conf_defaults(h);
    h->webhook_url = c->alert_webhook_url;
    h->webhook_header = c->alert_webhook_header;
    h->webhook_timeout_ms = c->alert_webhook_timeout_ms;
    h->webhook_retries = c->alert_webhook_retries;
    h->backoff_ms = c->alert_webhook_backoff_ms;
    h->max_backoff_ms = c->max_backoff_ms;
    h->command = c->alert_command;
    h->command_timeout_ms = c->alert_command_timeout_s * 1000;
    h->queue_max = c->alert_hook_queue;
}

sp_alert_loop *sp_alert_loop_start(const sp_config *cfg, char *errstr, size_t errstr_size)
{
    sp_alert_loop *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(errstr, errstr_size, "alerts: out of memory");
        return NULL;
    }
    l->cfg = cfg;
    sp_alert_eval_conf ec;
    sp_alert_eval_conf_defaults(&ec);
    ec.address = cfg->redis;
    ec.prefix = cfg->prefix;
    ec.connect_timeout_ms = ec.command_timeout_ms = (int)cfg->redis_timeout_ms;
    ec.stream_max = cfg->alert_stream_max;
    sp_hooks_conf hc;
    hooks_conf(&hc, cfg);
    char why[1024];
    if (sp_rules_load(cfg->alert_rules, &l->rules, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "alert_rules: %s", why);
        free(l);
        return NULL;
    }
    if (!(l->eval = sp_alert_eval_new(&ec, &l->rules, errstr, errstr_size)) ||
        ((*hc.webhook_url || *hc.command) && !(l->hooks = sp_hooks_start(&hc, errstr, errstr_size))) ||
        pthread_create(&l->th, NULL, loop_main, l) != 0) {
        if (l->eval && (l->hooks || !(*hc.webhook_url || *hc.command)))
            snprintf(errstr, errstr_size, "alerts: cannot start their thread");
        sp_hooks_stop(l->hooks, 0, NULL);
        sp_alert_eval_destroy(l->eval);
        sp_rules_free(&l->rules);
        free(l);
        return NULL;
    }
    sp_info("alerts: %zu rule(s) from %s, evaluated every %lld ms", l->rules.n, cfg->alert_rules,
            (long long)cfg->alert_eval_ms);
    return l;
}

void sp_alert_loop_stop(sp_alert_loop *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, 1);
    pthread_join(l->th, NULL);
    if (l->hooks) { /* a few seconds to deliver what is queued, then the last counts */
        sp_hook_stats s;
        sp_hooks_stop(l->hooks, 3000, &s);
        report_hooks(l, s);
    }
    sp_alert_eval_destroy(l->eval);
    sp_rules_free(&l->rules);
    free(l);
}
