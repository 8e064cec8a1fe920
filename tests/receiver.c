/*
 * receiver.c - see receiver.h. One internal polling thread (libmicrohttpd); a request's
 * body is gathered in its connection context and recorded when it is complete.
 */
#include "receiver.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *buf;
    size_t len;
} upload;

static enum MHD_Result answer(struct MHD_Connection *c, int status)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)"ok",
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void record(sp_receiver *rv, struct MHD_Connection *c, upload *u)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *au = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&rv->mu);
    snprintf(rv->content_type, sizeof rv->content_type, "%s", ct ? ct : "");
    snprintf(rv->authorization, sizeof rv->authorization, "%s", au ? au : "");
    if (rv->n < SP_RECEIVER_MAX) {
        rv->bodies[rv->n++] = u->buf;
        u->buf = NULL;
    }
    pthread_mutex_unlock(&rv->mu);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **ctx)
{
    (void)url;
    (void)version;
    sp_receiver *rv = cls;
    if (strcmp(method, "POST") != 0)
        return answer(c, 405);
    upload *u = *ctx;
    if (!u) {
        *ctx = calloc(1, sizeof *u);
        return *ctx ? MHD_YES : MHD_NO;
    }
    if (*size) {
        char *b = realloc(u->buf, u->len + *size + 1);
        if (!b)
            return MHD_NO;
        memcpy(b + u->len, data, *size);
        u->len += *size;
        b[u->len] = '\0';
        u->buf = b;
        *size = 0;
        return MHD_YES;
    }
    if (rv->delay_ms)
        usleep((useconds_t)rv->delay_ms * 1000);
    if (!u->buf)
        u->buf = strdup("");
    record(rv, c, u);
    return answer(c, rv->status);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    upload *u = *ctx;
    if (u) {
        free(u->buf);
        free(u);
    }
    *ctx = NULL;
}

void sp_receiver_start(sp_receiver *rv, int port, int status)
{
    if (port == 0) { /* a fresh receiver */
        memset(rv, 0, sizeof *rv);
        pthread_mutex_init(&rv->mu, NULL);
    }
    rv->status = status;
    for (int attempt = 0; attempt < 50 && !rv->d; attempt++) {
        rv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL,
                                 on_request, rv, MHD_OPTION_NOTIFY_COMPLETED, on_done, rv,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
        if (!rv->d)
            usleep(100000); /* the port may still be held by the previous run */
    }
    cr_assert_not_null(rv->d, "cannot start the HTTP receiver on port %d", port);
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(rv->d, MHD_DAEMON_INFO_BIND_PORT);
    rv->port = i ? i->port : port;
}

void sp_receiver_stop(sp_receiver *rv)
{
    if (rv->d)
        MHD_stop_daemon(rv->d);
    rv->d = NULL;
}

int sp_receiver_count(sp_receiver *rv)
{
    pthread_mutex_lock(&rv->mu);
    int n = rv->n;
    pthread_mutex_unlock(&rv->mu);
    return n;
}

void sp_receiver_body(sp_receiver *rv, int i, char *out, size_t size)
{
    pthread_mutex_lock(&rv->mu);
    snprintf(out, size, "%s", i >= 0 && i < rv->n ? rv->bodies[i] : "");
    pthread_mutex_unlock(&rv->mu);
}

void sp_receiver_free(sp_receiver *rv)
{
    sp_receiver_stop(rv);
    for (int i = 0; i < rv->n; i++)
        free(rv->bodies[i]);
    rv->n = 0;
    pthread_mutex_destroy(&rv->mu);
}
