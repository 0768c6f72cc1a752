"""The numpy twins of the compiled kernels (`csrc/`): each does what its kernel does, with the same
arguments, written against `xp` (numpy or cupy). `accel` hands out a twin wherever the kernel does not
run: on cupy, without the extension, with NNGRAPH_KERNELS=0, for a dtype or size the kernel does not
take; `tests/backend/test_accel.py` holds every kernel to its twin. The whole-sequence twins, step
loops over these, are in `sequence_twins`.

The LSTM works in gate *slots*: (4, N, H), in the order i, f, o, g, so that every gate of a step is
one contiguous (N, H) block (numpy is 3-5x slower on the strided column blocks of an (N, 4H) array) and
the three sigmoid gates are one run. A slot holds its pre-activation with the sigmoid slots halved,
because sigmoid(x) = 0.5 * tanh(x / 2) + 0.5: one tanh serves all four gates. Parameters keep PyTorch's
column order i, f, g, o; `lstm_slot_params` reorders and halves a copy. The GRU's gate blocks are r, z,
n (nngraph/ops/recurrent.py), its sigmoids the same halved tanh.
"""

from __future__ import annotations

from nngraph.backend.core import to_host
from nngraph.backend.windows import cols_shape, im2col, pad, scratch

SLOT_BLOCKS = (0, 1, 3, 2)  # the parameter column block (i, f, g, o = 0..3) that each slot holds


def lstm_slot_params(xp, w):
    """A copy of w (..., 4H) with its column blocks in slot order and the sigmoid slots halved: then
    x @ result (or result itself, for a bias) is a pre-activation in slot order, as the kernels take it."""
    hidden = w.shape[-1] // 4
    out = xp.empty(w.shape, dtype=w.dtype)
    for slot, block in enumerate(SLOT_BLOCKS):  # block copies: no index arrays, and a C-contiguous result
        source, target = w[..., block * hidden:(block + 1) * hidden], out[..., slot * hidden:(slot + 1) * hidden]
        if slot < 3:
            xp.multiply(source, 0.5, out=target)
        else:
            target[...] = source
    return out


# ---- the LSTM step ----------------------------------------------------------------------------------


def lstm_step_forward(xp, pre, rec, c_prev, gates, c, tanh_c, h, work) -> None:
    """One step. pre (N, 4H): slot pre-activations; rec: the same layout, added to pre (and overwritten
    with the sum), or None. gates (4, N, H) receives the gate values (kept for the backward); writes c,
    tanh(c) and h = o * tanh(c), each (N, H); c_prev (N, H) is the previous cell, work (N, H) scratch."""
    n, hidden = c_prev.shape
    if rec is not None:
        rec += pre
        pre = rec
    xp.copyto(gates, pre.reshape(n, 4, hidden).transpose(1, 0, 2))  # to slot blocks
    xp.tanh(gates, out=gates)
    sigmoids = gates[:3]
    sigmoids *= 0.5
    sigmoids += 0.5
    i, f, o, g = gates
    xp.multiply(f, c_prev, out=c)
    xp.multiply(i, g, out=work)
    c += work
    xp.tanh(c, out=tanh_c)
    xp.multiply(o, tanh_c, out=h)


def lstm_step_backward(xp, gates, c_prev, tanh_c, dh, dc, da, work) -> None:
    """The vjp of one step. dh (N, H): gradient of h. dc (N, H): in, the gradient of c from later steps;
    out, the gradient of c_prev. Writes da (N, 4H), the pre-activation gradient in parameter column
    order (i, f, g, o). work (6, N, H) is overwritten."""
    hidden = dh.shape[1]
    i, f, o, g = gates
    slope, dc_total, tmp = work[:4], work[4], work[5]
    xp.multiply(gates, gates, out=slope)
    xp.subtract(gates[:3], slope[:3], out=slope[:3])  # s (1 - s) for the sigmoid gates
    xp.subtract(1, slope[3], out=slope[3])  # 1 - g^2
    xp.multiply(tanh_c, tanh_c, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    tmp *= o
    tmp *= dh
    xp.add(tmp, dc, out=dc_total)
    for block, (value, other, d_slope) in enumerate(((dc_total, g, 0), (dc_total, c_prev, 1),
                                                     (dc_total, i, 3), (dh, tanh_c, 2))):
        xp.multiply(value, other, out=tmp)
        xp.multiply(tmp, slope[d_slope], out=da[:, block * hidden:(block + 1) * hidden])
    xp.multiply(dc_total, f, out=dc)


# ---- the GRU step (no compiled kernel of its own: the whole-sequence GRU kernel's step) -----------------


def gru_step_forward(xp, pre, hu, h_prev, rz, candidate, h) -> None:
    """pre (N, 3H): the inputs' product and bias; hu (N, 3H) = h_prev @ U. Writes the gates r, z into rz
    (N, 2H), the candidate n = tanh(pre_n + r * hu_n) and h = (1 - z) * n + z * h_prev (each (N, H))."""
    hidden = h_prev.shape[1]
    xp.add(pre[:, :2 * hidden], hu[:, :2 * hidden], out=rz)
    sigmoid(xp, rz, out=rz)
    r, z = rz[:, :hidden], rz[:, hidden:]
    xp.multiply(r, hu[:, 2 * hidden:], out=candidate)
    candidate += pre[:, 2 * hidden:]
    xp.tanh(candidate, out=candidate)
    xp.subtract(h_prev, candidate, out=h)
    h *= z
    h += candidate


def gru_step_backward(xp, g, rz, candidate, hu, h_prev, gx, ghu, dh_prev) -> None:
    """Its vjp: g (N, H) the gradient of h. Writes the gradients of pre into gx and of hu into ghu (each
    (N, 3H)), and adds g * z to dh_prev."""
    hidden = h_prev.shape[1]
    r, z = rz[:, :hidden], rz[:, hidden:]
    dr, dz, dn = gx[:, :hidden], gx[:, hidden:2 * hidden], gx[:, 2 * hidden:]
    xp.multiply(g, 1 - z, out=dn)
    dn *= 1 - candidate * candidate
    xp.multiply(dn, hu[:, 2 * hidden:], out=dr)
    dr *= r * (1 - r)
    xp.multiply(g, h_prev - candidate, out=dz)
    dz *= z * (1 - z)
    ghu[...] = gx
    ghu[:, 2 * hidden:] *= r
    dh_prev += g * z


# ---- the MGU step (the whole-sequence MGU kernel's step; ops/recurrent.py's mgu_gates runs it too) ------------


def mgu_step_forward(xp, pre, hu, h_prev, f, candidate, h) -> None:
    """pre (N, 2H): the inputs' product and bias; hu (N, 2H) = h_prev @ U. Writes the gate f = sigmoid(pre_f +
    hu_f), the candidate n = tanh(pre_n + f * hu_n) and h = (1 - f) * n + f * h_prev (each (N, H)): the GRU's
    step with one gate doing the work of r and z."""
    hidden = h_prev.shape[1]
    xp.add(pre[:, :hidden], hu[:, :hidden], out=f)
    sigmoid(xp, f, out=f)
    xp.multiply(f, hu[:, hidden:], out=candidate)
    candidate += pre[:, hidden:]
    xp.tanh(candidate, out=candidate)
    xp.subtract(h_prev, candidate, out=h)
    h *= f
    h += candidate


def mgu_step_backward(xp, g, f, candidate, hu, h_prev, gx, ghu, dh_prev) -> None:
    """Its vjp: g (N, H) the gradient of h. Writes the gradients of pre into gx and of hu into ghu (each
    (N, 2H)), and adds g * f to dh_prev."""
    hidden = h_prev.shape[1]
    df, dn = gx[:, :hidden], gx[:, hidden:]
    xp.multiply(g, 1 - f, out=dn)
    dn *= 1 - candidate * candidate
    xp.multiply(g, h_prev - candidate, out=df)
    df += dn * hu[:, hidden:]
    df *= f * (1 - f)
    ghu[...] = gx
    ghu[:, hidden:] *= f
    dh_prev += g * f


# ---- activations: the one definition of the element-wise ones (ops/activations.py runs them), and a dense
# layer's bias and activation as the GPU fuses them --------------------------------------------------------

FUSED_ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu")  # the order of their codes in kernels.cu


def sigmoid(xp, x, out=None):
    """0.5 * tanh(x / 2) + 0.5: 1 / (1 + exp(-x)) without overflow for very negative x; in place when `out`
    is x."""
    out = xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def _relu(xp, z, parameter):
    return xp.maximum(z, 0)


def _relu_vjp(xp, g, z, a, parameter):
    return g * (a > 0)


def _tanh(xp, z, parameter):
    return xp.tanh(z)


def _tanh_vjp(xp, g, z, a, parameter):
    return g * (1 - a * a)


def _sigmoid(xp, z, parameter):
    return sigmoid(xp, z)


def _sigmoid_vjp(xp, g, z, a, parameter):
    return g * a * (1 - a)


def _leaky_relu(xp, z, slope):
    return xp.where(z > 0, z, z * slope)


def _leaky_relu_vjp(xp, g, z, a, slope):
    return xp.where(z > 0, g, g * slope)


def _elu(xp, z, alpha):
    # expm1 of the clipped input: exp of a large positive z would overflow even though `where` discards it
    return xp.where(z > 0, z, alpha * xp.expm1(xp.minimum(z, 0)))


def _elu_vjp(xp, g, z, a, alpha):
    return xp.where(z > 0, g, g * (a + alpha))


# name -> (forward(xp, z, parameter), vjp(xp, g, z, a, parameter)): `parameter` is leaky_relu's slope, elu's
# alpha, ignored by the others; the order of FUSED_ACTIVATIONS
ACTIVATIONS = {"relu": (_relu, _relu_vjp), "tanh": (_tanh, _tanh_vjp), "sigmoid": (_sigmoid, _sigmoid_vjp),
               "leaky_relu": (_leaky_relu, _leaky_relu_vjp), "elu": (_elu, _elu_vjp)}


# the activations whose vjp their output alone gives (a > 0 exactly where z > 0: leaky_relu with a slope >= 0),
# which a convolution applies as it writes its output (compile/fuse.py's for_host)
RECTIFIERS = ("relu", "leaky_relu")


def rectifier_vjp(xp, name: str, g, a, parameter: float):
    """The gradient of z from g, the gradient of a = name(z) for a rectifier, from a alone: the activation's
    own vjp with a in z's place, which gives the same values (a > 0 exactly where z > 0)."""
    return ACTIVATIONS[name][1](xp, g, a, a, parameter)


def activation(xp, name: str, z, parameter: float):
    """Activation `name` of z, a new array."""
    return ACTIVATIONS[name][0](xp, z, parameter)


def activation_vjp(xp, name: str, g, z, a, parameter: float):
    """The gradient of z from g, the gradient of a = activation(z)."""
    return ACTIVATIONS[name][1](xp, g, z, a, parameter)


def bias_activation(xp, z, bias, name: str, parameter: float):
    """z += bias (in place; bias None: none) along z's axis 1 (a dense layer's units, a convolution's
    channels), and the activation of z: a new array."""
    if bias is not None:
        z += bias if z.ndim == 2 else bias.reshape((-1,) + (1,) * (z.ndim - 2))
    return activation(xp, name, z, parameter)


def add_activation_vjp(xp, gz, ga, z, a, name: str, parameter: float):
    """gz (None: nothing) plus the gradient ga of a = activation(z) carried back to z."""
    through = activation_vjp(xp, name, ga, z, a, parameter)
    return through if gz is None else gz + through


# ---- Gibbs sweeps ------------------------------------------------------------------------------------------


def gibbs_sweep(xp, states, couplings, bias, order, uniforms, normals, gaussian, temperature, mean_field) -> None:
    """One sweep over the units in `order` (host ints), one at a time, in place on states (rows, units): z =
    states @ couplings[:, unit] + bias[unit]; a bernoulli unit is on where its uniform draw < sigmoid(z / T)
    (mean field: that probability), a gaussian one (`gaussian`, a host bool per unit) is z + its normal draw *
    sqrt(T) (mean field: z). uniforms and normals: (rows, units) draws made before the sweep, or None where
    unused. `order` and `gaussian` may be on the device (the CUDA path's): read once here."""
    order, gaussian = to_host(order), to_host(gaussian).astype(bool)
    for unit in order:
        z = states @ couplings[:, unit] + bias[unit]
        if gaussian[unit]:
            states[:, unit] = z if mean_field else z + normals[:, unit] * temperature ** 0.5
        else:
            p = sigmoid(xp, z / temperature)
            states[:, unit] = p if mean_field else uniforms[:, unit] < p


# ---- softmax cross-entropy on class labels, by rows ----------------------------------------------------------


def softmax_xent_rows(xp, z, labels):
    """(each row's log-sum-exp, each row's loss -log softmax(z)[label]) for z (rows, classes) and int labels."""
    top = z.max(axis=1, keepdims=True)
    lse = top[:, 0] + xp.log(xp.exp(z - top).sum(axis=1))
    return lse, lse - xp.take_along_axis(z, labels[:, None], axis=1)[:, 0]


def softmax_xent_rows_vjp(xp, z, labels, lse, g, positions: int):
    """The gradient of z for the mean of the rows' losses (over `positions` rows) times g: (softmax(z) -
    onehot(label)) * g / positions."""
    grad = xp.exp(z - lse[:, None])
    grad[xp.arange(len(z)), labels] -= 1
    grad *= g / positions
    return grad


# ---- the optimizer updates (torch.optim's formulas: bit for bit what the kernels compute) ---------


def sgd(xp, param, buf, grad, scratch, lr, momentum, nesterov) -> None:
    """torch.optim.SGD's step in place: buf = momentum * buf + grad, then param -= lr * buf (nesterov:
    lr * (grad + momentum * buf)); buf None: param -= lr * grad. scratch: a work array like param."""
    step = grad
    if buf is not None:
        buf *= momentum
        buf += grad
        step = buf
        if nesterov:
            xp.multiply(buf, momentum, out=scratch)
            scratch += grad
            step = scratch
    xp.multiply(step, lr, out=scratch)
    param -= scratch


def adam(xp, param, exp_avg, exp_avg_sq, grad, scratch, beta1, beta2, step_size, correction2_sqrt,
         eps) -> None:
    """torch.optim.Adam's step in place, with this step's bias corrections: step_size = lr / (1 -
    beta1^t), correction2_sqrt = sqrt(1 - beta2^t). scratch: a work array like param."""
    exp_avg *= beta1
    xp.multiply(grad, 1.0 - beta1, out=scratch)
    exp_avg += scratch
    exp_avg_sq *= beta2
    xp.multiply(grad, grad, out=scratch)
    scratch *= 1.0 - beta2
    exp_avg_sq += scratch
    xp.sqrt(exp_avg_sq, out=scratch)
    scratch /= correction2_sqrt
    scratch += eps
    xp.divide(exp_avg, scratch, out=scratch)
    scratch *= step_size
    param -= scratch


# ---- max pooling ----------------------------------------------------------------------------------


def _window(x, i, j, out_hw, stride):
    """The values at kernel offset (i, j) of every window: (..., Ho, Wo), a view."""
    (ho, wo), (sh, sw) = out_hw, stride
    return x[..., i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]


def pooled_hw(padded_shape, kernel, stride) -> tuple[int, int]:
    """(Ho, Wo): how many windows fit the padded (..., H, W) image."""
    return tuple((size - k) // s + 1 for size, k, s in zip(padded_shape[-2:], kernel, stride))


def maxpool_forward(xp, padded, kernel, stride):
    """Max pooling of an already padded (N, C, H, W) image: (best, argmax), each (N, C, Ho, Wo); argmax
    numbers the offset i * kw + j where each window's maximum was first found (ties go to the first)."""
    out_hw, kw = pooled_hw(padded.shape, kernel, stride), kernel[1]
    best = _window(padded, 0, 0, out_hw, stride).copy()
    # the smallest integer type that numbers every offset: int8 for any usual window, which makes
    # building the argmax about 1.5x faster than int32 does
    index = xp.int8 if kernel[0] * kw <= 127 else xp.int32
    argmax = xp.zeros(best.shape, dtype=index)
    for k in range(1, kernel[0] * kw):
        candidate = _window(padded, k // kw, k % kw, out_hw, stride)
        better = candidate > best  # strict: the first maximum wins ties
        # offsets only grow, so the last offset that improved is the largest such k: a maximum is
        # several times faster than the masked store argmax[better] = k
        xp.maximum(argmax, xp.multiply(better, k, dtype=index), out=argmax)
        xp.maximum(best, candidate, out=best)
    return best, argmax


def maxpool_backward(xp, g, argmax, padded_shape, kernel, stride):
    """The vjp of maxpool_forward: the gradient of the padded image, each window's gradient g (N, C, Ho,
    Wo) added at its argmax offset."""
    out_hw, kw = pooled_hw(padded_shape, kernel, stride), kernel[1]
    overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
    out = xp.zeros(padded_shape, dtype=g.dtype)
    for k in range(kernel[0] * kw):
        where = _window(out, k // kw, k % kw, out_hw, stride)
        if overlapping:
            where += g * (argmax == k)
        else:  # each pixel in one window at most: a plain store
            xp.multiply(g, argmax == k, out=where)
    return out


def avgpool_forward(xp, padded, kernel, stride):
    """Average pooling of an already padded (N, C, H, W) image: (N, C, Ho, Wo), each window's sum (its
    offsets added row by row, each a whole-batch elementwise add: numpy reduces a tiny trailing axis some
    20x slower) times 1 / (kh * kw), the whole window, padding included."""
    out_hw, kw = pooled_hw(padded.shape, kernel, stride), kernel[1]
    total = _window(padded, 0, 0, out_hw, stride).copy()
    for k in range(1, kernel[0] * kw):
        total += _window(padded, k // kw, k % kw, out_hw, stride)
    total *= 1 / (kernel[0] * kw)
    return total


def avgpool_backward(xp, g, padded_shape, kernel, stride):
    """The vjp of avgpool_forward: the gradient of the padded image, each window's gradient g (N, C, Ho, Wo)
    times 1 / (kh * kw) on every pixel of the window (summed offset by offset where windows overlap)."""
    out_hw, kw = pooled_hw(padded_shape, kernel, stride), kernel[1]
    share = g * (1 / (kernel[0] * kw))  # every pixel of a window alike
    overlapping = stride[0] < kernel[0] or stride[1] < kw
    # windows that tile the padded image write every pixel once: no zeros first
    tiles = tuple(stride) == tuple(kernel) and all(
        o * s == size for o, s, size in zip(out_hw, stride, padded_shape[-2:]))
    out = (xp.empty if tiles else xp.zeros)(padded_shape, dtype=g.dtype)
    for k in range(kernel[0] * kw):
        where = _window(out, k // kw, k % kw, out_hw, stride)
        if overlapping:
            where += share
        else:
            where[...] = share
    return out


def col2im_batch_last(xp, pieces, x_shape, kernel, stride, pads):
    """A convolution's input gradient, (N, C, H, W) and contiguous, from its window gradients with the batch
    innermost, pieces (C, kh, kw, Ho, Wo, N): each offset's pieces added back where its windows lie (the
    adjoint of the window view). The sums are made in (C, H, W, N) layout, so each strided add runs over
    Wo * N contiguous numbers (N for strides > 1), some 3x faster than over Wo; windows that do not
    overlap store instead, and need no zeros first where they tile the padded image."""
    n, c, h, w = x_shape
    top, bottom, left, right = pads
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, pieces.shape[3:5]
    overlapping = sh < kh or sw < kw
    tiles = (sh, sw) == (kh, kw) and ho * sh == h + top + bottom and wo * sw == w + left + right
    out = (xp.empty if tiles else xp.zeros)((c, h + top + bottom, w + left + right, n), dtype=pieces.dtype)
    for i in range(kh):
        for j in range(kw):
            where = out[:, i:i + sh * ho:sh, j:j + sw * wo:sw]
            if overlapping:
                where += pieces[:, i, j]
            else:
                where[...] = pieces[:, i, j]
    return xp.ascontiguousarray(out[:, top:top + h, left:left + w].transpose(3, 0, 1, 2))


# ---- the convolution ------------------------------------------------------------------------------


def conv2d_forward(xp, x, w, bias, geo, keep_for_input_grad: bool, activation: str | None = None,
                   parameter: float = 0.0):
    """The cross-correlation of x (N, C, H, W) with w (F, C, kh, kw), plus bias (F,) or None, by im2col and
    GEMMs, then `activation` (one of RECTIFIERS, with its `parameter`) where one is given: (out (N, F, Ho, Wo),
    saved), saved what `conv2d_vjp` reads (the columns). geo: the windows
    (backend/windows.Geometry). The columns are laid out as the vjp works: batch innermost where it also
    needs the input's gradient (`keep_for_input_grad`; see `conv2d_vjp`): one GEMM and a transpose of the
    output; else one GEMM per example on (C*kh*kw, Ho*Wo) columns, which yields (N, F, Ho, Wo) directly.
    (The numpy backend keeps freed memory in its heap, see backend/memory.py, so fresh columns each step
    cost no page faults.)"""
    n, f = x.shape[0], w.shape[0]
    w2 = w.reshape(f, -1)
    cols = xp.empty(cols_shape(x.shape, geo, keep_for_input_grad), dtype=x.dtype)
    im2col(xp, pad(xp, x, geo.pads), geo, cols, keep_for_input_grad)
    if keep_for_input_grad:  # one GEMM, (F, Ho*Wo*N), then back to (N, F, Ho, Wo)
        out = xp.ascontiguousarray((w2 @ cols).reshape((f,) + geo.out + (n,)).transpose(3, 0, 1, 2))
    else:  # one GEMM per example, batched: already the output's layout
        out = xp.matmul(w2, cols).reshape((n, f) + geo.out)
    if bias is not None:
        out += bias[:, None, None]
    if activation is not None:
        out = ACTIVATIONS[activation][0](xp, out, parameter)
    return out, (cols, keep_for_input_grad)


def conv2d_vjp(xp, g, saved, x, w, geo, input_grad: bool, weight_grad: bool, bias_grad: bool,
               activation: str | None = None, parameter: float = 0.0, a=None):
    """(dx, dW, db) of `conv2d_forward` for its output's gradient g, each None where not asked for; with an
    `activation`, g is the gradient of the forward's output a, carried back through the activation first."""
    if activation is not None:
        g = rectifier_vjp(xp, activation, g, a, parameter)
    cols, batch_last = saved
    if input_grad and not batch_last:  # the forward was told otherwise: the columns again, batch innermost
        cols = im2col(xp, pad(xp, x, geo.pads), geo, xp.empty(cols_shape(x.shape, geo, True), dtype=x.dtype),
                      batch_last=True)
        batch_last = True
    if batch_last:
        gx, gw = _conv_both_grads(xp, g, cols, x, w, geo, input_grad, weight_grad)
    else:
        gx, gw = None, _conv_weight_grad(xp, g, cols, w) if weight_grad else None
    return gx, gw, g.sum(axis=(0, 2, 3)) if bias_grad else None


def _conv_weight_grad(xp, g, cols, w):
    """dW alone, for a data input, from the forward's per-example columns."""
    g3 = g.reshape(g.shape[0], g.shape[1], -1)  # (N, F, Ho*Wo)
    # cols @ g^T, not g @ cols^T: OpenBLAS runs the product with cols as the
    # untransposed left operand about 2x faster at LeNet's sizes
    return xp.matmul(cols, g3.transpose(0, 2, 1)).sum(axis=0).T.reshape(w.shape)


def _conv_both_grads(xp, g, cols, x, w, geo, input_grad: bool = True, weight_grad: bool = True):
    """(dx or None, dW or None) from batch-innermost columns: with the batch as the innermost axis of every
    temporary, each product is one GEMM and col2im's strided adds run over Wo * N contiguous numbers
    instead of Wo (3x faster on LeNet's second conv)."""
    f, n = w.shape[0], x.shape[0]
    w2 = w.reshape(f, -1)
    with scratch(xp, cols.shape, x.dtype) as gcols, scratch(xp, (f, cols.shape[1]), g.dtype) as g_t:
        xp.copyto(g_t.reshape(f, *geo.out, n), g.transpose(1, 2, 3, 0))
        gw = (cols @ g_t.T).T.reshape(w.shape) if weight_grad else None
        if not input_grad:
            return None, gw
        xp.matmul(w2.T, g_t, out=gcols)
        pieces = gcols.reshape(w.shape[1:] + geo.out + (n,))  # (C, kh, kw, Ho, Wo, N)
        # contiguous (N, C, H, W): the next vjp (pooling, relu) runs several times slower on a transposed view
        gx = col2im_batch_last(xp, pieces, x.shape, geo.kernel, geo.stride, geo.pads)
    return gx, gw


# ---- the GEMMs ------------------------------------------------------------------------------------


def small_gemm(xp, a, b, out, accumulate, scratch=None) -> None:
    """out = a @ b, or out += a @ b (through scratch, shaped like out, where given)."""
    if not accumulate:
        xp.matmul(a, b, out=out)
    elif scratch is None:
        out += a @ b
    else:
        out += xp.matmul(a, b, out=scratch)


def transposed_gemm(xp, factors, b) -> list:
    """[a.T @ b for a in factors]: the gradients of the weights that multiply the same rows."""
    return [a.T @ b for a in factors]
