/*
 * dims.c - formatting of dimension keys; see dims.h for the escaping rule.
 */
#include "supportpulse/dims.h"

#include <stdio.h>
#include <string.h>

int sp_dims_escape(const char *value, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        int esc = *p == '%' || *p == '|' || *p == '=' || *p == ':' || *p < 0x20;
        if (n + (esc ? 3 : 1) >= size)
            return -1;
        if (esc) {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        } else {
            out[n++] = (char)*p;
        }
    }
    if (n >= size)
        return -1;
    out[n] = '\0';
    return (int)n;
}

static int append_pair(char *out, size_t size, size_t *n, const char *name, const char *value)
{
    if (!value || !*value)
        return 0;
    int w = snprintf(out + *n, size - *n, "%s%s=", *n ? "|" : "", name);
    if (w < 0 || (size_t)w >= size - *n)
        return -1;
    *n += (size_t)w;
    int e = sp_dims_escape(value, out + *n, size - *n);
    if (e < 0)
        return -1;
    *n += (size_t)e;
    return 0;
}

int sp_dims_format(const char *tenant, const char *queue, const char *channel,
                   const char *agent, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return -1;
    out[0] = '\0';
    if (tenant && strcmp(tenant, "default") == 0)
        tenant = NULL;
    if (append_pair(out, size, &n, "tenant", tenant) < 0 ||
        append_pair(out, size, &n, "queue", queue) < 0 ||
        append_pair(out, size, &n, "channel", channel) < 0 ||
        append_pair(out, size, &n, "agent", agent) < 0)
        return -1;
    if (n == 0) {
        if (size < 4)
            return -1;
        memcpy(out, "all", 4);
        n = 3;
    }
    return (int)n;
}
