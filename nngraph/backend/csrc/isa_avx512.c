/* The avx512 path: every kernel compiled for x86-64-v4 (AVX-512), the GEMMs on 512-bit registers in tiles
 * of 8 x 32 (see gemm.h). */
#include "kernels.h"

#if HAVE_X86_PATHS
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#if __GNUC__ >= 12
#pragma GCC target("arch=x86-64-v4")
#else
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#endif
#endif

typedef __m512 vec;
typedef __mmask16 lanes_mask;
#define LANES 16
#define TILE 8

static inline lanes_mask first_lanes(Py_ssize_t count) {
    return count <= 0 ? 0 : (count >= LANES ? 0xFFFF : (__mmask16)((1u << count) - 1));
}
static inline vec vzero(void) { return _mm512_setzero_ps(); }
static inline vec vset1(float x) { return _mm512_set1_ps(x); }
static inline vec vload(const float *p) { return _mm512_loadu_ps(p); }
static inline void vstore(float *p, vec v) { _mm512_storeu_ps(p, v); }
static inline vec vload_masked(const float *p, lanes_mask m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void vstore_masked(float *p, lanes_mask m, vec v) { _mm512_mask_storeu_ps(p, m, v); }
static inline vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline vec vadd(vec a, vec b) { return _mm512_add_ps(a, b); }
static inline vec vmul(vec a, vec b) { return _mm512_mul_ps(a, b); }
/* a > b ? a : b, else b: b where either is NaN or both are zeros (maxps), as numpy's maximum(b, a) */
static inline vec vmax(vec a, vec b) { return _mm512_max_ps(a, b); }
/* yes where a > 0, else no (a NaN: no) */
static inline vec vpositive(vec a, vec yes, vec no) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_GT_OQ), no, yes);
}

/* across the lanes, by the tree avx2's vsum continues: lane i + lane i + 8 first */
static inline float vsum(vec v) {
    __m256 half = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

/* pooling's 2 x 2 loops (pools.h): lanes 0-15 of lo, hi split into the even and odd columns, and back */
typedef __m512i ivec;
static inline ivec iset1(int x) { return _mm512_set1_epi32(x); }
static inline ivec iload_masked(const int32_t *p, lanes_mask m) { return _mm512_maskz_loadu_epi32(m, p); }
static inline void istore_masked(int32_t *p, lanes_mask m, ivec v) { _mm512_mask_storeu_epi32(p, m, v); }
static inline void vsplit_pairs(vec lo, vec hi, vec *even, vec *odd) {
    *even = _mm512_permutex2var_ps(lo, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), hi);
    *odd = _mm512_permutex2var_ps(lo, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), hi);
}
static inline void vzip_pairs(vec even, vec odd, vec *lo, vec *hi) {
    *lo = _mm512_permutex2var_ps(even, _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), odd);
    *hi = _mm512_permutex2var_ps(even, _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31),
                                 odd);
}
/* where v > best (never a NaN v; a NaN best stays): best takes v and where takes k */
static inline void vtake_greater(vec v, ivec k, vec *best, ivec *where) {
    __mmask16 better = _mm512_cmp_ps_mask(v, *best, _CMP_GT_OQ);
    *best = _mm512_mask_blend_ps(better, *best, v);
    *where = _mm512_mask_blend_epi32(better, *where, k);
}
/* 0 + g where `where` is k, else 0 (+0: the general loop's zeroed pixel plus g) */
static inline vec vkeep_equal(ivec where, int k, vec g) {
    return _mm512_add_ps(_mm512_setzero_ps(), _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(where, iset1(k)), g));
}

#include "cells.h"
#include "gemm.h"
#include "loops.h"
#include "convs.h"
#include "pools.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static int runs_here(void) {
    __builtin_cpu_init();
#if !defined(__clang__) && __GNUC__ >= 12
    return __builtin_cpu_supports("x86-64-v4");
#else
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
}

#define PATH_VAR ISA_AVX512
#define PATH_NAME "avx512"
#define PATH_HAS_GEMM 1
#include "path_table.h"
#else
const Isa ISA_AVX512 = {"avx512", NULL}; /* not built: no x86-64 compiler */
#endif
