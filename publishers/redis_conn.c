/*
 * redis_conn.c - see redis_conn.h.
 */
#include "supportpulse/redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct timeval ms_tv(int ms) { return (struct timeval){ms / 1000, (ms % 1000) * 1000}; }

redisContext *sp_redis_open(const char *address, int connect_timeout_ms, int command_timeout_ms)
{
    redisContext *rc;
    if (strncmp(address, "unix:", 5) == 0) {
        rc = redisConnectUnixWithTimeout(address + 5, ms_tv(connect_timeout_ms));
    } else {
        char host[256];
        const char *colon = strrchr(address, ':');
        size_t hl = colon ? (size_t)(colon - address) : strlen(address);
        snprintf(host, sizeof host, "%.*s", (int)(hl < sizeof host ? hl : sizeof host - 1),
                 address);
        rc = redisConnectWithTimeout(host, colon ? atoi(colon + 1) : 6379, ms_tv(connect_timeout_ms));
    }
    if (rc && !rc->err && command_timeout_ms > 0)
        redisSetTimeout(rc, ms_tv(command_timeout_ms));
    return rc;
}
