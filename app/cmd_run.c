/*
 * cmd_run.c - `supportpulse run`: configuration from file, environment and flags, then
 * the pipeline until SIGINT/SIGTERM (then flush, commit, exit 0).
 */
#include <stdio.h>

#include "commands.h"
#include "supportpulse/config.h"
#include "supportpulse/log.h"
#include "supportpulse/pipeline.h"

static void stop_pipeline(void *arg) { sp_pipeline_stop(arg); }

int sp_cmd_run(int argc, char **argv, char **envp)
{
    sp_config cfg;
    char err[512];
    if (sp_config_init(&cfg) < 0) {
        fprintf(stderr, "supportpulse run: out of memory\n");
        return 1;
    }
    int rc = sp_config_from_args(&cfg, argc, argv, envp, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "supportpulse run: %s\n", err);
        sp_config_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    sp_pipeline *pl = sp_pipeline_new(&cfg, err, sizeof err);
    if (!pl) {
        fprintf(stderr, "supportpulse run: %s\n", err);
        sp_config_free(&cfg);
        return 1;
    }
    sp_install_signals(stop_pipeline, pl);
    sp_info("consuming %s from %s as group %s; rollups to %s prefix %s", cfg.topic, cfg.bootstrap,
            cfg.group, cfg.redis, cfg.prefix);
    rc = sp_pipeline_run(pl, err, sizeof err);
    if (rc < 0)
        sp_err("%s", err);
    sp_pipeline_destroy(pl);
    sp_config_free(&cfg);
    return rc == -2 ? 2 : rc < 0 ? 1 : 0;
}
