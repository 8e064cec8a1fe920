/*
 * redis_server.h - starts a private redis-server child process (for the demo and the
 * tests): no persistence, listening on a unix socket in dir and, if port > 0, on
 * 127.0.0.1:port. Start waits until it answers PING.
 *
 * Ownership: the handle owns the child process; stop terminates and reaps it.
 */
#ifndef SUPPORTPULSE_REDIS_SERVER_H
#define SUPPORTPULSE_REDIS_SERVER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    int port;
    char dir[512];
    char socket[600];   /* dir/redis.sock */
    char address[640];  /* "unix:/..." for --redis */
} sp_redis_server;

/* 0, or -1 with errstr (redis-server missing, or it did not answer in 10 s). */
int sp_redis_server_start(sp_redis_server *s, const char *dir, int port, int daemonize,
                          char *errstr, size_t errstr_size);
/* The same with more redis-server options (NULL-terminated "--name", "value", ...),
 * which override the ones above (e.g. "--cluster-enabled", "yes"). */
int sp_redis_server_start_with(sp_redis_server *s, const char *dir, int port, int daemonize,
                               const char *const *extra, char *errstr, size_t errstr_size);
/* Stops the child (SIGTERM, then SIGKILL after 5 s) and reaps it. */
void sp_redis_server_stop(sp_redis_server *s);

/* Creates a private directory $TMPDIR/<prefix>.<random> (mkdtemp) and writes its path
 * into out. 0, or -1 with errno set. */
int sp_tmpdir(char *out, size_t size, const char *prefix);

#endif
