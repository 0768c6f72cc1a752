/* Fused CPU kernels for the numpy backend: the element-wise work of an LSTM step, max pooling and the
 * optimizer updates, each one pass over its arrays instead of one numpy call (and one pass) per
 * operation; and the GEMMs of a recurrent layer.
 *
 * Why C: on the sizes that matter here (an LSTM step of 32 x 128, an MLP's 270k parameters) numpy
 * spends more time in per-call overhead and extra passes over memory than in arithmetic; one loop
 * that reads each input once and writes each output once is 3-6x faster. Most GEMMs stay in numpy's
 * BLAS; the ones of a recurrent layer are here (the per-step products, too small for a BLAS to pay
 * its packing back, and the weight gradients over all steps), so that the whole-sequence kernels
 * and those gradients can split over threads of our own (see threads.c). Every kernel has a numpy
 * twin (nngraph/backend/twins.py), and nngraph/backend/accel.py, the one door to both, hands out the
 * twin wherever the kernel does not run or does not pay; tests hold the two to each other.
 *
 * Paths: every kernel is compiled once per instruction set (isa_*.c), and each path's functions are
 * bound to its table (`paths` below), so one process can call every path the CPU runs.
 *
 * Floating point: each kernel works in the array's dtype (float32 or float64) and is compiled without
 * contraction into FMAs (setup.py: -ffp-contract=off), so every operation rounds as numpy's ufuncs
 * do and results do not depend on the path (the optimizer kernels are bit-identical to their numpy
 * twins). The GEMMs are the exception by design: they are FMAs (like every BLAS, whose summation order
 * numpy does not fix either), summed in the same order on every path. The one approximation: float32
 * tanh is a rational function (|error| < 3e-7 over every float32 input, ~5 ulp near +-1, far less near
 * 0; numpy's own is about 0.5 ulp) because libm's tanhf does not vectorize; its polynomials are explicit
 * FMAs (fmaf: one rounding each, so the same bits on every path; the generic path, without FMA
 * instructions, calls libm's fmaf: slow, the same bits). float64 uses libm's tanh.
 *
 * Arrays come in through the buffer protocol (no numpy headers needed to build): each is checked for
 * dtype, shape and a contiguous last axis; any mismatch raises TypeError or ValueError.
 */
#include "kernels.h"

/* ---- Python entry points ----------------------------------------------------------------------- */

PyDoc_STRVAR(lstm_forward_doc,
"lstm_forward(pre, rec, c_prev, gates, c, tanh_c, h)\n\n"
"One LSTM step. pre (n, 4h): pre-activations in slot order with halved sigmoid slots; rec: the same\n"
"layout, added to pre, or None. gates (4, n, h): receives the gate values (i, f, o, g). c, tanh_c and\n"
"h (n, h) receive the cell, its tanh and the output; c_prev (n, h) is the previous cell.");

static PyObject *py_lstm_forward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
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
        isa->lstm_forward_float(a[0].view.buf, has_rec ? a[1].view.buf : NULL, a[2].view.buf, a[3].view.buf, slot,
                           a[4].view.buf, a[5].view.buf, a[6].view.buf, n, width);
    else
        isa->lstm_forward_double(a[0].view.buf, has_rec ? a[1].view.buf : NULL, a[2].view.buf, a[3].view.buf, slot,
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
    const Isa *isa = path_of(self);
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
        isa->lstm_backward_float(a[0].view.buf, slot, a[1].view.buf, a[2].view.buf, a[3].view.buf, a[4].view.buf,
                            a[5].view.buf, n, width);
    else
        isa->lstm_backward_double(a[0].view.buf, slot, a[1].view.buf, a[2].view.buf, a[3].view.buf, a[4].view.buf,
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
    const Isa *isa = path_of(self);
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
        isa->sgd_float(param, buf, grad, n, (float)lr, (float)momentum, nesterov);
    else
        isa->sgd_double(param, buf, grad, n, lr, momentum, nesterov);
    Py_END_ALLOW_THREADS
    return finish(a, 3, 1);
}

PyDoc_STRVAR(adam_doc,
"adam(param, exp_avg, exp_avg_sq, grad, beta1, beta2, step_size, correction2_sqrt, eps)\n\n"
"torch.optim.Adam's step in place over flat contiguous arrays, with this step's bias corrections:\n"
"step_size = lr / (1 - beta1^t), correction2_sqrt = sqrt(1 - beta2^t).");

static PyObject *py_adam(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
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
        isa->adam_float(p, m, v, g, n, (float)b1, (float)b2, (float)(1.0 - b1), (float)(1.0 - b2), (float)step,
                   (float)c2, (float)eps);
    else
        isa->adam_double(p, m, v, g, n, b1, b2, 1.0 - b1, 1.0 - b2, step, c2, eps);
    Py_END_ALLOW_THREADS
    return finish(a, 4, 1);
}

PyDoc_STRVAR(small_gemm_doc,
"small_gemm(a, b, out, accumulate)\n\n"
"out = a @ b, or out += a @ b with accumulate, for float32 a (m, k), b (k, n), out (m, n), each with\n"
"contiguous rows (row strides may differ). On the avx512 and avx2 paths.");

static PyObject *py_small_gemm(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *o[3];
    int accumulate;
    if (!PyArg_ParseTuple(args, "OOOp:small_gemm", &o[0], &o[1], &o[2], &accumulate)) return NULL;
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
    {
        Py_ssize_t item = a[0].view.itemsize;
        Py_BEGIN_ALLOW_THREADS
        isa->small_gemm(a[0].view.buf, a[0].view.strides[0] / item, a[1].view.buf, a[1].view.strides[0] / item,
                        a[2].view.buf, a[2].view.strides[0] / item, m, n, k, accumulate);
        Py_END_ALLOW_THREADS
    }
    return finish(a, 3, 1);
fail:
    return finish(a, 3, 0);
}

PyDoc_STRVAR(maxpool_forward_doc,
"maxpool_forward(x, best, argmax, kernel, stride, threads=1)\n\n"
"Max pooling of an already padded x (N, C, H, W): best (N, C, Ho, Wo) receives each window's maximum,\n"
"argmax (int32, same shape) the offset number i * kw + j where it was first found. kernel and stride\n"
"are (rows, cols) pairs. `threads` threads each take a block of the N * C images.");

/* max pooling's work split over the N * C images: each part runs the path's loop on its own block */
typedef struct {
    const Isa *isa;
    int dtype;
    const void *x;          /* forward: the padded input; backward: g */
    void *y;                /* forward: best; backward: the padded input's gradient */
    int32_t *argmax;
    Py_ssize_t h, w, kh, kw, sh, sw, ho, wo;
} PoolJob;

#define POOL_GRAIN 8 /* images a part takes at least: LeNet's smallest (8 x 8) are 64 values each */

/* float32 2 x 2 windows 2 apart on a vector path: its pools.h loop (NULL elsewhere) */
static int pairs(const PoolJob *j, int has_loop) {
    return has_loop && j->dtype == F32 && j->kh == 2 && j->kw == 2 && j->sh == 2 && j->sw == 2;
}

static void maxpool_forward_images(const void *job, Py_ssize_t m0, Py_ssize_t m1) {
    const PoolJob *j = job;
    Py_ssize_t in = m0 * j->h * j->w, out = m0 * j->ho * j->wo;
    if (pairs(j, j->isa->maxpool_pairs_forward != NULL))
        j->isa->maxpool_pairs_forward((const float *)j->x + in, (float *)j->y + out, j->argmax + out, m1 - m0, j->h,
                                      j->w, j->ho, j->wo);
    else if (j->dtype == F32)
        j->isa->maxpool_forward_float((const float *)j->x + in, (float *)j->y + out, j->argmax + out, m1 - m0, j->h,
                                      j->w, j->kh, j->kw, j->sh, j->sw, j->ho, j->wo);
    else
        j->isa->maxpool_forward_double((const double *)j->x + in, (double *)j->y + out, j->argmax + out, m1 - m0,
                                       j->h, j->w, j->kh, j->kw, j->sh, j->sw, j->ho, j->wo);
}

static void maxpool_backward_images(const void *job, Py_ssize_t m0, Py_ssize_t m1) {
    const PoolJob *j = job;
    Py_ssize_t in = m0 * j->ho * j->wo, out = m0 * j->h * j->w;
    if (pairs(j, j->isa->maxpool_pairs_backward != NULL))
        j->isa->maxpool_pairs_backward((const float *)j->x + in, j->argmax + in, (float *)j->y + out, m1 - m0, j->h,
                                       j->w, j->ho, j->wo);
    else if (j->dtype == F32)
        j->isa->maxpool_backward_float((const float *)j->x + in, j->argmax + in, (float *)j->y + out, m1 - m0, j->h,
                                       j->w, j->kw, j->sh, j->sw, j->ho, j->wo);
    else
        j->isa->maxpool_backward_double((const double *)j->x + in, j->argmax + in, (double *)j->y + out, m1 - m0,
                                        j->h, j->w, j->kw, j->sh, j->sw, j->ho, j->wo);
}

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
    const Isa *isa = path_of(self);
    PyObject *x, *best, *argmax;
    Py_ssize_t kh, kw, sh, sw, shape[8];
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOO(nn)(nn)|i:maxpool_forward", &x, &best, &argmax, &kh, &kw, &sh, &sw, &threads))
        return NULL;
    Arg a[3];
    memset(a, 0, sizeof a);
    int dtype = 0;
    if (pool_arrays(a, x, best, 0, &dtype, shape) < 0 || !window_fits(shape, kh, kw, sh, sw) ||
        take_indices(&a[2], argmax, 1, shape[4] * shape[5] * shape[6] * shape[7]) < 0)
        return finish(a, 3, 0);
    PoolJob job = {isa, dtype, a[0].view.buf, a[1].view.buf, a[2].view.buf, shape[2], shape[3], kh, kw, sh, sw,
                   shape[6], shape[7]};
    Py_BEGIN_ALLOW_THREADS
    run_parts(maxpool_forward_images, &job, shape[0] * shape[1], POOL_GRAIN, thread_count(threads));
    Py_END_ALLOW_THREADS
    return finish(a, 3, 1);
}

PyDoc_STRVAR(maxpool_backward_doc,
"maxpool_backward(out, g, argmax, kernel, stride, threads=1)\n\n"
"The vjp of maxpool_forward: out (N, C, H, W), the padded input's gradient, written whole: zeros, and each\n"
"window's gradient g (N, C, Ho, Wo) added at its argmax offset. `threads` as maxpool_forward's.");

static PyObject *py_maxpool_backward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *out, *g, *argmax;
    Py_ssize_t kh, kw, sh, sw, shape[8];
    int threads = 1;
    if (!PyArg_ParseTuple(args, "OOO(nn)(nn)|i:maxpool_backward", &out, &g, &argmax, &kh, &kw, &sh, &sw, &threads))
        return NULL;
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
    PoolJob job = {isa, dtype, a[1].view.buf, a[0].view.buf, (int32_t *)where, shape[2], shape[3], kh, kw, sh, sw,
                   shape[6], shape[7]};
    Py_BEGIN_ALLOW_THREADS
    run_parts(maxpool_backward_images, &job, shape[0] * shape[1], POOL_GRAIN, thread_count(threads));
    Py_END_ALLOW_THREADS
    return finish(a, 3, 1);
}

/* average pooling's work split as max pooling's, over the N * C images (argmax NULL) */
static void avgpool_forward_images(const void *job, Py_ssize_t m0, Py_ssize_t m1) {
    const PoolJob *j = job;
    Py_ssize_t in = m0 * j->h * j->w, out = m0 * j->ho * j->wo;
    if (pairs(j, j->isa->avgpool_pairs_forward != NULL))
        j->isa->avgpool_pairs_forward((const float *)j->x + in, (float *)j->y + out, m1 - m0, j->h, j->w, j->ho,
                                      j->wo);
    else if (j->dtype == F32)
        j->isa->avgpool_forward_float((const float *)j->x + in, (float *)j->y + out, m1 - m0, j->h, j->w, j->kh,
                                      j->kw, j->sh, j->sw, j->ho, j->wo);
    else
        j->isa->avgpool_forward_double((const double *)j->x + in, (double *)j->y + out, m1 - m0, j->h, j->w,
                                       j->kh, j->kw, j->sh, j->sw, j->ho, j->wo);
}

static void avgpool_backward_images(const void *job, Py_ssize_t m0, Py_ssize_t m1) {
    const PoolJob *j = job;
    Py_ssize_t in = m0 * j->ho * j->wo, out = m0 * j->h * j->w;
    if (pairs(j, j->isa->avgpool_pairs_backward != NULL))
        j->isa->avgpool_pairs_backward((const float *)j->x + in, (float *)j->y + out, m1 - m0, j->h, j->w, j->ho,
                                       j->wo);
    else if (j->dtype == F32)
        j->isa->avgpool_backward_float((const float *)j->x + in, (float *)j->y + out, m1 - m0, j->h, j->w, j->kh,
                                       j->kw, j->sh, j->sw, j->ho, j->wo);
    else
        j->isa->avgpool_backward_double((const double *)j->x + in, (double *)j->y + out, m1 - m0, j->h, j->w,
                                        j->kh, j->kw, j->sh, j->sw, j->ho, j->wo);
}

/* image: the padded input (forward) or its gradient (backward, written whole); pooled: the means or their
 * gradient. Both checked as max pooling's, then the images split over `threads` threads. */
static PyObject *avgpool_call(PyObject *self, PyObject *args, const char *format, int image_out,
                              void (*part)(const void *, Py_ssize_t, Py_ssize_t)) {
    const Isa *isa = path_of(self);
    PyObject *image, *pooled;
    Py_ssize_t kh, kw, sh, sw, shape[8];
    int threads = 1;
    if (!PyArg_ParseTuple(args, format, &image, &pooled, &kh, &kw, &sh, &sw, &threads)) return NULL;
    Arg a[2];
    memset(a, 0, sizeof a);
    int dtype = 0;
    if (pool_arrays(a, image, pooled, image_out, &dtype, shape) < 0 || !window_fits(shape, kh, kw, sh, sw))
        return finish(a, 2, 0);
    PoolJob job = {isa, dtype, image_out ? a[1].view.buf : a[0].view.buf, image_out ? a[0].view.buf : a[1].view.buf,
                   NULL, shape[2], shape[3], kh, kw, sh, sw, shape[6], shape[7]};
    Py_BEGIN_ALLOW_THREADS
    run_parts(part, &job, shape[0] * shape[1], POOL_GRAIN, thread_count(threads));
    Py_END_ALLOW_THREADS
    return finish(a, 2, 1);
}

PyDoc_STRVAR(avgpool_forward_doc,
"avgpool_forward(x, mean, kernel, stride, threads=1)\n\n"
"Average pooling of an already padded x (N, C, H, W): mean (N, C, Ho, Wo) receives each window's sum,\n"
"made offset by offset (row by row), times 1 / (kh * kw): the whole window, padding included. kernel and\n"
"stride are (rows, cols) pairs. `threads` threads each take a block of the N * C images.");

static PyObject *py_avgpool_forward(PyObject *self, PyObject *args) {
    return avgpool_call(self, args, "OO(nn)(nn)|i:avgpool_forward", 0, avgpool_forward_images);
}

PyDoc_STRVAR(avgpool_backward_doc,
"avgpool_backward(out, g, kernel, stride, threads=1)\n\n"
"The vjp of avgpool_forward: out (N, C, H, W), the padded input's gradient, written whole: zeros, and\n"
"each window's gradient g (N, C, Ho, Wo) times 1 / (kh * kw) on each of its pixels (summed where windows\n"
"overlap, offset by offset). `threads` as avgpool_forward's.");

static PyObject *py_avgpool_backward(PyObject *self, PyObject *args) {
    return avgpool_call(self, args, "OO(nn)(nn)|i:avgpool_backward", 1, avgpool_backward_images);
}

PyMethodDef cell_methods[] = {
    {"lstm_forward", py_lstm_forward, METH_VARARGS, lstm_forward_doc},
    {"lstm_backward", py_lstm_backward, METH_VARARGS, lstm_backward_doc},
    {"sgd", py_sgd, METH_VARARGS, sgd_doc},
    {"adam", py_adam, METH_VARARGS, adam_doc},
    {"maxpool_forward", py_maxpool_forward, METH_VARARGS, maxpool_forward_doc},
    {"maxpool_backward", py_maxpool_backward, METH_VARARGS, maxpool_backward_doc},
    {"avgpool_forward", py_avgpool_forward, METH_VARARGS, avgpool_forward_doc},
    {"avgpool_backward", py_avgpool_backward, METH_VARARGS, avgpool_backward_doc},
    {NULL, NULL, 0, NULL},
};

PyMethodDef gemm_methods[] = {
    {"small_gemm", py_small_gemm, METH_VARARGS, small_gemm_doc},
    {NULL, NULL, 0, NULL},
};

/* ---- the paths ----------------------------------------------------------------------------------
 * Best first. Each one that runs on this CPU becomes a dict of its functions, bound to its table through
 * a capsule (their `self`), so one process can call every path its CPU runs, side by side. */

static const Isa *const PATHS[] = {&ISA_AVX512, &ISA_AVX2, &ISA_GENERIC};
#define PATH_COUNT ((int)(sizeof PATHS / sizeof PATHS[0]))
static const char CAPSULE[] = "nngraph.backend._kernels.path";

const Isa *path_of(PyObject *self) { return PyCapsule_GetPointer(self, CAPSULE); }

static int add_functions(PyObject *dict, PyMethodDef *defs, PyObject *capsule, PyObject *module_name) {
    for (PyMethodDef *def = defs; def->ml_name; def++) {
        PyObject *function = PyCFunction_NewEx(def, capsule, module_name);
        int failed = !function || PyDict_SetItemString(dict, def->ml_name, function) < 0;
        Py_XDECREF(function);
        if (failed) return -1;
    }
    return 0;
}

static PyObject *path_functions(const Isa *isa, PyObject *module_name) {
    PyObject *capsule = PyCapsule_New((void *)isa, CAPSULE, NULL), *dict = PyDict_New();
    int ok = capsule && dict && add_functions(dict, cell_methods, capsule, module_name) == 0 &&
             (!isa->small_gemm || (add_functions(dict, gemm_methods, capsule, module_name) == 0 &&
                                   add_functions(dict, sequence_methods, capsule, module_name) == 0 &&
                                   add_functions(dict, conv_methods, capsule, module_name) == 0));
    Py_XDECREF(capsule);
    if (!ok) Py_CLEAR(dict);
    return dict;
}

/* `paths`: {name: {function name: function}} for the paths this CPU runs, best first; `built_paths`:
 * the names of the paths compiled into this build (a path is left out where the compiler cannot target it) */
static int add_paths(PyObject *mod) {
    PyObject *paths = PyDict_New(), *built = PyList_New(0), *name = PyModule_GetNameObject(mod);
    int ok = paths && built && name;
    for (int p = 0; ok && p < PATH_COUNT; p++) {
        if (!PATHS[p]->runs_here) continue;
        PyObject *label = PyUnicode_FromString(PATHS[p]->name);
        ok = label && PyList_Append(built, label) == 0;
        if (ok && PATHS[p]->runs_here()) {
            PyObject *functions = path_functions(PATHS[p], name);
            ok = functions && PyDict_SetItem(paths, label, functions) == 0;
            Py_XDECREF(functions);
        }
        Py_XDECREF(label);
    }
    PyObject *built_tuple = ok ? PyList_AsTuple(built) : NULL;
    ok = ok && built_tuple && PyModule_AddObjectRef(mod, "paths", paths) == 0 &&
         PyModule_AddObjectRef(mod, "built_paths", built_tuple) == 0;
    Py_XDECREF(paths), Py_XDECREF(built), Py_XDECREF(name), Py_XDECREF(built_tuple);
    return ok ? 0 : -1;
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "nngraph.backend._kernels",
    "Fused CPU kernels for the numpy backend, one set per instruction-set path (see nngraph/backend/accel.py).",
    -1, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) {
    PyObject *mod = PyModule_Create(&module);
    if (mod && add_paths(mod) < 0) Py_CLEAR(mod);
    return mod;
}
