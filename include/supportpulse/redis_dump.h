/*
 * redis_dump.h - the serialized form of a Redis hash that RESTORE takes (what DUMP
 * returns), built here so a rollup can be written whole in one cheap command.
 *
 * Writing a hash of n fields with HSET makes Redis look each field up in the listpack it
 * builds, O(n^2) per write (16 us for a 26-field rollup on the benchmark machine, 45 us
 * at 60 fields); RESTORE of the same hash takes ~3.5 us whatever n. The payload is the
 * value in RDB format: type 16 (a hash as a listpack, Redis 7.0 and later), the listpack
 * as an RDB string, then the RDB version (10) and the CRC-64 (Jones) of all of it.
 * Redis accepts payloads of its own RDB version or older, so every later Redis restores
 * it; a server that refuses it (older than 7.0, or RESTORE not allowed) makes the writer
 * fall back to HSET (rollups.c).
 *
 * Fields must be distinct and a listpack hash holds at most 65,535 entries; values
 * that are integers in canonical form are stored as integers, as Redis stores them.
 */
#ifndef SUPPORTPULSE_REDIS_DUMP_H
#define SUPPORTPULSE_REDIS_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "supportpulse/bytes.h"

#define SP_DUMP_RDB_VERSION 10
#define SP_DUMP_TYPE_HASH_LISTPACK 16

/* CRC-64/Jones (reflected, polynomial 0xad93d23594c935a9), as Redis's crc64. */
uint64_t sp_crc64(uint64_t crc, const void *data, size_t len);

/* A hash built field by field (the builder's buffer is reused from one hash to the
 * next): begin, fields (a string value; or an integer, stored as Redis stores one), end
 * appends the payload to out: 0, or -1 when out of memory or beyond a listpack's count.
 * Ownership: the builder owns its buffer (sp_dump_builder_free). */
typedef struct {
    sp_buf lp;
    size_t n;
} sp_dump_builder;
void sp_dump_begin(sp_dump_builder *d);
void sp_dump_field(sp_dump_builder *d, const char *name, size_t nlen, const char *value,
                   size_t vlen);
void sp_dump_field_int(sp_dump_builder *d, const char *name, size_t nlen, int64_t value);
int sp_dump_end(sp_dump_builder *d, sp_buf *out);
void sp_dump_builder_free(sp_dump_builder *d);

/* The payload of a hash of n field/value pairs (strings with their lengths), appended
 * to out. 0, or -1 when out of memory or n is beyond a listpack's count. */
int sp_dump_hash(sp_buf *out, size_t n, const char *const *field, const size_t *flen,
                 const char *const *value, const size_t *vlen);

#endif
