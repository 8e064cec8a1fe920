/*
 * receiver.h - a small HTTP server for the webhook tests (libmicrohttpd): it records
 * every POST body in order and answers with a status the test sets, after an optional
 * delay. Stopping it and starting it again on the same port is "the receiver is down,
 * then up".
 */
#ifndef SP_TEST_RECEIVER_H
#define SP_TEST_RECEIVER_H

#include <pthread.h>
#include <stddef.h>

#define SP_RECEIVER_MAX 1024

typedef struct {
    struct MHD_Daemon *d;
    int port;
    volatile int status, delay_ms;    /* set by the test between requests */
    char content_type[64], authorization[128];
    pthread_mutex_t mu;
    char *bodies[SP_RECEIVER_MAX];
    int n;
} sp_receiver;

/* Starts on port (0 = any free port; rv->port says which). Fails the test if it cannot. */
void sp_receiver_start(sp_receiver *rv, int port, int status);
void sp_receiver_stop(sp_receiver *rv);   /* keeps what it received (start it again) */
void sp_receiver_free(sp_receiver *rv);   /* stops it and frees the bodies */
int sp_receiver_count(sp_receiver *rv);
/* Copies body i (received order) into out. */
void sp_receiver_body(sp_receiver *rv, int i, char *out, size_t size);

#endif
