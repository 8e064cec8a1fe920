/*
 * main.c - the supportpulse binary: dispatches to a subcommand (app/cmd_*.c) and holds
 * the small helpers they share (flag parsing, signal handling).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: supportpulse <command> [options]\n\n"
            "commands:\n"
            "  run         consume support events from Kafka, publish rollups to Redis\n"
            "  gen         generate help-desk traffic to Kafka or stdout (JSON lines)\n"
            "  mock-kafka  run an embedded Kafka cluster for other processes\n"
            "  demo        mock Kafka + local redis-server + generated traffic + run\n"
            "  forecast    print the latest arrivals forecast and staffing of a queue/channel\n"
            "  staffing    Erlang C what-if: agents for a service-level target\n"
            "  rules       'rules check FILE': validate an alert rules file\n"
            "  alerts      list the alerts firing now (and recent transitions)\n"
            "  dump        print a prefix's rollups and progress as sorted lines (to compare)\n\n"
            "'supportpulse <command> --help' describes each command's options.\n");
}

const char *sp_flag(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "supportpulse: %s needs a value\n", name);
        return NULL;
    }
    return argv[++*i];
}

int sp_flag_int(const char *name, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "supportpulse: %s: '%s' must be an integer in %lld..%lld\n", name, v, lo,
                hi);
        return -1;
    }
    *out = x;
    return 0;
}

int sp_flag_double(const char *name, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "supportpulse: %s: '%s' must be a number in %g..%g\n", name, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static void (*stop_fn)(void *);
static void *stop_arg;
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    if (signals_seen++) {
        static const char msg[] = "supportpulse: second signal, exiting now\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(130);
    }
    if (stop_fn)
        stop_fn(stop_arg); /* an atomic store: async-signal-safe */
}

void sp_install_signals(void (*on_stop)(void *), void *arg)
{
    stop_fn = on_stop;
    stop_arg = arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv, char **envp)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("supportpulse 0.1.0 (schema v1)\n");
        return 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "run") == 0)
        return sp_cmd_run(argc - 2, argv + 2, envp);
    if (strcmp(cmd, "gen") == 0)
        return sp_cmd_gen(argc - 2, argv + 2);
    if (strcmp(cmd, "mock-kafka") == 0)
        return sp_cmd_mock_kafka(argc - 2, argv + 2);
    if (strcmp(cmd, "demo") == 0)
        return sp_cmd_demo(argc - 2, argv + 2, envp);
    if (strcmp(cmd, "forecast") == 0)
        return sp_cmd_forecast(argc - 2, argv + 2);
    if (strcmp(cmd, "staffing") == 0)
        return sp_cmd_staffing(argc - 2, argv + 2);
    if (strcmp(cmd, "rules") == 0)
        return sp_cmd_rules(argc - 2, argv + 2);
    if (strcmp(cmd, "alerts") == 0)
        return sp_cmd_alerts(argc - 2, argv + 2);
    if (strcmp(cmd, "dump") == 0)
        return sp_cmd_dump(argc - 2, argv + 2);
    fprintf(stderr, "supportpulse: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
