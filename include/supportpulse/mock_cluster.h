/*
 * mock_cluster.h - an in-process Kafka cluster (librdkafka's mock cluster) for the demo,
 * the tests and `supportpulse mock-kafka`. It speaks the Kafka protocol on loopback
 * ports, so any client (kcat, another process) can use it while this process lives.
 * Topics are created on first use with the default partition count, or explicitly.
 *
 * Ownership: sp_mock owns the librdkafka handle that hosts the cluster.
 */
#ifndef SUPPORTPULSE_MOCK_CLUSTER_H
#define SUPPORTPULSE_MOCK_CLUSTER_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stddef.h>

typedef struct sp_mock sp_mock;

sp_mock *sp_mock_new(int brokers, char *errstr, size_t errstr_size);
void sp_mock_destroy(sp_mock *m); /* NULL is a no-op */
const char *sp_mock_bootstraps(const sp_mock *m);
int sp_mock_create_topic(sp_mock *m, const char *topic, int partitions, char *errstr,
                         size_t errstr_size);
rd_kafka_mock_cluster_t *sp_mock_cluster(sp_mock *m);

#endif
