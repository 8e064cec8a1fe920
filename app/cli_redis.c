/*
 * cli_redis.c - how the commands that read Redis (alerts, forecast, dump) find and
 * authenticate to it: --redis, --prefix, --redis-user, --redis-password-file and the
 * --redis-tls-* files, with $SUPPORTPULSE_REDIS, $SUPPORTPULSE_PREFIX,
 * $SUPPORTPULSE_REDIS_USER, $SUPPORTPULSE_REDIS_PASSWORD and $SUPPORTPULSE_REDIS_TLS_* as
 * defaults, as `run` takes them. The password is never
 * a flag (it would show in ps) and never printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "supportpulse/redis_conn.h"

void sp_cli_redis_defaults(sp_cli_redis *c)
{
    const char *r = getenv("SUPPORTPULSE_REDIS"), *p = getenv("SUPPORTPULSE_PREFIX");
    c->redis = r ? r : "127.0.0.1:6379";
    c->prefix = p ? p : "sp";
    c->user = getenv("SUPPORTPULSE_REDIS_USER");
    c->password_file = getenv("SUPPORTPULSE_REDIS_PASSWORD_FILE");
    const char *tls = getenv("SUPPORTPULSE_REDIS_TLS");
    c->tls = (sp_redis_tls_conf){.enabled = tls && strcmp(tls, "1") == 0,
                                 .ca_file = getenv("SUPPORTPULSE_REDIS_TLS_CA_FILE"),
                                 .cert_file = getenv("SUPPORTPULSE_REDIS_TLS_CERT_FILE"),
                                 .key_file = getenv("SUPPORTPULSE_REDIS_TLS_KEY_FILE"),
                                 .server_name = getenv("SUPPORTPULSE_REDIS_TLS_SERVER_NAME")};
}

int sp_cli_redis_flag(sp_cli_redis *c, int argc, char **argv, int *i)
{
    const char *v;
    if ((v = sp_flag(argc, argv, i, "--redis-user")))
        c->user = v;
    else if ((v = sp_flag(argc, argv, i, "--redis-password-file")))
        c->password_file = v;
    else if ((v = sp_flag(argc, argv, i, "--redis-tls-ca-file")))
        c->tls.ca_file = v;
    else if ((v = sp_flag(argc, argv, i, "--redis-tls-cert-file")))
        c->tls.cert_file = v;
    else if ((v = sp_flag(argc, argv, i, "--redis-tls-key-file")))
        c->tls.key_file = v;
    else if ((v = sp_flag(argc, argv, i, "--redis-tls-server-name")))
        c->tls.server_name = v;
    else if ((v = sp_flag(argc, argv, i, "--redis")))
        c->redis = v;
    else if ((v = sp_flag(argc, argv, i, "--prefix")))
        c->prefix = v;
    else
        return 0;
    return 1;
}

/* The password: the file's first line, else $SUPPORTPULSE_REDIS_PASSWORD, else none.
 * 0, or -1 with a message. */
static int password_of(const sp_cli_redis *c, const char *cmd, char *out, size_t size)
{
    const char *env = getenv("SUPPORTPULSE_REDIS_PASSWORD");
    out[0] = '\0';
    if (!c->password_file || !*c->password_file) {
        snprintf(out, size, "%s", env ? env : "");
        return 0;
    }
    char why[600];
    if (sp_redis_password_read(c->password_file, out, size, why, sizeof why) < 0) {
        fprintf(stderr, "supportpulse %s: --redis-password-file: %s\n", cmd, why);
        return -1;
    }
    return 0;
}

sp_redis *sp_cli_redis_open(const sp_cli_redis *c, const char *cmd, int timeout_ms, int *status)
{
    char pass[1024], why[512];
    *status = 2;
    if (password_of(c, cmd, pass, sizeof pass) < 0)
        return NULL;
    sp_redis *r = sp_redis_new(c->redis, 5000, timeout_ms);
    int ok = r && sp_redis_set_auth(r, c->user, pass) == 0;
    explicit_bzero(pass, sizeof pass);
    if (!ok) {
        fprintf(stderr, "supportpulse %s: out of memory\n", cmd);
        *status = 1;
    } else if (sp_redis_set_tls(r, &c->tls, why, sizeof why) < 0) {
        fprintf(stderr, "supportpulse %s: %s\n", cmd, why);
        ok = 0; /* *status stays 2: a setting to fix */
    } else if (sp_redis_connect(r, why, sizeof why) < 0) {
        fprintf(stderr, "supportpulse %s: %s\n", cmd, why);
        *status = sp_redis_auth_error(why) ? 2 : 1;
        ok = 0;
    }
    if (!ok) {
        sp_redis_destroy(r);
        return NULL;
    }
    *status = 0;
    return r;
}
