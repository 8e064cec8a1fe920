/*
 * redis_dump.c - see redis_dump.h. The listpack layout (Redis's listpack.c): a 6-byte
 * header (total bytes, element count, both little-endian), each element as its encoding
 * and data followed by its "backlen" (the element's size, written so it can be read
 * backwards), and the end byte 0xFF.
 */
#include "supportpulse/redis_dump.h"

#include <pthread.h>
#include <string.h>

static uint64_t crc64_table[8][256]; /* slice-by-8: table k is table 0 advanced k bytes */
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_init(void)
{
    const uint64_t poly = 0x95ac9329ac4bc9b5ULL; /* 0xad93d23594c935a9 bit-reversed */
    for (int i = 0; i < 256; i++) {
        uint64_t c = (uint64_t)i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        crc64_table[0][i] = c;
    }
    for (int i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            crc64_table[k][i] = crc64_table[0][crc64_table[k - 1][i] & 0xff] ^
                                (crc64_table[k - 1][i] >> 8);
}

uint64_t sp_crc64(uint64_t crc, const void *data, size_t len)
{
    pthread_once(&crc64_once, crc64_init);
    const unsigned char *p = data;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t x = crc; /* the next 8 bytes, little-endian, into the register */
        for (int k = 0; k < 8; k++)
            x ^= (uint64_t)p[k] << (8 * k);
        crc = crc64_table[7][x & 0xff] ^ crc64_table[6][(x >> 8) & 0xff] ^
              crc64_table[5][(x >> 16) & 0xff] ^ crc64_table[4][(x >> 24) & 0xff] ^
              crc64_table[3][(x >> 32) & 0xff] ^ crc64_table[2][(x >> 40) & 0xff] ^
              crc64_table[1][(x >> 48) & 0xff] ^ crc64_table[0][x >> 56];
    }
    for (; len > 0; len--, p++)
        crc = crc64_table[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
    return crc;
}

/* Redis's string2ll: an optional '-', then digits with no leading zero ("0" itself
 * excepted), at most 20 characters, within int64. */
static int canonical_int(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return 0;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    size_t i = s[0] == '-';
    if (i == len || s[i] < '1' || s[i] > '9')
        return 0;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (s[0] == '-') {
        if (v > (uint64_t)INT64_MAX + 1)
            return 0;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)v;
    }
    return 1;
}

static void put_backlen(sp_buf *b, size_t l)
{
    if (l <= 127) {
        sp_buf_put_u8(b, (unsigned)l);
    } else if (l < 16383) {
        sp_buf_put_u8(b, (unsigned)(l >> 7));
        sp_buf_put_u8(b, (unsigned)((l & 127) | 128));
    } else if (l < 2097151) {
        sp_buf_put_u8(b, (unsigned)(l >> 14));
        sp_buf_put_u8(b, (unsigned)(((l >> 7) & 127) | 128));
        sp_buf_put_u8(b, (unsigned)((l & 127) | 128));
    } else if (l < 268435455) {
        sp_buf_put_u8(b, (unsigned)(l >> 21));
        sp_buf_put_u8(b, (unsigned)(((l >> 14) & 127) | 128));
        sp_buf_put_u8(b, (unsigned)(((l >> 7) & 127) | 128));
        sp_buf_put_u8(b, (unsigned)((l & 127) | 128));
    } else {
        sp_buf_put_u8(b, (unsigned)(l >> 28));
        sp_buf_put_u8(b, (unsigned)(((l >> 21) & 127) | 128));
        sp_buf_put_u8(b, (unsigned)(((l >> 14) & 127) | 128));
        sp_buf_put_u8(b, (unsigned)(((l >> 7) & 127) | 128));
        sp_buf_put_u8(b, (unsigned)((l & 127) | 128));
    }
}

/* One listpack element of an integer, in its smallest encoding. */
static void put_int_element(sp_buf *b, int64_t v)
{
    size_t at = b->n;
    if (v >= 0 && v <= 127) {
        sp_buf_put_u8(b, (unsigned)v);
    } else if (v >= -4096 && v <= 4095) {
        uint64_t u = v < 0 ? (uint64_t)((1 << 13) + v) : (uint64_t)v;
        sp_buf_put_u8(b, (unsigned)(0xC0 | (u >> 8)));
        sp_buf_put_u8(b, (unsigned)(u & 0xff));
    } else if (v >= -32768 && v <= 32767) {
        sp_buf_put_u8(b, 0xF1);
        sp_buf_put_le(b, (uint64_t)v, 2);
    } else if (v >= -8388608 && v <= 8388607) {
        sp_buf_put_u8(b, 0xF2);
        sp_buf_put_le(b, (uint64_t)v, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        sp_buf_put_u8(b, 0xF3);
        sp_buf_put_le(b, (uint64_t)v, 4);
    } else {
        sp_buf_put_u8(b, 0xF4);
        sp_buf_put_le(b, (uint64_t)v, 8);
    }
    put_backlen(b, b->n - at);
}

/* One listpack element of a string: as an integer when it is one in canonical form (as
 * Redis stores it), else as a string. */
static void put_element(sp_buf *b, const char *s, size_t len)
{
    int64_t v;
    if (canonical_int(s, len, &v)) {
        put_int_element(b, v);
        return;
    }
    size_t at = b->n;
    if (len < 64) {
        sp_buf_put_u8(b, (unsigned)(0x80 | len));
        sp_buf_put(b, s, len);
    } else if (len < 4096) {
        sp_buf_put_u8(b, (unsigned)(0xE0 | (len >> 8)));
        sp_buf_put_u8(b, (unsigned)(len & 0xff));
        sp_buf_put(b, s, len);
    } else {
        sp_buf_put_u8(b, 0xF0);
        sp_buf_put_le(b, len, 4);
        sp_buf_put(b, s, len);
    }
    put_backlen(b, b->n - at);
}

/* rdbSaveLen */
static void put_rdb_len(sp_buf *b, uint64_t len)
{
    if (len < 64) {
        sp_buf_put_u8(b, (unsigned)len);
    } else if (len < 16384) {
        sp_buf_put_u8(b, (unsigned)(((len >> 8) & 0x3f) | 0x40));
        sp_buf_put_u8(b, (unsigned)(len & 0xff));
    } else if (len <= UINT32_MAX) {
        sp_buf_put_u8(b, 0x80);
        sp_buf_put_be(b, len, 4);
    } else {
        sp_buf_put_u8(b, 0x81);
        sp_buf_put_be(b, len, 8);
    }
}

void sp_dump_begin(sp_dump_builder *d)
{
    sp_buf_reset(&d->lp);
    d->n = 0;
    sp_buf_put_le(&d->lp, 0, 4); /* total bytes, set at the end */
    sp_buf_put_le(&d->lp, 0, 2); /* elements, set at the end */
}

void sp_dump_field(sp_dump_builder *d, const char *name, size_t nlen, const char *value,
                   size_t vlen)
{
    put_element(&d->lp, name, nlen);
    put_element(&d->lp, value, vlen);
    d->n++;
}

void sp_dump_field_int(sp_dump_builder *d, const char *name, size_t nlen, int64_t value)
{
    put_element(&d->lp, name, nlen);
    put_int_element(&d->lp, value);
    d->n++;
}

int sp_dump_end(sp_dump_builder *d, sp_buf *out)
{
    sp_buf *lp = &d->lp;
    sp_buf_put_u8(lp, 0xFF);
    if (lp->failed || lp->n > UINT32_MAX || 2 * d->n >= 65535)
        return -1;
    for (int i = 0; i < 4; i++)
        lp->p[i] = (unsigned char)(lp->n >> (8 * i));
    lp->p[4] = (unsigned char)(2 * d->n);
    lp->p[5] = (unsigned char)((2 * d->n) >> 8);
    size_t at = out->n;
    sp_buf_put_u8(out, SP_DUMP_TYPE_HASH_LISTPACK);
    put_rdb_len(out, lp->n);
    sp_buf_put(out, lp->p, lp->n);
    sp_buf_put_le(out, SP_DUMP_RDB_VERSION, 2);
    if (out->failed)
        return -1;
    sp_buf_put_le(out, sp_crc64(0, out->p + at, out->n - at), 8);
    return out->failed ? -1 : 0;
}

void sp_dump_builder_free(sp_dump_builder *d) { sp_buf_free(&d->lp); }

int sp_dump_hash(sp_buf *out, size_t n, const char *const *field, const size_t *flen,
                 const char *const *value, const size_t *vlen)
{
    sp_dump_builder d = {{0}, 0};
    sp_dump_begin(&d);
    for (size_t i = 0; i < n; i++)
        sp_dump_field(&d, field[i], flen[i], value[i], vlen[i]);
    int rc = sp_dump_end(&d, out);
    sp_dump_builder_free(&d);
    return rc;
}
