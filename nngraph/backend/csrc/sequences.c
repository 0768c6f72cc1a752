/* The whole-sequence kernels of a recurrent layer (LSTM, GRU, MGU, Elman) and the weight-gradient GEMM, as
 * Python calls them, on the paths with GEMMs (avx512, avx2): each checks its arrays, packs the weights it
 * reads at every step, and splits its work over threads (threads.c) by sequence, or by column for the
 * GEMM; the path's step loops (loops.h) do the work. */
#include "kernels.h"

PyDoc_STRVAR(lstm_sequence_forward_doc,
"lstm_sequence_forward(pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, threads=1, mask=None)\n\n"
"Every step of a float32 LSTM layer whose only recurrence is its own (h_(t-1) -> h_t). pre (T*n, k)\n"
"with x_weight (k, 4w): the rows of the layer's one input, multiplied in per step; or, x_weight None, pre\n"
"(T*n, 4w) already the input's product. Per step, scratch = (x_t @ x_weight) + bias + h_(t-1) @ weight\n"
"by the small GEMM, then lstm_forward. x_weight, weight (w, 4w) and bias (4w,) or None in parameter\n"
"order (i, f, g, o), as the layer keeps them: reordered into slots (and the sigmoid slots halved) here.\n"
"h and c ((T+1)*n, w): the initial state in the first n rows, step t written to rows (t+1)*n...;\n"
"gates (4, T*n, w) and tanh_c (T*n, w) receive every step's values; scratch (n, 4w). The sequences\n"
"are independent, so `threads` threads each run every step for a block of them. mask (n, w) or None:\n"
"a dropout mask, one row per sequence for every step: each step's h is written masked.");

PyDoc_STRVAR(lstm_sequence_backward_doc,
"lstm_sequence_backward(gates, c, tanh_c, dh, dc, da, weight, bias_grad, threads=1, mask=None)\n\n"
"The reverse sweep of lstm_sequence_forward: per step t from the last, lstm_backward into da's rows\n"
"t*n... (parameter column order), then dh[t*n...] += da_t @ weight.T (weight (w, 4w): the recurrent\n"
"weight in parameter order). dh ((T+1)*n, w): step t's gradient in rows (t+1)*n...; the first n rows\n"
"receive the initial state's. dc (n, w): in, the last cell's gradient; out, the initial cell's.\n"
"bias_grad (4w,) or None: receives the sum of da's rows (the bias gradient), added up in double.\n"
"`threads` as in lstm_sequence_forward. mask: the forward's; each step's rows of dh are multiplied by\n"
"it (in place) before the step's vjp.");

PyDoc_STRVAR(elman_sequence_forward_doc,
"elman_sequence_forward(pre, weight, h, n, threads=1, mask=None, raw=None)\n\n"
"Every step of a float32 tanh layer whose only recurrence is its own (an Elman layer): per step,\n"
"h_t = tanh(pre_t + h_(t-1) @ weight), for n sequences. pre (T*n, w): the inputs' product and the bias\n"
"for every step; weight (w, w); h ((T+1)*n, w): the initial state in the first n rows, step t written\n"
"to rows (t+1)*n.... The sequences are independent, so `threads` threads each run every step for a\n"
"block of them. mask (n, w) and raw (T*n, w), or None: under a dropout mask raw receives the tanh's\n"
"values and h their masked values.");

PyDoc_STRVAR(elman_sequence_backward_doc,
"elman_sequence_backward(h, dh, da, weight, n, threads=1, mask=None, raw=None)\n\n"
"The reverse sweep of elman_sequence_forward: per step t from the last, da_t = dh_t * (1 - h_t^2) into\n"
"da's rows t*n... (da (T*n, w)), then dh_(t-1) += da_t @ weight.T. h and dh ((T+1)*n, w) laid out as\n"
"in the forward; dh's first n rows receive the initial state's gradient. With the forward's mask and raw,\n"
"dh_t *= mask (in place) and the tanh's values are raw's.");

PyDoc_STRVAR(gru_sequence_forward_doc,
"gru_sequence_forward(pre, weight, h, hu, rz, nn, n, threads=1, mask=None)\n\n"
"Every step of a float32 GRU layer whose only recurrence is its own, for n sequences (gate blocks r, z,\n"
"n; nngraph/backend/twins.py). pre (T*n, 3w): the inputs' product and the bias for every step; weight\n"
"(w, 3w): U; h ((T+1)*n, w): the initial state in the first n rows, step t written to rows (t+1)*n...;\n"
"hu (T*n, 3w) receives h_(t-1) @ U, rz (T*n, 2w) the gates r and z, nn (T*n, w) the candidate.\n"
"`threads` and mask as in lstm_sequence_forward.");

PyDoc_STRVAR(gru_sequence_backward_doc,
"gru_sequence_backward(h, hu, rz, nn, dh, gx, ghu, weight, n, threads=1, mask=None)\n\n"
"The reverse sweep of gru_sequence_forward: per step t from the last, the gradients of the step's\n"
"pre-activations into gx's rows t*n... (T*n, 3w) and of hu into ghu's, then dh_(t-1) += dh_t * z +\n"
"ghu_t @ weight.T. dh ((T+1)*n, w) laid out as h; its first n rows receive the initial state's. mask as\n"
"in lstm_sequence_backward.");

PyDoc_STRVAR(mgu_sequence_forward_doc,
"mgu_sequence_forward(pre, weight, h, hu, f, nn, n, threads=1, mask=None)\n\n"
"Every step of a float32 MGU layer, as gru_sequence_forward with gate blocks f, n: pre, hu (T*n, 2w),\n"
"weight (w, 2w), f (T*n, w) the gate.");

PyDoc_STRVAR(mgu_sequence_backward_doc,
"mgu_sequence_backward(h, hu, f, nn, dh, gx, ghu, weight, n, threads=1, mask=None)\n\n"
"The reverse sweep of mgu_sequence_forward, as gru_sequence_backward's: dh_(t-1) += dh_t * f + ghu_t @\n"
"weight.T; gx and ghu (T*n, 2w).");

PyDoc_STRVAR(transposed_gemm_doc,
"transposed_gemm(a, b, out, accumulate=False, threads=1)\n\n"
"out = a.T @ b, or out += a.T @ b, for float32 a (k, m), b (k, n), out (m, n), each with contiguous\n"
"rows: a weight's gradient summed over every step of a sequence. a may be a tuple or list of arrays\n"
"(k, m_i), taken side by side (out has sum m_i rows): the gradients of several weights that multiply\n"
"the same b, in one pass over it. `threads` threads each compute a block of out's columns.");

/* the optional dropout mask (n, width), one row per sequence: *mask NULL where obj is None; -1 with the
 * exception set */
static int take_mask(Arg *arg, PyObject *obj, Py_ssize_t n, Py_ssize_t width, const float **mask) {
    int dtype = F32;
    *mask = NULL;
    if (obj == Py_None) return 0;
    if (take(arg, obj, "mask", 2, 0, &dtype) < 0 || same_shape(arg, n, width, "mask") < 0) return -1;
    *mask = arg->view.buf;
    return 0;
}

/* Pack B (the path's pack_strips, parameter order) into a buffer for the call, point *packed_field (in
 * `job`) at it, and run the parts over `rows` sequences with the GIL released; -1 with MemoryError where
 * the buffer cannot be had. */
static int run_with_packed(const Isa *isa, part_body body, const void *job, const float **packed_field,
                           const float *b, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t k, Py_ssize_t n,
                           Py_ssize_t rows, int threads) {
    float *packed = PyMem_RawMalloc((isa->strips_size(k, n) + 1) * sizeof(float));
    if (!packed) {
        PyErr_NoMemory();
        return -1;
    }
    *packed_field = packed;
    Py_BEGIN_ALLOW_THREADS
    isa->pack_strips(b, row_stride, col_stride, k, n, 0, packed);
    run_parts(body, job, rows, SPLIT_ROWS, thread_count(threads));
    Py_END_ALLOW_THREADS
    PyMem_RawFree(packed);
    return 0;
}

static PyObject *py_lstm_sequence_forward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *o[10];
    o[9] = Py_None;
    int threads = 1;
    const float *mask;
    if (!PyArg_ParseTuple(args, "OOOOOOOOO|iO:lstm_sequence_forward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &o[6], &o[7], &o[8], &threads, &o[9]))
        return NULL;
    Arg a[10];
    memset(a, 0, sizeof a);
    int dtype = 0;
    static const char *names[9] = {"pre", "x_weight", "weight", "h", "c", "gates", "tanh_c", "scratch", "bias"};
    static const int dims[9] = {2, 2, 2, 2, 2, 3, 2, 2, 1}, writes[9] = {0, 0, 0, 1, 1, 1, 1, 1, 0};
    for (int k = 0; k < 9; k++)
        if (o[k] != Py_None && take(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0) return finish(a, 10, 0);
    if (dtype != F32 || o[0] == Py_None || o[2] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "lstm_sequence_forward needs float32 arrays");
        return finish(a, 10, 0);
    }
    int projected = o[1] == Py_None;
    Py_ssize_t n = a[7].view.shape[0], width = a[2].view.shape[0], k = a[0].view.shape[1];
    Py_ssize_t rows = a[0].view.shape[0], steps = n ? rows / n : 0;
    if (n == 0 || rows != steps * n || same_shape(&a[0], rows, projected ? 4 * width : k, "pre") < 0 ||
        (!projected && same_shape(&a[1], k, 4 * width, "x_weight") < 0) ||
        same_shape(&a[2], width, 4 * width, "weight") < 0 || same_shape(&a[3], rows + n, width, "h") < 0 ||
        same_shape(&a[4], rows + n, width, "c") < 0 || same_shape(&a[6], rows, width, "tanh_c") < 0 ||
        same_shape(&a[7], n, 4 * width, "scratch") < 0)
        return finish(a, 10, 0);
    if (o[8] != Py_None && a[8].view.shape[0] != 4 * width) {
        PyErr_Format(PyExc_ValueError, "bias must have %zd values", 4 * width);
        return finish(a, 10, 0);
    }
    if (gates_fit(&a[5], rows, width) < 0 || take_mask(&a[9], o[9], n, width, &mask) < 0) return finish(a, 10, 0);
    {
        /* the weights strip by strip and in slot order, read at every step: see pack_strips */
        Py_ssize_t x_size = projected ? 0 : isa->strips_size(k, 4 * width),
                   w_size = isa->strips_size(width, 4 * width);
        float *packed = PyMem_RawMalloc((x_size + w_size + 4 * width) * sizeof(float)), *bias = NULL;
        if (!packed) {
            PyErr_NoMemory();
            return finish(a, 10, 0);
        }
        if (o[8] != Py_None) {
            bias = packed + x_size + w_size;
            for (Py_ssize_t d = 0; d < 4 * width; d++) {
                float scale;
                Py_ssize_t column = slot_column(d, width, &scale);
                bias[d] = ((const float *)a[8].view.buf)[column] * scale;
            }
        }
        LstmForward job = {a[0].view.buf, projected ? NULL : packed, packed + x_size, bias, a[3].view.buf,
                               a[4].view.buf, a[5].view.buf, a[6].view.buf, a[7].view.buf, n, width, k, steps,
                               a[5].view.strides[0] / a[5].view.itemsize, mask};
        Py_BEGIN_ALLOW_THREADS
        if (!projected) isa->pack_strips(a[1].view.buf, 4 * width, 1, k, 4 * width, width, packed);
        isa->pack_strips(a[2].view.buf, 4 * width, 1, width, 4 * width, width, packed + x_size);
        run_parts(isa->lstm_forward_rows, &job, n, SPLIT_ROWS, thread_count(threads));
        Py_END_ALLOW_THREADS
        PyMem_RawFree(packed);
    }
    return finish(a, 10, 1);
}

static PyObject *py_lstm_sequence_backward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *o[9];
    o[8] = Py_None;
    int threads = 1;
    const float *mask;
    if (!PyArg_ParseTuple(args, "OOOOOOOO|iO:lstm_sequence_backward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5],
                          &o[6], &o[7], &threads, &o[8]))
        return NULL;
    Arg a[9];
    memset(a, 0, sizeof a);
    int dtype = 0, with_bias = o[7] != Py_None;
    double *sums = NULL;
    static const char *names[8] = {"gates", "c", "tanh_c", "dh", "dc", "da", "weight", "bias_grad"};
    static const int dims[8] = {3, 2, 2, 2, 2, 2, 2, 1}, writes[8] = {0, 0, 0, 1, 1, 1, 0, 1};
    for (int k = 0; k < 8; k++)
        if ((k < 7 || with_bias) && take(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0) goto fail;
    if (dtype != F32) {
        PyErr_SetString(PyExc_TypeError, "lstm_sequence_backward needs float32 arrays");
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
    if (gates_fit(&a[0], rows, width) < 0 || take_mask(&a[8], o[8], n, width, &mask) < 0) goto fail;
    {
        Py_ssize_t blocks = (n + SPLIT_ROWS - 1) / SPLIT_ROWS;
        sums = with_bias ? PyMem_RawCalloc(blocks * 4 * width, sizeof(double)) : NULL;
        if (with_bias && !sums) {
            PyErr_NoMemory();
            goto fail;
        }
        LstmBackward job = {a[0].view.buf, a[1].view.buf, a[2].view.buf, NULL, a[3].view.buf,
                                a[4].view.buf, a[5].view.buf, sums, n, width, steps,
                                a[0].view.strides[0] / a[0].view.itemsize, mask};
        if (run_with_packed(isa, isa->lstm_backward_rows, &job, &job.weight_t, a[6].view.buf, 1, 4 * width, 4 * width,
                            width, n, threads) < 0)
            goto fail; /* weight^T: rows and columns swapped */
        float *bias_grad = with_bias ? a[7].view.buf : NULL;
        for (Py_ssize_t j = 0; bias_grad && j < 4 * width; j++) {
            double total = 0.0;
            for (Py_ssize_t b = 0; b < blocks; b++) total += sums[b * 4 * width + j];
            bias_grad[j] = (float)total;
        }
    }
    PyMem_RawFree(sums);
    return finish(a, 9, 1);
fail:
    PyMem_RawFree(sums);
    return finish(a, 9, 0);
}


/* take `count` float32 arrays; -1 with the exception set */
static int take_f32(Arg *a, PyObject **o, const char **names, const int *writes, int count, const char *kernel) {
    int dtype = 0;
    for (int k = 0; k < count; k++)
        if (take(&a[k], o[k], names[k], 2, writes[k], &dtype) < 0) return -1;
    if (dtype != F32) {
        PyErr_Format(PyExc_TypeError, "%s needs float32 arrays", kernel);
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

/* An Elman layer's optional mask and raw (T*n, w), which come together: -1 with the exception set */
static int take_mask_and_raw(Arg *a, PyObject *mask_obj, PyObject *raw_obj, Py_ssize_t n, Py_ssize_t w,
                             Py_ssize_t rows, const float **mask, float **raw) {
    int dtype = F32;
    *raw = NULL;
    if ((mask_obj == Py_None) != (raw_obj == Py_None)) {
        PyErr_SetString(PyExc_ValueError, "mask and raw come together: the tanh's values are kept under a mask");
        return -1;
    }
    if (take_mask(&a[0], mask_obj, n, w, mask) < 0) return -1;
    if (raw_obj == Py_None) return 0;
    if (take(&a[1], raw_obj, "raw", 2, 1, &dtype) < 0 || same_shape(&a[1], rows, w, "raw") < 0) return -1;
    *raw = a[1].view.buf;
    return 0;
}

static PyObject *py_elman_sequence_forward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *o[5];
    o[3] = o[4] = Py_None;
    Py_ssize_t n;
    int threads = 1;
    const float *mask;
    float *raw;
    if (!PyArg_ParseTuple(args, "OOOn|iOO:elman_sequence_forward", &o[0], &o[1], &o[2], &n, &threads, &o[3], &o[4]))
        return NULL;
    Arg a[5];
    memset(a, 0, sizeof a);
    static const char *names[3] = {"pre", "weight", "h"};
    static const int writes[3] = {0, 0, 1};
    if (take_f32(a, o, names, writes, 3, "elman_sequence_forward") < 0) return finish(a, 5, 0);
    Py_ssize_t w = a[1].view.shape[0], steps = whole_steps(&a[0], n, "pre"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows, w, "pre") < 0 || same_shape(&a[1], w, w, "weight") < 0 ||
        same_shape(&a[2], rows + n, w, "h") < 0 || take_mask_and_raw(&a[3], o[3], o[4], n, w, rows, &mask, &raw) < 0)
        return finish(a, 5, 0);
    ElmanForward job = {a[0].view.buf, NULL, a[2].view.buf, n, w, steps, mask, raw};
    if (run_with_packed(isa, isa->elman_forward_rows, &job, &job.weight, a[1].view.buf, w, 1, w, w, n, threads) < 0)
        return finish(a, 5, 0);
    return finish(a, 5, 1);
}

static PyObject *py_elman_sequence_backward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *o[6];
    o[4] = o[5] = Py_None;
    Py_ssize_t n;
    int threads = 1;
    const float *mask;
    float *raw;
    if (!PyArg_ParseTuple(args, "OOOOn|iOO:elman_sequence_backward", &o[0], &o[1], &o[2], &o[3], &n, &threads, &o[4],
                          &o[5]))
        return NULL;
    Arg a[6];
    memset(a, 0, sizeof a);
    static const char *names[4] = {"h", "dh", "da", "weight"};
    static const int writes[4] = {0, 1, 1, 0};
    if (take_f32(a, o, names, writes, 4, "elman_sequence_backward") < 0) return finish(a, 6, 0);
    Py_ssize_t w = a[3].view.shape[0], steps = whole_steps(&a[2], n, "da"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows + n, w, "h") < 0 || same_shape(&a[1], rows + n, w, "dh") < 0 ||
        same_shape(&a[2], rows, w, "da") < 0 || same_shape(&a[3], w, w, "weight") < 0 ||
        take_mask_and_raw(&a[4], o[4], o[5], n, w, rows, &mask, &raw) < 0)
        return finish(a, 6, 0);
    ElmanBackward job = {a[0].view.buf, NULL, a[1].view.buf, a[2].view.buf, n, w, steps, mask, raw};
    if (run_with_packed(isa, isa->elman_backward_rows, &job, &job.weight_t, a[3].view.buf, 1, w, w, w, n, threads) < 0)
        return finish(a, 6, 0); /* weight^T: rows and columns swapped */
    return finish(a, 6, 1);
}

/* A GRU's (K = 3 gate blocks) or MGU's (K = 2) whole-sequence forward; `name` the entry's, for errors */
static PyObject *gated_sequence_forward(PyObject *self, PyObject *args, const char *format, const char *name,
                                        Py_ssize_t K) {
    const Isa *isa = path_of(self);
    PyObject *o[7];
    o[6] = Py_None;
    Py_ssize_t n;
    int threads = 1;
    const float *mask;
    if (!PyArg_ParseTuple(args, format, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &n, &threads, &o[6])) return NULL;
    Arg a[7];
    memset(a, 0, sizeof a);
    static const char *names[6] = {"pre", "weight", "h", "hu", "gates", "nn"};
    static const int writes[6] = {0, 0, 1, 1, 1, 1};
    if (take_f32(a, o, names, writes, 6, name) < 0) return finish(a, 7, 0);
    Py_ssize_t w = a[1].view.shape[0], steps = whole_steps(&a[0], n, "pre"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows, K * w, "pre") < 0 || same_shape(&a[1], w, K * w, "weight") < 0 ||
        same_shape(&a[2], rows + n, w, "h") < 0 || same_shape(&a[3], rows, K * w, "hu") < 0 ||
        same_shape(&a[4], rows, (K - 1) * w, "gates") < 0 || same_shape(&a[5], rows, w, "nn") < 0 ||
        take_mask(&a[6], o[6], n, w, &mask) < 0)
        return finish(a, 7, 0);
    GatedForward job = {a[0].view.buf, NULL, a[2].view.buf, a[3].view.buf, a[4].view.buf, a[5].view.buf, mask, n, w,
                        steps};
    part_body body = K == 3 ? isa->gru_forward_rows : isa->mgu_forward_rows;
    if (run_with_packed(isa, body, &job, &job.weight, a[1].view.buf, K * w, 1, w, K * w, n, threads) < 0)
        return finish(a, 7, 0);
    return finish(a, 7, 1);
}

/* Its reverse sweep */
static PyObject *gated_sequence_backward(PyObject *self, PyObject *args, const char *format, const char *name,
                                         Py_ssize_t K) {
    const Isa *isa = path_of(self);
    PyObject *o[9];
    o[8] = Py_None;
    Py_ssize_t n;
    int threads = 1;
    const float *mask;
    if (!PyArg_ParseTuple(args, format, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7], &n, &threads, &o[8]))
        return NULL;
    Arg a[9];
    memset(a, 0, sizeof a);
    static const char *names[8] = {"h", "hu", "gates", "nn", "dh", "gx", "ghu", "weight"};
    static const int writes[8] = {0, 0, 0, 0, 1, 1, 1, 0};
    if (take_f32(a, o, names, writes, 8, name) < 0) return finish(a, 9, 0);
    Py_ssize_t w = a[7].view.shape[0], steps = whole_steps(&a[1], n, "hu"), rows = steps * n;
    if (steps < 0 || same_shape(&a[0], rows + n, w, "h") < 0 || same_shape(&a[1], rows, K * w, "hu") < 0 ||
        same_shape(&a[2], rows, (K - 1) * w, "gates") < 0 || same_shape(&a[3], rows, w, "nn") < 0 ||
        same_shape(&a[4], rows + n, w, "dh") < 0 || same_shape(&a[5], rows, K * w, "gx") < 0 ||
        same_shape(&a[6], rows, K * w, "ghu") < 0 || same_shape(&a[7], w, K * w, "weight") < 0 ||
        take_mask(&a[8], o[8], n, w, &mask) < 0)
        return finish(a, 9, 0);
    GatedBackward job = {a[0].view.buf, a[1].view.buf, a[2].view.buf, a[3].view.buf, NULL, a[4].view.buf,
                         a[5].view.buf, a[6].view.buf, mask, n, w, steps};
    part_body body = K == 3 ? isa->gru_backward_rows : isa->mgu_backward_rows;
    if (run_with_packed(isa, body, &job, &job.weight_t, a[7].view.buf, 1, K * w, K * w, w, n, threads) < 0)
        return finish(a, 9, 0); /* weight^T: rows and columns swapped */
    return finish(a, 9, 1);
}

static PyObject *py_gru_sequence_forward(PyObject *self, PyObject *args) {
    return gated_sequence_forward(self, args, "OOOOOOn|iO:gru_sequence_forward", "gru_sequence_forward", 3);
}

static PyObject *py_gru_sequence_backward(PyObject *self, PyObject *args) {
    return gated_sequence_backward(self, args, "OOOOOOOOn|iO:gru_sequence_backward", "gru_sequence_backward", 3);
}

static PyObject *py_mgu_sequence_forward(PyObject *self, PyObject *args) {
    return gated_sequence_forward(self, args, "OOOOOOn|iO:mgu_sequence_forward", "mgu_sequence_forward", 2);
}

static PyObject *py_mgu_sequence_backward(PyObject *self, PyObject *args) {
    return gated_sequence_backward(self, args, "OOOOOOOOn|iO:mgu_sequence_backward", "mgu_sequence_backward", 2);
}

#define MAX_FACTORS 16

static PyObject *py_transposed_gemm(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *first, *b_obj, *out_obj;
    int accumulate = 0, threads = 1;
    if (!PyArg_ParseTuple(args, "OOO|pi:transposed_gemm", &first, &b_obj, &out_obj, &accumulate, &threads))
        return NULL;
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
    packed = PyMem_RawMalloc((isa->packed_size(total_m, k) + 1) * sizeof(float));
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
            isa->pack_transposed(a[f].view.buf, a[f].view.strides[0] / item, a[f].view.shape[1], k, offset, total_m, packed);
        run_parts(isa->transposed_gemm_columns, &job, n, 32, thread_count(threads));
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(packed);
    return finish(a, count, 1);
fail:
    return finish(a, count, 0);
}

PyMethodDef sequence_methods[] = {
    {"lstm_sequence_forward", py_lstm_sequence_forward, METH_VARARGS, lstm_sequence_forward_doc},
    {"lstm_sequence_backward", py_lstm_sequence_backward, METH_VARARGS, lstm_sequence_backward_doc},
    {"gru_sequence_forward", py_gru_sequence_forward, METH_VARARGS, gru_sequence_forward_doc},
    {"gru_sequence_backward", py_gru_sequence_backward, METH_VARARGS, gru_sequence_backward_doc},
    {"mgu_sequence_forward", py_mgu_sequence_forward, METH_VARARGS, mgu_sequence_forward_doc},
    {"mgu_sequence_backward", py_mgu_sequence_backward, METH_VARARGS, mgu_sequence_backward_doc},
    {"elman_sequence_forward", py_elman_sequence_forward, METH_VARARGS, elman_sequence_forward_doc},
    {"elman_sequence_backward", py_elman_sequence_backward, METH_VARARGS, elman_sequence_backward_doc},
    {"transposed_gemm", py_transposed_gemm, METH_VARARGS, transposed_gemm_doc},
    {NULL, NULL, 0, NULL},
};
