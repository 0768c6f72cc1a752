/* The float32 GEMMs of a vector path, written once over the vector operations isa_avx512.c and isa_avx2.c
 * define before including this file:
 *
 *   vec, lanes_mask       a vector of LANES floats; which of its lanes a partial load or store touches
 *   TILE                  rows of C a tile keeps in registers: TILE x 2 vectors of accumulators
 *   first_lanes(count)    the mask of the first `count` lanes (none for count <= 0, all from LANES on)
 *   vzero, vset1, vload, vstore, vload_masked, vstore_masked, vfma (a * b + c, one rounding), vadd
 *   vsum                  the sum across the lanes, by one tree on both paths (convs.h's sums)
 *
 * AVX-512: 16 lanes, tiles of 8 x 32 (16 of its 32 registers); AVX2: 8 lanes, tiles of 6 x 16 (12 of 16).
 * Each element of C is the same sum on both, in the same order (bias or 0, then one FMA per k, in k
 * blocks of GEMM_K_BLOCK with C added after each block), so the two give the same bits.
 *
 * ---- small float32 GEMM ------------------------------------------------------------------------
 * C (m, n) = A (m, k) @ B (k, n), or C += A @ B: the per-step products of a recurrent layer (batch 32,
 * width 128: C is 32 x 512). BLAS libraries pack B into a buffer on every call, which a product this
 * small never pays back; here B is read in place, a tile of C stays in registers over the whole k loop,
 * and A's values are broadcast from memory. That is FMA-bound (about 2x OpenBLAS on these shapes). */

#define STRIP (2 * LANES) /* columns of C (and of a packed strip of B) a tile covers */

static inline vec load_lanes(const float *p, lanes_mask mask, const int full) {
    return full ? vload(p) : vload_masked(p, mask);
}

static inline void store_lanes(float *p, lanes_mask mask, vec v, const int full) {
    if (full)
        vstore(p, v);
    else
        vstore_masked(p, mask, v);
}

/* `rows` rows (at most TILE) of a strip of C; row r of A at a + r * lda (a_transposed: element p of row r
 * at a[p * lda + r], as pack_transposed lays A out). `full`: all STRIP columns, plain loads and stores. */
__attribute__((always_inline)) static inline void
gemm_tile(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t k,
          const int rows, const int full, lanes_mask mask0, lanes_mask mask1, const float *bias, int accumulate,
          const int a_transposed) {
    vec acc[TILE][2];
    vec start0 = bias ? load_lanes(bias, mask0, full) : vzero();
    vec start1 = bias ? load_lanes(bias + LANES, mask1, full) : vzero();
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) acc[r][0] = start0, acc[r][1] = start1;
    for (Py_ssize_t p = 0; p < k; p++) {
        vec b0 = load_lanes(b + p * ldb, mask0, full);
        vec b1 = load_lanes(b + p * ldb + LANES, mask1, full);
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            vec av = vset1(a_transposed ? a[p * lda + r] : a[r * lda + p]);
            acc[r][0] = vfma(av, b0, acc[r][0]);
            acc[r][1] = vfma(av, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        if (accumulate) {
            acc[r][0] = vadd(acc[r][0], load_lanes(cr, mask0, full));
            acc[r][1] = vadd(acc[r][1], load_lanes(cr + LANES, mask1, full));
        }
        store_lanes(cr, mask0, acc[r][0], full);
        store_lanes(cr + LANES, mask1, acc[r][1], full);
    }
}

/* gemm_tile for `rows` (1 to TILE) rows, each count compiled with its accumulators in registers */
__attribute__((always_inline)) static inline void
gemm_tile_rows(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
               Py_ssize_t k, Py_ssize_t rows, const int full, lanes_mask mask0, lanes_mask mask1, const float *bias,
               int accumulate, const int a_transposed) {
#define TILE_OF(R)                                                                                            \
    case R:                                                                                                   \
        gemm_tile(a, lda, b, ldb, c, ldc, k, R, full, mask0, mask1, bias, accumulate, a_transposed);          \
        break;
    switch (rows) {
        TILE_OF(1) TILE_OF(2) TILE_OF(3) TILE_OF(4) TILE_OF(5) TILE_OF(6)
#if TILE > 6
        TILE_OF(7) TILE_OF(8)
#endif
    }
#undef TILE_OF
}

/* All m rows of a strip: whole tiles, then the rest. A tile of few rows keeps few accumulators in flight
 * (the 2 rows left of 32 by tiles of 6 run at half the FMA rate), so where A is in rows such a rest and
 * the tile before it become two tiles of about the same size (32 = 4 x 6 + 4 + 4). Row i of A starts at
 * a + (i - i % TILE) * tile_scale + (i % TILE) * row_scale: tile_scale = row_scale = lda for A itself;
 * the depth k and 1 for A packed tile by tile (each tile's k x TILE values contiguous, so there a tile
 * must not straddle two packed ones: the rest stays one tile). */
__attribute__((always_inline)) static inline void
gemm_rows(const float *a, Py_ssize_t lda, Py_ssize_t tile_scale, Py_ssize_t row_scale, const float *b,
          Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t k, const int full, lanes_mask mask0,
          lanes_mask mask1, const float *bias, int accumulate, const int a_transposed) {
    Py_ssize_t whole = m / TILE, rest = m % TILE, i = 0;
    if (!a_transposed && whole > 0 && rest > 0 && 2 * rest < TILE) whole--, rest += TILE;
#define ROW_A(i) (a + ((i) - (i) % TILE) * tile_scale + ((i) % TILE) * row_scale)
    for (; whole > 0; whole--, i += TILE)
        gemm_tile(ROW_A(i), lda, b, ldb, c + i * ldc, ldc, k, TILE, full, mask0, mask1, bias, accumulate,
                  a_transposed);
    if (rest > TILE) {
        Py_ssize_t half = (rest + 1) / 2;
        gemm_tile_rows(ROW_A(i), lda, b, ldb, c + i * ldc, ldc, k, half, full, mask0, mask1, bias, accumulate,
                       a_transposed);
        i += half, rest -= half;
    }
    if (rest > 0)
        gemm_tile_rows(ROW_A(i), lda, b, ldb, c + i * ldc, ldc, k, rest, full, mask0, mask1, bias, accumulate,
                       a_transposed);
#undef ROW_A
}

/* One strip of w <= STRIP columns of C over all m rows (A as gemm_rows reads it) */
__attribute__((always_inline)) static inline void
gemm_strip(const float *a, Py_ssize_t lda, Py_ssize_t tile_scale, Py_ssize_t row_scale, const float *b,
           Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t k, Py_ssize_t w, const float *bias,
           int accumulate, const int a_transposed) {
    lanes_mask mask0 = first_lanes(w), mask1 = first_lanes(w - LANES);
    if (w == STRIP) /* full strips: constant masks, so plain loads and stores */
        gemm_rows(a, lda, tile_scale, row_scale, b, ldb, c, ldc, m, k, 1, mask0, mask1, bias, accumulate,
                  a_transposed);
    else
        gemm_rows(a, lda, tile_scale, row_scale, b, ldb, c, ldc, m, k, 0, mask0, mask1, bias, accumulate,
                  a_transposed);
}

/* C (m, n) = A (m, k) @ B (k, n) [+ C] */
static void small_gemm(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
                       Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, int accumulate) {
    /* column strips outside, so a strip of B stays in cache while every row block uses it */
    for (Py_ssize_t j = 0; j < n; j += STRIP)
        gemm_strip(a, lda, lda, lda, b + j, ldb, c + j, ldc, m, k, n - j < STRIP ? n - j : STRIP, NULL, accumulate,
                   0);
}

/* B (k, n) strip by strip: each STRIP-column strip's k rows contiguous (the last strip's unused columns
 * left unwritten), k * n rounded up to STRIP floats. For a B that many products read, such as the
 * weights of a recurrent layer at every step: in place, its rows 2 KiB apart fall into a few L1 sets and
 * evict each other, so every row tile of C would read its strip from L2 again. */
static Py_ssize_t strips_size(Py_ssize_t k, Py_ssize_t n) { return k * ((n + STRIP - 1) / STRIP * STRIP); }

/* B (k, n), element (p, d) at b[p * row_stride + d * col_stride] (col_stride > 1: B is a transposed
 * view), packed; in the LSTM's slot order when slot_width > 0 (n = 4 * slot_width, b in parameter order) */
static void pack_strips(const float *b, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t k, Py_ssize_t n,
                        Py_ssize_t slot_width, float *packed) {
    /* strip by strip, row by row: the writes are sequential and the reads are one run of STRIP values (B
     * in place) or STRIP sequential streams (B transposed) */
    for (Py_ssize_t j = 0; j < n; j += STRIP) {
        Py_ssize_t w = n - j < STRIP ? n - j : STRIP, offset[STRIP] = {0};
        float scale[STRIP] = {0};
        for (Py_ssize_t d = 0; d < w; d++) {
            scale[d] = 1.0f;
            offset[d] = (slot_width > 0 ? slot_column(j + d, slot_width, &scale[d]) : j + d) * col_stride;
        }
        int run = col_stride == 1; /* one run of columns with one scale: a loop that vectorizes */
        for (Py_ssize_t d = 1; d < w; d++) run = run && offset[d] == offset[0] + d && scale[d] == scale[0];
        float *target = packed + j * k;
        for (Py_ssize_t p = 0; p < k; p++, target += STRIP) {
            const float *row = b + p * row_stride;
            if (run)
                for (Py_ssize_t d = 0; d < w; d++) target[d] = row[offset[0] + d] * scale[0];
            else
                for (Py_ssize_t d = 0; d < w; d++) target[d] = row[offset[d]] * scale[d];
        }
    }
}

/* small_gemm with B packed by pack_strips and a bias added first; k in blocks of GEMM_K_BLOCK rows, so
 * that the block of a strip that every row tile reads stays in L1 (a backward step's k is 4 * width) */
static void strips_gemm(const float *a, Py_ssize_t lda, const float *packed_b, float *c, Py_ssize_t ldc,
                        Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *bias, int accumulate) {
    for (Py_ssize_t j = 0; j < n; j += STRIP)
        for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK)
            gemm_strip(a + p, lda, lda, lda, packed_b + j * k + p * STRIP, STRIP, c + j, ldc, m,
                       k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK, n - j < STRIP ? n - j : STRIP,
                       p == 0 && bias ? bias + j : NULL, accumulate || p > 0, 0);
}

/* C = A^T @ B, or C += A^T @ B, for A (k, m) and B (k, n): a weight gradient over every step of a
 * sequence (k = steps * batch rows). Unlike the per-step products these are worth packing, in blocks of
 * GEMM_K_BLOCK rows of A and B: A's block tile by tile, each tile's values in the order the kernel
 * reads them (`pack_transposed`, once for all columns of C), and a strip of B's block into a buffer that
 * stays in L1 while every tile of C uses it (read in place, rows 2 KiB apart fall into a few L1 sets and
 * evict each other). */
static Py_ssize_t packed_size(Py_ssize_t m, Py_ssize_t k) { return k * ((m + TILE - 1) / TILE * TILE); }

/* The columns of A (k, m) as columns [offset, offset + m) of the A that transposed_gemm reads (total_m
 * columns, several arrays side by side): block after block of GEMM_K_BLOCK rows, each block tile after
 * tile of TILE columns, each tile row after row (the last tile's unused slots left unwritten) */
static void pack_transposed(const float *a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k, Py_ssize_t offset,
                            Py_ssize_t total_m, float *packed) {
    Py_ssize_t stride = packed_size(total_m, 1);
    for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK) {
        Py_ssize_t depth = k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK;
        float *block = packed + p * stride;
        for (Py_ssize_t c = 0; c < m;) {
            Py_ssize_t v = offset + c, lane = v % TILE, run = TILE - lane < m - c ? TILE - lane : m - c;
            float *tile = block + (v - lane) * depth + lane;
            if (run == TILE) /* a constant size: the copy becomes vector moves, not a call */
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(tile + q * TILE, a + (p + q) * lda + c, TILE * sizeof(float));
            else
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(tile + q * TILE, a + (p + q) * lda + c, run * sizeof(float));
            c += run;
        }
    }
}

/* columns [j0, j1) of C, from A packed by pack_transposed */
static void transposed_gemm(const float *packed_a, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
                            Py_ssize_t m, Py_ssize_t k, int accumulate, Py_ssize_t j0, Py_ssize_t j1) {
    float packed_b[GEMM_K_BLOCK * STRIP] __attribute__((aligned(64)));
    Py_ssize_t stride = packed_size(m, 1);
    if (k == 0 && !accumulate) /* an empty sum */
        for (Py_ssize_t i = 0; i < m; i++) memset(c + i * ldc + j0, 0, (j1 - j0) * sizeof(float));
    for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK) {
        Py_ssize_t depth = k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK;
        for (Py_ssize_t j = j0; j < j1; j += STRIP) {
            Py_ssize_t w = j1 - j < STRIP ? j1 - j : STRIP;
            if (w == STRIP) /* as above */
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(packed_b + q * STRIP, b + (p + q) * ldb + j, STRIP * sizeof(float));
            else
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(packed_b + q * STRIP, b + (p + q) * ldb + j, w * sizeof(float));
            gemm_strip(packed_a + p * stride, TILE, depth, 1, packed_b, STRIP, c + j, ldc, m, depth, w, NULL,
                       accumulate || p > 0, 1);
        }
    }
}

static void transposed_gemm_columns(const void *job, Py_ssize_t j0, Py_ssize_t j1) {
    const TransposedGemm *g = job;
    transposed_gemm(g->packed_a, g->b, g->ldb, g->out, g->ldc, g->m, g->k, g->accumulate, j0, j1);
}
