/*
 * log.h - one-line diagnostics to stderr: "2026-11-22T10:15:30.123Z supportpulse[level] msg".
 * The level is process-wide (set once at start-up, read with a relaxed atomic).
 */
#ifndef SUPPORTPULSE_LOG_H
#define SUPPORTPULSE_LOG_H

typedef enum { SP_LOG_ERROR = 0, SP_LOG_WARN, SP_LOG_INFO, SP_LOG_DEBUG } sp_log_level;

void sp_log_set_level(sp_log_level level);
int sp_log_parse_level(const char *s, sp_log_level *out);
void sp_log(sp_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sp_err(...) sp_log(SP_LOG_ERROR, __VA_ARGS__)
#define sp_warn(...) sp_log(SP_LOG_WARN, __VA_ARGS__)
#define sp_info(...) sp_log(SP_LOG_INFO, __VA_ARGS__)
#define sp_debug(...) sp_log(SP_LOG_DEBUG, __VA_ARGS__)

#endif
