/* A float32 2-D convolution's forward and vjp, as Python calls them, on the paths with GEMMs (avx512,
 * avx2): each checks its arrays and splits the batch over threads (threads.c); the path's convs.h does the
 * work, one example's columns at a time. */
#include "kernels.h"

PyDoc_STRVAR(conv2d_forward_doc,
"conv2d_forward(x, w, bias, out, stride, pads, threads=1, activation=0, slope=0.0)\n\n"
"out = the cross-correlation of float32 x (N, C, H, W) with w (F, C, kh, kw), plus bias (F,) or None:\n"
"out (N, F, Ho, Wo), whose Ho and Wo say how many windows there are. stride (rows, cols); pads (top, left):\n"
"the zero rows and columns before the image (those after it are implied by Ho and Wo). Every array\n"
"contiguous. `threads` threads each take a block of examples. activation 1 writes relu(out), 2\n"
"leaky_relu(out) with `slope` (at least 0), 0 out itself.");

PyDoc_STRVAR(conv2d_backward_doc,
"conv2d_backward(g, x, w, dx, dw, db, stride, pads, threads=1, a=None, activation=0, slope=0.0)\n\n"
"The vjp of conv2d_forward for its output's gradient g (N, F, Ho, Wo): writes dx (N, C, H, W), dw\n"
"(F, C, kh, kw) and db (F,), each of which may be None (not computed). dW and db are summed over blocks of\n"
"4 examples, then the blocks' sums in order (in double), so any thread count gives the same bits. With an\n"
"activation (as conv2d_forward's), g is the gradient of the forward's output a (N, F, Ho, Wo).");

/* an activation code and slope from Python, or -1 with the error set */
static int conv_activation(int kind, double slope, ConvActivation *act) {
    if (kind < CONV_LINEAR || kind > CONV_LEAKY_RELU || !(slope >= 0.0) || (kind != CONV_LEAKY_RELU && slope != 0.0)) {
        PyErr_SetString(PyExc_ValueError, "activation must be 0 (none), 1 (relu) or 2 (leaky_relu, slope >= 0)");
        return -1;
    }
    *act = (ConvActivation){kind, (float)slope};
    return 0;
}

/* a 4-D (or 1-D) array taken whole: every axis contiguous */
static int take_whole(Arg *arg, PyObject *obj, const char *name, int ndim, int writable, int *dtype) {
    if (take(arg, obj, name, ndim, writable, dtype) < 0) return -1;
    const Py_buffer *v = &arg->view;
    if (ndim > 1 && v->shape[0] > 1 && v->strides[0] != v->shape[1] * v->strides[1]) {
        PyErr_Format(PyExc_ValueError, "%s must be contiguous", name);
        return -1;
    }
    return 0;
}

static int fits(const Arg *a, Py_ssize_t d0, Py_ssize_t d1, Py_ssize_t d2, Py_ssize_t d3, const char *name) {
    const Py_ssize_t *s = a->view.shape;
    if (s[0] != d0 || s[1] != d1 || s[2] != d2 || s[3] != d3) {
        PyErr_Format(PyExc_ValueError, "%s must have shape (%zd, %zd, %zd, %zd)", name, d0, d1, d2, d3);
        return -1;
    }
    return 0;
}

/* the shape of a convolution of x by w with out's window counts, or -1 with the error set */
static int conv_shape(const Arg *x, const Arg *w, Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t sh, Py_ssize_t sw,
                      Py_ssize_t top, Py_ssize_t left, ConvShape *s) {
    const Py_ssize_t *xs = x->view.shape, *ws = w->view.shape;
    if (sh < 1 || sw < 1 || top < 0 || left < 0 || ws[2] < 1 || ws[3] < 1) {
        PyErr_SetString(PyExc_ValueError, "strides and kernel sizes must be positive, pads not negative");
        return -1;
    }
    if (ws[1] != xs[1]) {
        PyErr_Format(PyExc_ValueError, "w has %zd input channels, x %zd", ws[1], xs[1]);
        return -1;
    }
    *s = (ConvShape){xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], sh, sw, top, left, ho, wo};
    return 0;
}

static PyObject *py_conv2d_forward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *o[4];
    Py_ssize_t sh, sw, top, left;
    int threads = 1, dtype = 0, kind = CONV_LINEAR;
    double slope = 0.0;
    ConvActivation act;
    if (!PyArg_ParseTuple(args, "OOOO(nn)(nn)|iid:conv2d_forward", &o[0], &o[1], &o[2], &o[3], &sh, &sw, &top, &left,
                          &threads, &kind, &slope) ||
        conv_activation(kind, slope, &act) < 0)
        return NULL;
    Arg a[4];
    memset(a, 0, sizeof a);
    static const char *names[4] = {"x", "w", "bias", "out"};
    static const int dims[4] = {4, 4, 1, 4}, writes[4] = {0, 0, 0, 1};
    for (int k = 0; k < 4; k++)
        if (o[k] != Py_None && take_whole(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0)
            return finish(a, 4, 0);
    if (dtype != F32 || o[0] == Py_None || o[1] == Py_None || o[3] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "conv2d_forward needs float32 arrays x, w and out");
        return finish(a, 4, 0);
    }
    ConvShape s;
    const Py_ssize_t *os = a[3].view.shape;
    if (conv_shape(&a[0], &a[1], os[2], os[3], sh, sw, top, left, &s) < 0 ||
        fits(&a[3], s.n, s.filters, os[2], os[3], "out") < 0)
        return finish(a, 4, 0);
    if (o[2] != Py_None && a[2].view.shape[0] != s.filters) {
        PyErr_Format(PyExc_ValueError, "bias must have %zd values", s.filters);
        return finish(a, 4, 0);
    }
    atomic_int failed = 0;
    ConvForward job = {a[0].view.buf, a[1].view.buf, o[2] != Py_None ? a[2].view.buf : NULL, a[3].view.buf,
                       &failed, s, act};
    Py_BEGIN_ALLOW_THREADS
    run_parts(isa->conv_forward_examples, &job, s.n, 1, thread_count(threads));
    Py_END_ALLOW_THREADS
    if (atomic_load(&failed)) PyErr_NoMemory();
    return finish(a, 4, !atomic_load(&failed));
}

/* out[j] = the sum of parts[c * count + j] over chunks c in order, in double */
static void add_parts(const float *parts, Py_ssize_t chunks, Py_ssize_t count, float *out) {
    for (Py_ssize_t j = 0; j < count; j++) {
        double total = 0.0;
        for (Py_ssize_t c = 0; c < chunks; c++) total += parts[c * count + j];
        out[j] = (float)total;
    }
}

static PyObject *py_conv2d_backward(PyObject *self, PyObject *args) {
    const Isa *isa = path_of(self);
    PyObject *o[7];
    Py_ssize_t sh, sw, top, left;
    int threads = 1, dtype = 0, kind = CONV_LINEAR;
    double slope = 0.0;
    ConvActivation act;
    o[6] = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOOO(nn)(nn)|iOid:conv2d_backward", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &sh,
                          &sw, &top, &left, &threads, &o[6], &kind, &slope) ||
        conv_activation(kind, slope, &act) < 0)
        return NULL;
    Arg a[7];
    memset(a, 0, sizeof a);
    static const char *names[7] = {"g", "x", "w", "dx", "dw", "db", "a"};
    static const int dims[7] = {4, 4, 4, 4, 4, 1, 4}, writes[7] = {0, 0, 0, 1, 1, 1, 0};
    for (int k = 0; k < 7; k++)
        if (o[k] != Py_None && take_whole(&a[k], o[k], names[k], dims[k], writes[k], &dtype) < 0)
            return finish(a, 7, 0);
    if (dtype != F32 || o[0] == Py_None || o[1] == Py_None || o[2] == Py_None) {
        PyErr_SetString(PyExc_TypeError, "conv2d_backward needs float32 arrays g, x and w");
        return finish(a, 7, 0);
    }
    if ((kind != CONV_LINEAR) != (o[6] != Py_None)) {
        PyErr_SetString(PyExc_ValueError, "conv2d_backward needs the output a with an activation, and only then");
        return finish(a, 7, 0);
    }
    ConvShape s;
    const Py_ssize_t *gs = a[0].view.shape;
    if (conv_shape(&a[1], &a[2], gs[2], gs[3], sh, sw, top, left, &s) < 0 ||
        fits(&a[0], s.n, s.filters, s.ho, s.wo, "g") < 0 ||
        (o[3] != Py_None && fits(&a[3], s.n, s.channels, s.height, s.width, "dx") < 0) ||
        (o[4] != Py_None && fits(&a[4], s.filters, s.channels, s.kh, s.kw, "dw") < 0) ||
        (o[6] != Py_None && fits(&a[6], s.n, s.filters, s.ho, s.wo, "a") < 0))
        return finish(a, 7, 0);
    if (o[5] != Py_None && a[5].view.shape[0] != s.filters) {
        PyErr_Format(PyExc_ValueError, "db must have %zd values", s.filters);
        return finish(a, 7, 0);
    }
    Py_ssize_t k = s.channels * s.kh * s.kw, chunks = (s.n + CONV_CHUNK - 1) / CONV_CHUNK;
    Py_ssize_t dw_size = o[4] != Py_None ? chunks * s.filters * k : 0, db_size = o[5] != Py_None ? chunks * s.filters : 0;
    float *buffer = PyMem_RawMalloc((k * s.filters + dw_size + db_size + 1) * sizeof(float));
    if (!buffer) {
        PyErr_NoMemory();
        return finish(a, 7, 0);
    }
    atomic_int failed = 0;
    ConvBackward job = {a[0].view.buf, a[1].view.buf, buffer, o[3] != Py_None ? a[3].view.buf : NULL,
                        dw_size ? buffer + k * s.filters : NULL, db_size ? buffer + k * s.filters + dw_size : NULL,
                        &failed, s, act, o[6] != Py_None ? a[6].view.buf : NULL};
    Py_BEGIN_ALLOW_THREADS
    const float *w = a[2].view.buf;
    for (Py_ssize_t f = 0; f < s.filters; f++) /* W^T (K, F): dcols = W^T @ g is then a product with A in rows */
        for (Py_ssize_t r = 0; r < k; r++) buffer[r * s.filters + f] = w[f * k + r];
    run_parts(isa->conv_backward_chunks, &job, chunks, 1, thread_count(threads));
    if (dw_size) add_parts(job.dw_parts, chunks, s.filters * k, a[4].view.buf);
    if (db_size) add_parts(job.db_parts, chunks, s.filters, a[5].view.buf);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(buffer);
    if (atomic_load(&failed)) PyErr_NoMemory();
    return finish(a, 7, !atomic_load(&failed));
}

PyMethodDef conv_methods[] = {
    {"conv2d_forward", py_conv2d_forward, METH_VARARGS, conv2d_forward_doc},
    {"conv2d_backward", py_conv2d_backward, METH_VARARGS, conv2d_backward_doc},
    {NULL, NULL, 0, NULL},
};
