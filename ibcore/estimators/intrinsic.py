"""Intrinsic dimension of samples, and the manifold check of the entropy-based estimators.

Two estimators on the shared k-NN kernel (:func:`ibcore.estimators.knn.knn_distances`):

``"twonn"`` (Facco, d'Errico, Rodriguez & Laio, *Sci. Rep.* 7, 2017)
    With ``r_1(i) <= r_2(i)`` the distances of point i to its two nearest neighbours, the
    ratio ``μ_i = r_2 / r_1`` follows a Pareto law ``F(μ) = 1 - μ^{-d}`` wherever the density
    is locally constant on the scale of ``r_2``, whatever the density and the curvature. The
    robust fit regresses ``-log(1 - F̂(μ_(i)))`` on ``log μ_(i)`` through the origin after
    discarding the largest 10 % of the μ (the tail, where duplicates, near-ties and density
    gradients put outliers).
``"mle"`` (Levina & Bickel, NeurIPS 2004, with the MacKay & Ghahramani correction)
    For every k of a range, ``d̂_k = [mean_i (1/(k-1)) Σ_{j<k} log(T_k(i) / T_j(i))]^{-1}``
    (the inverses are averaged over points, then inverted: the correction); the value is
    the mean of ``d̂_k`` over the range.

Both are local: they see the sample on the scale of its nearest-neighbour distances, the
scale on which the k-NN and KDE entropy estimators work. A sample whose dimension d exceeds
its intrinsic dimension there has a differential entropy of -∞ in the limit and the
estimators' values drift without bound as n grows; :func:`manifold_suspected` is the rule
with which :func:`ibcore.entropy` and :func:`ibcore.mutual_information` (methods ``"kl"``,
``"wkl"``, ``"kde-ml"``, ``"kde-lse"``) warn with a :class:`ManifoldWarning`.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import knn
from ..validation import as_samples, check_choice, check_float, check_int, check_no_duplicates
from .whitening import fit_whitening, jitter_samples

__all__ = ["intrinsic_dimension", "IntrinsicDimension", "ManifoldWarning", "manifold_suspected", "twonn_or_nan",
           "manifold_record", "warn_manifold", "twonn_dimension", "mle_dimension", "ID_METHODS",
           "MANIFOLD_MARGIN"]

ID_METHODS = ("twonn", "mle")
_DEFAULT_MLE_K = (10, 20)


@dataclass(frozen=True)
class IntrinsicDimension:
    """An intrinsic-dimension estimate.

    Attributes
    ----------
    value : float
        The estimate (a dimension, not an integer).
    method : {"twonn", "mle"}
    n : int
        Number of points.
    ambient_dim : int
        Number of coordinates of the sample.
    per_k : dict of int -> float
        MLE only: ``d̂_k`` for each neighbour order k of the range (``value`` is their mean);
        empty for TwoNN.
    """

    value: float
    method: str
    n: int
    ambient_dim: int
    per_k: dict = field(default_factory=dict)

    def __float__(self) -> float:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec or ".3g")

    def __str__(self) -> str:
        text = f"intrinsic dimension {self.value:.3g} ({self.method}; n = {self.n} points in {self.ambient_dim} dimensions)"
        if self.per_k:
            text += "; per k: " + ", ".join(f"{k}: {v:.3g}" for k, v in self.per_k.items())
        return text


class ManifoldWarning(UserWarning):
    """A sample (or a joint sample) lies near a manifold of lower dimension than its coordinates.

    Its differential entropy is then -∞ (or far below what n samples resolve) and the entropy
    based estimates of entropy and MI are not to be trusted. The numbers travel with the warning:

    Attributes
    ----------
    checks : list of dict
        One dict per flagged sample with keys ``"name"`` (e.g. ``"x"``, ``"(x, y)"``,
        ``"x[y == 3]"``), ``"ambient_dim"``, ``"intrinsic_dim"`` (TwoNN) and ``"n"``.
    """

    def __init__(self, message: str, checks=()):
        super().__init__(message)
        self.checks = [dict(c) for c in checks]


# ---------------------------------------------------------------------------------------------
# the two estimators on given neighbour distances

def twonn_dimension(r1: np.ndarray, r2: np.ndarray, discard_fraction: float = 0.1) -> float:
    """TwoNN estimate from first and second neighbour distances (arrays of shape (n,), r1 > 0).

    The robust fit of Facco et al.: sort ``μ = r2 / r1``, take the empirical CDF
    ``F̂(μ_(i)) = i / n``, drop the largest ``discard_fraction`` of the μ and fit
    ``-log(1 - F̂) = d log μ`` by least squares through the origin.
    """
    mu = np.sort(r2 / r1)
    n = len(mu)
    keep = max(1, int(math.floor(n * (1.0 - discard_fraction))))
    keep = min(keep, n - 1)  # F̂ = 1 at the largest μ: -log(0)
    x = np.log(mu[:keep])
    y = -np.log1p(-np.arange(1, keep + 1) / n)
    sxx = float(x @ x)
    if sxx <= 0.0:  # every kept point has r1 == r2: no scale is resolved
        return math.inf
    return float(x @ y) / sxx


def mle_dimension(r: np.ndarray, ks) -> dict:
    """Levina–Bickel MLE with the MacKay–Ghahramani correction, per k, from sorted neighbour
    distances ``r`` of shape (n, max(ks)) (``r[:, j-1]`` = distance to the j-th neighbour)."""
    logr = np.log(r)
    out = {}
    for k in ks:
        inv = np.mean(logr[:, k - 1:k] - logr[:, :k - 1], axis=1)  # (1/(k-1)) Σ_{j<k} log(T_k/T_j)
        m = float(np.mean(inv))
        out[int(k)] = 1.0 / m if m > 0 else math.inf
    return out


# ---------------------------------------------------------------------------------------------
# the manifold check of the entropy estimators

#: the rule's constants ``(a, b)`` (see :func:`manifold_suspected`)
MANIFOLD_MARGIN = (0.7, 2.5)


def manifold_suspected(ambient_dim: int, intrinsic_dim: float, n: int) -> bool:
    """Whether a sample of ``n`` points in ``ambient_dim`` coordinates whose TwoNN estimate is
    ``intrinsic_dim`` lies near a lower-dimensional manifold, by the rule

    ``intrinsic_dim < ambient_dim · (a - b / √n)``  with ``(a, b) = MANIFOLD_MARGIN = (0.7, 2.5)``.

    The relative margin ``a`` absorbs TwoNN's own low bias on full-dimensional data (boundaries
    of a cube, heavy tails: a uniform 8-D cube reads 7.2 at n = 5000, a Cauchy one 7.2 ± 0.7),
    the ``b / √n`` term its sampling spread (sd ≈ 0.9-1.7 · d / √n). Measured on whitened
    samples, as the estimators see them (30 seeds per cell, d = 1..8, n = 500, 1000, 2000, 5000):

    * false alarms: 0 of 5760 on Gaussians, uniform cubes and multivariate Student-t with
      ν = 1, 2, 3, 5; the closest cell (ν = 1, d = 7, n = 1000) sits 2.6 sd above the threshold.
      Independent Cauchy coordinates, whose tails run along the axes and look locally
      lower-dimensional, fire in 9 of 960 (d >= 7 only).
    * detection (20 seeds per n): 100 % from n = 500 on for 2-D surfaces in 4-D (flat torus,
      a curved graph, 16x16 Gaussian-bump images of 2 latents compressed by PCA to 4, also
      with pixel noise 0.01), a circle in 2-D and a 2-torus in 8-D. A deficit of one
      dimension in d >= 3 is below the rule's resolution: a sphere in 3-D fires in 0-40 %
      (n = 500-5000), the 3-sphere in 4-D never.
    """
    a, b = MANIFOLD_MARGIN
    return bool(intrinsic_dim < ambient_dim * (a - b / math.sqrt(n)))


def manifold_record(name: str, est: IntrinsicDimension) -> dict:
    """The numbers a :class:`ManifoldWarning` carries for one sample."""
    return {"name": name, "ambient_dim": est.ambient_dim, "intrinsic_dim": est.value, "n": est.n}


def _stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside the ibcore package."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def warn_manifold(checks, method: str) -> None:
    """Issue one :class:`ManifoldWarning` for the flagged samples ``checks`` (dicts of
    :func:`manifold_record`) of an estimate by ``method``; nothing when ``checks`` is empty."""
    checks = list(checks)
    if not checks:
        return
    shown = "; ".join(f"{c['name']}: {c['ambient_dim']} coordinates, intrinsic dimension "
                      f"{c['intrinsic_dim']:.2f} (TwoNN, n = {c['n']})" for c in checks[:4])
    more = f"; and {len(checks) - 4} more" if len(checks) > 4 else ""
    which = "The sample lies" if len(checks) == 1 else "These samples lie"
    message = (
        f"{shown}{more}. {which} near a manifold of lower dimension than the coordinates, where "
        f"the differential entropy is -inf: this {method!r} estimate is not to be trusted (it drifts "
        "without bound as n grows). Compress to the intrinsic dimension first (ibcore.intrinsic_dimension), "
        "or estimate MI with method='ksg'; check_manifold=False silences this check."
    )
    warnings.warn(ManifoldWarning(message, checks), stacklevel=_stacklevel())


# ---------------------------------------------------------------------------------------------
# public function

def _mle_range(k) -> tuple[int, ...]:
    if k is None:
        k = _DEFAULT_MLE_K
    if isinstance(k, tuple) and len(k) == 2:
        k1, k2 = check_int(k[0], "k[0]", 2), check_int(k[1], "k[1]", 2)
        if k2 < k1:
            raise ValueError(f"k = (k1, k2) needs k1 <= k2, got {k}")
        return tuple(range(k1, k2 + 1))
    if isinstance(k, tuple):
        raise ValueError(f"k must be an integer >= 2 or a pair (k1, k2), got {k!r}")
    return (check_int(k, "k", 2),)


def intrinsic_dimension(x, method: str = "twonn", *, k=None, discard_fraction: float | None = None,
                        rescale: bool = False, jitter: float | None = None, random_state=None,
                        backend: str = "auto", device="auto") -> IntrinsicDimension:
    """Intrinsic dimension of samples ``x`` on the scale of their nearest neighbours.

    Parameters
    ----------
    x : array_like (n_samples, n_features) or (n_samples,)
    method : {"twonn", "mle"}, default "twonn"
        TwoNN (Facco et al. 2017, robust fit) or the Levina–Bickel MLE with the
        MacKay–Ghahramani correction (module docstring).
    k : int or (int, int), optional
        MLE only: one neighbour order or the inclusive range ``(k1, k2)``, default ``(10, 20)``;
        the value is the mean of the per-k estimates (in ``per_k``).
    discard_fraction : float, optional
        TwoNN only: share of the largest ratios μ left out of the fit, in [0, 1); default 0.1.
    rescale : bool, default False
        Whiten ``x`` first. The estimate is exactly invariant to rotations, translations and
        scaling without it; whitening makes it invariant to any invertible affine map, but
        refuses collinear columns (a linear subspace, the case one often wants to detect).
    jitter : float, optional
        Repeated points give ``r_1 = 0`` and are an error; ``jitter`` adds seeded Gaussian
        noise of ``jitter × column std`` first, as in :func:`ibcore.entropy`.
    random_state : int or Generator, optional
        Seed of ``jitter``.
    backend, device
        k-NN back end and device (:mod:`ibcore.estimators.knn`).

    Returns
    -------
    IntrinsicDimension
        ``value``, ``method``, ``n``, ``ambient_dim`` and (MLE) ``per_k``.

    Notes
    -----
    Measured spread (sd over 20-30 seeds; Gaussians, uniform cubes, tori and spheres of
    d = 1..8, n = 500..5000): TwoNN about ``(0.9 - 1.7) · d / √n``; the MLE, which averages
    10-20 neighbours, 3-5 times less. Both assume a locally constant density over the
    neighbour balls; where it is not (boundaries of a cube, heavy tails) they read low, the
    MLE more than TwoNN because its balls are larger: TwoNN on a uniform 8-D cube gives 7.2 at
    n = 5000 (see :func:`manifold_suspected`).

    Examples
    --------
    >>> import numpy as np, ibcore
    >>> t = np.random.default_rng(0).random((2000, 2)) * 2 * np.pi
    >>> torus = np.column_stack([np.cos(t[:, 0]), np.sin(t[:, 0]), np.cos(t[:, 1]), np.sin(t[:, 1])])
    >>> round(ibcore.intrinsic_dimension(torus).value)   # a 2-torus in R^4
    2
    """
    check_choice(method, "method", ID_METHODS)
    if method == "twonn" and k is not None:
        raise TypeError("k is an option of method='mle'; TwoNN always uses the first two neighbours")
    if method == "mle" and discard_fraction is not None:
        raise TypeError("discard_fraction is an option of method='twonn'")
    if not isinstance(rescale, (bool, np.bool_)):
        raise TypeError(f"rescale must be True or False, got {rescale!r}")
    x = as_samples(x, "x")
    n, d = x.shape
    if method == "twonn":
        frac = check_float(0.1 if discard_fraction is None else discard_fraction, "discard_fraction",
                           low=0.0, high=1.0, high_open=True)
        ks, need = (), 3
    else:
        ks = _mle_range(k)
        need = ks[-1] + 1
    if n < need:
        raise ValueError(f"x has {n} samples; intrinsic_dimension with method={method!r} needs at least {need}")
    if jitter is not None:
        check_float(jitter, "jitter", low=0.0, low_open=True)
        x = jitter_samples(x, jitter, np.random.default_rng(random_state))
    check_no_duplicates(x, "x")
    if rescale:
        x = fit_whitening(x, "x").transform(x)
    r = knn.knn_distances(x, 2 if method == "twonn" else ks[-1], backend=backend, device=device)
    if not (r[:, 0] > 0).all():  # distinct rows that coincide after whitening's rounding
        raise ValueError("x has points at zero distance from each other; pass jitter=... to separate them")
    if method == "twonn":
        return IntrinsicDimension(twonn_dimension(r[:, 0], r[:, 1], frac), "twonn", n, d)
    per_k = mle_dimension(r, ks)
    return IntrinsicDimension(float(np.mean(list(per_k.values()))), "mle", n, d, per_k)


def twonn_or_nan(x) -> float:
    """TwoNN intrinsic dimension of the rows of ``x`` (n, d), or NaN where it cannot be
    computed (repeated rows, e.g. a saturated layer, have no neighbour ratio)."""
    try:
        return float(intrinsic_dimension(x).value)
    except ValueError:
        return math.nan
