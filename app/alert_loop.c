/*
 * alert_loop.c - see alert_loop.h.
 */
#include "supportpulse/alert_loop.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/alert_eval.h"
#include "supportpulse/hooks.h"
#include "supportpulse/log.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_keys.h"
#include "supportpulse/ticker.h"

struct sp_alert_loop {
    const sp_config *cfg;
    sp_rules rules;
    sp_alert_eval *eval;
    sp_hooks *hooks;
    sp_hook_stats reported;   /* what {p}:alerts:hooks has of this instance */
    sp_ticker *ticker;
    sp_zones *zones;          /* the evaluator's: where each dims' day starts */
};

static void notify(void *arg, const sp_alert_notice *n)
{
    sp_alert_loop *l = arg;
    sp_info("alert %s %s on %s: %s", n->rule_name, n->state, n->dims, n->message);
    if (l->hooks)
        sp_hooks_submit(l->hooks, n->json);
}

static const struct {
    const char *name;
    size_t off;
} hook_counters[] = {
    {"webhook_sent", offsetof(sp_hook_stats, webhook_sent)},
    {"webhook_failed", offsetof(sp_hook_stats, webhook_failed)},
    {"webhook_retries", offsetof(sp_hook_stats, webhook_retries)},
    {"webhook_dropped", offsetof(sp_hook_stats, webhook_dropped)},
    {"command_ok", offsetof(sp_hook_stats, command_ok)},
    {"command_failed", offsetof(sp_hook_stats, command_failed)},
    {"command_dropped", offsetof(sp_hook_stats, command_dropped)},
};

static uint64_t counter(const sp_hook_stats *s, size_t i)
{
    uint64_t v;
    memcpy(&v, (const char *)s + hook_counters[i].off, sizeof v);
    return v;
}

/* Adds the hooks' counters s, less what was reported before, to {p}:alerts:hooks. */
static void report_hooks(sp_alert_loop *l, sp_hook_stats s)
{
    if (!memcmp(&s, &l->reported, sizeof s))
        return;
    const sp_config *c = l->cfg;
    char key[SP_KEY_MAX], why[512];
    sp_redis *rc = sp_redis_new(c->redis, (int)c->redis_timeout_ms, (int)c->redis_timeout_ms);
    sp_redis_tls_conf tls = sp_config_redis_tls(c);
    int ok = rc && sp_redis_set_auth(rc, c->redis_user, c->redis_password) == 0 &&
             sp_redis_set_tls(rc, &tls, why, sizeof why) == 0 &&
             sp_key_alerts(key, sizeof key, c->prefix, 'h') >= 0;
    for (size_t i = 0; ok && i < sizeof hook_counters / sizeof *hook_counters; i++) {
        uint64_t now = counter(&s, i), was = counter(&l->reported, i);
        if (now == was)
            continue;
        redisReply *r = sp_redis_cmd(rc, why, sizeof why, "HINCRBY %s %s %llu", key,
                                     hook_counters[i].name, (unsigned long long)(now - was));
        ok = r && r->type == REDIS_REPLY_INTEGER;
        freeReplyObject(r);
    }
    sp_redis_destroy(rc);
    if (ok) /* else tried again next tick (a partial report may count some twice) */
        l->reported = s;
}

/* One evaluation, then the hooks' counters. */
static int tick(void *arg, char *errstr, size_t errstr_size)
{
    sp_alert_loop *l = arg;
    if (sp_alert_eval_tick(l->eval, notify, l, errstr, errstr_size) < 0)
        return -1;
    if (l->hooks) {
        sp_hook_stats s;
        sp_hooks_stats(l->hooks, &s);
        report_hooks(l, s);
    }
    return 0;
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
    ec.user = cfg->redis_user;
    ec.password = cfg->redis_password;
    ec.tls = sp_config_redis_tls(cfg);
    ec.prefix = cfg->prefix;
    ec.connect_timeout_ms = ec.command_timeout_ms = (int)cfg->redis_timeout_ms;
    ec.stream_max = cfg->alert_stream_max;
    sp_hooks_conf hc;
    hooks_conf(&hc, cfg);
    char why[1024];
    if (!(l->zones = sp_zones_new(cfg->time_zone, cfg->tenant_time_zones, errstr, errstr_size))) {
        free(l);
        return NULL;
    }
    ec.zones = l->zones;
    if (sp_rules_load(cfg->alert_rules, &l->rules, why, sizeof why) < 0) {
        snprintf(errstr, errstr_size, "alert_rules: %s", why);
        sp_zones_free(l->zones);
        free(l);
        return NULL;
    }
    int want_hooks = *hc.webhook_url || *hc.command;
    if (!(l->eval = sp_alert_eval_new(&ec, &l->rules, errstr, errstr_size)) ||
        (want_hooks && !(l->hooks = sp_hooks_start(&hc, errstr, errstr_size))))
        goto fail;
    if (!(l->ticker = sp_ticker_start("alerts", tick, l, cfg->alert_eval_ms,
                                      cfg->max_backoff_ms))) {
        snprintf(errstr, errstr_size, "alerts: cannot start their thread");
        goto fail;
    }
    sp_info("alerts: %zu rule(s) from %s, evaluated every %lld ms", l->rules.n, cfg->alert_rules,
            (long long)cfg->alert_eval_ms);
    return l;
fail:
    sp_hooks_stop(l->hooks, 0, NULL);
    sp_alert_eval_destroy(l->eval);
    sp_rules_free(&l->rules);
    sp_zones_free(l->zones);
    free(l);
    return NULL;
}

void sp_alert_loop_stop(sp_alert_loop *l)
{
    if (!l)
        return;
    sp_ticker_stop(l->ticker);
    if (l->hooks) { /* a few seconds to deliver what is queued, then the last counts */
        sp_hook_stats s;
        sp_hooks_stop(l->hooks, 3000, &s);
        report_hooks(l, s);
    }
    sp_alert_eval_destroy(l->eval);
    sp_rules_free(&l->rules);
    sp_zones_free(l->zones);
    free(l);
}
