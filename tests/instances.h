/*
 * instances.h - several supportpulse instances against one sp_env, for the exactly-once
 * tests and the soak: instances as child processes (`supportpulse run`, killable with
 * kill -9), waiting until Redis records every partition as consumed to its end, and a
 * canonical text dump of what a prefix holds, to compare two runs byte for byte.
 */
#ifndef SP_TEST_INSTANCES_H
#define SP_TEST_INSTANCES_H

#include <sys/types.h>

#include "helpers.h"
#include "supportpulse/generator.h"

/* A generated wallet help-desk stream for seed (20,000 contacts an hour, 1% malformed,
 * 1% duplicates, 3% out of order), produced to topic in as many chunks as the test
 * wants: the same seed gives the same messages however they are chunked. */
typedef struct {
    sp_env *env;
    sp_gen *g;
    const char *topic;
    int produced;
} sp_stream;

void sp_stream_open(sp_env *e, sp_stream *s, const char *topic, uint64_t seed);
void sp_stream_skip(sp_stream *s, int n);      /* generates n messages, produces none */
void sp_stream_produce(sp_stream *s, int n);   /* the next n, waiting for delivery */
void sp_stream_close(sp_stream *s);

typedef struct {
    const char *topic, *group, *prefix;
    const char *crash_at;  /* SPTEST_CRASH_AT for the child, or NULL */
    const char *log_path;  /* its stdout and stderr are appended here */
    int flush_ms;          /* 0 = 100 */
} sp_child_conf;

/* Starts `supportpulse run` for the env (forecaster off, short Kafka session timeout so
 * that a killed member leaves the group within 6 s). Returns its pid. */
pid_t sp_child_start(sp_env *e, const sp_child_conf *c);
/* 1 when it has exited (its wait status in *status), 0 while it runs. */
int sp_child_exited(pid_t pid, int *status);
/* kill -9 and reap. */
void sp_child_kill(pid_t pid);
/* SIGTERM, reap, and return its exit code (-1 if a signal ended it). */
int sp_child_stop(pid_t pid, int timeout_s);

/* The partitions' end offsets now. */
void sp_end_offsets(sp_env *e, const char *topic, int partitions, long long *out);
/* Waits until {prefix}:meta holds, for every partition, a resume point at its end
 * offset: every message is in the rollups. 1 when it did within timeout_s. */
int sp_wait_caught_up(sp_env *e, const char *prefix, const char *topic, int partitions,
                      int timeout_s);

/* Everything under prefix that must not depend on how many instances, partitions
 * assignments, crashes or restarts produced it, as sorted lines "key field value"
 * with the prefix cut off: the rollups {p}:r:* (counts, ratios, percentiles: their
 * sketches show there), the series indexes {p}:ts:*, the message counts and resume
 * points in {p}:meta. Left out: wall-clock fields (updated_at), and keys whose content
 * depends on when flushes happened (checkpoints, companions, live hashes). Every master
 * of a cluster is read. Caller frees. */
char *sp_dump_prefix(sp_env *e, const char *prefix);
/* Fails the test at the first line where the dumps of a and b differ. Returns the
 * number of lines compared. */
long sp_expect_same_dump(sp_env *e, const char *a, const char *b);

#endif
