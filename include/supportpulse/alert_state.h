/*
 * alert_state.h - the life of one alert (a rule on one dimension set), as in Prometheus:
 * inactive -> pending (the condition holds, not yet for `for`) -> firing -> resolved
 * (back to inactive). A firing alert resolves only once the value is back past the
 * resolve threshold (hysteresis) for `resolve_for`, or when its data is gone.
 *
 * Pure functions over a small struct, so the same code runs in the evaluator and in the
 * tests on scripted series; the struct travels through Redis as text (sp_alert_state_format)
 * so that every pipeline instance steps the same state (alert_eval.h).
 */
#ifndef SUPPORTPULSE_ALERT_STATE_H
#define SUPPORTPULSE_ALERT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/rules.h"

typedef enum { SP_ALERT_INACTIVE, SP_ALERT_PENDING, SP_ALERT_FIRING } sp_alert_phase;

typedef struct {
    sp_alert_phase phase;
    int64_t active_since;   /* pending/firing: when the condition first held (ms) */
    int64_t fired_at;       /* firing: when it fired */
    int64_t clear_since;    /* firing: when the value first came back past resolve, or 0 */
    double value;           /* the value at the last step */
} sp_alert_state;

typedef enum { SP_TRANSITION_NONE, SP_TRANSITION_FIRING, SP_TRANSITION_RESOLVED } sp_transition;

/* One observation. has_value = 0: no data (the series is absent or stale). */
typedef struct {
    int has_value;
    double value;
    int has_volume;
    double volume;
} sp_alert_sample;

/* Steps st with sample s at time now_ms (the alert clock). Returns the transition to
 * notify, if any. Below the rule's min_volume a value is not judged: it cannot start or
 * continue a pending alert, and a firing alert holds. */
sp_transition sp_alert_step(const sp_rule *r, sp_alert_state *st, const sp_alert_sample *s,
                            int64_t now_ms);

/* Text form "<phase> <active_since> <fired_at> <clear_since> <value>"; "" for inactive.
 * Returns the length, or -1 when it does not fit. */
int sp_alert_state_format(const sp_alert_state *st, char *out, size_t size);
/* Parses the text form (NULL or "" = inactive). 0, or -1 when malformed. */
int sp_alert_state_parse(const char *text, sp_alert_state *st);

const char *sp_alert_phase_name(sp_alert_phase p);

#endif
