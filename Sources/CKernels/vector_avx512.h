// The vector operations of elementwise_body.h for AVX-512F: 16 float lanes, masks in k registers.
// Included by elementwise_avx512.c inside `#pragma clang attribute push(target("avx512f"))`.
#include <immintrin.h>

#define LANES 16
#define KERNEL(name) name##_avx512

typedef __m512 vf;      // 16 floats
typedef __mmask16 vm;   // one bit per lane

static inline vf v_set(float a) { return _mm512_set1_ps(a); }
static inline vf v_zero(void) { return _mm512_setzero_ps(); }
static inline vf v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
// The first n lanes (n may be ≤ 0 or ≥ LANES); the others are `fill`, and their memory is not read.
static inline vm v_first(long n) {
    return n >= LANES ? (vm)0xFFFF : n <= 0 ? (vm)0 : (vm)((1u << n) - 1);
}
static inline vf v_load_n(const float *p, long n, vf fill) { return _mm512_mask_loadu_ps(fill, v_first(n), p); }
static inline void v_store_n(float *p, vf a, long n) { _mm512_mask_storeu_ps(p, v_first(n), a); }

static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }  // a·b + c, one rounding
// a > b ? a : b and a < b ? a : b, exactly (the second operand when either is NaN).
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf v_abs(vf a) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF))); }
static inline vm v_less(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vf v_select(vm m, vf if_true, vf if_false) { return _mm512_mask_blend_ps(m, if_false, if_true); }
// 2^n from `shifted` = 1.5·2^23 + n (n an integer in [-126, 127]): n + 127 in the exponent field.
static inline vf v_pow2(vf shifted) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(127)), 23));
}

// Reductions over SLOTS = 32 partial sums held as 2 vectors (slot s = lane s % 16 of vector s / 16),
// combined in the fixed tree of elementwise_body.h: slot j with j + 16, then j + 8, 4, 2, 1.
#define SLOT_VECTORS 2
static inline float v_tree_sum(const vf acc[SLOT_VECTORS]) {
    __m512 a = _mm512_add_ps(acc[0], acc[1]);                                            // j + 16
    __m256 b = _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));    // j + 8
    __m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));       // j + 4
    __m128 d = _mm_add_ps(c, _mm_movehl_ps(c, c));                                        // j + 2
    __m128 e = _mm_add_ss(d, _mm_movehdup_ps(d));                                         // j + 1
    return _mm_cvtss_f32(e);
}
static inline float v_tree_max(const vf acc[SLOT_VECTORS]) {
    __m512 a = _mm512_max_ps(acc[0], acc[1]);
    __m256 b = _mm256_max_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m128 c = _mm_max_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
    __m128 d = _mm_max_ps(c, _mm_movehl_ps(c, c));
    __m128 e = _mm_max_ss(d, _mm_movehdup_ps(d));
    return _mm_cvtss_f32(e);
}
