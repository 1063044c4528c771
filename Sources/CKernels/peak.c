#include "CKernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

// 16 independent accumulators: with 2 FMA pipes of 4-cycle latency, 8 are needed to keep both busy;
// 16 leaves room for cores with longer latency or more pipes. acc = acc·a + b never reassociates.
#define CHAINS 16

__attribute__((target("avx512f"))) static double fma_avx512(long iterations) {
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iterations; i++) {
        _Pragma("clang loop unroll(full)")
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    }
    __m512 sum = acc[0];
    for (int c = 1; c < CHAINS; c++) sum = _mm512_add_ps(sum, acc[c]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
    return 2.0 * 16 * CHAINS * (double)iterations;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long iterations) {
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iterations; i++) {
        _Pragma("clang loop unroll(full)")
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    }
    __m256 sum = acc[0];
    for (int c = 1; c < CHAINS; c++) sum = _mm256_add_ps(sum, acc[c]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    volatile float sink = lanes[0];
    (void)sink;
    return 2.0 * 8 * CHAINS * (double)iterations;
}

static double mul_add_sse(long iterations) {
    __m128 acc[CHAINS];
    const __m128 a = _mm_set1_ps(0.999999f), b = _mm_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm_set1_ps((float)c);
    for (long i = 0; i < iterations; i++) {
        _Pragma("clang loop unroll(full)")
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm_add_ps(_mm_mul_ps(acc[c], a), b);
    }
    float lanes[4];
    _mm_storeu_ps(lanes, acc[CHAINS - 1]);
    volatile float sink = lanes[0];
    (void)sink;
    return 2.0 * 4 * CHAINS * (double)iterations;
}

double trainer_fma_peak(long iterations, int *lanes) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *lanes = 16;
        return fma_avx512(iterations);
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *lanes = 8;
        return fma_avx2(iterations);
    }
    *lanes = 4;
    return mul_add_sse(iterations);
}

#else
// Other architectures: a scalar loop the compiler vectorises as it can (a lower bound).
double trainer_fma_peak(long iterations, int *lanes) {
    float acc[64];
    for (int c = 0; c < 64; c++) acc[c] = (float)c;
    for (long i = 0; i < iterations; i++) {
        for (int c = 0; c < 64; c++) acc[c] = acc[c] * 0.999999f + 1e-7f;
    }
    volatile float sink = acc[0];
    (void)sink;
    *lanes = 1;
    return 2.0 * 64 * (double)iterations;
}
#endif
