#include "kernels.h"

/* ---- argument checking ------------------------------------------------------------------------- */

static int dtype_of(const Py_buffer *view) {
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (view->itemsize == 4 && strcmp(f, "f") == 0) return F32;
    if (view->itemsize == 8 && strcmp(f, "d") == 0) return F64;
    return 0;
}

/* Take `obj` as an array of `ndim` axes whose last axis (and, for ndim >= 2, every axis after the
 * first) is contiguous; `dtype` is set from the first array and every later one must match. */
int take(Arg *arg, PyObject *obj, const char *name, int ndim, int writable, int *dtype) {
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
PyObject *finish(Arg *args, int count, int ok) {
    release(args, count);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

int same_shape(const Arg *a, Py_ssize_t rows, Py_ssize_t cols, const char *name) {
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
int gates_fit(const Arg *gates, Py_ssize_t rows, Py_ssize_t width) {
    const Py_buffer *v = &gates->view;
    if (v->shape[0] != 4 || v->shape[1] != rows || v->shape[2] != width) {
        PyErr_Format(PyExc_ValueError, "gates must have shape (4, %zd, %zd)", rows, width);
        return -1;
    }
    return 0;
}
