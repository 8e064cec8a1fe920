/*
 * presence.h - agent presence (agent.status) of one partition since its last publish:
 * the newest status of each agent, with the queues it serves, for the publisher to hand
 * to Redis, where {p}:pr:{...} keeps every agent's newest status and the live hashes
 * count agents_available and agents_staffed per queue (presence.lua, live.h).
 *
 * "Newest" is by event time, ties broken by the status text, so the result does not
 * depend on the order events arrive in nor on how often they are replayed.
 * Single writer (the partition's thread). Ownership: the log owns its entries; the
 * array from sp_presence_list is valid until the next add or clear.
 */
#ifndef SUPPORTPULSE_PRESENCE_H
#define SUPPORTPULSE_PRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/event.h"

typedef struct {
    int64_t ts_ms;
    sp_agent_status status;
    uint8_t nqueues;
    char tenant[SP_NAME_MAX + 1], agent[SP_NAME_MAX + 1];
    char queues[SP_QUEUES_MAX];  /* packed as in sp_event */
} sp_presence;

typedef struct sp_presence_log sp_presence_log;

sp_presence_log *sp_presence_log_new(void);               /* NULL when out of memory */
void sp_presence_log_destroy(sp_presence_log *l);         /* NULL is a no-op */
/* Records an agent.status event (kept when newer than the agent's entry). 0, or -1
 * when out of memory. */
int sp_presence_log_add(sp_presence_log *l, const sp_event *ev);
const sp_presence *sp_presence_list(const sp_presence_log *l, size_t *n);
/* Records an entry as listed (a restore of what was not yet acknowledged). 0 or -1. */
int sp_presence_log_put(sp_presence_log *l, const sp_presence *e);
void sp_presence_log_clear(sp_presence_log *l);

/* "available", "busy", "away", "offline". */
const char *sp_agent_status_name(sp_agent_status s);
/* Whether a is newer than b: later ts, or the same ts and a greater status name. */
int sp_presence_newer(int64_t a_ts, sp_agent_status a, int64_t b_ts, sp_agent_status b);

#endif
