// bf16 matrix products on oneDNN (Debian's libdnnl 2.6, the CPU backend of PyTorch) and the
// conversions around them: what the trainer's `precision: bf16` runs on.
#ifndef TRAINER_CBF16_H
#define TRAINER_CBF16_H
#include <stdint.h>

/// Whether this CPU has native bf16 dot products (AVX512_BF16: vdpbf16ps).
int trainer_bf16_native(void);

/// C (M×N, float, leading dimension ldc) = op(A) · op(B), or C += op(A) · op(B) with `accumulate`.
/// A and B are bf16 (uint16_t), row-major: op(A) is M×K (A stored K×M when `transA`), op(B) is K×N
/// (B stored N×K when `transB`). Products are accumulated in fp32. Runs on the calling thread
/// only (callers split the work into fixed pieces, so results do not depend on scheduling); each
/// thread keeps its own oneDNN primitives, created once per shape and reused. Returns 0, or a
/// oneDNN status on failure.
int trainer_bf16_gemm(int transA, int transB, long M, long N, long K,
                      const uint16_t *A, long lda, const uint16_t *B, long ldb,
                      float *C, long ldc, int accumulate);

/// dst[i] = bf16(src[i]) with round-to-nearest-even (NaN stays NaN), for i < count.
void trainer_f32_to_bf16(const float *src, uint16_t *dst, long count);

/// dst[i] = float(src[i]) (exact), for i < count.
void trainer_bf16_to_f32(const uint16_t *src, float *dst, long count);

/// Runs `iterations` rounds of independent bf16 dot-product accumulations (vdpbf16ps: 32 bf16
/// products summed into 16 fp32 lanes per instruction) on one thread; returns the floating-point
/// operations done (2 per product), or 0 on a CPU without AVX512_BF16. The caller times it: the
/// core's bf16 peak, the ceiling of MFU in `precision: bf16`.
double trainer_bf16_dot_peak(long iterations);

#endif
