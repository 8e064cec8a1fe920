/*
 * names.h - the one form of a queue, channel-free name, agent id or tenant that every
 * count uses: surrounding whitespace (ASCII and Unicode space separators, such as
 * U+00A0 and the ideographic space U+3000) removed, and the rest in Unicode
 * Normalization Form C (utf8proc), so "Payments " and "Payments", or a name typed with
 * a combining accent and one with the precomposed letter, are one name. Case is kept.
 *
 * Data flow: the decoder passes each name field through sp_name_normalize before it is
 * copied into the event; the event records that one changed (counted in {p}:meta as
 * normalized_names).
 */
#ifndef SUPPORTPULSE_NAMES_H
#define SUPPORTPULSE_NAMES_H

#include <stddef.h>

/* Normalizes in[0..len) (valid UTF-8, no NUL) into out (NUL-terminated). Returns the
 * length of the result, with *changed 1 when it differs from the input; -1 when nothing
 * is left after trimming; -2 when the result needs more than out_size - 1 bytes; -3
 * when out of memory. Names of ASCII letters without surrounding spaces (the common
 * case) are copied without allocating. */
int sp_name_normalize(const char *in, size_t len, char *out, size_t out_size, int *changed);

#endif
