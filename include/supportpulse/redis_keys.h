/*
 * redis_keys.h - every Redis key supportpulse writes, formatted in one place. The
 * public ones follow ../shared/spec/redis.md; the internal ones are placed in the hash
 * slot of what they belong to with a {hash tag}, so each atomic step touches one slot
 * and runs on a Redis Cluster:
 *
 *   {p}:x:{<rollup key>}          a rollup's companion (version, marks, sketches)
 *   {p}:lx:{<live key>}           a live hash's companion (each partition's gauges)
 *   {p}:cp:{<p>:<topic>:<n>}      a partition's checkpoint hash; :cpl: its log (the
 *                                 names of its segments), :cps: its staging list,
 *                                 :cpg:{..}:<name> a segment (a list of chunks)
 *   {p}:pr:{<p>:presence}         agents' newest status; :prc: the counts per dims
 *   {p}:fcstate:{<forecast key>}  a series' forecast model, written with its forecast
 *   {p}:alerts:state:{<p>:alerts} the alerts' states, written with the transitions
 *                                 stream; :firing: the JSON of those firing (what the
 *                                 active hash is made to hold)
 *
 * The prefix must hold no '{' or '}' (config.c refuses it), and dims values are escaped
 * (dims.h), so a public key never has a hash tag of its own and its slot is that of the
 * whole key, which its companion's tag reproduces.
 *
 * Each function writes into buf and returns the length, or -1 when it does not fit.
 */
#ifndef SUPPORTPULSE_REDIS_KEYS_H
#define SUPPORTPULSE_REDIS_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define SP_KEY_MAX 1024

int sp_key_rollup(char *buf, size_t size, const char *prefix, int res, const char *dims,
                  int64_t start);
int sp_key_companion(char *buf, size_t size, const char *prefix, const char *rollup_key);
int sp_key_series(char *buf, size_t size, const char *prefix, int res, const char *dims);
int sp_key_live(char *buf, size_t size, const char *prefix, const char *dims);
int sp_key_live_companion(char *buf, size_t size, const char *prefix, const char *live_key);
int sp_key_meta(char *buf, size_t size, const char *prefix);
int sp_key_updates(char *buf, size_t size, const char *prefix);  /* the channel */
int sp_key_livedims(char *buf, size_t size, const char *prefix);
/* the dims with a call waiting on any partition: their oldest wait grows every flush */
int sp_key_waiting(char *buf, size_t size, const char *prefix);
int sp_key_presence(char *buf, size_t size, const char *prefix, int counts);
/* kind: 'h' the hash, 'l' the log, 's' the staging list */
int sp_key_checkpoint(char *buf, size_t size, const char *prefix, const char *topic,
                      int32_t partition, char kind);
int sp_key_checkpoint_segment(char *buf, size_t size, const char *prefix, const char *topic,
                              int32_t partition, const char *name);
int sp_key_csat_agents(char *buf, size_t size, const char *prefix, int res, const char *desk,
                       int64_t start);
int sp_key_forecast(char *buf, size_t size, const char *prefix, const char *dims);
int sp_key_forecast_state(char *buf, size_t size, const char *prefix, const char *forecast_key);
/* kind: 's' the transitions stream (also the channel), 'a' the active hash, 'h' the hooks'
 * counters, 't' the alerts' states and 'f' the firing alerts' JSON (both in the stream's
 * slot) */
int sp_key_alerts(char *buf, size_t size, const char *prefix, char kind);
/* the windows whose agents' csat_smoothed is to be computed again ("<res>\t<desk>\t<start>") */
int sp_key_csat_due(char *buf, size_t size, const char *prefix);

#endif
