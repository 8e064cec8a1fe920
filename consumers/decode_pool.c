/*
 * decode_pool.c - see decode_pool.h for the ring protocol and its memory ordering.
 *
 * A worker takes the jobs of its ring in order. It decodes the next job before applying
 * the current one and asks the CPU to load that job's table slots (the id's in the dedup
 * set, the case's in the case index: sp_partition_prefetch), so those loads overlap the
 * apply instead of stalling the next one.
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

#include "supportpulse/clock.h"
#include "supportpulse/window.h"

typedef struct {
    sp_decode_job *slots;
    size_t depth;
    _Alignas(64) atomic_size_t submitted; /* written by the pipeline thread */
    _Alignas(64) atomic_size_t done;      /* written by the worker */
    _Alignas(64) atomic_int sleeping;
    sem_t wake;
    pthread_t thread;
    int started, sem_ready;
    struct sp_decode_pool *pool;
    /* pipeline thread only */
    size_t nsub, ncol;     /* jobs submitted to and collected from this worker */
} worker;

struct sp_decode_pool {
    worker *w;
    int nw;
    atomic_int stop;
    /* pipeline thread only: the worker of each pending job, in submission order */
    int *order;
    size_t order_cap, next_submit, next_collect;
};

static void decode(sp_decode_job *j)
{
    j->rc = sp_event_decode(j->payload, j->len, &j->ev, &j->reason, j->detail,
                            sizeof j->detail);
    if (j->rc == 0 && j->part)
        sp_partition_prefetch(j->part, &j->ev);
}

static void apply(sp_decode_job *j)
{
    if (j->rc != 0 || !j->part)
        return;
    j->applied = sp_partition_apply(j->part, &j->ev, sp_wall_ms(), &j->reason, j->detail,
                                    sizeof j->detail);
    j->dirty_cells = sp_window_dirty_cells(sp_partition_windows(j->part));
}

/* The worker publishes `done` every DONE_BATCH jobs and when it runs out of work, not
 * after each job: the pipeline thread, waiting on that cache line, would otherwise take
 * it from the worker's core once per job. */
#define DONE_BATCH 16

/* Does jobs [from, to) of w's ring; job `from` is decoded already when ahead is set. */
static void run_jobs(worker *w, size_t from, size_t to, int ahead)
{
    for (size_t i = from; i < to; i++) {
        sp_decode_job *j = &w->slots[i % w->depth];
        if (!ahead)
            decode(j);
        if ((ahead = i + 1 < to))
            decode(&w->slots[(i + 1) % w->depth]);
        apply(j);
        if ((i + 1) % DONE_BATCH == 0 || i + 1 == to)
            atomic_store_explicit(&w->done, i + 1, memory_order_release);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    size_t done = 0; /* == w->done; only this thread writes it */
    while (!atomic_load_explicit(&w->pool->stop, memory_order_relaxed)) {
        size_t avail = atomic_load_explicit(&w->submitted, memory_order_acquire);
        if (done == avail) {
            atomic_store(&w->sleeping, 1);
            if (atomic_load(&w->submitted) == done && !atomic_load(&w->pool->stop))
                sem_wait(&w->wake);
            atomic_store(&w->sleeping, 0);
            continue;
        }
        run_jobs(w, done, avail, 0);
        done = avail;
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

static int start_worker(sp_decode_pool *p, int i, size_t depth, char *errstr,
                        size_t errstr_size)
{
    worker *w = &p->w[i];
    w->pool = p;
    w->depth = depth;
    if (!(w->slots = calloc(depth, sizeof *w->slots)) || sem_init(&w->wake, 0, 0) != 0) {
        snprintf(errstr, errstr_size, "out of memory creating the decode pool");
        return -1;
    }
    w->sem_ready = 1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(errstr, errstr_size, "cannot start decode thread %d", i);
        return -1;
    }
    w->started = 1;
    return 0;
}

sp_decode_pool *sp_decode_pool_new(int workers, size_t depth, char *errstr, size_t errstr_size)
{
    if (workers < 1 || workers > SP_DECODE_POOL_MAX_WORKERS || depth < 1) {
        snprintf(errstr, errstr_size, "decode pool: %d workers, depth %zu", workers, depth);
        return NULL;
    }
    sp_decode_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->w = calloc((size_t)workers, sizeof *p->w)) ||
        !(p->order = malloc((size_t)workers * depth * sizeof *p->order))) {
        if (p)
            free(p->w);
        free(p);
        snprintf(errstr, errstr_size, "out of memory creating the decode pool");
        return NULL;
    }
    p->nw = workers;
    p->order_cap = (size_t)workers * depth;
    for (int i = 0; i < workers; i++)
        if (start_worker(p, i, depth, errstr, errstr_size) < 0) {
            sp_decode_pool_destroy(p);
            return NULL;
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
    free(p->order);
    free(p->w);
    free(p);
}

int sp_decode_pool_workers(const sp_decode_pool *p) { return p->nw; }

int sp_decode_pool_submit(sp_decode_pool *p, int worker_no, const void *payload, size_t len,
                          sp_partition *part, void *opaque)
{
    int wi = (int)((unsigned)worker_no % (unsigned)p->nw);
    worker *w = &p->w[wi];
    if (w->nsub - w->ncol >= w->depth) /* the slot's job has not been collected */
        return -1;
    sp_decode_job *j = &w->slots[w->nsub % w->depth];
    j->payload = payload;
    j->len = len;
    j->part = part;
    j->opaque = opaque;
    p->order[p->next_submit % p->order_cap] = wi;
    w->nsub++;
    atomic_store(&w->submitted, w->nsub); /* seq_cst: pairs with `sleeping` in wake() */
    wake(w);
    p->next_submit++;
    return 0;
}

/* The oldest pending job, when its worker is done with it; else NULL. */
static sp_decode_job *oldest_if_done(sp_decode_pool *p)
{
    worker *w = &p->w[p->order[p->next_collect % p->order_cap]];
    if (atomic_load_explicit(&w->done, memory_order_acquire) <= w->ncol)
        return NULL;
    return &w->slots[w->ncol % w->depth];
}

sp_decode_job *sp_decode_pool_peek(sp_decode_pool *p, int wait)
{
    if (p->next_collect == p->next_submit)
        return NULL;
    sp_decode_job *j;
    for (unsigned spins = 0; !(j = oldest_if_done(p)); spins++) {
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

void sp_decode_pool_release(sp_decode_pool *p)
{
    if (p->next_collect == p->next_submit)
        return;
    p->w[p->order[p->next_collect % p->order_cap]].ncol++;
    p->next_collect++;
}

size_t sp_decode_pool_pending(const sp_decode_pool *p) { return p->next_submit - p->next_collect; }
