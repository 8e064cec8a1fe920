/*
 * test_config.c - configuration: defaults < file < environment < flags, and every bad
 * value rejected with a message that names the field and the accepted range.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "supportpulse/config.h"
#include "supportpulse/redis_server.h"

static char *write_tmp(const char *text)
{
    static char dir[256], path[300];
    cr_assert(sp_tmpdir(dir, sizeof dir, "spconf") == 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, precedence_file_env_flags)
{
    sp_config c;
    char err[512];
    cr_assert_eq(sp_config_init(&c), 0);
    char *path = write_tmp("{\"bootstrap\":\"file:9092\",\"topic\":\"from-file\",\"lateness_s\":30,"
                           "\"group\":\"g-file\",\"kafka\":{\"client.id\":\"sp1\"}}");
    char conf_arg[96];
    snprintf(conf_arg, sizeof conf_arg, "--config=%s", path);
    char *argv[] = {conf_arg, "--group", "g-flag", "--dlq-topic=dead", "-X", "socket.timeout.ms=5000"};
    char *envp[] = {"SUPPORTPULSE_TOPIC=from-env", "SUPPORTPULSE_GROUP=g-env", "PATH=/bin", NULL};
    cr_assert_eq(sp_config_from_args(&c, 6, argv, envp, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(c.bootstrap, "file:9092");
    cr_expect_str_eq(c.topic, "from-env", "environment beats the file");
    cr_expect_str_eq(c.group, "g-flag", "flags beat the environment");
    cr_expect_str_eq(c.dlq_topic, "dead");
    cr_expect_eq(c.lateness_s, 30);
    cr_expect_eq(c.retention_s, 3600, "untouched values keep their defaults");
    cr_expect_str_eq(c.offset_reset, "earliest", "a new group starts at the earliest offset");
    cr_expect_eq(c.nkafka, 2);
    cr_expect_str_eq(c.kafka_key[0], "client.id");
    cr_expect_str_eq(c.kafka_val[1], "5000");
    sp_config_free(&c);
    unlink(path);
}

static void expect_error(int argc, char **argv, char **envp, const char *needle)
{
    sp_config c;
    char err[512] = "";
    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_eq(sp_config_from_args(&c, argc, argv, envp, err, sizeof err), -1, "accepted: %s",
                 argv[0]);
    cr_expect(strstr(err, needle) != NULL, "error '%s' should mention '%s'", err, needle);
    sp_config_free(&c);
}

Test(config, errors_name_the_field_and_range)
{
    char *envp[] = {NULL};
    expect_error(2, (char *[]){"--bootstrap=x", "--lateness-s=-1"}, envp, "lateness_s");
    expect_error(2, (char *[]){"--bootstrap=x", "--lateness-s=-1"}, envp, "0..86400");
    expect_error(2, (char *[]){"--bootstrap=x", "--flush-ms=ten"}, envp, "flush_ms");
    expect_error(2, (char *[]){"--bootstrap=x", "--offset-reset=middle"}, envp, "earliest|latest");
    expect_error(2, (char *[]){"--bootstrap=x", "--colour=blue"}, envp, "colour");
    expect_error(1, (char *[]){"--topic=t"}, envp, "bootstrap");
    expect_error(2, (char *[]){"--bootstrap=x", "-X"}, envp, "key=value");
    expect_error(2, (char *[]){"--bootstrap=x", "--group"}, envp, "needs a value");
    /* a rollup must outlive the late events of its window: 60 + 120 + 3600 for 1m */
    expect_error(2, (char *[]){"--bootstrap=x", "--ttl-1m-s=3779"}, envp, "ttl_1m_s");
    expect_error(2, (char *[]){"--bootstrap=x", "--ttl-1m-s=3779"}, envp, "(3780)");
    expect_error(3, (char *[]){"--bootstrap=x", "--ttl-1h-s=7200", "--retention-s=7200"},
                 envp, "ttl_1h_s");
    char *bad_env[] = {"SUPPORTPULSE_RETENTION_S=5", NULL};
    expect_error(1, (char *[]){"--bootstrap=x"}, bad_env, "SUPPORTPULSE_RETENTION_S");
    char *path = write_tmp("{\"bootstrap\":\"b\",\"max_queues\":\"many\"}");
    char arg[96];
    snprintf(arg, sizeof arg, "--config=%s", path);
    expect_error(1, (char *[]){arg}, envp, "max_queues");
    unlink(path);
    path = write_tmp("{\"bootstrap\":\"b\",\"typo_field\":1}");
    snprintf(arg, sizeof arg, "--config=%s", path);
    expect_error(1, (char *[]){arg}, envp, "typo_field");
    unlink(path);
    path = write_tmp("{\"bootstrap\": ");
    snprintf(arg, sizeof arg, "--config=%s", path);
    expect_error(1, (char *[]){arg}, envp, path);
    unlink(path);
}

/* The shortest rollup TTLs that still outlive their windows' late events are taken, as
 * is 0 (keep), and a shorter retention lets a short TTL through. */
Test(config, rollup_ttls_outlive_late_events)
{
    char *envp[] = {NULL};
    const char *ok[][4] = {
        {"--bootstrap=x", "--ttl-1m-s=3780", "--ttl-5m-s=4020", "--ttl-1d-s=0"},
        {"--bootstrap=x", "--ttl-1m-s=600", "--retention-s=420", "--lateness-s=120"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        sp_config c;
        char err[512] = "";
        cr_assert_eq(sp_config_init(&c), 0);
        cr_expect_eq(sp_config_from_args(&c, 4, (char **)ok[i], envp, err, sizeof err), 0,
                     "%s", err);
        sp_config_free(&c);
    }
}

Test(config, per_queue_thresholds_are_checked)
{
    sp_config c;
    char err[512];
    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_eq(c.sl_threshold_s, 20, "the contact-center default: 80/20");
    cr_expect_eq(c.short_abandon_s, 5);
    cr_assert_eq(sp_config_set(&c, "sl-by-queue", "security=10,payments=30", err, sizeof err), 0,
                 "%s", err);
    cr_expect_str_eq(c.sl_by_queue, "security=10,payments=30");
    cr_expect_eq(sp_config_set(&c, "sl_by_queue", "security=ten", err, sizeof err), -1);
    cr_expect(strstr(err, "sl_by_queue") && strstr(err, "queue=seconds"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "short_abandon_by_queue", "=3", err, sizeof err), -1);
    cr_expect(strstr(err, "short_abandon_by_queue"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "sl_threshold_s", "-1", err, sizeof err), -1);
    cr_expect(strstr(err, "sl_threshold_s") && strstr(err, "0..86400"), "%s", err);
    sp_config_free(&c);
}

Test(config, time_zones_are_checked)
{
    sp_config c;
    char err[512];
    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_str_eq(c.time_zone, "UTC");
    cr_assert_eq(sp_config_set(&c, "time-zone", "Asia/Shanghai", err, sizeof err), 0, "%s", err);
    cr_assert_eq(sp_config_set(&c, "tenant_time_zones", "t1=Europe/Berlin,t2=Asia/Kolkata", err,
                               sizeof err), 0, "%s", err);
    cr_expect_eq(sp_config_set(&c, "time_zone", "Mars/Olympus_Mons", err, sizeof err), -1);
    cr_expect(strstr(err, "time_zone: unknown time zone 'Mars/Olympus_Mons'"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "time_zone", "+08:00", err, sizeof err), -1);
    cr_expect(strstr(err, "time_zone") && strstr(err, "IANA"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "tenant_time_zones", "t1:Europe/Berlin", err, sizeof err), -1);
    cr_expect(strstr(err, "tenant_time_zones") && strstr(err, "tenant=Zone"), "%s", err);
    sp_config_free(&c);
    /* an agent class kept in hours cannot make days that start at 18:30 UTC */
    cr_assert_eq(sp_config_init(&c), 0);
    char *argv[] = {"--bootstrap", "x:9092", "--tenant-time-zones", "t2=Asia/Kolkata",
                    "--resolutions-by-dims", "agent=1h,1d", NULL};
    char *envp[] = {NULL};
    cr_expect_eq(sp_config_from_args(&c, 6, argv, envp, err, sizeof err), -1);
    cr_expect(strstr(err, "resolutions_by_dims") && strstr(err, "Asia/Kolkata"), "%s", err);
    sp_config_free(&c);
}

Test(config, orphan_limits_are_checked)
{
    sp_config c;
    char err[512];
    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_eq(c.max_wait_s, 4 * 3600, "a call waits at most 4 hours before it is orphaned");
    cr_expect_eq(c.max_handle_s, 4 * 3600);
    cr_assert_eq(sp_config_set(&c, "max_wait_by_queue", "security=600,chat=7200", err, sizeof err),
                 0, "%s", err);
    cr_expect_eq(sp_config_set(&c, "max_wait_by_queue", "security=10", err, sizeof err), -1,
                 "less than a minute");
    cr_expect(strstr(err, "max_wait_by_queue") && strstr(err, "60..604800"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "max_handle_by_queue", "chat", err, sizeof err), -1);
    cr_expect(strstr(err, "max_handle_by_queue") && strstr(err, "queue=seconds"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "max_wait_s", "30", err, sizeof err), -1);
    cr_expect(strstr(err, "max_wait_s"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "max_handle_s", "700000", err, sizeof err), -1);
    cr_expect(strstr(err, "max_handle_s"), "%s", err);
    sp_config_free(&c);
}

Test(config, forecast_options_are_checked)
{
    sp_config c;
    char err[512];
    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_eq(c.forecast, 1);
    cr_expect_eq(c.sl_target_pct, 80);
    cr_expect_eq(c.forecast_history_days, 28);
    cr_assert_eq(sp_config_set(&c, "forecast-events",
                               "11.11,2026-11-11,2026-11-12,3;payday,2026-11-25T08:00:00+08:00,"
                               "2026-11-25T20:00:00+08:00,1.6,payments,phone", err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(sp_config_set(&c, "forecast_events", "sale,2026-11-11,2026-11-10,3", err,
                               sizeof err), -1);
    cr_expect(strstr(err, "forecast_events") && strstr(err, "END must be after START"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "sl_target_by_queue", "security=100", err, sizeof err), -1);
    cr_expect(strstr(err, "sl_target_by_queue") && strstr(err, "1..99"), "%s", err);
    cr_assert_eq(sp_config_set(&c, "sl_target_by_queue", "security=90", err, sizeof err), 0);
    cr_expect_eq(sp_config_set(&c, "handle_s_by_channel", "email", err, sizeof err), -1);
    cr_expect(strstr(err, "handle_s_by_channel"), "%s", err);
    cr_expect_eq(sp_config_set(&c, "forecast_history_days", "60", err, sizeof err), -1);
    cr_expect(strstr(err, "forecast_history_days") && strstr(err, "2..35"), "%s", err);
    sp_config_free(&c);

    /* the config file may list events as objects */
    char *envp[] = {NULL};
    char *path = write_tmp("{\"bootstrap\":\"b\",\"forecast_events\":[{\"name\":\"11.11\","
                           "\"start\":\"2026-11-11\",\"end\":\"2026-11-12\",\"multiplier\":3},"
                           "{\"name\":\"payday\",\"start\":\"2026-11-25T00:00:00Z\",\"end\":"
                           "\"2026-11-26T00:00:00Z\",\"multiplier\":1.5,\"queue\":\"payments\"}]}");
    char arg[96];
    snprintf(arg, sizeof arg, "--config=%s", path);
    cr_assert_eq(sp_config_init(&c), 0);
    cr_assert_eq(sp_config_from_args(&c, 1, (char *[]){arg}, envp, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(c.forecast_events, "11.11,2026-11-11,2026-11-12,3,*,*;"
                                        "payday,2026-11-25T00:00:00Z,2026-11-26T00:00:00Z,1.5,payments,*");
    sp_config_free(&c);
    unlink(path);
    path = write_tmp("{\"bootstrap\":\"b\",\"forecast_events\":[{\"name\":\"x\",\"start\":\"2026-11-11\"}]}");
    snprintf(arg, sizeof arg, "--config=%s", path);
    expect_error(1, (char *[]){arg}, envp, "forecast_events[0]");
    unlink(path);
}

Test(config, shipped_example_loads)
{
    sp_config c;
    char err[512];
    cr_assert_eq(sp_config_init(&c), 0);
    cr_assert_eq(sp_config_load_file(&c, SP_SOURCE_DIR "/deploy/supportpulse.json", err, sizeof err),
                 0, "%s", err);
    cr_expect(strstr(c.forecast_events, "11.11 sale,") != NULL, "%s", c.forecast_events);
    cr_expect_str_eq(c.sl_target_by_queue, "security=90");
    sp_config_free(&c);
}

/* The Redis password: from SUPPORTPULSE_REDIS_PASSWORD, or the first line of
 * redis_password_file (its line end cut), not both; never an option. */
Test(config, redis_password_from_the_environment_or_a_file)
{
    char path[] = "/tmp/sp-pass-XXXXXX", err[512];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "s3cret\r\nsecond line\n", 20), 20);
    close(fd);
    char flag[600];
    snprintf(flag, sizeof flag, "--redis-password-file=%s", path);
    char *argv[] = {"--bootstrap", "b:9092", flag, "--redis-user", "spw", NULL};
    char *env_none[] = {NULL}, *env_pass[] = {"SUPPORTPULSE_REDIS_PASSWORD=from-env", NULL};
    sp_config c;
    cr_assert_eq(sp_config_init(&c), 0);
    cr_assert_eq(sp_config_from_args(&c, 5, argv, env_none, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(c.redis_password, "s3cret");
    cr_expect_str_eq(c.redis_user, "spw");
    sp_config_free(&c);

    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_eq(sp_config_from_args(&c, 5, argv, env_pass, err, sizeof err), -1);
    cr_expect(strstr(err, "redis_password_file") && strstr(err, "one of"), "%s", err);
    sp_config_free(&c);

    cr_assert_eq(sp_config_init(&c), 0);
    cr_assert_eq(sp_config_from_args(&c, 2, argv, env_pass, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(c.redis_password, "from-env");
    sp_config_free(&c);

    unlink(path);
    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_eq(sp_config_from_args(&c, 3, argv, env_none, err, sizeof err), -1);
    cr_expect(strstr(err, "redis_password_file") && strstr(err, path), "%s", err);
    sp_config_free(&c);

    char *as_flag[] = {"--bootstrap", "b:9092", "--redis-password", "x", NULL};
    cr_assert_eq(sp_config_init(&c), 0);
    cr_expect_eq(sp_config_from_args(&c, 4, as_flag, env_none, err, sizeof err), -1,
                 "a password flag would show in ps");
    sp_config_free(&c);
}
