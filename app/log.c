/*
 * log.c - see log.h. Each line is formatted into a local buffer and written with one
 * fputs, so lines from different threads do not interleave.
 */
#include "supportpulse/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "supportpulse/event.h"

static atomic_int current = SP_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sp_log_set_level(sp_log_level level) { atomic_store(&current, (int)level); }

int sp_log_parse_level(const char *s, sp_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (sp_log_level)i;
            return 0;
        }
    return -1;
}

void sp_log(sp_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load_explicit(&current, memory_order_relaxed))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[1200], when[40];
    sp_ts_format((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when, sizeof when);
    int n = snprintf(line, sizeof line, "%s supportpulse[%s] ", when, level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    strcat(line, "\n");
    fputs(line, stderr);
}
