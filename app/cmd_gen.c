/*
 * cmd_gen.c - `supportpulse gen`: the traffic generator, to stdout as JSON lines or to a
 * Kafka topic keyed by ticket/call id.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "supportpulse/clock.h"
#include "supportpulse/config.h"
#include "supportpulse/event.h"
#include "supportpulse/gen_kafka.h"
#include "supportpulse/generator.h"

static void gen_usage(void)
{
    printf("usage: supportpulse gen [options]\n\n"
           "Generates wallet help-desk events (deterministic for a seed).\n"
           "  --seed N               random seed (default 42)\n"
           "  --start TS             first event time, RFC 3339 or epoch ms (default: now - 1 day)\n"
           "  --count N              stop after N messages (default 10000; 0 = endless)\n"
           "  --until TS             stop at this event time\n"
           "  --rate R               messages per second, 0 = as fast as possible (default 0)\n"
           "  --realtime             send each message when the wall clock reaches its event\n"
           "                         time (with --start now: a live desk)\n"
           "  --arrivals-per-hour A  contacts per hour at an average hour (default 1200);\n"
           "                         agents: 0.2 per contact an hour, split by queue\n"
           "  --agents N             the roster instead: N agents split by queue (1..60000)\n"
           "  --malformed F          fraction of malformed messages, 0..1 (default 0)\n"
           "  --duplicates F         fraction of messages sent twice (default 0)\n"
           "  --out-of-order F       fraction emitted late, up to --max-disorder-ms (default 0)\n"
           "  --max-disorder-ms MS   (default 60000)\n"
           "  --promo-day D          day (0 = start day) with a promotion surge (default none)\n"
           "  --promo-multiplier M   surge factor 9:00-23:00 on that day (default 3)\n"
           "  --outage START,MINUTES an outage from START (RFC 3339 or epoch ms): no call is\n"
           "                         answered before it ends (default none)\n"
           "  --bootstrap HOSTS      produce to Kafka instead of stdout\n"
           "  --topic T              topic (default support-events)\n"
           "  -X key=value           librdkafka producer property (repeatable)\n");
}

static int parse_ts(const char *v, int64_t *out)
{
    long long ms;
    char *end;
    ms = strtoll(v, &end, 10);
    if (*v && !*end) {
        *out = ms;
        return 0;
    }
    if (sp_ts_parse_rfc3339(v, strlen(v), out) == 0)
        return 0;
    fprintf(stderr, "supportpulse gen: '%s' is neither RFC 3339 nor epoch ms\n", v);
    return -1;
}

/* "START,MINUTES" */
static int parse_outage(const char *v, sp_gen_conf *g)
{
    char start[64];
    const char *comma = strrchr(v, ',');
    long long minutes;
    if (!comma || (size_t)(comma - v) >= sizeof start) {
        fprintf(stderr, "supportpulse gen: --outage: '%s' is not START,MINUTES\n", v);
        return -1;
    }
    snprintf(start, sizeof start, "%.*s", (int)(comma - v), v);
    if (parse_ts(start, &g->outage_start_ms) < 0 ||
        sp_flag_int("--outage minutes", comma + 1, 1, 7 * 24 * 60, &minutes) < 0)
        return -1;
    g->outage_end_ms = g->outage_start_ms + minutes * 60000;
    return 0;
}

typedef struct {
    sp_gen_conf g;
    sp_gen_kafka_conf k;
    sp_config props; /* only for -X */
} gen_opts;

static int parse_gen(int argc, char **argv, gen_opts *o)
{
    const char *v;
    long long n;
    double d;
    char err[256];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            gen_usage();
            return 1;
        }
        if ((v = sp_flag(argc, argv, &i, "--seed"))) {
            if (sp_flag_int("--seed", v, 0, (long long)9e18, &n) < 0)
                return -1;
            o->g.seed = (uint64_t)n;
        } else if ((v = sp_flag(argc, argv, &i, "--start"))) {
            if (parse_ts(v, &o->g.start_ms) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--until"))) {
            if (parse_ts(v, &o->k.until_ts_ms) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--count"))) {
            if (sp_flag_int("--count", v, 0, (long long)1e15, &n) < 0)
                return -1;
            o->k.count = (uint64_t)n;
        } else if (strcmp(argv[i], "--realtime") == 0) {
            o->k.realtime = 1;
        } else if ((v = sp_flag(argc, argv, &i, "--rate"))) {
            if (sp_flag_double("--rate", v, 0, 1e9, &o->k.rate) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--agents"))) {
            if (sp_flag_int("--agents", v, 1, 60000, &n) < 0)
                return -1;
            o->g.agents = (int)n;
        } else if ((v = sp_flag(argc, argv, &i, "--arrivals-per-hour"))) {
            if (sp_flag_double("--arrivals-per-hour", v, 1, 1e8, &o->g.arrivals_per_hour) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--malformed"))) {
            if (sp_flag_double("--malformed", v, 0, 1, &o->g.malformed) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--duplicates"))) {
            if (sp_flag_double("--duplicates", v, 0, 1, &o->g.duplicates) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--out-of-order"))) {
            if (sp_flag_double("--out-of-order", v, 0, 1, &o->g.out_of_order) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--max-disorder-ms"))) {
            if (sp_flag_int("--max-disorder-ms", v, 0, 86400000, &n) < 0)
                return -1;
            o->g.max_disorder_ms = n;
        } else if ((v = sp_flag(argc, argv, &i, "--promo-day"))) {
            if (sp_flag_int("--promo-day", v, 0, 3650, &n) < 0)
                return -1;
            o->g.promo_day = (int)n;
        } else if ((v = sp_flag(argc, argv, &i, "--promo-multiplier"))) {
            if (sp_flag_double("--promo-multiplier", v, 0.1, 100, &d) < 0)
                return -1;
            o->g.promo_multiplier = d;
        } else if ((v = sp_flag(argc, argv, &i, "--outage"))) {
            if (parse_outage(v, &o->g) < 0)
                return -1;
        } else if ((v = sp_flag(argc, argv, &i, "--bootstrap"))) {
            o->k.bootstrap = v;
        } else if ((v = sp_flag(argc, argv, &i, "--topic"))) {
            o->k.topic = v;
        } else if (strcmp(argv[i], "-X") == 0 && i + 1 < argc) {
            if (sp_config_add_kafka(&o->props, argv[++i], err, sizeof err) < 0) {
                fprintf(stderr, "supportpulse gen: %s\n", err);
                return -1;
            }
        } else {
            fprintf(stderr, "supportpulse gen: unknown or incomplete option '%s' (see --help)\n",
                    argv[i]);
            return -1;
        }
    }
    return 0;
}

static int gen_stdout(sp_gen *g, const sp_gen_kafka_conf *k)
{
    for (uint64_t i = 0; !k->count || i < k->count; i++) {
        sp_gen_msg m;
        if (sp_gen_next(g, &m) < 0) {
            fprintf(stderr, "supportpulse gen: out of memory\n");
            return 1;
        }
        if (k->until_ts_ms && m.ts_ms >= k->until_ts_ms)
            break;
        if (k->realtime && m.ts_ms > sp_wall_ms()) {
            fflush(stdout);
            while (m.ts_ms > sp_wall_ms())
                nanosleep(&(struct timespec){0, 2000000}, NULL);
        }
        fwrite(m.value, 1, m.value_len, stdout);
        if (fputc('\n', stdout) == EOF)
            return 1; /* the reader went away */
    }
    return 0;
}

static atomic_int gen_stop;
static void stop_gen(void *arg) { (void)arg; atomic_store(&gen_stop, 1); }

int sp_cmd_gen(int argc, char **argv)
{
    gen_opts o;
    memset(&o, 0, sizeof o);
    sp_gen_conf_defaults(&o.g);
    o.g.start_ms = (int64_t)time(NULL) * 1000 - 86400000LL;
    o.k.count = 10000;
    o.k.topic = "support-events";
    int rc = parse_gen(argc, argv, &o);
    if (rc != 0) {
        sp_config_free(&o.props);
        return rc < 0 ? 2 : 0;
    }
    char err[512];
    sp_gen *g = sp_gen_new(&o.g, err, sizeof err);
    if (!g) {
        fprintf(stderr, "supportpulse gen: %s\n", err);
        return 1;
    }
    if (!o.k.bootstrap) {
        rc = gen_stdout(g, &o.k);
    } else {
        o.k.kafka_key = o.props.kafka_key;
        o.k.kafka_val = o.props.kafka_val;
        o.k.nkafka = o.props.nkafka;
        sp_install_signals(stop_gen, NULL);
        atomic_uint_fast64_t delivered = 0;
        rc = sp_gen_produce(g, &o.k, &gen_stop, &delivered, err, sizeof err) < 0;
        if (rc)
            fprintf(stderr, "supportpulse gen: %s\n", err);
        fprintf(stderr, "supportpulse gen: %llu messages delivered to %s\n",
                (unsigned long long)atomic_load(&delivered), o.k.topic);
    }
    sp_gen_destroy(g);
    sp_config_free(&o.props);
    return rc;
}
