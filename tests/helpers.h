/*
 * helpers.h - test fixtures: a real redis-server in a temp dir, librdkafka's mock
 * cluster, a producer, a dead-letter reader, and the pipeline run in a thread.
 */
#ifndef SP_TEST_HELPERS_H
#define SP_TEST_HELPERS_H

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "supportpulse/config.h"
#include "supportpulse/partition.h"
#include "supportpulse/mock_cluster.h"
#include "supportpulse/pipeline.h"
#include "supportpulse/redis_server.h"

#include "supportpulse/redis_client.h"

#define SP_CLUSTER_NODES 3

/* A Redis Cluster of three masters on 127.0.0.1 (slots split evenly by redis-cli). */
typedef struct {
    sp_redis_server node[SP_CLUSTER_NODES];
    int port[SP_CLUSTER_NODES];
    char address[64];   /* the first master, "127.0.0.1:<port>" */
} sp_cluster;

/* Starts the three masters in dir/n0..n2 (cluster-enabled, RDB kept across restarts) and
 * creates the cluster; returns when every node reports cluster_state:ok. */
void sp_cluster_start(sp_cluster *c, const char *dir);
void sp_cluster_stop(sp_cluster *c);
/* Moves n slots from the master holding `from_slot` to the next master, keys included
 * (redis-cli --cluster reshard). Safe while clients write. */
void sp_cluster_reshard(sp_cluster *c, int from_slot, int n);

typedef struct {
    sp_redis_server redis;   /* the single server (unused in cluster mode) */
    sp_cluster cluster;
    int clustered;
    char address[640];       /* what --redis gets: the server, or a master of the cluster */
    sp_mock *mock;
    char tmpdir[256];
    redisContext *rc;        /* single server: a plain connection */
    sp_redis *r;             /* either mode: routed by key */
} sp_env;

/* Writes a test PKI into dir with the openssl command: ca.crt (and ca.key), a server
 * certificate for localhost and 127.0.0.1 (server.crt, server.key), a client certificate
 * (client.crt, client.key), all signed by that CA, and an unrelated other-ca.crt. */
void sp_tls_certs(const char *dir);
/* Makes the Redis behind rc listen for TLS on a free 127.0.0.1 port too, with dir's
 * server certificate, client certificates required when auth_clients; returns the port. */
int sp_redis_enable_tls(redisContext *rc, const char *dir, int auth_clients);

/* Starts redis-server and a mock cluster with topic (partitions) and topic-dlq. */
void sp_env_start(sp_env *e, const char *topic, int partitions);
/* The same with a three-master Redis Cluster instead of one redis-server. */
void sp_env_start_cluster(sp_env *e, const char *topic, int partitions);
/* One command through the router (either mode); fails the test when it cannot run.
 * The caller frees the reply. */
redisReply *sp_env_cmd(sp_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a cluster of several brokers (leader changes, a broker down). */
void sp_env_start_brokers(sp_env *e, const char *topic, int partitions, int brokers);
void sp_env_stop(sp_env *e);
/* Stops Redis (saving its data, as a persistent Redis keeps it), waits, starts it again
 * in the same directory; or the two halves alone. */
void sp_env_restart_redis(sp_env *e, int down_ms);
void sp_env_redis_down(sp_env *e);
void sp_env_redis_up(sp_env *e);

/* A config pointing at the env. Caller frees with sp_config_free. */
void sp_env_config(sp_env *e, sp_config *cfg, const char *topic, const char *group);

/* Produces messages (key may be NULL) and waits for delivery. */
void sp_produce(sp_env *e, const char *topic, const char *const *keys,
                const char *const *values, int n);
/* Produces to an explicit partition. */
void sp_produce_to(sp_env *e, const char *topic, int partition, const char *key,
                   const char *value);

typedef struct {
    sp_pipeline *pl;
    pthread_t th;
    int rc;
    atomic_int finished; /* the pipeline returned (by itself, unless stopped) */
    char err[512];
} sp_runner;

void sp_runner_start(sp_runner *r, const sp_config *cfg);
/* Waits until the pipeline consumed n messages and flushed them (timeout_s), then
 * stops it. Returns 1 when n was reached. */
int sp_runner_wait(sp_runner *r, uint64_t n, int timeout_s);
void sp_runner_stop(sp_runner *r);

/* HGET as long long (or the default when absent) and as a string (NULL-safe copy). */
long long sp_hget_ll(sp_env *e, const char *key, const char *field, long long dflt);
int sp_hget_str(sp_env *e, const char *key, const char *field, char *out, size_t size);
long long sp_zcard(sp_env *e, const char *key);

/* Reads partition 0 of topic from the beginning into out (at most max messages) until
 * it has read at least `expect` and reached the end of the partition, or timeout_s
 * seconds have passed (messages may still be arriving). Returns how many it read. */
typedef struct {
    char reason[64], detail[256], topic[128], partition[16], offset[32];
    char truncated[8], original_size[24]; /* "" unless the value was cut to fit */
    char value[2048];
    size_t value_len;                     /* the value's size as read (value may be cut) */
} sp_dead_letter;
int sp_read_dlq(sp_env *e, const char *topic, sp_dead_letter *out, int max, int expect,
                int timeout_s);

/* One partition's state, without Kafka or Redis. */
/* Decodes json (the test fails when it is not a valid event) and applies it to p. */
sp_apply_result sp_test_apply(sp_partition *p, const char *json);
/* Applies the event whose members after "id" are json_fmt (printf-style); each gets an id
 * of its own. The test fails unless it is applied (SP_APPLY_OK). */
void sp_test_event(sp_partition *p, const char *json_fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The cell of dims in the window holding second at_s (of whatever width the dims are
 * kept in: agents' are 15 minutes), or NULL. */
sp_cell *sp_test_find_cell(sp_partition *p, int64_t at_s, const char *dims);
/* Metric m of the cell (the window holding start_s, dims), or dflt when there is none. */
int64_t sp_test_cell(sp_partition *p, int64_t start_s, const char *dims, sp_metric m,
                     int64_t dflt);

#endif
