/*
 * crashpoint.h - named points where the exactly-once tests and the soak script kill the
 * process (SIGKILL, as kill -9 would), so a crash can land exactly mid-publish.
 *
 * Armed by the environment variable SPTEST_CRASH_AT="<point>:<n>": the process
 * kills itself the n-th time it reaches <point>. Unset (production), each point costs
 * one relaxed atomic load. The points:
 *
 *   flush-before-send  a flush's checkpoints are built, nothing sent to Redis yet
 *   flush-sent         the checkpoints are committed, no rollup written yet
 *   flush-call         after the reply of any one call of a flush (calls are then sent
 *                      one at a time, so the kill falls exactly between two of them)
 *   flush-applied      Redis has the whole flush, offsets not yet committed to Kafka
 *   dead-letter        a rejected message was handed to the dead-letter producer
 *   revoke             a revoked partition, before its last flush
 */
#ifndef SUPPORTPULSE_CRASHPOINT_H
#define SUPPORTPULSE_CRASHPOINT_H

#include <stddef.h>

typedef enum {
    SP_CRASH_FLUSH_BEFORE_SEND,
    SP_CRASH_FLUSH_SENT,
    SP_CRASH_FLUSH_CALL,
    SP_CRASH_FLUSH_APPLIED,
    SP_CRASH_DEAD_LETTER,
    SP_CRASH_REVOKE,
    SP_CRASH__COUNT
} sp_crash_point;

/* Reads SPTEST_CRASH_AT once (later calls do nothing). 0, or -1 with errstr when
 * it is set but not "<point>:<n>" with a known point and n >= 1. */
int sp_crashpoint_init(char *errstr, size_t errstr_size);

/* Kills the process when this is the armed point's n-th visit. */
void sp_crashpoint(sp_crash_point p);
/* Whether p is the armed point (code that must behave differently for it asks). */
int sp_crashpoint_armed(sp_crash_point p);

#endif
