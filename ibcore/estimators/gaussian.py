"""Closed forms of the mutual information of Gaussian vectors, in nats.

The one place these formulas live: the samplers of known MI (:mod:`ibcore.synthetic.samplers`),
the flow estimator's Gaussian closed form of its latents (:mod:`ibcore.estimators.flow`) and the
benchmarks' truths and copula baseline (``benchmarks/accuracy.py``) use them.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_int

__all__ = ["gaussian_mutual_information", "canonical_mutual_information"]


def gaussian_mutual_information(cov, dim_x: int) -> float:
    """Exact MI (nats) of a jointly Gaussian vector from its covariance.

    ``I = ½ (log det Σ_x + log det Σ_y - log det Σ)``, with ``x`` the first ``dim_x``
    coordinates.

    Parameters
    ----------
    cov : array_like (d, d)
        Joint covariance of ``(x, y)``, symmetric positive definite.
    dim_x : int
        Number of ``x`` coordinates, ``1 <= dim_x < d``.
    """
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {cov.shape}")
    dim_x = check_int(dim_x, "dim_x", 1)
    if dim_x >= cov.shape[0]:
        raise ValueError(f"dim_x must be smaller than the covariance size {cov.shape[0]}, got {dim_x}")
    logdets = []
    for block in (cov[:dim_x, :dim_x], cov[dim_x:, dim_x:], cov):
        sign, logdet = np.linalg.slogdet(block)
        if sign <= 0:
            raise ValueError("cov is not positive definite")
        logdets.append(logdet)
    return 0.5 * (logdets[0] + logdets[1] - logdets[2])


def canonical_mutual_information(rho) -> float:
    """``-½ Σ log(1 - rho_i²)``: the MI of a Gaussian pair with canonical correlations ``rho``.

    Any jointly Gaussian ``(x, y)`` is, after invertible affine maps of each side, a set of
    independent pairs with correlations ``rho_i`` (canonical correlation analysis; Kullback,
    *Information Theory and Statistics*, 1959), and the MI is the sum over the pairs. ``rho`` is
    an array of correlations with ``|rho_i| < 1``.
    """
    rho = np.asarray(rho, dtype=np.float64)
    return float(-0.5 * np.log1p(-rho ** 2).sum())

