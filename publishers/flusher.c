/*
 * flusher.c - see flusher.h. One job slot: submit fills it and wakes the thread, the
 * thread sends the job and marks it sent, take empties the slot. The publisher's
 * statistics are copied under the mutex at the end of each job, for the pipeline
 * thread's periodic report.
 */
#include "supportpulse/flusher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "supportpulse/log.h"

enum { IDLE, QUEUED, SENDING, SENT };

struct sp_flusher {
    sp_publisher *pub;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state;
    int stop;
    sp_flush_job *job;
    int64_t now_event_ms;
    int rc;
    char err[512];
    sp_publisher_stats stats;
};

static void *run(void *arg)
{
    sp_flusher *f = arg;
    prctl(PR_SET_NAME, "sp-flush", 0, 0, 0); /* named in top -H and /proc */
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (f->state != QUEUED && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->state != QUEUED)
            break;
        f->state = SENDING;
        sp_flush_job *job = f->job;
        int64_t now_event = f->now_event_ms;
        pthread_mutex_unlock(&f->mu);
        char err[512] = "";
        int rc = sp_flush_job_send(f->pub, job, now_event, err, sizeof err);
        sp_publisher_stats st = *sp_publisher_get_stats(f->pub);
        pthread_mutex_lock(&f->mu);
        f->rc = rc;
        memcpy(f->err, err, sizeof f->err);
        f->stats = st;
        f->state = SENT;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

sp_flusher *sp_flusher_new(sp_publisher *pub, char *errstr, size_t errstr_size)
{
    sp_flusher *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(errstr, errstr_size, "out of memory starting the flush thread");
        return NULL;
    }
    f->pub = pub;
    f->stats = *sp_publisher_get_stats(pub);
    int rc;
    if ((rc = pthread_mutex_init(&f->mu, NULL)) != 0 ||
        (rc = pthread_cond_init(&f->cv, NULL)) != 0 ||
        (rc = pthread_create(&f->thread, NULL, run, f)) != 0) {
        snprintf(errstr, errstr_size, "starting the flush thread: %s", strerror(rc));
        free(f);
        return NULL;
    }
    return f;
}

void sp_flusher_destroy(sp_flusher *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    sp_flush_job_destroy(f->job);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int sp_flusher_submit(sp_flusher *f, sp_flush_job *job, int64_t now_event_ms)
{
    pthread_mutex_lock(&f->mu);
    int ok = f->state == IDLE;
    if (ok) {
        f->job = job;
        f->now_event_ms = now_event_ms;
        f->state = QUEUED;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return ok ? 0 : -1;
}

sp_flush_job *sp_flusher_take(sp_flusher *f, int wait, int *rc, char *errstr,
                              size_t errstr_size)
{
    pthread_mutex_lock(&f->mu);
    while (wait && (f->state == QUEUED || f->state == SENDING))
        pthread_cond_wait(&f->cv, &f->mu);
    sp_flush_job *job = NULL;
    if (f->state == SENT) {
        job = f->job;
        f->job = NULL;
        *rc = f->rc;
        snprintf(errstr, errstr_size, "%s", f->err);
        f->state = IDLE;
    }
    pthread_mutex_unlock(&f->mu);
    return job;
}

int sp_flusher_busy(const sp_flusher *f)
{
    sp_flusher *m = (sp_flusher *)f;
    pthread_mutex_lock(&m->mu);
    int busy = m->state != IDLE;
    pthread_mutex_unlock(&m->mu);
    return busy;
}

void sp_flusher_stats(sp_flusher *f, sp_publisher_stats *out)
{
    pthread_mutex_lock(&f->mu);
    *out = f->stats;
    pthread_mutex_unlock(&f->mu);
}
