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
    fprintf(out, "usage: supportpulse dump [--redis ADDR] [--prefix P] [--redis-user U]\n\n"
                 "Prints what two runs over the same stream must hold alike: every rollup\n"
                 "and series index field and the counters and resume points of {p}:meta, as\n"
                 "sorted lines '<key less the prefix> <field> <value>' (updated_at left out).\n"
                 SP_CLI_REDIS_USAGE);
}

int sp_cmd_dump(int argc, char **argv)
{
    sp_cli_redis c;
    sp_cli_redis_defaults(&c);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            dump_usage(stdout);
            return 0;
        } else if (!sp_cli_redis_flag(&c, argc, argv, &i)) {
            fprintf(stderr, "supportpulse dump: unknown option '%s'\n", argv[i]);
            dump_usage(stderr);
            return 2;
        }
    }
    char why[512];
    int status;
    sp_redis *r = sp_cli_redis_open(&c, "dump", 30000, &status);
    if (!r)
        return status;
    sp_prefix_dump d = {0};
    int rc = sp_prefix_dump_read(r, c.prefix, &d, why, sizeof why);
    if (rc < 0)
        fprintf(stderr, "supportpulse dump: %s\n", why);
    for (size_t i = 0; rc == 0 && i < d.n; i++)
        if (puts(d.line[i]) == EOF)
            rc = -1;
    sp_prefix_dump_free(&d);
    sp_redis_destroy(r);
    return rc < 0 ? 1 : 0;
}
