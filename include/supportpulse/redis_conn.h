/*
 * redis_conn.h - opening a hiredis connection from the address form every supportpulse
 * option uses: "HOST:PORT" (port 6379 when absent) or "unix:/path".
 *
 * Ownership: the caller owns the context (redisFree), also when it carries an error.
 */
#ifndef SUPPORTPULSE_REDIS_CONN_H
#define SUPPORTPULSE_REDIS_CONN_H

#include <hiredis/hiredis.h>

/* Connects with connect_timeout_ms, then sets command_timeout_ms (0 = none). NULL only
 * when hiredis cannot allocate; otherwise check ->err. */
redisContext *sp_redis_open(const char *address, int connect_timeout_ms, int command_timeout_ms);

#endif
