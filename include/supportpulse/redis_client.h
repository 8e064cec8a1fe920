/*
 * redis_client.h - supportpulse's connection to Redis: one server or a Redis Cluster,
 * behind the same calls.
 *
 * At connect the client asks the seed address for `CLUSTER SLOTS`. A server without
 * cluster support is used as it is (one node). A cluster gives the masters and the
 * hash slots each serves; every command is then sent to the master of its key's slot
 * (CRC16 of the key, or of its {hash tag}, modulo 16384, as Redis computes it), so a
 * call must name keys of one slot only (scripts: all their KEYS). Redirections are
 * followed: MOVED updates the slot table (and the whole table is read again before the
 * next batch), ASK sends the command once more to the importing node after ASKING,
 * TRYAGAIN / CLUSTERDOWN / LOADING / MASTERDOWN are retried after a short wait (up to
 * the command timeout). Scripts are registered once (sp_redis_script), loaded on each
 * node when it is connected and again on NOSCRIPT (a restarted or failed-over node).
 *
 * Batches are the unit of work: commands are appended (arguments copied), sent
 * pipelined to every node they go to, and their replies kept in the order appended.
 * Commands for one slot reach its node in the order appended, but a redirection can
 * re-order them: callers make every command idempotent or check what they depend on
 * (supportpulse's protocol does both; docs/design.md).
 *
 * Not thread-safe: one client per thread. Ownership: the client owns its connections;
 * a batch owns its copies of the arguments and its replies until reset or destroyed.
 */
#ifndef SUPPORTPULSE_REDIS_CLIENT_H
#define SUPPORTPULSE_REDIS_CLIENT_H

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "supportpulse/redis_conn.h"

#define SP_REDIS_SLOTS 16384
#define SP_REDIS_MAX_SCRIPTS 16

typedef struct sp_redis sp_redis;
typedef struct sp_redis_batch sp_redis_batch;

/* The hash slot of a key, as Redis Cluster computes it. */
unsigned sp_redis_key_slot(const char *key, size_t len);

/* A client for address ("HOST:PORT", port 6379 when absent, "unix:/path", or
 * "rediss://HOST:PORT" for TLS with the system's trust store unless sp_redis_set_tls
 * says otherwise); not connected yet. NULL when out of memory. */
sp_redis *sp_redis_new(const char *address, int connect_timeout_ms, int command_timeout_ms);
void sp_redis_destroy(sp_redis *r); /* NULL is a no-op */
/* Credentials for every connection the client opens (AUTH, sp_redis_auth): user may be
 * NULL or "" (the default user), password NULL or "" (none). Copied; the password is
 * wiped from memory on destroy. 0, or -1 when out of memory. */
int sp_redis_set_auth(sp_redis *r, const char *user, const char *password);
/* TLS for every connection the client opens (to the seed and to every cluster node)
 * when conf->enabled or the address is rediss://, with conf's files read now (into an
 * OpenSSL context the client owns; conf is not kept). 0, or -1 with errstr naming the
 * option whose file cannot be used. */
int sp_redis_set_tls(sp_redis *r, const sp_redis_tls_conf *conf, char *errstr,
                     size_t errstr_size);
int sp_redis_uses_tls(const sp_redis *r);

/* Registers a Lua script (body is not copied: it must outlive the client) and returns
 * its id for sp_redis_batch_eval, or -1 when SP_REDIS_MAX_SCRIPTS are registered. Scripts
 * are loaded when a node is connected, so register them before the first call. */
int sp_redis_script(sp_redis *r, const char *body);

/* Connects to the seed and reads the topology (a no-op when connected). 0, or -1 with
 * errstr. Every call below connects on demand. */
int sp_redis_connect(sp_redis *r, char *errstr, size_t errstr_size);
/* Closes every connection (the next call reconnects and reads the topology again). */
void sp_redis_close(sp_redis *r);

/* Whether the server is a Redis Cluster (valid after a successful connect). */
int sp_redis_is_cluster(const sp_redis *r);
const char *sp_redis_address(const sp_redis *r);
/* What the client had to do beyond sending commands (counts since it was created). */
typedef struct {
    uint64_t moved, ask, busy_retries, noscript, reconnects;
} sp_redis_stats;
const sp_redis_stats *sp_redis_get_stats(const sp_redis *r);

/* Called after each reply of any batch is read, in the order they come (the crash-point
 * tests kill the process there). With serial set, each command is sent only after the
 * reply of the one before: a kill then falls exactly between two commands. */
void sp_redis_on_reply(sp_redis *r, void (*fn)(void *arg), void *arg, int serial);

/* Masters known (1 for a single server), and the address of one of them. */
int sp_redis_nodes(const sp_redis *r);
const char *sp_redis_node_address(const sp_redis *r, int node);

/* ---- batches ------------------------------------------------------------------------ */

sp_redis_batch *sp_redis_batch_new(void); /* NULL when out of memory */
void sp_redis_batch_destroy(sp_redis_batch *b); /* NULL is a no-op */
/* Forgets the commands and frees the replies (keeps the memory for the next ones). */
void sp_redis_batch_reset(sp_redis_batch *b);
size_t sp_redis_batch_size(const sp_redis_batch *b);
/* The bytes of the arguments added (since the last reset). */
size_t sp_redis_batch_bytes(const sp_redis_batch *b);

/* Appends a command routed by key (NULL: any node; node >= 0 with
 * sp_redis_batch_add_to). Returns its index, or -1 when out of memory. */
long sp_redis_batch_add(sp_redis_batch *b, const char *key, size_t keylen, int argc,
                        const char *const *argv, const size_t *argvlen);
long sp_redis_batch_add_to(sp_redis_batch *b, int node, int argc, const char *const *argv,
                           const size_t *argvlen);
/* printf-style (hiredis's format: %s, %b, %lld, ...); routed by its second word. */
long sp_redis_batch_addf(sp_redis_batch *b, const char *fmt, ...);
/* EVALSHA of a registered script with nkeys keys, then nargs arguments (argv holds the
 * keys first); routed by its first key (any node without keys). */
long sp_redis_batch_eval(sp_redis_batch *b, int script, int nkeys, int nargs,
                         const char *const *argv, const size_t *argvlen);


/* Sends every command that has no reply yet and reads the replies. 0 when each has a
 * reply (which may be an error reply: the command's own failure); -1 with errstr when
 * a connection failed or redirections did not settle (replies already read are kept;
 * the others are unknown: the commands may or may not have run). */
int sp_redis_batch_run(sp_redis *r, sp_redis_batch *b, char *errstr, size_t errstr_size);
/* Sends the commands added since the last send, without waiting for replies, so that
 * Redis works on them while the caller adds more; sp_redis_batch_run then sends the rest
 * and reads every reply. Nothing is sent ahead when replies are read one by one (the
 * crash-point tests). 0, or -1 with errstr (the connections are closed: the batch's
 * outcome is unknown, as after a failed run). */
int sp_redis_batch_send(sp_redis *r, sp_redis_batch *b, char *errstr, size_t errstr_size);
/* The reply of command i (NULL before it has one). Owned by the batch. */
const redisReply *sp_redis_batch_reply(const sp_redis_batch *b, long i);

/* ---- one command ---------------------------------------------------------------------- */

/* Runs one command (routed by its second word, like sp_redis_batch_addf) and returns its
 * reply, which the caller frees (freeReplyObject); an error reply is returned as such.
 * NULL with errstr when the command could not be run. */
redisReply *sp_redis_cmd(sp_redis *r, char *errstr, size_t errstr_size, const char *fmt, ...);
/* The same with a va_list (as redisvCommand). */
redisReply *sp_redis_vcmd(sp_redis *r, char *errstr, size_t errstr_size, const char *fmt,
                          va_list ap);
/* The same on one master (SCAN, INFO, CONFIG, DBSIZE: per node in a cluster). */
redisReply *sp_redis_node_cmd(sp_redis *r, int node, char *errstr, size_t errstr_size,
                              const char *fmt, ...);
/* argv form; key_arg is the index of the key in argv (-1: none). */
redisReply *sp_redis_cmd_argv(sp_redis *r, int key_arg, int argc, const char *const *argv,
                              const size_t *argvlen, char *errstr, size_t errstr_size);

#endif
