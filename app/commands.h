/*
 * commands.h - the subcommands of the supportpulse binary (one file each in app/).
 * Each returns the process exit status; only main() exits.
 */
#ifndef SUPPORTPULSE_COMMANDS_H
#define SUPPORTPULSE_COMMANDS_H

#include "supportpulse/redis_client.h"
#include "supportpulse/redis_conn.h"

int sp_cmd_run(int argc, char **argv, char **envp);
int sp_cmd_gen(int argc, char **argv);
int sp_cmd_mock_kafka(int argc, char **argv);
int sp_cmd_demo(int argc, char **argv, char **envp);
int sp_cmd_forecast(int argc, char **argv);
int sp_cmd_staffing(int argc, char **argv);
int sp_cmd_rules(int argc, char **argv);
int sp_cmd_alerts(int argc, char **argv);
/* supportpulse dump: a prefix's canonical dump (publishers/prefix_dump.h). */
int sp_cmd_dump(int argc, char **argv);

/* Where the commands that read Redis find it (app/cli_redis.c). */
typedef struct {
    const char *redis, *prefix, *user, *password_file;
    sp_redis_tls_conf tls;
} sp_cli_redis;
/* From $SUPPORTPULSE_REDIS, _PREFIX, _REDIS_USER, _REDIS_PASSWORD_FILE, _REDIS_TLS,
 * _REDIS_TLS_CA_FILE, _CERT_FILE, _KEY_FILE, _SERVER_NAME, else defaults. */
void sp_cli_redis_defaults(sp_cli_redis *c);
/* 1 when argv[*i] is one of the flags in SP_CLI_REDIS_USAGE (taken, *i advanced), 0 when
 * it is none of them. */
int sp_cli_redis_flag(sp_cli_redis *c, int argc, char **argv, int *i);
/* A client connected and authenticated (the password from the file, else
 * $SUPPORTPULSE_REDIS_PASSWORD), owned by the caller (sp_redis_destroy); or NULL with a
 * message on stderr and *status the exit status: 2 refused credentials, 1 otherwise. */
sp_redis *sp_cli_redis_open(const sp_cli_redis *c, const char *cmd, int timeout_ms, int *status);
/* The usage lines of those flags. */
#define SP_CLI_REDIS_USAGE                                                                   \
    "  --redis ADDR     HOST:PORT or unix:/path, any master of a cluster\n"                  \
    "                   (default $SUPPORTPULSE_REDIS or 127.0.0.1:6379)\n"                    \
    "  --prefix P       key prefix (default $SUPPORTPULSE_PREFIX or sp)\n"                    \
    "  --redis-user U   Redis ACL user (default $SUPPORTPULSE_REDIS_USER); the password is\n"  \
    "                   $SUPPORTPULSE_REDIS_PASSWORD or the first line of\n"                  \
    "  --redis-password-file F (default $SUPPORTPULSE_REDIS_PASSWORD_FILE)\n"                 \
    "  TLS: --redis rediss://HOST:PORT, with --redis-tls-ca-file F, --redis-tls-cert-file F,\n" \
    "       --redis-tls-key-file F, --redis-tls-server-name N (defaults: the system's CAs,\n"    \
    "       no client certificate, each node's host; $SUPPORTPULSE_REDIS_TLS_CA_FILE...)\n"

/* Shared by the subcommands: parse "--name value"/"--name=value" at argv[*i]. Returns
 * the value and advances *i, or NULL when argv[*i] is not --name. */
const char *sp_flag(int argc, char **argv, int *i, const char *name);
/* Parses an integer / a number for a flag, printing "name: ..." on error. 0 or -1. */
int sp_flag_int(const char *name, const char *v, long long lo, long long hi, long long *out);
int sp_flag_double(const char *name, const char *v, double lo, double hi, double *out);

/* SIGINT/SIGTERM set this flag; a second signal exits at once. */
void sp_install_signals(void (*on_stop)(void *), void *arg);

#endif
