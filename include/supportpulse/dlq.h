/*
 * dlq.h - the dead-letter producer. A rejected message is produced unchanged (key and
 * value) to the dead-letter topic with headers:
 *   sp.reason     reason code (invalid_json, missing_field, late, ...)
 *   sp.detail     human-readable detail naming the field
 *   sp.topic, sp.partition, sp.offset   where it came from
 *   sp.timestamp  the source message's timestamp (ms), when it had one
 * A message too large for the dead-letter topic (the producer's message.max.bytes, or
 * the broker's limit) is sent with its value cut to what fits, and two more headers:
 *   sp.truncated      "true"
 *   sp.original_size  the value's size in bytes before the cut
 * so one outsized message never stops the pipeline. Delivery is retried without limit
 * (message.timeout.ms=0, idempotent producer); a failed delivery is produced again (cut
 * to half its size each time the broker refuses it as too large). The pipeline calls
 * sp_dlq_flush before it records progress in Redis, so a dead letter is never lost.
 *
 * Not thread-safe: send and flush from the pipeline thread.
 */
#ifndef SUPPORTPULSE_DLQ_H
#define SUPPORTPULSE_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sp_dlq sp_dlq;

sp_dlq *sp_dlq_new(const char *bootstrap, const char *topic, char *const *kafka_key,
                   char *const *kafka_val, int nkafka, char *errstr, size_t errstr_size);
void sp_dlq_destroy(sp_dlq *d); /* flushes for up to 10 s; NULL is a no-op */

/* Queues one dead letter (copies what it needs from src). 0 or -1 with errstr (which
 * names the message's topic, partition and offset). */
int sp_dlq_send(sp_dlq *d, const rd_kafka_message_t *src, const char *reason,
                const char *detail, char *errstr, size_t errstr_size);
/* Waits up to timeout_ms for every queued dead letter. 0 when all are delivered. */
int sp_dlq_flush(sp_dlq *d, int timeout_ms);
/* Dead letters sent cut to fit (each counted once, however many cuts it took). */
uint64_t sp_dlq_truncated(const sp_dlq *d);

#endif
