// elementwise_body.h compiled for AVX-512F (run only where the CPU has it; see elementwise.c).
#pragma STDC FP_CONTRACT OFF
#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#include "vector_avx512.h"
#include "elementwise_body.h"
#pragma clang attribute pop
#endif
