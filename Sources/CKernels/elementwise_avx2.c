// elementwise_body.h compiled for AVX2 + FMA (run only where the CPU has both; see elementwise.c).
#pragma STDC FP_CONTRACT OFF
#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#include "vector_avx2.h"
#include "elementwise_body.h"
#pragma clang attribute pop
#endif
