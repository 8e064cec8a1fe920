/*
 * decode_pool.c - see decode_pool.h for the ring protocol and its memory ordering.
 *
 * A worker takes the jobs of its ring in order. It decodes the next job before applying
 * the current one and asks the CPU to load that job's table slots (the id's in the dedup
 * set, the case's in the case index: sp_partition_prefetch), so those loads overlap the
 * apply instead of stalling the next one.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "supportpulse/decode_pool.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "supportpulse/clock.h"
#include "supportpulse/window.h"

typedef struct {
    sp_decode_job *slots;
    size_t depth;
    /* worker only: the events of the job being applied and of the next one, decoded
     * here rather than into the ring's slots, so they stay in this core's cache */
    sp_event *ev;
    _Alignas(64) atomic_size_t submitted; /* written by the pipeline thread */
    _Alignas(64) atomic_size_t done;      /* written by the worker */
    _Alignas(64) atomic_int sleeping;
    /* the pipeline thread, blocked until `done` reaches this (0: not blocked) */
    _Alignas(64) atomic_size_t want;
    sem_t wake;  /* posted by the pipeline thread: work came */
    sem_t space; /* posted by the worker: `done` reached `want` */
    pthread_t thread;
    int started, sems_ready;
    struct sp_decode_pool *pool;
    /* pipeline thread only */
    size_t nsub, ncol;     /* jobs submitted to and collected from this worker */
} worker;

struct sp_decode_pool {
    worker *w;
    int nw;
    int spare_core; /* a core beyond the workers': the pipeline thread may spin */
    atomic_int stop;
    /* pipeline thread only: the worker of each pending job, in submission order */
    int *order;
    size_t order_cap, next_submit, next_collect;
};

static void decode(worker *w, size_t i)
{
    sp_decode_job *j = &w->slots[i % w->depth];
    sp_event *ev = &w->ev[i & 1];
    j->rc = sp_event_decode(j->payload, j->len, ev, &j->reason, j->detail, sizeof j->detail);
    if (j->rc == 0)
        sp_partition_prefetch(j->part, ev);
}

static void apply(worker *w, size_t i)
{
    sp_decode_job *j = &w->slots[i % w->depth];
    if (j->rc != 0)
        return;
    j->applied = sp_partition_apply(j->part, &w->ev[i & 1], sp_wall_ms(), &j->reason,
                                    j->detail, sizeof j->detail);
    j->dirty_cells = sp_partition_dirty_cells(j->part);
}

/* The worker publishes `done` every DONE_BATCH jobs and when it runs out of work, not
 * after each job: the pipeline thread, waiting on that cache line, would otherwise take
 * it from the worker's core once per job. */
#define DONE_BATCH 16

/* Publishes `done` (seq_cst) and wakes the pipeline thread if it is blocked until then.
 * With the pipeline thread's seq_cst store of `want` and load of `done`, one of the two
 * sees the other's store, so a blocked pipeline thread is always posted (the same Dekker
 * handshake as `sleeping`). The compare-exchange makes the post happen once per block. */
static void publish_done(worker *w, size_t done)
{
    atomic_store(&w->done, done);
    size_t want = atomic_load(&w->want);
    if (want && done >= want && atomic_compare_exchange_strong(&w->want, &want, 0))
        sem_post(&w->space);
}

/* Does jobs [from, to) of w's ring; job `from` is decoded already when ahead is set. */
static void run_jobs(worker *w, size_t from, size_t to, int ahead)
{
    for (size_t i = from; i < to; i++) {
        if (!ahead)
            decode(w, i);
        if ((ahead = i + 1 < to))
            decode(w, i + 1);
        apply(w, i);
        if ((i + 1) % DONE_BATCH == 0 || i + 1 == to)
            publish_done(w, i + 1);
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    prctl(PR_SET_NAME, "sp-decode", 0, 0, 0); /* named in top -H and /proc */
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
    if (!(w->slots = calloc(depth, sizeof *w->slots)) || !(w->ev = calloc(2, sizeof *w->ev))) {
        snprintf(errstr, errstr_size, "out of memory creating the decode pool");
        return -1;
    }
    if (sem_init(&w->wake, 0, 0) != 0) {
        snprintf(errstr, errstr_size, "cannot create the decode pool's semaphores");
        return -1;
    }
    if (sem_init(&w->space, 0, 0) != 0) {
        sem_destroy(&w->wake);
        snprintf(errstr, errstr_size, "cannot create the decode pool's semaphores");
        return -1;
    }
    w->sems_ready = 1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(errstr, errstr_size, "cannot start decode thread %d", i);
        return -1;
    }
    w->started = 1;
    return 0;
}

/* The CPUs this process may run on (its affinity mask, which a cpuset narrows; a CFS
 * quota is not seen), or the online ones if the mask cannot be read. */
static int usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
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
    p->spare_core = usable_cpus() > workers;
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
        if (w->sems_ready) {
            sem_destroy(&w->wake);
            sem_destroy(&w->space);
        }
        free(w->slots);
        free(w->ev);
    }
    free(p->order);
    free(p->w);
    free(p);
}

int sp_decode_pool_workers(const sp_decode_pool *p) { return p->nw; }

void sp_decode_pool_set_blocking(sp_decode_pool *p, int block) { p->spare_core = !block; }

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

/* The worker of the oldest pending job. */
static worker *oldest_worker(sp_decode_pool *p)
{
    return &p->w[p->order[p->next_collect % p->order_cap]];
}

/* The oldest pending job, when its worker is done with it; else NULL. */
static sp_decode_job *oldest_if_done(sp_decode_pool *p)
{
    worker *w = oldest_worker(p);
    if (atomic_load_explicit(&w->done, memory_order_acquire) <= w->ncol)
        return NULL;
    return &w->slots[w->ncol % w->depth];
}

/* Blocks until the worker of the oldest pending job has done a quarter of its ring
 * more than was collected from it (or all it was given, if less): the pipeline thread
 * then collects that many outcomes in one go instead of waking for each. Sleeping, not
 * spinning, leaves the core to the decode threads when they have no core to spare. */
static void block_for_oldest(sp_decode_pool *p)
{
    worker *w = oldest_worker(p);
    size_t quarter = w->depth / 4 ? w->depth / 4 : 1;
    size_t target = w->ncol + quarter < w->nsub ? w->ncol + quarter : w->nsub;
    atomic_store(&w->want, target);
    /* done already: withdraw, unless the worker saw `want` first and posts (or posted) */
    size_t expected = target;
    if (atomic_load(&w->done) >= target &&
        atomic_compare_exchange_strong(&w->want, &expected, 0))
        return;
    while (sem_wait(&w->space) != 0) /* EINTR */
        ;
}

sp_decode_job *sp_decode_pool_peek(sp_decode_pool *p, int wait)
{
    if (p->next_collect == p->next_submit)
        return NULL;
    sp_decode_job *j;
    for (unsigned spins = 0; !(j = oldest_if_done(p)); spins++) {
        if (!wait)
            return NULL;
        if (spins < 64)
            continue;
        if (!p->spare_core) {
            block_for_oldest(p);
        } else if (spins < 96) {
            sched_yield();
        } else { /* waiting long: a spare core need not be kept busy */
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
    oldest_worker(p)->ncol++;
    p->next_collect++;
}

size_t sp_decode_pool_pending(const sp_decode_pool *p) { return p->next_submit - p->next_collect; }
