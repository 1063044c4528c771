#include "CBF16.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// libdnnl is built with OpenMP: a primitive run from a thread starts an OpenMP team of that
// thread's `nthreads-var`. The trainer's own workers each run one piece, so every calling thread
// asks for a team of one.
extern void omp_set_num_threads(int);

static dnnl_engine_t engine;
static pthread_once_t engineOnce = PTHREAD_ONCE_INIT;
static void createEngine(void) { dnnl_engine_create(&engine, dnnl_cpu, 0); }

int trainer_bf16_native(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") ? 1 : 0;
#else
    return 0;
#endif
}

// One cached primitive: the shape it was made for, and its memory objects (re-pointed per call).
typedef struct {
    int transA, transB, accumulate;
    long M, N, K, lda, ldb, ldc;
    dnnl_primitive_t primitive;
    dnnl_memory_t a, b, c;
} CachedGemm;

enum { cacheSize = 256 };
static __thread CachedGemm cache[cacheSize];
static __thread int cached;
static __thread dnnl_stream_t stream;

static dnnl_status_t makeGemm(CachedGemm *g) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t aDims = {g->M, g->K}, bDims = {g->K, g->N}, cDims = {g->M, g->N};
    dnnl_dims_t aStrides = {g->transA ? 1 : g->lda, g->transA ? g->lda : 1};
    dnnl_dims_t bStrides = {g->transB ? 1 : g->ldb, g->transB ? g->ldb : 1};
    dnnl_dims_t cStrides = {g->ldc, 1};
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&a, 2, aDims, dnnl_bf16, aStrides)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&b, 2, bDims, dnnl_bf16, bStrides)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&c, 2, cDims, dnnl_f32, cStrides)) != dnnl_success) return s;
    dnnl_matmul_desc_t desc;
    if ((s = dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c)) != dnnl_success) return s;
    dnnl_primitive_attr_t attr;
    dnnl_primitive_attr_create(&attr);
    if (g->accumulate) {
        dnnl_post_ops_t ops;
        dnnl_post_ops_create(&ops);
        dnnl_post_ops_append_sum(ops, 1.0f);
        dnnl_primitive_attr_set_post_ops(attr, ops);
        dnnl_post_ops_destroy(ops);
    }
    dnnl_primitive_desc_t pd;
    s = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) return s;
    s = dnnl_primitive_create(&g->primitive, pd);
    dnnl_primitive_desc_destroy(pd);
    if (s != dnnl_success) return s;
    dnnl_memory_create(&g->a, &a, engine, DNNL_MEMORY_NONE);
    dnnl_memory_create(&g->b, &b, engine, DNNL_MEMORY_NONE);
    dnnl_memory_create(&g->c, &c, engine, DNNL_MEMORY_NONE);
    return dnnl_success;
}

int trainer_bf16_gemm(int transA, int transB, long M, long N, long K,
                      const uint16_t *A, long lda, const uint16_t *B, long ldb,
                      float *C, long ldc, int accumulate) {
    if (M <= 0 || N <= 0) return 0;
    pthread_once(&engineOnce, createEngine);
    if (!stream) {
        omp_set_num_threads(1);
        dnnl_status_t s = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
        if (s != dnnl_success) return (int)s;
    }
    accumulate = accumulate ? 1 : 0;
    CachedGemm *g = NULL;
    for (int i = 0; i < cached; i++) {
        CachedGemm *e = &cache[i];
        if (e->transA == transA && e->transB == transB && e->accumulate == accumulate && e->M == M && e->N == N &&
            e->K == K && e->lda == lda && e->ldb == ldb && e->ldc == ldc) { g = e; break; }
    }
    if (!g) {
        // A full cache starts over (shapes of one model are few; this only bounds memory).
        if (cached == cacheSize) {
            for (int i = 0; i < cached; i++) {
                dnnl_primitive_destroy(cache[i].primitive);
                dnnl_memory_destroy(cache[i].a);
                dnnl_memory_destroy(cache[i].b);
                dnnl_memory_destroy(cache[i].c);
            }
            cached = 0;
        }
        g = &cache[cached];
        *g = (CachedGemm){transA, transB, accumulate, M, N, K, lda, ldb, ldc, NULL, NULL, NULL, NULL};
        dnnl_status_t s = makeGemm(g);
        if (s != dnnl_success) return (int)s;
        cached++;
    }
    dnnl_memory_set_data_handle(g->a, (void *)A);
    dnnl_memory_set_data_handle(g->b, (void *)B);
    dnnl_memory_set_data_handle(g->c, C);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, g->a}, {DNNL_ARG_WEIGHTS, g->b}, {DNNL_ARG_DST, g->c}};
    dnnl_status_t s = dnnl_primitive_execute(g->primitive, stream, 3, args);
    if (s != dnnl_success) return (int)s;
    return (int)dnnl_stream_wait(stream);
}

// Round to nearest even on the upper 16 bits; NaN keeps a quiet payload.
static inline uint16_t toBF16(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1);
    return (uint16_t)(bits >> 16);
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bf16,avx512vl")))
static void toBF16Native(const float *src, uint16_t *dst, long count) {
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256bh packed = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)packed);
    }
    for (; i < count; i++) dst[i] = toBF16(src[i]);
}

__attribute__((target("avx512f")))
static void toF32Wide(const uint16_t *src, float *dst, long count) {
    long i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
    }
    for (; i < count; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, 4);
    }
}
#endif

void trainer_f32_to_bf16(const float *src, uint16_t *dst, long count) {
#if defined(__x86_64__)
    if (trainer_bf16_native()) {
        toBF16Native(src, dst, count);
        return;
    }
#endif
    for (long i = 0; i < count; i++) dst[i] = toBF16(src[i]);
}

void trainer_bf16_to_f32(const uint16_t *src, float *dst, long count) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
        toF32Wide(src, dst, count);
        return;
    }
#endif
    for (long i = 0; i < count; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, 4);
    }
}

#if defined(__x86_64__)
// 16 independent chains, as the fp32 FMA micro-benchmark (Sources/CKernels/peak.c).
__attribute__((target("avx512f,avx512bf16,avx512vl")))
static double dotPeak(long iterations) {
    __m512 acc[16];
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);  // 1.0, ~6e-8
    for (int c = 0; c < 16; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iterations; i++) {
        _Pragma("clang loop unroll(full)")
        for (int c = 0; c < 16; c++) acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
    }
    __m512 sum = acc[0];
    for (int c = 1; c < 16; c++) sum = _mm512_add_ps(sum, acc[c]);
    volatile float sink = _mm512_reduce_add_ps(sum);
    (void)sink;
    return 2.0 * 32 * 16 * (double)iterations;
}
#endif

double trainer_bf16_dot_peak(long iterations) {
#if defined(__x86_64__)
    if (trainer_bf16_native()) return dotPeak(iterations);
#endif
    (void)iterations;
    return 0;
}
