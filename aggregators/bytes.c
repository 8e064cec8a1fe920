/*
 * bytes.c - see bytes.h.
 */
#include "supportpulse/bytes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sp_buf_free(sp_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

int sp_buf_reserve(sp_buf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->n + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sp_buf_put(sp_buf *b, const void *data, size_t n)
{
    if (n && sp_buf_reserve(b, n) == 0) {
        memcpy(b->p + b->n, data, n);
        b->n += n;
    }
}

void sp_buf_put_le(sp_buf *b, uint64_t v, int bytes)
{
    if (sp_buf_reserve(b, (size_t)bytes) < 0)
        return;
    for (int i = 0; i < bytes; i++)
        b->p[b->n++] = (unsigned char)(v >> (8 * i));
}

void sp_buf_put_be(sp_buf *b, uint64_t v, int bytes)
{
    if (sp_buf_reserve(b, (size_t)bytes) < 0)
        return;
    for (int i = bytes - 1; i >= 0; i--)
        b->p[b->n++] = (unsigned char)(v >> (8 * i));
}

void sp_buf_put_str(sp_buf *b, const char *s, size_t n)
{
    sp_buf_put_uv(b, n);
    sp_buf_put(b, s, n);
}

int sp_buf_read_file(sp_buf *b, const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t start = b->n, n;
    do {
        if (sp_buf_room(b, 8192) < 0)
            break;
        n = fread(b->p + b->n, 1, 8192, f);
        b->n += n;
    } while (n > 0 && b->n - start <= max);
    int bad = ferror(f) || b->failed || b->n - start > max;
    fclose(f);
    return bad ? -2 : 0;
}

unsigned sp_get_u8(sp_reader *r)
{
    if (r->p >= r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

uint64_t sp_get_le(sp_reader *r, int bytes)
{
    if (r->end - r->p < bytes) {
        r->bad = 1;
        r->p = r->end;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return v;
}

uint64_t sp_get_uv(sp_reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = 1;
            return 0;
        }
        unsigned char c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

int64_t sp_get_sv(sp_reader *r)
{
    uint64_t u = sp_get_uv(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

const char *sp_get_str(sp_reader *r, size_t *len)
{
    uint64_t n = sp_get_uv(r);
    if (r->bad || (uint64_t)(r->end - r->p) < n) {
        r->bad = 1;
        r->p = r->end;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    *len = (size_t)n;
    return s;
}
