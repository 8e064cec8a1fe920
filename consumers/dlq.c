/*
 * dlq.c - see dlq.h. The delivery report callback runs inside rd_kafka_poll/flush on
 * the pipeline thread; on a failed delivery it produces a copy of the message again.
 * The producer holds one handle on the dead-letter topic for its whole life, so
 * librdkafka does not create and free a topic object around each dead letter. A dead
 * letter over the producer's message.max.bytes is cut before it is queued; one the
 * broker refuses as too large is cut to half in the delivery report and queued again.
 */
#include "supportpulse/dlq.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/kafka_consumer.h"
#include "supportpulse/log.h"

struct sp_dlq {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt; /* owned: destroyed before rk */
    char *topic;
    size_t max_bytes;      /* the producer's message.max.bytes */
    atomic_uint_fast64_t truncated;
};

/* Room kept under message.max.bytes for the record's framing, key and headers. */
#define FRAMING_BYTES 1024

static void add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    rd_kafka_header_add(h, name, -1, value, -1);
}

/* Marks headers h as those of a value cut from `original` bytes (once: a second cut
 * keeps the first mark, which holds the original size). Returns 1 when newly marked. */
static int mark_truncated(rd_kafka_headers_t *h, size_t original)
{
    const void *v;
    size_t n;
    if (rd_kafka_header_get_last(h, "sp.truncated", &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    char num[32];
    snprintf(num, sizeof num, "%zu", original);
    add_header(h, "sp.truncated", "true");
    add_header(h, "sp.original_size", num);
    return 1;
}

/* The value bytes that fit a record of at most max bytes with this key. */
static size_t fitting(size_t max, size_t key_len)
{
    return max > key_len + FRAMING_BYTES ? max - key_len - FRAMING_BYTES : 0;
}

/* Queues a failed delivery again: whole, or cut to half when the broker refused it as
 * too large. */
static void resend(sp_dlq *d, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(hdrs);
    else
        hdrs = rd_kafka_headers_new(0);
    size_t len = m->len;
    if (m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        len = m->len / 2;
        if (mark_truncated(hdrs, m->len))
            atomic_fetch_add(&d->truncated, 1);
        sp_warn("the broker refused a dead letter of %zu bytes as too large; sending it "
                "cut to %zu bytes (header sp.truncated)", m->len, len);
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        d->rk, RD_KAFKA_V_RKT(d->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE(m->payload, len),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        sp_err("dead letter could not be queued again: %s", rd_kafka_err2str(err));
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    sp_dlq *d = opaque;
    if (m->err) {
        sp_warn("dead letter delivery failed (%s); producing it again", rd_kafka_err2str(m->err));
        resend(d, m);
    }
}

/* Consumer-only librdkafka properties (CONFIGURATION.md, column C) that -X may carry. */
static int consumer_only(const char *key)
{
    static const char *const prefixes[] = {
        "group.", "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms",
        "auto.offset.reset", "enable.auto.", "auto.commit.", "fetch.", "queued.min.",
        "queued.max.", "partition.assignment.strategy", "isolation.level", "check.crcs",
        "enable.partition.eof", "coordinator.query.interval.ms", "allow.auto.create.topics",
        "consume.callback.max.messages", "offset.store."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(key, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

sp_dlq *sp_dlq_new(const char *bootstrap, const char *topic, char *const *kafka_key,
                   char *const *kafka_val, int nkafka, char *errstr, size_t errstr_size)
{
    sp_dlq *d = calloc(1, sizeof *d);
    if (!d || !(d->topic = strdup(topic))) {
        free(d);
        snprintf(errstr, errstr_size, "out of memory creating the dead-letter producer");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int bad = sp_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) ||
              sp_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
              sp_kafka_conf_set(conf, "message.timeout.ms", "0", errstr, errstr_size) ||
              sp_kafka_conf_set(conf, "linger.ms", "5", errstr, errstr_size);
    /* pass-through properties: the connection ones (security, sasl, ssl, ...) matter
     * here too; consumer-only ones are left to the consumer */
    for (int i = 0; !bad && i < nkafka; i++) {
        char e[256];
        if (consumer_only(kafka_key[i]))
            continue;
        if (rd_kafka_conf_set(conf, kafka_key[i], kafka_val[i], e, sizeof e) != RD_KAFKA_CONF_OK)
            sp_debug("dead-letter producer ignores %s: %s", kafka_key[i], e);
    }
    if (bad)
        goto fail;
    char mmb[32];
    size_t mmb_size = sizeof mmb;
    d->max_bytes = rd_kafka_conf_get(conf, "message.max.bytes", mmb, &mmb_size) == RD_KAFKA_CONF_OK
                       ? (size_t)strtoull(mmb, NULL, 10)
                       : 1000000;
    rd_kafka_conf_set_opaque(conf, d);
    rd_kafka_conf_set_log_cb(conf, sp_kafka_log);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!d->rk)
        goto fail;
    conf = NULL; /* owned by rk from here */
    if (!(d->rkt = rd_kafka_topic_new(d->rk, topic, NULL))) {
        snprintf(errstr, errstr_size, "dead-letter topic %s: %s", topic,
                 rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    return d;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (d->rk)
        rd_kafka_destroy(d->rk);
    free(d->topic);
    free(d);
    return NULL;
}

void sp_dlq_destroy(sp_dlq *d)
{
    if (!d)
        return;
    if (rd_kafka_flush(d->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        sp_err("%d dead letters still undelivered at shutdown", rd_kafka_outq_len(d->rk));
    rd_kafka_topic_destroy(d->rkt);
    rd_kafka_destroy(d->rk);
    free(d->topic);
    free(d);
}

int sp_dlq_send(sp_dlq *d, const rd_kafka_message_t *src, const char *reason,
                const char *detail, char *errstr, size_t errstr_size)
{
    char num[32];
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    add_header(h, "sp.reason", reason);
    add_header(h, "sp.detail", detail);
    add_header(h, "sp.topic", rd_kafka_topic_name(src->rkt));
    snprintf(num, sizeof num, "%" PRId32, src->partition);
    add_header(h, "sp.partition", num);
    snprintf(num, sizeof num, "%" PRId64, src->offset);
    add_header(h, "sp.offset", num);
    int64_t ts = rd_kafka_message_timestamp(src, NULL);
    if (ts >= 0) {
        snprintf(num, sizeof num, "%" PRId64, ts);
        add_header(h, "sp.timestamp", num);
    }
    size_t len = src->len;
    if (src->key_len + len + FRAMING_BYTES > d->max_bytes) {
        len = fitting(d->max_bytes, src->key_len);
        mark_truncated(h, src->len);
        atomic_fetch_add(&d->truncated, 1);
        sp_warn("dead letter %s[%" PRId32 "]@%" PRId64 ": its %zu bytes are more than the "
                "dead-letter producer sends (message.max.bytes %zu); sent cut to %zu bytes "
                "(headers sp.truncated, sp.original_size)", rd_kafka_topic_name(src->rkt),
                src->partition, src->offset, src->len, d->max_bytes, len);
    }
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(d->rk, RD_KAFKA_V_RKT(d->rkt),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_KEY(src->key, src->key_len),
                                RD_KAFKA_V_VALUE(src->payload, len), RD_KAFKA_V_HEADERS(h),
                                RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(d->rk, 100); /* local queue full: wait for deliveries */
        else if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && len > 0) {
            if (mark_truncated(h, src->len)) /* the headers took more room than allowed */
                atomic_fetch_add(&d->truncated, 1);
            len /= 2;
        } else
            break;
    }
    if (err) {
        rd_kafka_headers_destroy(h);
        snprintf(errstr, errstr_size, "dead-letter produce of %s[%" PRId32 "]@%" PRId64 ": %s",
                 rd_kafka_topic_name(src->rkt), src->partition, src->offset,
                 rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_poll(d->rk, 0);
    return 0;
}

int sp_dlq_flush(sp_dlq *d, int timeout_ms)
{
    return rd_kafka_flush(d->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

uint64_t sp_dlq_truncated(const sp_dlq *d)
{
    return atomic_load(&((sp_dlq *)d)->truncated);
}
