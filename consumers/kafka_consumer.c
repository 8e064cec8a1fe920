/*
 * kafka_consumer.c - see kafka_consumer.h.
 */
#include "supportpulse/kafka_consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supportpulse/log.h"

struct sp_consumer {
    rd_kafka_t *rk;
    sp_consumer_conf conf;
    int paused;
};

int sp_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                      size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka property %s: %s", key, err);
        return -1;
    }
    return 0;
}

static void assign_partitions(sp_consumer *c, rd_kafka_topic_partition_list_t *parts,
                              int cooperative)
{
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        tp->offset = c->conf.on_assign ? c->conf.on_assign(c->conf.arg, tp->topic, tp->partition)
                                       : RD_KAFKA_OFFSET_INVALID;
        sp_info("assigned %s[%d] from %s %lld", tp->topic, tp->partition,
                tp->offset >= 0 ? "offset" : "committed offset", (long long)tp->offset);
    }
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cooperative)
        error = rd_kafka_incremental_assign(c->rk, parts);
    else
        err = rd_kafka_assign(c->rk, parts);
    if (error) {
        sp_err("incremental assign: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (err) {
        sp_err("assign: %s", rd_kafka_err2str(err));
    }
    /* librdkafka keeps a partition's pause across a revoke and a later assign. A
     * partition paused, revoked, then assigned again after sp_consumer_pause(c, 0) ran
     * (which resumes only what is assigned at the time) would stay paused for good; so
     * every assigned partition is set to the consumer's state here. */
    if (c->paused)
        rd_kafka_pause_partitions(c->rk, parts);
    else
        rd_kafka_resume_partitions(c->rk, parts);
}

static void revoke_partitions(sp_consumer *c, rd_kafka_topic_partition_list_t *parts,
                              int cooperative)
{
    for (int i = 0; i < parts->cnt; i++) {
        sp_info("revoked %s[%d]", parts->elems[i].topic, parts->elems[i].partition);
        if (c->conf.on_revoke)
            c->conf.on_revoke(c->conf.arg, parts->elems[i].topic, parts->elems[i].partition);
    }
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(c->rk, parts);
        if (error) {
            sp_err("incremental unassign: %s", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    } else {
        rd_kafka_assign(c->rk, NULL);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    sp_consumer *c = opaque;
    int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        assign_partitions(c, parts, cooperative);
    else
        revoke_partitions(c, parts, cooperative);
}

void sp_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const char *name = rk ? rd_kafka_name(rk) : "kafka";
    if (level <= 3)
        sp_err("%s %s: %s", name, fac, buf);
    else if (level <= 4)
        sp_warn("%s %s: %s", name, fac, buf);
    else
        sp_debug("%s %s: %s", name, fac, buf);
}

static rd_kafka_conf_t *build_conf(sp_consumer *c, char *errstr, size_t errstr_size)
{
    const sp_consumer_conf *cc = &c->conf;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (sp_kafka_conf_set(conf, "bootstrap.servers", cc->bootstrap, errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "group.id", cc->group, errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "auto.offset.reset", cc->offset_reset, errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "enable.partition.eof", "false", errstr, errstr_size) ||
        sp_kafka_conf_set(conf, "queued.max.messages.kbytes", "16384", errstr, errstr_size))
        goto fail;
    for (int i = 0; i < cc->nkafka; i++)
        if (sp_kafka_conf_set(conf, cc->kafka_key[i], cc->kafka_val[i], errstr, errstr_size))
            goto fail;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_log_cb(conf, sp_kafka_log);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

sp_consumer *sp_consumer_new(const sp_consumer_conf *cc, char *errstr, size_t errstr_size)
{
    sp_consumer *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(errstr, errstr_size, "out of memory creating the consumer");
        return NULL;
    }
    c->conf = *cc;
    rd_kafka_conf_t *conf = build_conf(c, errstr, errstr_size);
    if (!conf) {
        free(c);
        return NULL;
    }
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!c->rk) { /* rd_kafka_new failed: conf is still ours */
        rd_kafka_conf_destroy(conf);
        free(c);
        return NULL;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(c->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, cc->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe %s: %s", cc->topic, rd_kafka_err2str(err));
        rd_kafka_destroy(c->rk);
        free(c);
        return NULL;
    }
    return c;
}

void sp_consumer_destroy(sp_consumer *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
}

rd_kafka_message_t *sp_consumer_poll(sp_consumer *c, int timeout_ms)
{
    return rd_kafka_consumer_poll(c->rk, timeout_ms);
}

int sp_consumer_commit(sp_consumer *c, const char *topic, const int32_t *partitions,
                       const int64_t *offsets, int n, int async, char *errstr,
                       size_t errstr_size)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topic, partitions[i])->offset = offsets[i];
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, async);
    rd_kafka_topic_partition_list_destroy(l);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        snprintf(errstr, errstr_size, "commit %s (%d partitions): %s", topic, n,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

void sp_consumer_pause(sp_consumer *c, int pause)
{
    if (c->paused == pause)
        return;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (pause)
            rd_kafka_pause_partitions(c->rk, parts);
        else
            rd_kafka_resume_partitions(c->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    c->paused = pause;
    sp_info("consumption %s", pause ? "paused" : "resumed");
}

int sp_consumer_seek(sp_consumer *c, const char *topic, int32_t partition, int64_t offset,
                     char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, topic, partition);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (offset < 0) { /* the group's committed offset, else where a new group starts */
        err = rd_kafka_committed(c->rk, l, 10000);
        if (!err && tp->offset < 0)
            tp->offset = strcmp(c->conf.offset_reset, "latest") == 0 ? RD_KAFKA_OFFSET_END
                                                                    : RD_KAFKA_OFFSET_BEGINNING;
    } else {
        tp->offset = offset;
    }
    rd_kafka_error_t *error = err ? NULL : rd_kafka_seek_partitions(c->rk, l, 10000);
    int rc = 0;
    if (err || error || tp->err) {
        snprintf(errstr, errstr_size, "seek %s[%d]: %s", topic, partition,
                 err ? rd_kafka_err2str(err)
                     : error ? rd_kafka_error_string(error) : rd_kafka_err2str(tp->err));
        rc = -1;
    }
    if (error)
        rd_kafka_error_destroy(error);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int64_t sp_consumer_lag(sp_consumer *c, const char *topic, int32_t partition, int64_t next)
{
    int64_t lo = 0, hi = -1;
    if (next < 0 ||
        rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return 0;
    return hi > next ? hi - next : 0;
}

int sp_consumer_partitions(sp_consumer *c, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(c->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (t && rd_kafka_metadata(c->rk, 0, t, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    return n;
}
