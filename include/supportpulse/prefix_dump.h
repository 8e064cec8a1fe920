/*
 * prefix_dump.h - the canonical dump of a prefix: what two runs over the same stream must
 * hold alike, whatever restarts, crashes, rebalances and outages came between. One line
 * per field, "<key less the prefix> <field> <value>", sorted: every rollup hash
 * ({p}:r:*) and series index ({p}:ts:*, member and score), less `updated_at`, and the
 * counters and resume points of {p}:meta (consumed, applied, duplicates, late_dropped,
 * rejected:*, evicted_*, resume:*). Read from every master of a cluster. The tests
 * compare prefixes with it and `supportpulse dump` prints it (scripts/soak.sh).
 *
 * Ownership: the lines belong to the dump; sp_prefix_dump_free releases them.
 */
#ifndef SUPPORTPULSE_PREFIX_DUMP_H
#define SUPPORTPULSE_PREFIX_DUMP_H

#include <stddef.h>

#include "supportpulse/redis_client.h"

typedef struct {
    char **line; /* sorted, each NUL-terminated, without a newline */
    size_t n, cap;
} sp_prefix_dump;

/* Fills d (empty on entry, {0}) with prefix's lines. 0, or -1 with errstr (d then holds
 * what was read so far; free it either way). */
int sp_prefix_dump_read(sp_redis *r, const char *prefix, sp_prefix_dump *d, char *errstr,
                        size_t errstr_size);
void sp_prefix_dump_free(sp_prefix_dump *d);

#endif
