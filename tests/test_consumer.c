/*
 * test_consumer.c - the consumer-group member (consumers/kafka_consumer.c) against
 * librdkafka's mock cluster: pausing and resuming across a rebalance.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "supportpulse/kafka_consumer.h"

static sp_env env;
static void teardown(void) { sp_env_stop(&env); }

typedef struct {
    sp_consumer *c;
    int assigns;      /* assignment callbacks (one per partition) */
    int rebalances;   /* assignments seen (a partition list each) */
    int last_rebalance_at; /* assigns when the last list began */
} member;

/* The pipeline pauses while Redis is away and resumes when a flush succeeds. Here
 * Redis "goes away" as the first partitions arrive and "comes back" exactly between
 * the revoke and the next assignment, when nothing is assigned to resume. */
static int64_t on_assign(void *arg, const char *topic, int32_t partition)
{
    (void)topic;
    (void)partition;
    member *m = arg;
    if (m->assigns++ == m->last_rebalance_at) { /* the first partition of a new list */
        m->rebalances++;
        sp_consumer_pause(m->c, m->rebalances == 1);
    }
    return RD_KAFKA_OFFSET_INVALID;
}

static void on_revoke(void *arg, const char *topic, int32_t partition)
{
    (void)topic;
    (void)partition;
    member *m = arg;
    m->last_rebalance_at = m->assigns;
}

static rd_kafka_t *plain_member(const char *group)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cr_assert(rd_kafka_conf_set(conf, "bootstrap.servers", sp_mock_bootstraps(env.mock), err,
                                sizeof err) == RD_KAFKA_CONF_OK);
    cr_assert(rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) == RD_KAFKA_CONF_OK);
    cr_assert(rd_kafka_conf_set(conf, "heartbeat.interval.ms", "300", err, sizeof err) ==
              RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert(rk, "%s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, "t", RD_KAFKA_PARTITION_UA);
    cr_assert(rd_kafka_subscribe(rk, t) == 0);
    rd_kafka_topic_partition_list_destroy(t);
    return rk;
}

/* A partition paused, revoked while paused, and assigned again after the consumer was
 * resumed must be consumed: librdkafka keeps the pause of a partition across the
 * revoke, so the consumer sets every assigned partition to its own state. (Before
 * 2026-11-23 it did not: a Redis outage during a rebalance could leave an instance
 * holding partitions it never read again.) */
Test(consumer, a_partition_paused_before_a_rebalance_is_read_after_it, .fini = teardown,
     .timeout = 120)
{
    sp_env_start(&env, "t", 2);
    char value[32];
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 10; i++) {
            snprintf(value, sizeof value, "m%d-%d", p, i);
            sp_produce_to(&env, "t", p, NULL, value);
        }
    char *keys[] = {"heartbeat.interval.ms", "session.timeout.ms"};
    char *vals[] = {"300", "6000"};
    member m = {0};
    sp_consumer_conf cc = {.bootstrap = sp_mock_bootstraps(env.mock), .group = "g", .topic = "t",
                           .offset_reset = "earliest", .kafka_key = keys, .kafka_val = vals,
                           .nkafka = 2, .on_assign = on_assign, .on_revoke = on_revoke,
                           .arg = &m};
    char err[512];
    m.c = sp_consumer_new(&cc, err, sizeof err);
    cr_assert(m.c, "%s", err);

    int read_while_paused = 0;
    for (int i = 0; i < 600 && m.rebalances < 1; i++) { /* 30 s */
        rd_kafka_message_t *msg = sp_consumer_poll(m.c, 50);
        if (msg && !msg->err)
            read_while_paused++;
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    cr_assert_eq(m.rebalances, 1, "the consumer was never assigned its partitions");
    for (int i = 0; i < 20; i++) { /* paused: nothing arrives */
        rd_kafka_message_t *msg = sp_consumer_poll(m.c, 50);
        if (msg && !msg->err)
            read_while_paused++;
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    cr_expect_eq(read_while_paused, 0, "partitions assigned while paused were read");

    rd_kafka_t *other = plain_member("g"); /* joins: a rebalance */
    int read = 0;
    for (int i = 0; i < 1200 && read < 10; i++) { /* 60 s */
        rd_kafka_message_t *msg = sp_consumer_poll(m.c, 25);
        if (msg && !msg->err && m.rebalances >= 2)
            read++;
        if (msg)
            rd_kafka_message_destroy(msg);
        msg = rd_kafka_consumer_poll(other, 25);
        if (msg)
            rd_kafka_message_destroy(msg);
    }
    cr_assert_geq(m.rebalances, 2, "no rebalance after the second member joined");
    cr_expect_eq(read, 10, "read %d of the 10 messages of the partition assigned again", read);
    rd_kafka_consumer_close(other);
    rd_kafka_destroy(other);
    sp_consumer_destroy(m.c);
}
