// The element-wise kernels, written once over the small vector vocabulary of vector_*.h and compiled
// three times (elementwise_avx512.c, elementwise_avx2.c, elementwise_portable.c); elementwise.c picks
// one at run time. Every path performs the same IEEE operations in the same order on every element
// (fused multiply-adds where written, never contracted elsewhere), and every reduction uses the same
// 32 partial sums in the same tree, so all three give bit-identical results: the choice of path,
// like the thread count, never changes a training run.
//
// Why the kernels are fast: one pass over memory per input where the maths allows, vectors the
// width of the machine, fused multiply-adds in the polynomials, at most one division per element,
// and transcendental functions rewritten to share work (see each kernel).

#include <math.h>

#define INLINE static inline __attribute__((always_inline))

// ---------------------------------------------------------------------------------------------
// e^x

// e^x, 0 below -87.3 (never a denormal), NaN for NaN; about 2 ulp. Cody and Waite's reduction
// x = n·ln2 + r, |r| ≤ ln2/2 (ln2 in two parts, so that n·ln2_high is exact), then
// e^r ≈ 1 + r + r²·(c2 + c3·r + c4·r² + c5·r³), a fit (launch/reference/fit_elementwise.py) with
// relative error 1.1e-7, two terms shorter than Cephes' expf for 20–30% more throughput in the
// kernels that are bound by it (softmax, tanh GELU); 2^n goes straight into the exponent field.
// Inputs below -87.3 need no clamp: whatever their garbage, the final select replaces it by 0.
// Inputs above 88 (e^88 ≈ 1.65e38) would overflow the exponent field, so callers that can pass them
// set `clampHigh` (softmax, whose inputs are x − max ≤ 0, does not).
INLINE vf v_exp(vf x, int clampHigh) {
    const vf low = v_set(-87.3f), magic = v_set(12582912.0f);  // 1.5·2^23
    vf clamped = clampHigh ? v_min(v_set(88.0f), x) : x;        // NaN passes through
    // x·log2(e) + 1.5·2^23 in one rounding rounds x·log2(e) to the nearest integer n, which then sits
    // in the low mantissa bits of `shifted`.
    vf shifted = v_fma(clamped, v_set(1.44269504088896341f), magic);
    vf n = v_sub(shifted, magic);
    vf r = v_fma(n, v_set(-0.693359375f), clamped);  // ln2 in two parts: n·ln2_high is exact
    r = v_fma(n, v_set(2.12194440e-4f), r);
    vf r2 = v_mul(r, r);  // the polynomial in Estrin's scheme: pairs, then r²
    vf c54 = v_fma(v_set(8.312501013e-03f), r, v_set(4.189033061e-02f));
    vf c32 = v_fma(v_set(1.666711569e-01f), r, v_set(4.999923110e-01f));
    vf p = v_add(v_fma(v_fma(c54, r2, c32), r2, r), v_set(1.0f));
    return v_select(v_less(x, low), v_zero(), v_mul(p, v_pow2(shifted)));
}

// out[i] = e^in[i], for tests of v_exp.
void KERNEL(trainer_exp)(float *out, const float *in, long n) {
    long i = 0;
    for (; i + LANES <= n; i += LANES) v_store(out + i, v_exp(v_load(in + i), 1));
    if (i < n) v_store_n(out + i, v_exp(v_load_n(in + i, n - i, v_zero()), 1), n - i);
}

// ---------------------------------------------------------------------------------------------
// GELU

// GELU tanh, 0.5·x·(1 + tanh(u)) with u = √(2/π)(x + 0.044715x³), is exactly x·σ(2u) = x / (1 + e)
// with e = e^(-2u): one exponential and one division, no tanh, and no cancellation in 1 + tanh for
// negative x.
INLINE vf gelu_tanh_exp(vf x) {  // e^(-2u) = e^(x·(c0 + c1·x²))
    vf a = v_fma(v_mul(x, x), v_set(-0.0713548162726002527f), v_set(-1.59576912160573071f));
    return v_exp(v_mul(x, a), 1);  // large for x ≪ 0
}

INLINE vf gelu_tanh(vf x) {
    return v_div(x, v_add(v_set(1.0f), gelu_tanh_exp(x)));
}

// d/dx x·σ(2u) = s + 2x·u'·e·s² with s = σ(2u) = 1 / (1 + e), since σ(1 − σ) = e·s².
INLINE vf gelu_tanh_derivative(vf x) {
    vf e = gelu_tanh_exp(x);
    vf s = v_div(v_set(1.0f), v_add(v_set(1.0f), e));
    vf twoDu = v_fma(v_mul(x, x), v_set(0.214064448817800755f), v_set(1.59576912160573071f));  // 2u'
    return v_fma(v_mul(x, twoDu), v_mul(v_mul(e, s), s), s);
}

// Exact GELU x·Φ(x) = ½x·(1 + erf(x/√2)), with erf(x/√2) = x·P(x²)/Q(x²) for |x| < 5.6 and ±1
// beyond: a rational fit of degree 5/5 (launch/reference/fit_elementwise.py; error 2e-8 in exact
// arithmetic, about 3e-7 as evaluated here, which keeps GELU within 1e-6 of exact). Ten fused
// multiply-adds and one division, no exponential: half the work of an erfc-through-exp formula.
INLINE vf erf_scaled(vf x) {  // erf(x/√2)
    vf s = v_mul(x, x);
    vf p = v_set(4.429061562e-08f), q = v_set(1.180222625e-06f);  // two independent chains
    p = v_fma(p, s, v_set(1.271335896e-05f));
    q = v_fma(q, s, v_set(7.510515570e-05f));
    p = v_fma(p, s, v_set(3.477190330e-04f));
    q = v_fma(q, s, v_set(1.913029235e-03f));
    p = v_fma(p, s, v_set(9.414633736e-03f));
    q = v_fma(q, s, v_set(2.894054540e-02f));
    p = v_fma(p, s, v_set(6.875371933e-02f));
    q = v_fma(q, s, v_set(2.528357208e-01f));
    p = v_fma(p, s, v_set(7.978844643e-01f));
    q = v_fma(q, s, v_set(1.0f));
    // Rounding can take the ratio a few ulp past ±1 near the ends; clamped, Φ stays in [0, 1] and
    // GELU keeps the sign of x. NaN passes through the clamp, and then takes the saturated branch
    // (the sum with ½x keeps it NaN).
    vf ratio = v_min(v_set(1.0f), v_max(v_set(-1.0f), v_div(v_mul(x, p), q)));
    vf saturated = v_select(v_less(x, v_zero()), v_set(-1.0f), v_set(1.0f));
    return v_select(v_less(v_abs(x), v_set(5.6f)), ratio, saturated);
}

INLINE vf gelu_exact(vf x) {
    vf half = v_mul(x, v_set(0.5f));
    return v_fma(half, erf_scaled(x), half);
}

// d/dx x·Φ(x) = Φ(x) + x·φ(x), with the density φ = e^(−x²/2)/√(2π).
INLINE vf gelu_exact_derivative(vf x) {
    vf cdf = v_fma(erf_scaled(x), v_set(0.5f), v_set(0.5f));
    vf pdf = v_mul(v_exp(v_mul(v_mul(x, x), v_set(-0.5f)), 0), v_set(0.398942280401432678f));
    return v_fma(x, pdf, cdf);
}

INLINE vf gelu(vf x, int exact) { return exact ? gelu_exact(x) : gelu_tanh(x); }
INLINE vf gelu_derivative(vf x, int exact) { return exact ? gelu_exact_derivative(x) : gelu_tanh_derivative(x); }

// out[i] = gelu(in[i] + bias[i]) (bias may be NULL: none; out may be in). `exact` is hoisted out of
// the loop by the compiler (the function is specialised for each value).
INLINE void gelu_forward_span(float *out, const float *in, const float *bias, long n, int exact) {
    long i = 0;
    // Two vectors per iteration: their dependency chains (a division, a polynomial, an exponential)
    // interleave; measured about 10% faster than one.
    for (; i + 2 * LANES <= n; i += 2 * LANES) {
        vf x0 = v_load(in + i), x1 = v_load(in + i + LANES);
        if (bias) x0 = v_add(x0, v_load(bias + i)), x1 = v_add(x1, v_load(bias + i + LANES));
        v_store(out + i, gelu(x0, exact));
        v_store(out + i + LANES, gelu(x1, exact));
    }
    for (; i + LANES <= n; i += LANES) {
        vf x = v_load(in + i);
        if (bias) x = v_add(x, v_load(bias + i));
        v_store(out + i, gelu(x, exact));
    }
    if (i < n) {
        vf x = v_load_n(in + i, n - i, v_zero());
        if (bias) x = v_add(x, v_load_n(bias + i, n - i, v_zero()));
        v_store_n(out + i, gelu(x, exact), n - i);
    }
}

void KERNEL(trainer_gelu_forward)(float *out, const float *in, const float *bias, long n, int exact) {
    if (exact) gelu_forward_span(out, in, bias, n, 1);
    else gelu_forward_span(out, in, bias, n, 0);
}

// g = gelu'(x + bias)·dout; dinp += g; dbias += g (dbias, bias may be NULL). The product is rounded
// before each sum, so the result equals the unfused kernels run one after the other.
INLINE void gelu_backward_span(float *dinp, float *dbias, const float *dout, const float *inp, const float *bias,
                               long n, int exact) {
    long i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES) {  // two at a time, as in the forward pass
        vf x0 = v_load(inp + i), x1 = v_load(inp + i + LANES);
        if (bias) x0 = v_add(x0, v_load(bias + i)), x1 = v_add(x1, v_load(bias + i + LANES));
        vf g0 = v_mul(gelu_derivative(x0, exact), v_load(dout + i));
        vf g1 = v_mul(gelu_derivative(x1, exact), v_load(dout + i + LANES));
        v_store(dinp + i, v_add(v_load(dinp + i), g0));
        v_store(dinp + i + LANES, v_add(v_load(dinp + i + LANES), g1));
        if (dbias) {
            v_store(dbias + i, v_add(v_load(dbias + i), g0));
            v_store(dbias + i + LANES, v_add(v_load(dbias + i + LANES), g1));
        }
    }
    for (; i + LANES <= n; i += LANES) {
        vf x = v_load(inp + i);
        if (bias) x = v_add(x, v_load(bias + i));
        vf g = v_mul(gelu_derivative(x, exact), v_load(dout + i));
        v_store(dinp + i, v_add(v_load(dinp + i), g));
        if (dbias) v_store(dbias + i, v_add(v_load(dbias + i), g));
    }
    if (i < n) {
        long rest = n - i;
        vf x = v_load_n(inp + i, rest, v_zero());
        if (bias) x = v_add(x, v_load_n(bias + i, rest, v_zero()));
        vf g = v_mul(gelu_derivative(x, exact), v_load_n(dout + i, rest, v_zero()));
        v_store_n(dinp + i, v_add(v_load_n(dinp + i, rest, v_zero()), g), rest);
        if (dbias) v_store_n(dbias + i, v_add(v_load_n(dbias + i, rest, v_zero()), g), rest);
    }
}

void KERNEL(trainer_gelu_backward)(float *dinp, float *dbias, const float *dout, const float *inp,
                                   const float *bias, long n, int exact) {
    if (exact) gelu_backward_span(dinp, dbias, dout, inp, bias, n, 1);
    else gelu_backward_span(dinp, dbias, dout, inp, bias, n, 0);
}

// ---------------------------------------------------------------------------------------------
// Fixed-order reductions: element i goes to partial sum (slot) i mod 32, each slot adds its
// elements in index order, and the 32 slots are combined by v_tree_sum. Lanes beyond n add zero.

#define SLOTS 32

// Σ x[i]
INLINE float sum_slots(const float *x, long n) {
    vf acc[SLOT_VECTORS];
    for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_zero();
    long i = 0;
    for (; i + SLOTS <= n; i += SLOTS)
        for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_add(acc[k], v_load(x + i + k * LANES));
    if (i < n)
        for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_add(acc[k], v_load_n(x + i + k * LANES, n - i - k * LANES, v_zero()));
    return v_tree_sum(acc);
}

// Σ (x[i] − m)²
INLINE float squares_slots(const float *x, float m, long n) {
    vf acc[SLOT_VECTORS];
    for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_zero();
    const vf mv = v_set(m);
    long i = 0;
    for (; i + SLOTS <= n; i += SLOTS)
        for (int k = 0; k < SLOT_VECTORS; k++) {
            vf d = v_sub(v_load(x + i + k * LANES), mv);
            acc[k] = v_fma(d, d, acc[k]);
        }
    if (i < n)
        for (int k = 0; k < SLOT_VECTORS; k++) {
            vf d = v_sub(v_load_n(x + i + k * LANES, n - i - k * LANES, mv), mv);  // absent lanes: 0
            acc[k] = v_fma(d, d, acc[k]);
        }
    return v_tree_sum(acc);
}

// Σ x[i]·y[i]
INLINE float dot_slots(const float *x, const float *y, long n) {
    vf acc[SLOT_VECTORS];
    for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_zero();
    long i = 0;
    for (; i + SLOTS <= n; i += SLOTS)
        for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_fma(v_load(x + i + k * LANES), v_load(y + i + k * LANES), acc[k]);
    if (i < n)
        for (int k = 0; k < SLOT_VECTORS; k++) {
            long rest = n - i - k * LANES;
            acc[k] = v_fma(v_load_n(x + i + k * LANES, rest, v_zero()), v_load_n(y + i + k * LANES, rest, v_zero()), acc[k]);
        }
    return v_tree_sum(acc);
}

// max x[i] (−∞ for none)
INLINE float max_slots(const float *x, long n) {
    const vf none = v_set(-INFINITY);
    vf acc[SLOT_VECTORS];
    for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = none;
    long i = 0;
    for (; i + SLOTS <= n; i += SLOTS)
        for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_max(v_load(x + i + k * LANES), acc[k]);
    if (i < n)
        for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_max(v_load_n(x + i + k * LANES, n - i - k * LANES, none), acc[k]);
    return v_tree_max(acc);
}

// y[i] = e^(x[i] − m) (0 where x is −∞), summed in slots (y may be x).
INLINE float exp_sum_slots(float *y, const float *x, float m, long n) {
    const vf mv = v_set(m);
    vf acc[SLOT_VECTORS];
    for (int k = 0; k < SLOT_VECTORS; k++) acc[k] = v_zero();
    long i = 0;
    for (; i + SLOTS <= n; i += SLOTS)
        for (int k = 0; k < SLOT_VECTORS; k++) {
            vf e = v_exp(v_sub(v_load(x + i + k * LANES), mv), 0);
            v_store(y + i + k * LANES, e);
            acc[k] = v_add(acc[k], e);
        }
    if (i < n)
        for (int k = 0; k < SLOT_VECTORS; k++) {
            long rest = n - i - k * LANES;
            vf e = v_exp(v_sub(v_load_n(x + i + k * LANES, rest, v_set(-INFINITY)), mv), 0);  // absent lanes: 0
            v_store_n(y + i + k * LANES, e, rest);
            acc[k] = v_add(acc[k], e);
        }
    return v_tree_sum(acc);
}

// ---------------------------------------------------------------------------------------------
// Softmax

// Each row: its maximum, e^(x − max) written to out while summed in slots, then out ·= 1/sum.
// The row (256 floats in attention) stays in L1 between the passes. maximum/sum (may be NULL)
// receive each row's max and Σ e^(x − max), from which cross-entropy takes the log-partition.
void KERNEL(trainer_softmax_forward)(float *out, const float *in, long rows, long columns, float *maximum, float *sum) {
    for (long r = 0; r < rows; r++) {
        const float *x = in + r * columns;
        float *y = out + r * columns;
        const long n = columns;
        const float m = max_slots(x, n);
        const float s = exp_sum_slots(y, x, m, n);
        const vf inverse = v_set(1.0f / s);
        long i = 0;
        for (; i + LANES <= n; i += LANES) v_store(y + i, v_mul(v_load(y + i), inverse));
        if (i < n) v_store_n(y + i, v_mul(v_load_n(y + i, n - i, v_zero()), inverse), n - i);
        if (maximum) maximum[r] = m;
        if (sum) sum[r] = s;
    }
}

// dinp += y ⊙ (dout − Σ_j y_j·dout_j) per row.
void KERNEL(trainer_softmax_backward)(float *dinp, const float *dout, const float *out, long rows, long columns) {
    for (long r = 0; r < rows; r++) {
        const float *y = out + r * columns, *dy = dout + r * columns;
        float *dx = dinp + r * columns;
        const long n = columns;
        const vf dot = v_set(dot_slots(y, dy, n));
        long i = 0;
        for (; i + LANES <= n; i += LANES)
            v_store(dx + i, v_fma(v_load(y + i), v_sub(v_load(dy + i), dot), v_load(dx + i)));
        if (i < n) {  // the same operations on the last, partial vector
            long rest = n - i;
            vf g = v_sub(v_load_n(dy + i, rest, v_zero()), dot);
            v_store_n(dx + i, v_fma(v_load_n(y + i, rest, v_zero()), g, v_load_n(dx + i, rest, v_zero())), rest);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Layer norm

// Each row: mean (slots), variance Σ(x − mean)² (slots, a second pass over the row while it is in
// L1: no cancellation), then y = (x − mean)·s·w + b with one fused multiply-add.
void KERNEL(trainer_layernorm_forward)(float *out, float *mean, float *rstd, const float *in, const float *weight,
                                       const float *bias, long rows, long channels, float epsilon) {
    const long C = channels;
    for (long r = 0; r < rows; r++) {
        const float *x = in + r * C;
        float *y = out + r * C;
        const float m = sum_slots(x, C) / (float)C;
        const float s = 1.0f / sqrtf(squares_slots(x, m, C) / (float)C + epsilon);
        const vf mv = v_set(m), sv = v_set(s);
        long i = 0;
        for (; i + LANES <= C; i += LANES) {
            vf xhat = v_mul(v_sub(v_load(x + i), mv), sv);
            v_store(y + i, v_fma(xhat, v_load(weight + i), v_load(bias + i)));
        }
        if (i < C) {
            long rest = C - i;
            vf xhat = v_mul(v_sub(v_load_n(x + i, rest, v_zero()), mv), sv);
            v_store_n(y + i, v_fma(xhat, v_load_n(weight + i, rest, v_zero()), v_load_n(bias + i, rest, v_zero())), rest);
        }
        mean[r] = m;
        rstd[r] = s;
    }
}

// One group of LANES channels of a layer-norm backward row, pass 1: the row sums and the parameter
// gradients. `rest` channels remain from j; `full` (a constant at each call) says rest ≥ LANES.
// Absent lanes load dout = 0, so they add nothing anywhere.
INLINE void layernorm_backward_sums(vf *accG, vf *accGX, float *dweight, float *dbias, const float *x, const float *dy,
                                    const float *weight, vf mv, vf sv, long j, long rest, int full) {
    vf xhat = v_mul(v_sub(full ? v_load(x + j) : v_load_n(x + j, rest, v_zero()), mv), sv);
    vf d = full ? v_load(dy + j) : v_load_n(dy + j, rest, v_zero());
    vf g = v_mul(d, full ? v_load(weight + j) : v_load_n(weight + j, rest, v_zero()));
    *accG = v_add(*accG, g);
    *accGX = v_fma(g, xhat, *accGX);
    if (full) {
        v_store(dweight + j, v_fma(d, xhat, v_load(dweight + j)));
        v_store(dbias + j, v_add(v_load(dbias + j), d));
    } else if (rest > 0) {
        v_store_n(dweight + j, v_fma(d, xhat, v_load_n(dweight + j, rest, v_zero())), rest);
        v_store_n(dbias + j, v_add(v_load_n(dbias + j, rest, v_zero()), d), rest);
    }
}

// Pass 2 on one group: dinp += s·(g − mean(g) − x̂·mean(g·x̂)).
INLINE void layernorm_backward_input(float *dx, const float *x, const float *dy, const float *weight, vf mv, vf sv,
                                     vf meanG, vf meanGX, long j, long rest, int full) {
    vf xhat = v_mul(v_sub(full ? v_load(x + j) : v_load_n(x + j, rest, v_zero()), mv), sv);
    vf g = v_mul(full ? v_load(dy + j) : v_load_n(dy + j, rest, v_zero()),
                 full ? v_load(weight + j) : v_load_n(weight + j, rest, v_zero()));
    vf v = v_sub(v_sub(g, meanG), v_mul(xhat, meanGX));
    if (full) v_store(dx + j, v_fma(sv, v, v_load(dx + j)));
    else v_store_n(dx + j, v_fma(sv, v, v_load_n(dx + j, rest, v_zero())), rest);
}

// For each row: with x̂ = (x − mean)·s and g = dout·w, dinp += s·(g − mean(g) − x̂·mean(g·x̂)), and
// the row's dout·x̂ and dout are added into dweight and dbias (the caller's partial sums for a
// block of rows). Pass 1 reads x and dout once for both row sums and both parameter gradients;
// pass 2 reads them again from L1.
void KERNEL(trainer_layernorm_backward)(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                        const float *weight, const float *mean, const float *rstd, long rows, long channels) {
    const long C = channels;
    for (long r = 0; r < rows; r++) {
        const float *x = inp + r * C, *dy = dout + r * C;
        float *dx = dinp + r * C;
        const vf mv = v_set(mean[r]), sv = v_set(rstd[r]);
        vf accG[SLOT_VECTORS], accGX[SLOT_VECTORS];
        for (int k = 0; k < SLOT_VECTORS; k++) accG[k] = accGX[k] = v_zero();
        long i = 0;
        for (; i + SLOTS <= C; i += SLOTS)
            for (int k = 0; k < SLOT_VECTORS; k++)
                layernorm_backward_sums(&accG[k], &accGX[k], dweight, dbias, x, dy, weight, mv, sv, i + k * LANES, LANES, 1);
        if (i < C)
            for (int k = 0; k < SLOT_VECTORS; k++)
                layernorm_backward_sums(&accG[k], &accGX[k], dweight, dbias, x, dy, weight, mv, sv, i + k * LANES,
                                        C - i - k * LANES, 0);
        const vf meanG = v_set(v_tree_sum(accG) / (float)C);
        const vf meanGX = v_set(v_tree_sum(accGX) / (float)C);
        for (i = 0; i + LANES <= C; i += LANES) layernorm_backward_input(dx, x, dy, weight, mv, sv, meanG, meanGX, i, LANES, 1);
        if (i < C) layernorm_backward_input(dx, x, dy, weight, mv, sv, meanG, meanGX, i, C - i, 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Tiled attention (FlashAttention.swift): one row of a score tile at a time, `total` keys of
// which the first `visible` are not hidden by the causal mask or the query's padding.

// s[j] ·= scale for j < visible (−∞ where keyMask[j] == 0, when there is a key mask), and
// s[j] = −∞ for visible ≤ j < total.
INLINE void flash_mask_scale(float *s, long visible, long total, float scale, const unsigned char *keyMask) {
    const vf sv = v_set(scale);
    long i = 0;
    for (; i + LANES <= visible; i += LANES) v_store(s + i, v_mul(v_load(s + i), sv));
    if (i < visible) v_store_n(s + i, v_mul(v_load_n(s + i, visible - i, v_zero()), sv), visible - i);
    if (keyMask)
        for (long j = 0; j < visible; j++)
            if (!keyMask[j]) s[j] = -INFINITY;
    for (long j = visible; j < total; j++) s[j] = -INFINITY;
}

// Forward: masks and scales the row's scores s, sets *maximum = max(previous, its largest score),
// writes p[j] = e^(s[j] − *maximum) and returns Σ p. A row with no visible score and no previous
// maximum (−∞) gets p = 0 and returns 0.
float KERNEL(trainer_flash_forward_row)(float *p, float *s, long visible, long total, float scale,
                                        const unsigned char *keyMask, float previous, float *maximum) {
    flash_mask_scale(s, visible, total, scale, keyMask);
    const float largest = max_slots(s, visible), m = largest > previous ? largest : previous;
    *maximum = m;
    if (m == -INFINITY) {
        for (long j = 0; j < total; j++) p[j] = 0;
        return 0;
    }
    return exp_sum_slots(p, s, m, total);
}

// Backward: the row's probabilities recomputed in place, s[j] = e^(scale·s[j] − logSumExp)
// (0 where hidden, and everywhere for a query that sees no key, whose logSumExp is +∞).
void KERNEL(trainer_flash_probabilities_row)(float *s, long visible, long total, float scale,
                                             const unsigned char *keyMask, float logSumExp) {
    flash_mask_scale(s, visible, total, scale, keyMask);
    if (logSumExp == INFINITY) {
        for (long j = 0; j < total; j++) s[j] = 0;
        return;
    }
    (void)exp_sum_slots(s, s, logSumExp, total);
}

// Backward: ds[j] = scale·p[j]·(g[j] − d), the score gradient of a softmax row with D = d.
void KERNEL(trainer_flash_score_gradient_row)(float *ds, const float *p, const float *g, float d, float scale, long n) {
    const vf dv = v_set(d), sv = v_set(scale);
    long i = 0;
    for (; i + LANES <= n; i += LANES) v_store(ds + i, v_mul(v_mul(v_load(p + i), sv), v_sub(v_load(g + i), dv)));
    if (i < n) {
        long rest = n - i;
        v_store_n(ds + i, v_mul(v_mul(v_load_n(p + i, rest, v_zero()), sv), v_sub(v_load_n(g + i, rest, v_zero()), dv)), rest);
    }
}
