/*
 * generator.c - see generator.h.
 *
 * Model (per simulated minute): arrivals ~ Poisson(rate * daily(hour) * weekly(day) *
 * promo), split 55/45 into calls and tickets, spread over queues and channels by fixed
 * weights. A call waits Exp(6 s * load^2); the caller's patience is Exp(120 s);
 * whichever ends first decides answered or abandoned (during an injected outage nobody
 * answers until it ends, so nearly every caller abandons). Handle times are
 * log-normal. Tickets in chat/in-app meet the bot first; some are handed to a human.
 * Survey scores fall as waits and resolution times grow. Each queue has its own agents,
 * as many as its share of the contacts needs (roster_init): a desk ten times busier has
 * ten times the agents; or a roster of conf.agents, whatever the rate (a 12,000-agent
 * desk replayed at 20,000 messages/s).
 */
#include "supportpulse/generator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/event.h"

/* ---- randomness (splitmix64: deterministic, fast, good enough) ---- */

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (next_u64(s) >> 11) * (1.0 / 9007199254740992.0); }
static double expo(uint64_t *s, double mean) { return -mean * log(1.0 - uniform(s)); }

static double normal(uint64_t *s)
{
    double u = uniform(s), v = uniform(s);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static double lognormal(uint64_t *s, double median, double sigma)
{
    return median * exp(sigma * normal(s));
}

static int poisson(uint64_t *s, double lambda)
{
    if (lambda > 50) /* normal approximation for large means */
        return (int)fmax(0, floor(lambda + sqrt(lambda) * normal(s) + 0.5));
    double l = exp(-lambda), p = 1;
    int k = 0;
    do {
        k++;
        p *= uniform(s);
    } while (p > l);
    return k - 1;
}

static int pick(uint64_t *s, const double *w, int n)
{
    double r = uniform(s), acc = 0;
    for (int i = 0; i < n; i++)
        if (r < (acc += w[i]))
            return i;
    return n - 1;
}

/* ---- the help desk ---- */

#define NQ 7
static const char *const queues[NQ] = {"payments", "account", "security", "refunds",
                                       "technical", "feedback", "技术支持"};
static const double queue_w[NQ] = {0.30, 0.18, 0.08, 0.15, 0.12, 0.07, 0.10};
/* Agents a queue needs per contact an hour it receives: ~330 s of agent work a
 * contact (a call's talk and wrap-up, a ticket's replies) at 80% occupancy is 0.11 at
 * an average hour; the roster covers the daily peak (~1.8x the average). */
#define AGENTS_PER_CONTACT_HOUR 0.2
#define MIN_AGENTS_PER_QUEUE 4
#define MAX_AGENTS 60000 /* with the rounding up, ids stay below the bot's 0xffff */

static const char *const call_ch[3] = {"phone", "chat", "video"};
static const double call_ch_w[3] = {0.70, 0.26, 0.04};
static const char *const ticket_ch[4] = {"email", "in_app", "social", "chat"};
static const double ticket_ch_w[4] = {0.38, 0.37, 0.10, 0.15};

/* Contacts per hour of day relative to the mean (UTC): quiet nights, a late-morning
 * peak, a lunch dip, an evening peak when people pay and shop. Mean is ~1. */
static const double daily[24] = {0.25, 0.15, 0.10, 0.08, 0.10, 0.20, 0.45, 0.80,
                                 1.20, 1.55, 1.70, 1.60, 1.35, 1.45, 1.50, 1.40,
                                 1.30, 1.35, 1.50, 1.65, 1.55, 1.20, 0.80, 0.45};
/* Monday .. Sunday */
static const double weekly[7] = {1.15, 1.05, 1.00, 1.00, 1.05, 0.85, 0.75};

/* ---- scheduled events ---- */

typedef enum {
    G_CALL_OFFERED, G_CALL_ANSWERED, G_CALL_ABANDONED, G_CALL_TRANSFERRED, G_CALL_ENDED,
    G_CALL_WRAPUP, G_T_CREATED, G_T_BOT_REPLY, G_T_ESCALATED, G_T_ASSIGNED, G_T_AGENT_REPLY,
    G_T_CUSTOMER_REPLY, G_T_TRANSFERRED, G_T_SOLVED, G_T_REOPENED, G_T_CLOSED, G_CSAT, G_NPS,
    G_AGENT_STATUS
} gkind;

typedef struct {
    int64_t emit_ms;   /* heap key: when it is emitted */
    int64_t ts_ms;     /* event time */
    uint64_t seq;      /* tie-break: schedule order, keeps the heap deterministic */
    uint32_t case_no;
    uint8_t kind, queue, channel, extra; /* extra: to_queue, score, status... */
    uint16_t agent;
    int32_t num;       /* acw_ms, hold_ms, ivr_ms */
    uint8_t is_call, no_case;
} gev;

struct sp_gen {
    sp_gen_conf conf;
    uint64_t rng;
    gev *heap;
    size_t n, cap;
    uint64_t seq, event_no;
    uint32_t case_no;
    int64_t next_minute;      /* start of the next minute to draw arrivals for */
    uint16_t roster_first[NQ], roster_n[NQ]; /* queue q's agents: first .. first + n - 1 */
    uint32_t roster_total;
    char key[160], value[1024], dup_value[1024], dup_key[160];
    size_t dup_len, dup_key_len;
    int dup_pending;
};

static int heap_push(sp_gen *g, gev e)
{
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 4096;
        gev *nh = realloc(g->heap, ncap * sizeof *nh);
        if (!nh)
            return -1;
        g->heap = nh;
        g->cap = ncap;
    }
    e.seq = g->seq++;
    size_t i = g->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        gev *q = &g->heap[p];
        if (q->emit_ms < e.emit_ms || (q->emit_ms == e.emit_ms && q->seq < e.seq))
            break;
        g->heap[i] = *q;
        i = p;
    }
    g->heap[i] = e;
    return 0;
}

static int less(const gev *a, const gev *b)
{
    return a->emit_ms < b->emit_ms || (a->emit_ms == b->emit_ms && a->seq < b->seq);
}

static gev heap_pop(sp_gen *g)
{
    gev top = g->heap[0], last = g->heap[--g->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g->n)
            break;
        if (c + 1 < g->n && less(&g->heap[c + 1], &g->heap[c]))
            c++;
        if (!less(&g->heap[c], &last))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (g->n)
        g->heap[i] = last;
    return top;
}

/* Schedules an event; out-of-order ones are emitted later than their event time. */
static int at(sp_gen *g, gev e)
{
    e.emit_ms = e.ts_ms;
    if (g->conf.out_of_order > 0 && uniform(&g->rng) < g->conf.out_of_order)
        e.emit_ms += 1 + (int64_t)(uniform(&g->rng) * (double)g->conf.max_disorder_ms);
    return heap_push(g, e);
}

static double load_factor(const sp_gen *g, int64_t ms)
{
    int64_t day = ms / 86400000, hour = ms / 3600000 % 24;
    int dow = (int)((day + 3) % 7); /* 1970-01-01 was a Thursday: Monday = 0 */
    double f = daily[hour] * weekly[dow];
    int64_t start_day = g->conf.start_ms / 86400000;
    if (g->conf.promo_day >= 0 && day - start_day == g->conf.promo_day)
        f *= hour >= 9 && hour < 23 ? g->conf.promo_multiplier : 1.3;
    return f;
}

/* ---- life cycles ---- */

static int csat_score(sp_gen *g, double badness)
{
    /* badness 0 (great service) .. 1+ (long waits): shifts the score down */
    double x = 4.4 - 2.2 * fmin(badness, 1.5) + normal(&g->rng) * 0.9;
    int s = (int)lround(x);
    return s < 1 ? 1 : s > 5 ? 5 : s;
}

static int survey_later(sp_gen *g, gev base, int64_t after_ms, double badness, double p)
{
    if (uniform(&g->rng) >= p)
        return 0;
    gev s = base;
    s.kind = G_CSAT;
    s.ts_ms = after_ms + (int64_t)fmin(lognormal(&g->rng, 1800e3, 1.0), 6 * 3600e3);
    s.extra = (uint8_t)csat_score(g, badness);
    if (at(g, s) < 0)
        return -1;
    if (uniform(&g->rng) < 0.25) { /* some also answer the NPS question */
        s.kind = G_NPS;
        s.ts_ms += 20000;
        int n = (int)lround(s.extra * 2.0 + normal(&g->rng) * 1.5);
        s.extra = (uint8_t)(n < 0 ? 0 : n > 10 ? 10 : n);
        return at(g, s);
    }
    return 0;
}

/* A random agent of queue q. */
static uint16_t agent_of(sp_gen *g, int q)
{
    return (uint16_t)(g->roster_first[q] + next_u64(&g->rng) % g->roster_n[q]);
}

static int schedule_call(sp_gen *g, int64_t t, double load)
{
    gev e = {0};
    e.is_call = 1;
    e.case_no = ++g->case_no;
    e.queue = (uint8_t)pick(&g->rng, queue_w, NQ);
    e.channel = (uint8_t)pick(&g->rng, call_ch_w, 3);
    e.kind = G_CALL_OFFERED;
    e.ts_ms = t;
    e.num = (int32_t)(5000 + uniform(&g->rng) * 40000); /* ivr */
    if (at(g, e) < 0)
        return -1;
    /* Waits grow with the square of the load (queueing near capacity); callers give up
     * after Exp(120 s). About 5% abandon at an average hour, 10-15% at the daily peak,
     * and far more when a promotion-day surge swamps the desk. */
    double mean_wait = 6e3 * load * load;
    double wait = expo(&g->rng, mean_wait), patience = expo(&g->rng, 120e3);
    if (t >= g->conf.outage_start_ms && t < g->conf.outage_end_ms)
        wait += (double)(g->conf.outage_end_ms - t); /* nobody answers until it is over */
    if (patience < wait) {
        e.kind = G_CALL_ABANDONED;
        e.ts_ms = t + (int64_t)patience;
        return at(g, e);
    }
    int64_t ans = t + (int64_t)wait;
    if (uniform(&g->rng) < 0.05) { /* transferred before an agent took it */
        e.kind = G_CALL_TRANSFERRED;
        e.ts_ms = t + (int64_t)(wait * 0.5);
        e.extra = (uint8_t)((e.queue + 1 + next_u64(&g->rng) % (NQ - 1)) % NQ);
        if (at(g, e) < 0)
            return -1;
        e.queue = e.extra;
        ans += (int64_t)expo(&g->rng, 20e3);
    }
    e.kind = G_CALL_ANSWERED;
    e.ts_ms = ans;
    e.agent = agent_of(g, e.queue);
    if (at(g, e) < 0)
        return -1;
    int64_t end = ans + (int64_t)lognormal(&g->rng, 240e3, 0.6);
    e.kind = G_CALL_ENDED;
    e.ts_ms = end;
    e.num = uniform(&g->rng) < 0.3 ? (int32_t)expo(&g->rng, 30e3) : -1;
    if (at(g, e) < 0)
        return -1;
    if (uniform(&g->rng) < 0.92) { /* some agents never close their wrap-up */
        e.kind = G_CALL_WRAPUP;
        e.num = (int32_t)lognormal(&g->rng, 45e3, 0.5);
        e.ts_ms = end + e.num;
        if (at(g, e) < 0)
            return -1;
    }
    return survey_later(g, e, end, wait / 60e3, 0.2);
}

static int schedule_ticket(sp_gen *g, int64_t t)
{
    gev e = {0};
    e.case_no = ++g->case_no;
    e.queue = (uint8_t)pick(&g->rng, queue_w, NQ);
    e.channel = (uint8_t)pick(&g->rng, ticket_ch_w, 4);
    e.kind = G_T_CREATED;
    e.ts_ms = t;
    if (at(g, e) < 0)
        return -1;
    int64_t now = t;
    int botted = e.channel == 1 || e.channel == 3; /* in_app, chat meet the bot */
    if (botted) {
        e.kind = G_T_BOT_REPLY;
        e.ts_ms = now += 3000;
        if (at(g, e) < 0)
            return -1;
        if (uniform(&g->rng) < 0.2) { /* the bot solved it */
            e.kind = G_T_SOLVED;
            e.ts_ms = now += (int64_t)expo(&g->rng, 120e3);
            e.agent = 0xffff;
            if (at(g, e) < 0)
                return -1;
            return survey_later(g, e, now, 0.3, 0.15);
        }
        e.kind = G_T_ESCALATED;
        e.ts_ms = now += (int64_t)expo(&g->rng, 60e3);
        if (at(g, e) < 0)
            return -1;
    }
    if (uniform(&g->rng) < 0.04) {
        e.kind = G_T_TRANSFERRED;
        e.ts_ms = now += (int64_t)expo(&g->rng, 300e3);
        e.extra = (uint8_t)((e.queue + 1 + next_u64(&g->rng) % (NQ - 1)) % NQ);
        if (at(g, e) < 0)
            return -1;
        e.queue = e.extra;
    }
    e.kind = G_T_ASSIGNED;
    e.agent = agent_of(g, e.queue);
    double first_reply = lognormal(&g->rng, e.channel == 0 ? 2 * 3600e3 : 600e3, 0.8);
    e.ts_ms = now += (int64_t)(first_reply * 0.3);
    if (at(g, e) < 0)
        return -1;
    int replies = 1 + (uniform(&g->rng) < 0.45) + (uniform(&g->rng) < 0.2);
    e.ts_ms = now += (int64_t)(first_reply * 0.7);
    for (int i = 0; i < replies; i++) {
        e.kind = G_T_AGENT_REPLY;
        if (at(g, e) < 0)
            return -1;
        if (i + 1 < replies) {
            e.kind = G_T_CUSTOMER_REPLY;
            e.ts_ms = now += (int64_t)lognormal(&g->rng, 900e3, 1.0);
            if (at(g, e) < 0)
                return -1;
            e.ts_ms = now += (int64_t)lognormal(&g->rng, 1200e3, 0.8);
        }
    }
    e.kind = G_T_SOLVED;
    e.ts_ms = now += (int64_t)lognormal(&g->rng, 600e3, 1.0);
    if (at(g, e) < 0)
        return -1;
    double badness = (double)(now - t) / (8 * 3600e3);
    if (uniform(&g->rng) < 0.08) { /* the customer comes back */
        e.kind = G_T_REOPENED;
        e.ts_ms = now += (int64_t)lognormal(&g->rng, 3 * 3600e3, 0.7);
        if (at(g, e) < 0)
            return -1;
        e.kind = G_T_AGENT_REPLY;
        e.ts_ms = now += (int64_t)lognormal(&g->rng, 1800e3, 0.7);
        if (at(g, e) < 0)
            return -1;
        e.kind = G_T_SOLVED;
        e.ts_ms = now += (int64_t)lognormal(&g->rng, 900e3, 0.7);
        if (at(g, e) < 0)
            return -1;
        badness += 0.5;
    }
    if (survey_later(g, e, now, badness, 0.25) < 0)
        return -1;
    e.kind = G_T_CLOSED;
    e.ts_ms = now + 12 * 3600000LL;
    return at(g, e);
}

static int schedule_presence(sp_gen *g, int64_t t)
{
    /* every 5 minutes a few agents change state: about one in twenty-five */
    int k = 1 + (int)(next_u64(&g->rng) % (1 + g->roster_total / 12));
    for (int i = 0; i < k; i++) {
        gev e = {0};
        e.kind = G_AGENT_STATUS;
        e.no_case = 1;
        e.agent = (uint16_t)(next_u64(&g->rng) % g->roster_total);
        while (e.queue + 1 < NQ && e.agent >= g->roster_first[e.queue + 1])
            e.queue++;
        e.extra = (uint8_t)(next_u64(&g->rng) % 4);
        e.ts_ms = t + (int64_t)(uniform(&g->rng) * 300e3);
        if (at(g, e) < 0)
            return -1;
    }
    return 0;
}

static int draw_minute(sp_gen *g)
{
    int64_t m0 = g->next_minute;
    double load = load_factor(g, m0);
    int n = poisson(&g->rng, g->conf.arrivals_per_hour / 60.0 * load);
    for (int i = 0; i < n; i++) {
        int64_t t = m0 + (int64_t)(uniform(&g->rng) * 60000);
        if ((uniform(&g->rng) < 0.55 ? schedule_call(g, t, load) : schedule_ticket(g, t)) < 0)
            return -1;
    }
    if (m0 % 300000 == 0 && schedule_presence(g, m0) < 0)
        return -1;
    if (uniform(&g->rng) < 0.02) { /* an NPS from the app, about no case */
        gev e = {0};
        e.kind = G_NPS;
        e.no_case = 1;
        e.queue = 0xff;
        e.extra = (uint8_t)(next_u64(&g->rng) % 11);
        e.ts_ms = m0 + (int64_t)(uniform(&g->rng) * 60000);
        if (at(g, e) < 0)
            return -1;
    }
    g->next_minute += 60000;
    return 0;
}

/* ---- formatting ---- */

static const char *const kind_type[] = {
    "call.offered", "call.answered", "call.abandoned", "call.transferred", "call.ended",
    "call.wrapup", "ticket.created", "ticket.replied", "ticket.escalated", "ticket.assigned",
    "ticket.replied", "ticket.replied", "ticket.transferred", "ticket.solved", "ticket.reopened",
    "ticket.closed", "survey.csat", "survey.nps", "agent.status"};

static int format_event(sp_gen *g, const gev *e, char *out, size_t size)
{
    char ts[40], agent[32];
    sp_ts_format(e->ts_ms, ts, sizeof ts);
    snprintf(agent, sizeof agent, "agent-%03u", e->agent);
    int n = snprintf(out, size, "{\"v\":1,\"id\":\"e%016llx\",\"type\":\"%s\",\"ts\":",
                     (unsigned long long)(g->conf.seed * 1000003ULL + g->event_no++),
                     kind_type[e->kind]);
    /* half the events carry epoch ms, half RFC 3339, some with a +08:00 offset */
    if (e->case_no % 3 == 0)
        n += snprintf(out + n, size - n, "%lld", (long long)e->ts_ms);
    else if (e->case_no % 3 == 1)
        n += snprintf(out + n, size - n, "\"%s\"", ts);
    else {
        char local[40];
        sp_ts_format(e->ts_ms + 8 * 3600000LL, local, sizeof local);
        local[23] = '\0';
        n += snprintf(out + n, size - n, "\"%s+08:00\"", local);
    }
    if (!e->no_case)
        n += snprintf(out + n, size - n, ",\"%s\":\"%c%u\"", e->is_call ? "call_id" : "ticket_id",
                      e->is_call ? 'C' : 'T', e->case_no);
    const char *q = e->queue < NQ ? queues[e->queue] : NULL;
    const char *ch = e->is_call ? call_ch[e->channel] : ticket_ch[e->channel];
    switch (e->kind) {
    case G_CALL_OFFERED:
        n += snprintf(out + n, size - n, ",\"queue\":\"%s\",\"channel\":\"%s\",\"ivr_ms\":%d", q,
                      ch, e->num);
        break;
    case G_CALL_ANSWERED:
    case G_T_ASSIGNED:
        n += snprintf(out + n, size - n, ",\"agent_id\":\"%s\"", agent);
        break;
    case G_CALL_TRANSFERRED:
    case G_T_TRANSFERRED:
        n += snprintf(out + n, size - n, ",\"to_queue\":\"%s\"", queues[e->extra]);
        break;
    case G_CALL_ENDED:
        if (e->num >= 0)
            n += snprintf(out + n, size - n, ",\"hold_ms\":%d", e->num);
        break;
    case G_CALL_WRAPUP:
        n += snprintf(out + n, size - n, ",\"acw_ms\":%d", e->num);
        break;
    case G_T_CREATED:
        n += snprintf(out + n, size - n,
                      ",\"queue\":\"%s\",\"channel\":\"%s\",\"priority\":\"%s\",\"customer_id\":\"u%u\"",
                      q, ch, e->queue == 2 ? "urgent" : "normal", e->case_no * 7919u % 100000u);
        break;
    case G_T_BOT_REPLY:
        n += snprintf(out + n, size - n, ",\"author\":\"bot\"");
        break;
    case G_T_AGENT_REPLY:
        n += snprintf(out + n, size - n, ",\"author\":\"agent\",\"agent_id\":\"%s\"", agent);
        break;
    case G_T_CUSTOMER_REPLY:
        n += snprintf(out + n, size - n, ",\"author\":\"customer\"");
        break;
    case G_T_ESCALATED:
        n += snprintf(out + n, size - n, ",\"from\":\"bot\"");
        break;
    case G_T_SOLVED:
        if (e->agent != 0xffff)
            n += snprintf(out + n, size - n, ",\"agent_id\":\"%s\"", agent);
        break;
    case G_CSAT:
        n += snprintf(out + n, size - n, ",\"score\":%d%s", e->extra,
                      e->extra <= 2 ? ",\"comment\":\"trop lent \\u00e9 \\ud83d\\ude20\"" : "");
        break;
    case G_NPS:
        n += snprintf(out + n, size - n, ",\"score\":%d", e->extra);
        break;
    case G_AGENT_STATUS: {
        static const char *const st[] = {"available", "busy", "away", "offline"};
        n += snprintf(out + n, size - n, ",\"agent_id\":\"%s\",\"status\":\"%s\",\"queues\":[\"%s\"]",
                      agent, st[e->extra], queues[e->queue]);
        break;
    }
    default:
        break;
    }
    n += snprintf(out + n, size - n, "}");
    return n;
}

/* Damages a valid message in one of the ways real producers do. */
static int malform(sp_gen *g, char *v, int n, size_t size)
{
    switch (next_u64(&g->rng) % 7) {
    case 0: return n / 2;                                             /* truncated */
    case 1: return snprintf(v, size, "[1,2,3]");                      /* not an object */
    case 2: return snprintf(v, size, "{\"v\":1,\"id\":\"bad%llu\",\"type\":\"ticket.exploded\",\"ts\":0}",
                            (unsigned long long)g->event_no);
    case 3: return snprintf(v, size, "{\"v\":1,\"id\":\"bad%llu\",\"type\":\"call.offered\",\"ts\":\"yesterday\",\"call_id\":\"x\",\"queue\":\"payments\"}",
                            (unsigned long long)g->event_no);
    case 4: return snprintf(v, size, "{\"v\":1,\"id\":\"bad%llu\",\"type\":\"survey.csat\",\"ts\":1,\"ticket_id\":\"T1\",\"score\":9}",
                            (unsigned long long)g->event_no);
    case 5: return snprintf(v, size, "{\"v\":1,\"id\":\"bad%llu\",\"type\":\"call.answered\",\"ts\":1,\"call_id\":\"x\"}",
                            (unsigned long long)g->event_no);
    default:
        if (n > 12) /* invalid UTF-8 inside a string */
            v[10] = (char)0xC3, v[11] = (char)0x28;
        return n;
    }
}

/* ---- public ---- */

void sp_gen_conf_defaults(sp_gen_conf *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 42;
    c->start_ms = 1763769600000LL; /* 2025-11-22T00:00:00Z, a Saturday */
    c->arrivals_per_hour = 1200;
    c->max_disorder_ms = 60000;
    c->promo_day = -1;
    c->promo_multiplier = 3.0;
}

/* Sizes each queue's roster from its share of conf.agents, or when that is 0 of
 * conf.arrivals_per_hour. */
static void roster_init(sp_gen *g)
{
    double per_hour = g->conf.arrivals_per_hour > 0 ? g->conf.arrivals_per_hour : 0;
    double need[NQ], total = 0;
    for (int q = 0; q < NQ; q++) {
        need[q] = g->conf.agents > 0 ? g->conf.agents * queue_w[q]
                                     : per_hour * queue_w[q] * AGENTS_PER_CONTACT_HOUR;
        total += fmax(MIN_AGENTS_PER_QUEUE, ceil(need[q]));
    }
    double scale = total > MAX_AGENTS ? MAX_AGENTS / total : 1;
    uint32_t first = 0;
    for (int q = 0; q < NQ; q++) {
        g->roster_first[q] = (uint16_t)first;
        g->roster_n[q] = (uint16_t)fmax(MIN_AGENTS_PER_QUEUE, ceil(need[q] * scale));
        first += g->roster_n[q];
    }
    g->roster_total = first;
}

sp_gen *sp_gen_new(const sp_gen_conf *c, char *errstr, size_t errstr_size)
{
    sp_gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(errstr, errstr_size, "out of memory creating the generator");
        return NULL;
    }
    g->conf = *c;
    roster_init(g);
    g->rng = c->seed ^ 0x5eed5eed5eedULL;
    g->next_minute = c->start_ms - (c->start_ms % 60000 + 60000) % 60000;
    return g;
}

void sp_gen_destroy(sp_gen *g)
{
    if (!g)
        return;
    free(g->heap);
    free(g);
}

int sp_gen_next(sp_gen *g, sp_gen_msg *out)
{
    if (g->dup_pending) { /* the duplicate of the previous message */
        g->dup_pending = 0;
        *out = (sp_gen_msg){g->dup_key, g->dup_value, g->dup_key_len, g->dup_len, 0, 2};
        return 0;
    }
    while (g->n == 0 || g->heap[0].emit_ms >= g->next_minute)
        if (draw_minute(g) < 0)
            return -1;
    gev e = heap_pop(g);
    int n = format_event(g, &e, g->value, sizeof g->value);
    int kl = e.no_case ? snprintf(g->key, sizeof g->key, "agent-%03u", e.agent)
                       : snprintf(g->key, sizeof g->key, "%c%u", e.is_call ? 'C' : 'T', e.case_no);
    int kind = 0;
    if (g->conf.malformed > 0 && uniform(&g->rng) < g->conf.malformed) {
        n = malform(g, g->value, n, sizeof g->value);
        kind = 1;
    } else if (g->conf.duplicates > 0 && uniform(&g->rng) < g->conf.duplicates) {
        memcpy(g->dup_value, g->value, (size_t)n);
        memcpy(g->dup_key, g->key, (size_t)kl);
        g->dup_len = (size_t)n;
        g->dup_key_len = (size_t)kl;
        g->dup_pending = 1;
    }
    *out = (sp_gen_msg){g->key, g->value, (size_t)kl, (size_t)n, e.ts_ms, kind};
    return 0;
}
