// Run-time choice of the element-wise kernels' instruction set, and the public entry points.
#include "CKernels.h"
#include "elementwise_variants.h"

// What the CPU (and the OS, which must save the wider registers) supports; computed once.
static int supported_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return TRAINER_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return TRAINER_ISA_AVX2;
#endif
    return TRAINER_ISA_PORTABLE;
}

// -1 until first use; then the level in use. Relaxed atomics: every thread computes the same value.
static int current_isa = -1;

int trainer_vector_isa(void) {
    int isa = __atomic_load_n(&current_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = supported_isa();
        __atomic_store_n(&current_isa, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

int trainer_set_vector_isa(int isa) {
    int supported = supported_isa();
    int chosen = isa < 0 || isa > supported ? supported : isa;
    __atomic_store_n(&current_isa, chosen, __ATOMIC_RELAXED);
    return chosen;
}


void trainer_exp(float *out, const float *in, long n) { DISPATCH(trainer_exp, out, in, n) }

void trainer_gelu_forward(float *out, const float *in, const float *bias, long n, int exact) {
    DISPATCH(trainer_gelu_forward, out, in, bias, n, exact)
}

void trainer_gelu_backward(float *dinp, float *dbias, const float *dout, const float *inp, const float *bias, long n,
                           int exact) {
    DISPATCH(trainer_gelu_backward, dinp, dbias, dout, inp, bias, n, exact)
}

void trainer_softmax_forward(float *out, const float *in, long rows, long columns, float *maximum, float *sum) {
    DISPATCH(trainer_softmax_forward, out, in, rows, columns, maximum, sum)
}

void trainer_softmax_backward(float *dinp, const float *dout, const float *out, long rows, long columns) {
    DISPATCH(trainer_softmax_backward, dinp, dout, out, rows, columns)
}

void trainer_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *weight,
                               const float *bias, long rows, long channels, float epsilon) {
    DISPATCH(trainer_layernorm_forward, out, mean, rstd, in, weight, bias, rows, channels, epsilon)
}

void trainer_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                const float *weight, const float *mean, const float *rstd, long rows, long channels) {
    DISPATCH(trainer_layernorm_backward, dinp, dweight, dbias, dout, inp, weight, mean, rstd, rows, channels)
}

float trainer_flash_forward_row(float *p, float *s, long visible, long total, float scale, const unsigned char *keyMask,
                                float previous, float *maximum) {
    DISPATCH_RETURN(trainer_flash_forward_row, p, s, visible, total, scale, keyMask, previous, maximum)
}

void trainer_flash_probabilities_row(float *s, long visible, long total, float scale, const unsigned char *keyMask,
                                     float logSumExp) {
    DISPATCH(trainer_flash_probabilities_row, s, visible, total, scale, keyMask, logSumExp)
}

void trainer_flash_score_gradient_row(float *ds, const float *p, const float *g, float d, float scale, long n) {
    DISPATCH(trainer_flash_score_gradient_row, ds, p, g, d, scale, n)
}
