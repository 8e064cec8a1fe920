/*
 * partition.c - see partition.h.
 *
 * Per event: future check -> dedup -> lateness -> (once a minute of event time: the
 * calls whose wrap-up became overdue, from a heap; once an expiry interval: a scan for
 * cases to leave) -> attribution (case record, or for a case that
 * has left the case store its entry in the attribution store) -> the event's
 * dimension ids (cached per tenant/queue/channel combination, so the dims key strings
 * are formatted once per combination, not per event) -> counters in the cell of each
 * dimension set -> lifecycle (lifecycle.h): completed durations into the cells of the
 * window they belong to, agent cells, and the gauges (calls waiting, open tickets).
 * Nothing here allocates per event once a combination is known.
 */
#include "supportpulse/partition.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/attribution.h"
#include "supportpulse/deadlines.h"
#include "supportpulse/dedup.h"
#include "supportpulse/dims.h"
#include "supportpulse/hashmap.h"
#include "supportpulse/lifecycle.h"

#define MAX_SETS 8 /* all, queue, channel, queue+channel; again with the tenant */

/* Interned names of one kind, with a limit; id 0 is "" (absent). */
typedef struct {
    sp_strmap *map;
    char **str;
    size_t n, cap, limit;
    uint32_t overflow_id; /* id of SP_OVERFLOW_NAME, 0 until first needed */
    uint32_t last_id;     /* the last name looked up: consecutive events often repeat it */
    const char *last_str; /* as the original text (overflowed names map to the bucket) */
    char last_buf[65];
} names;

typedef struct {
    uint32_t ids[MAX_SETS];
    uint8_t n;
} combo;

struct sp_partition {
    sp_partition_conf conf;
    sp_window_set sets[SP_NRES]; /* windows per width: a dims id's cells are in the set of
                                    its class's finest resolution (conf.res) */
    uint8_t *dims_base;          /* per dims id: that resolution */
    uint8_t *dims_class;         /* per dims id: its sp_dims_class */
    size_t dims_base_cap;
    sp_dedup *dedup;
    sp_cases *cases;
    sp_attrs *attrs;         /* cases that left `cases`: who handled them */
    sp_presence_log *presence; /* agent.status since the last publish */
    names queues, agents, tenants, dims;
    sp_u64map *combo_index; /* tenant/queue/channel -> combos[] index */
    combo *combos;
    size_t ncombos, capcombos;
    size_t nreal_combos;     /* combos of a real queue: what max_combos bounds */
    size_t nagent_pairs;     /* (tenant, agent) pairs with a dims id: max_agents bounds */
    sp_u64map *agent_index;  /* tenant/agent -> dims id of agent=X (and tenant) */
    sp_strmap *sl_override, *short_override, *wait_override, *handle_override; /* queue -> ms */
    sp_thresholds *thr;      /* per queue id, filled on first use */
    size_t nthr;
    sp_gauges *gauges;       /* per dims id */
    size_t ngauges;
    sp_u64vec waiting;       /* keys of waiting calls; case.qpos = index + 1 */
    sp_deadlines wrapups;    /* calls waiting for a wrap-up, due when it is overdue */
    sp_deadlines orphans;    /* calls in queue or in conversation, due when orphaned */
    int64_t max_ts;
    int64_t last_case_sweep;
    int64_t last_expiry;     /* newest time at the last scan for cases to leave */
    int64_t expiry_every_ms; /* how often (event time) that scan runs */
    int drop_failed;         /* a dropped case found no memory in the attribution store */
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
    c->max_tenants = 1000;
    c->max_combos = 20000;
    c->max_future_ms = 24LL * 3600 * 1000;
    c->case_grace_ms = 24LL * 3600 * 1000;
    c->max_attributions = 1000000;
    c->attribution_horizon_ms = 7LL * 24 * 3600 * 1000;
    c->sl_ms = 20000;
    c->short_abandon_ms = 5000;
    c->max_wait_ms = c->max_handle_ms = 4LL * 3600 * 1000;
    c->sl_by_queue = c->short_abandon_by_queue = NULL;
    c->max_wait_by_queue = c->max_handle_by_queue = NULL;
    char err[64];
    sp_res_by_class_parse(NULL, &c->res, err, sizeof err); /* the defaults parse */
}

/* ---- per-queue thresholds ---------------------------------------------------------- */

/* Calls fn(queue, len, ms, arg) for each "queue=seconds" item (seconds in lo..hi); -1 on
 * a malformed one. */
static int queue_seconds_each(const char *spec, int64_t lo, int64_t hi, char *errstr,
                              size_t errstr_size,
                              int (*fn)(const char *q, size_t len, int64_t ms, void *arg),
                              void *arg)
{
    for (const char *s = spec ? spec : ""; *s;) {
        const char *comma = strchr(s, ','), *end = comma ? comma : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        char num[32];
        size_t nl = eq ? (size_t)(end - eq - 1) : 0;
        char *stop;
        long long v = 0;
        if (eq && nl > 0 && nl < sizeof num) {
            memcpy(num, eq + 1, nl);
            num[nl] = '\0';
            v = strtoll(num, &stop, 10);
        }
        if (!eq || eq == s || nl == 0 || nl >= sizeof num || *stop || v < lo || v > hi) {
            snprintf(errstr, errstr_size, "'%.*s' must be queue=seconds (%lld..%lld)",
                     (int)(end - s), s, (long long)lo, (long long)hi);
            return -1;
        }
        if (fn && fn(s, (size_t)(eq - s), v * 1000, arg) < 0) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        s = comma ? comma + 1 : end;
    }
    return 0;
}

int sp_queue_seconds_check(const char *spec, char *errstr, size_t errstr_size)
{
    return queue_seconds_each(spec, 0, 86400, errstr, errstr_size, NULL, NULL);
}

int sp_queue_seconds_check_range(const char *spec, int64_t lo, int64_t hi, char *errstr,
                                 size_t errstr_size)
{
    return queue_seconds_each(spec, lo, hi, errstr, errstr_size, NULL, NULL);
}

typedef struct {
    const char *queue;
    int64_t ms;
} lookup_arg;

static int match_queue(const char *q, size_t len, int64_t ms, void *arg)
{
    lookup_arg *l = arg;
    if (strlen(l->queue) == len && memcmp(q, l->queue, len) == 0)
        l->ms = ms;
    return 0;
}

int64_t sp_queue_seconds_lookup(const char *spec, const char *queue, int64_t def_s)
{
    char why[160];
    lookup_arg l = {queue, def_s * 1000};
    if (queue_seconds_each(spec, 0, INT64_MAX / 1000, why, sizeof why, match_queue, &l) < 0)
        return def_s;
    return l.ms / 1000;
}

static int put_override(const char *q, size_t len, int64_t ms, void *arg)
{
    return sp_strmap_put(arg, q, len, (uint32_t)ms);
}

static const sp_thresholds *thresholds(sp_partition *p, uint32_t queue, const char *name)
{
    if (queue >= p->nthr) {
        size_t n = p->nthr ? p->nthr : 16;
        while (n <= queue)
            n *= 2;
        sp_thresholds *t = realloc(p->thr, n * sizeof *t);
        if (!t)
            return NULL;
        for (size_t i = p->nthr; i < n; i++)
            t[i].sl_ms = -1; /* not looked up yet */
        p->thr = t;
        p->nthr = n;
    }
    sp_thresholds *t = &p->thr[queue];
    if (t->sl_ms < 0) {
        uint32_t ms;
        size_t len = strlen(name);
        t->sl_ms = sp_strmap_get(p->sl_override, name, len, &ms) ? ms : p->conf.sl_ms;
        t->short_abandon_ms = sp_strmap_get(p->short_override, name, len, &ms)
                                  ? ms : p->conf.short_abandon_ms;
        t->max_wait_ms = sp_strmap_get(p->wait_override, name, len, &ms) ? ms : p->conf.max_wait_ms;
        t->max_handle_ms = sp_strmap_get(p->handle_override, name, len, &ms)
                               ? ms : p->conf.max_handle_ms;
    }
    return t;
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

/* Returns the id of s, adding it; past the limit returns the id of the overflow bucket
 * (SP_OVERFLOW_NAME) and sets *overflow. -1 when out of memory. */
static int names_lookup(names *n, const char *s, size_t len, uint32_t *id, int *overflow);
static int names_overflow(names *n, uint32_t *id);

static int names_intern(names *n, const char *s, uint32_t *id, int *overflow)
{
    size_t len = strlen(s);
    if (n->last_str && len < sizeof n->last_buf && memcmp(n->last_buf, s, len + 1) == 0) {
        *id = n->last_id;
        /* the bucket's own name comes only from a restore: not an overflow */
        *overflow = n->overflow_id && n->last_id == n->overflow_id &&
                    strcmp(s, SP_OVERFLOW_NAME) != 0;
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
    if (len == sizeof SP_OVERFLOW_NAME - 1 && memcmp(s, SP_OVERFLOW_NAME, len) == 0)
        return names_overflow(n, id); /* the bucket itself (a restore): not an overflow */
    if (n->limit && n->n - 1 - (n->overflow_id != 0) >= n->limit) {
        *overflow = 1; /* the decoder rejects the bucket's own name */
        if (names_overflow(n, id) < 0)
            return -1;
        return 0;
    }
    return names_add(n, s, len, id);
}

/* The id of the table's overflow bucket, added when first needed. */
static int names_overflow(names *n, uint32_t *id)
{
    if (!n->overflow_id &&
        names_add(n, SP_OVERFLOW_NAME, sizeof SP_OVERFLOW_NAME - 1, &n->overflow_id) < 0)
        return -1;
    *id = n->overflow_id;
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------ */

static void case_dropped(sp_case *k, void *arg);

sp_partition *sp_partition_new(const sp_partition_conf *conf, char *errstr, size_t errstr_size)
{
    sp_partition *p = calloc(1, sizeof *p);
    if (!p)
        goto nomem;
    p->conf = *conf;
    p->max_ts = INT64_MIN;
    p->last_case_sweep = p->last_expiry = INT64_MIN;
    p->expiry_every_ms = sp_partition_expiry_interval(conf);
    for (int r = 0; r < SP_NRES; r++)
        sp_window_set_init(&p->sets[r], sp_res_seconds[r]);
    int any = 0;
    for (int c = 0; c < SP_DC__COUNT; c++)
        any |= conf->res.mask[c];
    if (!any && sp_res_by_class_parse(NULL, &p->conf.res, errstr, errstr_size) < 0) {
        sp_partition_destroy(p);
        return NULL;
    }
    p->conf.sl_by_queue = p->conf.short_abandon_by_queue = NULL; /* not ours: parsed below */
    p->conf.max_wait_by_queue = p->conf.max_handle_by_queue = NULL;
    p->dedup = sp_dedup_new(conf->dedup_capacity, conf->dedup_horizon_ms);
    p->cases = sp_cases_new(conf->max_cases, conf->case_max_age_ms, conf->case_grace_ms);
    p->attrs = sp_attrs_new(conf->max_attributions, conf->attribution_horizon_ms);
    p->combo_index = sp_u64map_new(1u << 24);
    /* grow with what they hold: max_agents (+ the overflow bucket) per tenant seen, combos per
     * tenant, queue and channel; the caps only stop a runaway */
    p->agent_index = sp_u64map_new(1u << 24);
    p->sl_override = sp_strmap_new(16);
    p->short_override = sp_strmap_new(16);
    p->wait_override = sp_strmap_new(16);
    p->handle_override = sp_strmap_new(16);
    p->presence = sp_presence_log_new();
    if (!p->dedup || !p->cases || !p->attrs || !p->combo_index || !p->agent_index ||
        !p->sl_override || !p->short_override || !p->wait_override || !p->handle_override ||
        !p->presence)
        goto nomem;
    sp_cases_on_drop(p->cases, case_dropped, p);
    if (queue_seconds_each(conf->sl_by_queue, 0, 86400, errstr, errstr_size, put_override,
                           p->sl_override) < 0 ||
        queue_seconds_each(conf->short_abandon_by_queue, 0, 86400, errstr, errstr_size,
                           put_override, p->short_override) < 0 ||
        queue_seconds_each(conf->max_wait_by_queue, SP_MAX_WAIT_MIN_S, SP_MAX_WAIT_MAX_S,
                           errstr, errstr_size, put_override, p->wait_override) < 0 ||
        queue_seconds_each(conf->max_handle_by_queue, SP_MAX_WAIT_MIN_S, SP_MAX_WAIT_MAX_S,
                           errstr, errstr_size, put_override, p->handle_override) < 0) {
        sp_partition_destroy(p);
        return NULL;
    }
    /* the overflow bucket comes on top of each limit */
    if (names_init(&p->queues, conf->max_queues) < 0 ||
        names_init(&p->agents, conf->max_agents) < 0 ||
        names_init(&p->tenants, conf->max_tenants) < 0 ||
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
    for (int r = 0; r < SP_NRES; r++)
        sp_window_set_free(&p->sets[r]);
    free(p->dims_base);
    free(p->dims_class);
    sp_dedup_destroy(p->dedup);
    sp_cases_destroy(p->cases);
    sp_attrs_destroy(p->attrs);
    sp_u64map_destroy(p->combo_index);
    sp_u64map_destroy(p->agent_index);
    sp_strmap_destroy(p->sl_override);
    sp_strmap_destroy(p->short_override);
    sp_strmap_destroy(p->wait_override);
    sp_strmap_destroy(p->handle_override);
    sp_presence_log_destroy(p->presence);
    free(p->thr);
    free(p->gauges);
    sp_u64vec_free(&p->waiting);
    sp_deadlines_free(&p->wrapups);
    sp_deadlines_free(&p->orphans);
    free(p->combos);
    names_free(&p->queues);
    names_free(&p->agents);
    names_free(&p->tenants);
    names_free(&p->dims);
    free(p);
}

/* ---- dimension sets ------------------------------------------------------------- */

/* Records the window width of a dims id (its class's finest resolution). */
static int note_base(sp_partition *p, uint32_t id, sp_dims_class c)
{
    if (id >= p->dims_base_cap) {
        size_t n = p->dims_base_cap ? p->dims_base_cap : 64;
        while (n <= id)
            n *= 2;
        uint8_t *b = realloc(p->dims_base, n);
        if (b)
            p->dims_base = b;
        uint8_t *k = b ? realloc(p->dims_class, n) : NULL;
        if (!k)
            return -1;
        p->dims_class = k;
        p->dims_base_cap = n;
    }
    p->dims_base[id] = (uint8_t)sp_res_base(&p->conf.res, c);
    p->dims_class[id] = (uint8_t)c;
    return 0;
}

/* The id of a dims key, interned, with its window width noted. */
static int dims_intern(sp_partition *p, const char *key, uint32_t *id)
{
    int overflow = 0;
    if (names_intern(&p->dims, key, id, &overflow) < 0)
        return -1;
    return note_base(p, *id, sp_dims_class_of(key));
}

static int dims_id(sp_partition *p, const char *tenant, const char *queue, const char *channel,
                   uint32_t *id)
{
    char key[SP_DIMS_MAX];
    if (sp_dims_format(tenant, queue, channel, NULL, key, sizeof key) < 0)
        return -1;
    return dims_intern(p, key, id);
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

/* The combination of an event's tenant, queue and channel: its dims ids. Past
 * max_combos a new combination takes queue SP_OVERFLOW_NAME instead (those combinations
 * are at most tenants x channels more), and *overflowed is set when not NULL. The
 * pointer stays valid until the next new combination is built. */
static const combo *combo_get(sp_partition *p, uint32_t tenant, uint32_t queue, sp_channel ch,
                              int *overflowed)
{
    uint64_t packed = ((uint64_t)tenant << 40 | (uint64_t)queue << 8 | (uint64_t)ch) + 1;
    uint64_t key = sp_hash_u64(packed);
    uint32_t idx;
    if (sp_u64map_get(p->combo_index, key, &idx))
        return &p->combos[idx];
    int real = queue != 0 && queue != p->queues.overflow_id;
    if (real && p->conf.max_combos && p->nreal_combos >= p->conf.max_combos) {
        uint32_t other;
        if (names_overflow(&p->queues, &other) < 0)
            return NULL;
        if (overflowed)
            *overflowed = 1;
        return combo_get(p, tenant, other, ch, NULL);
    }
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
    p->nreal_combos += real;
    return &p->combos[p->ncombos++];
}

/* ---- attribution ----------------------------------------------------------------- */

typedef struct {
    uint32_t tenant, queue, agent;
    sp_channel channel;
    uint8_t survey; /* SURVEY_* below, for the survey counters */
} attribution;

#define SURVEY_REPEAT  0x1u /* a survey.csat for a case that already had one */
#define SURVEY_UNKNOWN 0x2u /* names a case this partition does not remember */

static int intern(sp_partition *p, names *n, const char *s, uint32_t *id)
{
    int overflow = 0;
    if (names_intern(n, s, id, &overflow) < 0)
        return -1;
    if (overflow)
        n == &p->queues   ? p->stats.overflow_queue++
        : n == &p->agents ? p->stats.overflow_agent++
                          : p->stats.overflow_tenant++;
    return 0;
}

/* An agent.status as the presence log keeps it: its tenant, agent and queues through the
 * names tables, so max_tenants, max_agents and max_queues bound the presence entries and
 * the live hashes they feed (a name past a limit is the overflow bucket, counted). */
static int presence_add(sp_partition *p, const sp_event *ev, const attribution *a)
{
    static _Thread_local sp_event e; /* large: off the stack */
    uint32_t agent;
    if (intern(p, &p->agents, ev->agent_id, &agent) < 0)
        return -1;
    e = *ev;
    snprintf(e.tenant, sizeof e.tenant, "%s", p->tenants.str[a->tenant]);
    snprintf(e.agent_id, sizeof e.agent_id, "%s", p->agents.str[agent]);
    size_t used = 0;
    int n = 0;
    const char *q = ev->queues;
    for (int i = 0; i < ev->nqueues; i++, q += strlen(q) + 1) {
        uint32_t id;
        if (intern(p, &p->queues, q, &id) < 0)
            return -1;
        const char *name = p->queues.str[id];
        int seen = 0;
        for (const char *r = e.queues; r < e.queues + used && !seen; r += strlen(r) + 1)
            seen = strcmp(r, name) == 0;
        size_t len = strlen(name) + 1;
        if (seen || used + len > sizeof e.queues)
            continue;
        memcpy(e.queues + used, name, len);
        used += len;
        n++;
    }
    e.nqueues = n;
    return sp_presence_log_add(p->presence, &e);
}

static int is_case_start(sp_event_type t)
{
    return t == SP_EV_TICKET_CREATED || t == SP_EV_CALL_OFFERED;
}

static int is_survey(sp_event_type t)
{
    return t == SP_EV_SURVEY_CSAT || t == SP_EV_SURVEY_NPS;
}

/* What the attribution store remembers of a case, as a record with no lifecycle. */
static sp_case case_of_attr(const sp_attr *e)
{
    sp_case k = {0};
    k.key = e->key;
    k.last_ts = (int64_t)e->last_min * 60000;
    k.queue = e->queue;
    k.agent = e->agent;
    k.tenant = e->tenant;
    k.channel = e->channel;
    k.flags = (e->flags & SP_ATTR_CSAT_SEEN) ? SP_CASE_CSAT_SEEN : 0;
    return k;
}

/* Notes a survey.csat on its case; 1 when the case already had one. */
static int csat_seen(sp_partition *p, sp_case *k, sp_attr *e)
{
    if (k->flags & SP_CASE_CSAT_SEEN)
        return 1;
    k->flags |= SP_CASE_CSAT_SEEN;
    if (e) {
        e->flags |= SP_ATTR_CSAT_SEEN;
        sp_attrs_mark_fresh(p->attrs, e);
    } else {
        sp_cases_mark_dirty(p->cases, k);
    }
    return 0;
}

/* The case an event names: its live record; else, for a survey, a copy in *tmp of what
 * the attribution store remembers; else, for any other event, a new record, seeded from
 * the attribution store when the case has left the case store. *out is NULL for an
 * event without a case and a survey of a case not remembered. */
static int find_case(sp_partition *p, const sp_event *ev, sp_case *tmp, sp_case **out,
                     attribution *a)
{
    *out = NULL;
    if (!ev->case_id[0])
        return 0;
    uint64_t key = ev->case_key ? ev->case_key
                                : sp_case_key(ev->case_is_call, ev->case_id, strlen(ev->case_id));
    int start = is_case_start(ev->type), survey = is_survey(ev->type);
    sp_case *k = start ? NULL : sp_cases_find(p->cases, key);
    sp_attr *e = start || k ? NULL : sp_attrs_find(p->attrs, key);
    if (k) {
        sp_cases_touch(p->cases, k, ev->ts_ms);
    } else if (survey && e) {
        *tmp = case_of_attr(e);
        k = tmp;
    } else if (survey) {
        a->survey |= SURVEY_UNKNOWN;
        return 0;
    } else {
        sp_case seed = e ? case_of_attr(e) : (sp_case){0};
        if (!(k = sp_cases_open(p->cases, key, ev->ts_ms))) /* may move e: copied first */
            return -1;
        if (seed.key && !k->queue) {
            k->queue = seed.queue;
            k->agent = seed.agent;
            k->tenant = seed.tenant;
            k->channel = seed.channel;
            k->flags |= seed.flags;
        }
    }
    if (ev->type == SP_EV_SURVEY_CSAT && csat_seen(p, k, k == tmp ? e : NULL))
        a->survey |= SURVEY_REPEAT;
    *out = k;
    return 0;
}

/* Applies the event's own fields over what the case remembers, then moves the case on
 * a transfer or escalation. The counted attribution is the one before the move. */
static int attribute(sp_partition *p, const sp_event *ev, attribution *a, sp_case **kout,
                     sp_case *before)
{
    sp_case *k, tmp;
    *kout = NULL;
    a->survey = 0;
    int rc = find_case(p, ev, &tmp, &k, a);
    if (rc < 0 || p->drop_failed) { /* reported once: the caller stops on it */
        p->drop_failed = 0;
        return -1;
    }
    if (k)
        *before = *k;
    int known = k && k->queue;
    if (known || ev->queue[0])
        a->survey &= (uint8_t)~SURVEY_UNKNOWN; /* counted as unknown only if it is */
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
    if (k && !is_survey(ev->type)) {
        k->tenant = (uint16_t)a->tenant;
        k->queue = a->queue;
        k->channel = (uint8_t)a->channel;
        k->agent = a->agent;
        if (ev->to_queue[0] && intern(p, &p->queues, ev->to_queue, &k->queue) < 0)
            return -1;
        *kout = k;
    }
    return 0;
}

/* ---- agent dimension sets ---------------------------------------------------------- */

/* The dims id of agent=X (with_tenant: tenant=T|agent=X). Past max_agents pairs of
 * tenant and agent, a new pair is the tenant's agent SP_OVERFLOW_NAME (*overflowed set). */
static int agent_dims_id(sp_partition *p, uint32_t tenant, uint32_t agent, int with_tenant,
                         uint32_t *id, int *overflowed)
{
    uint64_t packed = ((uint64_t)with_tenant << 62 | (uint64_t)tenant << 32 | agent) + 1;
    uint64_t key = sp_hash_u64(packed);
    if (sp_u64map_get(p->agent_index, key, id))
        return 0;
    int real = agent != p->agents.overflow_id;
    if (real && !with_tenant && p->conf.max_agents && p->nagent_pairs >= p->conf.max_agents) {
        uint32_t other;
        if (names_overflow(&p->agents, &other) < 0)
            return -1;
        *overflowed = 1;
        return agent_dims_id(p, tenant, other, with_tenant, id, overflowed);
    }
    char k[SP_DIMS_MAX];
    if (sp_dims_format(with_tenant ? p->tenants.str[tenant] : NULL, NULL, NULL,
                       p->agents.str[agent], k, sizeof k) < 0 ||
        dims_intern(p, k, id) < 0 || sp_u64map_put(p->agent_index, key, *id) < 0)
        return -1;
    p->nagent_pairs += real && !with_tenant;
    return 0;
}

/* The dims ids of agent=X (and tenant=T|agent=X for a tenant other than default). A pair
 * past max_agents counts both under the overflow agent. */
static int agent_dims(sp_partition *p, const attribution *a, uint32_t ids[2])
{
    if (!a->agent)
        return 0;
    const char *t = p->tenants.str[a->tenant];
    int with_tenant = t[0] && strcmp(t, "default") != 0, over = 0;
    uint32_t agent = a->agent;
    if (agent_dims_id(p, a->tenant, agent, 0, &ids[0], &over) < 0)
        return -1;
    if (over && names_overflow(&p->agents, &agent) < 0)
        return -1;
    if (with_tenant && agent_dims_id(p, a->tenant, agent, 1, &ids[1], &over) < 0)
        return -1;
    p->stats.overflow_agent += (uint64_t)over;
    return 1 + with_tenant;
}

/* ---- gauges and waiting calls ------------------------------------------------------ */

static int gauges_ensure(sp_partition *p)
{
    size_t n = p->dims.n;
    if (n <= p->ngauges)
        return 0;
    size_t ncap = p->ngauges ? p->ngauges : 64;
    while (ncap < n)
        ncap *= 2;
    sp_gauges *g = realloc(p->gauges, ncap * sizeof *g);
    if (!g)
        return -1;
    for (size_t i = p->ngauges; i < ncap; i++)
        g[i] = (sp_gauges){{0}, {0}, INT64_MAX, INT64_MAX};
    p->gauges = g;
    p->ngauges = ncap;
    return 0;
}

/* Adds (sign 1) or removes (-1) a case's share of the in_queue and backlog gauges. */
static int gauge_case(sp_partition *p, const sp_case *k, int sign)
{
    int waiting = (k->flags & SP_CASE_WAITING) != 0, open = (k->flags & SP_CASE_OPEN) != 0;
    if (!waiting && !open)
        return 0;
    const combo *cb = combo_get(p, k->tenant, k->queue, (sp_channel)k->channel, NULL);
    if (!cb || gauges_ensure(p) < 0)
        return -1;
    for (int i = 0; i < cb->n; i++) {
        p->gauges[cb->ids[i]].v[SP_G_IN_QUEUE] += sign * waiting;
        p->gauges[cb->ids[i]].v[SP_G_BACKLOG] += sign * open;
    }
    return 0;
}

static int waiting_add(sp_partition *p, sp_case *k)
{
    if (k->qpos)
        return 0;
    if (sp_u64vec_push(&p->waiting, k->key) < 0)
        return -1;
    k->qpos = (uint32_t)p->waiting.n;
    return 0;
}

static void waiting_remove(sp_partition *p, sp_case *k)
{
    if (!k->qpos)
        return;
    size_t i = k->qpos - 1;
    uint64_t last = p->waiting.v[--p->waiting.n];
    if (i < p->waiting.n) {
        p->waiting.v[i] = last;
        sp_case *m = sp_cases_find(p->cases, last);
        if (m)
            m->qpos = (uint32_t)i + 1;
    }
    k->qpos = 0;
}

static int gauges_update(sp_partition *p, const sp_case *before, sp_case *k)
{
    const unsigned mask = SP_CASE_WAITING | SP_CASE_OPEN;
    int moved = before->tenant != k->tenant || before->queue != k->queue ||
                before->channel != k->channel;
    if (!((before->flags | k->flags) & mask) ||
        (!moved && (before->flags & mask) == (k->flags & mask)))
        return 0;
    if (gauge_case(p, before, -1) < 0 || gauge_case(p, k, 1) < 0)
        return -1;
    if (k->flags & SP_CASE_WAITING)
        return waiting_add(p, k);
    waiting_remove(p, k);
    return 0;
}

/* A case leaves the case store: its gauges go, and who handled it is remembered in the
 * attribution store for the surveys still to come. */
static void case_dropped(sp_case *k, void *arg)
{
    sp_partition *p = arg;
    gauge_case(p, k, -1); /* combos of a known case exist: cannot fail */
    waiting_remove(p, k);
    if (!k->queue)
        return; /* nothing known worth keeping */
    sp_attr e = {.key = k->key, .queue = k->queue, .agent = k->agent,
                 .last_min = (uint32_t)(k->last_ts / 60000), .tenant = k->tenant,
                 .channel = k->channel,
                 .flags = (k->flags & SP_CASE_CSAT_SEEN) ? SP_ATTR_CSAT_SEEN : 0};
    if (sp_attrs_put(p->attrs, &e) < 0)
        p->drop_failed = 1;
}

sp_gauges *sp_partition_gauges(sp_partition *p, size_t *n)
{
    if (gauges_ensure(p) < 0) {
        *n = 0;
        return NULL;
    }
    for (size_t i = 0; i < p->ngauges; i++)
        p->gauges[i].oldest_ts = INT64_MAX;
    for (size_t w = 0; w < p->waiting.n; w++) {
        sp_case *k = sp_cases_find(p->cases, p->waiting.v[w]);
        const combo *cb = k ? combo_get(p, k->tenant, k->queue, (sp_channel)k->channel, NULL) : NULL;
        for (int i = 0; cb && i < cb->n; i++)
            if (cb->ids[i] < p->ngauges && k->start_ts < p->gauges[cb->ids[i]].oldest_ts)
                p->gauges[cb->ids[i]].oldest_ts = k->start_ts;
    }
    *n = p->dims.n < p->ngauges ? p->dims.n : p->ngauges;
    return p->gauges;
}

/* ---- counting -------------------------------------------------------------------- */

static void count(sp_counters *c, const sp_event *ev, const attribution *a)
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
        v[SP_M_CSAT_NEGATIVE] += ev->score <= 2;
        v[SP_M_CSAT_REPEAT] += (a->survey & SURVEY_REPEAT) != 0;
        v[SP_M_SURVEYS_UNKNOWN_CASE] += (a->survey & SURVEY_UNKNOWN) != 0;
        break;
    case SP_EV_SURVEY_NPS:
        v[SP_M_NPS_RESPONSES]++;
        v[SP_M_NPS_PROMOTERS] += ev->score >= 9;
        v[SP_M_NPS_DETRACTORS] += ev->score <= 6;
        v[SP_M_SURVEYS_UNKNOWN_CASE] += (a->survey & SURVEY_UNKNOWN) != 0;
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

/* Agents are credited with what they did: answers, replies, solves, surveys. */
static int counts_for_agent(sp_event_type t)
{
    return t == SP_EV_CALL_ANSWERED || t == SP_EV_TICKET_REPLIED || t == SP_EV_TICKET_SOLVED ||
           t == SP_EV_SURVEY_CSAT || t == SP_EV_SURVEY_NPS;
}

static int add_done(sp_cell *c, const sp_done *d)
{
    if (sp_cell_add_duration(c, d->d, d->ms) < 0)
        return -1;
    c->c.v[SP_M_ANSWERED_IN_SL] += (d->extra & SP_DONE_IN_SL) != 0;
    c->c.v[SP_M_SHORT_ABANDONED] += (d->extra & SP_DONE_SHORT) != 0;
    c->c.v[SP_M_ONE_TOUCH] += (d->extra & SP_DONE_ONE_TOUCH) != 0;
    return 0;
}

/* Where one attribution counts: its dimension sets, and its agent's. Computed once per
 * event; cb stays valid until the next new combination is built. */
typedef struct {
    const combo *cb;
    uint32_t agent_ids[2];
    int nagent;
} targets;

static int targets_of(sp_partition *p, const attribution *a, targets *t)
{
    int over = 0;
    t->nagent = agent_dims(p, a, t->agent_ids);
    t->cb = combo_get(p, a->tenant, a->queue, a->channel, &over); /* last: it may move combos */
    p->stats.overflow_combo += (uint64_t)over;
    return t->nagent < 0 || !t->cb ? -1 : 0;
}

/* The windows an event time falls in, looked up once per width (each set at most once:
 * a lookup may move the set's windows). */
typedef struct {
    sp_window *w[SP_NRES];
    int64_t ts_ms;
} at_time;

/* The i-th target cell at a time: the dimension sets, then (with_agent) the agent's,
 * each in the window of its width. */
static int ntargets(const targets *t, int with_agent) { return t->cb->n + (with_agent ? t->nagent : 0); }
static sp_cell *target_cell(sp_partition *p, at_time *at, const targets *t, int i)
{
    uint32_t id = i < t->cb->n ? t->cb->ids[i] : t->agent_ids[i - t->cb->n];
    int b = p->dims_base[id];
    if (!at->w[b] &&
        !(at->w[b] = sp_window_get(&p->sets[b], sp_window_start_w(at->ts_ms, sp_res_seconds[b]))))
        return NULL;
    return sp_window_cell(at->w[b], id);
}

/* Counts a completed duration in the window of its completing event, under the case's
 * dimension sets and its agent. */
static int apply_done(sp_partition *p, const targets *t, const sp_done *d)
{
    if (is_late(p, d->at_ms)) {
        p->stats.late_durations++;
        return 0;
    }
    at_time at = {{0}, d->at_ms};
    for (int i = 0; i < ntargets(t, 1); i++) {
        sp_cell *c = target_cell(p, &at, t, i);
        if (!c || add_done(c, d) < 0)
            return -1;
    }
    return 0;
}

static attribution case_attribution(const sp_case *k)
{
    return (attribution){k->tenant, k->queue, k->agent, (sp_channel)k->channel, 0};
}

/* The handle time of a call whose wrap-up is overdue, if it is: 0, or -1 when out of
 * memory (the case is marked for publishing either way). */
static int timeout_case(sp_partition *p, sp_case *k)
{
    sp_done d;
    if (!sp_lifecycle_timeout(k, p->max_ts, &d))
        return 0;
    attribution a = case_attribution(k);
    targets t;
    int rc = targets_of(p, &a, &t) < 0 || apply_done(p, &t, &d) < 0 ? -1 : 0;
    sp_cases_mark_dirty(p->cases, k);
    return rc;
}

/* Notes when a call's wrap-up becomes overdue: whenever that time changed with the
 * event (before: the record before it). A record that changes again leaves an old entry
 * behind, which timeout_case ignores when it comes due. */
static int schedule_wrapup(sp_partition *p, const sp_case *before, const sp_case *k)
{
    int64_t due = sp_lifecycle_timeout_due(k);
    if (due == INT64_MAX || due == sp_lifecycle_timeout_due(before))
        return 0;
    return sp_deadlines_push(&p->wrapups, due, k->key);
}

static const sp_thresholds *case_thresholds(sp_partition *p, const sp_case *k)
{
    return thresholds(p, k->queue, p->queues.str[k->queue]);
}

/* Notes when a call times out as orphaned, whenever that time changed with the event (a
 * transfer to a queue with another max_wait changes it). Entries left behind are hints,
 * as with the wrap-ups: orphan_case re-checks the case. */
static int schedule_orphan(sp_partition *p, const sp_case *before, const sp_case *k)
{
    const sp_thresholds *th = case_thresholds(p, before);
    if (!th)
        return -1;
    int64_t was = sp_lifecycle_orphan_due(before, th);
    if (!(th = case_thresholds(p, k))) /* may move the thresholds: look up again */
        return -1;
    int64_t due = sp_lifecycle_orphan_due(k, th);
    if (due == INT64_MAX || due == was)
        return 0;
    return sp_deadlines_push(&p->orphans, due, k->key);
}

/* The time an orphan counts at: when it timed out, or, when that minute's window has
 * closed (the stream was quiet longer than the retention), the oldest time still open. */
static int64_t open_time(const sp_partition *p, int64_t ts_ms)
{
    if (!is_late(p, ts_ms))
        return ts_ms;
    return sp_partition_watermark(p) - p->conf.retention_ms;
}

/* Times out a call overdue at the newest event time: out of the queue, counted once as
 * orphaned in the dimension sets of its queue. 0 (also when it is not overdue), or -1
 * when out of memory. */
static int orphan_case(sp_partition *p, sp_case *k)
{
    const sp_thresholds *th = case_thresholds(p, k);
    if (!th)
        return -1;
    sp_case before = *k;
    int64_t due;
    if (!sp_lifecycle_orphan(k, th, p->max_ts, &due))
        return 0;
    p->stats.orphaned++;
    sp_cases_mark_dirty(p->cases, k);
    attribution a = case_attribution(k);
    targets t;
    if (targets_of(p, &a, &t) < 0)
        return -1;
    at_time at = {{0}, open_time(p, due)};
    for (int i = 0; i < ntargets(&t, 0); i++) {
        sp_cell *c = target_cell(p, &at, &t, i);
        if (!c)
            return -1;
        c->c.v[SP_M_ORPHANED]++;
    }
    return gauges_update(p, &before, k);
}

/* Every event: the calls that became orphans at the newest time (a look at the top of a
 * heap when none did), so no wait is ever older than max_wait in the partition's time. */
static int time_out_orphans(sp_partition *p)
{
    sp_deadline d;
    int failed = 0;
    while (sp_deadlines_pop_due(&p->orphans, p->max_ts, &d)) {
        sp_case *k = sp_cases_find(p->cases, d.key);
        if (k && orphan_case(p, k) < 0)
            failed = 1;
    }
    return failed ? -1 : 0;
}

int64_t sp_partition_expiry_interval(const sp_partition_conf *c)
{
    int64_t shortest = c->case_grace_ms < c->case_max_age_ms ? c->case_grace_ms
                                                             : c->case_max_age_ms;
    int64_t every = shortest / 24 / 60000 * 60000;
    return every < 60000 ? 60000 : every > 3600000 ? 3600000 : every;
}

/* Whether the newest time entered a new period of `every` ms since `last`. */
static int new_period(int64_t now, int64_t last, int64_t every)
{
    return last == INT64_MIN || now / every > last / every;
}

/* Once a minute of event time: the handle times whose wrap-up became overdue (the
 * calls in p->wrapups that are due, not every case). Once per expiry interval (an
 * hour with the default grace; see sp_partition_expiry_interval): the cases that ended
 * longer than the grace period ago or aged out, a scan of the whole store. Both run at
 * the first event whose newest time enters a new period, so the same stream sweeps at
 * the same events whether or not the pipeline restarted in between (a restore sets the
 * last sweeps to the restored newest time): results never depend on restarts. */
static int sweep(sp_partition *p)
{
    if (!new_period(p->max_ts, p->last_case_sweep, 60000))
        return 0;
    p->last_case_sweep = p->max_ts;
    p->drop_failed = 0;
    int failed = 0;
    sp_deadline d;
    while (sp_deadlines_pop_due(&p->wrapups, p->max_ts, &d)) {
        sp_case *k = sp_cases_find(p->cases, d.key);
        if (k && timeout_case(p, k) < 0)
            failed = 1;
    }
    if (new_period(p->max_ts, p->last_expiry, p->expiry_every_ms)) {
        p->last_expiry = p->max_ts;
        sp_cases_expire(p->cases, p->max_ts);
    }
    sp_attrs_expire(p->attrs, p->max_ts);
    return failed || p->drop_failed ? -1 : 0;
}

static int count_event(sp_partition *p, const sp_event *ev, const attribution *a,
                       const targets *t)
{
    at_time at = {{0}, ev->ts_ms};
    for (int i = 0; i < ntargets(t, counts_for_agent(ev->type)); i++) {
        sp_cell *c = target_cell(p, &at, t, i);
        if (!c)
            return -1;
        count(&c->c, ev, a);
    }
    return 0;
}

static int correlate(sp_partition *p, const sp_event *ev, const attribution *a,
                     const targets *t, sp_case *k, const sp_case *before)
{
    if (!k)
        return 0;
    const sp_thresholds *th = thresholds(p, a->queue, p->queues.str[a->queue]);
    if (!th)
        return -1;
    sp_done done[SP_MAX_DONE];
    int n = sp_lifecycle_apply(k, ev, th, p->max_ts, done);
    for (int i = 0; i < n; i++)
        if (apply_done(p, t, &done[i]) < 0)
            return -1;
    if (schedule_wrapup(p, before, k) < 0 || schedule_orphan(p, before, k) < 0)
        return -1;
    return gauges_update(p, before, k); /* last: it may build combos, moving t->cb */
}

void sp_partition_prefetch(const sp_partition *p, const sp_event *ev)
{
    if (ev->id_hash)
        sp_dedup_prefetch(p->dedup, ev->id_hash);
    if (ev->case_key)
        sp_cases_prefetch(p->cases, ev->case_key);
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
    uint64_t id_hash = ev->id_hash ? ev->id_hash : sp_dedup_hash(ev->id, strlen(ev->id));
    if (sp_dedup_check(p->dedup, id_hash, ev->ts_ms)) {
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
    targets t;
    sp_case *k, before;
    if (sweep(p) < 0 || time_out_orphans(p) < 0 || attribute(p, ev, &a, &k, &before) < 0 || targets_of(p, &a, &t) < 0 ||
        count_event(p, ev, &a, &t) < 0 || correlate(p, ev, &a, &t, k, &before) < 0 ||
        (ev->type == SP_EV_AGENT_STATUS && presence_add(p, ev, &a) < 0)) {
        snprintf(errstr, errstr_size, "out of memory applying event");
        return SP_APPLY_NOMEM;
    }
    p->stats.applied++;
    p->stats.normalized_names += ev->normalized;
    return SP_APPLY_OK;
}

/* ---- accessors, publish and restore ---------------------------------------------- */

int64_t sp_partition_max_ts(const sp_partition *p) { return p->max_ts; }

int64_t sp_partition_watermark(const sp_partition *p)
{
    return p->max_ts == INT64_MIN ? INT64_MIN : p->max_ts - p->conf.lateness_ms;
}

const sp_partition_stats *sp_partition_get_stats(const sp_partition *p) { return &p->stats; }

void sp_partition_get_sizes(const sp_partition *p, sp_partition_sizes *out)
{
    *out = (sp_partition_sizes){.queues = p->queues.n - 1,
                                .agents = p->agents.n - 1,
                                .tenants = p->tenants.n - 1,
                                .combos = p->ncombos,
                                .agent_pairs = p->nagent_pairs,
                                .dims = p->dims.n - 1};
}
sp_window_set *sp_partition_windows(sp_partition *p) { return &p->sets[0]; }
sp_window_set *sp_partition_window_set(sp_partition *p, int res) { return &p->sets[res]; }

size_t sp_partition_dirty_cells(const sp_partition *p)
{
    size_t n = 0;
    for (int r = 0; r < SP_NRES; r++)
        n += sp_window_dirty_cells(&p->sets[r]);
    return n;
}

const sp_res_by_class *sp_partition_res(const sp_partition *p) { return &p->conf.res; }
sp_cases *sp_partition_cases(sp_partition *p) { return p->cases; }
sp_attrs *sp_partition_attrs(sp_partition *p) { return p->attrs; }
sp_dedup *sp_partition_dedup(sp_partition *p) { return p->dedup; }
const sp_presence_log *sp_partition_presence(const sp_partition *p) { return p->presence; }

int sp_partition_dims_find(const sp_partition *p, const char *key, uint32_t *id)
{
    return sp_strmap_get(p->dims.map, key, strlen(key), id);
}

size_t sp_partition_dims_count(const sp_partition *p) { return p->dims.n; }

sp_dims_class sp_partition_dims_class(const sp_partition *p, uint32_t dims_id)
{
    return dims_id < p->dims.n && dims_id < p->dims_base_cap ? (sp_dims_class)p->dims_class[dims_id]
                                                             : SP_DC_ALL;
}

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

void sp_partition_mark_clean(sp_partition *p)
{
    for (int r = 0; r < SP_NRES; r++)
        sp_window_mark_clean(&p->sets[r]);
    sp_cases_mark_clean(p->cases);
    sp_attrs_mark_written(p->attrs);
    sp_dedup_mark_published(p->dedup);
    sp_presence_log_clear(p->presence);
    for (size_t i = 0; i < p->ngauges; i++) {
        sp_gauges *g = &p->gauges[i];
        memcpy(g->pub, g->v, sizeof g->pub);
        g->oldest_pub = g->oldest_ts;
    }
}

void sp_partition_published(sp_partition *p, int64_t watermark_ms)
{
    sp_partition_mark_clean(p);
    int64_t wm = sp_partition_watermark(p);
    if (watermark_ms > wm)
        wm = watermark_ms;
    if (wm != INT64_MIN)
        for (int r = 0; r < SP_NRES; r++)
            sp_window_expire(&p->sets[r], wm / 1000, p->conf.retention_ms / 1000);
}

sp_cell *sp_partition_restore_cell(sp_partition *p, int res, int64_t start, const char *dims_key)
{
    uint32_t id;
    sp_window *w;
    if (res < 0 || res >= SP_NRES || dims_intern(p, dims_key, &id) < 0 || p->dims_base[id] != res ||
        sp_res_start(start, res) != start || !(w = sp_window_get(&p->sets[res], start)))
        return NULL;
    return sp_window_cell(w, id);
}

int sp_partition_restore_presence(sp_partition *p, const sp_presence *e)
{
    return sp_presence_log_put(p->presence, e);
}

int sp_partition_restore_case(sp_partition *p, const sp_case *rec, const char *queue,
                              const char *tenant, const char *agent)
{
    sp_case *k = sp_cases_open(p->cases, rec->key, rec->last_ts);
    uint32_t q = 0, t = 0, a = 0;
    if (!k || (queue[0] && intern(p, &p->queues, queue, &q) < 0) ||
        (tenant[0] && intern(p, &p->tenants, tenant, &t) < 0) ||
        (agent[0] && intern(p, &p->agents, agent, &a) < 0))
        return -1;
    sp_case before = *k;
    uint8_t dirty = k->dirty;
    uint32_t qpos = k->qpos;
    *k = *rec;
    k->queue = q;
    k->tenant = (uint16_t)t;
    k->agent = a;
    k->dirty = dirty;
    k->qpos = qpos;
    if (schedule_wrapup(p, &before, k) < 0 || schedule_orphan(p, &before, k) < 0)
        return -1;
    return gauges_update(p, &before, k);
}

int sp_partition_restore_layout(sp_partition *p, uint64_t case_head, uint64_t case_used,
                                uint64_t attr_head, uint64_t attr_used)
{
    return sp_cases_restore_layout(p->cases, case_head, case_used) < 0 ||
                   sp_attrs_restore_layout(p->attrs, attr_head, attr_used) < 0
               ? -1
               : 0;
}

int sp_partition_place_case(sp_partition *p, uint64_t order, const sp_case *rec,
                            const char *queue, const char *tenant, const char *agent)
{
    uint32_t q = 0, t = 0, a = 0;
    if ((queue[0] && intern(p, &p->queues, queue, &q) < 0) ||
        (tenant[0] && intern(p, &p->tenants, tenant, &t) < 0) ||
        (agent[0] && intern(p, &p->agents, agent, &a) < 0))
        return -1;
    sp_case *k = sp_cases_place(p->cases, order, rec->key);
    if (!k)
        return -1;
    sp_case before = *k; /* empty */
    *k = *rec;
    k->queue = q;
    k->tenant = (uint16_t)t;
    k->agent = a;
    k->dirty = 0;
    k->qpos = 0;
    if (schedule_wrapup(p, &before, k) < 0 || schedule_orphan(p, &before, k) < 0)
        return -1;
    return gauges_update(p, &before, k);
}

int sp_partition_place_attr(sp_partition *p, uint64_t order, const sp_attr *rec,
                            const char *queue, const char *tenant, const char *agent)
{
    sp_attr e = *rec;
    uint32_t q = 0, t = 0, a = 0;
    if (!queue[0] || intern(p, &p->queues, queue, &q) < 0 ||
        (tenant[0] && intern(p, &p->tenants, tenant, &t) < 0) ||
        (agent[0] && intern(p, &p->agents, agent, &a) < 0))
        return -1;
    e.queue = q;
    e.tenant = (uint16_t)t;
    e.agent = a;
    return sp_attrs_place(p->attrs, order, &e);
}

void sp_partition_place_done(sp_partition *p)
{
    sp_cases_restore_done(p->cases);
    sp_attrs_restore_done(p->attrs);
}

void sp_partition_restore_id(sp_partition *p, uint64_t hash, int64_t ts_ms)
{
    sp_dedup_restore(p->dedup, hash, ts_ms);
}

void sp_partition_restore_max_ts(sp_partition *p, int64_t max_ts)
{
    if (max_ts > p->max_ts)
        p->max_ts = p->last_case_sweep = p->last_expiry = max_ts; /* swept then */
}
