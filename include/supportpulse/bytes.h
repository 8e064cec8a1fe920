/*
 * bytes.h - a growable byte buffer and a reader over bytes, with the little-endian and
 * varint (LEB128; zigzag for signed values) encodings supportpulse's binary formats use
 * (partition checkpoints, rollup companions, Redis DUMP payloads).
 *
 * A buffer that fails to grow sets `failed` and ignores further writes, so a long run
 * of puts is checked once at the end. A reader that runs past its end sets `bad` and
 * returns zeros. Ownership: the buffer owns its memory (sp_buf_free).
 */
#ifndef SUPPORTPULSE_BYTES_H
#define SUPPORTPULSE_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int failed;
} sp_buf;

void sp_buf_free(sp_buf *b);
static inline void sp_buf_reset(sp_buf *b) { b->n = 0; b->failed = 0; }
/* Room for n more bytes; 0, or -1 (and failed) when out of memory. */
int sp_buf_reserve(sp_buf *b, size_t n);
void sp_buf_put(sp_buf *b, const void *data, size_t n);
/* Room for n more bytes, the common case inline. */
static inline int sp_buf_room(sp_buf *b, size_t n)
{
    return !b->failed && b->cap - b->n >= n ? 0 : sp_buf_reserve(b, n);
}
static inline void sp_buf_put_u8(sp_buf *b, unsigned v)
{
    if (sp_buf_room(b, 1) == 0)
        b->p[b->n++] = (unsigned char)v;
}
void sp_buf_put_le(sp_buf *b, uint64_t v, int bytes);   /* fixed width, little-endian */
void sp_buf_put_be(sp_buf *b, uint64_t v, int bytes);   /* fixed width, big-endian */
static inline void sp_buf_put_uv(sp_buf *b, uint64_t v) /* varint */
{
    if (sp_buf_room(b, 10) < 0)
        return;
    while (v >= 0x80) {
        b->p[b->n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b->p[b->n++] = (unsigned char)v;
}
static inline void sp_buf_put_sv(sp_buf *b, int64_t v) /* zigzag varint */
{
    sp_buf_put_uv(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}
void sp_buf_put_str(sp_buf *b, const char *s, size_t n); /* varint length + bytes */
/* Appends the whole file at path (at most max bytes; more is a read error). 0; -1 when
 * it cannot be opened; -2 on a read error, or when out of memory (b->failed). */
int sp_buf_read_file(sp_buf *b, const char *path, size_t max);

typedef struct {
    const unsigned char *p, *end;
    int bad;
} sp_reader;

static inline sp_reader sp_reader_of(const void *p, size_t n)
{
    return (sp_reader){(const unsigned char *)p, (const unsigned char *)p + n, 0};
}
static inline int sp_reader_done(const sp_reader *r) { return r->p >= r->end; }
unsigned sp_get_u8(sp_reader *r);
uint64_t sp_get_le(sp_reader *r, int bytes);
uint64_t sp_get_uv(sp_reader *r);
int64_t sp_get_sv(sp_reader *r);
/* A length-prefixed string: points into the data (not terminated); NULL when bad. */
const char *sp_get_str(sp_reader *r, size_t *len);

#endif
