"""The weights of the weighted Kozachenko–Leonenko entropy estimator and the choice of its k.

:func:`wkl_weights` gives the Berrett–Samworth–Yuan weights of the 1…k-th-neighbour estimators;
:func:`choose_wkl_k` the neighbour order that keeps their norm, which multiplies the estimator's
standard deviation, small.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import gammaln

from ..validation import check_int

__all__ = ["wkl_weights", "choose_wkl_k", "WKL_MIN_K", "WKL_NORM_BOUND"]

_WEIGHT_NORM_WARN = 100.0


def wkl_weights(d: int, k: int) -> np.ndarray:
    """Berrett–Samworth–Yuan weights for the weighted Kozachenko–Leonenko estimator.

    The weights ``w`` (length ``k``) are the minimum-Euclidean-norm solution of the linear
    constraints

    * ``Σ_j w_j = 1``,
    * ``Σ_j w_j Γ(j + 2l/d) / Γ(j) = 0`` for ``l = 1, …, ⌊d/4⌋``,

    which cancel the leading ``⌊d/4⌋`` bias terms of the j-th-neighbour estimators
    (Berrett, Samworth & Yuan, *Ann. Statist.* 47(1), 2019). The system is solved with
    ``numpy.linalg.lstsq`` (SVD; the minimum-norm solution does not depend on row
    scaling). For ``d <= 3`` only the first constraint is present and the solution is the
    uniform average of the 1…k-th-neighbour estimators, which lowers the variance of the
    1-NN estimator without adding bias. Unlike the authors' code, these weights are used in
    every dimension (the reference code silently falls back to 1-NN below d = 5).

    The weights' Euclidean norm multiplies the estimator's standard deviation: it is 0.45 for
    d <= 3 and k = 5, 16 for d = 8 (the paper's 4 + 4 joint), and beyond 300 from d = 12 on,
    where a ``RuntimeWarning`` is issued (above norm 100). It falls with k (3 at k = 36 for
    d = 8): :func:`choose_wkl_k` picks the k that keeps it small.

    Raises ``ValueError`` when ``k < ⌊d/4⌋ + 1`` (fewer weights than constraints).
    """
    d = check_int(d, "d", 1)
    k = check_int(k, "k", 1)
    n_bias = d // 4
    if k < n_bias + 1:
        raise ValueError(
            f"weighted KL in d = {d} dimensions needs k >= {n_bias + 1} "
            f"(one weight per constraint: Σw = 1 and {n_bias} bias constraint(s)); got k = {k}"
        )
    j = np.arange(1, k + 1, dtype=np.float64)
    rows = [np.ones(k)]
    for l in range(1, n_bias + 1):
        rows.append(np.exp(gammaln(j + 2.0 * l / d) - gammaln(j)))
    a = np.vstack(rows)
    b = np.zeros(len(rows))
    b[0] = 1.0
    w, *_ = np.linalg.lstsq(a, b, rcond=None)
    norm = float(np.linalg.norm(w))
    if norm > _WEIGHT_NORM_WARN:
        warnings.warn(
            f"weighted KL weights for d = {d}, k = {k} have norm {norm:.3g}: the variance of the "
            "estimate is inflated by about that factor (the reported std shows it). The minimum-norm "
            "bias-cancelling weights explode for d >= 12; leave k to choose_wkl_k (k=None), use "
            "method='kl', or compress the data to fewer dimensions first.",
            RuntimeWarning,
            stacklevel=2,
        )
    return w


WKL_MIN_K = 5  # the paper's K
#: weights of Euclidean norm up to this bound are "small": the rule of :func:`choose_wkl_k`
WKL_NORM_BOUND = 3.0


def _weight_norm(d: int, k: int) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.linalg.norm(wkl_weights(d, k)))


def choose_wkl_k(n: int, d: int) -> int:
    """The neighbour order of the weighted KL estimator for ``n`` samples in ``d`` dimensions.

    Rule: the smallest ``k >= 5`` (the paper's K, and at least ``⌊d/4⌋ + 1``) whose
    minimum-norm weights (:func:`wkl_weights`) have ``‖w‖₂ <= 3`` (``WKL_NORM_BOUND``), with
    ``k`` capped at ``max(5, ⌊√n⌋)`` (and ``n - 1``): the bias of the j-th-neighbour
    estimators grows with ``k / n`` (``benchmarks/results.md``, "Notes from development"), and
    the cap keeps ``k / n <= n^{-1/2}``.

    This gives ``k = 5`` for ``d <= 7`` (norms 0.45 for d <= 3, 1.6-2.5 for d = 4..7), and
    ``k = 36, 48, 64, 83`` for ``d = 8, 9, 10, 11`` once ``√n``
    allows it (two bias constraints: the norm at k = 5 is 16 at d = 8). From ``d = 12`` on
    (three constraints) the norm falls below 3 only from ``k = 905``. Where the cap binds, the
    cap is used as long as the norm there is at most 100 (the reported std carries the
    inflation; e.g. d = 8 at n < 1296, d = 12 at n = 5000 with norm 15); beyond, where
    :func:`wkl_weights` would warn, a ``ValueError`` redirects to ``method="auto"``
    (compression first), ``method="kl"``, or an explicit ``k=``.

    Against a fixed ``k = 5``, the rule cuts the error, the spread over seeds and the reported
    std of MI and entropy estimates of Gaussians in 8 to 11 dimensions (a boundary bias, as on
    a uniform box, it leaves as it is); the measurements are in ``benchmarks/results.md``,
    "Notes from development".

    Returns
    -------
    int
    """
    n = check_int(n, "n", 2)
    d = check_int(d, "d", 1)
    k_low = max(WKL_MIN_K, d // 4 + 1)
    k_cap = min(max(k_low, math.isqrt(n)), n - 1)
    if k_cap < k_low:  # too few samples: the estimator's own check reports it
        return k_low
    lo, hi = k_low, k_cap
    if _weight_norm(d, hi) <= WKL_NORM_BOUND:
        while lo < hi:  # the norm decreases in k: bisect for the smallest admissible k
            mid = (lo + hi) // 2
            if _weight_norm(d, mid) <= WKL_NORM_BOUND:
                hi = mid
            else:
                lo = mid + 1
        return lo
    norm = _weight_norm(d, k_cap)
    if norm <= _WEIGHT_NORM_WARN:
        return k_cap
    raise ValueError(
        f"weighted KL in d = {d} dimensions with n = {n} samples: the bias-cancelling weights need k far "
        f"beyond the admissible k <= max(5, √n) = {k_cap} to stay small (norm {norm:.3g} at k = {k_cap}, "
        f"the bound is {WKL_NORM_BOUND:g}). Use method='auto' (compresses high-dimensional data first), "
        "method='kl' or 'ksg', compress the data to fewer dimensions, or pass k=... explicitly to "
        "accept the variance"
    )
