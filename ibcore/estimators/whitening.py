"""Whitening with the exact log-determinant correction.

For an invertible affine map ``z = (x - m) A`` the differential entropy obeys
``h(x) = h(z) - log|det A|``. With ``A = Σ^{-1/2}`` (symmetric inverse square root of the
sample covariance) this is ``h(x) = h(z) + ½ log det Σ``. Whitened samples of ``x`` and of
any invertible affine image of ``x`` differ only by an orthogonal rotation, so every
rotation-invariant estimator gives *exactly* affine-invariant mutual information.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Whitening", "fit_whitening", "jitter_samples"]

# Eigenvalues of the covariance below this fraction of the largest one mean a
# (numerically) singular covariance: a constant or collinear column.
_RELATIVE_EIGEN_FLOOR = 1e-12


@dataclass(frozen=True)
class Whitening:
    """A fitted whitening map ``z = (x - mean) @ matrix``.

    Attributes
    ----------
    mean : ndarray of shape (d,)
    matrix : ndarray of shape (d, d)
        Symmetric inverse square root of the sample covariance.
    half_log_det : float
        ``½ log det Σ`` in nats: add it to an entropy of ``z`` to get the entropy of ``x``,
        subtract it from a log-density of ``z``.
    """

    mean: np.ndarray
    matrix: np.ndarray
    half_log_det: float

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.matrix

    @classmethod
    def identity(cls, d: int) -> "Whitening":
        return cls(np.zeros(d), np.eye(d), 0.0)


def fit_whitening(x: np.ndarray, name: str = "x") -> Whitening:
    """Fit the whitening map of samples ``x`` (n, d); refuse constant or collinear columns."""
    n, d = x.shape
    if n < d + 1:
        raise ValueError(
            f"{name} has {n} samples in {d} dimensions: whitening (rescale=True) needs at least "
            f"{d + 1} samples for a non-singular covariance"
        )
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / (n - 1)
    var = np.diag(cov)
    scale = max(float(np.max(np.abs(x))), 1.0)
    const = np.flatnonzero(var <= (1e-13 * scale) ** 2)
    if const.size:
        raise ValueError(
            f"{name} has constant (zero-variance) column(s) {const.tolist()}; the entropy is "
            "-inf there and whitening (rescale=True) is undefined. Drop those columns."
        )
    # Normalise to a correlation matrix first so that the eigen-floor test is scale free.
    sd = np.sqrt(var)
    corr = cov / np.outer(sd, sd)
    w, v = np.linalg.eigh(corr)
    if w[0] <= _RELATIVE_EIGEN_FLOOR * w[-1]:
        raise ValueError(
            f"the columns of {name} are (numerically) collinear: the smallest covariance "
            f"eigenvalue is {w[0]:.3g} times the largest. The samples lie on a lower-dimensional "
            "subspace, where the differential entropy is -inf; project them first (e.g. PCA)."
        )
    # Σ^{-1/2} = D^{-1/2} C^{-1/2} ... is not symmetric; build the symmetric root of Σ itself.
    ws, vs = np.linalg.eigh(cov)
    matrix = (vs / np.sqrt(ws)) @ vs.T
    half_log_det = 0.5 * float(np.sum(np.log(ws)))
    return Whitening(mean=mean, matrix=matrix, half_log_det=half_log_det)


def jitter_samples(x: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``jitter × column std`` (breaks exact ties)."""
    sd = x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return x + rng.standard_normal(x.shape) * (jitter * sd)
