/*
 * cmd_dump.c - `supportpulse dump`: prints a prefix's canonical dump
 * (publishers/prefix_dump.h), one line per field, sorted. Two prefixes fed the same
 * stream print the same lines whatever happened between (scripts/soak.sh diffs them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "supportpulse/prefix_dump.h"
#include "supportpulse/redis_client.h"

static void dump_usage(FILE *out)
{
    fprintf(out, "usage: supportpulse dump [--redis ADDR] [--prefix P]\n\n"
                 "Prints what two runs over the same stream must hold alike: every rollup\n"
                 "and series index field and the counters and resume points of {p}:meta, as\n"
                 "sorted lines '<key less the prefix> <field> <value>' (updated_at left out).\n"
                 "  --redis ADDR   HOST:PORT or unix:/path, any master of a cluster\n"
                 "                 (default $SUPPORTPULSE_REDIS or 127.0.0.1:6379)\n"
                 "  --prefix P     key prefix (default $SUPPORTPULSE_PREFIX or sp)\n");
}

int sp_cmd_dump(int argc, char **argv)
{
    const char *redis = getenv("SUPPORTPULSE_REDIS"), *prefix = getenv("SUPPORTPULSE_PREFIX");
    redis = redis ? redis : "127.0.0.1:6379";
    prefix = prefix ? prefix : "sp";
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            dump_usage(stdout);
            return 0;
        } else if ((v = sp_flag(argc, argv, &i, "--redis"))) {
            redis = v;
        } else if ((v = sp_flag(argc, argv, &i, "--prefix"))) {
            prefix = v;
        } else {
            fprintf(stderr, "supportpulse dump: unknown option '%s'\n", argv[i]);
            dump_usage(stderr);
            return 2;
        }
    }
    char why[512];
    sp_redis *r = sp_redis_new(redis, 5000, 30000);
    sp_prefix_dump d = {0};
    int rc = !r ? -1 : sp_prefix_dump_read(r, prefix, &d, why, sizeof why);
    if (rc < 0)
        fprintf(stderr, "supportpulse dump: %s\n", r ? why : "out of memory");
    for (size_t i = 0; rc == 0 && i < d.n; i++)
        if (puts(d.line[i]) == EOF)
            rc = -1;
    sp_prefix_dump_free(&d);
    sp_redis_destroy(r);
    return rc < 0 ? 1 : 0;
}
