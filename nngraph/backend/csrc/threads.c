#include "kernels.h"

/* ---- threads -----------------------------------------------------------------------------------
 * A kernel that splits its work runs part 0 on the calling thread and hands every other part to a
 * worker of a small pool, started the first time it is needed. A worker that finishes a part spins for
 * the next one for up to SPIN_NS before it sleeps on a condition variable: in a training loop the next
 * parallel kernel comes within a millisecond or two, and waking a sleeping thread on a virtual machine
 * was measured at ~90 us (a pthread started per call cost as much). The spinning is why the recurrent
 * executor keeps numpy's BLAS at one thread while these kernels run: OpenBLAS's idle threads spin too,
 * and two pools spinning on the same cores slow each other down several times.
 *
 * Parts are whole multiples of `grain` items (a GEMM tile), so a split never narrows a tile. One
 * split at a time: a kernel called while another thread's split runs does all its parts itself, as
 * it does where no worker can be started. A forked child starts with no workers. */

typedef struct {
    part_body body;
    const void *job;
    Py_ssize_t start, stop;
} Part;

static void run_part(const Part *part) { part->body(part->job, part->start, part->stop); }

#if defined(_WIN32)
void run_parts(part_body body, const void *job, Py_ssize_t count, Py_ssize_t grain, int threads) {
    body(job, 0, count); /* no pthreads: one part */
}
#else
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#define SPIN_NS 2000000

typedef struct {
    atomic_uint ticket; /* bumped by the caller for each part it hands over */
    atomic_uint done;   /* the ticket of the last part finished */
    Part part;
} Worker;

static Worker workers[MAX_THREADS]; /* [0] unused: part 0 runs on the caller */
static int started = 1;             /* workers[1 .. started - 1] exist */
static atomic_int sleepers;
static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER, sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void wait_for_ticket(Worker *w, unsigned seen) {
    long long start = now_ns();
    for (unsigned polls = 1; atomic_load(&w->ticket) == seen; polls++) {
        cpu_relax();
        if (polls % 1024 == 0 && now_ns() - start > SPIN_NS) {
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&w->ticket) == seen) pthread_cond_wait(&wake, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
    }
}

static void *worker_loop(void *arg) {
    Worker *w = arg;
    unsigned seen = 0; /* its ticket when it was started: the first part may be handed over before it runs */
    for (;;) {
        wait_for_ticket(w, seen);
        seen = atomic_load(&w->ticket);
        run_part(&w->part);
        atomic_store(&w->done, seen);
    }
    return NULL;
}

/* workers up to index count - 1 (with every signal blocked: Python handles them on its main thread);
 * returns how many parts can run in parallel */
static int start_workers(int count) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; started < count; started++) {
        pthread_t id;
        Worker *w = &workers[started];
        atomic_store(&w->ticket, 0), atomic_store(&w->done, 0);
        if (pthread_create(&id, NULL, worker_loop, w) != 0) break;
        pthread_detach(id);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return started < count ? started : count;
}

static void forget_workers(void) { /* in a forked child: the workers stayed with the parent */
    started = 1;
    atomic_store(&sleepers, 0);
    pthread_mutex_init(&pool_busy, NULL), pthread_mutex_init(&sleep_lock, NULL), pthread_cond_init(&wake, NULL);
}

static void watch_forks(void) { pthread_atfork(NULL, NULL, forget_workers); }

void run_parts(part_body body, const void *job, Py_ssize_t count, Py_ssize_t grain, int threads) {
    static pthread_once_t fork_handler = PTHREAD_ONCE_INIT;
    Py_ssize_t grains = (count + grain - 1) / grain;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > grains) threads = (int)grains;
    if (threads < 2 || pthread_mutex_trylock(&pool_busy) != 0) {
        body(job, 0, count);
        return;
    }
    pthread_once(&fork_handler, watch_forks);
    int parts = start_workers(threads);
    Part all[MAX_THREADS];
    for (int t = 0; t < parts; t++) {
        all[t].body = body, all[t].job = job;
        all[t].start = grains * t / parts * grain;
        all[t].stop = t == parts - 1 ? count : grains * (t + 1) / parts * grain;
    }
    for (int t = 1; t < parts; t++) {
        workers[t].part = all[t];
        atomic_fetch_add(&workers[t].ticket, 1);
    }
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_part(&all[0]);
    for (int t = 1; t < parts; t++)
        for (unsigned polls = 1; atomic_load(&workers[t].done) != atomic_load(&workers[t].ticket); polls++)
            if (polls % 1024 == 0)
                sched_yield(); /* the worker may have lost its core */
            else
                cpu_relax();
    pthread_mutex_unlock(&pool_busy);
}
#endif
