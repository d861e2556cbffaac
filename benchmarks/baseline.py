"""A straightforward baseline that computes what the authors' estimators compute, the way they do.

This is the comparison point for ``bench_estimators.py``: written for this project (not copied)
after the paper and the authors' estimators (``VanessB/Information-v3``,
``source/python/mutinfo/estimators``), using the same building blocks as the authors' code, so
its timings show what the paper's pipeline costs on the same machine:

* whitening ``x ↦ x Σ^{-1/2}`` with ``Σ = np.cov(x)`` and the symmetric root from
  :func:`scipy.linalg.sqrtm`; the entropy is corrected by ``+½ log det Σ``;
* k-NN (KL, weighted KL) entropies from scikit-learn ``BallTree`` queries (leaf size 40,
  ``k + 1`` neighbours, the point itself dropped), single-threaded as in the authors' code.
  The weights (Berrett, Samworth & Yuan, Annals of Statistics 2019) are
  :func:`ibcore.wkl_weights` in every dimension so that the numbers can be compared with
  ibcore's (the authors fall back to 1-NN for ``d <= 4``);
* KDE entropies from ``BallTree.kernel_density`` (Gaussian kernel, ``atol = rtol = 0``,
  breadth first) for the leave-one-out density, split over ``n_jobs`` process chunks with
  joblib as the authors do, and their grid-refinement bandwidth search;
* KSG mutual information with Chebyshev (max-norm) neighbour counts from scikit-learn
  ``KDTree`` (Kraskov, Stögbauer & Grassberger, Phys. Rev. E 2004; as in the authors' later
  library ``VanessB/mutinfo``).

All values are in nats. Each function returns ``(value, std)`` with the standard error
``std(terms) / sqrt(n)`` of its per-sample terms.
"""
from __future__ import annotations

import math
import os

import numpy as np
from joblib import Parallel, delayed
from scipy.linalg import sqrtm
from scipy.special import digamma, gammaln
from sklearn.neighbors import BallTree, KDTree

from ibcore import wkl_weights

__all__ = [
    "whiten", "knn_entropy", "kde_entropy", "ksg_mutual_information", "minimize_recursive",
    "BASELINES",
]

LEAF_SIZE = 40
SERIAL_BELOW = 2000  # KDE: smaller samples run in-process (see kde_entropy)


def whiten(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Whitened samples ``x Σ^{-1/2}`` (n, d) and ``½ log det Σ`` (nats), as the authors do.

    No centring, as in the reference code: distances do not depend on it.
    """
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    root = np.real(sqrtm(cov))
    inv_root = np.linalg.inv(root)
    _, logdet = np.linalg.slogdet(cov)
    return x @ inv_root, 0.5 * logdet


def _mean_std(terms: np.ndarray) -> tuple[float, float]:
    return float(np.mean(terms)), float(np.std(terms, ddof=1) / math.sqrt(len(terms)))


def _log_ball_volume(d: int) -> float:
    return 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1.0)


# ------------------------------------------------------------------------------------------
# k-NN entropies (Kozachenko-Leonenko; weighted: Berrett, Samworth & Yuan 2019)

def knn_entropy(x: np.ndarray, k: int = 5, weights: str = "wkl", rescale: bool = True) -> tuple[float, float]:
    """(Weighted) Kozachenko–Leonenko entropy with ``BallTree`` neighbour queries.

    ``log f̂_j(x_i) = ψ(j) - log V_d - d log r_{i,j} - log(n - 1)`` (the authors' form, with
    ``log(n-1)`` where ibcore uses ``ψ(n-1)``: a difference of ``≈ 1/(2n)`` nats), combined
    with weights ``e_k`` (``weights="kl"``) or the Berrett–Samworth–Yuan weights
    (``weights="wkl"``, from :func:`ibcore.wkl_weights`).
    """
    n, d = x.shape
    z, half_log_det = whiten(x) if rescale else (x, 0.0)
    tree = BallTree(z, leaf_size=LEAF_SIZE)
    dist, _ = tree.query(z, k=k + 1)
    r = dist[:, 1:]  # column 0 is the point itself
    if weights == "kl":
        w = np.zeros(k)
        w[-1] = 1.0
    elif weights == "wkl":
        w = wkl_weights(d, k)
    else:
        raise ValueError(f"weights must be 'kl' or 'wkl', got {weights!r}")
    j = np.arange(1, k + 1)
    log_f = digamma(j)[None, :] - _log_ball_volume(d) - d * np.log(r) - math.log(n - 1)
    return _mean_std(-(log_f @ w) + half_log_det)


# ------------------------------------------------------------------------------------------
# KDE entropies (leave-one-out ML and least-squares bandwidths)

def minimize_recursive(function, left: float, right: float, n_points: int = 7, rtol: float = 1e-2) -> float:
    """The authors' bandwidth search: a log-spaced grid that slides outwards or zooms in.

    Evaluate ``function`` on ``n_points`` log-spaced points in ``[left, right]``. If the best
    point is the left end, extend the interval to the left (``left ← left²/right``,
    ``right ←`` the third grid point), symmetrically on the right; otherwise zoom to the
    neighbours of the best point, and stop once ``right - left < rtol · best``.
    """
    while True:
        grid = np.logspace(math.log10(left), math.log10(right), n_points)
        values = np.array([function(b) for b in grid])
        best = int(np.nanargmin(values))
        if best == 0:
            left, right = left * left / right, grid[2]
        elif best == n_points - 1:
            left, right = grid[-3], right * right / left
        else:
            left, right = grid[best - 1], grid[best + 1]
            if right - left < rtol * grid[best]:
                return float(grid[best])


def _kernel_sums(tree: BallTree, z: np.ndarray, h: float, n_jobs: int) -> np.ndarray:
    """Σ_j K_h(z_i - z_j) over all j (self included), exact, split over ``n_jobs`` processes."""
    kwargs = dict(h=h, kernel="gaussian", atol=0.0, rtol=0.0, breadth_first=True)
    if n_jobs == 1:
        return tree.kernel_density(z, **kwargs)
    chunks = np.array_split(z, n_jobs)
    parts = Parallel(n_jobs=n_jobs)(delayed(tree.kernel_density)(c, **kwargs) for c in chunks)
    return np.concatenate(parts)


def _loo_log_density(tree: BallTree, z: np.ndarray, h: float, n_jobs: int) -> np.ndarray:
    """Leave-one-out Gaussian-KDE log-density at each sample; -inf where it is not positive."""
    n, d = z.shape
    k0 = (2.0 * math.pi) ** (-0.5 * d) * h ** (-d)  # the point's own kernel K_h(0)
    loo = (_kernel_sums(tree, z, h, n_jobs) - k0) / (n - 1)
    with np.errstate(divide="ignore"):
        return np.where(loo > 0, np.log(np.maximum(loo, 0.0)), -np.inf)


def _ml_objective(tree, z, n_jobs):
    def negative_log_likelihood(h):
        log_f = _loo_log_density(tree, z, h, n_jobs)
        ok = np.isfinite(log_f)
        return -float(np.mean(log_f[ok])) if ok.any() else np.nan
    return negative_log_likelihood


def _lse_objective(tree, z, n_jobs, chunk: int = 1024):
    n, d = z.shape
    eps = 1e-8 / n

    def lse(h):
        # ∫ f̂² = n^{-2} Σ_{i,j} φ_{2h²}(z_i - z_j) (i = j included), truncated at the radius
        # where φ_{2h²} falls below eps; neighbour lists by chunks to bound memory.
        c = (2.0 * h * math.sqrt(math.pi)) ** (-d)
        arg = -math.log(eps / c)
        radius = 2.0 * h * math.sqrt(arg) if arg > 0 else 0.0
        sq_int = 0.0
        for i0 in range(0, n, chunk):
            _, dist = tree.query_radius(z[i0:i0 + chunk], radius, return_distance=True)
            for di in dist:  # per-point loop, as in the reference code
                sq_int += float(np.sum(np.exp(-di * di / (4.0 * h * h))))
        sq_int *= c / n**2
        loo = (_kernel_sums(tree, z, h, n_jobs) - (2.0 * math.pi) ** (-0.5 * d) * h ** (-d)) / (n - 1)
        return sq_int - 2.0 * float(np.mean(loo))
    return lse


def kde_entropy(x: np.ndarray, bandwidth: str = "ml", rescale: bool = True, n_jobs: int | None = None,
                return_bandwidth: bool = False):
    """Gaussian-KDE entropy with the bandwidth by leave-one-out ML (``"ml"``) or LSCV (``"lse"``).

    Initial interval (whitened stds ≈ 1): ``[0.5 min σ / n^{0.2/d}, 1.06 max σ / n^{0.2/d}]``.
    The entropy is the mean of ``-log f̂_{-i}(x_i)`` at the chosen bandwidth, points with a
    non-positive LOO density dropped (as the authors do). ``n_jobs`` defaults to ``os.cpu_count()``
    for ``n >= SERIAL_BELOW`` and to 1 below.
    """
    n, d = x.shape
    if n_jobs is None:
        # Below a few thousand points one kernel_density call costs less than joblib's
        # process dispatch, so the serial path is the faster (fairer) baseline there.
        n_jobs = (os.cpu_count() or 1) if n >= SERIAL_BELOW else 1
    z, half_log_det = whiten(x) if rescale else (x, 0.0)
    tree = BallTree(z, leaf_size=LEAF_SIZE)
    std = z.std(axis=0)
    shrink = n ** (0.2 / d)
    left, right = 0.5 * std.min() / shrink, 1.06 * std.max() / shrink
    if bandwidth == "ml":
        objective = _ml_objective(tree, z, n_jobs)
    elif bandwidth == "lse":
        objective = _lse_objective(tree, z, n_jobs)
    else:
        raise ValueError(f"bandwidth must be 'ml' or 'lse', got {bandwidth!r}")
    h = minimize_recursive(objective, left, right)
    log_f = _loo_log_density(tree, z, h, n_jobs)
    value, err = _mean_std(-log_f[np.isfinite(log_f)] + half_log_det)
    return (value, err, h) if return_bandwidth else (value, err)


# ------------------------------------------------------------------------------------------
# KSG (Kraskov, Stögbauer & Grassberger 2004)

def ksg_mutual_information(x: np.ndarray, y: np.ndarray, k: int = 3, rescale: bool = True) -> tuple[float, float]:
    """KSG estimator 1 with the Chebyshev (max-coordinate) metric and ``KDTree`` counts.

    ``I = ψ(k) + ψ(n) - mean_i[ψ(n_x,i + 1) + ψ(n_y,i + 1)]``, with ``n_x,i`` the number of
    other points within the joint k-th-neighbour distance in x alone (radius minus 1e-15,
    the authors' strictness trick). The metric differs from ibcore's (max of the two
    Euclidean norms) unless ``d_x = d_y = 1``, so the two agree only up to estimator noise.
    """
    n = len(x)
    if rescale:
        x, _ = whiten(x)
        y, _ = whiten(y)
    xy = np.hstack([x, y])
    joint = KDTree(xy, leaf_size=LEAF_SIZE, metric="chebyshev")
    eps = joint.query(xy, k=k + 1)[0][:, -1]
    radius = np.maximum(eps - 1e-15, 0.0)
    nx = KDTree(x, leaf_size=LEAF_SIZE, metric="chebyshev").query_radius(x, radius, count_only=True) - 1
    ny = KDTree(y, leaf_size=LEAF_SIZE, metric="chebyshev").query_radius(y, radius, count_only=True) - 1
    terms = digamma(k) + digamma(n) - digamma(nx + 1) - digamma(ny + 1)
    return _mean_std(terms)


def _kl(x):
    return knn_entropy(x, k=1, weights="kl")


def _wkl(x):
    return knn_entropy(x, k=5, weights="wkl")


def _kde_ml(x):
    return kde_entropy(x, "ml")


def _kde_lse(x):
    return kde_entropy(x, "lse")


# method name -> callable on the benchmark's data (entropy: x; MI: (x, y))
BASELINES = {"kl": _kl, "wkl": _wkl, "kde-ml": _kde_ml, "kde-lse": _kde_lse, "ksg": ksg_mutual_information}
