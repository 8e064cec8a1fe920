/*
 * partition.c - see partition.h.
 *
 * Per event: future check -> dedup -> lateness -> attribution (case record) -> the
 * event's dimension ids (cached per tenant/queue/channel combination, so the dims key
 * strings are formatted once per combination, not per event) -> counters in the cell
 * of each dimension set. Nothing here allocates per event once a combination is known.
 */
#include "supportpulse/partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/dedup.h"
#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"

#define MAX_SETS 8 /* all, queue, channel, queue+channel; again with the tenant */

/* Interned names of one kind, with a limit; id 0 is "" (absent). */
typedef struct {
    sp_strmap *map;
    char **str;
    size_t n, cap, limit;
    uint32_t overflow_id; /* id of "other", 0 until first needed */
    uint32_t last_id;     /* the last name looked up: consecutive events often repeat it */
    const char *last_str; /* as the original text (overflowed names map to "other") */
    char last_buf[65];
} names;

typedef struct {
    uint32_t ids[MAX_SETS];
    uint8_t n;
} combo;

struct sp_partition {
    sp_partition_conf conf;
    sp_window_set windows;
    sp_dedup *dedup;
    sp_cases *cases;
    names queues, agents, tenants, dims;
    sp_u64map *combo_index; /* tenant/queue/channel -> combos[] index */
    combo *combos;
    size_t ncombos, capcombos;
    int64_t max_ts;
    int64_t last_case_sweep;
    sp_partition_stats stats;
};

void sp_partition_conf_defaults(sp_partition_conf *c)
{
    c->lateness_ms = 2 * 60 * 1000;
    c->retention_ms = 60 * 60 * 1000;
    c->dedup_horizon_ms = 60 * 60 * 1000;
    c->dedup_capacity = 200000;
    c->max_cases = 500000;
    c->case_max_age_ms = 7LL * 24 * 3600 * 1000;
    c->max_queues = 1000;
    c->max_agents = 20000;
    c->max_future_ms = 24LL * 3600 * 1000;
}

/* ---- names --------------------------------------------------------------------- */

static int names_init(names *n, size_t limit)
{
    memset(n, 0, sizeof *n);
    n->limit = limit;
    n->map = sp_strmap_new(64);
    n->str = calloc(16, sizeof *n->str);
    if (!n->map || !n->str)
        return -1;
    n->cap = 16;
    n->str[0] = strdup("");
    if (!n->str[0])
        return -1;
    n->n = 1;
    return sp_strmap_put(n->map, "", 0, 0);
}

static void names_free(names *n)
{
    sp_strmap_destroy(n->map);
    for (size_t i = 0; i < n->n; i++)
        free(n->str[i]);
    free(n->str);
}

static int names_add(names *n, const char *s, size_t len, uint32_t *id)
{
    if (n->n == n->cap) {
        char **ns = realloc(n->str, n->cap * 2 * sizeof *ns);
        if (!ns)
            return -1;
        n->str = ns;
        n->cap *= 2;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    if (sp_strmap_put(n->map, s, len, (uint32_t)n->n) < 0) {
        free(copy);
        return -1;
    }
    n->str[n->n] = copy;
    *id = (uint32_t)n->n++;
    return 0;
}

/* Returns the id of s, adding it; past the limit returns the id of "other" and sets
 * *overflow. -1 when out of memory. */
static int names_lookup(names *n, const char *s, size_t len, uint32_t *id, int *overflow);

static int names_intern(names *n, const char *s, uint32_t *id, int *overflow)
{
    size_t len = strlen(s);
    if (n->last_str && len < sizeof n->last_buf && memcmp(n->last_buf, s, len + 1) == 0) {
        *id = n->last_id;
        *overflow = n->overflow_id && n->last_id == n->overflow_id && strcmp(s, "other") != 0;
        return 0;
    }
    if (names_lookup(n, s, len, id, overflow) < 0)
        return -1;
    if (len < sizeof n->last_buf) {
        memcpy(n->last_buf, s, len + 1);
        n->last_str = n->last_buf;
        n->last_id = *id;
    }
    return 0;
}

static int names_lookup(names *n, const char *s, size_t len, uint32_t *id, int *overflow)
{
    if (sp_strmap_get(n->map, s, len, id))
        return 0;
    if (n->limit && n->n - 1 >= n->limit) {
        *overflow = 1;
        if (!n->overflow_id && !sp_strmap_get(n->map, "other", 5, &n->overflow_id) &&
            names_add(n, "other", 5, &n->overflow_id) < 0)
            return -1;
        *id = n->overflow_id;
        return 0;
    }
    return names_add(n, s, len, id);
}

/* ---- life cycle ------------------------------------------------------------------ */

sp_partition *sp_partition_new(const sp_partition_conf *conf, char *errstr, size_t errstr_size)
{
    sp_partition *p = calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    p->conf = *conf;
    p->max_ts = INT64_MIN;
    p->last_case_sweep = INT64_MIN;
    sp_window_set_init(&p->windows);
    p->dedup = sp_dedup_new(conf->dedup_capacity, conf->dedup_horizon_ms);
    p->cases = sp_cases_new(conf->max_cases, conf->case_max_age_ms);
    p->combo_index = sp_u64map_new(1u << 24);
    if (!p->dedup || !p->cases || !p->combo_index)
        goto nomem;
    /* +1 leaves room for "other" past the limit */
    if (names_init(&p->queues, conf->max_queues) < 0 ||
        names_init(&p->agents, conf->max_agents) < 0 || names_init(&p->tenants, 1000) < 0 ||
        names_init(&p->dims, 0) < 0)
        goto nomem;
    return p;
nomem:
    snprintf(errstr, errstr_size, "out of memory creating partition state");
    sp_partition_destroy(p);
    return NULL;
}

void sp_partition_destroy(sp_partition *p)
{
    if (!p)
        return;
    sp_window_set_free(&p->windows);
    sp_dedup_destroy(p->dedup);
    sp_cases_destroy(p->cases);
    sp_u64map_destroy(p->combo_index);
    free(p->combos);
    names_free(&p->queues);
    names_free(&p->agents);
    names_free(&p->tenants);
    names_free(&p->dims);
    free(p);
}

/* ---- dimension sets ------------------------------------------------------------- */

static int dims_id(sp_partition *p, const char *tenant, const char *queue, const char *channel,
                   uint32_t *id)
{
    char key[SP_DIMS_MAX];
    if (sp_dims_format(tenant, queue, channel, NULL, key, sizeof key) < 0)
        return -1;
    int overflow = 0;
    return names_intern(&p->dims, key, id, &overflow);
}

static int combo_build(sp_partition *p, uint32_t tenant, uint32_t queue, sp_channel ch,
                       combo *c)
{
    const char *q = p->queues.str[queue];
    /* an event whose case was never seen has no channel: it counts as "unknown", like
     * its queue, so the values of each dimension still add up to `all` */
    const char *chn = ch == SP_CH_NONE ? "unknown" : sp_channel_name(ch);
    const char *t = p->tenants.str[tenant];
    int with_tenant = t[0] && strcmp(t, "default") != 0;
    c->n = 0;
    for (int pass = 0; pass <= with_tenant; pass++) {
        const char *tt = pass ? t : NULL;
        if (dims_id(p, tt, NULL, NULL, &c->ids[c->n++]) < 0)
            return -1;
        if (!q[0]) /* agent events: only the totals */
            continue;
        if (dims_id(p, tt, q, NULL, &c->ids[c->n++]) < 0 ||
            dims_id(p, tt, NULL, chn, &c->ids[c->n++]) < 0 ||
            dims_id(p, tt, q, chn, &c->ids[c->n++]) < 0)
            return -1;
    }
    return 0;
}

static const combo *combo_get(sp_partition *p, uint32_t tenant, uint32_t queue, sp_channel ch)
{
    uint64_t key = ((uint64_t)tenant << 40 | (uint64_t)queue << 8 | (uint64_t)ch) + 1;
    uint32_t idx;
    if (sp_u64map_get(p->combo_index, key, &idx))
        return &p->combos[idx];
    if (p->ncombos == p->capcombos) {
        size_t ncap = p->capcombos ? p->capcombos * 2 : 64;
        combo *nc = realloc(p->combos, ncap * sizeof *nc);
        if (!nc)
            return NULL;
        p->combos = nc;
        p->capcombos = ncap;
    }
    combo *c = &p->combos[p->ncombos];
    if (combo_build(p, tenant, queue, ch, c) < 0 ||
        sp_u64map_put(p->combo_index, key, (uint32_t)p->ncombos) < 0)
        return NULL;
    return &p->combos[p->ncombos++];
}

/* ---- attribution ----------------------------------------------------------------- */

typedef struct {
    uint32_t tenant, queue, agent;
    sp_channel channel;
} attribution;

static int intern(sp_partition *p, names *n, const char *s, uint32_t *id)
{
    int overflow = 0;
    if (names_intern(n, s, id, &overflow) < 0)
        return -1;
    if (overflow)
        n == &p->queues ? p->stats.overflow_queue++ : p->stats.overflow_agent++;
    return 0;
}

static int is_case_start(sp_event_type t)
{
    return t == SP_EV_TICKET_CREATED || t == SP_EV_CALL_OFFERED;
}

/* Applies the event's own fields over what the case remembers, then moves the case on
 * a transfer or escalation. The counted attribution is the one before the move. */
static int attribute(sp_partition *p, const sp_event *ev, attribution *a)
{
    sp_case *k = NULL;
    if (ev->case_id[0]) {
        uint64_t key = sp_case_key(ev->case_is_call, ev->case_id, strlen(ev->case_id));
        int survey = ev->type == SP_EV_SURVEY_CSAT || ev->type == SP_EV_SURVEY_NPS;
        k = is_case_start(ev->type) ? NULL : sp_cases_find(p->cases, key);
        if (k)
            sp_cases_touch(p->cases, k, ev->ts_ms);
        else if (!survey && !(k = sp_cases_open(p->cases, key, ev->ts_ms)))
            return -1; /* a start, or a case that started before we saw it */
    }
    int known = k && k->queue;
    a->tenant = 0;
    if (intern(p, &p->tenants, ev->tenant, &a->tenant) < 0)
        return -1;
    if (k && strcmp(ev->tenant, "default") == 0 && k->tenant)
        a->tenant = k->tenant;
    if (ev->queue[0]) {
        if (intern(p, &p->queues, ev->queue, &a->queue) < 0)
            return -1;
    } else if (known) {
        a->queue = k->queue;
    } else if (intern(p, &p->queues, ev->type == SP_EV_AGENT_STATUS ? "" : "unknown",
                      &a->queue) < 0) {
        return -1;
    }
    a->channel = ev->channel ? ev->channel
               : k && k->channel ? (sp_channel)k->channel
               : ev->case_is_call ? SP_CH_PHONE : SP_CH_NONE;
    a->agent = 0;
    if (ev->agent_id[0] && ev->type != SP_EV_AGENT_STATUS &&
        intern(p, &p->agents, ev->agent_id, &a->agent) < 0)
        return -1;
    if (!a->agent && k)
        a->agent = k->agent;
    if (k && ev->type != SP_EV_SURVEY_CSAT && ev->type != SP_EV_SURVEY_NPS) {
        k->tenant = (uint16_t)a->tenant;
        k->queue = a->queue;
        k->channel = (uint8_t)a->channel;
        k->agent = a->agent;
        if (ev->to_queue[0] && intern(p, &p->queues, ev->to_queue, &k->queue) < 0)
            return -1;
    }
    return 0;
}

/* ---- counting -------------------------------------------------------------------- */

static void count(sp_counters *c, const sp_event *ev)
{
    int64_t *v = c->v;
    v[SP_M_EVENTS]++;
    switch (ev->type) {
    case SP_EV_CALL_OFFERED: v[SP_M_OFFERED]++; break;
    case SP_EV_CALL_ANSWERED: v[SP_M_ANSWERED]++; break;
    case SP_EV_CALL_ABANDONED: v[SP_M_ABANDONED]++; break;
    case SP_EV_CALL_TRANSFERRED:
    case SP_EV_TICKET_TRANSFERRED: v[SP_M_TRANSFERRED]++; break;
    case SP_EV_TICKET_CREATED: v[SP_M_CREATED]++; break;
    case SP_EV_TICKET_SOLVED: v[SP_M_SOLVED]++; break;
    case SP_EV_TICKET_REOPENED: v[SP_M_REOPENED]++; break;
    case SP_EV_TICKET_CLOSED: v[SP_M_CLOSED]++; break;
    case SP_EV_TICKET_ESCALATED:
        if (ev->from == SP_FROM_BOT)
            v[SP_M_ESCALATED_BOT]++;
        break;
    case SP_EV_SURVEY_CSAT:
        v[SP_M_CSAT_RESPONSES]++;
        v[SP_M_CSAT_POSITIVE] += ev->score >= 4;
        v[SP_M_CSAT_SCORE_SUM] += ev->score;
        break;
    case SP_EV_SURVEY_NPS:
        v[SP_M_NPS_RESPONSES]++;
        v[SP_M_NPS_PROMOTERS] += ev->score >= 9;
        v[SP_M_NPS_DETRACTORS] += ev->score <= 6;
        break;
    default: break;
    }
}

static int is_late(const sp_partition *p, int64_t ts_ms)
{
    if (p->max_ts == INT64_MIN)
        return 0;
    int64_t end_ms = (sp_window_start_of(ts_ms) + SP_WINDOW_S) * 1000;
    return end_ms + p->conf.retention_ms <= sp_partition_watermark(p);
}

sp_apply_result sp_partition_apply(sp_partition *p, const sp_event *ev, int64_t now_wall_ms,
                                   sp_reject_reason *reason, char *errstr, size_t errstr_size)
{
    if (p->conf.max_future_ms > 0 && ev->ts_ms > now_wall_ms + p->conf.max_future_ms) {
        *reason = SP_REJ_BAD_TS;
        snprintf(errstr, errstr_size, "field 'ts' is more than %lld s in the future",
                 (long long)(p->conf.max_future_ms / 1000));
        p->stats.rejected++;
        return SP_APPLY_REJECT;
    }
    if (sp_dedup_check(p->dedup, ev->id, strlen(ev->id), ev->ts_ms)) {
        p->stats.duplicates++;
        return SP_APPLY_DUPLICATE;
    }
    if (is_late(p, ev->ts_ms)) {
        p->stats.late++;
        return SP_APPLY_LATE;
    }
    if (ev->ts_ms > p->max_ts)
        p->max_ts = ev->ts_ms;
    attribution a;
    const combo *cb;
    sp_window *w;
    if (attribute(p, ev, &a) < 0 || !(cb = combo_get(p, a.tenant, a.queue, a.channel)) ||
        !(w = sp_window_get(&p->windows, sp_window_start_of(ev->ts_ms))))
        goto nomem;
    for (int i = 0; i < cb->n; i++) {
        sp_counters *c = sp_window_cell(w, cb->ids[i]);
        if (!c)
            goto nomem;
        count(c, ev);
    }
    p->stats.applied++;
    return SP_APPLY_OK;
nomem:
    snprintf(errstr, errstr_size, "out of memory applying event");
    return SP_APPLY_NOMEM;
}

/* ---- accessors, publish and restore ---------------------------------------------- */

int64_t sp_partition_max_ts(const sp_partition *p) { return p->max_ts; }

int64_t sp_partition_watermark(const sp_partition *p)
{
    return p->max_ts == INT64_MIN ? INT64_MIN : p->max_ts - p->conf.lateness_ms;
}

const sp_partition_stats *sp_partition_get_stats(const sp_partition *p) { return &p->stats; }
sp_window_set *sp_partition_windows(sp_partition *p) { return &p->windows; }
sp_cases *sp_partition_cases(sp_partition *p) { return p->cases; }

const char *sp_partition_dims_key(const sp_partition *p, uint32_t dims_id)
{
    return dims_id < p->dims.n ? p->dims.str[dims_id] : "";
}

const char *sp_partition_name(const sp_partition *p, sp_name_kind kind, uint32_t id)
{
    const names *n = kind == SP_NAME_QUEUE ? &p->queues
                   : kind == SP_NAME_AGENT ? &p->agents : &p->tenants;
    return id < n->n ? n->str[id] : "";
}

void sp_partition_published(sp_partition *p, int64_t watermark_ms)
{
    sp_window_mark_clean(&p->windows);
    sp_cases_mark_clean(p->cases);
    int64_t wm = sp_partition_watermark(p);
    if (watermark_ms > wm)
        wm = watermark_ms;
    if (wm != INT64_MIN)
        sp_window_expire(&p->windows, wm / 1000, p->conf.retention_ms / 1000);
    /* sweep old cases at most once a minute of event time */
    if (p->max_ts != INT64_MIN &&
        (p->last_case_sweep == INT64_MIN || p->max_ts - p->last_case_sweep >= 60000)) {
        sp_cases_expire(p->cases, p->max_ts);
        p->last_case_sweep = p->max_ts;
    }
}

int sp_partition_restore_value(sp_partition *p, int64_t start, const char *dims_key,
                               sp_metric metric, int64_t value)
{
    uint32_t id;
    int overflow = 0;
    sp_window *w;
    sp_counters *cell;
    if (names_intern(&p->dims, dims_key, &id, &overflow) < 0 ||
        !(w = sp_window_get(&p->windows, start)) || !(cell = sp_window_cell(w, id)))
        return -1;
    cell->v[metric] = value; /* the caller marks the partition published: pub becomes c */
    return 0;
}

int sp_partition_restore_case(sp_partition *p, uint64_t key, int64_t last_ts,
                              const char *queue, int channel, const char *tenant,
                              const char *agent)
{
    sp_case *k = sp_cases_open(p->cases, key, last_ts);
    uint32_t q = 0, t = 0, a = 0;
    if (!k || (queue[0] && intern(p, &p->queues, queue, &q) < 0) ||
        (tenant[0] && intern(p, &p->tenants, tenant, &t) < 0) ||
        (agent[0] && intern(p, &p->agents, agent, &a) < 0))
        return -1;
    k->queue = q;
    k->tenant = (uint16_t)t;
    k->agent = a;
    k->channel = (uint8_t)channel;
    return 0;
}

void sp_partition_restore_max_ts(sp_partition *p, int64_t max_ts)
{
    if (max_ts > p->max_ts)
        p->max_ts = max_ts;
}
