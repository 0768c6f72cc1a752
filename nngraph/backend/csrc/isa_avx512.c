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

#include "cells.h"
#include "gemm.h"
#include "loops.h"
#include "convs.h"

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
