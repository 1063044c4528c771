#!/usr/bin/env python3
"""Fits the approximations of the element-wise kernels (Sources/CKernels/elementwise_body.h).

Both fits are linear least squares, reweighted by Lawson's rule towards the minimax error, on
Chebyshev nodes; coefficients are printed as C float literals, lowest power first. Needs numpy and
scipy.

exp: e^r ≈ 1 + r + r²·(c2 + c3·r + c4·r² + c5·r³) for |r| ≤ ln2/2 (after e^x = 2^n·e^r), relative
  error; 1 + r is kept exact so that e^0 = 1. About 1.1e-7 in exact arithmetic, 1.7e-7 as the
  kernel evaluates it in float.
erf: erf(x/√2) ≈ x·P(x²)/Q(x²) for 0 ≤ x ≤ 5.6 (beyond, it rounds to ±1 in float), P and Q of
  degree 5, Q(0) = 1; absolute error, linearised as f·Q − x·P = 0 weighted by the previous 1/Q.
  About 2e-8 in exact arithmetic, 3e-7 as evaluated in float (a few ulp of 1).
"""
import numpy as np
from scipy.special import erf


def chebyshev(points, low, high):
    return low + (high - low) * (1 - np.cos(np.pi * (np.arange(points) + 0.5) / points)) / 2


def lawson(matrix, target, iterations):
    """Least squares of matrix·c ≈ target, reweighted towards the smallest maximum error."""
    weights, best = np.ones(len(target)), None
    for _ in range(iterations):
        row_scale = np.sqrt(weights)
        solution, *_ = np.linalg.lstsq(matrix * row_scale[:, None], target * row_scale, rcond=None)
        error = matrix @ solution - target
        if best is None or np.abs(error).max() < best[0]:
            best = (np.abs(error).max(), solution)
        weights = weights * (np.abs(error) + 1e-300)
        weights /= weights.sum()
    return best


def fit_exp():
    half = np.log(2) / 2 * 1.0005  # |r| can exceed ln2/2 by a rounding
    r = chebyshev(4000, -half, half)
    e = np.exp(r)
    # relative error (1 + r + r²·Σ c_k r^(k−2) − e^r) / e^r, linear in the c_k
    matrix = np.stack([r**2 * r**j / e for j in range(4)], axis=1)
    return lawson(matrix, (e - 1 - r) / e, 200)


def fit_erf(limit=5.6, p_degree=5, q_degree=5):
    x = chebyshev(4000, 0, limit)
    f, s = erf(x / np.sqrt(2)), x * x
    weights, previous_q, best = np.ones(len(x)), np.ones(len(x)), None
    for _ in range(60):
        columns = [-x * s**j for j in range(p_degree + 1)] + [f * s**j for j in range(1, q_degree + 1)]
        row_scale = np.sqrt(weights) / np.abs(previous_q)
        solution, *_ = np.linalg.lstsq(np.stack(columns, axis=1) * row_scale[:, None], -f * row_scale, rcond=None)
        p, q = solution[:p_degree + 1], np.concatenate([[1.0], solution[p_degree + 1:]])
        previous_q = np.polyval(q[::-1], s)
        error = x * np.polyval(p[::-1], s) / previous_q - f
        if best is None or np.abs(error).max() < best[0]:
            best = (np.abs(error).max(), p, q)
        weights = weights * (np.abs(error) + 1e-30)
        weights /= weights.sum()
    return best


def literals(values):
    return ", ".join("%.9ef" % v for v in np.asarray(values, dtype=np.float32))


if __name__ == "__main__":
    error, c = fit_exp()
    print("exp: max relative error in double %.3g" % error)
    print("  c2..c5:", literals(c))
    error, p, q = fit_erf()
    print("erf(x/√2): max |error| in double %.3g" % error)
    print("  P:", literals(p))
    print("  Q:", literals(q))
