"""The CUDA versions of `backend.accel`'s entries: each takes `(kernels, xp, *the twin's arguments)` and does
what the twin does (backend/twins.py, backend/sequence_twins.py), in one launch where the twin makes many:

- "sgd", "adam": the update over one flat array, one pass;
- "lstm_step_forward", "lstm_step_backward": an LSTM step's cell, one pass over its (n, H) cells;
- "{lstm,gru,mgu,elman}_sequence_{forward,backward}": a whole sequence, one launch each way, each block walking
  its sequences' steps with h_(t-1) in shared memory (kernels.cu); the input projections and weight
  gradients over all steps stay one GEMM each, outside, in cuBLAS;
- "maxpool_forward", "maxpool_backward", "col2im_batch_last": one pass each, per window or per pixel;
- "bias_activation", "add_activation_vjp": a dense layer's or a convolution's bias and activation, and its vjp;
- "softmax_xent_rows", "softmax_xent_rows_vjp": softmax cross-entropy on class labels, a row a thread, and back;
- "gibbs_sweep": a Boltzmann machine's sweep one unit at a time, a block a chain.

Where a kernel cannot take the arrays (strided views; a hidden size whose state outgrows a block's shared
memory) the twin runs instead: the same results, more launches.
"""

from __future__ import annotations

import numpy

from nngraph.backend import sequence_twins, twins
from nngraph.backend.core import is_device_array, to_device
from nngraph.backend.cuda.launch import blocks_for, threads_for
from nngraph.backend.twins import FUSED_ACTIVATIONS, lstm_slot_params

ELEMENTWISE_BLOCK = 256


def _contiguous(*arrays) -> bool:
    return all(a is None or a.flags.c_contiguous for a in arrays)


def _elementwise(kernels, count: int) -> tuple[int, int]:
    return blocks_for(count, ELEMENTWISE_BLOCK, kernels), ELEMENTWISE_BLOCK


def sgd(kernels, xp, param, buf, grad, scratch, lr, momentum, nesterov) -> None:
    if not _contiguous(param, buf, grad):
        return twins.sgd(xp, param, buf, grad, scratch, lr, momentum, nesterov)
    kernels("sgd", *_elementwise(kernels, param.size), param, buf, grad, param.size, lr, momentum, buf is not None,
            bool(nesterov))


def adam(kernels, xp, param, exp_avg, exp_avg_sq, grad, scratch, beta1, beta2, step_size, correction2_sqrt,
         eps) -> None:
    if not _contiguous(param, exp_avg, exp_avg_sq, grad):
        return twins.adam(xp, param, exp_avg, exp_avg_sq, grad, scratch, beta1, beta2, step_size,
                          correction2_sqrt, eps)
    kernels("adam", *_elementwise(kernels, param.size), param, exp_avg, exp_avg_sq, grad, param.size, beta1,
            1.0 - beta1, beta2, 1.0 - beta2, step_size, correction2_sqrt, eps)


def lstm_step_forward(kernels, xp, pre, rec, c_prev, gates, c, tanh_c, h, work) -> None:
    if not _contiguous(pre, rec, c_prev, gates, c, tanh_c, h):
        return twins.lstm_step_forward(xp, pre, rec, c_prev, gates, c, tanh_c, h, work)
    n, hidden = c_prev.shape
    kernels("lstm_step_forward", *_elementwise(kernels, n * hidden), pre, rec, c_prev, gates, c, tanh_c, h, n, hidden,
            rec is not None)


def lstm_step_backward(kernels, xp, gates, c_prev, tanh_c, dh, dc, da, work) -> None:
    if not _contiguous(gates, c_prev, tanh_c, dh, dc, da):
        return twins.lstm_step_backward(xp, gates, c_prev, tanh_c, dh, dc, da, work)
    n, hidden = dh.shape
    kernels("lstm_step_backward", *_elementwise(kernels, n * hidden), gates, c_prev, tanh_c, dh, dc, da, n, hidden)


# ---- whole sequences ------------------------------------------------------------------------------------


def _sequence(kernels, name: str, n: int, hidden: int, state_width: int, itemsize: int, *args) -> bool:
    """Launch a whole-sequence kernel with `state_width` values of shared memory a block; False where a
    block's shared memory cannot hold them (the caller runs the twin)."""
    shared = state_width * itemsize
    if shared > kernels.shared_bytes:
        return False
    kernels(name, n, threads_for(hidden, kernels), *args, shared=shared)
    return True


def lstm_sequence_forward(kernels, xp, pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, threads=1,
                          mask=None):
    n, hidden = scratch.shape[0], weight.shape[0]
    if _contiguous(h, c, gates, tanh_c, mask):
        projection = pre if x_weight is None else pre @ lstm_slot_params(xp, x_weight)  # every step, one GEMM
        if bias is not None:
            projection = projection + lstm_slot_params(xp, bias)
        projection = xp.ascontiguousarray(projection)
        if _sequence(kernels, "lstm_sequence_forward", n, hidden, 2 * hidden, h.itemsize, projection,
                     lstm_slot_params(xp, weight), h, c, gates, tanh_c, mask, len(projection) // n, n, hidden,
                     mask is not None):
            return
    sequence_twins.lstm_sequence_forward(xp, pre, x_weight, weight, h, c, gates, tanh_c, scratch, bias, threads, mask)


def lstm_sequence_backward(kernels, xp, gates, c, tanh_c, dh, dc, da, weight, bias_grad, threads=1, mask=None):
    n, hidden = dc.shape
    if not (_contiguous(gates, c, tanh_c, dh, dc, da, mask) and _sequence(
            kernels, "lstm_sequence_backward", n, hidden, 4 * hidden, dh.itemsize, gates, c, tanh_c, dh, dc, da,
            xp.ascontiguousarray(weight.T), mask, len(tanh_c) // n, n, hidden, mask is not None)):
        return sequence_twins.lstm_sequence_backward(xp, gates, c, tanh_c, dh, dc, da, weight, bias_grad, threads,
                                                     mask)
    if bias_grad is not None:
        bias_grad[...] = da.sum(axis=0, dtype=xp.float64)


def elman_sequence_forward(kernels, xp, pre, weight, h, n, threads=1, mask=None, raw=None):
    hidden = weight.shape[0]
    if not (_contiguous(h, mask, raw) and _sequence(kernels, "elman_sequence_forward", n, hidden, 2 * hidden,
                                                    h.itemsize, xp.ascontiguousarray(pre), xp.ascontiguousarray(weight),
                                                    h, mask, raw, len(pre) // n, n, hidden, mask is not None)):
        sequence_twins.elman_sequence_forward(xp, pre, weight, h, n, threads, mask, raw)


def elman_sequence_backward(kernels, xp, h, dh, da, weight, n, threads=1, mask=None, raw=None):
    hidden = weight.shape[0]
    if not (_contiguous(h, dh, da, mask, raw) and _sequence(
            kernels, "elman_sequence_backward", n, hidden, hidden, h.itemsize, h, dh, da,
            xp.ascontiguousarray(weight.T), mask, raw, len(da) // n, n, hidden, mask is not None)):
        sequence_twins.elman_sequence_backward(xp, h, dh, da, weight, n, threads, mask, raw)


def gru_sequence_forward(kernels, xp, pre, weight, h, hu, rz, nn, n, threads=1, mask=None):
    _gated_forward(kernels, xp, "gru_sequence_forward", sequence_twins.gru_sequence_forward, pre, weight, h, hu, rz,
                   nn, n, threads, mask)


def gru_sequence_backward(kernels, xp, h, hu, rz, nn, dh, gx, ghu, weight, n, threads=1, mask=None):
    _gated_backward(kernels, xp, "gru_sequence_backward", sequence_twins.gru_sequence_backward, h, hu, rz, nn, dh,
                    gx, ghu, weight, n, threads, mask)


def mgu_sequence_forward(kernels, xp, pre, weight, h, hu, f, nn, n, threads=1, mask=None):
    _gated_forward(kernels, xp, "mgu_sequence_forward", sequence_twins.mgu_sequence_forward, pre, weight, h, hu, f,
                   nn, n, threads, mask)


def mgu_sequence_backward(kernels, xp, h, hu, f, nn, dh, gx, ghu, weight, n, threads=1, mask=None):
    _gated_backward(kernels, xp, "mgu_sequence_backward", sequence_twins.mgu_sequence_backward, h, hu, f, nn, dh,
                    gx, ghu, weight, n, threads, mask)


def _gated_forward(kernels, xp, name, twin, pre, weight, h, hu, gates, nn, n, threads, mask):
    """A GRU's or MGU's whole sequence (its gate arrays' widths tell which), or its twin."""
    hidden = weight.shape[0]
    if not (_contiguous(h, hu, gates, nn, mask) and _sequence(kernels, name, n, hidden, 2 * hidden, h.itemsize,
                                                              xp.ascontiguousarray(pre), xp.ascontiguousarray(weight),
                                                              h, hu, gates, nn, mask, len(pre) // n, n, hidden,
                                                              mask is not None)):
        twin(xp, pre, weight, h, hu, gates, nn, n, threads, mask)


def _gated_backward(kernels, xp, name, twin, h, hu, gates, nn, dh, gx, ghu, weight, n, threads, mask):
    hidden = weight.shape[0]
    if not (_contiguous(h, hu, gates, nn, dh, gx, ghu, mask) and _sequence(
            kernels, name, n, hidden, hu.shape[1], h.itemsize, h, hu, gates, nn, dh, gx, ghu,
            xp.ascontiguousarray(weight.T), mask, len(hu) // n, n, hidden, mask is not None)):
        twin(xp, h, hu, gates, nn, dh, gx, ghu, weight, n, threads, mask)


# ---- windows --------------------------------------------------------------------------------------------


def _window_geometry(padded_shape, kernel, stride) -> tuple:
    """The kernels' geometry arguments: planes, height, width, out_h, out_w, kernel_h, kernel_w, stride_h,
    stride_w."""
    (kh, kw), (sh, sw) = kernel, stride
    height, width = padded_shape[-2:]
    planes = padded_shape[0] * padded_shape[1]
    return planes, height, width, (height - kh) // sh + 1, (width - kw) // sw + 1, kh, kw, sh, sw


def maxpool_forward(kernels, xp, padded, kernel, stride):
    padded = xp.ascontiguousarray(padded)
    geometry = _window_geometry(padded.shape, kernel, stride)
    shape = padded.shape[:2] + geometry[3:5]
    best, argmax = xp.empty(shape, dtype=padded.dtype), xp.empty(shape, dtype=xp.int32)
    kernels("maxpool_forward", *_elementwise(kernels, best.size), padded, best, argmax, *geometry)
    return best, argmax


def maxpool_backward(kernels, xp, g, argmax, padded_shape, kernel, stride):
    out = xp.empty(padded_shape, dtype=g.dtype)
    kernels("maxpool_backward", *_elementwise(kernels, out.size), xp.ascontiguousarray(g),
            xp.ascontiguousarray(argmax, dtype=xp.int32), out, *_window_geometry(padded_shape, kernel, stride))
    return out


def col2im_batch_last(kernels, xp, pieces, x_shape, kernel, stride, pads):
    n, channels, height, width = x_shape
    out = xp.empty(x_shape, dtype=pieces.dtype)
    kernels("col2im_batch_last", *_elementwise(kernels, out.size), xp.ascontiguousarray(pieces), out, n, channels,
            height, width, *pieces.shape[3:5], *kernel, *stride, pads[0], pads[2])
    return out


# ---- a dense layer's bias and activation ------------------------------------------------------------------


def bias_activation(kernels, xp, z, bias, name, parameter):
    if not _contiguous(z, bias):
        return twins.bias_activation(xp, z, bias, name, parameter)
    a = xp.empty_like(z)
    inner = z.size // (z.shape[0] * z.shape[1]) if z.ndim > 1 and z.shape[0] * z.shape[1] else 1
    kernels("bias_activation", *_elementwise(kernels, z.size), z, bias, a, z.size, z.shape[1] if z.ndim > 1 else 1,
            inner, FUSED_ACTIVATIONS.index(name), parameter, bias is not None)
    return a


def add_activation_vjp(kernels, xp, gz, ga, z, a, name, parameter):
    if not _contiguous(gz, z, a) or gz is not None and gz.shape != z.shape:
        return twins.add_activation_vjp(xp, gz, ga, z, a, name, parameter)
    out = xp.empty_like(z)
    kernels("add_activation_vjp", *_elementwise(kernels, z.size), gz, xp.ascontiguousarray(ga), z, a, out, z.size,
            FUSED_ACTIVATIONS.index(name), parameter, gz is not None)
    return out


# ---- Gibbs sweeps -----------------------------------------------------------------------------------------

GIBBS_BLOCK = 128  # threads reducing a chain's sum


def gibbs_sweep(kernels, xp, states, couplings, bias, order, uniforms, normals, gaussian, temperature, mean_field):
    rows, units = states.shape
    if not _contiguous(states, bias, uniforms, normals):
        return twins.gibbs_sweep(xp, states, couplings, bias, order, uniforms, normals, gaussian, temperature,
                                 mean_field)
    block = threads_for(units, kernels, GIBBS_BLOCK)
    kernels("gibbs_sweep", rows, block, states, xp.ascontiguousarray(couplings.T), bias, _int32_on(xp, order),
            len(order), uniforms, normals, _int32_on(xp, gaussian), rows, units, temperature, mean_field,
            shared=block * states.itemsize)


def _int32_on(xp, a):
    """`a` as int32 on the device: as it is where it already is (a sweeper's cached order), else copied."""
    if is_device_array(a) and a.dtype == "int32":
        return a
    return to_device(numpy.asarray(a, dtype=numpy.int32), xp) if isinstance(a, numpy.ndarray) else a.astype("int32")


# ---- softmax cross-entropy on class labels -----------------------------------------------------------------


def softmax_xent_rows(kernels, xp, z, labels):
    rows, classes = z.shape
    lse, loss = xp.empty(rows, dtype=z.dtype), xp.empty(rows, dtype=z.dtype)
    kernels("softmax_xent_forward", *_elementwise(kernels, rows), xp.ascontiguousarray(z),
            xp.ascontiguousarray(labels, dtype=xp.int64), lse, loss, rows, classes)
    return lse, loss


def softmax_xent_rows_vjp(kernels, xp, z, labels, lse, g, positions):
    grad = xp.empty(z.shape, dtype=z.dtype)
    kernels("softmax_xent_backward", *_elementwise(kernels, z.size), xp.ascontiguousarray(z),
            xp.ascontiguousarray(labels, dtype=xp.int64), lse, xp.asarray(g, dtype=z.dtype).reshape(1), grad, z.size,
            z.shape[1], positions)
    return grad
