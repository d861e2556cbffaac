"""Lossless compression by a normalizing flow: codes ``f(E(x))`` that follow N(0, I).

The paper compresses each side *lossily* (PCA, an autoencoder) and estimates entropies on the
codes; it names lossless compression by normalizing flows as the way forward, which its
authors took in MIENF (Butakov et al., NeurIPS 2024). :class:`FlowCompressor` is that stage as
a compressor: an optional base compressor ``E`` (an autoencoder for images; none for vectors)
followed by an invertible map ``f`` trained so that the codes are standard normal: a monotone
piecewise-linear normal-score map per coordinate (the Gaussian-copula step: it removes heavy
tails, which zuko's splines, defined on [-5, 5], would pass through unchanged), affine whitening,
then zuko's neural spline flow trained by maximum likelihood. A diffeomorphism changes no mutual
information, so on top of ``E`` nothing is lost (``I(f(E(X)); f(E(Y))) = I(E(X); E(Y))``), while
the estimators downstream get codes with light tails and a smooth, nearly Gaussian density,
the case every entropy estimator here is most accurate on. With ``method="flow"`` the joint
Gaussianization of :class:`ibcore.FlowMI` follows instead.

It is fitted on one marginal sample, like every compressor here, so one fitted compressor serves
X and Y (the synthetic benchmark shares it between both sides, as the paper shares its
autoencoder).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..device import resolve_device
from ..estimators.flow import check_flow_options, start_at_identity, whitener
from ..nn import fit_likelihood, limit_threads, seeded, to_tensor
from ..settings import store_arguments
from ..validation import check_fitted
from .base import as_flat, check_per, squared_error

__all__ = ["FlowCompressor"]

_KNOTS = 256  # quantile knots of the marginal normal-score map (smooth at the scale of 1/256)


class _MarginalScores:
    """Per coordinate, the strictly increasing piecewise-linear map through the sample quantiles
    at levels ``(i + 1/2) / K`` and the standard-normal quantiles at the same levels, extended
    linearly beyond the end knots: invertible on the whole line, so nothing is lost."""

    def fit(self, a: np.ndarray) -> "_MarginalScores":
        from scipy.special import ndtri

        levels = (np.arange(min(_KNOTS, len(a))) + 0.5) / min(_KNOTS, len(a))
        self.knots_ = []
        for j in range(a.shape[1]):
            q = np.quantile(a[:, j], levels)
            q, first = np.unique(q, return_index=True)   # ties: keep strictly increasing knots
            if len(q) < 2:
                raise ValueError(f"coordinate {j} of the codes is constant: a flow cannot map it onto N(0, 1)")
            self.knots_.append((q, ndtri(levels[first])))
        return self

    @staticmethod
    def _apply(v, xs, ys):
        out = np.interp(v, xs, ys)
        lo, hi = v < xs[0], v > xs[-1]
        out[lo] = ys[0] + (v[lo] - xs[0]) * (ys[1] - ys[0]) / (xs[1] - xs[0])
        out[hi] = ys[-1] + (v[hi] - xs[-1]) * (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        return out

    def transform(self, a: np.ndarray) -> np.ndarray:
        return np.column_stack([self._apply(a[:, j], q, z) for j, (q, z) in enumerate(self.knots_)])

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        return np.column_stack([self._apply(z[:, j], zz, q) for j, (q, zz) in enumerate(self.knots_)])


class FlowCompressor(TransformerMixin, BaseEstimator):
    """A base compressor (optional) followed by a normalizing flow onto N(0, I).

    Parameters
    ----------
    base : compressor or None, default None
        Applied first (e.g. :class:`ibcore.ConvAutoencoder` for images); ``None`` takes the
        flattened input as it is (then the compressor is lossless: ``inverse_transform`` recovers
        ``x`` up to float32 rounding).
    fit_base : bool, default True
        Fit ``base`` in :meth:`fit`; ``False`` uses an already fitted base as it is.
    transforms : int, default 3
        Autoregressive spline transforms (:class:`zuko.flows.NSF`).
    hidden : tuple of int, default (64, 64)
    epochs, batch_size, lr : int, int, float
        Adam budget (default 300 epochs of 256 at lr 1e-3).
    patience : int, default 10
        Early stopping on the validation negative log-likelihood (best weights restored).
    validation_fraction : float, default 0.2
    random_state : int, optional
        Seeds the split, the initial weights and the shuffles (bit-reproducible on the CPU).
    device : {"cpu", "auto", "cuda"}, default "cpu"
    progress : bool, default False
    threads : int or None, default 1

    Attributes
    ----------
    n_components_ : int
        Code dimension (that of the base's codes, or of the flattened input).
    scores_ : object
        The per-coordinate normal-score map (invertible, piecewise linear).
    mean_, whitener_ : ndarray
        The affine whitening applied after it, before the flow.
    flow_ : zuko.flows.NSF
    epochs_run_ : int
    nll_ : float
        Validation negative log-likelihood per sample of the whitened codes (nats).
    """

    def __init__(self, base=None, *, fit_base: bool = True, transforms: int = 3, hidden=(64, 64),
                 epochs: int = 300, batch_size: int = 256, lr: float = 1e-3, patience: int = 10,
                 validation_fraction: float = 0.2, random_state=None, device="cpu", progress: bool = False,
                 threads: int | None = 1):
        store_arguments(self, locals())

    def _check(self):
        hidden = check_flow_options(self)
        if self.base is not None and not all(callable(getattr(self.base, a, None))
                                             for a in ("fit", "transform", "inverse_transform")):
            raise TypeError(f"base must be None or a compressor with fit, transform and inverse_transform, "
                            f"got {type(self.base).__name__}")
        return hidden

    def _base_codes(self, x) -> np.ndarray:
        if self.base is None:
            return as_flat(x)[0]
        return np.asarray(self.base.transform(x), dtype=np.float64)

    def fit(self, x, y=None) -> "FlowCompressor":
        """Fit the base (unless ``fit_base=False``) and the flow on samples ``x`` (n, ...)."""
        import torch
        import zuko

        hidden = self._check()
        if self.base is None:
            self.input_shape_ = as_flat(x)[1]
        elif self.fit_base:
            self.base.fit(x)
        codes = self._base_codes(x)
        n, d = codes.shape
        if n < 10:
            raise ValueError(f"FlowCompressor needs at least 10 samples, got {n}")
        self.scores_ = _MarginalScores().fit(codes)
        codes = self.scores_.transform(codes)
        self.mean_, self.whitener_, self.unwhitener_ = whitener(
            codes, "the codes", "a flow cannot map them onto N(0, I). Use a smaller base code")
        z = (codes - self.mean_) @ self.whitener_
        dev = resolve_device(self.device)
        rng = np.random.default_rng(self.random_state)
        seed = int(rng.integers(0, 2**31 - 1))
        perm = rng.permutation(n)
        n_val = max(2, int(round(self.validation_fraction * n)))
        zt = to_tensor(z[perm[n_val:]], dev, torch.float32)
        zv = to_tensor(z[perm[:n_val]], dev, torch.float32)
        with limit_threads(self.threads if dev.type == "cpu" else None):
            with seeded(seed):
                flow = zuko.flows.NSF(features=d, transforms=int(self.transforms), hidden_features=hidden).to(dev)
            start_at_identity(flow)  # the identity: training starts at the whitened Gaussian fit
            run = fit_likelihood(flow, lambda z: -flow().log_prob(z).mean(), (zt,), (zv,), lr=self.lr,
                                 epochs=self.epochs, batch_size=self.batch_size, patience=self.patience, seed=seed,
                                 device=dev, progress=self.progress, desc="flow compressor")
            with torch.no_grad():
                self.nll_ = float(-flow().log_prob(zv).mean().item())
        self.flow_ = flow.eval()
        self.device_ = dev
        self.n_components_ = d
        self.epochs_run_ = run.epochs_run
        return self

    def transform(self, x) -> np.ndarray:
        """Codes (n, n_components_), float64, approximately N(0, I) on the fitted distribution."""
        import torch

        check_fitted(self, "flow_")
        z = (self.scores_.transform(self._base_codes(x)) - self.mean_) @ self.whitener_
        with torch.no_grad(), limit_threads(self.threads if self.device_.type == "cpu" else None):
            u = self.flow_().transform(to_tensor(z, self.device_, torch.float32))
        out = u.double().cpu().numpy()
        if not np.isfinite(out).all():
            raise FloatingPointError("the flow produced non-finite codes; refit with a lower lr")
        return out

    def inverse_transform(self, codes, *, through_base: bool = True) -> np.ndarray:
        """Samples from codes: the flow's inverse, the whitening's and normal scores' inverses,
        then the base's decoder (``through_base=False`` stops before it and returns the base's
        codes: that part is exact up to float32 rounding, the decoder is as lossy as the base)."""
        import torch

        check_fitted(self, "flow_")
        u = np.asarray(codes, dtype=np.float64)
        if u.ndim != 2 or u.shape[1] != self.n_components_:
            raise ValueError(f"codes must have shape (n, {self.n_components_}), got {u.shape}")
        with torch.no_grad(), limit_threads(self.threads if self.device_.type == "cpu" else None):
            z = self.flow_().transform.inv(to_tensor(u, self.device_, torch.float32)).double().cpu().numpy()
        a = self.scores_.inverse_transform(z @ self.unwhitener_ + self.mean_)
        if self.base is not None and through_base:
            return self.base.inverse_transform(a)
        return a if self.base is not None else a.reshape((len(a), *self.input_shape_))

    def reconstruction_error(self, x, per: str = "sample") -> float:
        """``E||x - D(E(x))||²`` through the whole round trip (the base's loss plus float32 rounding)."""
        per = check_per(per)
        flat = as_flat(x)[0]
        back = as_flat(self.inverse_transform(self.transform(x)))[0]
        return squared_error(flat, back, per)
