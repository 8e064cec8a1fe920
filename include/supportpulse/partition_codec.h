/*
 * partition_codec.h - a partition's state as bytes, and back: what a checkpoint in Redis
 * holds (publishers/checkpoint.c keeps it; docs/design.md, "Checkpoints").
 *
 * Two kinds of segment:
 *   - a delta: what changed since the partition's last publish (the changed cells with
 *     their absolute values, the changed and removed cases, the event ids first seen,
 *     the attributions written, the agent presence not yet sent, the newest event time);
 *   - a snapshot: all of it (every cell of every window, case, remembered id and
 *     attribution).
 * A restore applies a snapshot and the deltas after it, in order. The last delta is
 * the one whose rollup writes may not all have landed: given `pending`, its cells are
 * restored dirty, each with its value before that delta as the published one, so the
 * next flush sends exactly that delta again (the rollups' per-partition marks make a
 * second application a no-op), and its presence entries are listed to be sent again.
 *
 * Format (version 1): 'P', 1, kind ('D' or 'S'), then records, each a tag byte and its
 * fields (varints, zigzag for signed values, fixed little-endian 64-bit keys), ending
 * with tag 0. Strings (dims keys, queue, tenant and agent names) are written once per
 * segment and referred to by number. Cases are restored in the order they were first
 * created, so a full case store evicts the same cases after a restore as before it.
 *
 * Not thread-safe; the partition must not be applied to meanwhile. Ownership: segments
 * are written into the caller's buffer; a restore keeps what it needs until finished.
 */
#ifndef SUPPORTPULSE_PARTITION_CODEC_H
#define SUPPORTPULSE_PARTITION_CODEC_H

#include <stddef.h>

#include "supportpulse/bytes.h"
#include "supportpulse/partition.h"

#define SP_CODEC_VERSION 1

/* Appends the changes of p since its last publish. 0, or -1 when out of memory. */
int sp_codec_delta(sp_partition *p, sp_buf *out);
/* Appends the whole state of p (nothing may be dirty: call it right after a publish). */
int sp_codec_snapshot(sp_partition *p, sp_buf *out);
/* 'D' or 'S' for a segment's bytes, 0 when they are not a segment of this version. */
int sp_codec_kind(const void *data, size_t len);

typedef struct sp_restore sp_restore;

/* A restore into p, which must be new (no event applied). NULL when out of memory. */
sp_restore *sp_restore_new(sp_partition *p);
/* Applies one segment (the caller keeps the bytes valid until sp_restore_finish when
 * pending is set). 0, or -1 with errstr (malformed, or out of memory). */
int sp_restore_segment(sp_restore *r, const void *data, size_t len, int pending,
                       char *errstr, size_t errstr_size);
/* Puts the cases back in order, marks the restored state published, then applies the
 * pending segment's cells and presence as not yet published. 0, or -1 with errstr. */
int sp_restore_finish(sp_restore *r, char *errstr, size_t errstr_size);
void sp_restore_destroy(sp_restore *r); /* NULL is a no-op */

#endif
