/*
 * cmd_mock.c - `supportpulse mock-kafka`: an embedded Kafka cluster for other processes.
 * Prints the bootstrap address as the first line of stdout, then serves until stopped.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "supportpulse/mock_cluster.h"

static atomic_int mock_stop;
static void stop_mock(void *arg) { (void)arg; atomic_store(&mock_stop, 1); }

static int create_topics(sp_mock *m, const char *list, int partitions)
{
    char buf[1024], err[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (*t && sp_mock_create_topic(m, t, partitions, err, sizeof err) < 0) {
            fprintf(stderr, "supportpulse mock-kafka: %s\n", err);
            return -1;
        }
    return 0;
}

int sp_cmd_mock_kafka(int argc, char **argv)
{
    long long brokers = 1, partitions = 4;
    const char *topics = "support-events,support-events-dlq", *v;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: supportpulse mock-kafka [--brokers N] [--partitions N] [--topics a,b]\n\n"
                   "Runs librdkafka's mock Kafka cluster on loopback until SIGINT/SIGTERM.\n"
                   "The first line on stdout is the bootstrap address. Topics in --topics\n"
                   "(default support-events,support-events-dlq) are created with --partitions\n"
                   "partitions (default 4); other topics are created on first use.\n"
                   "A mock partition keeps about 5 MB of log: use more partitions for long runs.\n");
            return 0;
        }
        if ((v = sp_flag(argc, argv, &i, "--brokers"))) {
            if (sp_flag_int("--brokers", v, 1, 16, &brokers) < 0)
                return 2;
        } else if ((v = sp_flag(argc, argv, &i, "--partitions"))) {
            if (sp_flag_int("--partitions", v, 1, 1000, &partitions) < 0)
                return 2;
        } else if ((v = sp_flag(argc, argv, &i, "--topics"))) {
            topics = v;
        } else {
            fprintf(stderr, "supportpulse mock-kafka: unknown or incomplete option '%s'\n",
                    argv[i]);
            return 2;
        }
    }
    char err[256];
    sp_mock *m = sp_mock_new((int)brokers, err, sizeof err);
    if (!m) {
        fprintf(stderr, "supportpulse mock-kafka: %s\n", err);
        return 1;
    }
    if (create_topics(m, topics, (int)partitions) < 0) {
        sp_mock_destroy(m);
        return 1;
    }
    sp_install_signals(stop_mock, NULL);
    printf("%s\n", sp_mock_bootstraps(m));
    fflush(stdout);
    while (!atomic_load(&mock_stop)) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    sp_mock_destroy(m);
    return 0;
}
