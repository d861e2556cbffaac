"""A shared encoder of paired samples trained for the canonical correlation of its codes.

:class:`CanonicalEncoder` learns one network ``f`` for both sides of a paired sample so that
the codes ``f(X)`` and ``f(Y)`` have the largest Gaussian mutual information of their canonical
correlations, ``-1/2 sum_i log(1 - rho_i^2)`` nats: deep canonical correlation analysis (Andrew
et al., ICML 2013) with the Gaussian closed form as its objective. Whatever ``f`` is learned,
``I(f(X); f(Y)) <= I(X; Y)`` by data processing, so the MI of its codes on pairs it was *not*
trained on is a lower bound on the MI of the data. ``method="auto"`` uses it for two image
sides whose codes go to the flow estimator: codes trained to be linearly related across the
sides are what the flow's Gaussian-copula model sees best, where an autoencoder's codes are an
arbitrary warp of the latents (``benchmarks/image_codes.md``).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..device import resolve_device
from ..nn import make_generator, seeded, split_indices, to_tensor, train_loop
from ..settings import store_arguments
from ..validation import check_fitted, check_float, check_int, check_seed
from .base import as_flat, as_widths

__all__ = ["CanonicalEncoder", "canonical_correlations"]


def canonical_correlations(u, v, ridge: float = 1e-4):
    """Canonical correlations (torch, differentiable) of codes ``u`` and ``v``, both (m, c).

    Each side's covariance gets ``ridge`` times the identity (relative to its mean variance) so
    that a batch with a nearly constant code stays invertible; the correlations are clipped
    below 1 so that the Gaussian MI stays finite.
    """
    import torch

    m, c = u.shape
    u = u - u.mean(0)
    v = v - v.mean(0)
    eye = torch.eye(c, dtype=u.dtype, device=u.device)

    def inv_root(a):
        s = a.T @ a / (m - 1)
        s = s + ridge * (torch.diagonal(s).mean().detach() + 1e-12) * eye
        w, q = torch.linalg.eigh(s)
        return q @ torch.diag(w.clamp_min(1e-12).rsqrt()) @ q.T

    t = inv_root(u) @ (u.T @ v / (m - 1)) @ inv_root(v)
    return torch.linalg.svdvals(t).clamp(max=1.0 - 1e-6)


def _gaussian_mi(rho):
    import torch

    return -0.5 * torch.log1p(-rho * rho).sum()


class CanonicalEncoder(TransformerMixin, BaseEstimator):
    """One dense encoder for both sides of paired samples, trained for the canonical MI of its codes.

    ``fit(x, y)`` trains ``f``: [Linear(h) -> LeakyReLU(0.2)] for each ``h`` in ``hidden``, then
    Linear(latent_dim), to maximise the Gaussian MI of the canonical correlations of ``f(x)`` and
    ``f(y)`` on mini-batches of pairs (nats; see :func:`canonical_correlations`). A seeded
    ``validation_fraction`` of the pairs is held out: training stops when its canonical MI has
    not risen for ``patience`` epochs, and the best weights are kept. Inputs are centred by the
    mean sample of both sides and divided by one global standard deviation, so the encoder sees
    the same relative scale of every coordinate in any units.

    The Gaussian MI of the codes is the training objective, not an estimate of their MI: for codes
    that are not jointly Gaussian it can lie above or below it (the 12 + 12 coordinates of a
    warped 1.5-nat Gaussian pair in ``tests/compression/test_canonical.py`` read 2.4 nats). Run an
    estimator on the codes of held-out pairs, as ``method="auto"`` does.

    Parameters
    ----------
    latent_dim : int
        Code size ``c``.
    hidden : tuple of int, default (512, 256)
    dropout : float, default 0.0
        Dropout before each hidden layer while training.
    epochs : int, default 800
        Upper bound on the passes over the pairs (early stopping ends most runs far sooner).
    batch_size : int, default 512
        Pairs per step; the canonical correlations of a batch need many more pairs than ``c``.
    lr : float, default 1e-3
        Adam's learning rate.
    validation_fraction : float, default 0.2
    patience : int, default 40
    ridge : float, default 1e-4
    random_state : int, optional
        Seeds the split, the initial weights and the shuffles.
    device : {"auto", "cpu", "cuda"}, default "auto"
    progress : bool, default True

    Attributes
    ----------
    encoder_ : torch.nn.Module
    mean_ : ndarray (d,)
    scale_ : float
    n_features_in_ : int
    input_shape_ : tuple
    history_ : ndarray (n_epochs_,)
        Mean canonical MI of the training batches per epoch (nats).
    val_history_ : ndarray (n_epochs_,)
        Canonical MI of the validation pairs per epoch (nats).
    n_epochs_, best_epoch_ : int
    """

    def __init__(self, latent_dim: int, hidden=(512, 256), *, dropout: float = 0.0, epochs: int = 800,
                 batch_size: int = 512, lr: float = 1e-3, validation_fraction: float = 0.2, patience: int = 40,
                 ridge: float = 1e-4, random_state=None, device="auto", progress: bool = True):
        store_arguments(self, locals())

    def _check(self) -> tuple:
        check_int(self.latent_dim, "latent_dim", 1)
        check_int(self.epochs, "epochs", 1)
        check_int(self.batch_size, "batch_size", 2)
        check_int(self.patience, "patience", 1)
        check_float(self.lr, "lr", low=0.0, low_open=True)
        check_float(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_open=True,
                    high_open=True)
        check_float(self.ridge, "ridge", low=0.0)
        check_float(self.dropout, "dropout", low=0.0, high=1.0, high_open=True)
        check_seed(self.random_state, "random_state")
        if not isinstance(self.progress, (bool, np.bool_)):
            raise TypeError(f"progress must be True or False, got {self.progress!r}")
        return as_widths(self.hidden)

    def fit(self, x, y) -> "CanonicalEncoder":
        """Train on paired samples ``x`` and ``y`` of the same shape (n, ...). Returns ``self``."""
        import torch

        hidden = self._check()
        fx, shape = as_flat(x, "x")
        fy, shape_y = as_flat(y, "y")
        if shape != shape_y:
            raise ValueError(f"x and y must have the same shape per sample (one encoder serves both), "
                             f"got {shape} and {shape_y}")
        if len(fx) != len(fy):
            raise ValueError(f"x and y must have the same number of samples, got {len(fx)} and {len(fy)}")
        c = int(self.latent_dim)
        tr, va = split_indices(len(fx), float(self.validation_fraction), self.random_state)
        if len(va) <= 2 * c or len(tr) <= 2 * c:
            raise ValueError(f"{len(fx)} pairs are too few for {c}-unit codes: the training and the validation "
                             f"pairs ({len(tr)} and {len(va)}) must each exceed 2 * latent_dim")
        both = np.concatenate([fx, fy])
        self.mean_ = both.mean(axis=0)
        sd = float((both - self.mean_).std())
        self.scale_ = sd if sd > 0 else 1.0
        self.n_features_in_, self.input_shape_ = fx.shape[1], shape
        device = resolve_device(self.device)
        self.device_ = device
        with seeded(self.random_state):
            layers, cin = [], fx.shape[1]
            for h in hidden:
                if self.dropout > 0:
                    layers.append(torch.nn.Dropout(float(self.dropout)))
                layers += [torch.nn.Linear(cin, h), torch.nn.LeakyReLU(0.2)]
                cin = h
            layers.append(torch.nn.Linear(cin, c))
            self.encoder_ = torch.nn.Sequential(*layers).to(device)
        xt, yt = (to_tensor(((a - self.mean_) / self.scale_).astype(np.float32), device) for a in (fx, fy))
        xtr, ytr, xva, yva = xt[tr], yt[tr], xt[va], yt[va]
        opt = torch.optim.Adam(self.encoder_.parameters(), lr=float(self.lr))
        ridge = float(self.ridge)

        def step(idx):
            self.encoder_.train()
            mi = _gaussian_mi(canonical_correlations(self.encoder_(xtr[idx]), self.encoder_(ytr[idx]), ridge))
            opt.zero_grad(set_to_none=True)
            (-mi).backward()
            opt.step()
            return mi.item()

        def evaluate():
            self.encoder_.eval()
            with torch.no_grad():
                return _gaussian_mi(canonical_correlations(self.encoder_(xva), self.encoder_(yva), ridge)).item()

        bsz = min(int(self.batch_size), len(tr))
        res = train_loop(step, len(tr), epochs=int(self.epochs), batch_size=bsz,
                         generator=make_generator(self.random_state, device), evaluate=evaluate, mode="max",
                         patience=int(self.patience), model=self.encoder_, drop_last=True,
                         progress=bool(self.progress), desc=type(self).__name__, postfix="nats")
        self.encoder_.eval()
        self.history_ = np.asarray(res.history)
        self.val_history_ = np.asarray(res.monitor)
        self.n_epochs_ = res.epochs_run
        self.best_epoch_ = res.best_epoch
        return self

    def transform(self, x) -> np.ndarray:
        """Codes (n, latent_dim), float64, of samples of either side."""
        import torch

        check_fitted(self, "encoder_")
        flat, shape = as_flat(x, "x")
        if shape != tuple(self.input_shape_):
            raise ValueError(f"x has shape {shape} per sample, but the encoder was fitted on "
                             f"{tuple(self.input_shape_)}")
        data = ((flat - self.mean_) / self.scale_).astype(np.float32)
        out = []
        with torch.no_grad():
            for s in range(0, len(data), 4096):
                out.append(self.encoder_(to_tensor(data[s:s + 4096], self.device_)).cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.empty((0, int(self.latent_dim)))
