/*
 * metrics.h - what is kept per (window, dimension set): integer counters and, for each
 * duration metric, a sum and a count (for the exact mean) plus a quantile sketch
 * (sketch.h). Every one of them adds across partitions, instances and finer windows,
 * so a rollup is a plain sum; ratios, means and percentiles are derived when published.
 */
#ifndef SUPPORTPULSE_METRICS_H
#define SUPPORTPULSE_METRICS_H

#include <stdint.h>

typedef enum {
    SP_M_EVENTS,
    SP_M_OFFERED, SP_M_ANSWERED, SP_M_ABANDONED, SP_M_TRANSFERRED,
    SP_M_CREATED, SP_M_SOLVED, SP_M_REOPENED, SP_M_CLOSED, SP_M_ESCALATED_BOT,
    SP_M_CSAT_RESPONSES, SP_M_CSAT_POSITIVE, SP_M_CSAT_SCORE_SUM,
    SP_M_NPS_RESPONSES, SP_M_NPS_PROMOTERS, SP_M_NPS_DETRACTORS,
    SP_M_SHORT_ABANDONED, SP_M_ANSWERED_IN_SL, SP_M_ONE_TOUCH,
    SP_M_CSAT_NEGATIVE,         /* scores 1 and 2 (dissatisfied) */
    SP_M_CSAT_REPEAT,           /* a survey.csat for a case that already had one */
    SP_M_SURVEYS_UNKNOWN_CASE,  /* surveys whose case is not remembered: queue=unknown */
    /* sum and count per duration, in sp_duration order: sum = first + 2*d */
    SP_M_WAIT_SUM, SP_M_WAIT_COUNT,
    SP_M_ABANDON_WAIT_SUM, SP_M_ABANDON_WAIT_COUNT,
    SP_M_HANDLE_SUM, SP_M_HANDLE_COUNT,
    SP_M_FIRST_REPLY_SUM, SP_M_FIRST_REPLY_COUNT,
    SP_M_RESOLUTION_SUM, SP_M_RESOLUTION_COUNT,
    SP_M__COUNT
} sp_metric;

/* Duration metrics (milliseconds), each with a sum, a count and a sketch. */
typedef enum {
    SP_D_WAIT,          /* call.answered - offered (ASA) */
    SP_D_ABANDON_WAIT,  /* call.abandoned - offered */
    SP_D_HANDLE,        /* ended - answered + acw (AHT) */
    SP_D_FIRST_REPLY,   /* first agent reply - created */
    SP_D_RESOLUTION,    /* solved - created */
    SP_D__COUNT
} sp_duration;

#define SP_M_DUR_SUM(d) ((sp_metric)(SP_M_WAIT_SUM + 2 * (int)(d)))
#define SP_M_DUR_COUNT(d) ((sp_metric)(SP_M_WAIT_SUM + 2 * (int)(d) + 1))

typedef struct {
    int64_t v[SP_M__COUNT];
} sp_counters;

/* The Redis field name of a metric ("offered", "csat_responses", ...). */
const char *sp_metric_name(sp_metric m);
/* Looks a field name up; -1 when it is not a counter. */
int sp_metric_parse(const char *name);
/* "wait_ms", "abandon_wait_ms", "handle_ms", "first_reply_ms", "resolution_ms". */
const char *sp_duration_name(sp_duration d);
int sp_duration_parse(const char *name);

#endif
