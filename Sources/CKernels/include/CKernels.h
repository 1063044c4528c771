// Small C kernels that need explicit vector instructions, chosen at run time from the CPU's
// features (the Swift kernels are compiled for one target CPU; these run on any x86-64).
#ifndef TRAINER_CKERNELS_H
#define TRAINER_CKERNELS_H

#include <stdint.h>

/// Runs `iterations` rounds of independent fp32 fused multiply-adds on one thread with the widest
/// vectors this CPU has (AVX-512, else AVX2+FMA, else SSE multiply + add), enough independent
/// chains to fill every FMA pipe. Returns the floating-point operations done (2 per lane per FMA);
/// `lanes` receives the vector width used (16, 8 or 4). The caller times it: the result is the
/// core's fp32 peak, the ceiling that MFU is measured against.
double trainer_fma_peak(long iterations, int *lanes);

// ---------------------------------------------------------------------------------------------
// Element-wise kernels (Sources/CKernels). Each runs on one contiguous span; the Swift
// side (Kernels/) cuts the work into its fixed pieces per thread and keeps the reductions across
// rows. Every instruction set gives bit-identical results.

/// The instruction sets of the element-wise kernels.
enum {
    TRAINER_ISA_PORTABLE = 0,  ///< plain C, one element at a time
    TRAINER_ISA_AVX2 = 1,      ///< AVX2 + FMA, 8 lanes
    TRAINER_ISA_AVX512 = 2,    ///< AVX-512F, 16 lanes
};

/// The instruction set in use: the widest the CPU supports unless lowered by trainer_set_vector_isa.
int trainer_vector_isa(void);

/// Uses `isa`, or the widest supported if `isa` is negative or not supported; returns the one in
/// use. For tests and benchmarks (it is process-wide: call it while no kernel runs).
int trainer_set_vector_isa(int isa);

/// out[i] = e^in[i]: the exponential inside the kernels below (about 2 ulp; 0 below −87.3).
void trainer_exp(float *out, const float *in, long n);

/// out[i] = gelu(in[i] + bias[i]) for i < n; `bias` may be NULL (none), `out` may be `in`.
/// `exact`: x·Φ(x) if nonzero, else the tanh approximation.
void trainer_gelu_forward(float *out, const float *in, const float *bias, long n, int exact);

/// g = gelu'(inp[i] + bias[i])·dout[i]; dinp[i] += g; dbias[i] += g (`bias`, `dbias` may be NULL).
void trainer_gelu_backward(float *dinp, float *dbias, const float *dout, const float *inp, const float *bias, long n,
                           int exact);

/// Softmax of each of `rows` rows of `columns` values (`out` may be `in`). If not NULL, `maximum`
/// and `sum` (rows) receive each row's max and Σ e^(x − max).
void trainer_softmax_forward(float *out, const float *in, long rows, long columns, float *maximum, float *sum);

/// dinp += out ⊙ (dout − Σ_j out_j·dout_j), per row.
void trainer_softmax_backward(float *dinp, const float *dout, const float *out, long rows, long columns);

/// Layer norm of `rows` rows of `channels`: out = (in − mean)·rstd·weight + bias; writes mean, rstd.
void trainer_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *weight,
                               const float *bias, long rows, long channels, float epsilon);

/// Layer norm backward of `rows` rows: accumulates dinp, and adds the rows' dout·x̂ into dweight and
/// dout into dbias, in row order.
void trainer_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                const float *weight, const float *mean, const float *rstd, long rows, long channels);

/// Tiled attention, forward, one row of a score tile: s[j] ·= scale for j < visible (−∞ where
/// keyMask[j] == 0 if keyMask is not NULL), −∞ for visible ≤ j < total; *maximum = max(previous,
/// max s); p[j] = e^(s[j] − *maximum); returns Σ p (p = 0 and 0 if *maximum is −∞).
float trainer_flash_forward_row(float *p, float *s, long visible, long total, float scale, const unsigned char *keyMask,
                                float previous, float *maximum);

/// Tiled attention, backward: s[j] = e^(scale·s[j] − logSumExp) over the visible, unmasked keys,
/// else 0 (all 0 when logSumExp is +∞).
void trainer_flash_probabilities_row(float *s, long visible, long total, float scale, const unsigned char *keyMask,
                                     float logSumExp);

/// ds[j] = scale·p[j]·(g[j] − d) for j < n.
void trainer_flash_score_gradient_row(float *ds, const float *p, const float *g, float d, float scale, long n);

/// A dropout mask: element i of a span starting at `start` is kept, and multiplied by `scale`, when
/// word start + i of the Philox stream (key, stream) is at least `threshold`; else multiplied by 0.
typedef struct {
    uint64_t key;          ///< the generator key (the run's seed)
    uint32_t stream[3];    ///< the stream's three words (site, micro-batch, step)
    uint32_t threshold;    ///< ⌊p·2^32⌋
    float scale;           ///< 1/(1 − p)
} trainer_dropout_mask;

/// out[i] = in[i]·m(start + i), or residual[i] + in[i]·m(start + i) if `residual` is not NULL, for
/// i < count (`out` may be `in` or `residual`).
void trainer_dropout_forward(float *out, const float *in, const float *residual, long start, long count,
                             const trainer_dropout_mask *mask);

/// dinp[i] += dout[i]·m(start + i), and dresidual[i] += dout[i] if `dresidual` is not NULL.
void trainer_dropout_backward(float *dinp, float *dresidual, const float *dout, long start, long count,
                              const trainer_dropout_mask *mask);

/// multipliers[i] = m(start + i): `scale` or 0.
void trainer_dropout_multipliers(float *multipliers, long start, long count, const trainer_dropout_mask *mask);

#endif
