/*
 * mock_cluster.c - see mock_cluster.h.
 */
#include "supportpulse/mock_cluster.h"

#include <stdio.h>
#include <stdlib.h>

#include "supportpulse/kafka_consumer.h"

struct sp_mock {
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
};

sp_mock *sp_mock_new(int brokers, char *errstr, size_t errstr_size)
{
    sp_mock *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(errstr, errstr_size, "out of memory creating the mock cluster");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_conf_set_log_cb(conf, sp_kafka_log);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        free(m);
        return NULL;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        snprintf(errstr, errstr_size, "cannot start a mock cluster of %d brokers", brokers);
        rd_kafka_destroy(m->rk);
        free(m);
        return NULL;
    }
    return m;
}

void sp_mock_destroy(sp_mock *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
}

const char *sp_mock_bootstraps(const sp_mock *m) { return rd_kafka_mock_cluster_bootstraps(m->mc); }
rd_kafka_mock_cluster_t *sp_mock_cluster(sp_mock *m) { return m->mc; }

int sp_mock_create_topic(sp_mock *m, const char *topic, int partitions, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(m->mc, topic, partitions, 1);
    if (err) {
        snprintf(errstr, errstr_size, "create topic %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}
