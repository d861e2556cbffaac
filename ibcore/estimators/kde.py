"""Gaussian kernel density kernels and the bandwidth search (maximum likelihood, least squares).

Everything here works on (already whitened) samples ``z`` of shape (n, d) and on
``t = log b``, the log-bandwidth. One kernel, :func:`kernel_pass`, streams over row blocks of
the pair matrix (memory bounded by the block size, never n × n) and, for several kernel
widths in the same pass, returns per-point leave-one-out log kernel sums and the
kernel-weighted first two moments of the squared distance. Both bandwidth criteria and their
first and second derivatives in ``t`` follow in closed form, so the search is Newton's method
on ``t`` (about five passes), with a grid of seven widths per pass and Brent's root finder as
the fallback (:func:`select_bandwidth`).

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

from ..device import resolve_device
from .knn import knn_distances, row_blocks, sq_dists

__all__ = ["kernel_pass", "select_bandwidth", "loo_log_density", "log_density", "silverman_log_bandwidth"]

_LOG_2PI = math.log(2.0 * math.pi)
_BLOCK_ELEMENTS = 2**20  # float64 elements per block of the pair matrix (8 MiB)
# exp(x) is a normal float64 for |x| < 708; keep a margin for the sums.
_SAFE_EXPONENT = 600.0


@dataclass
class PassResult:
    """Per-point results of :func:`kernel_pass` for M kernel widths: arrays of shape (n, M)."""

    log_sum: np.ndarray  # log Σ_{j≠i} exp(-c_m ‖z_i - z_j‖²)
    mean_d2: np.ndarray | None  # kernel-weighted mean of ‖z_i - z_j‖² (moments >= 1)
    mean_d4: np.ndarray | None = None  # kernel-weighted mean of ‖z_i - z_j‖⁴ (moments == 2)


def kernel_pass(z: np.ndarray, coefs, *, queries: np.ndarray | None = None, moments: int = 0,
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
    moments : {0, 1, 2}
        Also return the kernel-weighted means of ``‖z_i - z_j‖²`` (1) and of its square (2):
        the first and second derivatives of the criteria in ``t`` follow from them.
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
    moments = int(moments)
    if moments not in (0, 1, 2):
        raise ValueError(f"moments must be 0, 1 or 2, got {moments}")
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
    mean_d2 = torch.empty_like(log_sum) if moments >= 1 else None
    mean_d4 = torch.empty_like(log_sum) if moments == 2 else None
    r_sq = (ref * ref).sum(1)
    for i0, i1 in row_blocks(m, n, _BLOCK_ELEMENTS):
        d2 = sq_dists(q[i0:i1], ref, r_sq)
        rows = torch.arange(i1 - i0, device=dev)
        for j, c in enumerate(coefs):
            a = d2 * (-c)
            if loo:
                a[rows, rows + i0] = -math.inf
            top = a.max(dim=1, keepdim=True).values
            w = torch.exp_(a.sub_(top))
            s0 = w.sum(1)
            log_sum[i0:i1, j] = torch.log(s0) + top[:, 0]
            if moments >= 1:
                wd2 = w.mul_(d2)
                mean_d2[i0:i1, j] = wd2.sum(1) / s0
                if moments == 2:
                    mean_d4[i0:i1, j] = wd2.mul_(d2).sum(1) / s0
    return log_sum, mean_d2, mean_d4


def _symmetric_pass(ref, coefs, moments):
    """Leave-one-out sums with each unordered pair evaluated once.

    With ``base_ij = 2 z_i·z_j - ‖z_j‖²`` one has ``exp(-c d²_ij) = exp(-c‖z_i‖²) exp(c base_ij)``
    and ``d²_ij = ‖z_i‖² - base_ij``. Row block I is compared with the strip of columns
    j >= start(I): ``W = exp(c · base)`` gives the rows' sums scaled by ``exp(c‖z_i‖²)``, and
    weighted column sums ``vᵀW`` with ``v_i = exp(-c‖z_i‖²)`` give the later columns' share.
    Accumulators hold every sum scaled by ``exp(c‖z_i‖²)``; the caller has checked that
    ``c · max(‖z‖², nn²) < 600``, so no factor overflows and no row sum underflows.
    """
    import torch

    n = len(ref)
    dev = ref.device
    z_sq = (ref * ref).sum(1)
    shape = (n, len(coefs))
    acc = [torch.zeros(shape, dtype=torch.float64, device=dev) for _ in range(moments + 1)]
    for i0, i1 in row_blocks(n, n // 2 + 1, _BLOCK_ELEMENTS):
        base = torch.addmm(z_sq[None, i0:], ref[i0:i1], ref[i0:].T, beta=-1.0, alpha=2.0)
        rows = torch.arange(i1 - i0, device=dev)
        tail = i1 - i0  # strip columns beyond the diagonal block
        qs = z_sq[i0:i1]
        for j, c in enumerate(coefs):
            w = torch.exp(base * c)
            w[rows, rows] = 0.0
            v = torch.exp(qs * (-c))
            col_scale = torch.exp(z_sq[i1:] * c)
            # Σ w d^(2p) for p = 0..moments, expanding d² = ‖z_i‖² - base by the binomial rule
            powers = [w]
            for _ in range(moments):
                powers.append(powers[-1] * base)
            row_sums = [p.sum(1) for p in powers]
            col_sums = [(v @ p[:, tail:]) for p in powers]
            col_q = [((v * qs) @ p[:, tail:]) for p in powers[: moments]]
            col_q2 = [((v * qs * qs) @ w[:, tail:])] if moments == 2 else []
            acc[0][i0:i1, j] += row_sums[0]
            acc[0][i1:, j] += col_sums[0] * col_scale
            if moments >= 1:
                acc[1][i0:i1, j] += qs * row_sums[0] - row_sums[1]
                acc[1][i1:, j] += (col_q[0] - col_sums[1]) * col_scale
            if moments == 2:
                acc[2][i0:i1, j] += qs * qs * row_sums[0] - 2.0 * qs * row_sums[1] + row_sums[2]
                acc[2][i1:, j] += (col_q2[0] - 2.0 * col_q[1] + col_sums[2]) * col_scale
    c_t = torch.tensor(coefs, dtype=torch.float64, device=dev)
    log_sum = torch.log(acc[0]) - z_sq[:, None] * c_t[None, :]
    mean_d2 = (acc[1] / acc[0]).clamp_min_(0.0) if moments >= 1 else None
    mean_d4 = (acc[2] / acc[0]).clamp_min_(0.0) if moments == 2 else None
    return log_sum, mean_d2, mean_d4


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


def _criteria(z, ts, kind, device, nn_sq, hessian=False):
    """For each t in ``ts``: criterion value, first and (if asked) second derivative in t, and
    the per-sample LOO log-density at t. Lists of length len(ts)."""
    n, d = z.shape
    res = kernel_pass(z, _coefs(kind, ts), moments=2 if hessian else 1, device=device, nn_sq=nn_sq)
    vals, grads, hess, logfs = [], [], [], []
    for j, t in enumerate(ts):
        scale = math.exp(-2.0 * t)  # a = d² / b², da/dt = -2a

        def a_moments(col):
            ea = res.mean_d2[:, col] * scale
            ea2 = res.mean_d4[:, col] * scale * scale if hessian else None
            return ea, ea2

        if kind == "ml":
            logf = loo_log_density(res.log_sum[:, j], n, d, t)
            ea, ea2 = a_moments(j)
            # minimise -LL: d/dt log Σ exp(-a/2) = E[a], d²/dt² = Var[a] - 2 E[a]
            vals.append(-logf.mean())
            grads.append(-(ea.mean() - d))
            hess.append(-((ea2 - ea * ea).mean() - 2.0 * ea.mean()) if hessian else np.nan)
        else:
            ls2, ls4 = res.log_sum[:, 2 * j], res.log_sum[:, 2 * j + 1]
            logf = loo_log_density(ls2, n, d, t)
            w2, w4 = np.exp(ls2), np.exp(ls4)
            a2, a2sq = a_moments(2 * j)
            a4, a4sq = a_moments(2 * j + 1)
            # S2 = Σ exp(-a/2): S2' = Σ e·a, S2'' = Σ e·(a² - 2a)
            # S4 = Σ exp(-a/4): S4' = Σ e·a/2, S4'' = Σ e·(a²/4 - a)
            s2, s4 = w2.sum(), w4.sum()
            ds2, ds4 = (w2 * a2).sum(), (w4 * a4).sum() / 2.0
            k4 = (2.0 * math.sqrt(math.pi)) ** (-d) / n**2
            k2 = 2.0 * (2.0 * math.pi) ** (-0.5 * d) / (n * (n - 1))
            # J(t) = e^{-dt} G(t), G = k4 (n + S4) - k2 S2 = ∫f̂² - (2/n) Σ f̂_{-i}(z_i)
            g0 = k4 * (n + s4) - k2 * s2
            g1 = k4 * ds4 - k2 * ds2
            e = math.exp(-d * t)
            vals.append(e * g0)
            grads.append(e * (g1 - d * g0))
            if hessian:
                g2 = k4 * (w4 * (a4sq / 4.0 - a4)).sum() - k2 * (w2 * (a2sq - 2.0 * a2)).sum()
                hess.append(e * (g2 - 2.0 * d * g1 + d * d * g0))
            else:
                hess.append(np.nan)
        logfs.append(logf)
    return np.array(vals), np.array(grads), np.array(hess), logfs


_GRID = np.linspace(-1.5, 1.5, 7)  # log-bandwidth offsets around the rule of thumb (×0.22 … ×4.5)
_MAX_EXTENSIONS = 6
_XTOL = 1e-10
_NEWTON_MAX = 10
_MAX_STEP = 1.0


def _newton(z, t, kind, device, nn_sq):
    """Safeguarded Newton iterations on t; returns (t, logf, passes) or None if they fail."""
    lo, hi = -math.inf, math.inf
    for it in range(1, _NEWTON_MAX + 1):
        _, g, h, logf = _criteria(z, [t], kind, device, nn_sq, hessian=True)
        g, h, logf = g[0], h[0], logf[0]
        if not (math.isfinite(g) and math.isfinite(h)):
            return None
        if g > 0:
            hi = min(hi, t)
        else:
            lo = max(lo, t)
        step = -g / h if h > 0 else -math.copysign(_MAX_STEP, g)
        step = max(-_MAX_STEP, min(_MAX_STEP, step))
        if abs(step) < _XTOL and h > 0:
            return t, logf, it
        t_new = t + step
        if not (lo < t_new < hi) and math.isfinite(lo) and math.isfinite(hi):
            t_new = 0.5 * (lo + hi)
        t = t_new
    return None


def _bracket_and_solve(z, t0, kind, device, nn_sq):
    """Fallback: a 7-width grid in one pass (shifted while the best is on its edge), then
    Brent's root finder on the derivative inside the bracket around the best width."""
    ts = t0 + _GRID
    passes = 0
    for _ in range(_MAX_EXTENSIONS + 1):
        vals, grads, _, logfs = _criteria(z, ts, kind, device, nn_sq)
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
            v, g, _, lf = _criteria(z, [t], kind, device, nn_sq)
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


def select_bandwidth(z: np.ndarray, kind: str = "ml", *, device="auto") -> tuple[float, np.ndarray, int]:
    """Choose the log-bandwidth ``t = log b`` of a Gaussian KDE of (whitened) samples ``z``.

    ``kind="ml"`` maximises the leave-one-out log-likelihood ``(1/n) Σ_i log f̂_{-i}(z_i)``;
    ``kind="lse"`` minimises the least-squares cross-validation criterion
    ``∫ f̂² - (2/n) Σ_i f̂_{-i}(z_i)``.

    Search: Newton iterations on ``t`` from Silverman's rule of thumb with the exact first and
    second derivatives of the criterion, computed in the same pass over the pairs as the
    criterion itself (one kernel evaluation per pair and iteration for ML, two for LSE),
    safeguarded by a bracket from the derivative's sign and a step limit of 1 in ``t``, until
    the step is below 1e-10 at positive curvature (typically 4–6 passes). Should Newton not
    settle in 10 passes, a fallback brackets the optimum on a grid of seven widths evaluated
    in one pass and solves for the derivative's root with Brent's method
    (:func:`scipy.optimize.brentq`).

    Returns ``(t, loo_log_density, n_passes)``: the chosen ``log b``, the per-sample
    leave-one-out log-density at it (nats), and the number of passes over the pairs.
    """
    if kind not in ("ml", "lse"):
        raise ValueError(f"kind must be 'ml' or 'lse', got {kind!r}")
    n, d = z.shape
    nn_sq = knn_distances(z, 1, device=device)[:, 0] ** 2
    scale = float(np.sqrt(np.mean(np.var(z, axis=0))))
    t0 = silverman_log_bandwidth(n, d, scale)
    found = _newton(z, t0, kind, device, nn_sq)
    if found is not None:
        return found
    t, logf, passes = _bracket_and_solve(z, t0, kind, device, nn_sq)
    return t, logf, passes + _NEWTON_MAX
