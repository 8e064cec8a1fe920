/*
 * redis_conn.c - see redis_conn.h. A plain connection uses hiredis's socket I/O; a TLS
 * one is connected by hiredis (TCP, with its timeout), then OpenSSL takes the socket:
 * handshake, SSL_write of the context's output buffer, SSL_read into its reader.
 */
#include "supportpulse/redis_conn.h"
#include "supportpulse/redis_client.h"
#include "supportpulse/redis_keys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/sds.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sp_redis_tls {
    SSL_CTX *ctx;
    char *server_name; /* NULL: each node's host */
};

struct sp_rconn {
    redisContext *rc;
    SSL *ssl;      /* NULL: plain */
    int got_reply; /* a TLS server that refuses the client's certificate (or its absence)
                      says so only at the first exchange, after the handshake */
};

static struct timeval ms_tv(int ms) { return (struct timeval){ms / 1000, (ms % 1000) * 1000}; }

int sp_redis_address_tls(const char *address) { return strncmp(address, "rediss://", 9) == 0; }

const char *sp_redis_address_plain(const char *address)
{
    if (strncmp(address, "rediss://", 9) == 0)
        return address + 9;
    if (strncmp(address, "redis://", 8) == 0)
        return address + 8;
    return address;
}

/* The newest OpenSSL error as text ("" when none), and the queue cleared. */
static const char *ssl_error(char *buf, size_t size)
{
    unsigned long e = ERR_get_error(), next;
    while ((next = ERR_get_error()) != 0) /* keep the first: it names the cause */
        ;
    buf[0] = '\0';
    if (e)
        ERR_error_string_n(e, buf, size);
    return buf;
}

static int set_field(char **out, const char *v)
{
    *out = v && *v ? strdup(v) : NULL;
    return v && *v && !*out ? -1 : 0;
}

sp_redis_tls *sp_redis_tls_new(const sp_redis_tls_conf *conf, char *errstr, size_t errstr_size)
{
    char why[256];
    sp_redis_tls *t = calloc(1, sizeof *t);
    if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method())) ||
        set_field(&t->server_name, conf->server_name) < 0) {
        snprintf(errstr, errstr_size, "redis TLS: out of memory");
        sp_redis_tls_free(t);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_AUTO_RETRY);
    const char *ca = conf->ca_file && *conf->ca_file ? conf->ca_file : NULL;
    const char *cert = conf->cert_file && *conf->cert_file ? conf->cert_file : NULL;
    const char *key = conf->key_file && *conf->key_file ? conf->key_file : NULL;
    const char *field = NULL, *file = NULL;
    if (ca ? SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1
           : SSL_CTX_set_default_verify_paths(t->ctx) != 1)
        field = "redis_tls_ca_file", file = ca ? ca : "(the system store)";
    else if (!cert != !key)
        field = cert ? "redis_tls_key_file" : "redis_tls_cert_file", file = "(not set)";
    else if (cert && SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1)
        field = "redis_tls_cert_file", file = cert;
    else if (key && SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1)
        field = "redis_tls_key_file", file = key;
    else if (key && SSL_CTX_check_private_key(t->ctx) != 1)
        field = "redis_tls_key_file", file = key;
    if (field) {
        snprintf(errstr, errstr_size, "%s: %s: %s", field, file,
                 *ssl_error(why, sizeof why) ? why
                 : strcmp(file, "(not set)") == 0 ? "a client certificate needs both files"
                                                  : "cannot be used");
        sp_redis_tls_free(t);
        return NULL;
    }
    return t;
}

void sp_redis_tls_free(sp_redis_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->server_name);
    free(t);
}

static redisContext *connect_socket(const char *address, int connect_timeout_ms, char *host,
                                    size_t host_size)
{
    if (strncmp(address, "unix:", 5) == 0) {
        snprintf(host, host_size, "%s", "");
        return redisConnectUnixWithTimeout(address + 5, ms_tv(connect_timeout_ms));
    }
    const char *colon = strrchr(address, ':');
    size_t hl = colon ? (size_t)(colon - address) : strlen(address);
    snprintf(host, host_size, "%.*s", (int)(hl < host_size ? hl : host_size - 1), address);
    return redisConnectWithTimeout(host, colon ? atoi(colon + 1) : 6379,
                                   ms_tv(connect_timeout_ms));
}

/* The name the server's certificate must carry: an IP address is checked as one. */
static int expect_name(SSL *ssl, const char *name)
{
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 ? 0 : -1;
    if (SSL_set_tlsext_host_name(ssl, name) != 1)
        return -1;
    return SSL_set1_host(ssl, name) == 1 ? 0 : -1;
}

static int handshake(sp_rconn *c, sp_redis_tls *tls, const char *host, char *errstr,
                     size_t errstr_size)
{
    char why[256];
    const char *name = tls->server_name ? tls->server_name : host;
    if (!*host) {
        snprintf(errstr, errstr_size, "TLS needs a HOST:PORT address, not a unix socket");
        return -1;
    }
    if (!(c->ssl = SSL_new(tls->ctx)) || SSL_set_fd(c->ssl, c->rc->fd) != 1 ||
        expect_name(c->ssl, name) < 0) {
        snprintf(errstr, errstr_size, "TLS setup: %s", ssl_error(why, sizeof why));
        return -1;
    }
    if (SSL_connect(c->ssl) == 1)
        return 0;
    long v = SSL_get_verify_result(c->ssl);
    int e = errno;
    if (v != X509_V_OK)
        snprintf(errstr, errstr_size, "TLS handshake: certificate verify failed: %s (expected "
                 "name %s; redis_tls_ca_file, redis_tls_server_name)",
                 X509_verify_cert_error_string(v), name);
    else
        snprintf(errstr, errstr_size, "TLS handshake: %s", *ssl_error(why, sizeof why) ? why
                 : e ? strerror(e) : "the server closed the connection (is it a TLS port?)");
    return -1;
}

sp_rconn *sp_rconn_open(const char *address, sp_redis_tls *tls, int connect_timeout_ms,
                        int command_timeout_ms, char *errstr, size_t errstr_size)
{
    char host[256];
    sp_rconn *c = calloc(1, sizeof *c);
    if (!c || !(c->rc = connect_socket(address, connect_timeout_ms, host, sizeof host))) {
        snprintf(errstr, errstr_size, "cannot allocate a connection");
        free(c);
        return NULL;
    }
    if (c->rc->err) {
        snprintf(errstr, errstr_size, "%s", c->rc->errstr);
        sp_rconn_free(c);
        return NULL;
    }
    if (tls) {
        redisSetTimeout(c->rc, ms_tv(connect_timeout_ms)); /* bounds the handshake */
        if (handshake(c, tls, host, errstr, errstr_size) < 0) {
            sp_rconn_free(c);
            return NULL;
        }
    }
    if (command_timeout_ms > 0)
        redisSetTimeout(c->rc, ms_tv(command_timeout_ms));
    return c;
}

void sp_rconn_free(sp_rconn *c)
{
    if (!c)
        return;
    if (c->ssl) {
        SSL_shutdown(c->ssl); /* close_notify; the reply is not waited for */
        SSL_free(c->ssl);
    }
    if (c->rc)
        redisFree(c->rc);
    free(c);
}

redisContext *sp_rconn_ctx(sp_rconn *c) { return c->rc; }

/* Why an SSL_read or SSL_write failed. */
static void tls_io_error(sp_rconn *c, int ret, const char *what, char *errstr, size_t errstr_size)
{
    char why[256];
    int e = errno, kind = SSL_get_error(c->ssl, ret);
    if (kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE ||
        (kind == SSL_ERROR_SYSCALL && (e == EAGAIN || e == EWOULDBLOCK))) {
        snprintf(errstr, errstr_size, "TLS %s: timed out", what);
        return;
    }
    if (kind == SSL_ERROR_ZERO_RETURN || (kind == SSL_ERROR_SYSCALL && !e))
        snprintf(errstr, errstr_size, "TLS %s: connection closed by the server", what);
    else
        snprintf(errstr, errstr_size, "TLS %s: %s", what,
                 *ssl_error(why, sizeof why) ? why : strerror(e));
    size_t n = strlen(errstr);
    if (!c->got_reply && n < errstr_size)
        snprintf(errstr + n, errstr_size - n, " (refused at the first exchange: does Redis "
                 "want a client certificate? redis_tls_cert_file, redis_tls_key_file)");
}

int sp_rconn_write(sp_rconn *c, char *errstr, size_t errstr_size)
{
    redisContext *rc = c->rc;
    if (!c->ssl) {
        int done = 0;
        while (!done)
            if (redisBufferWrite(rc, &done) != REDIS_OK) {
                snprintf(errstr, errstr_size, "%s", rc->errstr);
                return -1;
            }
        return 0;
    }
    size_t len = sdslen(rc->obuf), off = 0;
    while (off < len) {
        size_t chunk = len - off > (1u << 30) ? 1u << 30 : len - off;
        errno = 0;
        int n = SSL_write(c->ssl, rc->obuf + off, (int)chunk);
        if (n <= 0) {
            tls_io_error(c, n, "write", errstr, errstr_size);
            return -1;
        }
        off += (size_t)n;
    }
    sdsclear(rc->obuf);
    return 0;
}

int sp_rconn_read(sp_rconn *c, redisReply **reply, char *errstr, size_t errstr_size)
{
    redisContext *rc = c->rc;
    *reply = NULL;
    if (!c->ssl) {
        if (redisGetReply(rc, (void **)reply) == REDIS_OK && *reply)
            return 0;
        snprintf(errstr, errstr_size, "%s", rc->errstr[0] ? rc->errstr : "connection lost");
        return -1;
    }
    if (sdslen(rc->obuf) && sp_rconn_write(c, errstr, errstr_size) < 0)
        return -1;
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(rc->reader, &r) != REDIS_OK) {
            snprintf(errstr, errstr_size, "%s", rc->reader->errstr);
            return -1;
        }
        if (r) {
            *reply = r;
            c->got_reply = 1;
            return 0;
        }
        char buf[16384];
        errno = 0;
        int n = SSL_read(c->ssl, buf, sizeof buf);
        if (n <= 0) {
            tls_io_error(c, n, "read", errstr, errstr_size);
            return -1;
        }
        if (redisReaderFeed(rc->reader, buf, (size_t)n) != REDIS_OK) {
            snprintf(errstr, errstr_size, "%s", rc->reader->errstr);
            return -1;
        }
    }
}

redisReply *sp_rconn_command(sp_rconn *c, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int ok = redisvAppendCommand(c->rc, fmt, ap) == REDIS_OK;
    va_end(ap);
    redisReply *r = NULL;
    if (!ok)
        snprintf(errstr, errstr_size, "cannot format a command (out of memory)");
    else if (sp_rconn_read(c, &r, errstr, errstr_size) < 0)
        r = NULL;
    return r;
}

int sp_redis_auth(sp_rconn *c, const char *user, const char *password, char *errstr,
                  size_t errstr_size)
{
    int has_user = user && *user, has_pass = password && *password;
    if (!has_user && !has_pass)
        return 0;
    char why[256];
    redisReply *r = has_user
                        ? sp_rconn_command(c, why, sizeof why, "AUTH %s %s", user,
                                           has_pass ? password : "")
                        : sp_rconn_command(c, why, sizeof why, "AUTH %s", password);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        snprintf(errstr, errstr_size, "AUTH%s%s refused: %s", has_user ? " as " : "",
                 has_user ? user : "",
                 !r ? why : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

int sp_redis_password_read(const char *path, char *out, size_t size, char *errstr,
                           size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (!f || !fgets(out, (int)size, f)) {
        snprintf(errstr, errstr_size, "cannot read %s%s%s", path, f ? " (empty)" : ": ",
                 f ? "" : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

int sp_redis_auth_error(const char *errstr)
{
    static const char *const words[] = {"AUTH", "WRONGPASS", "NOPERM", "unauthenticated",
                                        "redis_tls_"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(errstr, words[i]))
            return 1;
    return 0;
}

int sp_redis_event_now(sp_redis *rc, const char *prefix, int64_t *now_ms, char *errstr,
                       size_t errstr_size)
{
    char key[SP_KEY_MAX], why[512];
    if (sp_key_meta(key, sizeof key, prefix) < 0) {
        snprintf(errstr, errstr_size, "prefix too long");
        return -1;
    }
    redisReply *r = sp_redis_cmd(rc, why, sizeof why, "HGETALL %s", key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "HGETALL %s: %s", key,
                 !r ? why : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    int64_t best = -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || strncmp(k->str, "resume:", 7) != 0 ||
            v->type != REDIS_REPLY_STRING)
            continue;
        const char *sp = strchr(v->str, ' ');
        int64_t ts = sp ? strtoll(sp + 1, NULL, 10) : -1;
        if (ts > best)
            best = ts;
    }
    freeReplyObject(r);
    *now_ms = best;
    return 0;
}
