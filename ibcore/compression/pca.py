"""PCA compression: an orthonormal linear projection (scikit-learn's PCA, no whitening by default).

It follows scikit-learn's conventions: ``__init__`` stores options, ``fit`` returns ``self``,
learned state ends in ``_``; using it before ``fit`` raises
:class:`sklearn.exceptions.NotFittedError`. Codes are ``float64`` arrays ``(n_samples, n_components)``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..validation import check_fitted, check_int
from .base import as_flat, check_per, squared_error

__all__ = ["PCACompressor"]


class PCACompressor(TransformerMixin, BaseEstimator):
    """Principal-component projection, a thin wrapper of :class:`sklearn.decomposition.PCA`.

    Without whitening the projection ``A = W (x - mean)`` has orthonormal rows ``W``: it is the
    kept block of an orthogonal change of basis, which is what the exact noise-entropy identity
    of :func:`compression_bound` needs (isotropic noise stays isotropic with the same variance).

    Parameters
    ----------
    n_components : int
        Number of kept coordinates ``n'``.
    whiten : bool, default False
        Scale each component to unit variance (breaks the orthonormality above).
    random_state : int, optional
        Passed to scikit-learn (only the randomized SVD solver uses it).
    drop_degenerate : bool, default False
        Drop the components without variance (at most ``1e-12`` of the largest): a constant
        code coordinate has entropy ``-inf`` and breaks every density-based estimator (e.g.
        one-hot rows that sum to 1, or dead units). Codes then have ``n_components_`` columns.

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    n_features_in_ : int
    input_shape_ : tuple
        Per-sample shape seen by ``fit`` (images are flattened, ``inverse_transform`` restores it).
    keep_ : ndarray of bool (n_components,)
        The components the codes keep (all unless ``drop_degenerate``).
    n_components_ : int
        Columns of the codes.
    """

    def __init__(self, n_components: int, whiten: bool = False, random_state=None, drop_degenerate: bool = False):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state
        self.drop_degenerate = drop_degenerate

    def fit(self, x, y=None) -> "PCACompressor":
        """Fit on ``x`` of shape (n, d) (or (n, ...) which is flattened)."""
        from sklearn.decomposition import PCA

        k = check_int(self.n_components, "n_components", 1)
        if not isinstance(self.whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be True or False, got {self.whiten!r}")
        flat, shape = as_flat(x)
        if k > min(flat.shape):
            raise ValueError(
                f"n_components={k} exceeds min(n_samples, n_features) = {min(flat.shape)} "
                f"for x of shape {flat.shape}"
            )
        self.pca_ = PCA(n_components=k, whiten=bool(self.whiten), random_state=self.random_state).fit(flat)
        self.n_features_in_ = flat.shape[1]
        self.input_shape_ = shape
        var = self.pca_.explained_variance_
        self.keep_ = np.ones(k, dtype=bool)
        if self.drop_degenerate:
            self.keep_ = var > 1e-12 * max(float(var.max()), 1e-300)
            if not self.keep_.any():
                raise ValueError("x is constant over its samples (no variance to compress)")
        self.n_components_ = int(self.keep_.sum())
        return self

    def _flat_checked(self, x, name="x") -> np.ndarray:
        check_fitted(self, "pca_")
        flat, _ = as_flat(x, name)
        if flat.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {flat.shape[1]} features per sample, but the compressor was fitted "
                f"on {self.n_features_in_} (input shape {self.input_shape_})"
            )
        return flat

    def transform(self, x) -> np.ndarray:
        """Codes of shape (n, n_components_)."""
        flat = self._flat_checked(x)
        codes = self.pca_.transform(flat)
        return codes if self.keep_.all() else codes[:, self.keep_]

    def _full(self, codes: np.ndarray) -> np.ndarray:
        """Codes of every fitted component (zeros for the dropped ones)."""
        if self.keep_.all():
            return codes
        full = np.zeros((len(codes), len(self.keep_)))
        full[:, self.keep_] = codes
        return full

    def inverse_transform(self, codes) -> np.ndarray:
        """Reconstructions with the per-sample shape seen by ``fit``."""
        check_fitted(self, "pca_")
        c, _ = as_flat(codes, "codes")
        if c.shape[1] != self.n_components_:
            raise ValueError(f"codes must have {self.n_components_} columns, got {c.shape[1]}")
        return self.pca_.inverse_transform(self._full(c)).reshape((len(c),) + self.input_shape_)

    def reconstruction_error(self, x, per: str = "sample") -> float:
        """Mean squared reconstruction error of ``x``, in the data's units squared.

        ``per="sample"``: mean over samples of the squared error summed over all coordinates,
        ``E||x - x_hat||^2`` (the ``Delta`` of :func:`compression_bound`).
        ``per="coordinate"``: the same divided by the number of coordinates.
        """
        check_per(per)
        flat = self._flat_checked(x)
        rec = self.pca_.inverse_transform(self._full(self.transform(flat)))
        return squared_error(flat, rec, per)
