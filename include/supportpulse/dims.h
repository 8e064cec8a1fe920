/*
 * dims.h - the `{dims}` part of Redis keys (shared/spec/redis.md): `k=v` pairs joined by
 * `|` in the fixed order tenant, queue, channel, agent, or `all`. Values are
 * percent-escaped ('%' '|' '=' ':' '{' '}' and bytes < 0x20) so a value cannot break a key
 * (nor give it a Redis Cluster hash tag);
 * every other byte, UTF-8 included, is kept as is.
 */
#ifndef SUPPORTPULSE_DIMS_H
#define SUPPORTPULSE_DIMS_H

#include <stddef.h>

#define SP_DIMS_MAX 640 /* 4 escaped values of up to 64 bytes (x3) plus names */

/* Writes the escaped value; returns its length, or -1 when it does not fit in size. */
int sp_dims_escape(const char *value, char *out, size_t size);

/* Any argument may be NULL or "" for "not in this set"; tenant "default" is omitted.
 * Returns the key length, or -1 when it does not fit. */
int sp_dims_format(const char *tenant, const char *queue, const char *channel,
                   const char *agent, char *out, size_t size);

/* Splits a dims key back into its unescaped values (each buffer of `size` bytes; ""
 * when the set has no such dimension, tenant "" meaning default). 0, or -1 when the key
 * is malformed or a value does not fit. */
int sp_dims_parse(const char *dims, char *tenant, char *queue, char *channel, char *agent,
                  size_t size);

#endif
