/*
 * names.c - see names.h. Trimming walks code points from each end with utf8proc's
 * decoder; NFC is utf8proc_map (which allocates), reached only by names with a
 * non-ASCII byte.
 */
#include "supportpulse/names.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static int is_space(utf8proc_int32_t c)
{
    if (c == ' ' || (c >= '\t' && c <= '\r') || c == 0xFEFF) /* and a stray BOM */
        return 1;
    return c > 0x7f && utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

/* The length of the UTF-8 sequence starting at s[i]. */
static size_t seq_len(const unsigned char *s, size_t i, size_t len)
{
    size_t n = s[i] < 0x80 ? 1 : s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
    return i + n <= len ? n : len - i;
}

/* Trims [*from, *to) of leading and trailing space code points. */
static void trim(const unsigned char *s, size_t *from, size_t *to)
{
    while (*from < *to) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(s + *from, (utf8proc_ssize_t)(*to - *from), &c);
        if (n <= 0 || !is_space(c))
            break;
        *from += (size_t)n;
    }
    while (*to > *from) {
        size_t start = *to - 1;
        while (start > *from && (s[start] & 0xc0) == 0x80) /* back to a lead byte */
            start--;
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(s + start, (utf8proc_ssize_t)seq_len(s, start, *to),
                                              &c);
        if (n <= 0 || !is_space(c))
            break;
        *to = start;
    }
}

int sp_name_normalize(const char *in, size_t len, char *out, size_t out_size, int *changed)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t from = 0, to = len;
    trim(s, &from, &to);
    if (from == to)
        return -1;
    int ascii = 1;
    for (size_t i = from; i < to && ascii; i++)
        ascii = s[i] < 0x80;
    const char *res = in + from;
    size_t n = to - from;
    utf8proc_uint8_t *nfc = NULL;
    if (!ascii) {
        utf8proc_ssize_t m = utf8proc_map(s + from, (utf8proc_ssize_t)n, &nfc,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (m < 0) {
            free(nfc);
            return m == UTF8PROC_ERROR_NOMEM ? -3 : -1;
        }
        res = (const char *)nfc;
        n = (size_t)m;
    }
    int rc = -2;
    if (n < out_size) {
        memcpy(out, res, n);
        out[n] = '\0';
        *changed = n != len || memcmp(res, in, len) != 0;
        rc = (int)n;
    }
    free(nfc);
    return rc;
}
