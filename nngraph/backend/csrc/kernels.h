/* The compiled kernels of nngraph.backend._kernels: what the files share (module.c says what the kernels
 * are for and how they round).
 *
 *   cells.c      the element-wise loops: LSTM, GRU and Elman steps and their vjps, optimizers, max pooling
 *   gemm.c       the float32 GEMMs (per-step products, weight gradients) and the packing they read
 *   threads.c    run_parts: a kernel's work split over a pool of workers
 *   args.c       taking arrays from Python through the buffer protocol, and checking them
 *   sequences.c  the whole-sequence LSTM, GRU and Elman kernels and the weight-gradient GEMM, for Python
 *   module.c     the other entry points and the module
 */
#ifndef NNGRAPH_KERNELS_H
#define NNGRAPH_KERNELS_H

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

/* ---- shapes ----------------------------------------------------------------------------------- */

#if defined(__GNUC__) && defined(__x86_64__)
#define HAVE_SMALL_GEMM 1 /* the AVX-512 GEMMs can be compiled; small_gemm_supported() says if they run */
#else
#define HAVE_SMALL_GEMM 0
#endif
#define TILE_ROWS 8      /* rows of C a GEMM tile keeps in registers: splits come in whole tiles */
#define GEMM_K_BLOCK 256 /* rows of B a GEMM keeps in L1 at a time */

/* ---- cells.c ---------------------------------------------------------------------------------- */

CLONES void lstm_forward_float(const float *pre, const float *rec, const float *c_prev, float *gates, Py_ssize_t slot,
                               float *c, float *tanh_c, float *h, Py_ssize_t n, Py_ssize_t width);
CLONES void lstm_forward_double(const double *pre, const double *rec, const double *c_prev, double *gates,
                                Py_ssize_t slot, double *c, double *tanh_c, double *h, Py_ssize_t n, Py_ssize_t width);
CLONES void lstm_backward_float(const float *gates, Py_ssize_t slot, const float *c_prev, const float *tanh_c,
                                const float *dh, float *dc, float *da, Py_ssize_t n, Py_ssize_t width);
CLONES void lstm_backward_double(const double *gates, Py_ssize_t slot, const double *c_prev, const double *tanh_c,
                                 const double *dh, double *dc, double *da, Py_ssize_t n, Py_ssize_t width);
CLONES void add_tanh_float(const float *pre, float *h, Py_ssize_t n);
CLONES void tanh_vjp_float(const float *h, const float *dh, float *da, Py_ssize_t n);
CLONES void gru_forward_float(const float *pre, const float *hu, const float *h_prev, float *rz, float *nn, float *h,
                              Py_ssize_t n, Py_ssize_t w);
CLONES void gru_backward_float(const float *g, const float *rz, const float *nn, const float *hu, const float *h_prev,
                               float *gx, float *ghu, float *dh_prev, Py_ssize_t n, Py_ssize_t w);
CLONES void add_to_sums(double *sums, const float *row, Py_ssize_t n);
CLONES void sgd_float(float *param, float *buf, const float *grad, Py_ssize_t n, float lr, float momentum,
                      int nesterov);
CLONES void sgd_double(double *param, double *buf, const double *grad, Py_ssize_t n, double lr, double momentum,
                       int nesterov);
CLONES void adam_float(float *param, float *m, float *v, const float *grad, Py_ssize_t n, float beta1, float beta2,
                       float keep1, float keep2, float step_size, float correction2_sqrt, float eps);
CLONES void adam_double(double *param, double *m, double *v, const double *grad, Py_ssize_t n, double beta1,
                        double beta2, double keep1, double keep2, double step_size, double correction2_sqrt,
                        double eps);
CLONES void maxpool_forward_float(const float *x, float *best, int32_t *argmax, Py_ssize_t images, Py_ssize_t h,
                                  Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                                  Py_ssize_t ho, Py_ssize_t wo);
CLONES void maxpool_forward_double(const double *x, double *best, int32_t *argmax, Py_ssize_t images, Py_ssize_t h,
                                   Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                                   Py_ssize_t ho, Py_ssize_t wo);
void maxpool_backward_float(const float *g, const int32_t *argmax, float *out, Py_ssize_t images, Py_ssize_t h,
                            Py_ssize_t w, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo);
void maxpool_backward_double(const double *g, const int32_t *argmax, double *out, Py_ssize_t images, Py_ssize_t h,
                             Py_ssize_t w, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo);

/* ---- gemm.c ----------------------------------------------------------------------------------- */

int small_gemm_supported(void);
Py_ssize_t strips_size(Py_ssize_t k, Py_ssize_t n);
Py_ssize_t slot_column(Py_ssize_t d, Py_ssize_t width, float *scale);
void pack_strips(const float *b, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t k, Py_ssize_t n,
                 Py_ssize_t slot_width, float *packed);
Py_ssize_t packed_size(Py_ssize_t m, Py_ssize_t k);
void pack_transposed(const float *a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k, Py_ssize_t offset,
                     Py_ssize_t total_m, float *packed);
#if HAVE_SMALL_GEMM
__attribute__((target("avx512f"))) void small_gemm_f32(const float *a, Py_ssize_t lda, const float *b,
                                                       Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t m,
                                                       Py_ssize_t n, Py_ssize_t k, const float *bias, int accumulate);
__attribute__((target("avx512f"))) void strips_gemm_f32(const float *a, Py_ssize_t lda, const float *packed_b,
                                                        float *c, Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t n,
                                                        Py_ssize_t k, const float *bias, int accumulate);
__attribute__((target("avx512f"))) void transposed_gemm_f32(const float *packed_a, const float *b, Py_ssize_t ldb,
                                                            float *c, Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t k,
                                                            int accumulate, Py_ssize_t j0, Py_ssize_t j1);
#endif

/* ---- threads.c -------------------------------------------------------------------------------- */

#define MAX_THREADS 64
typedef void (*part_body)(const void *job, Py_ssize_t start, Py_ssize_t stop);
void run_parts(part_body body, const void *job, Py_ssize_t count, Py_ssize_t grain, int threads);

/* ---- args.c ----------------------------------------------------------------------------------- */

enum { F32 = 1, F64 = 2 };

typedef struct {
    Py_buffer view;
    int held;
} Arg;

int take(Arg *arg, PyObject *obj, const char *name, int ndim, int writable, int *dtype);
PyObject *finish(Arg *args, int count, int ok);
int same_shape(const Arg *a, Py_ssize_t rows, Py_ssize_t cols, const char *name);
int gates_fit(const Arg *gates, Py_ssize_t rows, Py_ssize_t width);

/* ---- sequences.c ------------------------------------------------------------------------------ */

extern PyMethodDef sequence_methods[];

#endif
