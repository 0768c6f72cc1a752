/* The element-wise loops of every path: the LSTM step and its vjp, the optimizer updates, max and average pooling.
 * Each reads its inputs once and writes its outputs once (see module.c on rounding). Included once per
 * path by isa_*.c, which compiles it for that path's instruction set. */

/* ---- the LSTM step ----------------------------------------------------------------------------
 * Layouts as in nngraph/backend/twins.py: pre-activations (n, 4h) in slot order i, f, o, g with the
 * sigmoid slots halved (sigmoid(a) = 0.5 tanh(a / 2) + 0.5), gate values in slots (4, n, h) whose
 * slot stride is `slot` elements, gradients of pre-activations (n, 4h) in parameter order i, f, g, o. */

#define LSTM_KERNELS(T, TANH)                                                                           \
    static void lstm_forward_##T(const T *pre, const T *rec, const T *c_prev, T *gates,                 \
                                        Py_ssize_t slot, T *c, T *tanh_c, T *h, Py_ssize_t n,           \
                                        Py_ssize_t width) {                                             \
        for (Py_ssize_t r = 0; r < n; r++) {                                                            \
            const T *p = pre + r * 4 * width, *q = rec ? rec + r * 4 * width : NULL;                    \
            T *gi = gates + r * width, *gf = gi + slot, *go = gf + slot, *gg = go + slot;               \
            const T *cp = c_prev + r * width;                                                           \
            T *cr = c + r * width, *tr = tanh_c + r * width, *hr = h + r * width;                       \
            if (q) {                                                                                    \
                IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                          \
                    gi[j] = p[j] + q[j];                                                                \
                    gf[j] = p[width + j] + q[width + j];                                                \
                    go[j] = p[2 * width + j] + q[2 * width + j];                                        \
                    gg[j] = p[3 * width + j] + q[3 * width + j];                                        \
                }                                                                                       \
            } else {                                                                                    \
                IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                          \
                    gi[j] = p[j];                                                                       \
                    gf[j] = p[width + j];                                                               \
                    go[j] = p[2 * width + j];                                                           \
                    gg[j] = p[3 * width + j];                                                           \
                }                                                                                       \
            }                                                                                           \
            IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                              \
                T i = (T)0.5 * TANH(gi[j]) + (T)0.5, f = (T)0.5 * TANH(gf[j]) + (T)0.5;                 \
                T o = (T)0.5 * TANH(go[j]) + (T)0.5, g = TANH(gg[j]);                                   \
                T cc = f * cp[j] + i * g;                                                               \
                T t = TANH(cc);                                                                         \
                gi[j] = i, gf[j] = f, go[j] = o, gg[j] = g;                                             \
                cr[j] = cc, tr[j] = t, hr[j] = o * t;                                                   \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
                                                                                                        \
    static void lstm_backward_##T(const T *gates, Py_ssize_t slot, const T *c_prev,                     \
                                         const T *tanh_c, const T *dh, T *dc, T *da, Py_ssize_t n,      \
                                         Py_ssize_t width) {                                            \
        for (Py_ssize_t r = 0; r < n; r++) {                                                            \
            const T *gi = gates + r * width, *gf = gi + slot, *go = gf + slot, *gg = go + slot;         \
            T *di = da + r * 4 * width, *df = di + width, *dg = df + width, *dout = dg + width;         \
            const T *cp = c_prev + r * width, *tr = tanh_c + r * width, *hr = dh + r * width;           \
            T *dcr = dc + r * width;                                                                    \
            IVDEP for (Py_ssize_t j = 0; j < width; j++) {                                              \
                T i = gi[j], f = gf[j], o = go[j], g = gg[j], t = tr[j], d = hr[j];                     \
                T total = dcr[j] + d * o * ((T)1 - t * t);                                              \
                di[j] = total * g * (i - i * i);                                                        \
                df[j] = total * cp[j] * (f - f * f);                                                    \
                dg[j] = total * i * ((T)1 - g * g);                                                     \
                dout[j] = d * t * (o - o * o);                                                          \
                dcr[j] = total * f;                                                                     \
            }                                                                                           \
        }                                                                                               \
    }

LSTM_KERNELS(float, tanh_f32)
LSTM_KERNELS(double, tanh_f64)

/* ---- optimizer updates (PyTorch's formulas, as nngraph/train/optimizers.py) -------------------- */

#define OPTIMIZER_KERNELS(T, SQRT)                                                                      \
    static void sgd_##T(T *param, T *buf, const T *grad, Py_ssize_t n, T lr, T momentum,                \
                               int nesterov) {                                                          \
        if (!buf) {                                                                                     \
            IVDEP for (Py_ssize_t k = 0; k < n; k++) param[k] -= grad[k] * lr;                          \
        } else if (nesterov) {                                                                          \
            IVDEP for (Py_ssize_t k = 0; k < n; k++) {                                                  \
                T b = buf[k] * momentum + grad[k];                                                      \
                buf[k] = b;                                                                             \
                param[k] -= (b * momentum + grad[k]) * lr;                                              \
            }                                                                                           \
        } else {                                                                                        \
            IVDEP for (Py_ssize_t k = 0; k < n; k++) {                                                  \
                T b = buf[k] * momentum + grad[k];                                                      \
                buf[k] = b;                                                                             \
                param[k] -= b * lr;                                                                     \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
                                                                                                        \
    static void adam_##T(T *param, T *m, T *v, const T *grad, Py_ssize_t n, T beta1, T beta2,           \
                                T keep1, T keep2, T step_size, T correction2_sqrt, T eps) {             \
        IVDEP for (Py_ssize_t k = 0; k < n; k++) {                                                      \
            T g = grad[k];                                                                              \
            T mk = m[k] * beta1 + g * keep1;                                                            \
            T vk = v[k] * beta2 + g * g * keep2;                                                        \
            m[k] = mk, v[k] = vk;                                                                       \
            T denom = SQRT(vk) / correction2_sqrt + eps;                                                \
            param[k] -= mk / denom * step_size;                                                         \
        }                                                                                               \
    }

OPTIMIZER_KERNELS(float, sqrtf)
OPTIMIZER_KERNELS(double, sqrt)


/* ---- max pooling -------------------------------------------------------------------------------
 * Forward over an already padded (images, h, w) stack (images = N * C): each window's maximum and the
 * number i * kw + j of the offset where it was first found (ties go to the first, as argmax). Backward:
 * the (images, h, w) stack zeroed, then each window's gradient added at that offset. One pass each, where the
 * numpy twin makes kh * kw passes of four operations over every output (nngraph/backend/twins.py). */

#define MAXPOOL_KERNELS(T)                                                                              \
    /* kernel offsets outside, a row of windows inside: the comparisons become selects, not the         \
     * unpredictable branches a window-by-window loop takes on real data */                             \
    static void maxpool_forward_##T(const T *x, T *best, int32_t *argmax, Py_ssize_t images,            \
                                           Py_ssize_t h, Py_ssize_t w, Py_ssize_t kh, Py_ssize_t kw,    \
                                           Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo) { \
        for (Py_ssize_t m = 0; m < images; m++)                                                         \
            for (Py_ssize_t oh = 0; oh < ho; oh++) {                                                    \
                const T *band = x + m * h * w + oh * sh * w;                                            \
                T *top = best + (m * ho + oh) * wo;                                                     \
                int32_t *where = argmax + (m * ho + oh) * wo;                                           \
                for (Py_ssize_t ow = 0; ow < wo; ow++) top[ow] = band[ow * sw], where[ow] = 0;          \
                for (Py_ssize_t k = 1; k < kh * kw; k++) {                                              \
                    const T *row = band + (k / kw) * w + k % kw;                                        \
                    for (Py_ssize_t ow = 0; ow < wo; ow++) {                                            \
                        T v = row[ow * sw];                                                             \
                        int better = v > top[ow];                                                       \
                        top[ow] = better ? v : top[ow];                                                 \
                        where[ow] = better ? (int32_t)k : where[ow];                                    \
                    }                                                                                   \
                }                                                                                       \
            }                                                                                           \
    }                                                                                                   \
                                                                                                        \
    static void maxpool_backward_##T(const T *g, const int32_t *argmax, T *out, Py_ssize_t images,      \
                                     Py_ssize_t h, Py_ssize_t w, Py_ssize_t kw, Py_ssize_t sh,          \
                                     Py_ssize_t sw, Py_ssize_t ho, Py_ssize_t wo) {                     \
        for (Py_ssize_t m = 0; m < images; m++) {                                                       \
            T *image = out + m * h * w;                                                                 \
            memset(image, 0, h * w * sizeof(T)); /* here, where the thread's stores find it in cache */ \
            for (Py_ssize_t oh = 0; oh < ho; oh++)                                                      \
                for (Py_ssize_t ow = 0; ow < wo; ow++) {                                                \
                    Py_ssize_t at = (m * ho + oh) * wo + ow, k = argmax[at];                            \
                    image[(oh * sh + k / kw) * w + ow * sw + k % kw] += g[at];                          \
                }                                                                                       \
        }                                                                                               \
    }

MAXPOOL_KERNELS(float)
MAXPOOL_KERNELS(double)


/* ---- average pooling -----------------------------------------------------------------------------
 * Forward over an already padded (images, h, w) stack: each window's sum, made in the twin's order (the
 * kernel offsets row by row, nngraph/backend/twins.py), times 1 / (kh * kw) rounded to T, as the twin
 * multiplies: the same bits. Backward: the (images, h, w) stack zeroed, then each window's gradient times
 * that scale added to (windows that overlap) or stored at (windows apart) each pixel of the window, offset
 * by offset as the twin does: the same bits again. */

#define AVGPOOL_KERNELS(T)                                                                              \
    static void avgpool_forward_##T(const T *x, T *mean, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w, \
                                    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,         \
                                    Py_ssize_t ho, Py_ssize_t wo) {                                     \
        const T scale = (T)(1.0 / (double)(kh * kw));                                                   \
        for (Py_ssize_t m = 0; m < images; m++)                                                         \
            for (Py_ssize_t oh = 0; oh < ho; oh++) {                                                    \
                const T *band = x + m * h * w + oh * sh * w;                                            \
                T *sum = mean + (m * ho + oh) * wo;                                                     \
                for (Py_ssize_t ow = 0; ow < wo; ow++) sum[ow] = band[ow * sw];                         \
                for (Py_ssize_t k = 1; k < kh * kw; k++) {                                              \
                    const T *row = band + (k / kw) * w + k % kw;                                        \
                    for (Py_ssize_t ow = 0; ow < wo; ow++) sum[ow] += row[ow * sw];                     \
                }                                                                                       \
                for (Py_ssize_t ow = 0; ow < wo; ow++) sum[ow] *= scale;                                \
            }                                                                                           \
    }                                                                                                   \
                                                                                                        \
    static void avgpool_backward_##T(const T *g, T *out, Py_ssize_t images, Py_ssize_t h, Py_ssize_t w, \
                                     Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,        \
                                     Py_ssize_t ho, Py_ssize_t wo) {                                    \
        const T scale = (T)(1.0 / (double)(kh * kw));                                                   \
        const int apart = sh >= kh && sw >= kw;                                                         \
        for (Py_ssize_t m = 0; m < images; m++) {                                                       \
            T *image = out + m * h * w;                                                                 \
            const T *grads = g + m * ho * wo;                                                           \
            memset(image, 0, h * w * sizeof(T));                                                        \
            for (Py_ssize_t k = 0; k < kh * kw; k++)                                                    \
                for (Py_ssize_t oh = 0; oh < ho; oh++) {                                                \
                    T *row = image + (oh * sh + k / kw) * w + k % kw;                                   \
                    const T *grad = grads + oh * wo;                                                    \
                    if (apart) /* a store, as the twin's: -0.0 stays -0.0 */                            \
                        for (Py_ssize_t ow = 0; ow < wo; ow++) row[ow * sw] = grad[ow] * scale;         \
                    else                                                                                \
                        for (Py_ssize_t ow = 0; ow < wo; ow++) row[ow * sw] += grad[ow] * scale;        \
                }                                                                                       \
        }                                                                                               \
    }

AVGPOOL_KERNELS(float)
AVGPOOL_KERNELS(double)
