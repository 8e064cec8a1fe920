/*
 * generator.h - synthetic help-desk traffic for a digital wallet, deterministic for a
 * seed: queues payments, account, security, refunds, technical, feedback and 技术支持;
 * every channel; a daily curve and a weekly pattern; an optional promotion-day surge;
 * callers who abandon more as waits grow; transfers; bot-to-human handoffs; reopens;
 * surveys that arrive minutes to hours later; agent presence; and, on request, a
 * fraction of malformed, duplicate and out-of-order messages. Each queue has its own
 * agents, as many as its share of the traffic needs at the daily peak: 0.2 agents per
 * contact an hour (242 agents at the default 1,200 contacts an hour, ~12,000 at 60,000),
 * at least 4 a queue, at most 60,000 in all.
 *
 * The generator simulates minute by minute: each minute's arrivals are drawn, their
 * whole life cycle (answer, end, wrap-up, replies, solve, survey...) is scheduled into a
 * heap ordered by emission time, and sp_gen_next pops the next message.
 *
 * Ownership: the generator owns the key and value it returns; they stay valid until the
 * next sp_gen_next or sp_gen_destroy. Not thread-safe.
 */
#ifndef SUPPORTPULSE_GENERATOR_H
#define SUPPORTPULSE_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t seed;
    int64_t start_ms;          /* simulated start (event time) */
    double arrivals_per_hour;  /* contacts per hour at a daily/weekly factor of 1 */
    int agents;                /* the roster, split by queue; 0 = sized from the arrivals */
    double malformed;          /* fractions of emitted messages, 0..1 */
    double duplicates;
    double out_of_order;
    int64_t max_disorder_ms;   /* how late an out-of-order message may come */
    int promo_day;             /* day (0 = the start day) with a surge; -1 = none */
    double promo_multiplier;
    int64_t outage_start_ms;   /* an outage (phones down, no agent can answer) over */
    int64_t outage_end_ms;     /* [start, end) event time: callers wait it out or hang
                                  up; 0, 0 = none */
} sp_gen_conf;

typedef struct {
    const char *key, *value;
    size_t key_len, value_len;
    int64_t ts_ms;             /* the event time (for a malformed message: intended) */
    int kind;                  /* 0 valid, 1 malformed, 2 duplicate */
} sp_gen_msg;

typedef struct sp_gen sp_gen;

void sp_gen_conf_defaults(sp_gen_conf *c);
sp_gen *sp_gen_new(const sp_gen_conf *c, char *errstr, size_t errstr_size);
void sp_gen_destroy(sp_gen *g); /* NULL is a no-op */
/* The next message in emission order. 0, or -1 when out of memory. */
int sp_gen_next(sp_gen *g, sp_gen_msg *out);

#endif
