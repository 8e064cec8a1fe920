/*
 * erlang.c - see erlang.h. The search for the required agents walks N upward from the
 * first stable count, carrying Erlang B along in the same recursion, so it costs O(N)
 * in all rather than O(N) per candidate.
 */
#include "supportpulse/erlang.h"

#include <math.h>
#include <stdio.h>

static double b_step(double b_prev, int k, double a) { return a * b_prev / (k + a * b_prev); }

double sp_erlang_b(int n, double a)
{
    double b = 1.0;
    for (int k = 1; k <= n; k++)
        b = b_step(b, k, a);
    return b;
}

static double c_from_b(int n, double a, double b)
{
    if (n <= a)
        return 1.0;
    return n * b / (n - a * (1.0 - b));
}

double sp_erlang_c(int n, double a) { return a <= 0 ? 0.0 : c_from_b(n, a, sp_erlang_b(n, a)); }

/* Fills everything from the load, N and Erlang B at N. */
static void fill(sp_erlang_point *o, int n, double a, double b, double aht_s, double within_s)
{
    o->agents = n;
    o->load = a;
    if (a <= 0) {
        o->p_wait = 0;
        o->service_level = 1;
        o->asa_s = 0;
        o->occupancy = 0;
        return;
    }
    o->occupancy = n > a ? a / n : 1.0;
    if (n <= a) {
        o->p_wait = 1;
        o->service_level = 0;
        o->asa_s = INFINITY;
        return;
    }
    double c = c_from_b(n, a, b);
    o->p_wait = c;
    o->service_level = 1.0 - c * exp(-(n - a) * within_s / aht_s);
    o->asa_s = c * aht_s / (n - a);
}

static int check(double calls, double aht_s, double interval_s, double within_s, char *errstr,
                 size_t errstr_size)
{
    const char *bad = !(isfinite(calls) && calls >= 0)           ? "calls per interval"
                      : !(isfinite(aht_s) && aht_s > 0)          ? "handle time"
                      : !(isfinite(interval_s) && interval_s > 0) ? "interval"
                      : !(isfinite(within_s) && within_s >= 0)   ? "service-level time"
                                                                 : NULL;
    if (bad)
        snprintf(errstr, errstr_size, "erlang: %s must be a finite number above 0%s", bad,
                 bad[0] == 'c' || bad[0] == 's' ? " or 0" : "");
    return bad ? -1 : 0;
}

int sp_erlang_eval(double calls, double aht_s, double interval_s, int n, double within_s,
                   sp_erlang_point *out, char *errstr, size_t errstr_size)
{
    if (check(calls, aht_s, interval_s, within_s, errstr, errstr_size) < 0)
        return -1;
    if (n < 0) {
        snprintf(errstr, errstr_size, "erlang: agents must be 0 or more");
        return -1;
    }
    double a = calls * aht_s / interval_s;
    fill(out, n, a, sp_erlang_b(n, a), aht_s, within_s);
    return 0;
}

int sp_erlang_required(double calls, double aht_s, double interval_s, double target,
                       double within_s, int max_agents, sp_erlang_point *out, char *errstr,
                       size_t errstr_size)
{
    if (check(calls, aht_s, interval_s, within_s, errstr, errstr_size) < 0)
        return -1;
    if (!(target > 0 && target < 1)) {
        snprintf(errstr, errstr_size, "erlang: target service level must be above 0 and below 1");
        return -1;
    }
    double a = calls * aht_s / interval_s;
    double b = 1.0;
    for (int n = 0; n <= max_agents; n++) {
        if (n > 0)
            b = b_step(b, n, a);
        fill(out, n, a, b, aht_s, within_s);
        if (out->service_level >= target)
            return n;
    }
    snprintf(errstr, errstr_size,
             "erlang: %.4g Erlangs need more than %d agents to reach a service level of %.4g",
             a, max_agents, target);
    return -1;
}
