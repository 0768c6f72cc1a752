/* The avx2 path: every kernel compiled for x86-64-v3 (AVX2 and FMA), the GEMMs on 256-bit registers in
 * tiles of 6 x 16 (see gemm.h). */
#include "kernels.h"

#if HAVE_X86_PATHS
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#if __GNUC__ >= 12
#pragma GCC target("arch=x86-64-v3")
#else
#pragma GCC target("avx2,fma")
#endif
#endif

typedef __m256 vec;
typedef __m256i lanes_mask;
#define LANES 8
#define TILE 6

static inline lanes_mask first_lanes(Py_ssize_t count) {
    int lanes = count < 0 ? 0 : (count > LANES ? LANES : (int)count);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vec vzero(void) { return _mm256_setzero_ps(); }
static inline vec vset1(float x) { return _mm256_set1_ps(x); }
static inline vec vload(const float *p) { return _mm256_loadu_ps(p); }
static inline void vstore(float *p, vec v) { _mm256_storeu_ps(p, v); }
static inline vec vload_masked(const float *p, lanes_mask m) { return _mm256_maskload_ps(p, m); }
static inline void vstore_masked(float *p, lanes_mask m, vec v) { _mm256_maskstore_ps(p, m, v); }
static inline vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline vec vadd(vec a, vec b) { return _mm256_add_ps(a, b); }
static inline vec vmul(vec a, vec b) { return _mm256_mul_ps(a, b); }
/* a > b ? a : b, else b: b where either is NaN or both are zeros (maxps), as numpy's maximum(b, a) */
static inline vec vmax(vec a, vec b) { return _mm256_max_ps(a, b); }
/* yes where a > 0, else no (a NaN: no) */
static inline vec vpositive(vec a, vec yes, vec no) {
    return _mm256_blendv_ps(no, yes, _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_GT_OQ));
}

/* across the lanes: (i + i+4), then (i + i+2), then (0 + 1); avx512's vsum adds i + i+8 first */
static inline float vsum(vec v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

/* pooling's 2 x 2 loops (pools.h): lanes 0-7 of lo, hi split into the even and odd columns, and back */
typedef __m256i ivec;
static inline ivec iset1(int x) { return _mm256_set1_epi32(x); }
static inline ivec iload_masked(const int32_t *p, lanes_mask m) { return _mm256_maskload_epi32((const int *)p, m); }
static inline void istore_masked(int32_t *p, lanes_mask m, ivec v) { _mm256_maskstore_epi32((int *)p, m, v); }
static inline void vsplit_pairs(vec lo, vec hi, vec *even, vec *odd) {
    /* the shuffles take lanes in 128-bit halves (lo 0 2, hi 0 2, lo 4 6, hi 4 6); the permute orders the pairs */
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))),
                                                   _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))),
                                                  _MM_SHUFFLE(3, 1, 2, 0)));
}
static inline void vzip_pairs(vec even, vec odd, vec *lo, vec *hi) {
    vec low = _mm256_unpacklo_ps(even, odd), high = _mm256_unpackhi_ps(even, odd); /* e0 o0 e1 o1 | e4 o4 e5 o5 */
    *lo = _mm256_permute2f128_ps(low, high, 0x20);
    *hi = _mm256_permute2f128_ps(low, high, 0x31);
}
/* where v > best (never a NaN v; a NaN best stays): best takes v and where takes k */
static inline void vtake_greater(vec v, ivec k, vec *best, ivec *where) {
    vec better = _mm256_cmp_ps(v, *best, _CMP_GT_OQ);
    *best = _mm256_blendv_ps(*best, v, better);
    *where = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(*where), _mm256_castsi256_ps(k), better));
}
/* 0 + g where `where` is k, else 0 (+0: the general loop's zeroed pixel plus g) */
static inline vec vkeep_equal(ivec where, int k, vec g) {
    return _mm256_add_ps(_mm256_setzero_ps(), _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(where, iset1(k))), g));
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
    return __builtin_cpu_supports("x86-64-v3");
#else
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
}

#define PATH_VAR ISA_AVX2
#define PATH_NAME "avx2"
#define PATH_HAS_GEMM 1
#include "path_table.h"
#else
const Isa ISA_AVX2 = {"avx2", NULL}; /* not built: no x86-64 compiler */
#endif
