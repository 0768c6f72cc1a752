/* The whole-sequence kernels' step loops on a vector path (after gemm.h, whose strips_gemm does each
 * step's product): each runs every step for a block of sequences [r0, r1), the part of one thread
 * (sequences.c splits them and packs the weights). The GRU, MGU and Elman steps' element-wise work is here;
 * the LSTM's is cells.h's. */

/* An Elman step's activation and its vjp, over n values: h = tanh(h + pre) (h holds h_prev @ W), and
 * da = dh * (1 - h * h) */
static void add_tanh_float(const float *pre, float *h, Py_ssize_t n) {
    IVDEP for (Py_ssize_t j = 0; j < n; j++) h[j] = tanh_f32(h[j] + pre[j]);
}

static void tanh_vjp_float(const float *h, const float *dh, float *da, Py_ssize_t n) {
    IVDEP for (Py_ssize_t j = 0; j < n; j++) da[j] = dh[j] * (1.0f - h[j] * h[j]);
}

/* A GRU step over n rows of width w (gate blocks r, z, n as in nngraph/backend/twins.py): pre (n, 3w) the
 * inputs' product and bias, hu (n, 3w) = h_prev @ U; writes rz (n, 2w), the candidate nn (n, w) and h. */
static void gru_forward_float(const float *pre, const float *hu, const float *h_prev, float *rz, float *nn,
                              float *h, Py_ssize_t n, Py_ssize_t w) {
    for (Py_ssize_t row = 0; row < n; row++) {
        const float *p = pre + row * 3 * w, *u = hu + row * 3 * w, *hp = h_prev + row * w;
        float *r = rz + row * 2 * w, *z = r + w, *c = nn + row * w, *out = h + row * w;
        IVDEP for (Py_ssize_t j = 0; j < w; j++) {
            float rj = 0.5f * tanh_f32(0.5f * (p[j] + u[j])) + 0.5f;
            float zj = 0.5f * tanh_f32(0.5f * (p[w + j] + u[w + j])) + 0.5f;
            float cj = tanh_f32(p[2 * w + j] + rj * u[2 * w + j]);
            r[j] = rj, z[j] = zj, c[j] = cj;
            out[j] = (hp[j] - cj) * zj + cj;
        }
    }
}

/* Its vjp: g (n, w) the gradient of h; writes the pre-activation gradients gx (n, 3w) and ghu (n, 3w), the
 * gradient of hu, and adds g * z to dh_prev */
static void gru_backward_float(const float *g, const float *rz, const float *nn, const float *hu,
                               const float *h_prev, float *gx, float *ghu, float *dh_prev, Py_ssize_t n,
                               Py_ssize_t w) {
    for (Py_ssize_t row = 0; row < n; row++) {
        const float *gr = g + row * w, *r = rz + row * 2 * w, *z = r + w, *c = nn + row * w;
        const float *u = hu + row * 3 * w, *hp = h_prev + row * w;
        float *dx = gx + row * 3 * w, *du = ghu + row * 3 * w, *dp = dh_prev + row * w;
        IVDEP for (Py_ssize_t j = 0; j < w; j++) {
            float dn = gr[j] * (1.0f - z[j]) * (1.0f - c[j] * c[j]);
            float dr = dn * u[2 * w + j] * (r[j] * (1.0f - r[j]));
            float dz = gr[j] * (hp[j] - c[j]) * (z[j] * (1.0f - z[j]));
            dx[j] = dr, dx[w + j] = dz, dx[2 * w + j] = dn;
            du[j] = dr, du[w + j] = dz, du[2 * w + j] = dn * r[j];
            dp[j] += gr[j] * z[j];
        }
    }
}

/* An MGU step over n rows of width w (gate blocks f, n): pre (n, 2w) the inputs' product and bias, hu (n, 2w)
 * = h_prev @ U; writes the gate f (n, w), the candidate nn (n, w) and h: the GRU's step with f as r and z. */
static void mgu_forward_float(const float *pre, const float *hu, const float *h_prev, float *gate, float *nn,
                              float *h, Py_ssize_t n, Py_ssize_t w) {
    for (Py_ssize_t row = 0; row < n; row++) {
        const float *p = pre + row * 2 * w, *u = hu + row * 2 * w, *hp = h_prev + row * w;
        float *f = gate + row * w, *c = nn + row * w, *out = h + row * w;
        IVDEP for (Py_ssize_t j = 0; j < w; j++) {
            float fj = 0.5f * tanh_f32(0.5f * (p[j] + u[j])) + 0.5f;
            float cj = tanh_f32(fj * u[w + j] + p[w + j]);
            f[j] = fj, c[j] = cj;
            out[j] = (hp[j] - cj) * fj + cj;
        }
    }
}

/* Its vjp, as gru_backward_float's: gx and ghu (n, 2w), dh_prev += g * f */
static void mgu_backward_float(const float *g, const float *gate, const float *nn, const float *hu,
                               const float *h_prev, float *gx, float *ghu, float *dh_prev, Py_ssize_t n,
                               Py_ssize_t w) {
    for (Py_ssize_t row = 0; row < n; row++) {
        const float *gr = g + row * w, *f = gate + row * w, *c = nn + row * w;
        const float *u = hu + row * 2 * w, *hp = h_prev + row * w;
        float *dx = gx + row * 2 * w, *du = ghu + row * 2 * w, *dp = dh_prev + row * w;
        IVDEP for (Py_ssize_t j = 0; j < w; j++) {
            float dn = gr[j] * (1.0f - f[j]) * (1.0f - c[j] * c[j]);
            float df = (gr[j] * (hp[j] - c[j]) + dn * u[w + j]) * (f[j] * (1.0f - f[j]));
            dx[j] = df, dx[w + j] = dn;
            du[j] = df, du[w + j] = dn * f[j];
            dp[j] += gr[j] * f[j];
        }
    }
}

/* x[j] *= mask[j]: a step's block of h, or of its gradient, under a dropout mask (mask NULL: none) */
static void apply_mask(float *x, const float *mask, Py_ssize_t n) {
    if (mask) IVDEP for (Py_ssize_t j = 0; j < n; j++) x[j] *= mask[j];
}

/* out[j] = x[j] * mask[j]: an Elman step's masked h from its tanh's values */
static void masked_copy(const float *x, const float *mask, float *out, Py_ssize_t n) {
    IVDEP for (Py_ssize_t j = 0; j < n; j++) out[j] = x[j] * mask[j];
}

/* sums[j] += row[j], in double: the bias gradient of a whole sequence, one row at a time */
static void add_to_sums(double *sums, const float *row, Py_ssize_t n) {
    IVDEP for (Py_ssize_t j = 0; j < n; j++) sums[j] += row[j];
}

/* ---- the step loops ----------------------------------------------------------------------------- */

static void lstm_forward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const LstmForward *s = job;
    Py_ssize_t n = s->n, width = s->width, k = s->k, block = n * width, gate_row = 4 * width, rows = r1 - r0;
    float *scratch = s->scratch + r0 * gate_row;
    for (Py_ssize_t t = 0; t < s->steps; t++) {
        Py_ssize_t at = t * block + r0 * width;
        const float *step_pre = scratch, *added = NULL;
        if (s->x_weight) {
            strips_gemm(s->pre + (t * n + r0) * k, k, s->x_weight, scratch, gate_row, rows, gate_row, k, s->bias, 0);
            strips_gemm(s->h + at, width, s->weight, scratch, gate_row, rows, gate_row, width, NULL, 1);
        } else {
            strips_gemm(s->h + at, width, s->weight, scratch, gate_row, rows, gate_row, width, s->bias, 0);
            step_pre = s->pre + (t * n + r0) * gate_row, added = scratch;
        }
        lstm_forward_float(step_pre, added, s->c + at, s->gates + at, s->slot, s->c + at + block, s->tanh_c + at,
                           s->h + at + block, rows, width);
        apply_mask(s->h + at + block, s->mask ? s->mask + r0 * width : NULL, rows * width);
    }
}

static void lstm_backward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const LstmBackward *s = job;
    Py_ssize_t width = s->width, block = s->n * width, rows = r1 - r0, gate_row = 4 * width;
    double *sums = s->bias_sums ? s->bias_sums + r0 / SPLIT_ROWS * gate_row : NULL;
    for (Py_ssize_t t = s->steps - 1; t >= 0; t--) {
        Py_ssize_t at = t * block + r0 * width;
        float *da = s->da + 4 * at;
        apply_mask(s->dh + at + block, s->mask ? s->mask + r0 * width : NULL, rows * width);
        lstm_backward_float(s->gates + at, s->slot, s->c + at, s->tanh_c + at, s->dh + at + block,
                            s->dc + r0 * width, da, rows, width);
        strips_gemm(da, gate_row, s->weight_t, s->dh + at, width, rows, width, gate_row, NULL, 1);
        if (sums)
            for (Py_ssize_t r = 0; r < rows; r++) add_to_sums(sums, da + r * gate_row, gate_row);
    }
}

static void elman_forward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const ElmanForward *s = job;
    Py_ssize_t width = s->width, block = s->n * width, rows = r1 - r0;
    for (Py_ssize_t t = 0; t < s->steps; t++) {
        Py_ssize_t at = t * block + r0 * width;
        float *h = s->h + at + block, *out = s->mask ? s->raw + at : h;
        strips_gemm(s->h + at, width, s->weight, out, width, rows, width, width, NULL, 0);
        add_tanh_float(s->pre + at, out, rows * width);
        if (s->mask) masked_copy(out, s->mask + r0 * width, h, rows * width);
    }
}

static void elman_backward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {
    const ElmanBackward *s = job;
    Py_ssize_t width = s->width, block = s->n * width, rows = r1 - r0;
    for (Py_ssize_t t = s->steps - 1; t >= 0; t--) {
        Py_ssize_t at = t * block + r0 * width;
        apply_mask(s->dh + at + block, s->mask ? s->mask + r0 * width : NULL, rows * width);
        tanh_vjp_float(s->mask ? s->raw + at : s->h + at + block, s->dh + at + block, s->da + at, rows * width);
        strips_gemm(s->da + at, width, s->weight_t, s->dh + at, width, rows, width, width, NULL, 1);
    }
}

/* The step loops of a cell that keeps its recurrence beside its input: K gate blocks in its products (GRU 3,
 * MGU 2), K - 1 saved gates */
#define GATED_ROWS(CELL, K)                                                                                      \
    static void CELL##_forward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {                              \
        const GatedForward *s = job;                                                                             \
        Py_ssize_t w = s->width, block = s->n * w, rows = r1 - r0;                                               \
        for (Py_ssize_t t = 0; t < s->steps; t++) {                                                              \
            Py_ssize_t at = t * block + r0 * w;                                                                  \
            float *hu = s->hu + K * at;                                                                          \
            strips_gemm(s->h + at, w, s->weight, hu, K * w, rows, K * w, w, NULL, 0);                            \
            CELL##_forward_float(s->pre + K * at, hu, s->h + at, s->gates + (K - 1) * at, s->nn + at,            \
                                 s->h + at + block, rows, w);                                                    \
            apply_mask(s->h + at + block, s->mask ? s->mask + r0 * w : NULL, rows * w);                          \
        }                                                                                                        \
    }                                                                                                            \
                                                                                                                 \
    static void CELL##_backward_rows(const void *job, Py_ssize_t r0, Py_ssize_t r1) {                             \
        const GatedBackward *s = job;                                                                            \
        Py_ssize_t w = s->width, block = s->n * w, rows = r1 - r0;                                               \
        for (Py_ssize_t t = s->steps - 1; t >= 0; t--) {                                                         \
            Py_ssize_t at = t * block + r0 * w;                                                                  \
            float *ghu = s->ghu + K * at;                                                                        \
            apply_mask(s->dh + at + block, s->mask ? s->mask + r0 * w : NULL, rows * w);                         \
            CELL##_backward_float(s->dh + at + block, s->gates + (K - 1) * at, s->nn + at, s->hu + K * at,       \
                                  s->h + at, s->gx + K * at, ghu, s->dh + at, rows, w);                          \
            strips_gemm(ghu, K * w, s->weight_t, s->dh + at, w, rows, w, K * w, NULL, 1);                        \
        }                                                                                                        \
    }

GATED_ROWS(gru, 3)
GATED_ROWS(mgu, 2)
