/*
 * test_cli.c - the supportpulse binary as a user runs it: flag errors name the field
 * and exit 2; `gen` writes valid events; `mock-kafka` serves other processes; `run`
 * consumes, and on SIGTERM flushes to Redis, commits, prints its summary line and
 * exits 0.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "supportpulse/event.h"
#include "supportpulse/prefix_dump.h"

#ifndef SP_BINARY
#error "SP_BINARY must name the supportpulse binary"
#endif

/* Runs a shell command, returns its exit status and the first bytes of its output. */
static int run_cmd(const char *cmd, char *out, size_t size)
{
    FILE *f = popen(cmd, "r");
    cr_assert(f, "popen %s", cmd);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    char rest[512]; /* drain what does not fit, so the command is not cut off by SIGPIPE */
    while (fread(rest, 1, sizeof rest, f) > 0)
        ;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(cli, bad_flags_name_the_field_and_exit_2)
{
    char out[8192];
    cr_expect_eq(run_cmd(SP_BINARY " run --bootstrap x --lateness-s=-5 2>&1", out, sizeof out), 2);
    cr_expect(strstr(out, "lateness_s") && strstr(out, "0..86400"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " run 2>&1", out, sizeof out), 2);
    cr_expect(strstr(out, "bootstrap"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " gen --malformed 2 2>&1", out, sizeof out), 2);
    cr_expect(strstr(out, "--malformed"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " frobnicate 2>&1", out, sizeof out), 2);
    /* librdkafka properties are checked before anything starts */
    cr_expect_eq(run_cmd(SP_BINARY " run --bootstrap x -X bogus=1 2>&1", out, sizeof out), 2);
    cr_expect(strstr(out, "kafka property bogus"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " run --bootstrap x -X session.timeout.ms=abc 2>&1", out,
                         sizeof out), 2);
    cr_expect(strstr(out, "session.timeout.ms"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " run --bootstrap x -X bogus 2>&1", out, sizeof out), 2);
    cr_expect_eq(run_cmd(SP_BINARY " run --bootstrap x --time-zone Asia/Shangai 2>&1", out,
                         sizeof out), 2, "a misspelt zone");
    cr_expect(strstr(out, "time_zone") && strstr(out, "Asia/Shangai"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " run --bootstrap x --max-wait-by-queue security=5 2>&1", out,
                         sizeof out), 2);
    cr_expect(strstr(out, "max_wait_by_queue"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " run --help", out, sizeof out), 0);
    cr_expect(strstr(out, "--dlq-topic") && strstr(out, "SUPPORTPULSE_"), "%s", out);
    cr_expect(strstr(out, "--time-zone") && strstr(out, "--max-wait-s"), "%s", out);
}

Test(cli, gen_writes_events_the_decoder_accepts)
{
    FILE *f = popen(SP_BINARY " gen --count 500 --seed 9", "r");
    cr_assert(f);
    char line[2048];
    int n = 0, ok = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        sp_event ev;
        sp_reject_reason r;
        char err[256];
        ok += sp_event_decode(line, len, &ev, &r, err, sizeof err) == 0;
        n++;
    }
    cr_expect_eq(pclose(f), 0);
    cr_expect_eq(n, 500);
    cr_expect_eq(ok, 500, "without --malformed every generated event is valid");
}

static sp_env env;
static void teardown(void) { sp_env_stop(&env); }

Test(cli, mock_kafka_serves_other_processes, .timeout = 60)
{
    FILE *f = popen("exec " SP_BINARY " mock-kafka --partitions 2 --topics t1", "r");
    cr_assert(f);
    char bootstrap[256] = "";
    cr_assert(fgets(bootstrap, sizeof bootstrap, f), "no bootstrap line");
    bootstrap[strcspn(bootstrap, "\n")] = '\0';
    cr_expect(strchr(bootstrap, ':') != NULL, "first line is HOST:PORT: %s", bootstrap);
    char cmd[512], out[1024];
    snprintf(cmd, sizeof cmd, SP_BINARY " gen --count 200 --bootstrap %s --topic t1 2>&1", bootstrap);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "200 messages delivered"), "%s", out);
    cr_expect_eq(system("pkill -TERM -f '[s]upportpulse mock-kafka --partitions 2 --topics t1'"), 0);
    cr_expect_eq(pclose(f), 0, "mock-kafka exits 0 on SIGTERM");
}

Test(cli, run_flushes_and_exits_0_on_sigterm, .fini = teardown, .timeout = 120)
{
    sp_env_start(&env, "cli", 2);
    char cmd[1024], out[1024];
    snprintf(cmd, sizeof cmd, SP_BINARY " gen --count 3000 --seed 5 --bootstrap %s --topic cli 2>&1",
             sp_mock_bootstraps(env.mock));
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    char logpath[] = "/tmp/sp-cli-log-XXXXXX";
    int logfd = mkstemp(logpath);
    cr_assert(logfd >= 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(logfd, 2);
        execl(SP_BINARY, SP_BINARY, "run", "--bootstrap", sp_mock_bootstraps(env.mock), "--topic",
              "cli", "--dlq-topic", "cli-dlq", "--redis", env.redis.address, "--max-future-s",
              "0", "--flush-ms", "60000", "--log-level", "info", (char *)NULL);
        _exit(127);
    }
    close(logfd);
    /* flush_ms is a minute: only the shutdown flush can put the events in Redis */
    for (int i = 0; i < 300; i++) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        if (i == 100)
            break;
    }
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), 0, "nothing flushed yet");
    kill(pid, SIGTERM);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
    cr_expect_eq(sp_hget_ll(&env, "sp:meta", "consumed", 0), 3000,
                 "SIGTERM flushed every consumed event");
    /* the summary line after the last flush: what was consumed, and that the one
     * writer's rollups were written, none found changed by another writer */
    FILE *log = fopen(logpath, "r");
    cr_assert(log);
    char line[1024], last[1024] = "";
    while (fgets(line, sizeof line, log))
        if (strstr(line, "consumed="))
            snprintf(last, sizeof last, "%s", line);
    fclose(log);
    unlink(logpath);
    unsigned long long written = 0, conflicts = 1;
    const char *c = strstr(last, "rollups_written="), *m = strstr(last, "rollup_conflicts=");
    cr_assert(strstr(last, "consumed=3000 ") && c && m, "summary line: %s", last);
    sscanf(c, "rollups_written=%llu", &written);
    sscanf(m, "rollup_conflicts=%llu", &conflicts);
    cr_expect_gt(written, 0, "%s", last);
    cr_expect_eq(conflicts, 0, "%s", last);

    /* `supportpulse dump` prints the canonical dump the tests compare prefixes with */
    char dumpfile[] = "/tmp/sp-cli-dump-XXXXXX";
    int dfd = mkstemp(dumpfile);
    cr_assert(dfd >= 0);
    close(dfd);
    snprintf(cmd, sizeof cmd, SP_BINARY " dump --redis %s --prefix sp > %s", env.redis.address,
             dumpfile);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    sp_prefix_dump d = {0};
    char err[256];
    cr_assert_eq(sp_prefix_dump_read(env.r, "sp", &d, err, sizeof err), 0, "%s", err);
    FILE *df = fopen(dumpfile, "r");
    cr_assert(df);
    size_t n = 0, rollup_lines = 0;
    static char dl[4096];
    while (fgets(dl, sizeof dl, df)) {
        dl[strcspn(dl, "\n")] = '\0';
        cr_assert_lt(n, d.n, "dump printed more lines than there are");
        cr_assert_str_eq(dl, d.line[n], "line %zu", n + 1);
        rollup_lines += strncmp(dl, "r:", 2) == 0;
        n++;
    }
    fclose(df);
    unlink(dumpfile);
    cr_expect_eq(n, d.n, "dump printed %zu of %zu lines", n, d.n);
    cr_expect_gt(rollup_lines, 100, "rollups are in the dump");
    sp_prefix_dump_free(&d);
}

Test(cli, staffing_what_if)
{
    char out[8192];
    cr_expect_eq(run_cmd(SP_BINARY " staffing --calls-per-interval 100 --aht 180 --interval 1800",
                         out, sizeof out), 0);
    cr_expect(strstr(out, "14 agents required") && strstr(out, "88.8%"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " staffing --calls-per-interval 100 --aht 180 --interval 1800 "
                         "--target 80 --format csv", out, sizeof out), 0);
    cr_expect(strstr(out, "agents,service_level,asa_s,p_wait,occupancy,note\n") &&
              strstr(out, "14,0.8884,7.8,0.1741,0.7143,required"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " staffing --calls-per-interval 0 --aht 300 --format json",
                         out, sizeof out), 0);
    cr_expect(strstr(out, "\"agents_required\": 0"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " staffing --aht 300 2>&1", out, sizeof out), 2);
    cr_expect(strstr(out, "--calls-per-interval"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " staffing --calls-per-interval 10 --aht -1 2>&1", out,
                         sizeof out), 2);
    cr_expect(strstr(out, "--aht"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " staffing --calls-per-interval 1e6 --aht 300 --max-agents 50 2>&1",
                         out, sizeof out), 1);
    cr_expect(strstr(out, "more than 50 agents"), "%s", out);
}

Test(cli, forecast_prints_what_the_pipeline_wrote, .timeout = 60)
{
    sp_env e;
    sp_env_start(&e, "fc-cli", 1);
    /* a stored forecast as the forecaster writes it (its shape is tested in
     * test_forecaster): two intervals, one in a declared event */
    const char *fc = "{\"dims\":\"queue=payments|channel=phone\",\"queue\":\"payments\","
                     "\"channel\":\"phone\",\"generated_at\":1795392000000,\"interval_s\":900,"
                     "\"model\":\"double_seasonal\",\"staffing\":\"erlang_c\",\"handle_s\":240,"
                     "\"sl_target\":0.8,\"sl_within_s\":20,\"intervals\":["
                     "{\"start\":1795392000,\"volume\":40.5,\"lo80\":32,\"hi80\":49,\"lo95\":28,"
                     "\"hi95\":54,\"handle_s\":240,\"agents_required\":15,\"occupancy\":0.72,"
                     "\"service_level\":0.83,\"asa_s\":9.1},"
                     "{\"start\":1795392900,\"volume\":121.5,\"lo80\":100,\"hi80\":140,\"lo95\":90,"
                     "\"hi95\":150,\"handle_s\":240,\"agents_required\":38,\"occupancy\":0.85,"
                     "\"service_level\":0.81,\"asa_s\":12.0,\"event\":\"11.11, day 2\",\"multiplier\":3}],"
                     "\"peak\":{\"start\":1795392900,\"volume\":121.5,\"agents_required\":38}}";
    redisReply *r = redisCommand(e.rc, "SET %s %s", "sp:fc:queue=payments|channel=phone", fc);
    freeReplyObject(r);
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, SP_BINARY " forecast --redis unix:%s --queue payments --channel phone",
             e.redis.socket);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "2026-11-23 00:15") && strstr(out, "<- peak") &&
              strstr(out, "peak: 2026-11-23 00:15 UTC, 121.5 contacts, 38 agents") &&
              strstr(out, "(event: 11.11, day 2)"), "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " forecast --redis unix:%s --queue payments --channel phone "
             "--format csv", e.redis.socket);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 0);
    cr_expect(strstr(out, "interval_start_utc,start_epoch_s,volume,lo80,hi80,lo95,hi95,handle_s,"
                          "agents_required,occupancy,service_level,asa_s,workload_h,event\n"
                          "2026-11-23 00:00:00,1795392000,40.5,32,49,28,54,240,15,0.72,0.83,9.1,,\n"
                          "2026-11-23 00:15:00,1795392900,121.5,100,140,90,150,240,38,0.85,0.81,12,,"
                          "\"11.11, day 2\"\n"), "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " forecast --redis unix:%s --queue payments --channel phone "
             "--format json", e.redis.socket);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 0);
    cr_expect(strncmp(out, fc, strlen(fc)) == 0, "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " forecast --redis unix:%s --queue refunds --channel phone 2>&1",
             e.redis.socket);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 1);
    cr_expect(strstr(out, "no forecast at sp:fc:queue=refunds|channel=phone"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " forecast --queue q 2>&1", out, sizeof out), 2);
    cr_expect(strstr(out, "--channel"), "%s", out);
    cr_expect_eq(run_cmd(SP_BINARY " forecast --queue q --channel phone --format xml 2>&1", out,
                         sizeof out), 2);
    cr_expect(strstr(out, "table|csv|json"), "%s", out);
    sp_env_stop(&e);
}

Test(cli, rules_check_names_rule_and_field)
{
    char out[8192], path[256], cmd[512];
    snprintf(cmd, sizeof cmd, SP_BINARY " rules check %s/deploy/alert-rules.json", SP_SOURCE_DIR);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "7 rule(s), no problems"), "%s", out);
    cr_assert_not_null(strstr(out, "demand_above_staffed"), "%s", out);
    snprintf(path, sizeof path, "/tmp/sp-rules-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("{\"rules\":[{\"name\":\"sl\",\"metric\":\"service_level_15m\",\"op\":\"<\","
          "\"threshold\":0.8,\"resolve\":0.7,\"for\":\"5 min\"}]}", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, SP_BINARY " rules check %s 2>&1", path);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 1, "%s", out);
    cr_assert_not_null(strstr(out, "sl: resolve: 0.7 is on the firing side"), "%s", out);
    cr_assert_not_null(strstr(out, "sl: for: must be seconds"), "%s", out);
    /* run refuses to start on it, naming the option */
    snprintf(cmd, sizeof cmd, SP_BINARY " run --bootstrap 127.0.0.1:1 --alert-rules %s 2>&1", path);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 2, "%s", out);
    cr_assert_not_null(strstr(out, "alert_rules: "), "%s", out);
    cr_assert_not_null(strstr(out, "sl: resolve"), "%s", out);
    unlink(path);
}

Test(cli, alerts_lists_what_is_firing, .timeout = 60)
{
    sp_env e;
    sp_env_start(&e, "cli-alerts", 1);
    redisReply *r = redisCommand(e.rc, "HSET t:alerts:active %s %s", "sl:queue=payments",
        "{\"rule\":\"sl\",\"dims\":\"queue=payments\",\"state\":\"firing\",\"severity\":\"critical\","
        "\"op\":\"<\",\"threshold\":0.8,\"value\":0.41,\"fired_at\":1763962500000,"
        "\"message\":\"payments: SL 41.0%\"}");
    freeReplyObject(r);
    r = redisCommand(e.rc, "XADD t:alerts * rule sl dims queue=payments state firing value 0.41 "
                           "threshold 0.8 at 1763962500000");
    freeReplyObject(r);
    r = redisCommand(e.rc, "HSET t:alerts:hooks webhook_sent 1 command_ok 1");
    freeReplyObject(r);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, SP_BINARY " alerts --redis %s --prefix t --history 5",
             e.redis.address);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_not_null(strstr(out, "1 alert(s) firing"), "%s", out);
    cr_assert_not_null(strstr(out, "critical"), "%s", out);
    cr_assert_not_null(strstr(out, "payments: SL 41.0%"), "%s", out);
    cr_assert_not_null(strstr(out, "2025-11-24T05:35:00.000Z"), "%s", out);
    cr_assert_not_null(strstr(out, "last 1 transition(s)"), "%s", out);
    cr_assert_not_null(strstr(out, "webhook_sent=1"), "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " alerts --redis %s --prefix t --json", e.redis.address);
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 0, "%s", out);
    cr_assert_eq(out[0], '{', "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " alerts --redis unix:/nonexistent 2>&1");
    cr_assert_eq(run_cmd(cmd, out, sizeof out), 1, "%s", out);
    sp_env_stop(&e);
}

/* Every line on stderr is in the project's log format, librdkafka's own included (the
 * dead-letter producer's "brokers are down" against a closed port, say): none in
 * librdkafka's "%3|<time>|FAC|..." form. */
Test(cli, kafka_log_lines_use_the_project_format, .timeout = 60)
{
    char out[16384];
    run_cmd("timeout -s TERM 3 " SP_BINARY " run --bootstrap 127.0.0.1:1 --redis "
            "unix:/nonexistent/sock --log-level debug 2>&1",
            out, sizeof out);
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        cr_expect(!(line[0] == '%' && line[1] >= '0' && line[1] <= '7' && line[2] == '|'),
                  "a line in librdkafka's own format: %s", line);
}

/* Against a Redis with a password, run exits 2 at start naming AUTH when the password is
 * wrong or missing, and never prints the password. */
Test(cli, refused_redis_credentials_exit_2, .fini = teardown, .timeout = 60)
{
    sp_env_start(&env, "cliauth", 1);
    redisReply *r = redisCommand(env.rc, "CONFIG SET requirepass right-pass");
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd,
             "SUPPORTPULSE_REDIS_PASSWORD=wrong-pass " SP_BINARY " run --bootstrap %s --topic cliauth "
             "--redis %s 2>&1", sp_mock_bootstraps(env.mock), env.redis.address);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 2, "%s", out);
    cr_expect(strstr(out, "AUTH"), "%s", out);
    cr_expect_null(strstr(out, "wrong-pass"), "the password was printed: %s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " run --bootstrap %s --topic cliauth --redis %s 2>&1",
             sp_mock_bootstraps(env.mock), env.redis.address);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 2, "no password: %s", out);
    cr_expect(strstr(out, "AUTH"), "%s", out);
    snprintf(cmd, sizeof cmd,
             "SUPPORTPULSE_REDIS_PASSWORD=right-pass " SP_BINARY " dump --redis %s 2>&1",
             env.redis.address);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 0, "dump with the password: %s", out);
    r = redisCommand(env.rc, "CONFIG SET requirepass %s", "");
    freeReplyObject(r);
}

/* TLS settings that cannot work are a setting to fix: run exits 2 naming the option, for
 * a file it cannot read and for a server certificate that does not verify; dump reads a
 * TLS Redis with the same settings as flags. */
Test(cli, tls_settings_that_cannot_work_exit_2, .fini = teardown, .timeout = 60)
{
    sp_env_start(&env, "clitls", 1);
    sp_tls_certs(env.tmpdir);
    int port = sp_redis_enable_tls(env.rc, env.tmpdir, 0);
    const char *d = env.tmpdir, *boot = sp_mock_bootstraps(env.mock);
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, SP_BINARY " run --bootstrap %s --topic clitls --redis "
             "rediss://127.0.0.1:%d --redis-tls-ca-file %s/missing.crt 2>&1", boot, port, d);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 2, "%s", out);
    cr_expect(strstr(out, "redis_tls_ca_file") && strstr(out, "missing.crt"), "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " run --bootstrap %s --topic clitls --redis "
             "rediss://127.0.0.1:%d --redis-tls-ca-file %s/other-ca.crt 2>&1", boot, port, d);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 2, "%s", out);
    cr_expect(strstr(out, "certificate verify failed"), "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " run --bootstrap %s --topic clitls --redis-tls-ca-file "
             "%s/ca.crt 2>&1", boot, d);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 2, "TLS files with TLS off: %s", out);
    cr_expect(strstr(out, "redis_tls"), "%s", out);
    snprintf(cmd, sizeof cmd, SP_BINARY " dump --redis rediss://localhost:%d "
             "--redis-tls-ca-file %s/ca.crt 2>&1", port, d);
    cr_expect_eq(run_cmd(cmd, out, sizeof out), 0, "dump over TLS: %s", out);
}
