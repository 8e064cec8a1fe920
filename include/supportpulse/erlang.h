/*
 * erlang.h - Erlang C staffing for real-time queues (calls, live chat, video): how many
 * agents a forecast volume needs to meet a service-level target, and what a given
 * number of agents achieves (probability of waiting, service level, speed of answer,
 * occupancy).
 *
 * Model: M/M/N, arrivals Poisson at the interval's rate, handle times exponential with
 * the mean AHT, callers wait (no abandonment). Offered load A = calls * AHT / interval
 * (Erlangs). Erlang B comes from the recursion B(0) = 1, B(k) = A*B(k-1) / (k + A*B(k-1)),
 * which never overflows (no factorials or powers), so thousands of agents and calls are
 * fine; Erlang C = N*B / (N - A*(1 - B)). With N <= A the queue grows without bound:
 * p_wait 1, service level 0, ASA infinite (reported as such, never NaN).
 *
 * Pure functions, no allocation, thread-safe.
 */
#ifndef SUPPORTPULSE_ERLANG_H
#define SUPPORTPULSE_ERLANG_H

#include <stddef.h>

typedef struct {
    int agents;
    double load;          /* offered load, Erlangs */
    double p_wait;        /* Erlang C: probability that a call waits at all */
    double service_level; /* share answered within the target time, 0..1 */
    double asa_s;         /* mean speed of answer, seconds; INFINITY when agents <= load */
    double occupancy;     /* load / agents, at most 1; 0 with no agents and no load */
} sp_erlang_point;

/* Erlang B blocking probability for n servers offered a Erlangs (n >= 0, a >= 0). */
double sp_erlang_b(int n, double a);
/* Erlang C probability of waiting; 1 when n <= a. */
double sp_erlang_c(int n, double a);

/* What n agents achieve for `calls` arrivals per `interval_s` with mean handle time
 * `aht_s`, service level measured at `within_s`. 0, or -1 with errstr on bad input. */
int sp_erlang_eval(double calls, double aht_s, double interval_s, int n, double within_s,
                   sp_erlang_point *out, char *errstr, size_t errstr_size);

/* The smallest number of agents whose service level is >= target (0 < target < 1), and
 * what it achieves. No calls need no agents. Returns the number of agents, or -1 with
 * errstr on bad input or when more than max_agents would be needed. */
int sp_erlang_required(double calls, double aht_s, double interval_s, double target,
                       double within_s, int max_agents, sp_erlang_point *out, char *errstr,
                       size_t errstr_size);

#endif
