/* A float32 2-D convolution's forward and vjp on a vector path (after gemm.h), as convolutions.c splits
 * them over threads: one example's columns at a time, in a part's own buffer that stays in L2, so a step
 * never writes or reads the whole batch's columns (LeNet's first layer: 3.7 MB); the next vjp makes them
 * again instead of keeping them.
 *
 * An example's columns are a (K, P) matrix, K = C*kh*kw rows (channel, kernel row, kernel column) and
 * P = Ho*Wo columns (windows row by row): the layout of a (F, C, kh, kw) weight on the left. Pixels of
 * the padding are zeros in the columns and are dropped by col2im. */

/* dst[0..count) = src[0..count), and dst += src: vector loads and stores, the last one masked (a row of a
 * small image, 8 or 24 values, is shorter than memcpy's call) */
static inline void copy_run(float *dst, const float *src, Py_ssize_t count) {
    Py_ssize_t p = 0;
    for (; p + LANES <= count; p += LANES) vstore(dst + p, vload(src + p));
    if (p < count) {
        lanes_mask tail = first_lanes(count - p);
        vstore_masked(dst + p, tail, vload_masked(src + p, tail));
    }
}

static inline void add_run(float *dst, const float *src, Py_ssize_t count) {
    Py_ssize_t p = 0;
    for (; p + LANES <= count; p += LANES) vstore(dst + p, vadd(vload(dst + p), vload(src + p)));
    if (p < count) {
        lanes_mask tail = first_lanes(count - p);
        vstore_masked(dst + p, tail, vadd(vload_masked(dst + p, tail), vload_masked(src + p, tail)));
    }
}

/* the columns of one example x (C, H, W) */
static void im2col_example(const float *x, const ConvShape *s, float *cols) {
    Py_ssize_t p_count = s->ho * s->wo;
    for (Py_ssize_t c = 0; c < s->channels; c++)
        for (Py_ssize_t i = 0; i < s->kh; i++)
            for (Py_ssize_t j = 0; j < s->kw; j++) {
                float *row = cols + ((c * s->kh + i) * s->kw + j) * p_count;
                Py_ssize_t first, stop; /* the windows whose column j lies inside the image */
                window_span(j, s->left, s->sw, s->width, s->wo, &first, &stop);
                for (Py_ssize_t oy = 0; oy < s->ho; oy++) {
                    float *out = row + oy * s->wo;
                    Py_ssize_t y = oy * s->sh + i - s->top;
                    if (y < 0 || y >= s->height || first >= stop) {
                        memset(out, 0, s->wo * sizeof(float));
                        continue;
                    }
                    const float *in = x + (c * s->height + y) * s->width + j - s->left;
                    for (Py_ssize_t ox = 0; ox < first; ox++) out[ox] = 0.0f;
                    if (s->sw == 1)
                        copy_run(out + first, in + first, stop - first);
                    else
                        for (Py_ssize_t ox = first; ox < stop; ox++) out[ox] = in[ox * s->sw];
                    for (Py_ssize_t ox = stop; ox < s->wo; ox++) out[ox] = 0.0f;
                }
            }
}

/* dx (C, H, W) of one example = the adjoint of im2col_example applied to its column gradients */
static void col2im_example(const float *dcols, const ConvShape *s, float *dx) {
    Py_ssize_t p_count = s->ho * s->wo;
    memset(dx, 0, s->channels * s->height * s->width * sizeof(float));
    for (Py_ssize_t c = 0; c < s->channels; c++)
        for (Py_ssize_t i = 0; i < s->kh; i++)
            for (Py_ssize_t j = 0; j < s->kw; j++) {
                const float *row = dcols + ((c * s->kh + i) * s->kw + j) * p_count;
                Py_ssize_t first, stop;
                window_span(j, s->left, s->sw, s->width, s->wo, &first, &stop);
                for (Py_ssize_t oy = 0; oy < s->ho && first < stop; oy++) {
                    Py_ssize_t y = oy * s->sh + i - s->top;
                    if (y < 0 || y >= s->height) continue;
                    const float *in = row + oy * s->wo;
                    float *out = dx + (c * s->height + y) * s->width + j - s->left;
                    if (s->sw == 1) {
                        add_run(out + first, in + first, stop - first);
                    } else {
                        for (Py_ssize_t ox = first; ox < stop; ox++) out[ox * s->sw] += in[ox];
                    }
                }
            }
}

/* examples [e0, e1): out[e] (F, P) = bias + W (F, K) @ columns (K, P) */
static void conv_forward_examples(const void *job, Py_ssize_t e0, Py_ssize_t e1) {
    const ConvForward *f = job;
    const ConvShape *s = &f->shape;
    Py_ssize_t k = s->channels * s->kh * s->kw, p_count = s->ho * s->wo;
    float *cols = malloc((k * p_count + 1) * sizeof(float));
    if (!cols) {
        atomic_store(f->failed, 1);
        return;
    }
    for (Py_ssize_t e = e0; e < e1; e++) {
        float *out = f->out + e * s->filters * p_count;
        im2col_example(f->x + e * s->channels * s->height * s->width, s, cols);
        for (Py_ssize_t r = 0; f->bias && r < s->filters; r++)
            for (Py_ssize_t p = 0; p < p_count; p++) out[r * p_count + p] = f->bias[r];
        /* with a bias: the products' sum, then the bias added, as numpy's `W @ cols + b` rounds */
        small_gemm(f->w, k, cols, p_count, out, p_count, s->filters, p_count, k, f->bias != NULL);
    }
    free(cols);
}

/* ---- the weight gradient: C (m, n) = sum over rows of A (m, L) and B (n, L) of A B^T -------------- */

/* A tile of `ra` rows of A (at most DOT_A) by `rb` rows of B (at most DOT_B), over `blocks` pairs of
 * (A, B) blocks `a_step` and `b_step` apart (one per example), each row `length` long: one vector sum per
 * element of C, added across lanes at the end (so the paths round alike only up to the lane count). */
#define DOT_A (TILE > 6 ? 4 : 3)
#define DOT_B 3

__attribute__((always_inline)) static inline void
dot_step(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, vec acc[DOT_A][DOT_B], const int ra,
         const int rb, const int full, lanes_mask tail) {
    vec av[DOT_A];
#pragma GCC unroll 4
    for (int r = 0; r < ra; r++) av[r] = load_lanes(a + r * lda, tail, full);
#pragma GCC unroll 3
    for (int q = 0; q < rb; q++) {
        vec bv = load_lanes(b + q * ldb, tail, full);
#pragma GCC unroll 4
        for (int r = 0; r < ra; r++) acc[r][q] = vfma(av[r], bv, acc[r][q]);
    }
}

__attribute__((always_inline)) static inline void
dot_tile(const float *a, Py_ssize_t lda, Py_ssize_t a_step, const float *b, Py_ssize_t ldb, Py_ssize_t b_step,
         Py_ssize_t blocks, Py_ssize_t length, float *c, Py_ssize_t ldc, const int ra, const int rb) {
    vec acc[DOT_A][DOT_B];
    lanes_mask tail = first_lanes(length % LANES);
    Py_ssize_t whole = length - length % LANES;
#pragma GCC unroll 4
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 3
        for (int q = 0; q < rb; q++) acc[r][q] = vzero();
    for (Py_ssize_t e = 0; e < blocks; e++) {
        const float *ae = a + e * a_step, *be = b + e * b_step;
        for (Py_ssize_t p = 0; p < whole; p += LANES)
            dot_step(ae + p, lda, be + p, ldb, acc, ra, rb, 1, tail);
        if (whole < length) dot_step(ae + whole, lda, be + whole, ldb, acc, ra, rb, 0, tail);
    }
#pragma GCC unroll 4
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 3
        for (int q = 0; q < rb; q++) c[r * ldc + q] = vsum(acc[r][q]);
}

static void dot_products(const float *a, Py_ssize_t lda, Py_ssize_t a_step, const float *b, Py_ssize_t ldb,
                         Py_ssize_t b_step, Py_ssize_t blocks, Py_ssize_t length, float *c, Py_ssize_t ldc,
                         Py_ssize_t m, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < m; i += DOT_A)
        for (Py_ssize_t j = 0; j < n; j += DOT_B) {
            int ra = m - i < DOT_A ? (int)(m - i) : DOT_A, rb = n - j < DOT_B ? (int)(n - j) : DOT_B;
            const float *ai = a + i * lda, *bj = b + j * ldb;
            float *cij = c + i * ldc + j;
#define DOT_OF(RA, RB)                                                                                        \
    if (ra == RA && rb == RB) {                                                                               \
        dot_tile(ai, lda, a_step, bj, ldb, b_step, blocks, length, cij, ldc, RA, RB);                         \
        continue;                                                                                             \
    }
            DOT_OF(DOT_A, DOT_B)
            DOT_OF(1, 1) DOT_OF(1, 2) DOT_OF(1, 3) DOT_OF(2, 1) DOT_OF(2, 2) DOT_OF(2, 3) DOT_OF(3, 1)
            DOT_OF(3, 2) DOT_OF(3, 3)
#if DOT_A > 3
            DOT_OF(4, 1) DOT_OF(4, 2)
#endif
#undef DOT_OF
        }
}

/* chunks [c0, c1) of CONV_CHUNK examples: for each, dx of its examples and its own share of dW and db */
static void conv_backward_chunks(const void *job, Py_ssize_t c0, Py_ssize_t c1) {
    const ConvBackward *b = job;
    const ConvShape *s = &b->shape;
    Py_ssize_t k = s->channels * s->kh * s->kw, p_count = s->ho * s->wo, image = s->channels * s->height * s->width;
    Py_ssize_t g_size = s->filters * p_count, cols_size = k * p_count;
    float *cols = malloc((CONV_CHUNK * cols_size + 1) * sizeof(float));
    if (!cols) {
        atomic_store(b->failed, 1);
        return;
    }
    for (Py_ssize_t chunk = c0; chunk < c1; chunk++) {
        Py_ssize_t e0 = chunk * CONV_CHUNK, e1 = e0 + CONV_CHUNK < s->n ? e0 + CONV_CHUNK : s->n;
        const float *g = b->g + e0 * g_size;
        for (Py_ssize_t e = e0; b->dx && e < e1; e++) { /* dcols = W^T @ g[e], in the columns' buffer */
            small_gemm(b->w_t, s->filters, g + (e - e0) * g_size, p_count, cols, p_count, k, p_count, s->filters, 0);
            col2im_example(cols, s, b->dx + e * image);
        }
        if (b->dw_parts) {
            for (Py_ssize_t e = e0; e < e1; e++) im2col_example(b->x + e * image, s, cols + (e - e0) * cols_size);
            dot_products(g, p_count, g_size, cols, p_count, cols_size, e1 - e0, p_count,
                         b->dw_parts + chunk * s->filters * k, k, s->filters, k);
        }
        for (Py_ssize_t r = 0; b->db_parts && r < s->filters; r++) {
            vec total = vzero();
            lanes_mask tail = first_lanes(p_count % LANES);
            for (Py_ssize_t e = 0; e < e1 - e0; e++) {
                const float *row = g + e * g_size + r * p_count;
                Py_ssize_t p = 0;
                for (; p + LANES <= p_count; p += LANES) total = vadd(total, vload(row + p));
                if (p < p_count) total = vadd(total, vload_masked(row + p, tail));
            }
            b->db_parts[chunk * s->filters + r] = vsum(total);
        }
    }
    free(cols);
}
