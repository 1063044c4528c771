// The vector operations of elementwise_body.h for AVX2 + FMA: 8 float lanes, masks as all-ones
// lanes. Included by elementwise_avx2.c inside `#pragma clang attribute push(target("avx2,fma"))`.
#include <immintrin.h>

#define LANES 8
#define KERNEL(name) name##_avx2

typedef __m256 vf;  // 8 floats
typedef __m256 vm;  // all ones in the lanes that are set

static inline vf v_set(float a) { return _mm256_set1_ps(a); }
static inline vf v_zero(void) { return _mm256_setzero_ps(); }
static inline vf v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void v_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
// The first n lanes (n may be ≤ 0 or ≥ LANES); the others are `fill`, and their memory is not read.
static inline __m256i v_first(long n) {
    long k = n < 0 ? 0 : n > LANES ? LANES : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf v_load_n(const float *p, long n, vf fill) {
    __m256i m = v_first(n);
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void v_store_n(float *p, vf a, long n) { _mm256_maskstore_ps(p, v_first(n), a); }

static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }  // a·b + c, one rounding
// a > b ? a : b and a < b ? a : b, exactly (the second operand when either is NaN).
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf v_abs(vf a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF))); }
static inline vm v_less(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vf v_select(vm m, vf if_true, vf if_false) { return _mm256_blendv_ps(if_false, if_true, m); }
// 2^n from `shifted` = 1.5·2^23 + n (n an integer in [-126, 127]): n + 127 in the exponent field.
static inline vf v_pow2(vf shifted) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(127)), 23));
}

// Reductions over SLOTS = 32 partial sums held as 4 vectors (slot s = lane s % 8 of vector s / 8),
// combined in the fixed tree of elementwise_body.h: slot j with j + 16, then j + 8, 4, 2, 1.
#define SLOT_VECTORS 4
static inline float v_tree_sum(const vf acc[SLOT_VECTORS]) {
    __m256 a0 = _mm256_add_ps(acc[0], acc[2]), a1 = _mm256_add_ps(acc[1], acc[3]);  // j + 16
    __m256 b = _mm256_add_ps(a0, a1);                                                // j + 8
    __m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));   // j + 4
    __m128 d = _mm_add_ps(c, _mm_movehl_ps(c, c));                                    // j + 2
    __m128 e = _mm_add_ss(d, _mm_movehdup_ps(d));                                     // j + 1
    return _mm_cvtss_f32(e);
}
static inline float v_tree_max(const vf acc[SLOT_VECTORS]) {
    __m256 a0 = _mm256_max_ps(acc[0], acc[2]), a1 = _mm256_max_ps(acc[1], acc[3]);
    __m256 b = _mm256_max_ps(a0, a1);
    __m128 c = _mm_max_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
    __m128 d = _mm_max_ps(c, _mm_movehl_ps(c, c));
    __m128 e = _mm_max_ss(d, _mm_movehdup_ps(d));
    return _mm_cvtss_f32(e);
}
