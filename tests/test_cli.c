/*
 * test_cli.c - the supportpulse binary as a user runs it: flag errors name the field
 * and exit 2; `gen` writes valid events; `mock-kafka` serves other processes; `run`
 * consumes, and on SIGTERM flushes to Redis, commits and exits 0.
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
    cr_expect_eq(run_cmd(SP_BINARY " run --help", out, sizeof out), 0);
    cr_expect(strstr(out, "--dlq-topic") && strstr(out, "SUPPORTPULSE_"), "%s", out);
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
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        execl(SP_BINARY, SP_BINARY, "run", "--bootstrap", sp_mock_bootstraps(env.mock), "--topic",
              "cli", "--dlq-topic", "cli-dlq", "--redis", env.redis.address, "--max-future-s",
              "0", "--flush-ms", "60000", "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
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
}
