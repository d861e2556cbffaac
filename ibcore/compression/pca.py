"""PCA compression: an orthonormal linear projection (scikit-learn's PCA, no whitening by default).

It follows scikit-learn's conventions: ``__init__`` stores options, ``fit`` returns ``self``,
learned state ends in ``_``; using it before ``fit`` raises
:class:`sklearn.exceptions.NotFittedError`. Codes are ``float64`` arrays ``(n_samples, n_components)``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..validation import check_int
from .base import as_flat, check_fitted, check_per, squared_error

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

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    n_features_in_ : int
    input_shape_ : tuple
        Per-sample shape seen by ``fit`` (images are flattened, ``inverse_transform`` restores it).
    """

    def __init__(self, n_components: int, whiten: bool = False, random_state=None):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

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
        """Codes of shape (n, n_components)."""
        flat = self._flat_checked(x)
        return self.pca_.transform(flat)

    def inverse_transform(self, codes) -> np.ndarray:
        """Reconstructions with the per-sample shape seen by ``fit``."""
        check_fitted(self, "pca_")
        c, _ = as_flat(codes, "codes")
        if c.shape[1] != self.pca_.n_components_:
            raise ValueError(f"codes must have {self.pca_.n_components_} columns, got {c.shape[1]}")
        return self.pca_.inverse_transform(c).reshape((len(c),) + self.input_shape_)

    def reconstruction_error(self, x, per: str = "sample") -> float:
        """Mean squared reconstruction error of ``x``, in the data's units squared.

        ``per="sample"``: mean over samples of the squared error summed over all coordinates,
        ``E||x - x_hat||^2`` (the ``Delta`` of :func:`compression_bound`).
        ``per="coordinate"``: the same divided by the number of coordinates.
        """
        check_per(per)
        flat = self._flat_checked(x)
        rec = self.pca_.inverse_transform(self.pca_.transform(flat))
        return squared_error(flat, rec, per)
