/*
 * presence.c - see presence.h. An array of entries and a map from "tenant\x1fagent" to
 * its index; clearing empties both (entries are few: one per agent per flush).
 */
#include "supportpulse/presence.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/hashmap.h"

struct sp_presence_log {
    sp_presence *e;
    size_t n, cap;
    sp_strmap *index;
};

const char *sp_agent_status_name(sp_agent_status s)
{
    static const char *const n[] = {"", "available", "busy", "away", "offline"};
    return (unsigned)s < 5 ? n[s] : "";
}

int sp_presence_newer(int64_t a_ts, sp_agent_status a, int64_t b_ts, sp_agent_status b)
{
    if (a_ts != b_ts)
        return a_ts > b_ts;
    return strcmp(sp_agent_status_name(a), sp_agent_status_name(b)) > 0;
}

sp_presence_log *sp_presence_log_new(void)
{
    sp_presence_log *l = calloc(1, sizeof *l);
    if (l && !(l->index = sp_strmap_new(64))) {
        free(l);
        return NULL;
    }
    return l;
}

void sp_presence_log_destroy(sp_presence_log *l)
{
    if (!l)
        return;
    sp_strmap_destroy(l->index);
    free(l->e);
    free(l);
}

static sp_presence *slot(sp_presence_log *l, const char *key, size_t klen, int *fresh)
{
    uint32_t idx;
    *fresh = 0;
    if (sp_strmap_get(l->index, key, klen, &idx))
        return &l->e[idx];
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        sp_presence *e = realloc(l->e, cap * sizeof *e);
        if (!e)
            return NULL;
        l->e = e;
        l->cap = cap;
    }
    if (sp_strmap_put(l->index, key, klen, (uint32_t)l->n) < 0)
        return NULL;
    *fresh = 1;
    return &l->e[l->n++];
}

/* The map key of an agent: "tenant\x1fagent". */
static size_t agent_key(const char *tenant, const char *agent, char *key, size_t size)
{
    return (size_t)snprintf(key, size, "%s\x1f%s", tenant, agent);
}

int sp_presence_log_add(sp_presence_log *l, const sp_event *ev)
{
    char key[2 * SP_NAME_MAX + 2];
    int fresh;
    sp_presence *p = slot(l, key, agent_key(ev->tenant, ev->agent_id, key, sizeof key), &fresh);
    if (!p)
        return -1;
    if (!fresh && !sp_presence_newer(ev->ts_ms, ev->status, p->ts_ms, p->status))
        return 0;
    p->ts_ms = ev->ts_ms;
    p->status = ev->status;
    p->nqueues = ev->nqueues;
    memcpy(p->tenant, ev->tenant, sizeof p->tenant);
    memcpy(p->agent, ev->agent_id, sizeof p->agent);
    memcpy(p->queues, ev->queues, sizeof p->queues);
    return 0;
}

int sp_presence_log_put(sp_presence_log *l, const sp_presence *e)
{
    char key[2 * SP_NAME_MAX + 2];
    int fresh;
    sp_presence *p = slot(l, key, agent_key(e->tenant, e->agent, key, sizeof key), &fresh);
    if (!p)
        return -1;
    if (fresh || sp_presence_newer(e->ts_ms, e->status, p->ts_ms, p->status))
        *p = *e;
    return 0;
}

const sp_presence *sp_presence_list(const sp_presence_log *l, size_t *n)
{
    *n = l->n;
    return l->e;
}

void sp_presence_log_clear(sp_presence_log *l)
{
    char key[2 * SP_NAME_MAX + 2];
    for (size_t i = 0; i < l->n; i++)
        sp_strmap_del(l->index, key, agent_key(l->e[i].tenant, l->e[i].agent, key, sizeof key));
    l->n = 0;
}
