/*
 * gen_kafka.h - produces generator output into a Kafka topic (for `gen` and `demo`):
 * keyed by ticket/call id, lz4-compressed, idempotent, optionally paced to a rate or to
 * the wall clock (each message sent when its event time comes: a live desk).
 */
#ifndef SUPPORTPULSE_GEN_KAFKA_H
#define SUPPORTPULSE_GEN_KAFKA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "supportpulse/generator.h"

typedef struct {
    const char *bootstrap, *topic;
    char *const *kafka_key;
    char *const *kafka_val;
    int nkafka;
    double rate;          /* messages per second; 0 = as fast as possible */
    uint64_t count;       /* stop after this many; 0 = until *stop */
    int64_t until_ts_ms;  /* stop at this event time; 0 = no limit */
    int realtime;         /* send no message before the wall clock reaches its event time */
} sp_gen_kafka_conf;

/* Produces until count, until_ts_ms or *stop; waits for delivery. *produced counts
 * messages delivered so far (readable from other threads). 0 or -1 with errstr. */
int sp_gen_produce(sp_gen *g, const sp_gen_kafka_conf *c, atomic_int *stop,
                   atomic_uint_fast64_t *produced, char *errstr, size_t errstr_size);

#endif
