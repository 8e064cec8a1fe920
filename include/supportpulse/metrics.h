/*
 * metrics.h - what is kept per (window, dimension set): integer counters and, for each
 * duration metric, a sum and a count (for the exact mean) plus a quantile sketch
 * (sketch.h). Every one of them adds across partitions, instances and finer windows,
 * so a rollup is a plain sum; ratios, means and percentiles are derived when published
 * (sp_ratios here, the one definition the rollups, the live hashes and the docs use).
 *
 * Also here: the rollup resolutions (1m ... 1d) and the classes of dimension sets, each
 * with the resolutions it is rolled up at (the setting resolutions_by_dims).
 */
#ifndef SUPPORTPULSE_METRICS_H
#define SUPPORTPULSE_METRICS_H

#include <stddef.h>
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
    /* after the durations, so a checkpoint written before it reads as 0 for it */
    SP_M_ORPHANED,              /* calls timed out in queue or in conversation */
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

/* Sets of counters travel as 64-bit masks (partition_codec.c, rollups.c). */
_Static_assert(SP_M__COUNT <= 64, "a counter mask holds 64 counters");

typedef struct {
    int64_t v[SP_M__COUNT];
} sp_counters;

/* The decimals a field of a rollup or live hash is written with: a ratio's (csat_15m and
 * the other live forms included; csat_smoothed as csat), 0 for counts, durations and
 * percentiles; -1 for a name that is none of these. */
int sp_field_decimals(const char *field);

/* Whether a rollup always carries metric m, 0 included, so a board shows 0 rather than
 * "no data": the volumes a board reads (events, offered, answered, abandoned,
 * transferred, created, solved, csat_responses, nps_responses); an agent's rollup only
 * those an agent is credited with (events, answered, solved and the surveys; offers,
 * abandons, transfers and creations name no agent). Other counters are written when
 * not zero. */
int sp_metric_core(sp_metric m, int agent);

/* A ratio of sums of counters: scale * (num terms) / (den terms), absent when the
 * denominator is not positive. A term is a counter with a sign. */
typedef struct {
    sp_metric m;
    int sign;
} sp_term;

typedef struct {
    const char *name;      /* field name, e.g. "service_level" */
    sp_term num[2], den[3];
    int nnum, nden;
    double scale;
    int decimals;          /* written with exactly this many decimals (numfmt.h) */
} sp_ratio;

extern const sp_ratio sp_ratios[];
extern const int sp_nratios;
/* The ratio over counters v; 0 and *out, or -1 when it is undefined. */
int sp_ratio_value(const sp_ratio *r, const int64_t *v, double *out);
const sp_ratio *sp_ratio_find(const char *name);

/* Rollup resolutions. */
#define SP_NRES 5
extern const char *const sp_res_names[SP_NRES];   /* "1m", "5m", "15m", "1h", "1d" */
extern const int64_t sp_res_seconds[SP_NRES];
int sp_res_parse(const char *name, size_t len);    /* index, or -1 */
/* The start of the window of resolution r holding epoch second s. */
static inline int64_t sp_res_start(int64_t s, int r)
{
    int64_t w = sp_res_seconds[r];
    return s - ((s % w) + w) % w;
}

/* Classes of dimension sets: their tenant-prefixed variants are of the same class. */
typedef enum {
    SP_DC_ALL,            /* all, tenant=T */
    SP_DC_QUEUE,          /* queue=Q */
    SP_DC_CHANNEL,        /* channel=C */
    SP_DC_QUEUE_CHANNEL,  /* queue=Q|channel=C */
    SP_DC_AGENT,          /* agent=A */
    SP_DC__COUNT
} sp_dims_class;
/* "all", "queue", "channel", "queue,channel", "agent" (the setting's names). */
const char *sp_dims_class_name(sp_dims_class c);
/* The class of a dims key ("queue=payments|channel=phone", "tenant=t1|agent=a7"). */
sp_dims_class sp_dims_class_of(const char *dims);

/* Resolutions per class: bit r set = rolled up at sp_res_names[r]. */
typedef struct {
    uint8_t mask[SP_DC__COUNT];
} sp_res_by_class;
#define SP_RES_BY_DIMS_DEFAULT \
    "all=1m,5m,15m,1h,1d;queue=1m,5m,15m,1h,1d;channel=1m,5m,15m,1h,1d;" \
    "queue,channel=1m,5m,15m,1h,1d;agent=15m,1h,1d"
/* Parses "class=res,res;class=res..." over the defaults (classes not named keep theirs).
 * Every class needs a resolution; the four of queues and channels need 1m and 1d, which
 * the live hashes read. 0, or -1 with a message naming what is wrong. */
int sp_res_by_class_parse(const char *spec, sp_res_by_class *out, char *errstr,
                          size_t errstr_size);
/* The finest resolution of a class: its cells are kept in windows of that width. */
int sp_res_base(const sp_res_by_class *rc, sp_dims_class c);

/* The Redis field name of a metric ("offered", "csat_responses", ...). */
const char *sp_metric_name(sp_metric m);
/* Looks a field name up; -1 when it is not a counter. */
int sp_metric_parse(const char *name);
/* "wait_ms", "abandon_wait_ms", "handle_ms", "first_reply_ms", "resolution_ms". */
const char *sp_duration_name(sp_duration d);
int sp_duration_parse(const char *name);

#endif
