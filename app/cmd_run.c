/*
 * cmd_run.c - `supportpulse run`: configuration from file, environment and flags, then
 * the pipeline until SIGINT/SIGTERM (then flush, commit, exit 0).
 */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "supportpulse/config.h"
#include "supportpulse/log.h"
#include "supportpulse/pipeline.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_conn.h"

static void stop_pipeline(void *arg) { sp_pipeline_stop(arg); }

/* A Redis that refuses the credentials (or wants some) is a setting to fix: -1 with err
 * naming AUTH, so run exits 2 at once. An unreachable Redis is not: the pipeline waits
 * for it (0). */
static int check_redis_auth(const sp_config *cfg, char *err, size_t err_size)
{
    sp_redis *r = sp_redis_new(cfg->redis, (int)cfg->redis_timeout_ms, (int)cfg->redis_timeout_ms);
    char why[512] = "";
    int rc = 0;
    sp_redis_tls_conf tls = sp_config_redis_tls(cfg);
    if (!r || sp_redis_set_auth(r, cfg->redis_user, cfg->redis_password) < 0) {
        rc = 0; /* out of memory: the pipeline's start says so */
    } else if (sp_redis_set_tls(r, &tls, why, sizeof why) < 0) {
        snprintf(err, err_size, "%s", why);
        rc = -1;
    } else if (sp_redis_connect(r, why, sizeof why) < 0 && sp_redis_auth_error(why)) {
        snprintf(err, err_size, "%s (%s)", why,
                 strstr(why, "redis_tls") ? "the TLS settings"
                                          : "redis_user, SUPPORTPULSE_REDIS_PASSWORD or "
                                            "redis_password_file");
        rc = -1;
    }
    sp_redis_destroy(r);
    return rc;
}

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
    if (check_redis_auth(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "supportpulse run: %s\n", err);
        sp_config_free(&cfg);
        return 2;
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
