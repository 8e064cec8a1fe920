/*
 * alert_state.c - see alert_state.h.
 */
#include "supportpulse/alert_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *sp_alert_phase_name(sp_alert_phase p)
{
    static const char *const n[] = {"inactive", "pending", "firing"};
    return n[p];
}

static int judged(const sp_rule *r, const sp_alert_sample *s)
{
    return s->has_value && (r->min_volume <= 0 || (s->has_volume && s->volume >= r->min_volume));
}

static sp_transition fire(sp_alert_state *st, int64_t now)
{
    st->phase = SP_ALERT_FIRING;
    st->fired_at = now;
    st->clear_since = 0;
    return SP_TRANSITION_FIRING;
}

static sp_transition resolve(sp_alert_state *st)
{
    memset(st, 0, sizeof *st);
    return SP_TRANSITION_RESOLVED;
}

sp_transition sp_alert_step(const sp_rule *r, sp_alert_state *st, const sp_alert_sample *s,
                            int64_t now)
{
    int ok = judged(r, s);
    if (s->has_value)
        st->value = s->value;
    switch (st->phase) {
    case SP_ALERT_INACTIVE:
        if (!ok || !sp_rule_breaches(r, s->value, r->threshold))
            return SP_TRANSITION_NONE;
        st->phase = SP_ALERT_PENDING;
        st->active_since = now;
        return r->for_ms == 0 ? fire(st, now) : SP_TRANSITION_NONE;
    case SP_ALERT_PENDING:
        if (!ok || !sp_rule_breaches(r, s->value, r->threshold)) {
            memset(st, 0, sizeof *st);
            return SP_TRANSITION_NONE;
        }
        return now - st->active_since >= r->for_ms ? fire(st, now) : SP_TRANSITION_NONE;
    default:
        if (!s->has_value)
            return resolve(st);
        if (!ok)
            return SP_TRANSITION_NONE; /* too few to judge: hold */
        if (sp_rule_breaches(r, s->value, r->resolve)) {
            st->clear_since = 0;
            return SP_TRANSITION_NONE;
        }
        if (!st->clear_since)
            st->clear_since = now;
        return now - st->clear_since >= r->resolve_for_ms ? resolve(st) : SP_TRANSITION_NONE;
    }
}

int sp_alert_state_format(const sp_alert_state *st, char *out, size_t size)
{
    int n = st->phase == SP_ALERT_INACTIVE
                ? snprintf(out, size, "%s", "")
                : snprintf(out, size, "%s %" PRId64 " %" PRId64 " %" PRId64 " %.17g",
                           sp_alert_phase_name(st->phase), st->active_since, st->fired_at,
                           st->clear_since, st->value);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int sp_alert_state_parse(const char *text, sp_alert_state *st)
{
    memset(st, 0, sizeof *st);
    if (!text || !*text)
        return 0;
    char phase[16];
    int used = 0;
    if (sscanf(text, "%15s %" SCNd64 " %" SCNd64 " %" SCNd64 " %lf%n", phase, &st->active_since,
               &st->fired_at, &st->clear_since, &st->value, &used) != 5 ||
        text[used] != '\0')
        return -1;
    if (strcmp(phase, "pending") == 0)
        st->phase = SP_ALERT_PENDING;
    else if (strcmp(phase, "firing") == 0)
        st->phase = SP_ALERT_FIRING;
    else
        return -1;
    return 0;
}
