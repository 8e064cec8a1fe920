/*
 * hooks.c - the hook queues (see hooks.h). One lane per configured hook: a ring of
 * JSON strings under a mutex and condition variable, and a worker thread that takes
 * the oldest entry, delivers it (webhook.c, command_hook.c) with retries and backoff,
 * and counts the outcome. The mutex is held only to push or pop a pointer; the alert
 * loop that submits is its only other user (the event path never touches it).
 *
 * Ownership: a queued string belongs to the lane until the worker frees it.
 */
#include "supportpulse/hooks.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "supportpulse/clock.h"
#include "supportpulse/log.h"

enum { LANE_WEBHOOK, LANE_COMMAND, NLANES };

typedef struct {
    struct sp_hooks *h;
    int kind;
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* work arrived, a delivery ended, or stop */
    char **q;
    size_t cap, head, n;
    int busy, stop, started;
    pthread_t th;
} lane;

struct sp_hooks {
    sp_hooks_conf conf;
    char *url, *header, *command;
    char url_shown[300];   /* scheme://host:port, for the log: no credentials, no token */
    lane lanes[NLANES];
    _Atomic uint64_t sent, failed, retries, wdropped, cmd_ok, cmd_failed, cdropped;
};

void sp_hooks_conf_defaults(sp_hooks_conf *c)
{
    memset(c, 0, sizeof *c);
    c->webhook_timeout_ms = 5000;
    c->webhook_retries = 5;
    c->backoff_ms = 1000;
    c->max_backoff_ms = 60000;
    c->command_timeout_ms = 10000;
    c->queue_max = 1000;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Sleeps ms unless the lane is stopped first. Called with l->mu held. */
static void nap_locked(lane *l, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu, &until) == 0) {
    }
}

static void deliver_webhook(lane *l, CURL *curl, const char *json)
{
    sp_hooks *h = l->h;
    int64_t backoff = h->conf.backoff_ms;
    for (int64_t attempt = 0;; attempt++) {
        char why[256] = "cannot create a curl handle";
        sp_hook_result r = curl ? sp_webhook_post(curl, &h->conf, json, why, sizeof why)
                                : SP_HOOK_RETRY;
        if (r == SP_HOOK_OK) {
            atomic_fetch_add(&h->sent, 1);
            return;
        }
        pthread_mutex_lock(&l->mu);
        int stopping = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (r == SP_HOOK_FAILED || attempt >= h->conf.webhook_retries || stopping) {
            atomic_fetch_add(&h->failed, 1);
            sp_warn("alert webhook %s: %s; gave up after %lld attempt(s)", h->url_shown, why,
                    (long long)attempt + 1);
            return;
        }
        atomic_fetch_add(&h->retries, 1);
        if (attempt == 0)
            sp_warn("alert webhook %s: %s; retrying", h->url_shown, why);
        pthread_mutex_lock(&l->mu);
        nap_locked(l, backoff);
        pthread_mutex_unlock(&l->mu);
        backoff = backoff * 2 > h->conf.max_backoff_ms ? h->conf.max_backoff_ms : backoff * 2;
    }
}

static void deliver_command(lane *l, const char *json)
{
    char why[256] = "";
    if (sp_command_run(&l->h->conf, json, why, sizeof why) == SP_HOOK_OK) {
        atomic_fetch_add(&l->h->cmd_ok, 1);
        return;
    }
    atomic_fetch_add(&l->h->cmd_failed, 1);
    sp_warn("alert command: %s", why);
}

static void *lane_main(void *arg)
{
    lane *l = arg;
    CURL *curl = NULL;
    if (l->kind == LANE_WEBHOOK)
        curl = curl_easy_init();
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->n == 0)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->stop)
            break;
        char *json = l->q[l->head];
        l->head = (l->head + 1) % l->cap;
        l->n--;
        l->busy = 1;
        pthread_mutex_unlock(&l->mu);
        if (l->kind == LANE_WEBHOOK)
            deliver_webhook(l, curl, json);
        else
            deliver_command(l, json);
        free(json);
        pthread_mutex_lock(&l->mu);
        l->busy = 0;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (curl)
        curl_easy_cleanup(curl);
    return NULL;
}

static int lane_start(sp_hooks *h, int kind)
{
    lane *l = &h->lanes[kind];
    l->h = h;
    l->kind = kind;
    l->cap = (size_t)h->conf.queue_max;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = !(l->q = calloc(l->cap, sizeof *l->q)) || pthread_mutex_init(&l->mu, NULL) != 0 ||
             pthread_cond_init(&l->cv, &ca) != 0 || pthread_create(&l->th, NULL, lane_main, l) != 0;
    pthread_condattr_destroy(&ca);
    l->started = !rc;
    return rc ? -1 : 0;
}

static char *dup_or_null(const char *s) { return s && *s ? strdup(s) : NULL; }

sp_hooks *sp_hooks_start(const sp_hooks_conf *conf, char *errstr, size_t errstr_size)
{
    sp_hooks *h = calloc(1, sizeof *h);
    if (!h)
        goto nomem;
    h->conf = *conf;
    h->url = dup_or_null(conf->webhook_url);
    h->header = dup_or_null(conf->webhook_header);
    h->command = dup_or_null(conf->command);
    if ((conf->webhook_url && *conf->webhook_url && !h->url) ||
        (conf->webhook_header && *conf->webhook_header && !h->header) ||
        (conf->command && *conf->command && !h->command))
        goto nomem;
    h->conf.webhook_url = h->url;
    if (h->url)
        sp_webhook_url_shown(h->url, h->url_shown, sizeof h->url_shown);
    h->conf.webhook_header = h->header;
    h->conf.command = h->command;
    if (h->conf.queue_max < 1)
        h->conf.queue_max = 1;
    pthread_once(&curl_once, init_curl);
    if ((h->url && lane_start(h, LANE_WEBHOOK) < 0) ||
        (h->command && lane_start(h, LANE_COMMAND) < 0)) {
        snprintf(errstr, errstr_size, "alert hooks: cannot start a worker thread");
        sp_hooks_stop(h, 0, NULL);
        return NULL;
    }
    return h;
nomem:
    snprintf(errstr, errstr_size, "alert hooks: out of memory");
    sp_hooks_stop(h, 0, NULL);
    return NULL;
}

static void lane_push(lane *l, const char *json, _Atomic uint64_t *dropped)
{
    char *copy = strdup(json);
    if (!copy) {
        atomic_fetch_add(dropped, 1);
        return;
    }
    pthread_mutex_lock(&l->mu);
    if (l->n == l->cap) { /* full: the oldest makes room */
        free(l->q[l->head]);
        l->head = (l->head + 1) % l->cap;
        l->n--;
        atomic_fetch_add(dropped, 1);
        sp_warn("alert hook queue full (%zu): dropped the oldest", l->cap);
    }
    l->q[(l->head + l->n) % l->cap] = copy;
    l->n++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

void sp_hooks_submit(sp_hooks *h, const char *json)
{
    if (h->lanes[LANE_WEBHOOK].started)
        lane_push(&h->lanes[LANE_WEBHOOK], json, &h->wdropped);
    if (h->lanes[LANE_COMMAND].started)
        lane_push(&h->lanes[LANE_COMMAND], json, &h->cdropped);
}

void sp_hooks_stats(const sp_hooks *h, sp_hook_stats *o)
{
    sp_hooks *m = (sp_hooks *)h; /* atomics are read-only here */
    o->webhook_sent = atomic_load(&m->sent);
    o->webhook_failed = atomic_load(&m->failed);
    o->webhook_retries = atomic_load(&m->retries);
    o->webhook_dropped = atomic_load(&m->wdropped);
    o->command_ok = atomic_load(&m->cmd_ok);
    o->command_failed = atomic_load(&m->cmd_failed);
    o->command_dropped = atomic_load(&m->cdropped);
}

/* Waits until the lane is idle or the deadline, stops and joins it; what is still
 * queued is dropped and counted. */
static void lane_stop(lane *l, int64_t deadline, _Atomic uint64_t *dropped)
{
    if (!l->started)
        return;
    pthread_mutex_lock(&l->mu);
    while ((l->n || l->busy) && sp_mono_ms() < deadline) {
        pthread_mutex_unlock(&l->mu);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&l->mu);
    }
    l->stop = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->th, NULL);
    if (l->n)
        sp_warn("alert hook: %zu notification(s) not delivered at shutdown", l->n);
    for (; l->n; l->n--, l->head = (l->head + 1) % l->cap) {
        free(l->q[l->head]);
        atomic_fetch_add(dropped, 1);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

void sp_hooks_stop(sp_hooks *h, int64_t drain_ms, sp_hook_stats *final)
{
    if (!h)
        return;
    int64_t deadline = sp_mono_ms() + drain_ms;
    lane_stop(&h->lanes[LANE_WEBHOOK], deadline, &h->wdropped);
    lane_stop(&h->lanes[LANE_COMMAND], deadline, &h->cdropped);
    if (final)
        sp_hooks_stats(h, final);
    for (int i = 0; i < NLANES; i++)
        free(h->lanes[i].q);
    free(h->url);
    free(h->header);
    free(h->command);
    free(h);
}
