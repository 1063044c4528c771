// The vector operations of elementwise_body.h as plain C on one float: the fallback for CPUs
// without AVX2 + FMA and for other architectures. It rounds exactly like the vector versions
// (fmaf is one rounding; the file is compiled with FP_CONTRACT off), so every path gives the same bits.
// Identical results come first here, speed second: on an x86-64 CPU without FMA each fmaf is a libm
// call, and forced onto this path a Zen 5 runs tanh GELU at 11 ns an element (0.2 with AVX-512),
// dropout at 1.7 GB/s. On arm64, fmaf is one instruction and the compiler may vectorise the loops
// (not measured); a NEON vocabulary (4 lanes, same tree) would be the way to make it fast.
#include <math.h>
#include <stdint.h>
#include <string.h>

#define LANES 1
#define KERNEL(name) name##_portable

typedef float vf;
typedef int vm;

static inline vf v_set(float a) { return a; }
static inline vf v_zero(void) { return 0.0f; }
static inline vf v_load(const float *p) { return *p; }
static inline void v_store(float *p, vf a) { *p = a; }
static inline vf v_load_n(const float *p, long n, vf fill) { return n > 0 ? *p : fill; }
static inline void v_store_n(float *p, vf a, long n) { if (n > 0) *p = a; }

static inline vf v_add(vf a, vf b) { return a + b; }
static inline vf v_sub(vf a, vf b) { return a - b; }
static inline vf v_mul(vf a, vf b) { return a * b; }
static inline vf v_div(vf a, vf b) { return a / b; }
static inline vf v_fma(vf a, vf b, vf c) { return fmaf(a, b, c); }
static inline vf v_max(vf a, vf b) { return a > b ? a : b; }
static inline vf v_min(vf a, vf b) { return a < b ? a : b; }
static inline vf v_abs(vf a) { return fabsf(a); }
static inline vm v_less(vf a, vf b) { return a < b; }
static inline vf v_select(vm m, vf if_true, vf if_false) { return m ? if_true : if_false; }
static inline vf v_pow2(vf shifted) {
    uint32_t bits;
    memcpy(&bits, &shifted, 4);
    bits = (bits + 127u) << 23;
    float result;
    memcpy(&result, &bits, 4);
    return result;
}

// Reductions over SLOTS = 32 partial sums, one float each, in the fixed tree of elementwise_body.h.
#define SLOT_VECTORS 32
static inline float v_tree_sum(const vf acc[SLOT_VECTORS]) {
    float s[32];
    memcpy(s, acc, sizeof s);
    for (int width = 16; width >= 1; width /= 2)
        for (int j = 0; j < width; j++) s[j] = s[j] + s[j + width];
    return s[0];
}
static inline float v_tree_max(const vf acc[SLOT_VECTORS]) {
    float s[32];
    memcpy(s, acc, sizeof s);
    for (int width = 16; width >= 1; width /= 2)
        for (int j = 0; j < width; j++) s[j] = s[j] > s[j + width] ? s[j] : s[j + width];
    return s[0];
}
