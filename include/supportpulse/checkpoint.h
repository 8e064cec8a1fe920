/*
 * checkpoint.h - a partition's state in Redis: a log of segments (partition_codec.h) in
 * the partition's own hash slot, committed atomically with its resume point, fenced by
 * a claim that every new owner takes.
 *
 * Keys (redis_keys.h, one slot per partition): the hash {p}:cp:{...} (claims, token,
 * seq = the committed flush number, resume = "<next offset> <newest event time> <count>
 * ...", bytes and segments of the log, the flush of its last snapshot), the list
 * {p}:cpl:{...} (the log: the names of its segments, a snapshot then deltas, "S<flush>"
 * or "D<flush>"), each segment {p}:cpg:{...}:<name> a list of chunks of at most 512 KB,
 * each starting with the header "SPC1:<token>:<flush>:<kind>\n", and {p}:cps:{...}
 * where a segment is staged before its commit.
 *
 * Committing a segment is: UNLINK the staging list, RPUSH its chunks, then one script
 * (checkpoint_commit.lua) that checks the claim and the flush number, renames the
 * staging list to the segment and appends its name to the log (a snapshot's commit
 * unlinks the segments it replaces instead): the bytes are never copied, so no call
 * holds Redis long whatever their size. A commit sent
 * twice is recognised ("applied"); one from an owner whose claim another took is refused
 * (SPSTALE); one that finds Redis behind what this owner committed (Redis restarted from
 * an older snapshot, or failed over to a lagging replica) is refused too (SPBEHIND): the
 * owner restores from what Redis holds.
 *
 * A restore claims the partition, reads the log element by element and rebuilds the
 * partition; when the log ends with a delta of the committed flush, the partition comes
 * back with exactly those changes dirty (pending): the caller, which knows whether that
 * flush's rollup writes all landed ({p}:meta has its resume point once they have), sends
 * them again or marks them published.
 *
 * Not thread-safe: the pipeline thread's. Ownership: the caller owns every buffer.
 */
#ifndef SUPPORTPULSE_CHECKPOINT_H
#define SUPPORTPULSE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/partition.h"
#include "supportpulse/redis_client.h"

#define SP_CHECKPOINT_CHUNK (512 * 1024)

/* This owner's hold on a partition's checkpoint. */
typedef struct {
    uint64_t claims;          /* the claim made (0: none) */
    char token[17];           /* random, hex: who made it */
    int64_t seq;              /* the flush number Redis holds as committed */
    uint64_t bytes;           /* the log's bytes, and those of its last snapshot */
    uint64_t snapshot_bytes;
    int segments;             /* elements' segments in the log */
} sp_checkpoint;

typedef struct {
    int claim, commit;        /* registered scripts (sp_redis_script) */
} sp_checkpoint_scripts;

/* Registers the two scripts on r. 0, or -1 when r has no room for scripts. */
int sp_checkpoint_scripts_add(sp_redis *r, sp_checkpoint_scripts *s);

/* Claims a partition: a new token, the claim count up by one (a former owner's commits
 * are refused from now). Fills cp and the resume point ("" when Redis has none). 0, or
 * -1 with errstr. */
int sp_checkpoint_claim(sp_redis *r, const sp_checkpoint_scripts *s, const char *prefix,
                        const char *topic, int32_t partition, sp_checkpoint *cp, char *resume,
                        size_t resume_size, char *errstr, size_t errstr_size);

/* Rebuilds p (new, empty) from the log; *pending is set when the
 * last segment's changes are restored dirty (see above). 0, or -1 with errstr. */
int sp_checkpoint_load(sp_redis *r, const char *prefix, const char *topic, int32_t partition,
                       const sp_checkpoint *cp, sp_partition *p, int *pending,
                       char *errstr, size_t errstr_size);

/* Appends to b the commands that stage one segment (kind 'D' committed as flush
 * new_seq, or 'S' a snapshot at the committed flush) and commit it with the resume
 * point. Returns the index of the commit's command in b, or -1 when out of memory. */
long sp_checkpoint_stage(sp_redis_batch *b, const sp_checkpoint_scripts *s, const char *prefix,
                         const char *topic, int32_t partition, const sp_checkpoint *cp,
                         int64_t new_seq, char kind, const char *resume,
                         const unsigned char *seg, size_t len);

typedef enum {
    SP_CP_OK,      /* committed (now or by an earlier send) */
    SP_CP_STALE,   /* another owner claimed the partition since */
    SP_CP_BEHIND,  /* Redis holds less than this owner committed: restore from it */
    SP_CP_FAILED   /* anything else: try again */
} sp_cp_result;

/* What a commit's reply means; errstr gets the reply's error. */
sp_cp_result sp_checkpoint_result(const redisReply *r, char *errstr, size_t errstr_size);

#endif
