"""Gaussian kernel density kernels and the bandwidth search (maximum likelihood, least squares).

Everything here works on (already whitened) samples ``z`` of shape (n, d) and on
``t = log b``, the log-bandwidth. One kernel, :func:`kernel_pass`, streams over row blocks of
the pair matrix (memory bounded by the block size, never n × n) and, for several kernel
widths in the same pass, returns per-point leave-one-out log kernel sums and the
kernel-weighted mean squared distance. Both bandwidth criteria and their derivatives in
``t`` follow in closed form, so the search is a bracketing grid (seven widths per pass)
followed by Brent's root finder on the exact derivative.

The leave-one-out pass evaluates each unordered pair once, writing
``exp(-c‖z_i - z_j‖²) = exp(-c‖z_i‖²) · exp(c (2 z_i·z_j - ‖z_j‖²))`` so that one fused matrix
product gives the exponents and a weighted column sum gives the transposed contributions;
it is used whenever no factor can overflow or underflow, otherwise rows are shifted by
their own maximum (log-sum-exp) before ``exp``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from .device import resolve_device

__all__ = ["kernel_pass", "select_bandwidth", "loo_log_density", "log_density", "silverman_log_bandwidth"]

_LOG_2PI = math.log(2.0 * math.pi)
_BLOCK_ELEMENTS = 2**20  # float64 elements per block of the pair matrix (8 MiB)
# exp(x) is a normal float64 for |x| < 708; keep a margin for the sums.
_SAFE_EXPONENT = 600.0


@dataclass
class PassResult:
    """Per-point results of :func:`kernel_pass` for M kernel widths: arrays of shape (n, M)."""

    log_sum: np.ndarray  # log Σ_{j≠i} exp(-c_m ‖z_i - z_j‖²)
    mean_d2: np.ndarray | None  # kernel-weighted mean of ‖z_i - z_j‖²


def _blocks(m: int, n: int):
    step = max(1, min(m, _BLOCK_ELEMENTS // max(n, 1)))
    return [(i0, min(i0 + step, m)) for i0 in range(0, m, step)]


def kernel_pass(z: np.ndarray, coefs, *, queries: np.ndarray | None = None, moments: bool = False,
                device="auto", nn_sq: np.ndarray | None = None) -> PassResult:
    """One streamed pass over all pairs for the kernel weights ``exp(-c · ‖z_i - z_j‖²)``.

    Parameters
    ----------
    z : ndarray (n, d)
        Reference samples.
    coefs : sequence of M positive floats
        Kernel coefficients ``c = 1 / (2 b²)`` (``1 / (4 b²)`` for the convolution term).
    queries : ndarray (m, d), optional
        Evaluate at these points against all of ``z``; ``None`` evaluates at ``z`` itself,
        leaving each point out of its own sum.
    moments : bool
        Also return the kernel-weighted mean of ``‖z_i - z_j‖²`` (for derivatives in ``t``).
    nn_sq : ndarray (n,), optional
        Squared leave-one-out nearest-neighbour distances of ``z``. They certify that no
        row sum can underflow, which allows the symmetric leave-one-out path (each unordered
        pair evaluated once). Without them every row is shifted by its own maximum.

    Returns
    -------
    PassResult with arrays of shape (m, M).
    """
    import torch

    dev = resolve_device(device)
    coefs = [float(c) for c in coefs]
    with torch.no_grad():
        ref = torch.as_tensor(z, dtype=torch.float64, device=dev)
        if queries is None and nn_sq is not None:
            z_sq_max = float((ref * ref).sum(1).max())
            reach = max(z_sq_max, float(np.max(nn_sq)))
            if max(coefs) * reach < _SAFE_EXPONENT:
                out = _symmetric_pass(ref, coefs, moments)
                return PassResult(*(o.cpu().numpy() if o is not None else None for o in out))
        q = ref if queries is None else torch.as_tensor(queries, dtype=torch.float64, device=dev)
        out = _shifted_pass(ref, q, coefs, moments, loo=queries is None)
        return PassResult(*(o.cpu().numpy() if o is not None else None for o in out))


def _shifted_pass(ref, q, coefs, moments, loo):
    """Row-wise log-sum-exp, each row shifted by its maximum: safe for any width."""
    import torch

    m, n = len(q), len(ref)
    dev = ref.device
    log_sum = torch.empty((m, len(coefs)), dtype=torch.float64, device=dev)
    mean_d2 = torch.empty_like(log_sum) if moments else None
    r_sq = (ref * ref).sum(1)
    q_sq = (q * q).sum(1)
    for i0, i1 in _blocks(m, n):
        d2 = torch.addmm(q_sq[i0:i1, None] + r_sq[None, :], q[i0:i1], ref.T, alpha=-2.0).clamp_min_(0.0)
        rows = torch.arange(i1 - i0, device=dev)
        for j, c in enumerate(coefs):
            a = d2 * (-c)
            if loo:
                a[rows, rows + i0] = -math.inf
            top = a.max(dim=1, keepdim=True).values
            w = torch.exp_(a.sub_(top))
            s0 = w.sum(1)
            log_sum[i0:i1, j] = torch.log(s0) + top[:, 0]
            if moments:
                mean_d2[i0:i1, j] = (w.mul_(d2)).sum(1) / s0
    return log_sum, mean_d2


def _symmetric_pass(ref, coefs, moments):
    """Leave-one-out sums with each unordered pair evaluated once.

    With ``base_ij = 2 z_i·z_j - ‖z_j‖²`` one has ``exp(-c d²_ij) = exp(-c‖z_i‖²) exp(c base_ij)``.
    Row block I is compared with the strip of columns j >= start(I): ``W = exp(c · base)``
    gives the rows' sums scaled by ``exp(c‖z_i‖²)``, and a weighted column sum ``vᵀW`` with
    ``v_i = exp(-c‖z_i‖²)`` gives the later columns' share. Accumulators hold every sum
    scaled by ``exp(c‖z_i‖²)``; the caller has checked that ``c · max(‖z‖², nn²) < 600``, so
    no factor overflows and no row sum underflows.
    """
    import torch

    n = len(ref)
    dev = ref.device
    z_sq = (ref * ref).sum(1)
    n_c = len(coefs)
    acc0 = torch.zeros((n, n_c), dtype=torch.float64, device=dev)
    acc1 = torch.zeros_like(acc0) if moments else None
    for i0, i1 in _blocks(n, n // 2 + 1):
        strip = ref[i0:]
        base = torch.addmm(z_sq[None, i0:], ref[i0:i1], strip.T, beta=-1.0, alpha=2.0)
        rows = torch.arange(i1 - i0, device=dev)
        tail = i1 - i0  # strip columns beyond the diagonal block
        qs = z_sq[i0:i1]
        for j, c in enumerate(coefs):
            w = torch.exp(base * c)
            w[rows, rows] = 0.0
            v = torch.exp(qs * (-c))
            scale_cols = torch.exp(z_sq[i1:] * c)
            acc0[i0:i1, j] += w.sum(1)
            acc0[i1:, j] += (v @ w[:, tail:]) * scale_cols
            if moments:
                # Σ w d² with d²_ij = ‖z_i‖² - base_ij (rows) and the same weights for columns
                wb = w * base
                acc1[i0:i1, j] += qs * w.sum(1) - wb.sum(1)
                acc1[i1:, j] += ((v * qs) @ w[:, tail:] - v @ wb[:, tail:]) * scale_cols
    c_t = torch.tensor(coefs, dtype=torch.float64, device=dev)
    log_sum = torch.log(acc0) - z_sq[:, None] * c_t[None, :]
    mean_d2 = (acc1 / acc0).clamp_min_(0.0) if moments else None
    return log_sum, mean_d2


def silverman_log_bandwidth(n: int, d: int, scale: float = 1.0) -> float:
    """log of Silverman's rule-of-thumb bandwidth for a Gaussian of per-axis std ``scale``."""
    return math.log(scale) + math.log(4.0 / (d + 2)) / (d + 4) - math.log(n) / (d + 4)


def loo_log_density(log_sum: np.ndarray, n: int, d: int, t: float) -> np.ndarray:
    """Leave-one-out Gaussian-KDE log-density at each sample from its log kernel sum."""
    return log_sum - math.log(n - 1) - 0.5 * d * _LOG_2PI - d * t


def log_density(z: np.ndarray, queries: np.ndarray, t: float, *, device="auto") -> np.ndarray:
    """Gaussian-KDE log-density (nats) of ``queries`` (m, d) from reference samples ``z`` (n, d)."""
    n, d = z.shape
    res = kernel_pass(z, [0.5 * math.exp(-2.0 * t)], queries=queries, device=device)
    return res.log_sum[:, 0] - math.log(n) - 0.5 * d * _LOG_2PI - d * t


# ----------------------------------------------------------------------------------------
# Bandwidth criteria, to be minimised over t = log b. ``_criteria`` evaluates, for several t in
# one pass, the criterion, its derivative in t, and the LOO log-density at each t.


def _coefs(kind: str, ts) -> list[float]:
    out = []
    for t in ts:
        c = 0.5 * math.exp(-2.0 * t)  # kernel N(0, b²): exp(-d²/(2b²))
        out += [c] if kind == "ml" else [c, 0.5 * c]  # LSE also needs N(0, 2b²)
    return out


def _criteria(z, ts, kind, device, nn_sq):
    """Returns (values, derivatives, logf list) for each t in ``ts``."""
    n, d = z.shape
    res = kernel_pass(z, _coefs(kind, ts), moments=True, device=device, nn_sq=nn_sq)
    vals, grads, logfs = [], [], []
    for j, t in enumerate(ts):
        scale = math.exp(-2.0 * t)  # a = d² / b², da/dt = -2a
        if kind == "ml":
            logf = loo_log_density(res.log_sum[:, j], n, d, t)
            # d/dt log Σ exp(-a/2) = E[a]; minimise -LL
            vals.append(-logf.mean())
            grads.append(-(res.mean_d2[:, j].mean() * scale - d))
        else:
            ls2, ls4 = res.log_sum[:, 2 * j], res.log_sum[:, 2 * j + 1]
            logf = loo_log_density(ls2, n, d, t)
            w2, w4 = np.exp(ls2), np.exp(ls4)
            s2, s4 = w2.sum(), w4.sum()
            ds2 = (w2 * res.mean_d2[:, 2 * j]).sum() * scale        # d/dt Σ exp(-a/2) = Σ e·a
            ds4 = (w4 * res.mean_d2[:, 2 * j + 1]).sum() * scale / 2  # d/dt Σ exp(-a/4) = Σ e·a/2
            k4 = (2.0 * math.sqrt(math.pi)) ** (-d) / n**2
            k2 = 2.0 * (2.0 * math.pi) ** (-0.5 * d) / (n * (n - 1))
            # J(t) = e^{-dt} G(t), G = k4 (n + S4) - k2 S2: ∫f̂² - (2/n) Σ f̂_{-i}(z_i)
            g = k4 * (n + s4) - k2 * s2
            e = math.exp(-d * t)
            vals.append(e * g)
            grads.append(e * ((k4 * ds4 - k2 * ds2) - d * g))
        logfs.append(logf)
    return np.array(vals), np.array(grads), logfs


_GRID = np.linspace(-1.5, 1.5, 7)  # log-bandwidth offsets around the rule of thumb (×0.22 … ×4.5)
_MAX_EXTENSIONS = 6
_XTOL = 1e-10


def select_bandwidth(z: np.ndarray, kind: str = "ml", *, device="auto") -> tuple[float, np.ndarray, int]:
    """Choose the log-bandwidth ``t = log b`` of a Gaussian KDE of (whitened) samples ``z``.

    ``kind="ml"`` maximises the leave-one-out log-likelihood ``(1/n) Σ_i log f̂_{-i}(z_i)``;
    ``kind="lse"`` minimises the least-squares cross-validation criterion
    ``∫ f̂² - (2/n) Σ_i f̂_{-i}(z_i)``.

    Search: seven log-spaced widths around Silverman's rule (×0.22 … ×4.5) in one pass over
    the pairs, shifted outwards while the best lies on the edge; then Brent's root finder
    (:func:`scipy.optimize.brentq`, ``xtol = 1e-10`` in ``t``) on the exact derivative of the
    criterion, between the best grid point and the neighbour where the derivative changes
    sign (one pass per step). If the derivative does not change sign there (a non-smooth
    criterion), a bounded scalar minimisation over the bracket is used instead.

    Returns ``(t, loo_log_density, n_passes)``: the chosen ``log b``, the per-sample
    leave-one-out log-density at it (nats), and the number of passes over the pairs.
    """
    from .knn import knn_distances

    if kind not in ("ml", "lse"):
        raise ValueError(f"kind must be 'ml' or 'lse', got {kind!r}")
    n, d = z.shape
    nn_sq = knn_distances(z, 1, device=device)[:, 0] ** 2
    scale = float(np.sqrt(np.mean(np.var(z, axis=0))))
    ts = silverman_log_bandwidth(n, d, scale) + _GRID
    passes = 0
    for _ in range(_MAX_EXTENSIONS + 1):
        vals, grads, logfs = _criteria(z, ts, kind, device, nn_sq)
        passes += 1
        vals = np.where(np.isfinite(vals), vals, np.inf)
        j = int(np.argmin(vals))
        if 0 < j < len(ts) - 1:
            break
        shift = (ts[-1] - ts[0]) * 0.8
        ts = ts - shift if j == 0 else ts + shift
    else:
        raise ValueError(
            f"KDE-{kind.upper()} bandwidth selection found no interior optimum between "
            f"b = {math.exp(ts[0]):.3g} and {math.exp(ts[-1]):.3g}; the data may be (nearly) "
            "discrete or have repeated values"
        )
    memo = {float(t): (v, g, lf) for t, v, g, lf in zip(ts, vals, grads, logfs)}

    def evaluate(t):
        nonlocal passes
        t = float(t)
        if t not in memo:
            v, g, lf = _criteria(z, [t], kind, device, nn_sq)
            memo[t] = (v[0], g[0], lf[0])
            passes += 1
        return memo[t]

    lo, hi = (ts[j], ts[j + 1]) if grads[j] < 0 else (ts[j - 1], ts[j])
    if evaluate(lo)[1] < 0 < evaluate(hi)[1]:
        t = brentq(lambda s: evaluate(s)[1], lo, hi, xtol=_XTOL, rtol=4 * np.finfo(float).eps)
    else:
        t = minimize_scalar(lambda s: evaluate(s)[0], bounds=(ts[j - 1], ts[j + 1]), method="bounded",
                            options={"xatol": 1e-8}).x
    return float(t), evaluate(t)[2], passes
