/*
 * redis_conn.h - one connection to one Redis node, plain or TLS, from the address form
 * every supportpulse option uses: "HOST:PORT" (port 6379 when absent), "unix:/path", or
 * "rediss://HOST:PORT" (TLS). hiredis 0.14 formats commands and parses replies; this
 * module moves the bytes (hiredis's own socket I/O for plain connections, OpenSSL for
 * TLS, which Debian 12's hiredis lacks).
 *
 * Data flow: commands are appended to the context's output buffer with hiredis
 * (redisAppendCommand, redisAppendFormattedCommand on sp_rconn_ctx), sp_rconn_write sends
 * them, sp_rconn_read returns the replies in order. Never call hiredis's own I/O
 * (redisBufferWrite, redisGetReply, redisCommand) on a connection of this module.
 *
 * Ownership: sp_rconn_open returns a connection the caller frees with sp_rconn_free;
 * replies belong to the caller (freeReplyObject). A TLS context (sp_redis_tls) is owned
 * by its creator and must outlive every connection opened with it.
 */
#ifndef SUPPORTPULSE_REDIS_CONN_H
#define SUPPORTPULSE_REDIS_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

/* TLS settings as the options give them; NULL or "" fields take the default. */
typedef struct {
    int enabled;             /* 0: plain, unless the address is rediss:// */
    const char *ca_file;     /* CA certificates (PEM) the server's chain must end in;
                                default: the system's trust store */
    const char *cert_file;   /* client certificate chain (PEM), for tls-auth-clients */
    const char *key_file;    /* its private key (PEM); required with cert_file */
    const char *server_name; /* the name the server's certificate must carry (and SNI);
                                default: the host of each node's address */
} sp_redis_tls_conf;

typedef struct sp_redis_tls sp_redis_tls;
typedef struct sp_rconn sp_rconn;

/* Whether an address asks for TLS ("rediss://..."), and the address without the scheme
 * ("redis://" is accepted and means plain). */
int sp_redis_address_tls(const char *address);
const char *sp_redis_address_plain(const char *address);

/* A TLS client context: TLS 1.2 or later, the server's certificate verified against
 * ca_file (or the system store) and its name checked. NULL with errstr naming the file
 * that cannot be used. Free with sp_redis_tls_free. */
sp_redis_tls *sp_redis_tls_new(const sp_redis_tls_conf *conf, char *errstr, size_t errstr_size);
void sp_redis_tls_free(sp_redis_tls *t);

/* Connects to address (without "rediss://"), with TLS when tls is not NULL, within
 * connect_timeout_ms (TCP and handshake), then sets command_timeout_ms (0 = none) for
 * every read and write. NULL with errstr (the TLS error or failed verification named). */
sp_rconn *sp_rconn_open(const char *address, sp_redis_tls *tls, int connect_timeout_ms,
                        int command_timeout_ms, char *errstr, size_t errstr_size);
void sp_rconn_free(sp_rconn *c);
/* The hiredis context: append commands to it; its reader holds what came back. */
redisContext *sp_rconn_ctx(sp_rconn *c);
/* Sends all appended output. 0, or -1 with errstr (the connection is then unusable). */
int sp_rconn_write(sp_rconn *c, char *errstr, size_t errstr_size);
/* The next reply (pending output is sent first). 0 and *reply (the caller's), or -1
 * with errstr: timed out, closed, or a protocol error; the connection is unusable. */
int sp_rconn_read(sp_rconn *c, redisReply **reply, char *errstr, size_t errstr_size);
/* One command (printf-like, as redisCommand): its reply, the caller's; NULL with errstr. */
redisReply *sp_rconn_command(sp_rconn *c, char *errstr, size_t errstr_size, const char *fmt,
                             ...);

/* Authenticates a fresh connection: AUTH password, or AUTH user password (a Redis 6+
 * ACL user); nothing when both are NULL or empty. 0, or -1 with errstr naming AUTH and
 * the user (never the password). */
int sp_redis_auth(sp_rconn *c, const char *user, const char *password, char *errstr,
                  size_t errstr_size);

/* The Redis password kept in a file: its first line, without the line end, into out.
 * 0, or -1 with errstr naming the file (empty, or why it cannot be read). */
int sp_redis_password_read(const char *path, char *out, size_t size, char *errstr,
                           size_t errstr_size);

/* Whether an error text from connecting or a command is about credentials, permissions
 * or TLS trust (AUTH refused, NOAUTH, WRONGPASS, NOPERM, a certificate that does not
 * verify): a setting to fix, not an outage to wait out. */
int sp_redis_auth_error(const char *errstr);

struct sp_redis;
/* The event-time clock of the data in Redis: the newest event time of any partition
 * (its resume point in {p}:meta, "<offset> <newest ts> ..."), which the pipeline writes
 * once the flush's data is in. 0 and *now_ms (-1 before anything was consumed), or -1
 * with errstr. */
int sp_redis_event_now(struct sp_redis *r, const char *prefix, int64_t *now_ms, char *errstr,
                       size_t errstr_size);

#endif
