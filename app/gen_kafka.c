/*
 * gen_kafka.c - see gen_kafka.h. Pacing sleeps in 10 ms steps against a monotonic
 * clock, so the average rate is exact and bursts stay small.
 */
#include "supportpulse/gen_kafka.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <time.h>

#include "supportpulse/kafka_consumer.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    atomic_uint_fast64_t *delivered = opaque;
    if (!m->err && delivered)
        atomic_fetch_add(delivered, 1);
}

static rd_kafka_t *producer(const sp_gen_kafka_conf *c, atomic_uint_fast64_t *produced,
                            char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (sp_kafka_conf_set(conf, "bootstrap.servers", c->bootstrap, errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "compression.codec", "lz4", errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "linger.ms", "20", errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "message.timeout.ms", "0", errstr, errstr_size))
        goto fail;
    for (int i = 0; i < c->nkafka; i++)
        if (sp_kafka_conf_set(conf, c->kafka_key[i], c->kafka_val[i], errstr, errstr_size))
            goto fail;
    rd_kafka_conf_set_opaque(conf, produced);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_log_cb(conf, sp_kafka_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (rk)
        return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int sp_gen_produce(sp_gen *g, const sp_gen_kafka_conf *c, atomic_int *stop,
                   atomic_uint_fast64_t *produced, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = producer(c, produced, errstr, errstr_size);
    if (!rk)
        return -1;
    double t0 = mono_s();
    uint64_t sent = 0;
    int rc = 0;
    while ((!c->count || sent < c->count) && !(stop && atomic_load(stop))) {
        sp_gen_msg m;
        if (sp_gen_next(g, &m) < 0) {
            snprintf(errstr, errstr_size, "generator: out of memory");
            rc = -1;
            break;
        }
        if (c->until_ts_ms && m.ts_ms >= c->until_ts_ms)
            break;
        while (c->realtime && m.ts_ms > wall_ms() && !(stop && atomic_load(stop)))
            rd_kafka_poll(rk, m.ts_ms - wall_ms() < 10 ? 1 : 10);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(c->topic),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_KEY(m.key, m.key_len), /* copied */
                                        RD_KAFKA_V_VALUE((void *)(uintptr_t)m.value, m.value_len),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 50);
        if (err) {
            snprintf(errstr, errstr_size, "produce to %s: %s", c->topic, rd_kafka_err2str(err));
            rc = -1;
            break;
        }
        sent++;
        rd_kafka_poll(rk, 0);
        if (c->rate > 0 && sent % 16 == 0)
            while (mono_s() - t0 < sent / c->rate && !(stop && atomic_load(stop)))
                rd_kafka_poll(rk, 10);
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR && rc == 0) {
        snprintf(errstr, errstr_size, "%d messages not delivered to %s within 60 s",
                 rd_kafka_outq_len(rk), c->topic);
        rc = -1;
    }
    rd_kafka_destroy(rk);
    return rc;
}
