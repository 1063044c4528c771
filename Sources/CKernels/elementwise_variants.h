// The entry points of elementwise_body.h, one per instruction set, between which elementwise.c
// dispatches (`ISA` is avx512, avx2 or portable); and the instruction set in use, for dropout.c too.
#define ELEMENTWISE_VARIANTS(ISA)                                                                                     \
    void trainer_exp_##ISA(float *out, const float *in, long n);                                                     \
    void trainer_gelu_forward_##ISA(float *out, const float *in, const float *bias, long n, int exact);              \
    void trainer_gelu_backward_##ISA(float *dinp, float *dbias, const float *dout, const float *inp,                 \
                                     const float *bias, long n, int exact);                                         \
    void trainer_softmax_forward_##ISA(float *out, const float *in, long rows, long columns, float *maximum,          \
                                       float *sum);                                                                  \
    void trainer_softmax_backward_##ISA(float *dinp, const float *dout, const float *out, long rows, long columns);  \
    void trainer_layernorm_forward_##ISA(float *out, float *mean, float *rstd, const float *in, const float *weight,  \
                                         const float *bias, long rows, long channels, float epsilon);                \
    void trainer_layernorm_backward_##ISA(float *dinp, float *dweight, float *dbias, const float *dout,              \
                                          const float *inp, const float *weight, const float *mean,                  \
                                          const float *rstd, long rows, long channels);                              \
    float trainer_flash_forward_row_##ISA(float *p, float *s, long visible, long total, float scale,                 \
                                          const unsigned char *keyMask, float previous, float *maximum);             \
    void trainer_flash_probabilities_row_##ISA(float *s, long visible, long total, float scale,                      \
                                               const unsigned char *keyMask, float logSumExp);                       \
    void trainer_flash_score_gradient_row_##ISA(float *ds, const float *p, const float *g, float d, float scale,     \
                                                long n);

ELEMENTWISE_VARIANTS(avx512)
ELEMENTWISE_VARIANTS(avx2)
ELEMENTWISE_VARIANTS(portable)

// The instruction set in use (see trainer_vector_isa in CKernels.h).
int trainer_vector_isa(void);

// Calls name_avx512, name_avx2 or name_portable, as the instruction set in use says; the
// RETURN form returns the variant's result.
#if defined(__x86_64__)
#define DISPATCH(name, ...)                                                     \
    switch (trainer_vector_isa()) {                                             \
    case TRAINER_ISA_AVX512: name##_avx512(__VA_ARGS__); break;                 \
    case TRAINER_ISA_AVX2: name##_avx2(__VA_ARGS__); break;                     \
    default: name##_portable(__VA_ARGS__); break;                               \
    }
#define DISPATCH_RETURN(name, ...)                                              \
    switch (trainer_vector_isa()) {                                             \
    case TRAINER_ISA_AVX512: return name##_avx512(__VA_ARGS__);                 \
    case TRAINER_ISA_AVX2: return name##_avx2(__VA_ARGS__);                     \
    default: return name##_portable(__VA_ARGS__);                               \
    }
#else
#define DISPATCH(name, ...) name##_portable(__VA_ARGS__);
#define DISPATCH_RETURN(name, ...) return name##_portable(__VA_ARGS__);
#endif
