/*
 * redis_conn.c - see redis_conn.h.
 */
#include "supportpulse/redis_conn.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_keys.h"

#include <errno.h>
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

int sp_redis_auth(redisContext *rc, const char *user, const char *password, char *errstr,
                  size_t errstr_size)
{
    int has_user = user && *user, has_pass = password && *password;
    if (!has_user && !has_pass)
        return 0;
    redisReply *r = has_user ? redisCommand(rc, "AUTH %s %s", user, has_pass ? password : "")
                             : redisCommand(rc, "AUTH %s", password);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(errstr, errstr_size, "AUTH%s%s refused: %s", has_user ? " as " : "",
                 has_user ? user : "",
                 !r ? rc->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

int sp_redis_password_read(const char *path, char *out, size_t size, char *errstr,
                           size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (!f || !fgets(out, (int)size, f)) {
        snprintf(errstr, errstr_size, "cannot read %s%s%s", path, f ? " (empty)" : ": ",
                 f ? "" : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int sp_redis_auth_error(const char *errstr)
{
    static const char *const words[] = {"AUTH", "WRONGPASS", "NOPERM", "unauthenticated"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(errstr, words[i]))
            return 1;
    return 0;
}

int sp_redis_event_now(sp_redis *rc, const char *prefix, int64_t *now_ms, char *errstr,
                       size_t errstr_size)
{
    char key[SP_KEY_MAX], why[512];
    if (sp_key_meta(key, sizeof key, prefix) < 0) {
        snprintf(errstr, errstr_size, "prefix too long");
        return -1;
    }
    redisReply *r = sp_redis_cmd(rc, why, sizeof why, "HGETALL %s", key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "HGETALL %s: %s", key,
                 !r ? why : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    int64_t best = -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || strncmp(k->str, "resume:", 7) != 0 ||
            v->type != REDIS_REPLY_STRING)
            continue;
        const char *sp = strchr(v->str, ' ');
        int64_t ts = sp ? strtoll(sp + 1, NULL, 10) : -1;
        if (ts > best)
            best = ts;
    }
    freeReplyObject(r);
    *now_ms = best;
    return 0;
}
