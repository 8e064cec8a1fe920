/*
 * metrics.h - the counters kept per (window, dimension set). Every field is an integer
 * that adds across partitions, instances and finer windows, so a rollup is a plain sum
 * (ratios such as csat and nps are derived from these when published).
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
    SP_M__COUNT
} sp_metric;

typedef struct {
    int64_t v[SP_M__COUNT];
} sp_counters;

/* The Redis field name of a metric ("offered", "csat_responses", ...). */
const char *sp_metric_name(sp_metric m);
/* Looks a field name up; -1 when it is not a counter. */
int sp_metric_parse(const char *name);

#endif
