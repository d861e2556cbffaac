"""Mutual information estimated on compressed representations, with compression diagnostics.

The paper's method (Butakov et al., ICLR 2024; Theorems 1 and 4 of ``book/theory.md``): compress
each high-dimensional side to a few coordinates, then estimate the MI between the codes with a
low-dimensional estimator.
:func:`lossy_mutual_information` does both steps and reports, next to the estimate, what the
compression may have cost:

* the **reconstruction error** of each side, ``E||x - D(E(x))||²`` (mean over samples of the
  squared error summed over all coordinates, in the data's units squared), from the
  compressor's own ``reconstruction_error``;
* when the noise level is known, the **two-sided bound** of :func:`ibcore.compression.compression_bound`
  on the MI lost by each side, valid for isotropic additive Gaussian noise and an orthogonal
  linear compressor (:class:`~ibcore.compression.PCACompressor` without whitening).

Why the per-side bounds add up (stated and proved in the book, chapter "Synthetic validation").
Let ``X~ = X + Z_X`` and ``Y~ = Y + Z_Y`` with ``Z_X ~ N(0, s_x² I)``, ``Z_Y ~ N(0, s_y² I)``
independent of each other and of ``(X, Y)``, and let ``A = E_X(X~)``, ``B = E_Y(Y~)`` be the
kept blocks of orthogonal changes of basis. Then

    0 <= I(X~; Y~) - I(A; B) <= U_X + U_Y,

where ``U_X`` is the upper end of ``compression_bound(n_x, n'_x, s_x², Delta_x)`` (and likewise
for Y): the first step ``I(X~; Y~) - I(A; Y~) = I(X~; Y~ | A) <= I(X; X~) - I(X; A)`` uses that
``Y~ - X - X~`` is a Markov chain, the second step is the same argument on the Y side with ``A``
in place of ``Y~``. The bound is about the *population* MI; the estimator's own error (its
``std`` and bias) comes on top.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..estimators import mutual_information
from ..result import Estimate
from ..validation import is_discrete_labels
from .bound import CompressionBound, compression_bound
from .pca import PCACompressor

__all__ = ["LossyEstimate", "lossy_mutual_information", "compress"]

_IDENTITY_BOUND = CompressionBound(0.0, 0.0)


@dataclass(frozen=True)
class LossyEstimate:
    """An MI estimate on compressed data with its compression diagnostics (all MI in nats).

    Attributes
    ----------
    estimate : Estimate
        ``Î(E_X(X); E_Y(Y))`` and its standard error, nats (as returned by
        :func:`ibcore.mutual_information` on the codes).
    method : str
        The estimator used on the codes.
    n : int
        Number of sample pairs.
    n_features_x, n_features_y : int
        Coordinates per sample before compression (pixels of an image); 0 for labels.
    code_dim_x, code_dim_y : int
        Coordinates per sample that the estimator saw (equal to ``n_features`` without a
        compressor).
    reconstruction_error_x, reconstruction_error_y : float or None
        ``Delta = E||x - D(E(x))||²`` on the estimation sample: mean over samples of the
        squared error *summed over coordinates*, in the data's units squared (divide by
        ``n_features`` for a per-coordinate MSE). ``None`` when that side was not compressed.
    bound_x, bound_y : CompressionBound or None
        ``(lower, upper)`` bounds, nats, on the MI lost by compressing that side,
        ``I(X; X~) - I(X; E(X~))``, for data with isotropic Gaussian noise of the stated
        variance and an unwhitened PCA compressor (see :func:`ibcore.compression.compression_bound`).
        ``(0, 0)`` for an uncompressed side (nothing is lost); ``None`` when the noise level is
        unknown.
    noise_var_x, noise_var_y : float or None
        The noise variances the bounds assume.
    """

    estimate: Estimate
    method: str
    n: int
    n_features_x: int
    n_features_y: int
    code_dim_x: int
    code_dim_y: int
    reconstruction_error_x: float | None = None
    reconstruction_error_y: float | None = None
    bound_x: CompressionBound | None = None
    bound_y: CompressionBound | None = None
    noise_var_x: float | None = None
    noise_var_y: float | None = None

    @property
    def value(self) -> float:
        """The point estimate, nats."""
        return self.estimate.value

    @property
    def std(self) -> float:
        """Its standard error, nats."""
        return self.estimate.std

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval of the estimate (see :meth:`ibcore.Estimate.ci`)."""
        return self.estimate.ci(level)

    @property
    def loss_bound(self) -> float | None:
        """Upper bound (nats) on ``I(X~; Y~) - I(E_X(X~); E_Y(Y~))``, the MI lost by compressing
        both sides (``U_X + U_Y``); ``None`` unless both sides have a bound."""
        if self.bound_x is None or self.bound_y is None:
            return None
        return self.bound_x.upper + self.bound_y.upper

    @property
    def upper(self) -> float | None:
        """``value + loss_bound``: with ``value`` this brackets the MI of the uncompressed noisy
        pair, up to the estimator's own error; ``None`` without both bounds."""
        bound = self.loss_bound
        return None if bound is None else self.value + bound

    def __format__(self, spec: str) -> str:
        text = format(self.estimate, spec)
        if self.loss_bound is not None:
            text += f" (compression loss <= {format(self.loss_bound, spec or '.4g')})"
        return text

    def __str__(self) -> str:
        return format(self, "")


def _check_compressor(comp, side: str):
    if comp is None:
        return None
    for attr in ("fit", "transform", "reconstruction_error"):
        if not callable(getattr(comp, attr, None)):
            raise TypeError(
                f"compressor_{side} must be None or a compressor with fit, transform and "
                f"reconstruction_error (e.g. ibcore.PCACompressor), got {type(comp).__name__}"
            )
    return comp


def _check_noise_var(v, side: str):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"noise_var_{side} must be a finite positive variance (data units²), got {v!r}")
    return float(v)


def _n_features(a) -> int:
    shape = np.shape(a)
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


def compress(compressor, x, flatten: bool = True) -> np.ndarray:
    """Codes ``compressor.transform(x)``; without a compressor, ``x`` itself, flattened to (n, d)
    when ``flatten`` (images kept as they are otherwise, e.g. for MINE's convolutional critic)."""
    if compressor is None:
        arr = np.asarray(x)
        return arr.reshape(len(arr), -1) if (flatten and arr.ndim > 1) else arr
    return compressor.transform(x)


def _check_bound_applies(comp, noise_var, side):
    if comp is None or noise_var is None:
        return
    if not isinstance(comp, PCACompressor) or comp.whiten:
        raise ValueError(
            f"noise_var_{side} was given, but the compression bound holds only for an orthogonal "
            "linear compressor (PCACompressor with whiten=False); got "
            f"{type(comp).__name__}{' with whiten=True' if isinstance(comp, PCACompressor) else ''}. "
            "Leave noise_var unset for other compressors (the reconstruction error is still reported)."
        )


def _bound(comp, n_features, code_dim, noise_var, delta, side):
    if comp is None:
        return _IDENTITY_BOUND
    if noise_var is None:
        return None
    return compression_bound(n_features, code_dim, noise_var, delta)


def lossy_mutual_information(x, y, method: str = "wkl", *, compressor_x=None, compressor_y=None,
                             fit: bool = False, noise_var_x: float | None = None,
                             noise_var_y: float | None = None, discrete_y: bool | None = None,
                             **options) -> LossyEstimate:
    """Estimate I(X; Y) in nats on compressed representations, with compression diagnostics.

    Parameters
    ----------
    x : array (n, ...)
        Samples of X: vectors (n, d) or images (n, H, W), whatever ``compressor_x`` takes.
    y : array (n, ...) or labels (n,)
        Samples of Y, or class labels (then ``compressor_y`` must be None).
    method : str
        Any method of :func:`ibcore.mutual_information` ("wkl", "kl", "kde-ml", "kde-lse",
        "ksg", "mine"), applied to the codes.
    compressor_x, compressor_y : compressor or None
        ``None`` (identity: the data is used as is, flattened to vectors except for MINE, whose
        convolutional critic takes images), a fitted compressor (e.g.
        :class:`~ibcore.compression.PCACompressor`, :class:`~ibcore.compression.ConvAutoencoder`), or an
        unfitted one with ``fit=True``. The same object may serve both sides.
    fit : bool, default False
        Fit the compressors here, on the estimation sample itself (a shared compressor is fitted
        once on ``x`` and ``y`` stacked). Convenient, but the codes then depend on the sample;
        the synthetic benchmark (:mod:`ibcore.synthetic.runner`) instead trains each compressor once,
        on independent samples of the marginal distribution, and passes it fitted.
    noise_var_x, noise_var_y : float, optional
        Variance ``s²`` (data units²) of the isotropic additive Gaussian noise in ``x`` (``y``),
        when known. With an unwhitened :class:`~ibcore.compression.PCACompressor` this gives the
        two-sided bound on the MI lost by that side (``bound_x``); with any other compressor
        it is refused (the bound does not hold).
    discrete_y : bool, optional
        As in :func:`ibcore.mutual_information`.
    **options
        Passed to :func:`ibcore.mutual_information` (``k``, ``random_state``, MINE options, ...).

    Returns
    -------
    LossyEstimate
        The estimate with reconstruction errors and bounds; see its attributes for units.

    Notes
    -----
    The reconstruction errors are measured on the same samples the estimate uses. For the bound
    they should be those of the *noisy* data, which is what ``x`` is assumed to be.
    """
    if not isinstance(fit, (bool, np.bool_)):
        raise TypeError(f"fit must be True or False, got {fit!r}")
    compressor_x = _check_compressor(compressor_x, "x")
    compressor_y = _check_compressor(compressor_y, "y")
    noise_var_x = _check_noise_var(noise_var_x, "x")
    noise_var_y = _check_noise_var(noise_var_y, "y")
    discrete = is_discrete_labels(y, discrete_y)
    if discrete and compressor_y is not None:
        raise ValueError("y holds class labels (discrete_y); compressor_y must be None")
    if discrete and noise_var_y is not None:
        raise ValueError("y holds class labels (discrete_y); noise_var_y does not apply")
    _check_bound_applies(compressor_x, noise_var_x, "x")
    _check_bound_applies(compressor_y, noise_var_y, "y")
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same number of samples; got {n} and {len(y)}")
    if fit:
        if compressor_x is not None and compressor_x is compressor_y:
            if np.shape(x)[1:] != np.shape(y)[1:]:
                raise ValueError(
                    "one compressor shared by x and y needs samples of the same shape; got "
                    f"{np.shape(x)[1:]} and {np.shape(y)[1:]}"
                )
            compressor_x.fit(np.concatenate([np.asarray(x), np.asarray(y)]))
        else:
            for comp, data in ((compressor_x, x), (compressor_y, y)):
                if comp is not None:
                    comp.fit(data)
    # MINE takes images as they are (its convolutional critic); the other estimators need vectors
    flatten = method != "mine"
    cx = compress(compressor_x, x, flatten)
    cy = y if discrete else compress(compressor_y, y, flatten)
    est = mutual_information(cx, cy, method, discrete_y=discrete_y if not discrete else True, **options)

    nfx, nfy = _n_features(x), (0 if discrete else _n_features(y))
    dx = _n_features(cx)
    dy = 0 if discrete else _n_features(cy)
    rex = None if compressor_x is None else float(compressor_x.reconstruction_error(x, per="sample"))
    rey = None if compressor_y is None else float(compressor_y.reconstruction_error(y, per="sample"))
    bx = _bound(compressor_x, nfx, dx, noise_var_x, rex, "x")
    by = _IDENTITY_BOUND if discrete else _bound(compressor_y, nfy, dy, noise_var_y, rey, "y")
    return LossyEstimate(
        estimate=est, method=method, n=n, n_features_x=nfx, n_features_y=nfy, code_dim_x=dx,
        code_dim_y=dy, reconstruction_error_x=rex, reconstruction_error_y=rey, bound_x=bx,
        bound_y=by, noise_var_x=noise_var_x, noise_var_y=noise_var_y,
    )
