// Small C kernels that need explicit vector instructions, chosen at run time from the CPU's
// features (the Swift kernels are compiled for one target CPU; these run on any x86-64).
#ifndef TRAINER_CKERNELS_H
#define TRAINER_CKERNELS_H

/// Runs `iterations` rounds of independent fp32 fused multiply-adds on one thread with the widest
/// vectors this CPU has (AVX-512, else AVX2+FMA, else SSE multiply + add), enough independent
/// chains to fill every FMA pipe. Returns the floating-point operations done (2 per lane per FMA);
/// `lanes` receives the vector width used (16, 8 or 4). The caller times it: the result is the
/// core's fp32 peak, the ceiling that MFU is measured against.
double trainer_fma_peak(long iterations, int *lanes);

#endif
