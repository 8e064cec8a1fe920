/*
 * redis_server.c - see redis_server.h.
 */
#include "supportpulse/redis_server.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int answers_ping(const char *socket)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectUnixWithTimeout(socket, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

int sp_redis_server_start(sp_redis_server *s, const char *dir, int port, int daemonize,
                          char *errstr, size_t errstr_size)
{
    return sp_redis_server_start_with(s, dir, port, daemonize, NULL, errstr, errstr_size);
}

int sp_redis_server_start_with(sp_redis_server *s, const char *dir, int port, int daemonize,
                               const char *const *extra, char *errstr, size_t errstr_size)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->socket, sizeof s->socket, "%s/redis.sock", dir);
    snprintf(s->address, sizeof s->address, "unix:%s", s->socket);
    s->port = port;
    char portstr[16], logfile[600];
    snprintf(portstr, sizeof portstr, "%d", port > 0 ? port : 0);
    snprintf(logfile, sizeof logfile, "%s/redis.log", dir);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        if (!daemonize) {
            setpgid(0, 0); /* a Ctrl-C meant for the parent is handled by the parent */
            prctl(PR_SET_PDEATHSIG, SIGTERM); /* and it never outlives its parent */
        }
        const char *argv[64] = {"redis-server", "--port", portstr, "--bind", "127.0.0.1",
                                "--unixsocket", s->socket, "--unixsocketperm", "700", "--dir",
                                dir, "--save", "", "--appendonly", "no", "--logfile", logfile,
                                "--daemonize", daemonize ? "yes" : "no"};
        int argc = 19;
        for (int i = 0; extra && extra[i] && argc < 63; i++)
            argv[argc++] = extra[i];
        argv[argc] = NULL;
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        if (answers_ping(s->socket)) {
            s->pid = daemonize ? 0 : pid;
            if (daemonize)
                waitpid(pid, NULL, 0);
            return 0;
        }
        int status;
        if (!daemonize && waitpid(pid, &status, WNOHANG) == pid) {
            snprintf(errstr, errstr_size, "redis-server exited (status %d); is it installed? "
                     "see %s", WEXITSTATUS(status), logfile);
            return -1;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    snprintf(errstr, errstr_size, "redis-server did not answer on %s within 10 s", s->socket);
    if (!daemonize) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

void sp_redis_server_stop(sp_redis_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

int sp_tmpdir(char *out, size_t size, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(out, size, "%s/%s.", base && *base ? base : "/tmp", prefix);
    if (n < 0 || (size_t)n + 7 > size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(out + n, 'X', 6); /* the template mkdtemp fills in */
    out[n + 6] = '\0';
    return mkdtemp(out) ? 0 : -1;
}
