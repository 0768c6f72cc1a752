#include "kernels.h"

/* ---- small float32 GEMM ------------------------------------------------------------------------
 * C (m, n) = A (m, k) @ B (k, n), or C += A @ B: the per-step products of a recurrent layer (batch 32,
 * width 128: C is 32 x 512). BLAS libraries pack B into a buffer on every call, which a product this
 * small never pays back; here B is read in place, a tile of 8 rows x 32 columns of C stays in 16
 * AVX-512 registers over the whole k loop, and A's values are broadcast from memory. That is FMA-bound
 * (about 2x OpenBLAS on these shapes, as fast as MKL). Only with AVX-512 (checked at import, see
 * `small_gemm`); elsewhere the caller uses numpy's matmul. */

#if HAVE_SMALL_GEMM
#include <immintrin.h>

__attribute__((target("avx512f"), always_inline)) static inline void
gemm_tile(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
          Py_ssize_t k, const int rows, __mmask16 mask0, __mmask16 mask1, const float *bias, int accumulate,
          const int a_transposed) {
    __m512 acc[TILE_ROWS][2];
    __m512 start0 = bias ? _mm512_maskz_loadu_ps(mask0, bias) : _mm512_setzero_ps();
    __m512 start1 = bias ? _mm512_maskz_loadu_ps(mask1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) acc[r][0] = start0, acc[r][1] = start1;
    for (Py_ssize_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(mask0, b + p * ldb);
        __m512 b1 = _mm512_maskz_loadu_ps(mask1, b + p * ldb + 16);
#pragma GCC unroll 8
        for (int r = 0; r < rows; r++) {
            __m512 av = _mm512_set1_ps(a_transposed ? a[p * lda + r] : a[r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        if (accumulate) {
            acc[r][0] = _mm512_add_ps(acc[r][0], _mm512_maskz_loadu_ps(mask0, cr));
            acc[r][1] = _mm512_add_ps(acc[r][1], _mm512_maskz_loadu_ps(mask1, cr + 16));
        }
        _mm512_mask_storeu_ps(cr, mask0, acc[r][0]);
        _mm512_mask_storeu_ps(cr + 16, mask1, acc[r][1]);
    }
}

/* One strip of w <= 32 columns of C over all m rows: tiles of TILE_ROWS rows, then single rows. Row i of
 * A (as gemm_tile reads it: lda and a_transposed) starts at a + (i - i % 8) * tile_scale + (i % 8) *
 * row_scale: tile_scale = row_scale = lda for A itself, 1 and 1 for A transposed, the depth k and 1 for
 * A transposed and packed tile by tile (each tile's k x 8 values contiguous, lda 8). */
__attribute__((target("avx512f"), always_inline)) static inline void
gemm_strip(const float *a, Py_ssize_t lda, Py_ssize_t tile_scale, Py_ssize_t row_scale, const float *b,
           Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t m, Py_ssize_t k, Py_ssize_t w, const float *bias,
           int accumulate, const int a_transposed) {
    __mmask16 mask0 = w >= 16 ? 0xFFFF : (__mmask16)((1u << w) - 1);
    __mmask16 mask1 = w <= 16 ? 0 : (__mmask16)((1u << (w - 16)) - 1);
    Py_ssize_t i = 0, tiled = m - m % TILE_ROWS;
    if (w == 32) /* full strips: constant masks, so plain loads and stores */
        for (; i < tiled; i += TILE_ROWS)
            gemm_tile(a + i * tile_scale, lda, b, ldb, c + i * ldc, ldc, k, TILE_ROWS, 0xFFFF, 0xFFFF, bias,
                      accumulate, a_transposed);
    else
        for (; i < tiled; i += TILE_ROWS)
            gemm_tile(a + i * tile_scale, lda, b, ldb, c + i * ldc, ldc, k, TILE_ROWS, mask0, mask1, bias,
                      accumulate, a_transposed);
    for (; i < m; i++)
        gemm_tile(a + tiled * tile_scale + (i - tiled) * row_scale, lda, b, ldb, c + i * ldc, ldc, k, 1, mask0,
                  mask1, bias, accumulate, a_transposed);
}

/* C (m, n) = A (m, k) @ B (k, n) [+ bias (n,), added first] [+ C] */
__attribute__((target("avx512f"))) void
small_gemm_f32(const float *a, Py_ssize_t lda, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc,
               Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float *bias, int accumulate) {
    /* column strips outside, so a 32-column strip of B stays in cache while every row block uses it */
    for (Py_ssize_t j = 0; j < n; j += 32)
        gemm_strip(a, lda, lda, lda, b + j, ldb, c + j, ldc, m, k, n - j < 32 ? n - j : 32,
                   bias ? bias + j : NULL, accumulate, 0);
}

/* B (k, n) strip by strip: each 32-column strip's k rows contiguous (the last strip's unused columns
 * left unwritten), k * n rounded up to 32 floats. For a B that many products read, such as the weights
 * of a recurrent layer at every step: in place, its rows 2 KiB apart fall into a few L1 sets and evict
 * each other, so every row tile of C would read its strip from L2 again. */
Py_ssize_t strips_size(Py_ssize_t k, Py_ssize_t n) { return k * ((n + 31) / 32 * 32); }

/* The LSTM's slot order (see the LSTM step above): column d of a slot-ordered (..., 4w) array is column
 * slot_column(d) of the parameter, times *scale (0.5 in the halved sigmoid slots). */
static const int SLOT_BLOCKS[4] = {0, 1, 3, 2}; /* the parameter block (i, f, g, o) each slot holds */

Py_ssize_t slot_column(Py_ssize_t d, Py_ssize_t width, float *scale) {
    Py_ssize_t slot = d / width;
    *scale = slot < 3 ? 0.5f : 1.0f;
    return SLOT_BLOCKS[slot] * width + d % width;
}

/* B (k, n), element (p, d) at b[p * row_stride + d * col_stride] (col_stride > 1: B is a transposed
 * view), packed; in slot order when slot_width > 0 (n = 4 * slot_width, b in parameter order) */
void pack_strips(const float *b, Py_ssize_t row_stride, Py_ssize_t col_stride, Py_ssize_t k, Py_ssize_t n,
                        Py_ssize_t slot_width, float *packed) {
    /* strip by strip, row by row: the writes are sequential and the reads are one run of 32 values (B in
     * place) or 32 sequential streams (B transposed) */
    for (Py_ssize_t j = 0; j < n; j += 32) {
        Py_ssize_t w = n - j < 32 ? n - j : 32, offset[32] = {0};
        float scale[32] = {0};
        for (Py_ssize_t d = 0; d < w; d++) {
            scale[d] = 1.0f;
            offset[d] = (slot_width > 0 ? slot_column(j + d, slot_width, &scale[d]) : j + d) * col_stride;
        }
        int run = col_stride == 1; /* one run of columns with one scale: a loop that vectorizes */
        for (Py_ssize_t d = 1; d < w; d++) run = run && offset[d] == offset[0] + d && scale[d] == scale[0];
        float *target = packed + j * k;
        for (Py_ssize_t p = 0; p < k; p++, target += 32) {
            const float *row = b + p * row_stride;
            if (run)
                for (Py_ssize_t d = 0; d < w; d++) target[d] = row[offset[0] + d] * scale[0];
            else
                for (Py_ssize_t d = 0; d < w; d++) target[d] = row[offset[d]] * scale[d];
        }
    }
}

/* small_gemm_f32 with B packed by pack_strips; k in blocks of GEMM_K_BLOCK rows, so that the block of a
 * strip that every row tile reads (32 KiB) stays in L1 (a backward step's k is 4 * width) */
__attribute__((target("avx512f"))) void
strips_gemm_f32(const float *a, Py_ssize_t lda, const float *packed_b, float *c, Py_ssize_t ldc, Py_ssize_t m,
                Py_ssize_t n, Py_ssize_t k, const float *bias, int accumulate) {
    for (Py_ssize_t j = 0; j < n; j += 32)
        for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK)
            gemm_strip(a + p, lda, lda, lda, packed_b + j * k + p * 32, 32, c + j, ldc, m,
                       k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK, n - j < 32 ? n - j : 32,
                       p == 0 && bias ? bias + j : NULL, accumulate || p > 0, 0);
}

/* C = A^T @ B, or C += A^T @ B, for A (k, m) and B (k, n): a weight gradient over every step of a
 * sequence (k = steps * batch rows). Unlike the per-step products these are worth packing, in blocks of
 * GEMM_K_BLOCK rows of A and B: A's block tile by tile, each tile's values in the order the kernel
 * reads them (`pack_transposed`, once for all columns of C), and a 32-column strip of B's block into
 * 32 KiB that stays in L1 while every tile of C uses it (read in place, rows 2 KiB apart fall into a
 * few L1 sets and evict each other). */
Py_ssize_t packed_size(Py_ssize_t m, Py_ssize_t k) {
    return k * (m + TILE_ROWS - 1) / TILE_ROWS * TILE_ROWS;
}

/* The columns of A (k, m) as columns [offset, offset + m) of the A that transposed_gemm_f32 reads
 * (total_m columns, several arrays side by side): block after block of GEMM_K_BLOCK rows, each block
 * tile after tile of 8 columns, each tile row after row (the last tile's unused slots left unwritten) */
void pack_transposed(const float *a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k, Py_ssize_t offset,
                            Py_ssize_t total_m, float *packed) {
    Py_ssize_t stride = packed_size(total_m, 1);
    for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK) {
        Py_ssize_t depth = k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK;
        float *block = packed + p * stride;
        for (Py_ssize_t c = 0; c < m;) {
            Py_ssize_t v = offset + c, lane = v % TILE_ROWS, run = TILE_ROWS - lane < m - c ? TILE_ROWS - lane : m - c;
            float *tile = block + (v - lane) * depth + lane;
            if (run == TILE_ROWS) /* a constant size: the copy becomes one vector move, not a call */
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(tile + q * TILE_ROWS, a + (p + q) * lda + c, TILE_ROWS * sizeof(float));
            else
                for (Py_ssize_t q = 0; q < depth; q++)
                    memcpy(tile + q * TILE_ROWS, a + (p + q) * lda + c, run * sizeof(float));
            c += run;
        }
    }
}

/* columns [j0, j1) of C, from A packed by pack_transposed */
__attribute__((target("avx512f"))) void
transposed_gemm_f32(const float *packed_a, const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc, Py_ssize_t m,
                    Py_ssize_t k, int accumulate, Py_ssize_t j0, Py_ssize_t j1) {
    float packed_b[GEMM_K_BLOCK * 32] __attribute__((aligned(64)));
    Py_ssize_t stride = packed_size(m, 1);
    if (k == 0 && !accumulate) /* an empty sum */
        for (Py_ssize_t i = 0; i < m; i++) memset(c + i * ldc + j0, 0, (j1 - j0) * sizeof(float));
    for (Py_ssize_t p = 0; p < k; p += GEMM_K_BLOCK) {
        Py_ssize_t depth = k - p < GEMM_K_BLOCK ? k - p : GEMM_K_BLOCK;
        for (Py_ssize_t j = j0; j < j1; j += 32) {
            Py_ssize_t w = j1 - j < 32 ? j1 - j : 32;
            if (w == 32) /* as above */
                for (Py_ssize_t q = 0; q < depth; q++) memcpy(packed_b + q * 32, b + (p + q) * ldb + j, 32 * sizeof(float));
            else
                for (Py_ssize_t q = 0; q < depth; q++) memcpy(packed_b + q * 32, b + (p + q) * ldb + j, w * sizeof(float));
            gemm_strip(packed_a + p * stride, TILE_ROWS, depth, 1, packed_b, 32, c + j, ldc, m, depth, w, NULL,
                       accumulate || p > 0, 1);
        }
    }
}

int small_gemm_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}
#else
int small_gemm_supported(void) { return 0; }
#endif
