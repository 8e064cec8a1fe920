/*
 * decode_pool.c - see decode_pool.h for the ring protocol and its memory ordering.
 */
#include "supportpulse/decode_pool.h"

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    sp_decode_job *slots;
    size_t depth;
    _Alignas(64) atomic_size_t submitted; /* written by the pipeline thread */
    _Alignas(64) atomic_size_t decoded;   /* written by the worker */
    _Alignas(64) atomic_int sleeping;
    sem_t wake;
    pthread_t thread;
    int started, sem_ready;
    struct sp_decode_pool *pool;
} worker;

struct sp_decode_pool {
    worker *w;
    int nw;
    atomic_int stop;
    /* pipeline thread only */
    size_t next_submit, next_collect;
};

static void *worker_main(void *arg)
{
    worker *w = arg;
    size_t done = 0; /* == decoded; only this thread writes it */
    while (!atomic_load_explicit(&w->pool->stop, memory_order_relaxed)) {
        size_t avail = atomic_load_explicit(&w->submitted, memory_order_acquire);
        if (done == avail) {
            atomic_store(&w->sleeping, 1);
            if (atomic_load(&w->submitted) == done && !atomic_load(&w->pool->stop))
                sem_wait(&w->wake);
            atomic_store(&w->sleeping, 0);
            continue;
        }
        for (; done < avail; done++) {
            sp_decode_job *j = &w->slots[done % w->depth];
            j->rc = sp_event_decode(j->payload, j->len, &j->ev, &j->reason, j->detail,
                                    sizeof j->detail);
            atomic_store_explicit(&w->decoded, done + 1, memory_order_release);
        }
    }
    return NULL;
}

static void wake(worker *w)
{
    if (atomic_load(&w->sleeping)) {
        atomic_store(&w->sleeping, 0);
        sem_post(&w->wake);
    }
}

sp_decode_pool *sp_decode_pool_new(int workers, size_t depth, char *errstr, size_t errstr_size)
{
    if (workers < 1 || workers > 64 || depth < 1) {
        snprintf(errstr, errstr_size, "decode pool: %d workers, depth %zu", workers, depth);
        return NULL;
    }
    sp_decode_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->w = calloc((size_t)workers, sizeof *p->w))) {
        free(p);
        snprintf(errstr, errstr_size, "out of memory creating the decode pool");
        return NULL;
    }
    p->nw = workers;
    for (int i = 0; i < workers; i++) {
        worker *w = &p->w[i];
        w->pool = p;
        w->depth = depth;
        if (!(w->slots = calloc(depth, sizeof *w->slots)) || sem_init(&w->wake, 0, 0) != 0) {
            snprintf(errstr, errstr_size, "out of memory creating the decode pool");
            sp_decode_pool_destroy(p);
            return NULL;
        }
        w->sem_ready = 1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(errstr, errstr_size, "cannot start decode thread %d", i);
            sp_decode_pool_destroy(p);
            return NULL;
        }
        w->started = 1;
    }
    return p;
}

void sp_decode_pool_destroy(sp_decode_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    for (int i = 0; i < p->nw; i++) {
        worker *w = &p->w[i];
        if (w->started) {
            sem_post(&w->wake);
            pthread_join(w->thread, NULL);
        }
        if (w->sem_ready)
            sem_destroy(&w->wake);
        free(w->slots);
    }
    free(p->w);
    free(p);
}

int sp_decode_pool_submit(sp_decode_pool *p, const void *payload, size_t len, void *opaque)
{
    size_t i = p->next_submit;
    worker *w = &p->w[i % (size_t)p->nw];
    size_t idx = i / (size_t)p->nw;
    /* the slot held job idx - depth of this worker: it must have been collected */
    size_t collected = p->next_collect / (size_t)p->nw +
                       (p->next_collect % (size_t)p->nw > i % (size_t)p->nw);
    if (idx - collected >= w->depth)
        return -1;
    sp_decode_job *j = &w->slots[idx % w->depth];
    j->payload = payload;
    j->len = len;
    j->opaque = opaque;
    atomic_store(&w->submitted, idx + 1); /* seq_cst: pairs with `sleeping` in wake() */
    wake(w);
    p->next_submit++;
    return 0;
}

/* Job i (a submission number), when its worker has decoded it; else NULL. */
static sp_decode_job *job_if_decoded(sp_decode_pool *p, size_t i)
{
    worker *w = &p->w[i % (size_t)p->nw];
    size_t idx = i / (size_t)p->nw;
    if (atomic_load_explicit(&w->decoded, memory_order_acquire) <= idx)
        return NULL;
    return &w->slots[idx % w->depth];
}

sp_decode_job *sp_decode_pool_peek(sp_decode_pool *p, int wait)
{
    if (p->next_collect == p->next_submit)
        return NULL;
    sp_decode_job *j;
    for (unsigned spins = 0; !(j = job_if_decoded(p, p->next_collect)); spins++) {
        if (!wait)
            return NULL;
        if (spins > 64 && spins <= 96) {
            sched_yield();
        } else if (spins > 96) { /* the workers are busy: give them the core */
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    return j;
}

sp_decode_job *sp_decode_pool_peek_ahead(sp_decode_pool *p, size_t ahead)
{
    size_t i = p->next_collect + ahead;
    return i < p->next_submit ? job_if_decoded(p, i) : NULL;
}

void sp_decode_pool_release(sp_decode_pool *p)
{
    if (p->next_collect < p->next_submit)
        p->next_collect++;
}

size_t sp_decode_pool_pending(const sp_decode_pool *p) { return p->next_submit - p->next_collect; }
