/* Fused CPU kernels for the numpy backend: the element-wise work of an LSTM step and the optimizer
 * updates, each one pass over its arrays instead of one numpy call (and one pass) per operation.
 *
 * Why C: on the sizes that matter here (an LSTM step of 32 x 128, an MLP's 270k parameters) numpy
 * spends more time in per-call overhead and extra passes over memory than in arithmetic; one loop
 * that reads each input once and writes each output once is 3-6x faster. Most GEMMs stay in numpy's
 * BLAS; the ones of a recurrent layer are here (the per-step products, too small for a BLAS to pay
 * its packing back, and the weight gradients over all steps), so that the whole-sequence LSTM kernels
 * and those gradients can split over threads of our own (see "threads"). Every kernel has a numpy
 * twin that the backend falls back to (cupy, no compiler at install time, NNGRAPH_KERNELS=0), and
 * tests hold the two to each other.
 *
 * Floating point: each kernel works in the array's dtype (float32 or float64) and is compiled without
 * contraction into FMAs (setup.py: -ffp-contract=off), so every operation rounds as numpy's ufuncs
 * do and results do not depend on which instruction set the CPU has (the optimizer kernels are
 * bit-identical to their numpy twins). The GEMMs are the exception by design: they are FMAs (like
 * every BLAS, whose summation order numpy does not fix either). The one approximation: float32 tanh
 * is a rational function (|error| < 3e-7 over every float32 input, ~5 ulp near +-1, far less near 0;
 * numpy's own is about 0.5 ulp) because libm's tanhf does not vectorize; its polynomials are explicit
 * FMAs (fmaf: one rounding each, so the same bits on every CPU; the clones below are built for
 * x86-64-v4 and v3, which have FMA, and a baseline that calls libm's fmaf). float64 uses libm's tanh.
 *
 * Arrays come in through the buffer protocol (no numpy headers needed to build): each is checked for
 * dtype, shape and a contiguous last axis; any mismatch raises TypeError or ValueError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
/* one body, compiled for x86-64-v4 (AVX-512), v3 (AVX2, FMA) and plain x86-64; the loader picks the best
 * the CPU runs */
#if __GNUC__ >= 11
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else /* no x86-64-vN names: AVX-512 and AVX2 clones, whose fmaf is libm's (slower, the same bits) */
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#else
#define CLONES
#endif

#if defined(__clang__)
#define IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define IVDEP _Pragma("GCC ivdep")
#else
#define IVDEP
#endif

/* ---- tanh ------------------------------------------------------------------------------------ */

/* tanh(x) for float32 as a [13/6] rational function of x on [-7.9, 7.9] (beyond, tanh rounds to +-1
 * in float32): the approximation Eigen uses. Plain arithmetic, so the loops around it vectorize. */
static inline float tanh_f32(float x) {
    const float clamp = 7.90531110763549805f;
    float xc = x > clamp ? clamp : (x < -clamp ? -clamp : x);
    float x2 = xc * xc;
    float p = fmaf(x2, -2.76076847742355e-16f, 2.00018790482477e-13f);
    p = fmaf(p, x2, -8.60467152213735e-11f);
    p = fmaf(p, x2, 5.12229709037114e-08f);
    p = fmaf(p, x2, 1.48572235717979e-05f);
    p = fmaf(p, x2, 6.37261928875436e-04f);
    p = fmaf(p, x2, 4.89352455891786e-03f);
    p = p * xc;
    float q = fmaf(x2, 1.19825839466702e-06f, 1.18534705686654e-04f);
    q = fmaf(q, x2, 2.26843463243900e-03f);
    q = fmaf(q, x2, 4.89352518554385e-03f);
    return p / q;
}

static inline double tanh_f64(double x) { return tanh(x); }

/* ---- the LSTM step ----------------------------------------------------------------------------
 * Layouts as in nngraph/ops/recurrent.py: pre-activations (n, 4h) in slot order i, f, o, g with the
 * sigmoid slots halved (sigmoid(a) = 0.5 tanh(a / 2) + 0.5), gate values in slots (4, n, h) whose
 * slot stride is `slot` elements, gradients of pre-activations (n, 4h) in parameter order i, f, g, o. */

#define LSTM_KERNELS(T, TANH)                                                                          \
    CLONES static void lstm_forward_##T(const T *pre, const T *rec, const T *c_prev, T *gates,         \
                                        Py_ssize_t slot, T *c, T *tanh_c, T *h, Py_ssize_t n,          \
                                        Py_ssize_t width) {                                            \
        for (Py_ssize_t r = 0; r < n; r++) {                                                           \
            const T *p = pre + r * 4 * width, *q = rec ? rec + r * 4 * width : NULL;                   \
            T *gi = gates + r * width, *gf = gi + slot, *go = gf + slot, *gg = go + slot;              \
            const T *cp = c_prev + r * width;                                                          \
            T *cr = c + r * width, *tr = tanh_c + r * width, *hr = h + r * width;                      \
            if (q) {                                                                                   \
                IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                         \
                    gi[j] = p[j] + q[j];                                                               \
                    gf[j] = p[width + j] + q[width + j];                                               \
                    go[j] = p[2 * width + j] + q[2 * width + j];                                       \
                    gg[j] = p[3 * width + j] + q[3 * width + j];                                       \
                }                                                                                      \
            } else {                                                                                   \
                IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                         \
                    gi[j] = p[j];                                                                      \
                    gf[j] = p[width + j];                                                              \
                    go[j] = p[2 * width + j];                                                          \
                    gg[j] = p[3 * width + j];                                                          \
                }                                                                                      \
            }                                                                                          \
            IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                             \
                T i = (T)0.5 * TANH(gi[j]) + (T)0.5, f = (T)0.5 * TANH(gf[j]) + (T)0.5;                \
                T o = (T)0.5 * TANH(go[j]) + (T)0.5, g = TANH(gg[j]);                                  \
                T cc = f * cp[j] + i * g;                                                              \
                T t = TANH(cc);                                                                        \
                gi[j] = i, gf[j] = f, go[j] = o, gg[j] = g;                                            \
                cr[j] = cc, tr[j] = t, hr[j] = o * t;                                                  \
            }                                                                                          \
        }                                                                                              \
    }                                                                                                  \
                                                                                                       \
    CLONES static void lstm_backward_##T(const T *gates, Py_ssize_t slot, const T *c_prev,             \
                                         const T *tanh_c, const T *dh, T *dc, T *da, Py_ssize_t n,     \
                                         Py_ssize_t width) {                                           \
        for (Py_ssize_t r = 0; r < n; r++) {                                                           \
            const T *gi = gates + r * width, *gf = gi + slot, *go = gf + slot, *gg = go + slot;        \
            T *di = da + r * 4 * width, *df = di + width, *dg = df + width, *dout = dg + width;        \
            const T *cp = c_prev + r * width, *tr = tanh_c + r * width, *hr = dh + r * width;          \
            T *dcr = dc + r * width;                                                                   \
            IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                             \
                T i = gi[j], f = gf[j], o = go[j], g = gg[j], t = tr[j], d = hr[j];                    \
                T total = dcr[j] + d * o * ((T)1 - t * t);                                             \
                di[j] = total * g * (i - i * i);                                                       \
                df[j] = total * cp[j] * (f - f * f);                                                   \
                dg[j] = total * i * ((T)1 - g * g);                                                    \
                dout[j] = d * t * (o - o * o);                                                         \
                dcr[j] = total * f;                                                                    \
            }                                                                                          \
        }                                                                                              \
    }

LSTM_KERNELS(float, tanh_f32)
LSTM_KERNELS(double, tanh_f64)

/* An Elman step's activation and its vjp, over n values: h = tanh(h + pre) (h holds h_prev @ W), and
 * da = dh * (1 - h * h) */
CLONES static void add_tanh_float(const float *pre, float *h, Py_ssize_t n) {
    IVDEP for (Py_ssize_t j = 0; j < n; j++) h[j] = tanh_f32(h[j] + pre[j]);
}

CLONES static void tanh_vjp_float(const float *h, const float *dh, float *da, Py_ssize_t n) {
    IVDEP for (Py_ssize_t j = 0; j < n; j++) da[j] = dh[j] * (1.0f - h[j] * h[j]);
}

/* A GRU step over n rows of width w (gate blocks r, z, n as in nngraph/ops/recurrent.py): pre (n, 3w) the
 * inputs' product and bias, hu (n, 3w) = h_prev @ U; writes rz (n, 2w), the candidate nn (n, w) and h. */
CLONES static void gru_forward_float(const float *pre, const float *hu, const float *h_prev, float *rz, float *nn,
                                     float *h, Py_ssize_t n, Py_ssize_t w) {
    for (Py_ssize_t row = 0; row < n; row++) {
        const float *p = pre + row * 3 * w, *u = hu + row * 3 * w, *hp = h_prev + row * w;
        float *r = rz + row * 2 * w, *z = r + w, *c = nn + row * w, *out = h + row * w;
        IVDEP for (Py_ssize_t j = 0; j < w; j++) {
            float rj = 0.5f * tanh_f32(0.5f * (p[j] + u[j])) + 0.5f;
            float zj = 0.5f * tanh_f32(0.5f * (p[w + j] + u[w + j])) + 0.5f;
            float cj = tanh_f32(p[2 * w + j] + rj * u[2 * w + j]);
            r[j] = rj, z[j] = zj, c[j] = cj;
            out[j] = (hp[j] - cj) * zj + cj;
        }
    }
}

/* Its vjp: g (n, w) the gradient of h; writes the pre-activation gradients gx (n, 3w) and ghu (n, 3w), the
 * gradient of hu, and adds g * z to dh_prev */
CLONES static void gru_backward_float(const float *g, const float *rz, const float *nn, const float *hu,
                                      const float *h_prev, float *gx, float *ghu, float *dh_prev, Py_ssize_t n,
                                      Py_ssize_t w) {
    for (Py_ssize_t row = 0; row < n; row++) {
        const float *gr = g + row * w, *r = rz + row * 2 * w, *z = r + w, *c = nn + row * w;
        const float *u = hu + row * 3 * w, *hp = h_prev + row * w;
        float *dx = gx + row * 3 * w, *du = ghu + row * 3 * w, *dp = dh_prev + row * w;
        IVDEP for (Py_ssize_t j = 0; j < w; j++) {
            float dn = gr[j] * (1.0f - z[j]) * (1.0f - c[j] * c[j]);
            float dr = dn * u[2 * w + j] * (r[j] * (1.0f - r[j]));
            float dz = gr[j] * (hp[j] - c[j]) * (z[j] * (1.0f - z[j]));
            dx[j] = dr, dx[w + j] = dz, dx[2 * w + j] = dn;
            du[j] = dr, du[w + j] = dz, du[2 * w + j] = dn * r[j];
            dp[j] += gr[j] * z[j];
        }
    }
}

/* sums[j] += row[j], in double: the bias gradient of a whole sequence, one row at a time */
CLONES static void add_to_sums(double *sums, const float *row, Py_ssize_t n) {
    IVDEP for (Py_ssize_t j = 0; j < n; j++) sums[j] += row[j];
}

/* ---- optimizer updates (PyTorch's formulas, as nngraph/train/optimizers.py) -------------------- */

#define OPTIMIZER_KERNELS(T, SQRT)                                                                         \
    CLONES static void sgd_##T(T *param, T *buf, const T *grad, Py_ssize_t n, T lr, T momentum,        \
                               int nesterov) {                                                         \
        if (!buf) {                                                                                    \
            IVDEP for (Py_ssize_t k = 0; k < n; k++) param[k] -= grad[k] * lr;                         \
        } else if (nesterov) {                                                                         \
            IVDEP for (Py_ssize_t k = 0; k < n; k++) {                                                 \
                T b = buf[k] * momentum + grad[k];                                                     \
                buf[k] = b;                                                                            \
                param[k] -= (b * momentum + grad[k]) * lr;                                             \
            }                                                                                          \
        } else {                                                                                       \
            IVDEP for (Py_ssize_t k = 0; k < n; k++) {                                                 \
                T b = buf[k] * momentum + grad[k];                                                     \
                buf[k] = b;                                                                            \
                param[k] -= b * lr;                                                                    \
            }                                                                                          \
        }                                                                                              \
    }                                                                                                  \
                                                                                                       \
    CLONES static void adam_##T(T *param, T *m, T *v, const T *grad, Py_ssize_t n, T beta1, T beta2,   \
                                T keep1, T keep2, T step_size, T correction2_sqrt, T eps) {            \
        IVDEP for (Py_ssize_t k = 0; k < n; k++) {                                                     \
            T g = grad[k];                                                                             \
            T mk = m[k] * beta1 + g * keep1;                                                           \
            T vk = v[k] * beta2 + g * g * keep2;                                                       \
            m[k] = mk, v[k] = vk;                                                                      \
            T denom = SQRT(vk) / correction2_sqrt + eps;                                               \
            param[k] -= mk / denom * step_size;                                                        \
        }                                                                                              \
    }

OPTIMIZER_KERNELS(float, sqrtf)
OPTIMIZER_KERNELS(double, sqrt)


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

#define MAX_THREADS 64
typedef void (*part_body)(const void *job, Py_ssize_t start, Py_ssize_t stop);
typedef struct {
    part_body body;
    const void *job;
    Py_ssize_t start, stop;
} Part;

static void run_part(const Part *part) { part->body(part->job, part->start, part->stop); }

#if defined(_WIN32)
static void run_parts(part_body body, const void *job, Py_ssize_t count, Py_ssize_t grain, int threads) {
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

static void run_parts(part_body body, const void *job, Py_ssize_t count, Py_ssize_t grain, int threads) {
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

/* ---- small float32 GEMM ------------------------------------------------------------------------
 * C (m, n) = A (m, k) @ B (k, n), or C += A @ B: the per-step products of a recurrent layer (batch 32,
 * width 128: C is 32 x 512). BLAS libraries pack B into a buffer on every call, which a product this
 * small never pays back; here B is read in place, a tile of 8 rows x 32 columns of C stays in 16
 * AVX-512 registers over the whole k loop, and A's values are broadcast from memory. That is FMA-bound
 * (about 2x OpenBLAS on these shapes, as fast as MKL). Only with AVX-512 (checked at import, see
 * `small_gemm`); elsewhere the caller uses numpy's matmul. */

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_SMALL_GEMM 1
#include <immintrin.h>

#define TILE_ROWS 8

__attribute__((target("avx512f"), always_inline)) static inline void
gemm_tile(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
          Py_ssize_t k, const int rows, __mmask16 mask0, __mmask16 mask1, const float *bias, int accumulate,
          const int a_transposed) {
    __m512 acc[TILE_ROWS][2];
    __m512 start0 = bias ? _mm512_maskz_loadu_ps(mask0, bias) : _mm512_setzero_ps();
    __m512 start1 = bias ? _mm512_maskz_loadu_ps(mask1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) acc[r][0] = start0, acc[r][1] = start1;
    for (Py_ssize_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(mask0, b + p * ldb);
        __m512 b1 = _mm512_maskz_loadu_ps(mask1, b + p * ldb + 16);
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            __m512 av = _mm512_set1_ps(a_transposed ? a[p * lda + r] : a[r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        if (accumulate) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(mask0, cr));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(mask1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, mask0, acc[r][0]);
        _mm512_mask_storeu_ps(cr + 16, mask1, acc[r][1]);
    }
}

/* One strip of w <= 32 columns of C over all m rows: tiles of TILE_ROWS rows, then single rows. Row i of
 * A (as gemm_tile reads it: lda and a_transposed) starts at a + (i - i % 8) * tile_scale + (i % 8) *
 * row_scale: tile_scale = row_scale = lda for A itself, 1 and 1 for A transposed, the depth k and 1 for
 * A transposed and packed tile by tile (each tile's k x 8 values contiguous, lda 8). */
__attribute__((target("avx512f"), always_inline)) static inline void
gemm_strip(const float *a, Py_ssize_t lda, Py_ssize_t tile_scale, Py_ssize_t row_scale, const float *b,
           Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t k, Py_ssize_t w, const float *bias,
           int accumulate, const int a_transposed) {
    __mmask16 mask0 = w >= 16 ? 0xFFFF : (__mmask16)((1u << w) - 1);
    __mmask16 mask1 = w <= 16 ? 0 : (__mmask16)((1u << (w - 16)) - 1);
    Py_ssize_t i = 0, tiled = m - m % TILE_ROWS;
    if (w == 32) /* full strips: constant masks, so plain loads and stores */
        for (; i < tiled; i += TILE_ROWS)
            gemm_tile(a + i * tile_scale, lda, b, ldb, c + i * ldc, ldc, k, TILE_ROWS, 0xFFFF, 0xFFFF, bias,
                      accumulate, a_transposed);
    else
        for (; i < tiled; i += TILE_ROWS)
            gemm_tile(a + i * tile_scale, lda, b, ldb, c + i * ldc, ldc, k, TILE_ROWS, mask0, mask1, bias,
                      accumulate, a_transposed);
    for (; i < m; i++)
        gemm_tile(a + tiled * tile_scale + (i - tiled) * row_scale, lda, b, ldb, c + i * ldc, ldc, k, 1, mask0,
                  mask1, bias, accumulate, a_transposed);
}

/* C (m, n) = A (m, k) @ B (k, n) [+ bias (n,), added first] [+ C] */
__attribute__((target("avx512f"))) static void
small_gemm_f32(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
               Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *bias, int accumulate) {
    /* column strips outside, so a 32-column strip of B stays in cache while every row block uses it */
    for (Py_ssize_t j = 0; j < n; j += 32)
        gemm_strip(a, lda, lda, lda, b + j, ldb, c + j, ldc, m, k, n - j < 32 ? n - j : 32,
                   bias ? bias + j : NULL, accumulate, 0);
}

/* B (k, n) strip by strip: each 32-column strip's k rows contiguous (the last strip's unused columns
 * left unwritten), k * n rounded up to 32 floats. For a B that many products read, such as the weights
 * of a recurrent layer at every step: in place, its rows 2 KiB apart fall into a few L1 sets and evict
 * each other, so every row tile of C would read its strip from L2 again. */
static Py_ssize_t strips_size(Py_ssize_t k, Py_ssize_t n) { return k * ((n + 31) / 32 * 32); }

/* The LSTM's slot order (see the LSTM step above): column d of a slot-ordered (..., 4w) array is column
 * slot_column(d) of the parameter, times *scale (0.5 in the halved sigmoid slots). */
static const int SLOT_BLOCKS[4] = {0, 1, 3, 2}; /* the parameter block (i, f, g, o) each slot holds */

static Py_ssize_t slot_column(Py_ssize_t d, Py_ssize_t width, float *scale) {
    Py_ssize_t slot = d / width;
    *scale = slot < 3 ? 0.5f : 1.0f;
    return SLOT_BLOCKS[slot] * width + d % width;
}

/* B (k, n), element (p, d) at b[p * row_stride + d * col_stride] (col_stride > 1: B is a transposed
 * view), packed; in slot order when slot_width > 0 (n = 4 * slot_width, b in parameter order) */
static void pack_strips(const float *b, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t k, Py_ssize_t n,
                        Py_ssize_t slot_width, float *packed) {
    /* strip by strip, row by row: the writes are sequential and the reads are one run of 32 values (B in
     * place) or 32 sequential streams (B transposed) */
    for (Py_ssize_t j = 0; j < n; j += 32) {
        Py_ssize_t w = n - j < 32 ? n - j : 32, offset[32] = {0};
        float scale[32] = {0};
        for (Py_ssize_t d = 0; d < w; d++) {
            scale[d] = 1.0f;
            offset[d] = (slot_width > 0 ? slot_column(j + d, slot_width, &scale[d]) : j + d) * col_stride;
        }
        int run = col_stride == 1; /* one run of columns with one scale: a loop that vectorizes */
        for (Py_ssize_t d = 1; d < w; d++) run = run && offset[d] == offset[0] + d && scale[d] == scale[0];
        float *target = packed + j * k;
        for (Py_ssize_t p = 0; p < k; p++, target += 32) {
            const float *row = b + p * row_stride;
            if (run)
                for (Py_ssize_t d = 0; d < w; d++) target[d] = row[offset[0] + d] * scale[0];
            else
                for (Py_ssize_t d = 0; d < w; d++) target[d] = row[offset[d]] * scale[d];
        }
    }
}

/* small_gemm_f32 with B packed by pack_strips; k in blocks of GEMM_K_BLOCK rows, so that the block of a
 * strip that every row tile reads (32 KiB) stays in L1 (a backward step's k is 4 * width) */
#define GEMM_K_BLOCK 256
__attribute__((target("avx512f"))) static void
strips_gemm_f32(const float *a, Py_ssize_t lda, const float *packed_b, float *c, Py_ssize_t ldc, Py_ssize_t m,
                Py_ssize_t n, Py_ssize_t k, const float *bias, int accumulate) {
    for (Py_ssize_t j = 0; j < n; j += 32)
        for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK)
            gemm_strip(a + p, lda, lda, lda, packed_b + j * k + p * 32, 32, c + j, ldc, m,
                       k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK, n - j < 32 ? n - j : 32,
                       p == 0 && bias ? bias + j : NULL, accumulate || p > 0, 0);
}

/* C = A^T @ B, or C += A^T @ B, for A (k, m) and B (k, n): a weight gradient over every step of a
 * sequence (k = steps * batch rows). Unlike the per-step products these are worth packing, in blocks of
 * GEMM_K_BLOCK rows of A and B: A's block tile by tile, each tile's values in the order the kernel
 * reads them (`pack_transposed`, once for all columns of C), and a 32-column strip of B's block into
 * 32 KiB that stays in L1 while every tile of C uses it (read in place, rows 2 KiB apart fall into a
 * few L1 sets and evict each other). */
static Py_ssize_t packed_size(Py_ssize_t m, Py_ssize_t k) {
    return k * (m + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS;
}

/* The columns of A (k, m) as columns [offset, offset + m) of the A that transposed_gemm_f32 reads
 * (total_m columns, several arrays side by side): block after block of GEMM_K_BLOCK rows, each block
 * tile after tile of 8 columns, each tile row after row (the last tile's unused slots left unwritten) */
static void pack_transposed(const float *a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k, Py_ssize_t offset,
                            Py_ssize_t total_m, float *packed) {
    Py_ssize_t stride = packed_size(total_m, 1);
    for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK) {
        Py_ssize_t depth = k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK;
        float *block = packed + p * stride;
        for (Py_ssize_t c = 0; c < m;) {
            Py_ssize_t v = offset + c, lane = v % TILE_ROWS, run = TILE_ROWS - lane < m - c ? TILE_ROWS - lane : m - c;
            float *tile = block + (v - lane) * depth + lane;
            if (run == TILE_ROWS) /* a constant size: the copy becomes one vector move, not a call */
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(tile + q * TILE_ROWS, a + (p + q) * lda + c, TILE_ROWS * sizeof(float));
            else
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(tile + q * TILE_ROWS, a + (p + q) * lda + c, run * sizeof(float));
            c += run;
        }
    }
}

/* columns [j0, j1) of C, from A packed by pack_transposed */
__attribute__((target("avx512f"))) static void
transposed_gemm_f32(const float *packed_a, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t m,
                    Py_ssize_t k, int accumulate, Py_ssize_t j0, Py_ssize_t j1) {
    float packed_b[GEMM_K_BLOCK * 32] __attribute__((aligned(64)));
    Py_ssize_t stride = packed_size(m, 1);
    if (k == 0 && !accumulate) /* an empty sum */
        for (Py_ssize_t i = 0; i < m; i++) memset(c + i * ldc + j0, 0, (j1 - j0) * sizeof(float));
    for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK) {
        Py_ssize_t depth = k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK;
        for (Py_ssize_t j = j0; j < j1; j += 32) {
            Py_ssize_t w = j1 - j < 32 ? j1 - j : 32;
            if (w == 32) /* as above */
                for (Py_ssize_t q = 0; q < depth; q++) memcpy(packed_b + q * 32, b + (p + q) * ldb + j, 32 * sizeof(float));
            else
                for (Py_ssize_t q = 0; q < depth; q++) memcpy(packed_b + q * 32, b + (p + q) * ldb + j, w * sizeof(float));
            gemm_strip(packed_a + p * stride, TILE_ROWS, depth, 1, packed_b, 32, c + j, ldc, m, depth, w, NULL,
                       accumulate || p > 0, 1);
        }
    }
}

static int small_gemm_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
#define HAVE_SMALL_GEMM 0
static int small_gemm_supported(void) { return 0; }
#endif


/* ---- max pooling -------------------------------------------------------------------------------
 * Forward over an already padded (images, h, w) stack (images = N * C): each window's maximum and the
 * number i * kw + j of the offset where it was first found (ties go to the first, as argmax). Backward:
 * each window's gradient added at that offset of a zeroed (images, h, w) stack. One pass each, where the
 * numpy twin makes kh * kw passes of four operations over every output (nngraph/ops/pool.py). */

#define MAXPOOL_KERNELS(T)                                                                             \
    /* kernel offsets outside, a row of windows inside: the comparisons become selects, not the     \
     * unpredictable branches a window-by-window loop takes on real data */                           \
    CLONES static void maxpool_forward_##T(const T *x, T *best, int32_t *argmax, Py_ssize_t images,   \
                                           Py_ssize_t h, Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw,   \
                                           Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo) { \
        for (Py_ssize_t m = 0; m < images; m++)                                                        \
            for (Py_ssize_t oh = 0; oh < ho; oh++) {                                                   \
                const T *band = x + m * h * w + oh * sh * w;                                           \
                T *top = best + (m * ho + oh) * wo;                                                    \
                int32_t *where = argmax + (m * ho + oh) * wo;                                          \
                for (Py_ssize_t ow = 0; ow < wo; ow++) top[ow] = band[ow * sw], where[ow] = 0;         \
                for (Py_ssize_t k = 1; k < kh * kw; k++) {                                             \
                    const T *row = band + (k / kw) * w + k % kw;                                       \
                    for (Py_ssize_t ow = 0; ow < wo; ow++) {                                           \
                        T v = row[ow * sw];                                                            \
                        int better = v > top[ow];                                                      \
                        top[ow] = better ? v : top[ow];                                                \
                        where[ow] = better ? (int32_t)k : where[ow];                                   \
                    }                                                                                  \
                }                                                                                      \
            }                                                                                          \
    }                                                                                                  \
                                                                                                       \
    static void maxpool_backward_##T(const T *g, const int32_t *argmax, T *out, Py_ssize_t images,    \
                                     Py_ssize_t h, Py_ssize_t w, Py_ssize_t kw, Py_ssize_t sh,         \
                                     Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo) {                    \
        for (Py_ssize_t m = 0; m < images; m++) {                                                      \
            T *image = out + m * h * w;                                                                \
            for (Py_ssize_t oh = 0; oh < ho; oh++)                                                     \
                for (Py_ssize_t ow = 0; ow < wo; ow++) {                                               \
                    Py_ssize_t at = (m * ho + oh) * wo + ow, k = argmax[at];                           \
                    image[(oh * sh + k / kw) * w + ow * sw + k % kw] += g[at];                         \
                }                                                                                      \
        }                                                                                              \
    }

MAXPOOL_KERNELS(float)
MAXPOOL_KERNELS(double)

/* ---- argument checking ------------------------------------------------------------------------- */

enum { F32 = 1, F64 = 2 };

typedef struct {
    Py_buffer view;
    int held;
} Arg;

static int dtype_of(const Py_buffer *view) {
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (view->itemsize == 4 && strcmp(f, "f") == 0) return F32;
    if (view->itemsize == 8 && strcmp(f, "d") == 0) return F64;
    return 0;
}

/* Take `obj` as an array of `ndim` axes whose last axis (and, for ndim >= 2, every axis after the
 * first) is contiguous; `dtype` is set from the first array and every later one must match. */
static int take(Arg *arg, PyObject *obj, const char *name, int ndim, int writable, int *dtype) {
    arg->held = 0;
    int flags = PyBUF_RECORDS_RO | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &arg->view, flags) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a %sfloat32 or float64 array", name,
                     writable ? "writable " : "");
        return -1;
    }
    arg->held = 1;
    Py_buffer *v = &arg->view;
    int kind = dtype_of(v);
    if (!kind || (*dtype && kind != *dtype)) {
        PyErr_Format(PyExc_TypeError, "%s must be float32 or float64, like the other arrays", name);
        return -1;
    }
    *dtype = kind;
    if (v->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s must have %d axes, not %d", name, ndim, v->ndim);
        return -1;
    }
    Py_ssize_t expected = v->itemsize;
    for (int axis = ndim - 1; axis >= 1; axis--) {
        if (v->strides[axis] != expected) {
            PyErr_Format(PyExc_ValueError, "%s must be contiguous after its first axis", name);
            return -1;
        }
        expected *= v->shape[axis];
    }
    if (ndim == 1 && v->strides[0] != v->itemsize) {
        PyErr_Format(PyExc_ValueError, "%s must be contiguous", name);
        return -1;
    }
    if (ndim >= 2 && v->strides[0] % v->itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s has a stride that is not a whole number of items", name);
        return -1;
    }
    return 0;
}

static void release(Arg *args, int count) {
    for (int k = 0; k < count; k++)
        if (args[k].held) PyBuffer_Release(&args[k].view);
}

/* the end of every entry point: release what was taken; None, or NULL with the exception set */
static PyObject *finish(Arg *args, int count, int ok) {
    release(args, count);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static int same_shape(const Arg *a, Py_ssize_t rows, Py_ssize_t cols, const char *name) {
    if (a->view.shape[0] != rows || a->view.shape[1] != cols) {
        PyErr_Format(PyExc_ValueError, "%s must have shape (%zd, %zd)", name, rows, cols);
        return -1;
    }
    if (a->view.strides[0] != cols * a->view.itemsize) {
        PyErr_Format(PyExc_ValueError, "%s must be contiguous", name);
        return -1;
    }
    return 0;
}

/* the gate slots of an LSTM: (4, rows, width), each slot's rows contiguous */
static int gates_fit(const Arg *gates, Py_ssize_t rows, Py_ssize_t width) {
    const Py_buffer *v = &gates->view;
    if (v->shape[0] != 4 || v->shape[1] != rows || v->shape[2] != width) {
        PyErr_Format(PyExc_ValueError, "gates must have shape (4, %zd, %zd)", rows, width);
        return -1;
    }
    return 0;
}


/* ---- Python entry points ----------------------------------------------------------------------- */

PyDoc_STRVAR(lstm_forward_doc,
"lstm_forward(pre, rec, c_prev, gates, c, tanh_c, h)\n\n"
"One LSTM step. pre (n, 4h): pre-activations in slot order with halved sigmoid slots; rec: the same\n"
"layout, added to pre, or None. gates (4, n, h): receives the gate values (i, f, o, g). c, tanh_c and\n"
"h (n, h) receive the cell, its tanh and the output; c_prev (n, h) is the previous cell.");

static PyObject *py_lstm_forward(PyObject *self, PyObject *args) {
    PyObject *o[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO:lstm_forward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6]))
        return NULL;
    Arg a[7];
    memset(a, 0, sizeof a);
    int dtype = 0, has_rec = o[1] != Py_None;
    static const char *names[7] = {"pre", "rec", "c_prev", "gates", "c", "tanh_c", "h"};
    static const int dims[7] = {2, 2, 2, 3, 2, 2, 2}, writes[7] = {0, 0, 0, 1, 1, 1, 1};
    for (int k = 0; k < 7; k++)
        if ((k != 1 || has_rec) && take(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0) goto fail;
    Py_ssize_t n = a[2].view.shape[0], width = a[2].view.shape[1];
    if (same_shape(&a[0], n, 4 * width, "pre") < 0 || (has_rec && same_shape(&a[1], n, 4 * width, "rec") < 0))
        goto fail;
    for (int k = 4; k < 7; k++)
        if (same_shape(&a[k], n, width, names[k]) < 0) goto fail;
    if (gates_fit(&a[3], n, width) < 0) goto fail;
    Py_ssize_t slot = a[3].view.strides[0] / a[3].view.itemsize;
    Py_BEGIN_ALLOW_THREADS
    if (dtype == F32)
        lstm_forward_float(a[0].view.buf, has_rec ? a[1].view.buf : NULL, a[2].view.buf, a[3].view.buf, slot,
                           a[4].view.buf, a[5].view.buf, a[6].view.buf, n, width);
    else
        lstm_forward_double(a[0].view.buf, has_rec ? a[1].view.buf : NULL, a[2].view.buf, a[3].view.buf, slot,
                            a[4].view.buf, a[5].view.buf, a[6].view.buf, n, width);
    Py_END_ALLOW_THREADS
    return finish(a, 7, 1);
fail:
    return finish(a, 7, 0);
}

PyDoc_STRVAR(lstm_backward_doc,
"lstm_backward(gates, c_prev, tanh_c, dh, dc, da)\n\n"
"The vjp of one LSTM step. gates (4, n, h) and tanh_c (n, h) as lstm_forward left them; dh (n, h): the\n"
"gradient of h; dc (n, h): in, the gradient of c, out, that of c_prev. da (n, 4h) receives the\n"
"gradient of the pre-activations in parameter column order (i, f, g, o).");

static PyObject *py_lstm_backward(PyObject *self, PyObject *args) {
    PyObject *o[6];
    if (!PyArg_ParseTuple(args, "OOOOOO:lstm_backward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5])) return NULL;
    Arg a[6];
    memset(a, 0, sizeof a);
    int dtype = 0;
    static const char *names[6] = {"gates", "c_prev", "tanh_c", "dh", "dc", "da"};
    static const int dims[6] = {3, 2, 2, 2, 2, 2}, writes[6] = {0, 0, 0, 0, 1, 1};
    for (int k = 0; k < 6; k++)
        if (take(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0) goto fail;
    Py_ssize_t n = a[1].view.shape[0], width = a[1].view.shape[1];
    for (int k = 1; k < 5; k++)
        if (same_shape(&a[k], n, width, names[k]) < 0) goto fail;
    if (same_shape(&a[5], n, 4 * width, "da") < 0) goto fail;
    if (gates_fit(&a[0], n, width) < 0) goto fail;
    Py_ssize_t slot = a[0].view.strides[0] / a[0].view.itemsize;
    Py_BEGIN_ALLOW_THREADS
    if (dtype == F32)
        lstm_backward_float(a[0].view.buf, slot, a[1].view.buf, a[2].view.buf, a[3].view.buf, a[4].view.buf,
                            a[5].view.buf, n, width);
    else
        lstm_backward_double(a[0].view.buf, slot, a[1].view.buf, a[2].view.buf, a[3].view.buf, a[4].view.buf,
                             a[5].view.buf, n, width);
    Py_END_ALLOW_THREADS
    return finish(a, 6, 1);
fail:
    return finish(a, 6, 0);
}

/* every array of an update: contiguous, one dtype, the parameter's size */
static int take_flat(Arg *a, PyObject **o, const char **names, int count, int *dtype) {
    for (int k = 0; k < count; k++) {
        if (o[k] == Py_None) continue;
        int writable = k < count - 1;  /* the gradient, last, is only read */
        if (take(&a[k], o[k], names[k], 1, writable, dtype) < 0) return -1;
        if (a[k].view.shape[0] != a[0].view.shape[0]) {
            PyErr_Format(PyExc_ValueError, "%s must have as many values as param", names[k]);
            return -1;
        }
    }
    return 0;
}

PyDoc_STRVAR(sgd_doc,
"sgd(param, buf, grad, lr, momentum, nesterov)\n\n"
"torch.optim.SGD's step in place over flat contiguous arrays: buf = momentum * buf + grad, then\n"
"param -= lr * buf (nesterov: lr * (grad + momentum * buf)). buf None: plain param -= lr * grad.");

static PyObject *py_sgd(PyObject *self, PyObject *args) {
    PyObject *o[3];
    double lr, momentum;
    int nesterov, dtype = 0;
    if (!PyArg_ParseTuple(args, "OOOddp:sgd", &o[0], &o[1], &o[2], &lr, &momentum, &nesterov)) return NULL;
    Arg a[3];
    memset(a, 0, sizeof a);
    static const char *names[3] = {"param", "buf", "grad"};
    if (o[0] == Py_None || o[2] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "param and grad must be arrays");
        return NULL;
    }
    if (take_flat(a, o, names, 3, &dtype) < 0) return finish(a, 3, 0);
    void *param = a[0].view.buf, *buf = o[1] == Py_None ? NULL : a[1].view.buf, *grad = a[2].view.buf;
    Py_ssize_t n = a[0].view.shape[0];
    Py_BEGIN_ALLOW_THREADS
    if (dtype == F32)
        sgd_float(param, buf, grad, n, (float)lr, (float)momentum, nesterov);
    else
        sgd_double(param, buf, grad, n, lr, momentum, nesterov);
    Py_END_ALLOW_THREADS
    return finish(a, 3, 1);
}

PyDoc_STRVAR(adam_doc,
"adam(param, exp_avg, exp_avg_sq, grad, beta1, beta2, step_size, correction2_sqrt, eps)\n\n"
"torch.optim.Adam's step in place over flat contiguous arrays, with this step's bias corrections:\n"
"step_size = lr / (1 - beta1^t), correction2_sqrt = sqrt(1 - beta2^t).");

static PyObject *py_adam(PyObject *self, PyObject *args) {
    PyObject *o[4];
    double b1, b2, step, c2, eps;
    int dtype = 0;
    if (!PyArg_ParseTuple(args, "OOOOddddd:adam", &o[0], &o[1], &o[2], &o[3], &b1, &b2, &step, &c2, &eps))
        return NULL;
    Arg a[4];
    memset(a, 0, sizeof a);
    static const char *names[4] = {"param", "exp_avg", "exp_avg_sq", "grad"};
    for (int k = 0; k < 4; k++)
        if (o[k] == Py_None) {
            PyErr_Format(PyExc_TypeError, "%s must be an array", names[k]);
            return NULL;
        }
    if (take_flat(a, o, names, 4, &dtype) < 0) return finish(a, 4, 0);
    void *p = a[0].view.buf, *m = a[1].view.buf, *v = a[2].view.buf, *g = a[3].view.buf;
    Py_ssize_t n = a[0].view.shape[0];
    Py_BEGIN_ALLOW_THREADS
    /* 1 - beta in double, then rounded: as numpy does with the Python float 1.0 - beta */
    if (dtype == F32)
        adam_float(p, m, v, g, n, (float)b1, (float)b2, (float)(1.0 - b1), (float)(1.0 - b2), (float)step,
                   (float)c2, (float)eps);
    else
        adam_double(p, m, v, g, n, b1, b2, 1.0 - b1, 1.0 - b2, step, c2, eps);
    Py_END_ALLOW_THREADS
    return finish(a, 4, 1);
}

PyDoc_STRVAR(small_gemm_doc,
"small_gemm(a, b, out, accumulate)\n\n"
"out = a @ b, or out += a @ b with accumulate, for float32 a (m, k), b (k, n), out (m, n), each with\n"
"contiguous rows (row strides may differ). Only where the module's `small_gemm_available` is True.");

static PyObject *py_small_gemm(PyObject *self, PyObject *args) {
    PyObject *o[3];
    int accumulate;
    if (!PyArg_ParseTuple(args, "OOOp:small_gemm", &o[0], &o[1], &o[2], &accumulate)) return NULL;
    if (!small_gemm_supported()) {
        PyErr_SetString(PyExc_RuntimeError, "small_gemm needs a CPU with AVX-512");
        return NULL;
    }
    Arg a[3];
    memset(a, 0, sizeof a);
    int dtype = 0;
    static const char *names[3] = {"a", "b", "out"};
    for (int k = 0; k < 3; k++)
        if (take(&a[k], o[k], names[k], 2, k == 2, &dtype) < 0) goto fail;
    if (dtype != F32) {
        PyErr_SetString(PyExc_TypeError, "small_gemm computes in float32 only");
        goto fail;
    }
    Py_ssize_t m = a[0].view.shape[0], k = a[0].view.shape[1], n = a[1].view.shape[1];
    if (a[1].view.shape[0] != k || a[2].view.shape[0] != m || a[2].view.shape[1] != n) {
        PyErr_Format(PyExc_ValueError, "small_gemm: shapes (%zd, %zd) @ (%zd, %zd) -> (%zd, %zd) do not fit", m, k,
                     a[1].view.shape[0], n, a[2].view.shape[0], a[2].view.shape[1]);
        goto fail;
    }
#if HAVE_SMALL_GEMM
    {
        Py_ssize_t item = a[0].view.itemsize;
        Py_BEGIN_ALLOW_THREADS
        small_gemm_f32(a[0].view.buf, a[0].view.strides[0] / item, a[1].view.buf, a[1].view.strides[0] / item,
                       a[2].view.buf, a[2].view.strides[0] / item, m, n, k, NULL, accumulate);
        Py_END_ALLOW_THREADS
    }
#endif
    return finish(a, 3, 1);
fail:
    return finish(a, 3, 0);
}

PyDoc_STRVAR(lstm_sequence_forward_doc,
"lstm_sequence_forward(pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, threads=1)\n\n"
"Every step of a float32 LSTM layer whose only recurrence is its own (h_(t-1) -> h_t). pre (T*n, k)\n"
"with x_weight (k, 4w): the rows of the layer's one input, multiplied in per step; or, x_weight None, pre\n"
"(T*n, 4w) already the input's product. Per step, scratch = (x_t @ x_weight) + bias + h_(t-1) @ weight\n"
"by the small GEMM, then lstm_forward. x_weight, weight (w, 4w) and bias (4w,) or None in parameter\n"
"order (i, f, g, o), as the layer keeps them: reordered into slots (and the sigmoid slots halved) here.\n"
"h and c ((T+1)*n, w): the initial state in the first n rows, step t written to rows (t+1)*n...;\n"
"gates (4, T*n, w) and tanh_c (T*n, w) receive every step's values; scratch (n, 4w). The sequences\n"
"are independent, so `threads` threads each run every step for a block of them. Only where\n"
"small_gemm_available is True.");

PyDoc_STRVAR(lstm_sequence_backward_doc,
"lstm_sequence_backward(gates, c, tanh_c, dh, dc, da, weight, bias_grad, threads=1)\n\n"
"The reverse sweep of lstm_sequence_forward: per step t from the last, lstm_backward into da's rows\n"
"t*n... (parameter column order), then dh[t*n...] += da_t @ weight.T (weight (w, 4w): the recurrent\n"
"weight in parameter order). dh ((T+1)*n, w): step t's gradient in rows (t+1)*n...; the first n rows\n"
"receive the initial state's. dc (n, w): in, the last cell's gradient; out, the initial cell's.\n"
"bias_grad (4w,) or None: receives the sum of da's rows (the bias gradient), added up in double.\n"
"`threads` as in lstm_sequence_forward.");

PyDoc_STRVAR(elman_sequence_forward_doc,
"elman_sequence_forward(pre, weight, h, n, threads=1)\n\n"
"Every step of a float32 tanh layer whose only recurrence is its own (an Elman layer): per step,\n"
"h_t = tanh(pre_t + h_(t-1) @ weight), for n sequences. pre (T*n, w): the inputs' product and the bias\n"
"for every step; weight (w, w); h ((T+1)*n, w): the initial state in the first n rows, step t written\n"
"to rows (t+1)*n.... The sequences are independent, so `threads` threads each run every step for a\n"
"block of them. Only where small_gemm_available is True.");

PyDoc_STRVAR(elman_sequence_backward_doc,
"elman_sequence_backward(h, dh, da, weight, n, threads=1)\n\n"
"The reverse sweep of elman_sequence_forward: per step t from the last, da_t = dh_t * (1 - h_t^2) into\n"
"da's rows t*n... (da (T*n, w)), then dh_(t-1) += da_t @ weight.T. h and dh ((T+1)*n, w) laid out as\n"
"in the forward; dh's first n rows receive the initial state's gradient.");

PyDoc_STRVAR(gru_sequence_forward_doc,
"gru_sequence_forward(pre, weight, h, hu, rz, nn, n, threads=1)\n\n"
"Every step of a float32 GRU layer whose only recurrence is its own, for n sequences (gate blocks r, z,\n"
"n; nngraph/ops/recurrent.py). pre (T*n, 3w): the inputs' product and the bias for every step; weight\n"
"(w, 3w): U; h ((T+1)*n, w): the initial state in the first n rows, step t written to rows (t+1)*n...;\n"
"hu (T*n, 3w) receives h_(t-1) @ U, rz (T*n, 2w) the gates r and z, nn (T*n, w) the candidate.\n"
"`threads` as in lstm_sequence_forward. Only where small_gemm_available is True.");

PyDoc_STRVAR(gru_sequence_backward_doc,
"gru_sequence_backward(h, hu, rz, nn, dh, gx, ghu, weight, n, threads=1)\n\n"
"The reverse sweep of gru_sequence_forward: per step t from the last, the gradients of the step's\n"
"pre-activations into gx's rows t*n... (T*n, 3w) and of hu into ghu's, then dh_(t-1) += dh_t * z +\n"
"ghu_t @ weight.T. dh ((T+1)*n, w) laid out as h; its first n rows receive the initial state's.");

PyDoc_STRVAR(transposed_gemm_doc,
"transposed_gemm(a, b, out, accumulate=False, threads=1)\n\n"
"out = a.T @ b, or out += a.T @ b, for float32 a (k, m), b (k, n), out (m, n), each with contiguous\n"
"rows: a weight's gradient summed over every step of a sequence. a may be a tuple or list of arrays\n"
"(k, m_i), taken side by side (out has sum m_i rows): the gradients of several weights that multiply\n"
"the same b, in one pass over it. `threads` threads each compute a block of out's columns. Only where\n"
"small_gemm_available is True.");

/* a thread count from Python: at least 1 */
static int thread_count(int threads) { return threads < 1 ? 1 : threads; }

#if HAVE_SMALL_GEMM
typedef struct {
    const float *pre, *x_weight, *weight, *bias;
    float *h, *c, *gates, *tanh_c, *scratch;
    Py_ssize_t n, width, k, steps, slot;
} SequenceForward;

/* every step for the sequences (rows of each step) [r0, r1) */
static void sequence_forward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const SequenceForward *s = job;
    Py_ssize_t n = s->n, width = s->width, k = s->k, block = n * width, gate_row = 4 * width, rows = r1 - r0;
    float *scratch = s->scratch + r0 * gate_row;
    for (Py_ssize_t t = 0; t < s->steps; t++) {
        Py_ssize_t at = t * block + r0 * width;
        const float *step_pre = scratch, *added = NULL;
        if (s->x_weight) {
            strips_gemm_f32(s->pre + (t * n + r0) * k, k, s->x_weight, scratch, gate_row, rows, gate_row, k, s->bias, 0);
            strips_gemm_f32(s->h + at, width, s->weight, scratch, gate_row, rows, gate_row, width, NULL, 1);
        } else {
            strips_gemm_f32(s->h + at, width, s->weight, scratch, gate_row, rows, gate_row, width, s->bias, 0);
            step_pre = s->pre + (t * n + r0) * gate_row, added = scratch;
        }
        lstm_forward_float(step_pre, added, s->c + at, s->gates + at, s->slot, s->c + at + block, s->tanh_c + at,
                           s->h + at + block, rows, width);
    }
}

typedef struct {
    const float *gates, *c, *tanh_c, *weight_t;
    float *dh, *dc, *da;
    double *bias_sums; /* NULL, or a row of 4w per 8 sequences: each part sums its da rows in its own */
    Py_ssize_t n, width, steps, slot;
} SequenceBackward;

static void sequence_backward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const SequenceBackward *s = job;
    Py_ssize_t width = s->width, block = s->n * width, rows = r1 - r0, gate_row = 4 * width;
    double *sums = s->bias_sums ? s->bias_sums + r0 / TILE_ROWS * gate_row : NULL;
    for (Py_ssize_t t = s->steps - 1; t >= 0; t--) {
        Py_ssize_t at = t * block + r0 * width;
        float *da = s->da + 4 * at;
        lstm_backward_float(s->gates + at, s->slot, s->c + at, s->tanh_c + at, s->dh + at + block,
                            s->dc + r0 * width, da, rows, width);
        strips_gemm_f32(da, gate_row, s->weight_t, s->dh + at, width, rows, width, gate_row, NULL, 1);
        if (sums)
            for (Py_ssize_t r = 0; r < rows; r++) add_to_sums(sums, da + r * gate_row, gate_row);
    }
}

typedef struct {
    const float *pre, *weight; /* weight packed by pack_strips */
    float *h;
    Py_ssize_t n, width, steps;
} ElmanForward;

static void elman_forward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const ElmanForward *s = job;
    Py_ssize_t width = s->width, block = s->n * width, rows = r1 - r0;
    for (Py_ssize_t t = 0; t < s->steps; t++) {
        Py_ssize_t at = t * block + r0 * width;
        float *h = s->h + at + block;
        strips_gemm_f32(s->h + at, width, s->weight, h, width, rows, width, width, NULL, 0);
        add_tanh_float(s->pre + at, h, rows * width);
    }
}

typedef struct {
    const float *h, *weight_t; /* weight^T packed by pack_strips */
    float *dh, *da;
    Py_ssize_t n, width, steps;
} ElmanBackward;

static void elman_backward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const ElmanBackward *s = job;
    Py_ssize_t width = s->width, block = s->n * width, rows = r1 - r0;
    for (Py_ssize_t t = s->steps - 1; t >= 0; t--) {
        Py_ssize_t at = t * block + r0 * width;
        tanh_vjp_float(s->h + at + block, s->dh + at + block, s->da + at, rows * width);
        strips_gemm_f32(s->da + at, width, s->weight_t, s->dh + at, width, rows, width, width, NULL, 1);
    }
}

typedef struct {
    const float *pre, *weight; /* U packed by pack_strips */
    float *h, *hu, *rz, *nn;
    Py_ssize_t n, width, steps;
} GruForward;

static void gru_forward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const GruForward *s = job;
    Py_ssize_t w = s->width, block = s->n * w, rows = r1 - r0;
    for (Py_ssize_t t = 0; t < s->steps; t++) {
        Py_ssize_t at = t * block + r0 * w;
        float *hu = s->hu + 3 * at;
        strips_gemm_f32(s->h + at, w, s->weight, hu, 3 * w, rows, 3 * w, w, NULL, 0);
        gru_forward_float(s->pre + 3 * at, hu, s->h + at, s->rz + 2 * at, s->nn + at, s->h + at + block, rows, w);
    }
}

typedef struct {
    const float *h, *hu, *rz, *nn, *weight_t; /* U^T packed by pack_strips */
    float *dh, *gx, *ghu;
    Py_ssize_t n, width, steps;
} GruBackward;

static void gru_backward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const GruBackward *s = job;
    Py_ssize_t w = s->width, block = s->n * w, rows = r1 - r0;
    for (Py_ssize_t t = s->steps - 1; t >= 0; t--) {
        Py_ssize_t at = t * block + r0 * w;
        float *ghu = s->ghu + 3 * at;
        gru_backward_float(s->dh + at + block, s->rz + 2 * at, s->nn + at, s->hu + 3 * at, s->h + at, s->gx + 3 * at,
                           ghu, s->dh + at, rows, w);
        strips_gemm_f32(ghu, 3 * w, s->weight_t, s->dh + at, w, rows, w, 3 * w, NULL, 1);
    }
}

typedef struct {
    const float *packed_a, *b;
    float *out;
    Py_ssize_t ldb, ldc, m, k;
    int accumulate;
} TransposedGemm;

static void transposed_gemm_columns(const void *job, Py_ssize_t j0, Py_ssize_t j1) {
    const TransposedGemm *g = job;
    transposed_gemm_f32(g->packed_a, g->b, g->ldb, g->out, g->ldc, g->m, g->k, g->accumulate, j0, j1);
}
#endif

static PyObject *py_lstm_sequence_forward(PyObject *self, PyObject *args) {
    PyObject *o[9];
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOOOOOOOO|i:lstm_sequence_forward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &o[6], &o[7], &o[8], &threads))
        return NULL;
    Arg a[9];
    memset(a, 0, sizeof a);
    int dtype = 0;
    static const char *names[9] = {"pre", "x_weight", "weight", "h", "c", "gates", "tanh_c", "scratch", "bias"};
    static const int dims[9] = {2, 2, 2, 2, 2, 3, 2, 2, 1}, writes[9] = {0, 0, 0, 1, 1, 1, 1, 1, 0};
    for (int k = 0; k < 9; k++)
        if (o[k] != Py_None && take(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0) return finish(a, 9, 0);
    if (dtype != F32 || !small_gemm_supported() || o[0] == Py_None || o[2] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "lstm_sequence_forward needs float32 arrays and AVX-512");
        return finish(a, 9, 0);
    }
    int projected = o[1] == Py_None;
    Py_ssize_t n = a[7].view.shape[0], width = a[2].view.shape[0], k = a[0].view.shape[1];
    Py_ssize_t rows = a[0].view.shape[0], steps = n ? rows / n : 0;
    if (n == 0 || rows != steps * n || same_shape(&a[0], rows, projected ? 4 * width : k, "pre") < 0 ||
        (!projected && same_shape(&a[1], k, 4 * width, "x_weight") < 0) ||
        same_shape(&a[2], width, 4 * width, "weight") < 0 || same_shape(&a[3], rows + n, width, "h") < 0 ||
        same_shape(&a[4], rows + n, width, "c") < 0 || same_shape(&a[6], rows, width, "tanh_c") < 0 ||
        same_shape(&a[7], n, 4 * width, "scratch") < 0)
        return finish(a, 9, 0);
    if (o[8] != Py_None && a[8].view.shape[0] != 4 * width) {
        PyErr_Format(PyExc_ValueError, "bias must have %zd values", 4 * width);
        return finish(a, 9, 0);
    }
    if (gates_fit(&a[5], rows, width) < 0) return finish(a, 9, 0);
#if HAVE_SMALL_GEMM
    {
        /* the weights strip by strip and in slot order, read at every step: see pack_strips */
        Py_ssize_t x_size = projected ? 0 : strips_size(k, 4 * width), w_size = strips_size(width, 4 * width);
        float *packed = PyMem_RawMalloc((x_size + w_size + 4 * width) * sizeof(float)), *bias = NULL;
        if (!packed) {
            PyErr_NoMemory();
            return finish(a, 9, 0);
        }
        if (o[8] != Py_None) {
            bias = packed + x_size + w_size;
            for (Py_ssize_t d = 0; d < 4 * width; d++) {
                float scale;
                Py_ssize_t column = slot_column(d, width, &scale);
                bias[d] = ((const float *)a[8].view.buf)[column] * scale;
            }
        }
        SequenceForward job = {a[0].view.buf, projected ? NULL : packed, packed + x_size, bias, a[3].view.buf,
                               a[4].view.buf, a[5].view.buf, a[6].view.buf, a[7].view.buf, n, width, k, steps,
                               a[5].view.strides[0] / a[5].view.itemsize};
        Py_BEGIN_ALLOW_THREADS
        if (!projected) pack_strips(a[1].view.buf, 4 * width, 1, k, 4 * width, width, packed);
        pack_strips(a[2].view.buf, 4 * width, 1, width, 4 * width, width, packed + x_size);
        run_parts(sequence_forward_rows, &job, n, TILE_ROWS, thread_count(threads));
        Py_END_ALLOW_THREADS
        PyMem_RawFree(packed);
    }
#endif
    return finish(a, 9, 1);
}

static PyObject *py_lstm_sequence_backward(PyObject *self, PyObject *args) {
    PyObject *o[8];
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOOOOOOO|i:lstm_sequence_backward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &o[6], &o[7], &threads))
        return NULL;
    Arg a[8];
    memset(a, 0, sizeof a);
    int dtype = 0, with_bias = o[7] != Py_None;
    double *sums = NULL;
    float *packed = NULL;
    static const char *names[8] = {"gates", "c", "tanh_c", "dh", "dc", "da", "weight", "bias_grad"};
    static const int dims[8] = {3, 2, 2, 2, 2, 2, 2, 1}, writes[8] = {0, 0, 0, 1, 1, 1, 0, 1};
    for (int k = 0; k < 8; k++)
        if ((k < 7 || with_bias) && take(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0) goto fail;
    if (dtype != F32 || !small_gemm_supported()) {
        PyErr_SetString(PyExc_TypeError, "lstm_sequence_backward needs float32 arrays and AVX-512");
        goto fail;
    }
    Py_ssize_t n = a[4].view.shape[0], width = a[4].view.shape[1];
    Py_ssize_t rows = a[2].view.shape[0], steps = n ? rows / n : 0;
    if (n == 0 || rows != steps * n || same_shape(&a[1], rows + n, width, "c") < 0 ||
        same_shape(&a[2], rows, width, "tanh_c") < 0 || same_shape(&a[3], rows + n, width, "dh") < 0 ||
        same_shape(&a[4], n, width, "dc") < 0 || same_shape(&a[5], rows, 4 * width, "da") < 0 ||
        same_shape(&a[6], width, 4 * width, "weight") < 0)
        goto fail;
    if (with_bias && a[7].view.shape[0] != 4 * width) {
        PyErr_Format(PyExc_ValueError, "bias_grad must have %zd values", 4 * width);
        goto fail;
    }
    if (gates_fit(&a[0], rows, width) < 0) goto fail;
#if HAVE_SMALL_GEMM
    {
        Py_ssize_t blocks = (n + TILE_ROWS - 1) / TILE_ROWS;
        packed = PyMem_RawMalloc((strips_size(4 * width, width) + 1) * sizeof(float));
        sums = with_bias ? PyMem_RawCalloc(blocks * 4 * width, sizeof(double)) : NULL;
        if (!packed || (with_bias && !sums)) {
            PyErr_NoMemory();
            goto fail;
        }
        SequenceBackward job = {a[0].view.buf, a[1].view.buf, a[2].view.buf, packed, a[3].view.buf,
                                a[4].view.buf, a[5].view.buf, sums, n, width, steps,
                                a[0].view.strides[0] / a[0].view.itemsize};
        Py_BEGIN_ALLOW_THREADS
        pack_strips(a[6].view.buf, 1, 4 * width, 4 * width, width, 0, packed); /* weight^T */
        run_parts(sequence_backward_rows, &job, n, TILE_ROWS, thread_count(threads));
        if (with_bias) {
            float *bias_grad = a[7].view.buf;
            for (Py_ssize_t j = 0; j < 4 * width; j++) {
                double total = 0.0;
                for (Py_ssize_t b = 0; b < blocks; b++) total += sums[b * 4 * width + j];
                bias_grad[j] = (float)total;
            }
        }
        Py_END_ALLOW_THREADS
    }
#endif
    PyMem_RawFree(packed), PyMem_RawFree(sums);
    return finish(a, 8, 1);
fail:
    PyMem_RawFree(packed), PyMem_RawFree(sums);
    return finish(a, 8, 0);
}

#if HAVE_SMALL_GEMM
/* Pack B (pack_strips, parameter order) into a buffer for the call, point *packed_field (in `job`) at it,
 * and run the parts over `rows` sequences with the GIL released; -1 with MemoryError where the buffer
 * cannot be had. */
static int run_with_packed(part_body body, const void *job, const float **packed_field, const float *b,
                           Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t k, Py_ssize_t n, Py_ssize_t rows,
                           int threads) {
    float *packed = PyMem_RawMalloc((strips_size(k, n) + 1) * sizeof(float));
    if (!packed) {
        PyErr_NoMemory();
        return -1;
    }
    *packed_field = packed;
    Py_BEGIN_ALLOW_THREADS
    pack_strips(b, row_stride, col_stride, k, n, 0, packed);
    run_parts(body, job, rows, TILE_ROWS, thread_count(threads));
    Py_END_ALLOW_THREADS
    PyMem_RawFree(packed);
    return 0;
}
#endif

/* take `count` float32 arrays (AVX-512 checked too); -1 with the exception set */
static int take_f32(Arg *a, PyObject **o, const char **names, const int *writes, int count, const char *kernel) {
    int dtype = 0;
    for (int k = 0; k < count; k++)
        if (take(&a[k], o[k], names[k], 2, writes[k], &dtype) < 0) return -1;
    if (dtype != F32 || !small_gemm_supported()) {
        PyErr_Format(PyExc_TypeError, "%s needs float32 arrays and AVX-512", kernel);
        return -1;
    }
    return 0;
}

/* T, the steps, from a (T*n, ...) array's rows: -1 with ValueError unless whole steps */
static Py_ssize_t whole_steps(const Arg *a, Py_ssize_t n, const char *name) {
    Py_ssize_t rows = a->view.shape[0];
    if (n <= 0 || rows % n != 0) {
        PyErr_Format(PyExc_ValueError, "%s's %zd rows are not whole steps of n = %zd", name, rows, n);
        return -1;
    }
    return rows / n;
}

static PyObject *py_elman_sequence_forward(PyObject *self, PyObject *args) {
    PyObject *o[3];
    Py_ssize_t n;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOOn|i:elman_sequence_forward", &o[0], &o[1], &o[2], &n, &threads)) return NULL;
    Arg a[3];
    memset(a, 0, sizeof a);
    static const char *names[3] = {"pre", "weight", "h"};
    static const int writes[3] = {0, 0, 1};
    if (take_f32(a, o, names, writes, 3, "elman_sequence_forward") < 0) return finish(a, 3, 0);
    Py_ssize_t w = a[1].view.shape[0], steps = whole_steps(&a[0], n, "pre"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows, w, "pre") < 0 || same_shape(&a[1], w, w, "weight") < 0 ||
        same_shape(&a[2], rows + n, w, "h") < 0)
        return finish(a, 3, 0);
#if HAVE_SMALL_GEMM
    ElmanForward job = {a[0].view.buf, NULL, a[2].view.buf, n, w, steps};
    if (run_with_packed(elman_forward_rows, &job, &job.weight, a[1].view.buf, w, 1, w, w, n, threads) < 0)
        return finish(a, 3, 0);
#endif
    return finish(a, 3, 1);
}

static PyObject *py_elman_sequence_backward(PyObject *self, PyObject *args) {
    PyObject *o[4];
    Py_ssize_t n;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOOOn|i:elman_sequence_backward", &o[0], &o[1], &o[2], &o[3], &n, &threads))
        return NULL;
    Arg a[4];
    memset(a, 0, sizeof a);
    static const char *names[4] = {"h", "dh", "da", "weight"};
    static const int writes[4] = {0, 1, 1, 0};
    if (take_f32(a, o, names, writes, 4, "elman_sequence_backward") < 0) return finish(a, 4, 0);
    Py_ssize_t w = a[3].view.shape[0], steps = whole_steps(&a[2], n, "da"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows + n, w, "h") < 0 || same_shape(&a[1], rows + n, w, "dh") < 0 ||
        same_shape(&a[2], rows, w, "da") < 0 || same_shape(&a[3], w, w, "weight") < 0)
        return finish(a, 4, 0);
#if HAVE_SMALL_GEMM
    ElmanBackward job = {a[0].view.buf, NULL, a[1].view.buf, a[2].view.buf, n, w, steps};
    if (run_with_packed(elman_backward_rows, &job, &job.weight_t, a[3].view.buf, 1, w, w, w, n, threads) < 0)
        return finish(a, 4, 0); /* weight^T: rows and columns swapped */
#endif
    return finish(a, 4, 1);
}

static PyObject *py_gru_sequence_forward(PyObject *self, PyObject *args) {
    PyObject *o[6];
    Py_ssize_t n;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOOOOOn|i:gru_sequence_forward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &n,
                          &threads))
        return NULL;
    Arg a[6];
    memset(a, 0, sizeof a);
    static const char *names[6] = {"pre", "weight", "h", "hu", "rz", "nn"};
    static const int writes[6] = {0, 0, 1, 1, 1, 1};
    if (take_f32(a, o, names, writes, 6, "gru_sequence_forward") < 0) return finish(a, 6, 0);
    Py_ssize_t w = a[1].view.shape[0], steps = whole_steps(&a[0], n, "pre"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows, 3 * w, "pre") < 0 || same_shape(&a[1], w, 3 * w, "weight") < 0 ||
        same_shape(&a[2], rows + n, w, "h") < 0 || same_shape(&a[3], rows, 3 * w, "hu") < 0 ||
        same_shape(&a[4], rows, 2 * w, "rz") < 0 || same_shape(&a[5], rows, w, "nn") < 0)
        return finish(a, 6, 0);
#if HAVE_SMALL_GEMM
    GruForward job = {a[0].view.buf, NULL, a[2].view.buf, a[3].view.buf, a[4].view.buf, a[5].view.buf, n, w, steps};
    if (run_with_packed(gru_forward_rows, &job, &job.weight, a[1].view.buf, 3 * w, 1, w, 3 * w, n, threads) < 0)
        return finish(a, 6, 0);
#endif
    return finish(a, 6, 1);
}

static PyObject *py_gru_sequence_backward(PyObject *self, PyObject *args) {
    PyObject *o[8];
    Py_ssize_t n;
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOOOOOOOn|i:gru_sequence_backward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &o[6], &o[7], &n, &threads))
        return NULL;
    Arg a[8];
    memset(a, 0, sizeof a);
    static const char *names[8] = {"h", "hu", "rz", "nn", "dh", "gx", "ghu", "weight"};
    static const int writes[8] = {0, 0, 0, 0, 1, 1, 1, 0};
    if (take_f32(a, o, names, writes, 8, "gru_sequence_backward") < 0) return finish(a, 8, 0);
    Py_ssize_t w = a[7].view.shape[0], steps = whole_steps(&a[1], n, "hu"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows + n, w, "h") < 0 || same_shape(&a[1], rows, 3 * w, "hu") < 0 ||
        same_shape(&a[2], rows, 2 * w, "rz") < 0 || same_shape(&a[3], rows, w, "nn") < 0 ||
        same_shape(&a[4], rows + n, w, "dh") < 0 || same_shape(&a[5], rows, 3 * w, "gx") < 0 ||
        same_shape(&a[6], rows, 3 * w, "ghu") < 0 || same_shape(&a[7], w, 3 * w, "weight") < 0)
        return finish(a, 8, 0);
#if HAVE_SMALL_GEMM
    GruBackward job = {a[0].view.buf, a[1].view.buf, a[2].view.buf, a[3].view.buf, NULL, a[4].view.buf,
                       a[5].view.buf, a[6].view.buf, n, w, steps};
    if (run_with_packed(gru_backward_rows, &job, &job.weight_t, a[7].view.buf, 1, 3 * w, 3 * w, w, n, threads) < 0)
        return finish(a, 8, 0); /* weight^T: rows and columns swapped */
#endif
    return finish(a, 8, 1);
}

#define MAX_FACTORS 16

static PyObject *py_transposed_gemm(PyObject *self, PyObject *args) {
    PyObject *first, *b_obj, *out_obj;
    int accumulate = 0, threads = 1;
    if (!PyArg_ParseTuple(args, "OOO|pi:transposed_gemm", &first, &b_obj, &out_obj, &accumulate, &threads))
        return NULL;
    if (!small_gemm_supported()) {
        PyErr_SetString(PyExc_RuntimeError, "transposed_gemm needs a CPU with AVX-512");
        return NULL;
    }
    int listed = PyTuple_Check(first) || PyList_Check(first);
    Py_ssize_t factors = listed ? PySequence_Size(first) : 1;
    if (factors < 1 || factors > MAX_FACTORS) {
        PyErr_Format(PyExc_ValueError, "transposed_gemm takes 1 to %d arrays for a", MAX_FACTORS);
        return NULL;
    }
    Arg a[MAX_FACTORS + 2];
    memset(a, 0, sizeof a);
    int dtype = 0, count = (int)factors + 2;
    Py_ssize_t total_m = 0;
    float *packed = NULL;
    for (Py_ssize_t f = 0; f < factors; f++) {
        PyObject *item = listed ? PySequence_GetItem(first, f) : (Py_INCREF(first), first);
        int taken = item ? take(&a[f], item, "a", 2, 0, &dtype) : -1;
        Py_XDECREF(item); /* the sequence still holds it, and `a[f]` its buffer */
        if (taken < 0) goto fail;
        total_m += a[f].view.shape[1];
    }
    if (take(&a[factors], b_obj, "b", 2, 0, &dtype) < 0 || take(&a[factors + 1], out_obj, "out", 2, 1, &dtype) < 0)
        goto fail;
    if (dtype != F32) {
        PyErr_SetString(PyExc_TypeError, "transposed_gemm computes in float32 only");
        goto fail;
    }
    const Py_buffer *bv = &a[factors].view, *ov = &a[factors + 1].view;
    Py_ssize_t k = bv->shape[0], n = bv->shape[1];
    for (Py_ssize_t f = 0; f < factors; f++)
        if (a[f].view.shape[0] != k) {
            PyErr_Format(PyExc_ValueError, "transposed_gemm: a has %zd rows where b has %zd", a[f].view.shape[0], k);
            goto fail;
        }
    if (ov->shape[0] != total_m || ov->shape[1] != n) {
        PyErr_Format(PyExc_ValueError, "out must have shape (%zd, %zd)", total_m, n);
        goto fail;
    }
#if HAVE_SMALL_GEMM
    packed = PyMem_RawMalloc((packed_size(total_m, k) + 1) * sizeof(float));
    if (!packed) {
        PyErr_NoMemory();
        goto fail;
    }
    {
        Py_ssize_t item = bv->itemsize;
        TransposedGemm job = {packed, bv->buf, ov->buf, bv->strides[0] / item, ov->strides[0] / item, total_m, k,
                              accumulate};
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t f = 0, offset = 0; f < factors; offset += a[f].view.shape[1], f++)
            pack_transposed(a[f].view.buf, a[f].view.strides[0] / item, a[f].view.shape[1], k, offset, total_m, packed);
        run_parts(transposed_gemm_columns, &job, n, 32, thread_count(threads));
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(packed);
#endif
    return finish(a, count, 1);
fail:
    return finish(a, count, 0);
}

PyDoc_STRVAR(maxpool_forward_doc,
"maxpool_forward(x, best, argmax, kernel, stride)\n\n"
"Max pooling of an already padded x (N, C, H, W): best (N, C, Ho, Wo) receives each window's maximum,\n"
"argmax (int32, same shape) the offset number i * kw + j where it was first found. kernel and stride\n"
"are (rows, cols) pairs.");

static int take_indices(Arg *arg, PyObject *obj, int writable, Py_ssize_t count) {
    arg->held = 0;
    if (PyObject_GetBuffer(obj, &arg->view, PyBUF_RECORDS_RO | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "argmax must be a contiguous int32 array");
        return -1;
    }
    arg->held = 1;
    const char *f = arg->view.format ? arg->view.format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (arg->view.itemsize != 4 || (strcmp(f, "i") != 0 && strcmp(f, "l") != 0) ||
        !PyBuffer_IsContiguous(&arg->view, 'C') || arg->view.len / 4 != count) {
        PyErr_Format(PyExc_TypeError, "argmax must be a contiguous int32 array of %zd values", count);
        return -1;
    }
    return 0;
}

/* x and the output stack: 4 axes, C-contiguous, one float dtype; the window geometry fits */
static int pool_arrays(Arg *a, PyObject *x, PyObject *y, int x_writable, int *dtype, Py_ssize_t *shape) {
    if (take(&a[0], x, "image", 4, x_writable, dtype) < 0 || take(&a[1], y, "pooled", 4, !x_writable, dtype) < 0)
        return -1;
    for (int k = 0; k < 2; k++)
        if (!PyBuffer_IsContiguous(&a[k].view, 'C')) {
            PyErr_SetString(PyExc_ValueError, "pooling arrays must be contiguous");
            return -1;
        }
    for (int k = 0; k < 4; k++) shape[k] = a[0].view.shape[k], shape[4 + k] = a[1].view.shape[k];
    if (shape[0] != shape[4] || shape[1] != shape[5]) {
        PyErr_SetString(PyExc_ValueError, "the pooled array must have the input's batch and channels");
        return -1;
    }
    return 0;
}

static int window_fits(const Py_ssize_t *shape, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw) {
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || shape[6] < 1 || shape[7] < 1 ||
        (shape[6] - 1) * sh + kh > shape[2] || (shape[7] - 1) * sw + kw > shape[3]) {
        PyErr_SetString(PyExc_ValueError, "the pooling windows do not fit the input");
        return 0;
    }
    return 1;
}

static PyObject *py_maxpool_forward(PyObject *self, PyObject *args) {
    PyObject *x, *best, *argmax;
    Py_ssize_t kh, kw, sh, sw, shape[8];
    if (!PyArg_ParseTuple(args, "OOO(nn)(nn):maxpool_forward", &x, &best, &argmax, &kh, &kw, &sh, &sw)) return NULL;
    Arg a[3];
    memset(a, 0, sizeof a);
    int dtype = 0;
    if (pool_arrays(a, x, best, 0, &dtype, shape) < 0 || !window_fits(shape, kh, kw, sh, sw) ||
        take_indices(&a[2], argmax, 1, shape[4] * shape[5] * shape[6] * shape[7]) < 0)
        return finish(a, 3, 0);
    Py_BEGIN_ALLOW_THREADS
    if (dtype == F32)
        maxpool_forward_float(a[0].view.buf, a[1].view.buf, a[2].view.buf, shape[0] * shape[1], shape[2], shape[3],
                              kh, kw, sh, sw, shape[6], shape[7]);
    else
        maxpool_forward_double(a[0].view.buf, a[1].view.buf, a[2].view.buf, shape[0] * shape[1], shape[2], shape[3],
                               kh, kw, sh, sw, shape[6], shape[7]);
    Py_END_ALLOW_THREADS
    return finish(a, 3, 1);
}

PyDoc_STRVAR(maxpool_backward_doc,
"maxpool_backward(out, g, argmax, kernel, stride)\n\n"
"The vjp of maxpool_forward: each window's gradient g (N, C, Ho, Wo) added at its argmax offset of out\n"
"(N, C, H, W), the padded input's gradient, which the caller zeroes.");

static PyObject *py_maxpool_backward(PyObject *self, PyObject *args) {
    PyObject *out, *g, *argmax;
    Py_ssize_t kh, kw, sh, sw, shape[8];
    if (!PyArg_ParseTuple(args, "OOO(nn)(nn):maxpool_backward", &out, &g, &argmax, &kh, &kw, &sh, &sw)) return NULL;
    Arg a[3];
    memset(a, 0, sizeof a);
    int dtype = 0;
    if (pool_arrays(a, out, g, 1, &dtype, shape) < 0 || !window_fits(shape, kh, kw, sh, sw) ||
        take_indices(&a[2], argmax, 0, shape[4] * shape[5] * shape[6] * shape[7]) < 0)
        return finish(a, 3, 0);
    const int32_t *where = a[2].view.buf;
    Py_ssize_t count = shape[4] * shape[5] * shape[6] * shape[7];
    for (Py_ssize_t k = 0; k < count; k++)
        if (where[k] < 0 || where[k] >= kh * kw) {
            PyErr_SetString(PyExc_ValueError, "argmax holds an offset outside the window");
            return finish(a, 3, 0);
        }
    Py_BEGIN_ALLOW_THREADS
    if (dtype == F32)
        maxpool_backward_float(a[1].view.buf, where, a[0].view.buf, shape[0] * shape[1], shape[2], shape[3], kw, sh,
                               sw, shape[6], shape[7]);
    else
        maxpool_backward_double(a[1].view.buf, where, a[0].view.buf, shape[0] * shape[1], shape[2], shape[3], kw, sh,
                                sw, shape[6], shape[7]);
    Py_END_ALLOW_THREADS
    return finish(a, 3, 1);
}

static PyMethodDef methods[] = {
    {"lstm_forward", py_lstm_forward, METH_VARARGS, lstm_forward_doc},
    {"lstm_backward", py_lstm_backward, METH_VARARGS, lstm_backward_doc},
    {"sgd", py_sgd, METH_VARARGS, sgd_doc},
    {"adam", py_adam, METH_VARARGS, adam_doc},
    {"small_gemm", py_small_gemm, METH_VARARGS, small_gemm_doc},
    {"maxpool_forward", py_maxpool_forward, METH_VARARGS, maxpool_forward_doc},
    {"maxpool_backward", py_maxpool_backward, METH_VARARGS, maxpool_backward_doc},
    {"lstm_sequence_forward", py_lstm_sequence_forward, METH_VARARGS, lstm_sequence_forward_doc},
    {"lstm_sequence_backward", py_lstm_sequence_backward, METH_VARARGS, lstm_sequence_backward_doc},
    {"transposed_gemm", py_transposed_gemm, METH_VARARGS, transposed_gemm_doc},
    {"elman_sequence_forward", py_elman_sequence_forward, METH_VARARGS, elman_sequence_forward_doc},
    {"elman_sequence_backward", py_elman_sequence_backward, METH_VARARGS, elman_sequence_backward_doc},
    {"gru_sequence_forward", py_gru_sequence_forward, METH_VARARGS, gru_sequence_forward_doc},
    {"gru_sequence_backward", py_gru_sequence_backward, METH_VARARGS, gru_sequence_backward_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nngraph.backend._kernels",
    "Fused CPU kernels for the numpy backend (see nngraph/backend/kernels.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__kernels(void) {
    PyObject *mod = PyModule_Create(&module);
    if (mod && PyModule_AddObjectRef(mod, "small_gemm_available", small_gemm_supported() ? Py_True : Py_False) < 0) {
        Py_DECREF(mod);
        return NULL;
    }
    return mod;
}
