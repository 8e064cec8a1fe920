/*
 * redis_keys.c - see redis_keys.h.
 */
#include "supportpulse/redis_keys.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "supportpulse/metrics.h"

static int fmt(char *buf, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, size, f, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int sp_key_rollup(char *buf, size_t size, const char *prefix, int res, const char *dims,
                  int64_t start)
{
    return fmt(buf, size, "%s:r:%s:%s:%" PRId64, prefix, sp_res_names[res], dims, start);
}

int sp_key_companion(char *buf, size_t size, const char *prefix, const char *rollup_key)
{
    return fmt(buf, size, "%s:x:{%s}", prefix, rollup_key);
}

int sp_key_series(char *buf, size_t size, const char *prefix, int res, const char *dims)
{
    return fmt(buf, size, "%s:ts:%s:%s", prefix, sp_res_names[res], dims);
}

int sp_key_live(char *buf, size_t size, const char *prefix, const char *dims)
{
    return fmt(buf, size, "%s:live:%s", prefix, dims);
}

int sp_key_live_companion(char *buf, size_t size, const char *prefix, const char *live_key)
{
    return fmt(buf, size, "%s:lx:{%s}", prefix, live_key);
}

int sp_key_meta(char *buf, size_t size, const char *prefix)
{
    return fmt(buf, size, "%s:meta", prefix);
}

int sp_key_updates(char *buf, size_t size, const char *prefix)
{
    return fmt(buf, size, "%s:updates", prefix);
}

int sp_key_livedims(char *buf, size_t size, const char *prefix)
{
    return fmt(buf, size, "%s:livedims", prefix);
}

int sp_key_waiting(char *buf, size_t size, const char *prefix)
{
    return fmt(buf, size, "%s:waiting", prefix);
}

int sp_key_presence(char *buf, size_t size, const char *prefix, int counts)
{
    return fmt(buf, size, "%s:%s:{%s:presence}", prefix, counts ? "prc" : "pr", prefix);
}

int sp_key_checkpoint(char *buf, size_t size, const char *prefix, const char *topic,
                      int32_t partition, char kind)
{
    const char *k = kind == 'l' ? "cpl" : kind == 's' ? "cps" : "cp";
    return fmt(buf, size, "%s:%s:{%s:%s:%d}", prefix, k, prefix, topic, (int)partition);
}

int sp_key_checkpoint_segment(char *buf, size_t size, const char *prefix, const char *topic,
                              int32_t partition, const char *name)
{
    return fmt(buf, size, "%s:cpg:{%s:%s:%d}:%s", prefix, prefix, topic, (int)partition, name);
}

int sp_key_csat_agents(char *buf, size_t size, const char *prefix, int res, const char *desk,
                       int64_t start)
{
    return fmt(buf, size, "%s:csat_agents:%s:%s:%" PRId64, prefix, sp_res_names[res], desk,
               start);
}

int sp_key_csat_due(char *buf, size_t size, const char *prefix)
{
    return fmt(buf, size, "%s:csat_due", prefix);
}

int sp_key_forecast(char *buf, size_t size, const char *prefix, const char *dims)
{
    return fmt(buf, size, "%s:fc:%s", prefix, dims);
}

int sp_key_forecast_state(char *buf, size_t size, const char *prefix, const char *forecast_key)
{
    return fmt(buf, size, "%s:fcstate:{%s}", prefix, forecast_key);
}

int sp_key_alerts(char *buf, size_t size, const char *prefix, char kind)
{
    switch (kind) {
    case 'a':
        return fmt(buf, size, "%s:alerts:active", prefix);
    case 'h':
        return fmt(buf, size, "%s:alerts:hooks", prefix);
    case 't':
        return fmt(buf, size, "%s:alerts:state:{%s:alerts}", prefix, prefix);
    case 'f':
        return fmt(buf, size, "%s:alerts:firing:{%s:alerts}", prefix, prefix);
    default:
        return fmt(buf, size, "%s:alerts", prefix);
    }
}
