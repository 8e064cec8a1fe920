/*
 * pipeline.h - `supportpulse run`: Kafka -> decode -> per-partition windows -> Redis.
 *
 * One thread runs sp_pipeline_run: it polls the consumer, decodes each message, applies
 * it to its partition's state (or dead-letters it), and every flush_ms writes the
 * changed state of each partition to Redis with its resume point, then commits the
 * offsets to Kafka. If Redis or the dead-letter topic is unreachable it pauses
 * consumption, keeps its state, retries with exponential backoff and resumes: nothing
 * is dropped and memory stays bounded.
 *
 * Other threads may read sp_pipeline_stats (relaxed atomics) and call sp_pipeline_stop
 * (async-signal-safe: one atomic store). The process must ignore SIGPIPE (main does):
 * a Redis connection that drops mid-write is then an error that is retried.
 */
#ifndef SUPPORTPULSE_PIPELINE_H
#define SUPPORTPULSE_PIPELINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "supportpulse/config.h"
#include "supportpulse/event.h"

typedef struct {
    atomic_uint_fast64_t consumed, applied, duplicates, late, rejected, flushes, flush_errors;
    atomic_uint_fast64_t restore_errors; /* failed reads of an assigned partition's state */
    atomic_uint_fast64_t rejected_by[SP_REJ__COUNT];
    atomic_uint_fast64_t overflowed;     /* events counted under "other" (a names table full) */
    atomic_int_fast64_t watermark_ms; /* pipeline watermark; INT64_MIN before any event */
    atomic_int paused, partitions;
} sp_pipeline_stats;

typedef struct sp_pipeline sp_pipeline;

/* cfg must outlive the pipeline. NULL with errstr on a bad setting or Kafka failure. */
sp_pipeline *sp_pipeline_new(const sp_config *cfg, char *errstr, size_t errstr_size);
/* Leaves the group and frees everything (flushing once more). NULL is a no-op. */
void sp_pipeline_destroy(sp_pipeline *pl);
/* Runs until sp_pipeline_stop; then flushes and commits. 0 on a clean stop, -1 with
 * errstr on a fatal error (out of memory), -2 with errstr when a setting disagrees with
 * what the Redis prefix was written with (its topic, resolutions_by_dims). */
int sp_pipeline_run(sp_pipeline *pl, char *errstr, size_t errstr_size);
void sp_pipeline_stop(sp_pipeline *pl);
const sp_pipeline_stats *sp_pipeline_get_stats(const sp_pipeline *pl);
/* Dead letters sent cut to fit the dead-letter topic (sp_dlq_truncated); any thread. */
uint64_t sp_pipeline_dead_letters_cut(const sp_pipeline *pl);

#endif
