/*
 * redis_conn.h - opening a hiredis connection from the address form every supportpulse
 * option uses: "HOST:PORT" (port 6379 when absent) or "unix:/path".
 *
 * Ownership: the caller owns the context (redisFree), also when it carries an error.
 */
#ifndef SUPPORTPULSE_REDIS_CONN_H
#define SUPPORTPULSE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* Connects with connect_timeout_ms, then sets command_timeout_ms (0 = none). NULL only
 * when hiredis cannot allocate; otherwise check ->err. */
redisContext *sp_redis_open(const char *address, int connect_timeout_ms, int command_timeout_ms);
/* Authenticates a fresh connection: AUTH password, or AUTH user password (a Redis 6+
 * ACL user); nothing when both are NULL or empty. 0, or -1 with errstr naming AUTH and
 * the user (never the password). */
int sp_redis_auth(redisContext *rc, const char *user, const char *password, char *errstr,
                  size_t errstr_size);

/* The Redis password kept in a file: its first line, without the line end, into out.
 * 0, or -1 with errstr naming the file (empty, or why it cannot be read). */
int sp_redis_password_read(const char *path, char *out, size_t size, char *errstr,
                           size_t errstr_size);

/* Whether an error text from connecting or a command is about credentials or
 * permissions (AUTH refused, NOAUTH, WRONGPASS, NOPERM): a setting to fix, not an
 * outage to wait out. */
int sp_redis_auth_error(const char *errstr);

struct sp_redis;
/* The event-time clock of the data in Redis: the newest event time of any partition
 * (its resume point in {p}:meta, "<offset> <newest ts> ..."), which the pipeline writes
 * once the flush's data is in. 0 and *now_ms (-1 before anything was consumed), or -1
 * with errstr. */
int sp_redis_event_now(struct sp_redis *r, const char *prefix, int64_t *now_ms, char *errstr,
                       size_t errstr_size);

#endif
