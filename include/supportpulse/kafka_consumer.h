/*
 * kafka_consumer.h - a librdkafka consumer-group member for the pipeline.
 *
 * Offsets are never committed automatically: the pipeline commits a partition's offset
 * only after Redis holds the rollups of every event before it. On assignment the
 * pipeline is asked where each partition starts (its resume point in Redis, or the
 * group's committed offset, or offset_reset for a new group); on revocation it is asked
 * to flush the partition first. Eager and cooperative rebalancing are both handled.
 *
 * Not thread-safe: poll, commit, pause and close from the pipeline thread only; the
 * callbacks run inside sp_consumer_poll on that thread.
 */
#ifndef SUPPORTPULSE_KAFKA_CONSUMER_H
#define SUPPORTPULSE_KAFKA_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *bootstrap, *group, *topic, *offset_reset;
    char *const *kafka_key;       /* extra librdkafka properties */
    char *const *kafka_val;
    int nkafka;
    /* Returns the offset to start at, or RD_KAFKA_OFFSET_INVALID for the committed one. */
    int64_t (*on_assign)(void *arg, const char *topic, int32_t partition);
    void (*on_revoke)(void *arg, const char *topic, int32_t partition);
    void *arg;
} sp_consumer_conf;

typedef struct sp_consumer sp_consumer;

/* Creates the consumer and subscribes. NULL with errstr on a bad property or failure. */
sp_consumer *sp_consumer_new(const sp_consumer_conf *conf, char *errstr, size_t errstr_size);
/* Leaves the group (revoking, so on_revoke runs) and frees everything. NULL is a no-op. */
void sp_consumer_destroy(sp_consumer *c);

/* The next message or NULL; the caller owns it (rd_kafka_message_destroy). */
rd_kafka_message_t *sp_consumer_poll(sp_consumer *c, int timeout_ms);
/* Commits the next offsets of n partitions of topic (synchronously unless async).
 * 0 or -1 with errstr. */
int sp_consumer_commit(sp_consumer *c, const char *topic, const int32_t *partitions,
                       const int64_t *offsets, int n, int async, char *errstr,
                       size_t errstr_size);
/* Pauses or resumes every assigned partition (bounding memory while Redis is away);
 * partitions assigned later are set to the same state. */
void sp_consumer_pause(sp_consumer *c, int pause);

/* Moves a partition's position to offset (offset < 0: the group's committed offset,
 * else offset_reset's end), so messages after it are fetched again. 0, or -1 with errstr. */
int sp_consumer_seek(sp_consumer *c, const char *topic, int32_t partition, int64_t offset,
                     char *errstr, size_t errstr_size);
/* Messages between next (the next offset to consume) and the end of the partition as
 * librdkafka last heard it (no request is made; 0 when not known). */
int64_t sp_consumer_lag(sp_consumer *c, const char *topic, int32_t partition, int64_t next);

/* The topic's number of partitions (a metadata request), or -1 when not known. */
int sp_consumer_partitions(sp_consumer *c, const char *topic, int timeout_ms);

/* librdkafka's log callback for every client of ours (consumer, dead-letter producer,
 * generator, mock cluster): its lines go through the project's log, at error (levels
 * 0-3), warn (4) or debug. */
void sp_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Applies extra properties to a conf; shared with the DLQ producer and generator. */
int sp_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                      size_t errstr_size);

#endif
