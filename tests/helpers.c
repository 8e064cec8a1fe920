/*
 * helpers.c - see helpers.h. Every failure aborts the test with a message: a fixture
 * that did not come up must not let a test pass.
 */
#include "helpers.h"
#include "supportpulse/clock.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void redis_connect(sp_env *e)
{
    if (e->rc)
        redisFree(e->rc);
    e->rc = NULL;
    if (!e->clustered) {
        e->rc = redisConnectUnix(e->redis.socket);
        cr_assert(e->rc && !e->rc->err, "cannot connect to the test redis-server");
    }
    sp_redis_destroy(e->r);
    e->r = sp_redis_new(e->address, 5000, 10000);
    cr_assert(e->r, "out of memory");
}

/* ---- a Redis Cluster ------------------------------------------------------------------ */

/* A port p with p and, when pair, p + 10000 (the cluster bus) free on 127.0.0.1. */
static int free_port(int pair)
{
    for (int tries = 0; tries < 200; tries++) {
        int p = 20000 + (int)(((unsigned)rand() ^ (unsigned)getpid() * 7919u) % 9000u);
        int ok = 1;
        for (int k = 0; k <= pair && ok; k++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(p + k * 10000))};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
            if (fd >= 0)
                close(fd);
        }
        if (ok)
            return p;
    }
    cr_assert_fail("no free port on 127.0.0.1");
    return -1;
}

static int free_port_pair(void) { return free_port(1); }

/* ---- TLS ---------------------------------------------------------------------------- */

static void run_openssl(const char *dir, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && openssl %s >>openssl.log 2>&1", dir, args);
    cr_assert(system(cmd) == 0, "openssl %s failed (see %s/openssl.log)", args, dir);
}

void sp_tls_certs(const char *dir)
{
    static const char *const steps[] = {
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=sp-test-ca",
        "req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days 2 "
        "-subj /CN=sp-other-ca",
        "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost",
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt "
        "-days 2 -extfile san.ext",
        "req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=sp-client",
        "x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt "
        "-days 2",
    };
    char path[600];
    snprintf(path, sizeof path, "%s/san.ext", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot write %s", path);
    fputs("subjectAltName=DNS:localhost,IP:127.0.0.1\n", f);
    fclose(f);
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        run_openssl(dir, steps[i]);
}

int sp_redis_enable_tls(redisContext *rc, const char *dir, int auth_clients)
{
    int port = free_port(0);
    char path[3][600];
    static const char *const names[] = {"server.crt", "server.key", "ca.crt"};
    for (int i = 0; i < 3; i++)
        snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);
    redisReply *r = redisCommand(rc, "CONFIG SET tls-cert-file %s tls-key-file %s "
                                     "tls-ca-cert-file %s tls-auth-clients %s",
                                 path[0], path[1], path[2], auth_clients ? "yes" : "no");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET tls-*: %s", r ? r->str : "");
    freeReplyObject(r);
    r = redisCommand(rc, "CONFIG SET tls-port %d", port);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "CONFIG SET tls-port: %s", r ? r->str : "");
    freeReplyObject(r);
    return port;
}

static void start_node(sp_cluster *c, int i, const char *dir)
{
    char err[512], port[16], cdir[512];
    snprintf(cdir, sizeof cdir, "%s/n%d", dir, i);
    mkdir(cdir, 0700);
    snprintf(port, sizeof port, "%d", c->port[i]);
    /* persistence as in production (RDB written by SHUTDOWN SAVE for restarts) */
    const char *extra[] = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                           "--cluster-node-timeout", "5000", "--appendonly", "no", NULL};
    cr_assert(sp_redis_server_start_with(&c->node[i], cdir, c->port[i], 0, extra, err,
                                         sizeof err) == 0, "%s", err);
}

static int cluster_ok(const sp_cluster *c)
{
    for (int i = 0; i < SP_CLUSTER_NODES; i++) {
        redisContext *rc = redisConnectUnix(c->node[i].socket);
        int ok = 0;
        if (rc && !rc->err) {
            redisReply *r = redisCommand(rc, "CLUSTER INFO");
            ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");
            if (r)
                freeReplyObject(r);
        }
        if (rc)
            redisFree(rc);
        if (!ok)
            return 0;
    }
    return 1;
}

static void wait_cluster_ok(const sp_cluster *c)
{
    for (int i = 0; i < 400 && !cluster_ok(c); i++)
        sleep_ms(50);
    cr_assert(cluster_ok(c), "the Redis Cluster did not reach cluster_state:ok in 20 s");
}

void sp_cluster_start(sp_cluster *c, const char *dir)
{
    memset(c, 0, sizeof *c);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int i = 0; i < SP_CLUSTER_NODES; i++) {
        c->port[i] = free_port_pair();
        start_node(c, i, dir);
    }
    char cmd[1024];
    int n = snprintf(cmd, sizeof cmd, "redis-cli --cluster create");
    for (int i = 0; i < SP_CLUSTER_NODES; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, " 127.0.0.1:%d", c->port[i]);
    snprintf(cmd + n, sizeof cmd - (size_t)n,
             " --cluster-replicas 0 --cluster-yes > %s/cluster-create.log 2>&1", dir);
    cr_assert(system(cmd) == 0, "redis-cli --cluster create failed: see %s/cluster-create.log", dir);
    wait_cluster_ok(c);
    snprintf(c->address, sizeof c->address, "127.0.0.1:%d", c->port[0]);
}

void sp_cluster_stop(sp_cluster *c)
{
    for (int i = 0; i < SP_CLUSTER_NODES; i++)
        sp_redis_server_stop(&c->node[i]);
}

/* The node id of the master serving slot, and the id of the next master. */
static void masters_around(const sp_cluster *c, int slot, char *from, char *to, size_t size)
{
    redisContext *rc = redisConnectUnix(c->node[0].socket);
    cr_assert(rc && !rc->err);
    redisReply *r = redisCommand(rc, "CLUSTER NODES");
    cr_assert(r && r->type == REDIS_REPLY_STRING, "CLUSTER NODES");
    char ids[SP_CLUSTER_NODES][64] = {{0}};
    int owner = -1, n = 0;
    for (char *save = NULL, *line = strtok_r(r->str, "\n", &save); line && n < SP_CLUSTER_NODES;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strstr(line, "master"))
            continue;
        sscanf(line, "%63s", ids[n]);
        /* slot ranges are the 9th field on: "a-b" or "a" */
        char *f = line;
        for (int k = 0; k < 8 && f; k++)
            f = strchr(f + 1, ' ');
        while (f && *f) {
            int lo, hi;
            while (*f == ' ')
                f++;
            if (*f == '[')
                break;
            int got = sscanf(f, "%d-%d", &lo, &hi);
            if (got == 1)
                hi = lo;
            if (got >= 1 && slot >= lo && slot <= hi)
                owner = n;
            f = strchr(f, ' ');
        }
        n++;
    }
    freeReplyObject(r);
    redisFree(rc);
    cr_assert(owner >= 0, "no master serves slot %d", slot);
    snprintf(from, size, "%s", ids[owner]);
    snprintf(to, size, "%s", ids[(owner + 1) % n]);
}

void sp_cluster_reshard(sp_cluster *c, int from_slot, int n)
{
    char from[64], to[64], cmd[1024];
    masters_around(c, from_slot, from, to, sizeof from);
    snprintf(cmd, sizeof cmd,
             "redis-cli --cluster reshard 127.0.0.1:%d --cluster-from %s --cluster-to %s "
             "--cluster-slots %d --cluster-yes > /dev/null 2>&1",
             c->port[0], from, to, n);
    cr_assert(system(cmd) == 0, "redis-cli --cluster reshard failed");
    wait_cluster_ok(c);
}

/* ---- the environment ------------------------------------------------------------------ */

void sp_env_start(sp_env *e, const char *topic, int partitions)
{
    sp_env_start_brokers(e, topic, partitions, 1);
}

static void env_kafka(sp_env *e, const char *topic, int partitions, int brokers);

void sp_env_start_cluster(sp_env *e, const char *topic, int partitions)
{
    signal(SIGPIPE, SIG_IGN);
    memset(e, 0, sizeof *e);
    cr_assert(sp_tmpdir(e->tmpdir, sizeof e->tmpdir, "sptest") == 0, "temporary directory");
    sp_cluster_start(&e->cluster, e->tmpdir);
    e->clustered = 1;
    snprintf(e->address, sizeof e->address, "%s", e->cluster.address);
    redis_connect(e);
    env_kafka(e, topic, partitions, 1);
}

void sp_env_start_brokers(sp_env *e, const char *topic, int partitions, int brokers)
{
    char err[512];
    signal(SIGPIPE, SIG_IGN); /* as main() does: a dropped Redis connection is an error */
    memset(e, 0, sizeof *e);
    cr_assert(sp_tmpdir(e->tmpdir, sizeof e->tmpdir, "sptest") == 0, "temporary directory");
    cr_assert(sp_redis_server_start(&e->redis, e->tmpdir, 0, 0, err, sizeof err) == 0, "%s", err);
    snprintf(e->address, sizeof e->address, "%s", e->redis.address);
    redis_connect(e);
    env_kafka(e, topic, partitions, brokers);
}

static void env_kafka(sp_env *e, const char *topic, int partitions, int brokers)
{
    char err[512];
    e->mock = sp_mock_new(brokers, err, sizeof err);
    cr_assert(e->mock, "%s", err);
    char dlq[256];
    snprintf(dlq, sizeof dlq, "%s-dlq", topic);
    cr_assert(sp_mock_create_topic(e->mock, topic, partitions, err, sizeof err) == 0, "%s", err);
    cr_assert(sp_mock_create_topic(e->mock, dlq, 1, err, sizeof err) == 0, "%s", err);
}

redisReply *sp_env_cmd(sp_env *e, const char *fmt, ...)
{
    char err[512];
    va_list ap;
    va_start(ap, fmt);
    char line[4096];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* split on spaces (test keys have none) */
    const char *argv[64];
    size_t len[64];
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w && argc < 64;
         w = strtok_r(NULL, " ", &save)) {
        argv[argc] = w;
        len[argc++] = strlen(w);
    }
    int key = argc > 1 ? 1 : -1;
    if (argc > 3 && (strcasecmp(argv[0], "EVAL") == 0 || strcasecmp(argv[0], "EVALSHA") == 0))
        key = atoi(argv[2]) > 0 ? 3 : -1;
    redisReply *r = sp_redis_cmd_argv(e->r, key, argc, argv, len, err, sizeof err);
    cr_assert(r, "redis: %s", err);
    return r;
}

void sp_env_stop(sp_env *e)
{
    if (e->rc)
        redisFree(e->rc);
    e->rc = NULL;
    sp_redis_destroy(e->r);
    e->r = NULL;
    if (e->clustered)
        sp_cluster_stop(&e->cluster);
    else
        sp_redis_server_stop(&e->redis);
    sp_mock_destroy(e->mock);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", e->tmpdir);
    if (getenv("SPTEST_KEEP")) /* keep the logs of a failing test */
        fprintf(stderr, "kept %s\n", e->tmpdir);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->tmpdir);
}

/* SHUTDOWN SAVE writes dump.rdb as the server goes, like a Redis with persistence; the
 * new server in the same dir loads it. */
static void shutdown_save(const char *socket)
{
    redisContext *rc = redisConnectUnix(socket);
    if (rc && !rc->err) {
        redisReply *r = redisCommand(rc, "SHUTDOWN SAVE");
        if (r)
            freeReplyObject(r);
    }
    if (rc)
        redisFree(rc);
}

void sp_env_redis_down(sp_env *e)
{
    if (e->rc)
        redisFree(e->rc);
    e->rc = NULL;
    sp_redis_close(e->r);
    for (int i = 0; i < (e->clustered ? SP_CLUSTER_NODES : 1); i++) {
        sp_redis_server *s = e->clustered ? &e->cluster.node[i] : &e->redis;
        shutdown_save(s->socket);
        sp_redis_server_stop(s);
    }
}

void sp_env_redis_up(sp_env *e)
{
    char err[512], dir[512];
    if (e->clustered) {
        char parent[512];
        snprintf(parent, sizeof parent, "%s", e->tmpdir);
        for (int i = 0; i < SP_CLUSTER_NODES; i++)
            start_node(&e->cluster, i, parent);
        wait_cluster_ok(&e->cluster);
    } else {
        snprintf(dir, sizeof dir, "%s", e->redis.dir);
        cr_assert(sp_redis_server_start(&e->redis, dir, 0, 0, err, sizeof err) == 0, "%s", err);
    }
    redis_connect(e);
}

void sp_env_restart_redis(sp_env *e, int down_ms)
{
    sp_env_redis_down(e);
    sleep_ms(down_ms);
    sp_env_redis_up(e);
}

void sp_env_config(sp_env *e, sp_config *cfg, const char *topic, const char *group)
{
    char err[512], dlq[256];
    cr_assert(sp_config_init(cfg) == 0);
    snprintf(dlq, sizeof dlq, "%s-dlq", topic);
    cr_assert(sp_config_set(cfg, "bootstrap", sp_mock_bootstraps(e->mock), err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "redis", e->address, err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "topic", topic, err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "dlq_topic", dlq, err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "group", group, err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "flush_ms", "100", err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "max_future_s", "0", err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "redis_timeout_ms", "1000", err, sizeof err) == 0);
    cr_assert(sp_config_set(cfg, "max_backoff_ms", "500", err, sizeof err) == 0);
    const char *level = getenv("SP_TEST_LOG_LEVEL"); /* info or debug to trace a failure */
    cr_assert(sp_config_set(cfg, "log_level", level ? level : "warn", err, sizeof err) == 0,
              "%s", err);
    cr_assert(sp_config_add_kafka(cfg, "session.timeout.ms=6000", err, sizeof err) == 0);
    cr_assert(sp_config_add_kafka(cfg, "heartbeat.interval.ms=500", err, sizeof err) == 0);
    cr_assert(sp_config_add_kafka(cfg, "topic.metadata.refresh.interval.ms=1000", err,
                                  sizeof err) == 0);
}

static rd_kafka_t *producer(sp_env *e)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", sp_mock_bootstraps(e->mock), err, sizeof err);
    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert(rk, "%s", err);
    return rk;
}

static void produce_one(rd_kafka_t *rk, const char *topic, int32_t partition, const char *key,
                        const char *value)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)(uintptr_t)value, strlen(value)), RD_KAFKA_V_END);
    cr_assert(err == 0, "produce: %s", rd_kafka_err2str(err));
}

void sp_produce(sp_env *e, const char *topic, const char *const *keys,
                const char *const *values, int n)
{
    rd_kafka_t *rk = producer(e);
    for (int i = 0; i < n; i++)
        produce_one(rk, topic, RD_KAFKA_PARTITION_UA, keys ? keys[i] : NULL, values[i]);
    cr_assert(rd_kafka_flush(rk, 20000) == 0, "produce did not complete");
    rd_kafka_destroy(rk);
}

void sp_produce_to(sp_env *e, const char *topic, int partition, const char *key,
                   const char *value)
{
    rd_kafka_t *rk = producer(e);
    produce_one(rk, topic, partition, key, value);
    cr_assert(rd_kafka_flush(rk, 20000) == 0, "produce did not complete");
    rd_kafka_destroy(rk);
}

static void *runner_main(void *arg)
{
    sp_runner *r = arg;
    r->rc = sp_pipeline_run(r->pl, r->err, sizeof r->err);
    atomic_store(&r->finished, 1);
    return NULL;
}

void sp_runner_start(sp_runner *r, const sp_config *cfg)
{
    memset(r, 0, sizeof *r);
    r->pl = sp_pipeline_new(cfg, r->err, sizeof r->err);
    cr_assert(r->pl, "pipeline: %s", r->err);
    cr_assert(pthread_create(&r->th, NULL, runner_main, r) == 0);
}

int sp_runner_wait(sp_runner *r, uint64_t n, int timeout_s)
{
    const sp_pipeline_stats *s = sp_pipeline_get_stats(r->pl);
    for (int i = 0; i < timeout_s * 20; i++) {
        if (atomic_load(&s->consumed) >= n) {
            /* two more flushes: everything consumed is in Redis */
            uint64_t f = atomic_load(&s->flushes);
            for (int j = 0; j < 200 && atomic_load(&s->flushes) < f + 2; j++)
                sleep_ms(50);
            return 1;
        }
        sleep_ms(50);
    }
    return 0;
}

void sp_runner_stop(sp_runner *r)
{
    sp_pipeline_stop(r->pl);
    pthread_join(r->th, NULL);
    sp_pipeline_destroy(r->pl);
    r->pl = NULL;
    cr_assert(r->rc == 0, "pipeline failed: %s", r->err);
}

/* HGET through the router (keys may hold spaces: argv form). */
static redisReply *hget(sp_env *e, const char *key, const char *field)
{
    char err[512];
    const char *argv[] = {"HGET", key, field};
    redisReply *r = sp_redis_cmd_argv(e->r, 1, 3, argv, NULL, err, sizeof err);
    cr_assert(r, "redis: %s", err);
    return r;
}

long long sp_hget_ll(sp_env *e, const char *key, const char *field, long long dflt)
{
    redisReply *r = hget(e, key, field);
    long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : dflt;
    freeReplyObject(r);
    return v;
}

int sp_hget_str(sp_env *e, const char *key, const char *field, char *out, size_t size)
{
    redisReply *r = hget(e, key, field);
    int found = r->type == REDIS_REPLY_STRING;
    snprintf(out, size, "%s", found ? r->str : "");
    freeReplyObject(r);
    return found;
}

long long sp_zcard(sp_env *e, const char *key)
{
    char err[512];
    const char *argv[] = {"ZCARD", key};
    redisReply *r = sp_redis_cmd_argv(e->r, 1, 2, argv, NULL, err, sizeof err);
    cr_assert(r, "redis: %s", err);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void header(const rd_kafka_message_t *m, const char *name, char *out, size_t size)
{
    rd_kafka_headers_t *h = NULL;
    const void *val;
    size_t len;
    out[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == 0 &&
        rd_kafka_header_get_last(h, name, &val, &len) == 0)
        snprintf(out, size, "%.*s", (int)len, (const char *)val);
}

int sp_read_dlq(sp_env *e, const char *topic, sp_dead_letter *out, int max, int expect,
                int timeout_s)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", sp_mock_bootstraps(e->mock), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "dlq-reader", err, sizeof err);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert(rk, "%s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0;
    int64_t deadline = sp_mono_ms() + timeout_s * 1000LL;
    while (n < max && sp_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int at_end = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        if (!m->err) {
            sp_dead_letter *d = &out[n++];
            header(m, "sp.reason", d->reason, sizeof d->reason);
            header(m, "sp.detail", d->detail, sizeof d->detail);
            header(m, "sp.topic", d->topic, sizeof d->topic);
            header(m, "sp.partition", d->partition, sizeof d->partition);
            header(m, "sp.offset", d->offset, sizeof d->offset);
            header(m, "sp.truncated", d->truncated, sizeof d->truncated);
            header(m, "sp.original_size", d->original_size, sizeof d->original_size);
            snprintf(d->value, sizeof d->value, "%.*s", (int)m->len, (const char *)m->payload);
            d->value_len = m->len;
        }
        rd_kafka_message_destroy(m);
        if (at_end && n >= expect)
            break;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

sp_apply_result sp_test_apply(sp_partition *p, const char *json)
{
    sp_event ev;
    sp_reject_reason r;
    char err[256];
    cr_assert_eq(sp_event_decode(json, strlen(json), &ev, &r, err, sizeof err), 0, "%s: %s",
                 json, err);
    return sp_partition_apply(p, &ev, 0, &r, err, sizeof err);
}

void sp_test_event(sp_partition *p, const char *json_fmt, ...)
{
    static unsigned seq;
    char body[768], json[900];
    va_list ap;
    va_start(ap, json_fmt);
    vsnprintf(body, sizeof body, json_fmt, ap);
    va_end(ap);
    snprintf(json, sizeof json, "{\"id\":\"ev%u\",%s}", ++seq, body);
    cr_assert_eq(sp_test_apply(p, json), SP_APPLY_OK, "%s", json);
}

sp_cell *sp_test_find_cell(sp_partition *p, int64_t at_s, const char *dims)
{
    for (int r = 0; r < SP_NRES; r++) {
        sp_window_set *ws = sp_partition_window_set(p, r);
        for (size_t i = 0; i < ws->n; i++) {
            if (at_s < ws->w[i].start || at_s >= ws->w[i].start + ws->width_s)
                continue;
            for (size_t j = 0; j < ws->w[i].ncells; j++)
                if (strcmp(sp_partition_dims_key(p, ws->w[i].cells[j].dims_id), dims) == 0)
                    return &ws->w[i].cells[j];
        }
    }
    return NULL;
}

int64_t sp_test_cell(sp_partition *p, int64_t start_s, const char *dims, sp_metric m,
                     int64_t dflt)
{
    sp_cell *c = sp_test_find_cell(p, start_s, dims);
    return c ? c->c.v[m] : dflt;
}
