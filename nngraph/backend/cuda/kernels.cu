// nngraph's CUDA kernels: the accelerated computations of backend/accel.py for arrays on the GPU.
//
// Compiled by NVRTC through cupy (backend/cuda/launch.py), once per dtype: `real` is float or double
// (-Dreal=...). The same text also compiles as C++ for the CPU emulator (backend/cuda/emulator.py),
// which runs each block's threads as POSIX threads, __syncthreads as a barrier: the tests run every
// kernel on any machine. Two rules keep the two the same computation:
// - no warp-level tricks (shuffles, implicit warp synchrony); threads meet only at __syncthreads;
// - every loop over threads or blocks is strided by blockDim / gridDim, so a kernel is right for any
//   launch shape (the emulator launches few threads, the GPU many).
// Element-wise arithmetic is written in the twins' order and compiled without FMA contraction
// (--fmad=false), so where the twins use no transcendental function the GPU gives their bits; the dot
// products use fma() explicitly.
//
// The recurrent kernels run a whole sequence in one launch: sequences are independent, so each block
// takes whole sequences (b = blockIdx.x, strided by gridDim.x) and walks their steps, its threads
// splitting the hidden units; h_(t-1) sits in shared memory, double-buffered, so one __syncthreads a
// step orders the reads of step t before the writes of step t + 1. No host round trip, no launch per
// step, no cuBLAS call inside (cuBLAS cannot be captured, and would be a launch a step).

#ifndef NNG_SHARED
#define NNG_SHARED(type, name) extern __shared__ type name[]
#endif

typedef long long index_t;

#define THREADS_STRIDED(j, count) for (int j = threadIdx.x; j < (count); j += blockDim.x)
#define BLOCKS_STRIDED(b, count) for (int b = blockIdx.x; b < (count); b += gridDim.x)
#define GRID_STRIDED(i, count) \
    for (index_t i = (index_t)blockIdx.x * blockDim.x + threadIdx.x; i < (count); \
         i += (index_t)blockDim.x * gridDim.x)

// sigmoid(2a) as the twins compute it from a halved pre-activation a: 0.5 * tanh(a) + 0.5
__device__ __forceinline__ real halved_sigmoid(real a) {
    return tanh(a) * (real)0.5 + (real)0.5;
}

// rows @ weight[:, column] for one row (a sequence's h) and a row-major weight with `width` columns. Four
// running sums over every fourth k, added at the end: four independent fma chains keep a thread's pipeline
// busy where one chain of `depth` dependent fmas would wait on each
__device__ __forceinline__ real dot_column(const real* __restrict__ rows, const real* __restrict__ weight,
                                           int depth, int width, int column) {
    real sum[4] = {0, 0, 0, 0};
    int k = 0;
    for (; k + 4 <= depth; k += 4)
        for (int part = 0; part < 4; ++part)
            sum[part] = fma(rows[k + part], weight[(index_t)(k + part) * width + column], sum[part]);
    for (; k < depth; ++k) sum[0] = fma(rows[k], weight[(index_t)k * width + column], sum[0]);
    return (sum[0] + sum[1]) + (sum[2] + sum[3]);
}

// `count` columns at once, column + i * stride for i < count: rows @ weight[:, column + i stride] into out[i]
// (an LSTM's four gates, a GRU's three blocks), one independent fma chain a column
template <int count>
__device__ __forceinline__ void dot_columns(const real* __restrict__ rows, const real* __restrict__ weight,
                                            int depth, int width, int column, int stride, real* out) {
    real sum[count];
    for (int i = 0; i < count; ++i) sum[i] = 0;
    for (int k = 0; k < depth; ++k) {
        const real value = rows[k];
        const real* row = weight + (index_t)k * width + column;
        for (int i = 0; i < count; ++i) sum[i] = fma(value, row[i * stride], sum[i]);
    }
    for (int i = 0; i < count; ++i) out[i] = sum[i];
}

// ---- the optimizers: torch.optim's formulas, over one flat array --------------------------------------

extern "C" __global__ void sgd(real* __restrict__ param, real* __restrict__ buf, const real* __restrict__ grad,
                               index_t count, real lr, real momentum, int has_buf, int nesterov) {
    GRID_STRIDED(i, count) {
        real step = grad[i];
        if (has_buf) {
            real kept = buf[i] * momentum + grad[i];
            buf[i] = kept;
            step = nesterov ? kept * momentum + grad[i] : kept;
        }
        param[i] -= step * lr;
    }
}

extern "C" __global__ void adam(real* __restrict__ param, real* __restrict__ exp_avg, real* __restrict__ exp_avg_sq,
                                const real* __restrict__ grad, index_t count, real beta1, real one_minus_beta1,
                                real beta2, real one_minus_beta2, real step_size, real correction2_sqrt,
                                real eps) {
    GRID_STRIDED(i, count) {
        real g = grad[i];
        real m = exp_avg[i] * beta1 + g * one_minus_beta1;
        real v = exp_avg_sq[i] * beta2 + (g * g) * one_minus_beta2;
        exp_avg[i] = m;
        exp_avg_sq[i] = v;
        real denominator = sqrt(v) / correction2_sqrt + eps;
        param[i] -= (m / denominator) * step_size;
    }
}

// ---- the LSTM cell (gate slots i, f, o, g; the sigmoid slots' pre-activations halved) ----------------

struct LstmCell {
    real gate[4];  // i, f, o, g
    real c, tanh_c, h;
};

__device__ __forceinline__ LstmCell lstm_cell(const real z[4], real c_prev) {
    LstmCell cell;
    for (int s = 0; s < 3; ++s) cell.gate[s] = halved_sigmoid(z[s]);
    cell.gate[3] = tanh(z[3]);
    cell.c = cell.gate[1] * c_prev + cell.gate[0] * cell.gate[3];
    cell.tanh_c = tanh(cell.c);
    cell.h = cell.gate[2] * cell.tanh_c;
    return cell;
}

// the cell's vjp: da in parameter column order (i, f, g, o); dc in: from later steps, out: of c_prev
__device__ __forceinline__ void lstm_cell_vjp(const real gate[4], real c_prev, real tanh_c, real dh, real* dc,
                                              real da[4]) {
    real i = gate[0], f = gate[1], o = gate[2], g = gate[3];
    real through_tanh = (((real)1 - tanh_c * tanh_c) * o) * dh;
    real dc_total = through_tanh + *dc;
    da[0] = (dc_total * g) * (i - i * i);
    da[1] = (dc_total * c_prev) * (f - f * f);
    da[2] = (dc_total * i) * ((real)1 - g * g);
    da[3] = (dh * tanh_c) * (o - o * o);
    *dc = dc_total * f;
}

// One step for n rows: pre (n, 4H) slot pre-activations; rec (n, 4H) or null, overwritten with rec + pre;
// gates (4, n, H); c, tanh_c, h (n, H).
extern "C" __global__ void lstm_step_forward(const real* __restrict__ pre, real* __restrict__ rec,
                                             const real* __restrict__ c_prev, real* __restrict__ gates,
                                             real* __restrict__ c, real* __restrict__ tanh_c, real* __restrict__ h,
                                             int n, int hidden, int has_rec) {
    const index_t cells = (index_t)n * hidden;
    GRID_STRIDED(i, cells) {
        const index_t row = i / hidden, j = i % hidden;
        real z[4];
        for (int s = 0; s < 4; ++s) {
            const index_t at = row * 4 * hidden + s * hidden + j;
            z[s] = has_rec ? rec[at] + pre[at] : pre[at];
            if (has_rec) rec[at] = z[s];
        }
        LstmCell cell = lstm_cell(z, c_prev[i]);
        for (int s = 0; s < 4; ++s) gates[s * cells + i] = cell.gate[s];
        c[i] = cell.c;
        tanh_c[i] = cell.tanh_c;
        h[i] = cell.h;
    }
}

// Its vjp for n rows: gates (4, n, H); dc (n, H) in and out; da (n, 4H) in parameter column order.
extern "C" __global__ void lstm_step_backward(const real* __restrict__ gates, const real* __restrict__ c_prev,
                                              const real* __restrict__ tanh_c, const real* __restrict__ dh,
                                              real* __restrict__ dc, real* __restrict__ da, int n, int hidden) {
    const index_t cells = (index_t)n * hidden;
    GRID_STRIDED(i, cells) {
        const index_t row = i / hidden, j = i % hidden;
        real gate[4], grad[4];
        for (int s = 0; s < 4; ++s) gate[s] = gates[s * cells + i];
        lstm_cell_vjp(gate, c_prev[i], tanh_c[i], dh[i], &dc[i], grad);
        for (int s = 0; s < 4; ++s) da[row * 4 * hidden + s * hidden + j] = grad[s];
    }
}

// ---- whole sequences: time-major rows, step t of the n sequences in rows [t n, (t + 1) n) ------------
// h, c, dh: (1 + steps) n rows, block 0 the state before the first step; pre, gates' rows: steps n.

// Each of this block's sequences through its steps, first to last: `step(row, j, before)` returns unit j of
// h_t (and stores whatever else it keeps) from h_(t-1) in `before`, the block's shared state.
template <typename Step>
__device__ __forceinline__ void walk_forward(real* state, const real* h, int steps, int n, int hidden, Step step) {
    BLOCKS_STRIDED(b, n) {
        real* before = state;
        real* after = state + hidden;
        THREADS_STRIDED(j, hidden) before[j] = h[(index_t)b * hidden + j];
        __syncthreads();
        for (int t = 0; t < steps; ++t) {
            const index_t row = (index_t)t * n + b;
            THREADS_STRIDED(j, hidden) after[j] = step(row, j, (const real*)before);
            __syncthreads();
            real* swap = before;
            before = after;
            after = swap;
        }
    }
}

// The reverse sweep over each of this block's sequences, last step first: `cell(b, row, j)` carries unit j's
// gradient through the step's cell into the shared `step_grad` (width values), then dh_(t-1) gathers
// step_grad @ weight_t (weight_t = the recurrent weight transposed, (width, H)).
template <typename Cell>
__device__ __forceinline__ void walk_backward(real* step_grad, real* dh, const real* weight_t, int width, int steps,
                                              int n, int hidden, Cell cell) {
    BLOCKS_STRIDED(b, n) {
        for (int t = steps - 1; t >= 0; --t) {
            const index_t row = (index_t)t * n + b;
            THREADS_STRIDED(j, hidden) cell(b, row, j);
            __syncthreads();
            THREADS_STRIDED(j, hidden) dh[row * hidden + j] += dot_column(step_grad, weight_t, width, hidden, j);
            __syncthreads();
        }
    }
}

// A dropout mask (n, H), one row per sequence for every step, where `masked`: unit j of sequence b's h_t is
// written (and read by step t + 1) times mask[b H + j], and its gradient is multiplied by it before the cell's
// vjp. Without one, 1.
__device__ __forceinline__ real mask_of(const real* mask, int masked, index_t b, int hidden, int j) {
    return masked ? mask[b * hidden + j] : (real)1;
}

// Every step of an LSTM layer: pre (steps n, 4H) the input projection and bias in slot order, weight (H, 4H)
// the recurrent weight in slot order (sigmoid slots halved); writes gates (4, steps n, H), tanh_c, h, c.
extern "C" __global__ void lstm_sequence_forward(const real* __restrict__ pre, const real* __restrict__ weight,
                                                 real* __restrict__ h, real* __restrict__ c,
                                                 real* __restrict__ gates, real* __restrict__ tanh_c,
                                                 const real* __restrict__ mask, int steps, int n, int hidden,
                                                 int masked) {
    NNG_SHARED(real, state);  // h_(t-1) and h_t of this block's sequence
    const index_t rows = (index_t)steps * n;
    walk_forward(state, h, steps, n, hidden, [&](index_t row, int j, const real* before) {
        real z[4];
        dot_columns<4>(before, weight, hidden, 4 * hidden, j, hidden, z);
        for (int s = 0; s < 4; ++s) z[s] += pre[row * 4 * hidden + s * hidden + j];
        LstmCell cell = lstm_cell(z, c[row * hidden + j]);
        for (int s = 0; s < 4; ++s) gates[s * rows * hidden + row * hidden + j] = cell.gate[s];
        c[(row + n) * hidden + j] = cell.c;
        tanh_c[row * hidden + j] = cell.tanh_c;
        const real value = cell.h * mask_of(mask, masked, row % n, hidden, j);
        h[(row + n) * hidden + j] = value;
        return value;
    });
}

// The reverse sweep: per step from the last, the cell's vjp into da (steps n, 4H, parameter column order),
// then dh_(t-1) += da_t @ weight.T, weight_t = weight.T (4H, H) contiguous. dc (n, H): in, the gradient of
// c after the last step; out, of the cell before the first.
extern "C" __global__ void lstm_sequence_backward(const real* __restrict__ gates, const real* __restrict__ c,
                                                  const real* __restrict__ tanh_c, real* __restrict__ dh,
                                                  real* __restrict__ dc, real* __restrict__ da,
                                                  const real* __restrict__ weight_t, const real* __restrict__ mask,
                                                  int steps, int n, int hidden, int masked) {
    NNG_SHARED(real, step_da);  // da_t of this block's sequence, 4H
    const index_t rows = (index_t)steps * n;
    walk_backward(step_da, dh, weight_t, 4 * hidden, steps, n, hidden, [&](int b, index_t row, int j) {
        real gate[4], grad[4];
        for (int s = 0; s < 4; ++s) gate[s] = gates[s * rows * hidden + row * hidden + j];
        const real g = dh[(row + n) * hidden + j] *= mask_of(mask, masked, b, hidden, j);
        lstm_cell_vjp(gate, c[row * hidden + j], tanh_c[row * hidden + j], g, &dc[(index_t)b * hidden + j], grad);
        for (int s = 0; s < 4; ++s) {
            da[row * 4 * hidden + s * hidden + j] = grad[s];
            step_da[s * hidden + j] = grad[s];
        }
    });
}

// Every step of a tanh layer: h_t = tanh(h_(t-1) @ weight + pre_t); pre (steps n, H), weight (H, H). Under a
// mask, raw (steps n, H) keeps the tanh's values and h their masked ones.
extern "C" __global__ void elman_sequence_forward(const real* __restrict__ pre, const real* __restrict__ weight,
                                                  real* __restrict__ h, const real* __restrict__ mask,
                                                  real* __restrict__ raw, int steps, int n, int hidden, int masked) {
    NNG_SHARED(real, state);
    walk_forward(state, h, steps, n, hidden, [&](index_t row, int j, const real* before) {
        real value = tanh(dot_column(before, weight, hidden, hidden, j) + pre[row * hidden + j]);
        if (masked) {
            raw[row * hidden + j] = value;
            value *= mask[(row % n) * hidden + j];
        }
        h[(row + n) * hidden + j] = value;
        return value;
    });
}

// The reverse sweep: da_t = dh_t * (1 - h_t^2), then dh_(t-1) += da_t @ weight.T (weight_t = weight.T). Under a
// mask, dh_t *= mask first and h_t is raw's.
extern "C" __global__ void elman_sequence_backward(const real* __restrict__ h, real* __restrict__ dh,
                                                   real* __restrict__ da, const real* __restrict__ weight_t,
                                                   const real* __restrict__ mask, const real* __restrict__ raw,
                                                   int steps, int n, int hidden, int masked) {
    NNG_SHARED(real, step_da);
    walk_backward(step_da, dh, weight_t, hidden, steps, n, hidden, [&](int b, index_t row, int j) {
        const real value = masked ? raw[row * hidden + j] : h[(row + n) * hidden + j];
        const real g = dh[(row + n) * hidden + j] *= mask_of(mask, masked, b, hidden, j);
        const real grad = ((real)1 - value * value) * g;
        da[row * hidden + j] = grad;
        step_da[j] = grad;
    });
}

// The step loops of a cell that keeps its recurrence beside its input (a GRU: K = 3 gate blocks, an MGU: 2):
// hu_t = h_(t-1) @ weight (K H) into hu, then `cell(row, j, pre_row, product, h_prev_j)` stores the gates it keeps
// and returns unit j of h_t, which is stored masked.
template <int K, typename Cell>
__device__ __forceinline__ void gated_forward(real* state, const real* pre, const real* weight, real* h, real* hu,
                                              const real* mask, int steps, int n, int hidden, int masked, Cell cell) {
    walk_forward(state, h, steps, n, hidden, [&](index_t row, int j, const real* before) {
        real product[K];
        dot_columns<K>(before, weight, hidden, K * hidden, j, hidden, product);
        for (int s = 0; s < K; ++s) hu[row * K * hidden + s * hidden + j] = product[s];
        const real value = cell(row, j, pre + row * K * hidden, product, before[j]) *
                           mask_of(mask, masked, row % n, hidden, j);
        h[(row + n) * hidden + j] = value;
        return value;
    });
}

// Its reverse sweep: `cell(row, j, g, grads, through_u)` writes the gradients of the K pre-activation blocks and
// of hu's, given g, unit j's gradient of h_t (masked), and returns what dh_(t-1) gets besides ghu_t @ weight.T.
template <int K, typename Cell>
__device__ __forceinline__ void gated_backward(real* step_ghu, real* dh, real* gx, real* ghu, const real* weight_t,
                                               const real* mask, int steps, int n, int hidden, int masked, Cell cell) {
    walk_backward(step_ghu, dh, weight_t, K * hidden, steps, n, hidden, [&](int b, index_t row, int j) {
        const real g = dh[(row + n) * hidden + j] *= mask_of(mask, masked, b, hidden, j);
        real grads[K], through_u[K];
        const real carried = cell(row, j, g, grads, through_u);
        for (int s = 0; s < K; ++s) {
            gx[row * K * hidden + s * hidden + j] = grads[s];
            ghu[row * K * hidden + s * hidden + j] = through_u[s];
            step_ghu[s * hidden + j] = through_u[s];
        }
        dh[row * hidden + j] += carried;
    });
}

// Every step of a GRU layer (gate blocks r, z, n): r and z the sigmoids of pre + hu, the candidate
// tanh(pre_n + r hu_n), h_t = (h_(t-1) - candidate) z + candidate.
extern "C" __global__ void gru_sequence_forward(const real* __restrict__ pre, const real* __restrict__ weight,
                                                real* __restrict__ h, real* __restrict__ hu, real* __restrict__ rz,
                                                real* __restrict__ candidate, const real* __restrict__ mask,
                                                int steps, int n, int hidden, int masked) {
    NNG_SHARED(real, state);
    gated_forward<3>(state, pre, weight, h, hu, mask, steps, n, hidden, masked,
                     [&](index_t row, int j, const real* p, const real* product, real before) {
        const real r = halved_sigmoid((p[j] + product[0]) * (real)0.5);
        const real z = halved_sigmoid((p[hidden + j] + product[1]) * (real)0.5);
        const real next = tanh(r * product[2] + p[2 * hidden + j]);
        rz[row * 2 * hidden + j] = r;
        rz[row * 2 * hidden + hidden + j] = z;
        candidate[row * hidden + j] = next;
        return (before - next) * z + next;
    });
}

// The reverse sweep: the step's vjp into gx (the gradient of pre) and ghu (of hu), each (steps n, 3H), and
// dh_(t-1) += dh_t z + ghu_t @ weight.T (weight_t = weight.T, (3H, H)).
extern "C" __global__ void gru_sequence_backward(const real* __restrict__ h, const real* __restrict__ hu,
                                                 const real* __restrict__ rz, const real* __restrict__ candidate,
                                                 real* __restrict__ dh, real* __restrict__ gx, real* __restrict__ ghu,
                                                 const real* __restrict__ weight_t, const real* __restrict__ mask,
                                                 int steps, int n, int hidden, int masked) {
    NNG_SHARED(real, step_ghu);  // 3H
    gated_backward<3>(step_ghu, dh, gx, ghu, weight_t, mask, steps, n, hidden, masked,
                      [&](index_t row, int j, real g, real* grads, real* through_u) {
        const real r = rz[row * 2 * hidden + j], z = rz[row * 2 * hidden + hidden + j];
        const real next = candidate[row * hidden + j];
        const real d_next = (g * ((real)1 - z)) * ((real)1 - next * next);
        const real d_r = (d_next * hu[row * 3 * hidden + 2 * hidden + j]) * (r * ((real)1 - r));
        const real d_z = (g * (h[row * hidden + j] - next)) * (z * ((real)1 - z));
        grads[0] = through_u[0] = d_r;
        grads[1] = through_u[1] = d_z;
        grads[2] = d_next;
        through_u[2] = d_next * r;
        return g * z;
    });
}

// Every step of an MGU layer (gate blocks f, n): f the sigmoid of pre_f + hu_f, the candidate
// tanh(pre_n + f hu_n), h_t = (h_(t-1) - candidate) f + candidate: the GRU's step with f as r and z.
extern "C" __global__ void mgu_sequence_forward(const real* __restrict__ pre, const real* __restrict__ weight,
                                                real* __restrict__ h, real* __restrict__ hu, real* __restrict__ gate,
                                                real* __restrict__ candidate, const real* __restrict__ mask,
                                                int steps, int n, int hidden, int masked) {
    NNG_SHARED(real, state);
    gated_forward<2>(state, pre, weight, h, hu, mask, steps, n, hidden, masked,
                     [&](index_t row, int j, const real* p, const real* product, real before) {
        const real f = halved_sigmoid((p[j] + product[0]) * (real)0.5);
        const real next = tanh(f * product[1] + p[hidden + j]);
        gate[row * hidden + j] = f;
        candidate[row * hidden + j] = next;
        return (before - next) * f + next;
    });
}

// The reverse sweep: gx and ghu (steps n, 2H), dh_(t-1) += dh_t f + ghu_t @ weight.T (weight_t (2H, H)).
extern "C" __global__ void mgu_sequence_backward(const real* __restrict__ h, const real* __restrict__ hu,
                                                 const real* __restrict__ gate, const real* __restrict__ candidate,
                                                 real* __restrict__ dh, real* __restrict__ gx, real* __restrict__ ghu,
                                                 const real* __restrict__ weight_t, const real* __restrict__ mask,
                                                 int steps, int n, int hidden, int masked) {
    NNG_SHARED(real, step_ghu);  // 2H
    gated_backward<2>(step_ghu, dh, gx, ghu, weight_t, mask, steps, n, hidden, masked,
                      [&](index_t row, int j, real g, real* grads, real* through_u) {
        const real f = gate[row * hidden + j], next = candidate[row * hidden + j];
        const real d_next = (g * ((real)1 - f)) * ((real)1 - next * next);
        const real d_f = (g * (h[row * hidden + j] - next) + d_next * hu[row * 2 * hidden + hidden + j]) *
                         (f * ((real)1 - f));
        grads[0] = through_u[0] = d_f;
        grads[1] = d_next;
        through_u[1] = d_next * f;
        return g * f;
    });
}

// ---- windows: max pooling and a convolution's input gradient, one pass each -------------------------------
// Images are planes of (height, width) values, already padded where the twins pad them.

// Each window's maximum and the offset i * kernel_w + j where it was first found (strictly greater wins;
// a NaN makes the maximum NaN and stops the offset, as the twin's numpy.maximum and > do).
extern "C" __global__ void maxpool_forward(const real* __restrict__ padded, real* __restrict__ best,
                                           int* __restrict__ argmax, int planes, int height, int width,
                                           int out_h, int out_w, int kernel_h, int kernel_w, int stride_h,
                                           int stride_w) {
    const index_t windows = (index_t)planes * out_h * out_w;
    GRID_STRIDED(i, windows) {
        const index_t plane = i / ((index_t)out_h * out_w);
        const int at = (int)(i % ((index_t)out_h * out_w)), oy = at / out_w, ox = at % out_w;
        const real* window = padded + plane * height * width + (index_t)oy * stride_h * width + (index_t)ox * stride_w;
        real top = window[0];
        int offset = 0;
        for (int k = 1; k < kernel_h * kernel_w; ++k) {
            const real candidate = window[(k / kernel_w) * width + k % kernel_w];
            if (candidate > top) offset = k;
            top = (candidate != candidate || top != top) ? candidate + top : (candidate > top ? candidate : top);
        }
        best[i] = top;
        argmax[i] = offset;
    }
}

// The gradient of the padded image: each pixel gathers the gradients of the windows whose maximum it was,
// in the order of their offsets (the twin's order of sums).
extern "C" __global__ void maxpool_backward(const real* __restrict__ g, const int* __restrict__ argmax,
                                            real* __restrict__ out, int planes, int height, int width, int out_h,
                                            int out_w, int kernel_h, int kernel_w, int stride_h, int stride_w) {
    const index_t pixels = (index_t)planes * height * width;
    GRID_STRIDED(i, pixels) {
        const index_t plane = i / ((index_t)height * width);
        const int at = (int)(i % ((index_t)height * width)), y = at / width, x = at % width;
        real sum = 0;
        for (int k = 0; k < kernel_h * kernel_w; ++k) {
            const int from_y = y - k / kernel_w, from_x = x - k % kernel_w;
            if (from_y < 0 || from_x < 0 || from_y % stride_h || from_x % stride_w) continue;
            const int oy = from_y / stride_h, ox = from_x / stride_w;
            if (oy >= out_h || ox >= out_w) continue;
            const index_t window = plane * out_h * out_w + (index_t)oy * out_w + ox;
            if (argmax[window] == k) sum += g[window];
        }
        out[i] = sum;
    }
}

// A convolution's input gradient from its window gradients with the batch innermost, pieces (C, kh, kw,
// out_h, out_w, n): each pixel of the unpadded (n, C, height, width) image sums the pieces of the windows
// that cover it, offsets row by row (the twin's order of sums).
extern "C" __global__ void col2im_batch_last(const real* __restrict__ pieces, real* __restrict__ out, int n,
                                             int channels, int height, int width, int out_h, int out_w,
                                             int kernel_h, int kernel_w, int stride_h, int stride_w, int pad_top,
                                             int pad_left) {
    const index_t pixels = (index_t)n * channels * height * width;
    GRID_STRIDED(i, pixels) {
        const int x = (int)(i % width), y = (int)(i / width % height);
        const int channel = (int)(i / ((index_t)width * height) % channels);
        const int b = (int)(i / ((index_t)width * height * channels));
        real sum = 0;
        for (int di = 0; di < kernel_h; ++di) {
            const int from_y = y + pad_top - di;
            if (from_y < 0 || from_y % stride_h || from_y / stride_h >= out_h) continue;
            for (int dj = 0; dj < kernel_w; ++dj) {
                const int from_x = x + pad_left - dj;
                if (from_x < 0 || from_x % stride_w || from_x / stride_w >= out_w) continue;
                const index_t row = (((index_t)channel * kernel_h + di) * kernel_w + dj) * out_h + from_y / stride_h;
                sum += pieces[(row * out_w + from_x / stride_w) * n + b];
            }
        }
        out[i] = sum;
    }
}

// ---- a dense layer's bias and activation, and their vjp: one pass each --------------------------------
// activation codes: backend/twins.py's FUSED_ACTIVATIONS (relu, tanh, sigmoid, leaky_relu, elu); parameter:
// leaky_relu's slope, elu's alpha. Written as the twins compute them (numpy.maximum keeps a NaN).

__device__ __forceinline__ real activate(real z, int activation, real parameter) {
    switch (activation) {
        case 0: return (z != z || z > 0) ? z : (real)0;
        case 1: return tanh(z);
        case 2: return halved_sigmoid(z * (real)0.5);
        case 3: return z > 0 ? z : z * parameter;
        default: return z > 0 ? z : parameter * expm1((z != z || z < 0) ? z : (real)0);
    }
}

__device__ __forceinline__ real activation_vjp(real g, real z, real a, int activation, real parameter) {
    switch (activation) {
        case 0: return g * (a > 0 ? (real)1 : (real)0);
        case 1: return g * ((real)1 - a * a);
        case 2: return (g * a) * ((real)1 - a);
        case 3: return z > 0 ? g : g * parameter;
        default: return z > 0 ? g : g * (a + parameter);
    }
}

// z += bias (has_bias), a = activation(z); z's values come in runs of `inner` sharing a bias value, `width`
// values of bias repeating: a dense layer's (rows, width) with inner 1, a convolution's (N, F, H, W) with
// width F and inner H * W
extern "C" __global__ void bias_activation(real* __restrict__ z, const real* __restrict__ bias, real* __restrict__ a,
                                           index_t count, int width, index_t inner, int activation, real parameter,
                                           int has_bias) {
    GRID_STRIDED(i, count) {
        const real value = has_bias ? z[i] + bias[i / inner % width] : z[i];
        z[i] = value;
        a[i] = activate(value, activation, parameter);
    }
}

// out = gz (has_gz) + the gradient ga of a = activation(z) carried back to z
extern "C" __global__ void add_activation_vjp(const real* __restrict__ gz, const real* __restrict__ ga,
                                              const real* __restrict__ z, const real* __restrict__ a,
                                              real* __restrict__ out, index_t count, int activation, real parameter,
                                              int has_gz) {
    GRID_STRIDED(i, count) {
        const real through = activation_vjp(ga[i], z[i], a[i], activation, parameter);
        out[i] = has_gz ? gz[i] + through : through;
    }
}

// ---- Gibbs sweeps of a Boltzmann machine, one unit at a time --------------------------------------------
// states (rows, units): one chain a row, a block a chain (strided); each update reduces the chain's states
// times the unit's couplings over the block's threads, then thread 0 sets the unit (bernoulli: on where
// its uniform draw < sigmoid(z / T), or the probability itself for mean field; gaussian: z + its normal draw
// * sqrt(T), or z), and the block meets before the next unit reads it. couplings_t: the couplings
// transposed, so a unit's incoming couplings are one contiguous row.

// the sum of values[0 .. blockDim.x) into values[0], by halving (any blockDim); every thread must call it
__device__ __forceinline__ void block_sum(real* values) {
    for (int width = blockDim.x; width > 1;) {
        const int half = (width + 1) / 2;
        if ((int)threadIdx.x < width - half) values[threadIdx.x] += values[threadIdx.x + half];
        __syncthreads();
        width = half;
    }
}

extern "C" __global__ void gibbs_sweep(real* __restrict__ states, const real* __restrict__ couplings_t,
                                       const real* __restrict__ bias, const int* __restrict__ order, int count,
                                       const real* __restrict__ uniforms, const real* __restrict__ normals,
                                       const int* __restrict__ gaussian, int rows, int units, real temperature,
                                       int mean_field) {
    NNG_SHARED(real, partial);  // blockDim.x
    BLOCKS_STRIDED(b, rows) {
        real* chain = states + (index_t)b * units;
        for (int step = 0; step < count; ++step) {
            const int unit = order[step];
            real sum = 0;
            THREADS_STRIDED(k, units) sum = fma(chain[k], couplings_t[(index_t)unit * units + k], sum);
            partial[threadIdx.x] = sum;
            __syncthreads();
            block_sum(partial);
            if (threadIdx.x == 0) {
                const real z = partial[0] + bias[unit];
                const index_t at = (index_t)b * units + unit;
                if (gaussian[unit]) {
                    chain[unit] = mean_field ? z : z + normals[at] * sqrt(temperature);
                } else {
                    const real p = halved_sigmoid((z / temperature) * (real)0.5);
                    chain[unit] = mean_field ? p : (uniforms[at] < p ? (real)1 : (real)0);
                }
            }
            __syncthreads();
        }
    }
}

// ---- softmax cross-entropy on class labels: a row a thread ------------------------------------------------
// z (rows, classes); each row's log-sum-exp (kept for the vjp) and its loss lse - z[label] (NaN for a label
// outside [0, classes)).
extern "C" __global__ void softmax_xent_forward(const real* __restrict__ z, const index_t* __restrict__ labels,
                                                real* __restrict__ lse, real* __restrict__ row_loss, index_t rows,
                                                int classes) {
    GRID_STRIDED(r, rows) {
        const real* row = z + r * classes;
        real top = row[0];
        for (int k = 1; k < classes; ++k) top = (row[k] > top || row[k] != row[k]) && top == top ? row[k] : top;
        real sum = 0;
        for (int k = 0; k < classes; ++k) sum += exp(row[k] - top);
        const real total = top + log(sum);
        const index_t label = labels[r];
        lse[r] = total;
        row_loss[r] = (label >= 0 && label < classes) ? total - row[label] : (real)nan("");
    }
}

// the gradient of z: (softmax(z) - onehot(label)) * g / positions, g the loss's 0-d cotangent on the device
extern "C" __global__ void softmax_xent_backward(const real* __restrict__ z, const index_t* __restrict__ labels,
                                                 const real* __restrict__ lse, const real* __restrict__ g,
                                                 real* __restrict__ grad, index_t count, int classes,
                                                 real positions) {
    GRID_STRIDED(i, count) {
        const index_t r = i / classes;
        const real hit = labels[r] == i % classes ? (real)1 : (real)0;
        grad[i] = (exp(z[i] - lse[r]) - hit) * (g[0] / positions);
    }
}
