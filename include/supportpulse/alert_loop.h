/*
 * alert_loop.h - runs alert evaluation (alert_eval.h) beside the pipeline: its own
 * thread and Redis connection, a tick every alert_eval_ms, transitions this instance
 * recorded handed to the hooks (hooks.h), and the hooks' counters added to
 * {p}:alerts:hooks. Nothing is shared with the pipeline thread but the stop flag.
 * Redis failures are logged once per outage and retried with backoff.
 *
 * Ownership: the loop keeps a pointer to cfg (which must outlive it) and owns the
 * rules, the evaluator, the hooks and the thread.
 */
#ifndef SUPPORTPULSE_ALERT_LOOP_H
#define SUPPORTPULSE_ALERT_LOOP_H

#include <stddef.h>

#include "supportpulse/config.h"

typedef struct sp_alert_loop sp_alert_loop;

/* Loads cfg->alert_rules and starts the thread. NULL with errstr on failure. */
sp_alert_loop *sp_alert_loop_start(const sp_config *cfg, char *errstr, size_t errstr_size);
/* Stops the thread (hooks get a few seconds to deliver what is queued), frees all.
 * NULL is a no-op. */
void sp_alert_loop_stop(sp_alert_loop *l);

#endif
