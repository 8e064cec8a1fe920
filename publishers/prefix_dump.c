/*
 * prefix_dump.c - see prefix_dump.h. SCAN of every master for the prefix's keys; each
 * kept key read whole (HGETALL, or ZRANGE WITHSCORES for an index) through the router;
 * the lines collected, then sorted. A key that expired between the SCAN and its read is
 * left out.
 */
#include "supportpulse/prefix_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_line(sp_prefix_dump *d, const char *key, const redisReply *f,
                    const redisReply *v)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 4096;
        char **nl = realloc(d->line, cap * sizeof *nl);
        if (!nl)
            return -1;
        d->line = nl;
        d->cap = cap;
    }
    size_t len = strlen(key) + f->len + v->len + 3;
    char *s = malloc(len);
    if (!s)
        return -1;
    snprintf(s, len, "%s %.*s %.*s", key, (int)f->len, f->str, (int)v->len, v->str);
    d->line[d->n++] = s;
    return 0;
}

static int meta_field_kept(const char *f)
{
    static const char *const keep[] = {"consumed", "applied", "duplicates", "late_dropped"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strcmp(f, keep[i]) == 0)
            return 1;
    return strncmp(f, "rejected:", 9) == 0 || strncmp(f, "evicted_", 8) == 0 ||
           strncmp(f, "overflow_", 9) == 0 || strncmp(f, "resume:", 7) == 0;
}

/* One key's lines; rel is the key less "<prefix>:". */
static int dump_key(sp_redis *r, sp_prefix_dump *d, const char *key, const char *rel,
                    char *errstr, size_t errstr_size)
{
    int is_meta = strcmp(rel, "meta") == 0;
    if (!is_meta && strncmp(rel, "r:", 2) != 0 && strncmp(rel, "ts:", 3) != 0)
        return 0;
    const char *type_argv[] = {"TYPE", key};
    redisReply *t = sp_redis_cmd_argv(r, 1, 2, type_argv, NULL, errstr, errstr_size);
    if (!t || t->type != REDIS_REPLY_STATUS) {
        if (t)
            snprintf(errstr, errstr_size, "TYPE %s: %s", key, t->str ? t->str : "bad reply");
        freeReplyObject(t);
        return -1;
    }
    int zset = strcmp(t->str, "zset") == 0, hash = strcmp(t->str, "hash") == 0;
    freeReplyObject(t);
    if (!zset && !hash)
        return 0; /* expired between the SCAN and now */
    const char *zr[] = {"ZRANGE", key, "0", "-1", "WITHSCORES"}, *hg[] = {"HGETALL", key};
    redisReply *rep = zset ? sp_redis_cmd_argv(r, 1, 5, zr, NULL, errstr, errstr_size)
                           : sp_redis_cmd_argv(r, 1, 2, hg, NULL, errstr, errstr_size);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep)
            snprintf(errstr, errstr_size, "reading %s: %s", key, rep->str ? rep->str : "bad reply");
        freeReplyObject(rep);
        return -1;
    }
    int rc = 0;
    for (size_t j = 0; j + 1 < rep->elements && rc == 0; j += 2) {
        const redisReply *f = rep->element[j], *v = rep->element[j + 1];
        if (strcmp(f->str, "updated_at") == 0 || (is_meta && !meta_field_kept(f->str)))
            continue;
        if (add_line(d, rel, f, v) < 0) {
            snprintf(errstr, errstr_size, "out of memory dumping %s", key);
            rc = -1;
        }
    }
    freeReplyObject(rep);
    return rc;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The prefix's keys on one master, each dumped. */
static int dump_node(sp_redis *r, int node, const char *prefix, sp_prefix_dump *d,
                     char *errstr, size_t errstr_size)
{
    char cursor[32] = "0", pattern[300];
    snprintf(pattern, sizeof pattern, "%s:*", prefix);
    size_t plen = strlen(prefix) + 1;
    do {
        redisReply *s = sp_redis_node_cmd(r, node, errstr, errstr_size,
                                          "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!s || s->type != REDIS_REPLY_ARRAY || s->elements != 2) {
            if (s)
                snprintf(errstr, errstr_size, "SCAN: %s", s->str ? s->str : "bad reply");
            freeReplyObject(s);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", s->element[0]->str);
        int rc = 0;
        for (size_t i = 0; i < s->element[1]->elements && rc == 0; i++) {
            const char *key = s->element[1]->element[i]->str;
            rc = dump_key(r, d, key, key + plen, errstr, errstr_size);
        }
        freeReplyObject(s);
        if (rc < 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int sp_prefix_dump_read(sp_redis *r, const char *prefix, sp_prefix_dump *d, char *errstr,
                        size_t errstr_size)
{
    if (sp_redis_connect(r, errstr, errstr_size) < 0)
        return -1;
    for (int node = 0; node < sp_redis_nodes(r); node++)
        if (dump_node(r, node, prefix, d, errstr, errstr_size) < 0)
            return -1;
    if (d->n > 1)
        qsort(d->line, d->n, sizeof *d->line, cmp_line);
    return 0;
}

void sp_prefix_dump_free(sp_prefix_dump *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->line[i]);
    free(d->line);
    memset(d, 0, sizeof *d);
}
