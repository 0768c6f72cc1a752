/* The compiled kernels of nngraph.backend._kernels: what the files share (module.c says what the kernels
 * are for and how they round).
 *
 *   isa_avx512.c, isa_avx2.c, isa_generic.c
 *                the kernels compiled once per instruction set ("path"), each into one `Isa` table
 *                (path_table.h): every path has the element-wise loops (cells.h); avx512 and avx2 also
 *                have the GEMMs (gemm.h), the whole-sequence step loops built on them (loops.h), the
 *                convolutions (convs.h) and 2 x 2 pooling on vectors (pools.h). Those six are bodies,
 *                included once by each path's file, not headers
 *   threads.c    run_parts: a kernel's work split over a pool of workers
 *   args.c       taking arrays from Python through the buffer protocol, and checking them
 *   sequences.c  the whole-sequence LSTM, GRU and Elman kernels and the weight-gradient GEMM, for Python
 *   convolutions.c  a float32 convolution's forward and vjp (their bodies: convs.h, per vector path), for Python
 *   module.c     the other entry points, the paths this CPU runs, and the module
 *
 * Python reaches a path's kernels as functions bound to its table (module.c: `paths`), so a test can run
 * every path the CPU supports in one process, and nngraph.backend.accel picks one per call.
 */
#ifndef NNGRAPH_KERNELS_H
#define NNGRAPH_KERNELS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* the x86-64 paths need a compiler that takes per-function targets (GCC, clang) on x86-64; elsewhere
 * only the generic path is built */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define HAVE_X86_PATHS 1
#else
#define HAVE_X86_PATHS 0
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
 * in float32): the approximation Eigen uses. Plain arithmetic, so the loops around it vectorize; the
 * polynomials are explicit FMAs (fmaf: one rounding each), so every path gives the same bits. */
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

#define SPLIT_ROWS 8     /* the whole-sequence kernels split their sequences over threads in blocks of 8 */
#define GEMM_K_BLOCK 256 /* rows of B a GEMM keeps in L1 at a time (the same on every path: the same sums) */

/* The LSTM's slot order (nngraph/backend/twins.py): column d of a slot-ordered (..., 4w) array is column
 * slot_column(d) of the parameter, times *scale (0.5 in the halved sigmoid slots). */
static inline Py_ssize_t slot_column(Py_ssize_t d, Py_ssize_t width, float *scale) {
    static const int blocks[4] = {0, 1, 3, 2}; /* the parameter block (i, f, g, o) each slot holds */
    Py_ssize_t slot = d / width;
    *scale = slot < 3 ? 0.5f : 1.0f;
    return blocks[slot] * width + d % width;
}

/* ---- threads.c -------------------------------------------------------------------------------- */

#define MAX_THREADS 64
typedef void (*part_body)(const void *job, Py_ssize_t start, Py_ssize_t stop);
void run_parts(part_body body, const void *job, Py_ssize_t count, Py_ssize_t grain, int threads);

/* a thread count from Python: at least 1 */
static inline int thread_count(int threads) { return threads < 1 ? 1 : threads; }

/* ---- the work of a whole-sequence kernel, as sequences.c hands it to a path's step loops -------- */

typedef struct {
    const float *pre, *x_weight, *weight, *bias; /* the weights packed by the path's pack_strips */
    float *h, *c, *gates, *tanh_c, *scratch;
    Py_ssize_t n, width, k, steps, slot;
    const float *mask; /* NULL, or a dropout mask (n, width): every step's h is written masked */
} LstmForward;

typedef struct {
    const float *gates, *c, *tanh_c, *weight_t;
    float *dh, *dc, *da;
    double *bias_sums; /* NULL, or a row of 4w per SPLIT_ROWS sequences: each part sums its da rows in its own */
    Py_ssize_t n, width, steps, slot;
    const float *mask; /* the forward's: each step's dh is masked before the cell's vjp */
} LstmBackward;

typedef struct {
    const float *pre, *weight;
    float *h;
    Py_ssize_t n, width, steps;
    const float *mask; /* as LstmForward's; with it raw (T*n, width) keeps the tanh's values */
    float *raw;
} ElmanForward;

typedef struct {
    const float *h, *weight_t;
    float *dh, *da;
    Py_ssize_t n, width, steps;
    const float *mask, *raw; /* as LstmBackward's; the forward's raw */
} ElmanBackward;

/* a GRU's or MGU's steps: hu the recurrent products, gates the saved gates (r and z; f), nn the candidates */
typedef struct {
    const float *pre, *weight;
    float *h, *hu, *gates, *nn;
    const float *mask; /* as LstmForward's */
    Py_ssize_t n, width, steps;
} GatedForward;

typedef struct {
    const float *h, *hu, *gates, *nn, *weight_t;
    float *dh, *gx, *ghu;
    const float *mask; /* as LstmBackward's */
    Py_ssize_t n, width, steps;
} GatedBackward;

typedef struct {
    const float *packed_a, *b; /* a packed by the path's pack_transposed */
    float *out;
    Py_ssize_t ldb, ldc, m, k;
    int accumulate;
} TransposedGemm;

/* ---- a convolution, as convolutions.c hands it to a path's convs.h ------------------------------- */

#define CONV_CHUNK 4 /* the vjp sums dW and db over blocks of 4 examples, each block's share apart: the same
                      * sums for any thread count, and a block's columns (4 x K x P) stay in L2 */

typedef struct {
    Py_ssize_t n, channels, height, width, filters, kh, kw, sh, sw, top, left, ho, wo;
} ConvShape;

/* the activation a convolution applies as it writes its output (and whose vjp its own vjp applies to the
 * output's gradient first): both rectifiers are known from their output a alone, a > 0 where z > 0 */
enum { CONV_LINEAR = 0, CONV_RELU = 1, CONV_LEAKY_RELU = 2 };

typedef struct {
    int kind;    /* CONV_LINEAR, CONV_RELU (z < 0 ? 0 : z, numpy's maximum(z, 0)) or CONV_LEAKY_RELU */
    float slope; /* leaky_relu's, at least 0 (z > 0 ? z : slope * z); 0 for relu */
} ConvActivation;

typedef struct {
    const float *x, *w, *bias; /* x (N, C, H, W), w (F, C*kh*kw), bias (F,) or NULL */
    float *out;                /* (N, F, Ho, Wo): the activation of the convolution */
    atomic_int *failed;        /* set where a part could not have its buffer */
    ConvShape shape;
    ConvActivation activation;
} ConvForward;

typedef struct {
    const float *g, *x, *w_t;   /* g (N, F, Ho, Wo), x (N, C, H, W), w_t (C*kh*kw, F): the weight transposed */
    float *dx, *dw_parts, *db_parts; /* dx (N, C, H, W) or NULL; per chunk: dW (F, C*kh*kw), db (F,), or NULL */
    atomic_int *failed;
    ConvShape shape;
    ConvActivation activation;
    const float *a; /* with an activation: the forward's output (N, F, Ho, Wo); g is the gradient of a */
} ConvBackward;

/* the windows ox in [*first, *stop) whose column j (of kw) reads a pixel of an image `width` wide, not
 * its padding (`left` columns before it): 0 <= ox * sw + j - left < width, for ox < wo */
static inline void window_span(Py_ssize_t j, Py_ssize_t left, Py_ssize_t sw, Py_ssize_t width, Py_ssize_t wo,
                               Py_ssize_t *first, Py_ssize_t *stop) {
    Py_ssize_t lo = left - j, hi = width - 1 + left - j; /* ox * sw must lie in [lo, hi] */
    *first = lo > 0 ? (lo + sw - 1) / sw : 0;
    *stop = hi < 0 ? 0 : hi / sw + 1;
    if (*stop > wo) *stop = wo;
    if (*stop < *first) *stop = *first;
}

/* ---- one path: its kernels ---------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int (*runs_here)(void); /* does this CPU have the instructions the path was compiled for */
    /* the element-wise loops (cells.h), on every path */
    void (*lstm_forward_float)(const float *pre, const float *rec, const float *c_prev, float *gates,
                               Py_ssize_t slot, float *c, float *tanh_c, float *h, Py_ssize_t n, Py_ssize_t width);
    void (*lstm_forward_double)(const double *pre, const double *rec, const double *c_prev, double *gates,
                                Py_ssize_t slot, double *c, double *tanh_c, double *h, Py_ssize_t n,
                                Py_ssize_t width);
    void (*lstm_backward_float)(const float *gates, Py_ssize_t slot, const float *c_prev, const float *tanh_c,
                                const float *dh, float *dc, float *da, Py_ssize_t n, Py_ssize_t width);
    void (*lstm_backward_double)(const double *gates, Py_ssize_t slot, const double *c_prev, const double *tanh_c,
                                 const double *dh, double *dc, double *da, Py_ssize_t n, Py_ssize_t width);
    void (*sgd_float)(float *param, float *buf, const float *grad, Py_ssize_t n, float lr, float momentum,
                      int nesterov);
    void (*sgd_double)(double *param, double *buf, const double *grad, Py_ssize_t n, double lr, double momentum,
                       int nesterov);
    void (*adam_float)(float *param, float *m, float *v, const float *grad, Py_ssize_t n, float beta1, float beta2,
                       float keep1, float keep2, float step_size, float correction2_sqrt, float eps);
    void (*adam_double)(double *param, double *m, double *v, const double *grad, Py_ssize_t n, double beta1,
                        double beta2, double keep1, double keep2, double step_size, double correction2_sqrt,
                        double eps);
    void (*maxpool_forward_float)(const float *x, float *best, int32_t *argmax, Py_ssize_t images, Py_ssize_t h,
                                  Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                                  Py_ssize_t ho, Py_ssize_t wo);
    void (*maxpool_forward_double)(const double *x, double *best, int32_t *argmax, Py_ssize_t images,
                                   Py_ssize_t h, Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh,
                                   Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo);
    void (*maxpool_backward_float)(const float *g, const int32_t *argmax, float *out, Py_ssize_t images,
                                   Py_ssize_t h, Py_ssize_t w, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                                   Py_ssize_t ho, Py_ssize_t wo);
    void (*maxpool_backward_double)(const double *g, const int32_t *argmax, double *out, Py_ssize_t images,
                                    Py_ssize_t h, Py_ssize_t w, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                                    Py_ssize_t ho, Py_ssize_t wo);
    void (*avgpool_forward_float)(const float *x, float *mean, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                  Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho,
                                  Py_ssize_t wo);
    void (*avgpool_forward_double)(const double *x, double *mean, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho,
                                   Py_ssize_t wo);
    void (*avgpool_backward_float)(const float *g, float *out, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                   Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho,
                                   Py_ssize_t wo);
    void (*avgpool_backward_double)(const double *g, double *out, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho,
                                    Py_ssize_t wo);
    /* the float32 GEMMs (gemm.h) and the step loops on them (loops.h): NULL on the generic path */
    void (*small_gemm)(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
                       Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, int accumulate);
    Py_ssize_t (*strips_size)(Py_ssize_t k, Py_ssize_t n);
    void (*pack_strips)(const float *b, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t k, Py_ssize_t n,
                        Py_ssize_t slot_width, float *packed);
    Py_ssize_t (*packed_size)(Py_ssize_t m, Py_ssize_t k);
    void (*pack_transposed)(const float *a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k, Py_ssize_t offset,
                            Py_ssize_t total_m, float *packed);
    part_body transposed_gemm_columns; /* TransposedGemm, over columns of out */
    part_body lstm_forward_rows;       /* LstmForward, over sequences; and so on */
    part_body lstm_backward_rows;
    part_body elman_forward_rows;
    part_body elman_backward_rows;
    part_body gru_forward_rows;        /* GatedForward */
    part_body gru_backward_rows;
    part_body mgu_forward_rows;
    part_body mgu_backward_rows;
    part_body conv_forward_examples; /* ConvForward, over examples */
    part_body conv_backward_chunks;  /* ConvBackward, over chunks of CONV_CHUNK examples */
    /* float32 pooling over 2 x 2 windows 2 apart (pools.h): the general loops' results, on vectors */
    void (*maxpool_pairs_forward)(const float *x, float *best, int32_t *argmax, Py_ssize_t images, Py_ssize_t h,
                                  Py_ssize_t w, Py_ssize_t ho, Py_ssize_t wo);
    void (*maxpool_pairs_backward)(const float *g, const int32_t *argmax, float *out, Py_ssize_t images,
                                   Py_ssize_t h, Py_ssize_t w, Py_ssize_t ho, Py_ssize_t wo);
    void (*avgpool_pairs_forward)(const float *x, float *mean, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                  Py_ssize_t ho, Py_ssize_t wo);
    void (*avgpool_pairs_backward)(const float *g, float *out, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w,
                                   Py_ssize_t ho, Py_ssize_t wo);
} Isa;

extern const Isa ISA_AVX512, ISA_AVX2, ISA_GENERIC;

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

/* ---- module.c, sequences.c ---------------------------------------------------------------------- */

/* The path an entry point was bound to (its `self`, a capsule of the Isa) */
const Isa *path_of(PyObject *self);

extern PyMethodDef cell_methods[];     /* every path */
extern PyMethodDef gemm_methods[];     /* paths with the GEMMs */
extern PyMethodDef sequence_methods[]; /* likewise */
extern PyMethodDef conv_methods[];     /* likewise */

#endif
