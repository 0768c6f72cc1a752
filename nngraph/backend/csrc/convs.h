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

/* dst = src + bias (with_bias) or src */
static inline void copy_add_run(float *dst, const float *src, Py_ssize_t count, vec bias, int with_bias) {
    if (!with_bias) {
        copy_run(dst, src, count);
        return;
    }
    Py_ssize_t p = 0;
    for (; p + LANES <= count; p += LANES) vstore(dst + p, vadd(vload(src + p), bias));
    if (p < count) {
        lanes_mask tail = first_lanes(count - p);
        vstore_masked(dst + p, tail, vadd(vload_masked(src + p, tail), bias));
    }
}

/* z (+ bias) activated as numpy's ops round it: relu maximum(z, 0) (vmax(0, z): -0 and NaN pass), leaky_relu
 * z > 0 ? z : slope * z */
static inline vec activate(vec z, ConvActivation act, vec slope) {
    return act.kind == CONV_RELU ? vmax(vzero(), z) : vpositive(z, z, vmul(z, slope));
}

/* dst = the activation of src + bias (with_bias) or of src, the activation not CONV_LINEAR */
static inline void activate_run(float *dst, const float *src, Py_ssize_t count, vec bias, int with_bias,
                                ConvActivation act) {
    vec add = with_bias ? bias : vzero(), slope = vset1(act.slope);
    Py_ssize_t p = 0;
    for (; p + LANES <= count; p += LANES) {
        vec z = vload(src + p);
        vstore(dst + p, activate(with_bias ? vadd(z, add) : z, act, slope));
    }
    if (p < count) {
        lanes_mask tail = first_lanes(count - p);
        vec z = vload_masked(src + p, tail);
        vstore_masked(dst + p, tail, activate(with_bias ? vadd(z, add) : z, act, slope));
    }
}

/* dz = da times the activation's derivative, known from a: 1 where a > 0, else the slope (0 for relu): the
 * products numpy's g * (a > 0) and where(z > 0, g, g * slope) make, the same bits */
static inline void activation_vjp_run(float *dz, const float *da, const float *a, Py_ssize_t count,
                                      ConvActivation act) {
    vec one = vset1(1.0f), slope = vset1(act.slope);
    Py_ssize_t p = 0;
    for (; p + LANES <= count; p += LANES) vstore(dz + p, vmul(vload(da + p), vpositive(vload(a + p), one, slope)));
    if (p < count) {
        lanes_mask tail = first_lanes(count - p);
        vstore_masked(dz + p, tail, vmul(vload_masked(da + p, tail), vpositive(vload_masked(a + p, tail), one, slope)));
    }
}

/* the columns of one example x (C, H, W), windows row by row (any stride) */
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

/* ---- stride 1: "wide" columns ------------------------------------------------------------------
 * With stride 1, row (c, i, j) of the columns, read along a whole row of the padded image (Wp = Wo + kw - 1
 * wide) instead of Wo of it, is one run of the image: image[c, i + oy, j + ox] for all oy and ox < Wp
 * is image[c*Hp*Wp + i*Wp + j + (oy*Wp + ox)]. So the columns are built with Ho*Wp columns, each row one
 * copy ((Ho - 1) * Wp + Wo values: the rest would run past the image), and col2im is one add per row. The
 * columns ox >= Wo are dropped from the output and have a zero gradient, so they cost some products but
 * no wrong sums: a LeNet layer then has 150 runs an example where windows row by row take 1,200. */

typedef struct {
    Py_ssize_t pitch;     /* columns per output row: Wp (wide) or Wo */
    Py_ssize_t hp, wp;    /* the padded image (wide) */
    int wide, padded;     /* stride 1; and x must be copied into a padded image first */
} ColumnLayout;

static ColumnLayout column_layout(const ConvShape *s) {
    ColumnLayout l = {s->wo, 0, 0, s->sh == 1 && s->sw == 1, 0};
    if (l.wide) {
        l.hp = s->ho + s->kh - 1, l.wp = s->wo + s->kw - 1, l.pitch = l.wp;
        l.padded = s->top || s->left || l.hp != s->height || l.wp != s->width;
    }
    return l;
}

/* the padded image of one example x (C, H, W): image (C, Hp, Wp), the padding zeros */
static void pad_image(const float *x, const ConvShape *s, const ColumnLayout *l, float *image) {
    Py_ssize_t rows = s->height < l->hp - s->top ? s->height : l->hp - s->top;
    Py_ssize_t cols = s->width < l->wp - s->left ? s->width : l->wp - s->left;
    memset(image, 0, s->channels * l->hp * l->wp * sizeof(float));
    for (Py_ssize_t c = 0; c < s->channels; c++)
        for (Py_ssize_t y = 0; y < rows && cols > 0; y++)
            copy_run(image + (c * l->hp + y + s->top) * l->wp + s->left, x + (c * s->height + y) * s->width, cols);
}

/* dx (C, H, W) of one example from the gradient of its padded image */
static void crop_image(const float *image, const ConvShape *s, const ColumnLayout *l, float *dx) {
    Py_ssize_t rows = s->height < l->hp - s->top ? s->height : l->hp - s->top;
    Py_ssize_t cols = s->width < l->wp - s->left ? s->width : l->wp - s->left;
    memset(dx, 0, s->channels * s->height * s->width * sizeof(float));
    for (Py_ssize_t c = 0; c < s->channels; c++)
        for (Py_ssize_t y = 0; y < rows && cols > 0; y++)
            copy_run(dx + (c * s->height + y) * s->width, image + (c * l->hp + y + s->top) * l->wp + s->left, cols);
}

/* the wide columns (K, Ho*Wp) of a padded image (the last Wp - Wo of each row, past the image, zeros) */
static void im2col_wide(const float *image, const ConvShape *s, const ColumnLayout *l, float *cols) {
    Py_ssize_t width = l->wp, p_count = s->ho * width, run = p_count - (width - s->wo);
    for (Py_ssize_t c = 0; c < s->channels; c++)
        for (Py_ssize_t i = 0; i < s->kh; i++)
            for (Py_ssize_t j = 0; j < s->kw; j++) {
                float *row = cols + ((c * s->kh + i) * s->kw + j) * p_count;
                copy_run(row, image + (c * l->hp + i) * width + j, run);
                memset(row + run, 0, (p_count - run) * sizeof(float));
            }
}

/* the gradient of a padded image (C, Hp, Wp) from wide column gradients: one add per row */
static void col2im_wide(const float *dcols, const ConvShape *s, const ColumnLayout *l, float *image) {
    Py_ssize_t width = l->wp, p_count = s->ho * width, run = p_count - (width - s->wo);
    memset(image, 0, s->channels * l->hp * width * sizeof(float));
    for (Py_ssize_t c = 0; c < s->channels; c++)
        for (Py_ssize_t i = 0; i < s->kh; i++)
            for (Py_ssize_t j = 0; j < s->kw; j++)
                add_run(image + (c * l->hp + i) * width + j, dcols + ((c * s->kh + i) * s->kw + j) * p_count, run);
}

/* one example's columns in the layout's form: `image` a buffer for its padded image where one is needed */
static void example_columns(const float *x, const ConvShape *s, const ColumnLayout *l, float *image, float *cols) {
    if (!l->wide) {
        im2col_example(x, s, cols);
        return;
    }
    if (l->padded) pad_image(x, s, l, image);
    im2col_wide(l->padded ? image : x, s, l, cols);
}

/* one example's dx from its column gradients */
static void example_col2im(const float *dcols, const ConvShape *s, const ColumnLayout *l, float *image,
                           float *dx) {
    if (!l->wide) {
        col2im_example(dcols, s, dx);
        return;
    }
    col2im_wide(dcols, s, l, l->padded ? image : dx);
    if (l->padded) crop_image(image, s, l, dx);
}

/* examples [e0, e1): out[e] (F, Ho, Wo) = W (F, K) @ columns (K, Ho*pitch), then the bias added (as numpy's
 * `W @ cols + b` rounds), the columns ox >= Wo dropped */
static void conv_forward_examples(const void *job, Py_ssize_t e0, Py_ssize_t e1) {
    const ConvForward *f = job;
    const ConvShape *s = &f->shape;
    ColumnLayout l = column_layout(s);
    Py_ssize_t k = s->channels * s->kh * s->kw, p_count = s->ho * l.pitch, image = s->channels * l.hp * l.wp;
    float *cols = malloc((k * p_count + s->filters * p_count + image + 1) * sizeof(float));
    if (!cols) {
        atomic_store(f->failed, 1);
        return;
    }
    float *product = cols + k * p_count, *padded = product + s->filters * p_count;
    for (Py_ssize_t e = e0; e < e1; e++) {
        float *out = f->out + e * s->filters * s->ho * s->wo;
        example_columns(f->x + e * s->channels * s->height * s->width, s, &l, padded, cols);
        small_gemm(f->w, k, cols, p_count, product, p_count, s->filters, p_count, k, 0);
        for (Py_ssize_t r = 0; r < s->filters; r++) {
            vec bias = vset1(f->bias ? f->bias[r] : 0.0f);
            for (Py_ssize_t oy = 0; oy < s->ho; oy++) {
                float *run = out + (r * s->ho + oy) * s->wo;
                const float *z = product + r * p_count + oy * l.pitch;
                if (f->activation.kind == CONV_LINEAR)
                    copy_add_run(run, z, s->wo, bias, f->bias != NULL);
                else
                    activate_run(run, z, s->wo, bias, f->bias != NULL, f->activation);
            }
        }
    }
    free(cols);
}

/* ---- the weight gradient: C (m, n) = sum over rows of A (m, L) and B (n, L) of A B^T -------------- */

/* Each element of C is one vector sum, its value p in lane p % 16 on every path (avx2 keeps two vectors
 * of 8 lanes for them), added up over the rows and the blocks in order, then across the 16 lanes by one
 * tree (vsum16): so avx512 and avx2 give the same bits. A tile holds `ra` rows of A (at most DOT_A) by
 * `rb` rows of B (at most DOT_B) in registers. */
#define SUBS (16 / LANES)
#define DOT_A (LANES == 16 ? 4 : 2)
#define DOT_B (LANES == 16 ? 3 : 2)

/* the sum of 16 lanes (subs[0] and, on avx2, subs[1]): lane i + lane i + 8 first, then vsum's tree */
static inline float vsum16(const vec *subs) { return vsum(SUBS == 2 ? vadd(subs[0], subs[SUBS - 1]) : subs[0]); }

/* 16 values of each row (`full`), or as many as `tail` (per sub-vector) says */
__attribute__((always_inline)) static inline void
dot_step(const float *a, Py_ssize_t lda, const float *const *b, Py_ssize_t p, vec acc[DOT_A][DOT_B][SUBS],
         const int ra, const int rb, const int full, const lanes_mask *tail) {
#pragma GCC unroll 2
    for (int u = 0; u < SUBS; u++) {
        vec av[DOT_A];
#pragma GCC unroll 4
        for (int r = 0; r < ra; r++) av[r] = load_lanes(a + r * lda + p + u * LANES, tail[u], full);
#pragma GCC unroll 3
        for (int q = 0; q < rb; q++) {
            vec bv = load_lanes(b[q] + p + u * LANES, tail[u], full);
#pragma GCC unroll 4
            for (int r = 0; r < ra; r++) acc[r][q][u] = vfma(av[r], bv, acc[r][q][u]);
        }
    }
}

/* over `blocks` pairs of blocks (one per example): A's `a_step` apart, B's at b_blocks[e], its rows at
 * the offsets b_rows[0..rb) (the columns of a convolution are rows of its image, not evenly apart); rows
 * `length` long */
__attribute__((always_inline)) static inline void
dot_tile(const float *a, Py_ssize_t lda, Py_ssize_t a_step, const float *const *b_blocks, const Py_ssize_t *b_rows,
         Py_ssize_t blocks, Py_ssize_t length, float *c, Py_ssize_t ldc, const int ra, const int rb) {
    vec acc[DOT_A][DOT_B][SUBS];
    Py_ssize_t whole = length - length % 16;
    lanes_mask tail[SUBS];
    for (int u = 0; u < SUBS; u++) tail[u] = first_lanes(length - whole - u * LANES);
#pragma GCC unroll 4
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 3
        for (int q = 0; q < rb; q++)
            for (int u = 0; u < SUBS; u++) acc[r][q][u] = vzero();
    for (Py_ssize_t e = 0; e < blocks; e++) {
        const float *ae = a + e * a_step, *be[DOT_B];
#pragma GCC unroll 3
        for (int q = 0; q < rb; q++) be[q] = b_blocks[e] + b_rows[q];
        for (Py_ssize_t p = 0; p < whole; p += 16) dot_step(ae, lda, be, p, acc, ra, rb, 1, tail);
        if (whole < length) dot_step(ae, lda, be, whole, acc, ra, rb, 0, tail);
    }
#pragma GCC unroll 4
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 3
        for (int q = 0; q < rb; q++) c[r * ldc + q] = vsum16(acc[r][q]);
}

/* C (m, n) = the sums over the blocks of A_e (m, length) @ B_e^T, B_e's rows as dot_tile takes them */
static void dot_products(const float *a, Py_ssize_t lda, Py_ssize_t a_step, const float *const *b_blocks,
                         const Py_ssize_t *b_rows, Py_ssize_t blocks, Py_ssize_t length, float *c, Py_ssize_t ldc,
                         Py_ssize_t m, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < m; i += DOT_A)
        for (Py_ssize_t j = 0; j < n; j += DOT_B) {
            int ra = m - i < DOT_A ? (int)(m - i) : DOT_A, rb = n - j < DOT_B ? (int)(n - j) : DOT_B;
            const float *ai = a + i * lda;
            const Py_ssize_t *bj = b_rows + j;
            float *cij = c + i * ldc + j;
            /* each shape compiled with its accumulators in registers */
#define DOT_OF(RA, RB)                                                                                        \
    if (ra == RA && rb == RB) {                                                                               \
        dot_tile(ai, lda, a_step, b_blocks, bj, blocks, length, cij, ldc, RA, RB);                            \
        continue;                                                                                             \
    }
            DOT_OF(DOT_A, DOT_B)
            DOT_OF(1, 1) DOT_OF(1, 2) DOT_OF(2, 1) DOT_OF(2, 2)
#if DOT_A > 2
            DOT_OF(1, 3) DOT_OF(2, 3) DOT_OF(3, 1) DOT_OF(3, 2) DOT_OF(3, 3) DOT_OF(4, 1) DOT_OF(4, 2)
#endif
#undef DOT_OF
        }
}

/* the sum of n values of each of `blocks` rows `step` apart, lane p % 16 as in dot_tile */
static float row_sums(const float *row, Py_ssize_t step, Py_ssize_t blocks, Py_ssize_t n) {
    vec total[SUBS];
    Py_ssize_t whole = n - n % 16;
    lanes_mask tail[SUBS];
    for (int u = 0; u < SUBS; u++) total[u] = vzero(), tail[u] = first_lanes(n - whole - u * LANES);
    for (Py_ssize_t e = 0; e < blocks; e++) {
        const float *values = row + e * step;
        for (Py_ssize_t p = 0; p < whole; p += 16)
            for (int u = 0; u < SUBS; u++) total[u] = vadd(total[u], vload(values + p + u * LANES));
        if (whole < n)
            for (int u = 0; u < SUBS; u++) total[u] = vadd(total[u], vload_masked(values + whole + u * LANES, tail[u]));
    }
    return vsum16(total);
}

/* one example's output gradient g (F, Ho, Wo) in rows `pitch` apart; with an activation, g is a's gradient
 * and `a` the example's output: the pre-activation's gradient is written */
static void widen_gradient(const float *g, const float *a, const ConvShape *s, ConvActivation act, Py_ssize_t pitch,
                           float *wide) {
    for (Py_ssize_t r = 0; r < s->filters * s->ho; r++) {
        if (act.kind == CONV_LINEAR)
            copy_run(wide + r * pitch, g + r * s->wo, s->wo);
        else
            activation_vjp_run(wide + r * pitch, g + r * s->wo, a + r * s->wo, s->wo, act);
        if (pitch > s->wo) memset(wide + r * pitch + s->wo, 0, (pitch - s->wo) * sizeof(float));
    }
}

/* chunks [c0, c1) of CONV_CHUNK examples: for each, dx of its examples and its own share of dW and db.
 * With stride 1, dW's sums read each column row in place, from the (padded) image: row (c, i, j) is the
 * run at c*Hp*Wp + i*Wp + j, (Ho - 1) * Wp + Wo long (see im2col_wide), and the gradient's zeros at
 * ox >= Wo meet the image's other pixels there (an infinite pixel then makes a NaN where it would have
 * made an infinity: a gradient that is not finite either way). Other strides make the columns. */
static void conv_backward_chunks(const void *job, Py_ssize_t c0, Py_ssize_t c1) {
    const ConvBackward *b = job;
    const ConvShape *s = &b->shape;
    ColumnLayout l = column_layout(s);
    Py_ssize_t k = s->channels * s->kh * s->kw, p_count = s->ho * l.pitch, image = s->channels * s->height * s->width;
    Py_ssize_t g_size = s->filters * p_count, cols_size = k * p_count, padded_size = s->channels * l.hp * l.wp;
    Py_ssize_t blocks_size = l.wide ? CONV_CHUNK * padded_size : CONV_CHUNK * cols_size;
    Py_ssize_t *rows = malloc(k * sizeof(Py_ssize_t) +
                              (blocks_size + CONV_CHUNK * g_size + cols_size + padded_size + 1) * sizeof(float));
    if (!rows) {
        atomic_store(b->failed, 1);
        return;
    }
    float *cols = (float *)(rows + k), *g = cols + blocks_size, *dcols = g + CONV_CHUNK * g_size;
    float *padded = dcols + cols_size;
    Py_ssize_t length = p_count;
    for (Py_ssize_t c = 0, r = 0; c < s->channels; c++) /* where each row of the columns starts in its block */
        for (Py_ssize_t i = 0; i < s->kh; i++)
            for (Py_ssize_t j = 0; j < s->kw; j++, r++)
                rows[r] = l.wide ? (c * l.hp + i) * l.wp + j : r * p_count;
    if (l.wide) length = p_count - (l.wp - s->wo);
    for (Py_ssize_t chunk = c0; chunk < c1; chunk++) {
        Py_ssize_t e0 = chunk * CONV_CHUNK, e1 = e0 + CONV_CHUNK < s->n ? e0 + CONV_CHUNK : s->n;
        for (Py_ssize_t e = e0; e < e1; e++)
            widen_gradient(b->g + e * s->filters * s->ho * s->wo, b->a ? b->a + e * s->filters * s->ho * s->wo : NULL,
                           s, b->activation, l.pitch, g + (e - e0) * g_size);
        for (Py_ssize_t e = e0; b->dx && e < e1; e++) { /* dcols = W^T @ g[e] */
            small_gemm(b->w_t, s->filters, g + (e - e0) * g_size, p_count, dcols, p_count, k, p_count, s->filters, 0);
            example_col2im(dcols, s, &l, padded, b->dx + e * image);
        }
        if (b->dw_parts) {
            const float *blocks[CONV_CHUNK];
            for (Py_ssize_t e = e0; e < e1; e++) {
                const float *x = b->x + e * image;
                float *block = cols + (e - e0) * (l.wide ? padded_size : cols_size);
                if (l.wide && l.padded) pad_image(x, s, &l, block);
                if (!l.wide) im2col_example(x, s, block);
                blocks[e - e0] = l.wide && !l.padded ? x : block;
            }
            dot_products(g, p_count, g_size, blocks, rows, e1 - e0, length, b->dw_parts + chunk * s->filters * k, k,
                         s->filters, k);
        }
        for (Py_ssize_t r = 0; b->db_parts && r < s->filters; r++) /* the zeros ox >= Wo add nothing */
            b->db_parts[chunk * s->filters + r] = row_sums(g + r * p_count, g_size, e1 - e0, p_count);
    }
    free(rows);
}
