// Dropout with Philox4x32-10 masks generated in vector registers: AVX-512, AVX2 and portable C.
//
// Element i of a stream is kept when word i of the stream, word i % 4 of the Philox block
// (counter i / 4, the stream's three words; key), is at least the threshold (Kernels/Dropout.swift,
// Support/Philox.swift). The scalar Swift loop spent about 17 cycles per block; here the lanes of a
// vector hold 8 consecutive blocks, one 64-bit lane each: a round is two 32×32→64-bit multiplies
// (vpmuludq reads only the low 32 bits of each lane, so the high halves never need clearing), two
// shifts and two three-way XORs for 8 blocks. The four words of the 8 blocks are then interleaved
// into element order (w0 w1 w2 w3 of block 0, then block 1, ...) and compared with the threshold.
// Every path produces exactly the words of Philox.block, so the mask is bit for bit the one of the
// Swift reference, and kept values are input·(1/(1 − p)) as before (dropped ones input·0).

#pragma STDC FP_CONTRACT OFF
#include "CKernels.h"
#include "elementwise_variants.h"

#include <stdint.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// What a span applies. out/in/residual name the pointers of the forward pass; the backward pass
// uses the same slots for dinp/dout/dresidual.
enum dropout_op {
    DROPOUT_FORWARD,            // out = in·m
    DROPOUT_FORWARD_RESIDUAL,   // out = residual + in·m
    DROPOUT_BACKWARD,           // dinp += dout·m
    DROPOUT_BACKWARD_RESIDUAL,  // dinp += dout·m; dresidual += dout
    DROPOUT_MULTIPLIERS,        // out = m
};

// ---------------------------------------------------------------------------------------------
// Portable: one block at a time (also the reference for the vector paths' layout).

static inline void philox_block(uint32_t counter, const trainer_dropout_mask *mask, uint32_t words[4]) {
    uint32_t x0 = counter, x1 = mask->stream[0], x2 = mask->stream[1], x3 = mask->stream[2];
    uint32_t k0 = (uint32_t)mask->key, k1 = (uint32_t)(mask->key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * x0, p1 = (uint64_t)PHILOX_M1 * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0, y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        x0 = y0, x1 = (uint32_t)p1, x2 = y2, x3 = (uint32_t)p0;
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    words[0] = x0, words[1] = x1, words[2] = x2, words[3] = x3;
}

static inline __attribute__((always_inline)) void apply_one(enum dropout_op op, float *out, const float *in,
                                                           float *residual, long i, float m) {
    switch (op) {
    case DROPOUT_FORWARD: out[i] = in[i] * m; break;
    case DROPOUT_FORWARD_RESIDUAL: out[i] = residual[i] + in[i] * m; break;
    case DROPOUT_BACKWARD: out[i] = out[i] + in[i] * m; break;
    case DROPOUT_BACKWARD_RESIDUAL: out[i] = out[i] + in[i] * m, residual[i] = residual[i] + in[i]; break;
    case DROPOUT_MULTIPLIERS: out[i] = m; break;
    }
}

static inline __attribute__((always_inline)) void dropout_portable(enum dropout_op op, float *out, const float *in,
                                                                  float *residual, long start, long count,
                                                                  const trainer_dropout_mask *mask) {
    long i = 0;
    uint32_t words[4];
    // Up to the first whole block, one word at a time; then whole blocks in a counted loop (which
    // compilers vectorise across blocks); then the rest.
    for (; i < count && ((start + i) & 3) != 0; i++) {
        philox_block((uint32_t)((start + i) >> 2), mask, words);
        apply_one(op, out, in, residual, i, words[(start + i) & 3] >= mask->threshold ? mask->scale : 0.0f);
    }
    const long blocks = (count - i) / 4;
    const uint32_t first = (uint32_t)((start + i) >> 2);
    float *o = out + i, *r = residual ? residual + i : residual;
    const float *x = in ? in + i : in;
    for (long b = 0; b < blocks; b++) {
        philox_block(first + (uint32_t)b, mask, words);
        for (int w = 0; w < 4; w++) apply_one(op, o, x, r, 4 * b + w, words[w] >= mask->threshold ? mask->scale : 0.0f);
    }
    for (i += 4 * blocks; i < count; i++) {
        philox_block((uint32_t)((start + i) >> 2), mask, words);
        apply_one(op, out, in, residual, i, words[(start + i) & 3] >= mask->threshold ? mask->scale : 0.0f);
    }
}

// ---------------------------------------------------------------------------------------------
#if defined(__x86_64__)
#include <immintrin.h>

// The round keys, computed once per call: k0 + r·W0 and k1 + r·W1 for r = 0 ..< 10.
typedef struct {
    uint32_t k0[10], k1[10];
} round_keys;

static inline round_keys make_round_keys(const trainer_dropout_mask *mask) {
    round_keys keys;
    uint32_t k0 = (uint32_t)mask->key, k1 = (uint32_t)(mask->key >> 32);
    for (int round = 0; round < 10; round++, k0 += PHILOX_W0, k1 += PHILOX_W1) keys.k0[round] = k0, keys.k1[round] = k1;
    return keys;
}

// AVX-512: GROUPS groups of 8 blocks (32 words each) at once, their rounds interleaved so that the
// multiplier always has independent work; each group's words come out in element order as two
// vectors of 16.
#define GROUPS 4
__attribute__((target("avx512f"), always_inline)) static inline void philox_groups_avx512(
    uint32_t counter, const trainer_dropout_mask *mask, const round_keys *keys, __m512i words[2 * GROUPS]) {
    const __m512i lanes = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __m512i m0 = _mm512_set1_epi64(PHILOX_M0), m1 = _mm512_set1_epi64(PHILOX_M1);
    __m512i x0[GROUPS], x1[GROUPS], x2[GROUPS], x3[GROUPS];
    for (int g = 0; g < GROUPS; g++) {
        x0[g] = _mm512_add_epi64(_mm512_set1_epi64(counter + 8 * g), lanes);  // blocks counter + 8g + 0..7
        x1[g] = _mm512_set1_epi64(mask->stream[0]);
        x2[g] = _mm512_set1_epi64(mask->stream[1]);
        x3[g] = _mm512_set1_epi64(mask->stream[2]);
    }
    for (int round = 0; round < 10; round++) {
        const __m512i k0 = _mm512_set1_epi64(keys->k0[round]), k1 = _mm512_set1_epi64(keys->k1[round]);
        for (int g = 0; g < GROUPS; g++) {
            __m512i p0 = _mm512_mul_epu32(x0[g], m0), p1 = _mm512_mul_epu32(x2[g], m1);
            // 0x96: x ^ y ^ z. Only the low 32 bits of each lane matter.
            x0[g] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), x1[g], k0, 0x96);
            x2[g] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), x3[g], k1, 0x96);
            x1[g] = p1, x3[g] = p0;
        }
    }
    // (w0, w1) and (w2, w3) of each block as 64-bit pairs, then the pairs of block j at 2j, 2j + 1.
    const __m512i first = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), second = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    for (int g = 0; g < GROUPS; g++) {
        __m512i w01 = _mm512_mask_blend_epi32(0xAAAA, x0[g], _mm512_slli_epi64(x1[g], 32));
        __m512i w23 = _mm512_mask_blend_epi32(0xAAAA, x2[g], _mm512_slli_epi64(x3[g], 32));
        words[2 * g] = _mm512_permutex2var_epi64(w01, first, w23);
        words[2 * g + 1] = _mm512_permutex2var_epi64(w01, second, w23);
    }
}

// Applies the multipliers of 16 words to elements e .. e + 15 of the span; `lanes` masks those
// outside 0 ..< count (all set inside the span, where plain loads and stores are used).
__attribute__((target("avx512f"), always_inline)) static inline void apply16_avx512(
    enum dropout_op op, float *out, const float *in, float *residual, long e, __mmask16 lanes, int full,
    __m512i words, const trainer_dropout_mask *mask) {
    __m512 m = _mm512_maskz_mov_ps(_mm512_cmpge_epu32_mask(words, _mm512_set1_epi32((int)mask->threshold)),
                                   _mm512_set1_ps(mask->scale));
#define LOAD(p) (full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lanes, p))
#define STORE(p, v) (full ? _mm512_storeu_ps(p, v) : _mm512_mask_storeu_ps(p, lanes, v))
    switch (op) {
    case DROPOUT_FORWARD: STORE(out + e, _mm512_mul_ps(LOAD(in + e), m)); break;
    case DROPOUT_FORWARD_RESIDUAL: STORE(out + e, _mm512_add_ps(LOAD(residual + e), _mm512_mul_ps(LOAD(in + e), m))); break;
    case DROPOUT_BACKWARD_RESIDUAL: STORE(residual + e, _mm512_add_ps(LOAD(residual + e), LOAD(in + e)));  // fall through
    case DROPOUT_BACKWARD: STORE(out + e, _mm512_add_ps(LOAD(out + e), _mm512_mul_ps(LOAD(in + e), m))); break;
    case DROPOUT_MULTIPLIERS: STORE(out + e, m); break;
    }
#undef LOAD
#undef STORE
}

static inline __mmask16 lanes16(long e, long count) {  // lanes j with 0 ≤ e + j < count
    uint32_t bits = 0xFFFF;
    if (e < 0) bits &= 0xFFFFu << (-e);
    if (e + 16 > count) bits &= count - e <= 0 ? 0 : 0xFFFFu >> (16 - (count - e));
    return (__mmask16)bits;
}

__attribute__((target("avx512f"), always_inline)) static inline void dropout_avx512(
    enum dropout_op op, float *out, const float *in, float *residual, long start, long count,
    const trainer_dropout_mask *mask) {
    const round_keys keys = make_round_keys(mask);
    // e: position in the span of the first word of a group of blocks (−3 ..< 0 at an unaligned start).
    for (long e = -(start & 3); e < count; e += 32 * GROUPS) {
        __m512i words[2 * GROUPS];
        philox_groups_avx512((uint32_t)((start + e) >> 2), mask, &keys, words);
        if (e >= 0 && e + 32 * GROUPS <= count) {
            for (int k = 0; k < 2 * GROUPS; k++) apply16_avx512(op, out, in, residual, e + 16 * k, 0xFFFF, 1, words[k], mask);
        } else {
            for (int k = 0; k < 2 * GROUPS; k++)
                apply16_avx512(op, out, in, residual, e + 16 * k, lanes16(e + 16 * k, count), 0, words[k], mask);
        }
    }
}

// AVX2: 4 blocks per vector; two vectors (8 blocks, 32 elements) per step for independent work.
__attribute__((target("avx2"), always_inline)) static inline void philox4_avx2(
    uint32_t counter, const trainer_dropout_mask *mask, const round_keys *keys, __m256i *low, __m256i *high) {
    __m256i x0 = _mm256_add_epi64(_mm256_set1_epi64x(counter), _mm256_setr_epi64x(0, 1, 2, 3));
    __m256i x1 = _mm256_set1_epi64x(mask->stream[0]), x2 = _mm256_set1_epi64x(mask->stream[1]);
    __m256i x3 = _mm256_set1_epi64x(mask->stream[2]);
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0), m1 = _mm256_set1_epi64x(PHILOX_M1);
    for (int round = 0; round < 10; round++) {
        __m256i p0 = _mm256_mul_epu32(x0, m0), p1 = _mm256_mul_epu32(x2, m1);
        x0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1), _mm256_set1_epi64x(keys->k0[round]));
        x2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3), _mm256_set1_epi64x(keys->k1[round]));
        x1 = p1, x3 = p0;
    }
    __m256i a = _mm256_blend_epi32(x0, _mm256_slli_epi64(x1, 32), 0xAA);  // (w0, w1) of blocks 0..3
    __m256i b = _mm256_blend_epi32(x2, _mm256_slli_epi64(x3, 32), 0xAA);  // (w2, w3)
    __m256i ab02 = _mm256_unpacklo_epi64(a, b), ab13 = _mm256_unpackhi_epi64(a, b);
    *low = _mm256_permute2x128_si256(ab02, ab13, 0x20);   // blocks 0, 1
    *high = _mm256_permute2x128_si256(ab02, ab13, 0x31);  // blocks 2, 3
}

__attribute__((target("avx2"), always_inline)) static inline void apply8_avx2(
    enum dropout_op op, float *out, const float *in, float *residual, long e, long count, __m256i words,
    const trainer_dropout_mask *mask) {
    // words ≥ threshold (unsigned) ⇔ max(words, threshold) == words
    __m256i keep = _mm256_cmpeq_epi32(_mm256_max_epu32(words, _mm256_set1_epi32((int)mask->threshold)), words);
    __m256 m = _mm256_and_ps(_mm256_castsi256_ps(keep), _mm256_set1_ps(mask->scale));
    if (e >= 0 && e + 8 <= count) {
        switch (op) {
        case DROPOUT_FORWARD: _mm256_storeu_ps(out + e, _mm256_mul_ps(_mm256_loadu_ps(in + e), m)); break;
        case DROPOUT_FORWARD_RESIDUAL:
            _mm256_storeu_ps(out + e, _mm256_add_ps(_mm256_loadu_ps(residual + e), _mm256_mul_ps(_mm256_loadu_ps(in + e), m)));
            break;
        case DROPOUT_BACKWARD_RESIDUAL:
            _mm256_storeu_ps(residual + e, _mm256_add_ps(_mm256_loadu_ps(residual + e), _mm256_loadu_ps(in + e)));
            // fall through
        case DROPOUT_BACKWARD:
            _mm256_storeu_ps(out + e, _mm256_add_ps(_mm256_loadu_ps(out + e), _mm256_mul_ps(_mm256_loadu_ps(in + e), m)));
            break;
        case DROPOUT_MULTIPLIERS: _mm256_storeu_ps(out + e, m); break;
        }
        return;
    }
    // A partial vector at either end of the span: the same operations, lane by lane.
    float multipliers[8];
    _mm256_storeu_ps(multipliers, m);
    for (long j = 0; j < 8; j++)
        if (e + j >= 0 && e + j < count) apply_one(op, out, in, residual, e + j, multipliers[j]);
}

__attribute__((target("avx2"), always_inline)) static inline void dropout_avx2(
    enum dropout_op op, float *out, const float *in, float *residual, long start, long count,
    const trainer_dropout_mask *mask) {
    const round_keys keys = make_round_keys(mask);
    for (long e = -(start & 3); e < count; e += 32) {
        __m256i w0, w1, w2, w3;
        uint32_t counter = (uint32_t)((start + e) >> 2);
        philox4_avx2(counter, mask, &keys, &w0, &w1);
        philox4_avx2(counter + 4, mask, &keys, &w2, &w3);
        apply8_avx2(op, out, in, residual, e, count, w0, mask);
        apply8_avx2(op, out, in, residual, e + 8, count, w1, mask);
        apply8_avx2(op, out, in, residual, e + 16, count, w2, mask);
        apply8_avx2(op, out, in, residual, e + 24, count, w3, mask);
    }
}

#define DROPOUT_ENTRY(name, op, out, in, residual)                                                        \
    __attribute__((target("avx512f"), noinline)) static void name##_avx512(                              \
        float *o, const float *i, float *r, long start, long count, const trainer_dropout_mask *mask) {  \
        dropout_avx512(op, o, i, r, start, count, mask);                                                  \
    }                                                                                                     \
    __attribute__((target("avx2"), noinline)) static void name##_avx2(                                   \
        float *o, const float *i, float *r, long start, long count, const trainer_dropout_mask *mask) {  \
        dropout_avx2(op, o, i, r, start, count, mask);                                                    \
    }
#else
#define DROPOUT_ENTRY(name, op, out, in, residual)
#endif

// ---------------------------------------------------------------------------------------------
// Entry points: one specialised copy per operation and instruction set.

#define DROPOUT_FUNCTIONS(name, op)                                                                        \
    DROPOUT_ENTRY(name, op, o, i, r)                                                                      \
    __attribute__((noinline)) static void name##_portable(                                                \
        float *o, const float *i, float *r, long start, long count, const trainer_dropout_mask *mask) {   \
        dropout_portable(op, o, i, r, start, count, mask);                                                \
    }

DROPOUT_FUNCTIONS(dropout_forward, DROPOUT_FORWARD)
DROPOUT_FUNCTIONS(dropout_forward_residual, DROPOUT_FORWARD_RESIDUAL)
DROPOUT_FUNCTIONS(dropout_backward, DROPOUT_BACKWARD)
DROPOUT_FUNCTIONS(dropout_backward_residual, DROPOUT_BACKWARD_RESIDUAL)
DROPOUT_FUNCTIONS(dropout_multipliers, DROPOUT_MULTIPLIERS)


void trainer_dropout_forward(float *out, const float *in, const float *residual, long start, long count,
                             const trainer_dropout_mask *mask) {
    if (residual) {
        DISPATCH(dropout_forward_residual, out, in, (float *)residual, start, count, mask)
    } else {
        DISPATCH(dropout_forward, out, in, NULL, start, count, mask)
    }
}

void trainer_dropout_backward(float *dinp, float *dresidual, const float *dout, long start, long count,
                              const trainer_dropout_mask *mask) {
    if (dresidual) {
        DISPATCH(dropout_backward_residual, dinp, dout, dresidual, start, count, mask)
    } else {
        DISPATCH(dropout_backward, dinp, dout, NULL, start, count, mask)
    }
}

void trainer_dropout_multipliers(float *multipliers, long start, long count, const trainer_dropout_mask *mask) {
    DISPATCH(dropout_multipliers, multipliers, NULL, NULL, start, count, mask)
}
