/*
 * dims.c - formatting and parsing of dimension keys; see dims.h for the escaping rule.
 */
#include "supportpulse/dims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sp_dims_escape(const char *value, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        /* '{' and '}' too: a key with a {hash tag} would change its Redis Cluster slot */
        int esc = *p == '%' || *p == '|' || *p == '=' || *p == ':' || *p == '{' || *p == '}' ||
                  *p < 0x20;
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

static int unescape(const char *s, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            char hex[3] = {0};
            if (i + 2 >= n)
                return -1;
            hex[0] = s[i + 1];
            hex[1] = s[i + 2];
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end || end != hex + 2)
                return -1;
            c = (char)v;
            i += 2;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int sp_dims_parse(const char *dims, char *tenant, char *queue, char *channel, char *agent,
                  size_t size)
{
    static const char *const names[4] = {"tenant", "queue", "channel", "agent"};
    char *out[4] = {tenant, queue, channel, agent};
    for (int k = 0; k < 4; k++)
        out[k][0] = '\0';
    if (strcmp(dims, "all") == 0)
        return 0;
    for (const char *s = dims; *s;) {
        const char *bar = strchr(s, '|'), *end = bar ? bar : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        int k = 0;
        while (eq && k < 4 && (strlen(names[k]) != (size_t)(eq - s) ||
                               memcmp(names[k], s, (size_t)(eq - s)) != 0))
            k++;
        if (!eq || k == 4 || unescape(eq + 1, (size_t)(end - eq - 1), out[k], size) < 0)
            return -1;
        s = bar ? bar + 1 : end;
    }
    return 0;
}
