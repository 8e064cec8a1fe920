/*
 * instances.c - see instances.h. Child instances are the real binary (SP_BINARY), run
 * the way an operator runs it; this process hosts their Kafka (the mock cluster) and
 * Redis.
 */
#include "instances.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "supportpulse/prefix_dump.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

pid_t sp_child_start(sp_env *e, const sp_child_conf *c)
{
    char dlq[256], flush[32];
    snprintf(dlq, sizeof dlq, "%s-dlq", c->topic);
    snprintf(flush, sizeof flush, "%d", c->flush_ms ? c->flush_ms : 100);
    const char *argv[] = {SP_BINARY, "run", "--bootstrap", sp_mock_bootstraps(e->mock),
                          "--redis", e->address, "--topic", c->topic, "--dlq-topic", dlq,
                          "--group", c->group, "--prefix", c->prefix, "--flush-ms", flush,
                          "--max-future-s", "0", "--redis-timeout-ms", "1000",
                          "--max-backoff-ms", "1000", "--forecast", "0", "--log-level",
                          getenv("SPTEST_CHILD_LOG_LEVEL") ? getenv("SPTEST_CHILD_LOG_LEVEL") : "info",
                          "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
                          "-X", "topic.metadata.refresh.interval.ms=1000", NULL, NULL, NULL};
    char debug[128];
    if (getenv("SPTEST_CHILD_KAFKA_DEBUG")) { /* e.g. cgrp,protocol */
        snprintf(debug, sizeof debug, "debug=%s", getenv("SPTEST_CHILD_KAFKA_DEBUG"));
        argv[sizeof argv / sizeof argv[0] - 3] = "-X";
        argv[sizeof argv / sizeof argv[0] - 2] = debug;
    }
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork");
    if (pid == 0) {
        int fd = open(c->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (c->crash_at)
            setenv("SPTEST_CRASH_AT", c->crash_at, 1);
        else
            unsetenv("SPTEST_CRASH_AT");
        execv(SP_BINARY, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

int sp_child_exited(pid_t pid, int *status)
{
    return waitpid(pid, status, WNOHANG) == pid;
}

void sp_child_kill(pid_t pid)
{
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
}

int sp_child_stop(pid_t pid, int timeout_s)
{
    int st;
    kill(pid, SIGTERM);
    for (int i = 0; i < timeout_s * 20; i++) {
        if (sp_child_exited(pid, &st)) {
            if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
                fprintf(stderr, "instance %d exited with %d\n", (int)pid, WEXITSTATUS(st));
            else if (!WIFEXITED(st))
                fprintf(stderr, "instance %d ended by signal %d\n", (int)pid, WTERMSIG(st));
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "instance %d did not stop within %d s of SIGTERM\n", (int)pid, timeout_s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "grep -H . /proc/%d/task/*/wchan /proc/%d/task/*/comm >&2", (int)pid,
             (int)pid);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot show where it waits\n");
    sp_child_kill(pid);
    return -1;
}

void sp_end_offsets(sp_env *e, const char *topic, int partitions, long long *out)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", sp_mock_bootstraps(e->mock), err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert(rk, "%s", err);
    for (int p = 0; p < partitions; p++) {
        int64_t lo = 0, hi = -1;
        rd_kafka_resp_err_t r = RD_KAFKA_RESP_ERR__TRANSPORT;
        for (int i = 0; i < 50 && r; i++) /* the broker may be down a moment */
            if ((r = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 2000)))
                sleep_ms(200);
        cr_assert(r == 0, "end offset of %s[%d]: %s", topic, p, rd_kafka_err2str(r));
        out[p] = hi;
    }
    rd_kafka_destroy(rk);
}

int sp_wait_caught_up(sp_env *e, const char *prefix, const char *topic, int partitions,
                      int timeout_s)
{
    long long end[256];
    cr_assert(partitions <= 256);
    sp_end_offsets(e, topic, partitions, end);
    char meta[128], field[256], v[128];
    snprintf(meta, sizeof meta, "%s:meta", prefix);
    for (int i = 0; i < timeout_s * 10; i++) {
        int done = 1;
        for (int p = 0; p < partitions && done; p++) {
            snprintf(field, sizeof field, "resume:%s:%d", topic, p);
            done = end[p] == 0 || (sp_hget_str(e, meta, field, v, sizeof v) &&
                                   strtoll(v, NULL, 10) == end[p]);
        }
        if (done)
            return 1;
        sleep_ms(100);
    }
    for (int p = 0; p < partitions; p++) { /* what was left, for the failure's report */
        snprintf(field, sizeof field, "resume:%s:%d", topic, p);
        if (!sp_hget_str(e, meta, field, v, sizeof v))
            snprintf(v, sizeof v, "(none)");
        fprintf(stderr, "not caught up? %s[%d]: end offset %lld, resume point in Redis %s\n",
                topic, p, end[p], v);
    }
    return 0;
}

/* ---- a generated stream ------------------------------------------------------------ */

void sp_stream_open(sp_env *e, sp_stream *s, const char *topic, uint64_t seed)
{
    sp_gen_conf gc;
    sp_gen_conf_defaults(&gc);
    gc.seed = seed;
    gc.arrivals_per_hour = 20000; /* a busy desk: dense windows */
    gc.malformed = 0.01;
    gc.duplicates = 0.01;
    gc.out_of_order = 0.03;
    char err[256];
    s->g = sp_gen_new(&gc, err, sizeof err);
    cr_assert(s->g, "%s", err);
    s->env = e;
    s->topic = topic;
    s->produced = 0;
}

void sp_stream_skip(sp_stream *s, int n)
{
    for (int i = 0; i < n; i++) {
        sp_gen_msg m;
        cr_assert_eq(sp_gen_next(s->g, &m), 0);
    }
}

void sp_stream_produce(sp_stream *s, int n)
{
    enum { CHUNK = 4000 };
    static char keys[CHUNK][32], vals[CHUNK][1024];
    const char *kp[CHUNK], *vp[CHUNK];
    while (n > 0) {
        int k = n > CHUNK ? CHUNK : n;
        for (int i = 0; i < k; i++) {
            sp_gen_msg m;
            cr_assert_eq(sp_gen_next(s->g, &m), 0);
            snprintf(keys[i], sizeof keys[i], "%.*s", (int)m.key_len, m.key);
            snprintf(vals[i], sizeof vals[i], "%.*s", (int)m.value_len, m.value);
            kp[i] = keys[i];
            vp[i] = vals[i];
        }
        sp_produce(s->env, s->topic, kp, vp, k);
        s->produced += k;
        n -= k;
    }
}

void sp_stream_close(sp_stream *s) { sp_gen_destroy(s->g); }

/* ---- the dump ------------------------------------------------------------------------ */

char *sp_dump_prefix(sp_env *e, const char *prefix)
{
    sp_prefix_dump d = {0};
    char err[512];
    cr_assert_eq(sp_prefix_dump_read(e->r, prefix, &d, err, sizeof err), 0, "dump %s: %s",
                 prefix, err);
    size_t total = 1;
    for (size_t i = 0; i < d.n; i++)
        total += strlen(d.line[i]) + 1;
    char *out = malloc(total), *w = out;
    cr_assert(out, "out of memory");
    for (size_t i = 0; i < d.n; i++) {
        size_t n = strlen(d.line[i]);
        memcpy(w, d.line[i], n);
        w[n] = '\n';
        w += n + 1;
    }
    *w = '\0';
    sp_prefix_dump_free(&d);
    return out;
}

long sp_expect_same_dump(sp_env *e, const char *a, const char *b)
{
    char *da = sp_dump_prefix(e, a), *db = sp_dump_prefix(e, b);
    const char *pa = da, *pb = db;
    long line = 0;
    while (*pa || *pb) {
        const char *ea = strchr(pa, '\n'), *eb = strchr(pb, '\n');
        size_t la = ea ? (size_t)(ea - pa) : strlen(pa), lb = eb ? (size_t)(eb - pb) : strlen(pb);
        if (la != lb || memcmp(pa, pb, la) != 0) {
            cr_expect(0, "%s and %s differ at line %ld:\n  %s: %.*s\n  %s: %.*s", a, b, line + 1,
                      a, (int)la, pa, b, (int)lb, pb);
            break;
        }
        line++;
        pa += la + (ea ? 1 : 0);
        pb += lb + (eb ? 1 : 0);
    }
    free(da);
    free(db);
    return line;
}
