"""MINE: mutual information neural estimation (Belghazi et al., 2018), the paper's baseline.

A critic ``T(x, y)`` is trained to maximise the Donsker-Varadhan lower bound

.. math:: \\hat I = \\operatorname{mean}_{\\text{joint}} T(x, y)
          - \\log \\operatorname{mean}_{\\text{marginal}} e^{T(x, y')},

where the marginal pairs ``(x, y')`` pair each ``x`` with the ``y`` of another row of the same
batch (a random permutation of ``y`` inside the batch). The plain mini-batch gradient of the
log-mean-exp term is biased; following the paper, its denominator ``mean e^T`` is replaced by
an exponential moving average (weight ``ema_alpha`` = 0.01 on the newest batch), implemented as
a custom autograd function. The reported value of each batch is still the plain DV bound.

The estimate is the mean of the per-epoch DV values over the last part of training (the paper:
the last 500 of 5,000 epochs), clipped at 0, with ``std = std(window) / sqrt(len(window))``.
That ``std`` measures the spread of the *training curve* around its mean, not the sampling
error over data sets: it ignores the strong correlation between successive epochs and the
estimator's bias, so it understates the real uncertainty.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..device import resolve_device
from ..nn import make_generator, seeded, split_indices, to_tensor, train_loop
from ..result import Estimate
from ..settings import store_arguments
from ..validation import (as_labels, as_real_array, check_choice, check_fitted, check_float, check_int, check_seed,
                          is_discrete_labels)

__all__ = ["MINE", "mine_mutual_information", "MINE_OPTIONS"]

_CRITICS = ("auto", "dense", "conv")
_MIN_IMAGE_SIDE = 8


def _lme_ema_function():
    import torch

    class LogMeanExpEMA(torch.autograd.Function):
        """``log mean exp(t)`` whose backward uses a moving-average denominator.

        Forward: the exact batch value. Backward: ``d/dt_i = exp(t_i) / (n * ema)`` with
        ``ema`` the moving average of ``mean exp(t)`` passed as ``log_ema`` (log domain, so a
        large critic output cannot overflow).
        """

        @staticmethod
        def forward(ctx, t, log_ema):
            ctx.save_for_backward(t, log_ema)
            return torch.logsumexp(t, dim=0) - math.log(t.shape[0])

        @staticmethod
        def backward(ctx, grad):
            t, log_ema = ctx.saved_tensors
            return grad * torch.exp(t - log_ema) / t.shape[0], None

    return LogMeanExpEMA


def _log_mean_exp(t):
    import torch

    return torch.logsumexp(t, dim=0) - math.log(t.shape[0])


def _build_critic(kinds, hidden: int, channels: int):
    """Critic network: one branch per input (conv stack for images, identity for vectors)."""
    import torch
    from torch import nn

    class ConvBranch(nn.Module):
        # Conv(1->c) -> MaxPool 2 -> LeakyReLU, then more [Conv(c->c) -> MaxPool -> LeakyReLU]
        # until the side is about 4, then a 4x4 pool (identity for power-of-two sides): c*16 features
        def __init__(self, side):
            super().__init__()
            n_more = max(int(math.floor(math.log2(side))) - 3, 0)
            layers, cin = [], 1
            for _ in range(1 + n_more):
                layers += [nn.Conv2d(cin, channels, 3, padding=1), nn.MaxPool2d(2), nn.LeakyReLU(0.01)]
                cin = channels
            layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten()]
            self.net = nn.Sequential(*layers)

        def forward(self, v):
            return self.net(v)

    class Critic(nn.Module):
        def __init__(self):
            super().__init__()
            branches, width = [], 0
            for kind, size in kinds:
                if kind == "image":
                    branches.append(ConvBranch(size))
                    width += channels * 16
                else:
                    branches.append(nn.Identity())
                    width += size
            self.branches = nn.ModuleList(branches)
            self.head = nn.Sequential(
                nn.Linear(width, hidden), nn.LeakyReLU(0.01),
                nn.Linear(hidden, hidden), nn.LeakyReLU(0.01),
                nn.Linear(hidden, 1),
            )

        def forward(self, x, y):
            feats = torch.cat([self.branches[0](x), self.branches[1](y)], dim=1)
            return self.head(feats).squeeze(1)

    return Critic()


class MINE:
    """MINE estimator of I(X; Y) in nats (Donsker-Varadhan bound, moving-average gradient).

    Parameters
    ----------
    critic : {"auto", "dense", "conv"}, default "auto"
        ``"dense"``: concat(x, y) -> Linear(H) -> LeakyReLU -> Linear(H, H) -> LeakyReLU ->
        Linear(1), images flattened. ``"conv"``: every image input (``(n, H, W)`` or
        ``(n, 1, H, W)``, sides >= 8) goes through its own conv stack (as in the authors'
        ``VanessB/pytorch-mine``: Conv 3x3 with ``conv_channels`` filters, MaxPool 2, LeakyReLU,
        repeated down to 4x4) before the same
        dense head; vector inputs enter the head directly. ``"auto"``: ``"conv"`` when an input
        is an image, else ``"dense"``.
    hidden : int, default 100
        Width ``H`` of the dense head (the paper: 100; 400 in its compression test).
    conv_channels : int, default 8
    epochs : int, default 1000
        Step budget in passes over the training rows (the paper: 5,000).
    batch_size : int, default 512
        Rows per step; the last, smaller batch of an epoch is dropped.
    lr : float, default 1e-3
        Adam learning rate.
    ema_alpha : float, default 0.01
        Weight of the newest batch in the moving average of ``mean exp T``; 1 gives the plain
        (biased) MINE gradient.
    average_last : int or float, default 0.1
        Window of the final estimate: an int is a number of epochs, a float in (0, 1] a share
        of the epochs run (the paper: 500 of 5,000).
    validation_fraction : float, default 0.0
        Seeded share of rows held out; their DV value is recorded per epoch in
        ``val_history_`` and monitored by early stopping.
    patience : int, optional
        Early stopping: stop after ``patience`` epochs without an improvement of the monitored
        DV value (held-out if ``validation_fraction > 0``, else the training curve: a plateau
        test) larger than ``min_delta``. ``None`` runs the full budget.
    min_delta : float, default 0.0
    estimate_from : {"train", "validation"}, default "train"
        Which per-epoch curve the final estimate averages (the paper: training).
    standardize : bool, default True
        z-score vector coordinates (and images by one global mean/std) before training; MI is
        invariant to these invertible maps and the critic trains better on unit-scale inputs.
    random_state : int, optional
        Seeds the weights, the split, the shuffles and the permutations.
    device : {"auto", "cpu", "cuda"} or torch.device, default "auto"
    progress : bool, default True
        tqdm progress bar.

    Attributes
    ----------
    critic_ : torch.nn.Module
    history_ : ndarray of shape (n_epochs_,)
        Per-epoch DV estimate on the training rows (sample-weighted mean of the batch values).
    val_history_ : ndarray or None
        Per-epoch DV estimate on the held-out rows.
    n_epochs_ : int
    stopped_early_ : bool
    critic_kind_ : str
        ``"dense"`` or ``"conv"``.

    Examples
    --------
    >>> est = MINE(epochs=200, random_state=0, progress=False).fit(x, y).estimate()  # doctest: +SKIP
    """

    def __init__(self, critic: str = "auto", hidden: int = 100, *, conv_channels: int = 8,
                 epochs: int = 1000, batch_size: int = 512, lr: float = 1e-3, ema_alpha: float = 0.01,
                 average_last=0.1, validation_fraction: float = 0.0, patience: int | None = None,
                 min_delta: float = 0.0, estimate_from: str = "train", standardize: bool = True,
                 random_state=None, device="auto", progress: bool = True):
        store_arguments(self, locals())

    def __repr__(self) -> str:
        return f"MINE(critic={self.critic!r}, hidden={self.hidden}, epochs={self.epochs}, random_state={self.random_state})"

    # -- checks -----------------------------------------------------------------------------

    def _check_options(self) -> None:
        check_choice(self.critic, "critic", _CRITICS)
        check_int(self.hidden, "hidden", 1)
        check_int(self.conv_channels, "conv_channels", 1)
        check_int(self.epochs, "epochs", 1)
        check_int(self.batch_size, "batch_size", 2)
        check_float(self.lr, "lr", low=0.0, low_open=True)
        check_float(self.ema_alpha, "ema_alpha", low=0.0, high=1.0, low_open=True)
        a = self.average_last
        if isinstance(a, bool) or not isinstance(a, numbers.Real):
            raise TypeError(f"average_last must be an int (epochs) or a float in (0, 1], got {a!r}")
        if isinstance(a, numbers.Integral):
            check_int(a, "average_last", 1)
        else:
            check_float(a, "average_last", low=0.0, high=1.0, low_open=True)
        check_float(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, high_open=True)
        if self.patience is not None:
            check_int(self.patience, "patience", 1)
        check_float(self.min_delta, "min_delta", low=0.0)
        check_choice(self.estimate_from, "estimate_from", ("train", "validation"))
        if self.estimate_from == "validation" and self.validation_fraction == 0:
            raise ValueError("estimate_from='validation' needs validation_fraction > 0")
        for flag in ("standardize", "progress"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        check_seed(self.random_state, "random_state")

    def _prepare(self, v, name: str, discrete: bool):
        """-> (float32 array for the critic, ("image", side) or ("vector", d))."""
        if discrete:
            codes, classes, _ = as_labels(v, name)
            return np.eye(len(classes), dtype=np.float32)[codes], ("vector", len(classes))
        arr = as_real_array(v, name).astype(np.float32)
        is_image = (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[1] == 1)) and \
            min(arr.shape[-2:]) >= _MIN_IMAGE_SIDE
        if is_image and self.critic != "dense":
            img = arr.reshape(len(arr), 1, *arr.shape[-2:])
            if self.standardize:
                sd = float(img.std())
                img = (img - img.mean()) / (sd if sd > 0 else 1.0)
            return np.ascontiguousarray(img, dtype=np.float32), ("image", min(arr.shape[-2:]))
        if arr.ndim == 1:
            arr = arr[:, None]
        flat = arr.reshape(len(arr), -1)
        if self.standardize:
            sd = flat.std(axis=0)
            flat = (flat - flat.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
        return np.ascontiguousarray(flat, dtype=np.float32), ("vector", flat.shape[1])

    # -- training ---------------------------------------------------------------------------

    def fit(self, x, y, *, discrete_y: bool | None = None) -> "MINE":
        """Train the critic on paired samples.

        Parameters
        ----------
        x : array of shape (n,), (n, d_x), (n, H, W) or (n, 1, H, W)
        y : same layouts, or class labels of shape (n,) (one-hot encoded for the critic)
        discrete_y : bool, optional
            Treat ``y`` as labels; by default 1-D integer/string ``y`` is labels.

        Returns
        -------
        self
        """
        import torch

        self._check_options()
        discrete_y = is_discrete_labels(y, discrete_y)
        xs, x_kind = self._prepare(x, "x", False)
        ys, y_kind = self._prepare(y, "y", bool(discrete_y))
        if len(xs) != len(ys):
            raise ValueError(f"x and y must have the same number of samples; got {len(xs)} and {len(ys)}")
        if self.critic == "conv" and "image" not in (x_kind[0], y_kind[0]):
            raise ValueError(
                "critic='conv' needs image input: x or y of shape (n, H, W) or (n, 1, H, W) with "
                f"sides >= {_MIN_IMAGE_SIDE}; got x {np.shape(x)} and y {np.shape(y)}"
            )
        tr, va = split_indices(len(xs), float(self.validation_fraction), self.random_state)
        if len(tr) < 4:
            raise ValueError(f"MINE needs at least 4 training samples, got {len(tr)}")

        device = resolve_device(self.device)
        with seeded(self.random_state):
            critic = _build_critic((x_kind, y_kind), int(self.hidden), int(self.conv_channels))
        self.critic_ = critic.to(device)
        self.critic_kind_ = "conv" if "image" in (x_kind[0], y_kind[0]) else "dense"
        self.device_ = device
        gen = make_generator(self.random_state, device)
        xt, yt = to_tensor(xs[tr], device), to_tensor(ys[tr], device)
        xv = to_tensor(xs[va], device) if len(va) else None
        yv = to_tensor(ys[va], device) if len(va) else None
        opt = torch.optim.Adam(self.critic_.parameters(), lr=float(self.lr))
        lme_ema = _lme_ema_function()
        log_alpha, log_keep = math.log(self.ema_alpha), math.log1p(-self.ema_alpha)
        log_ema = [None]  # moving average of mean exp(T_marginal), log domain, on the device

        def step(idx):
            xb, yb = xt[idx], yt[idx]
            perm = torch.randperm(len(idx), generator=gen, device=device)
            t_joint = self.critic_(xb, yb)
            t_marg = self.critic_(xb, yb[perm])
            lme = _log_mean_exp(t_marg.detach())
            log_ema[0] = lme if log_ema[0] is None else torch.logaddexp(log_ema[0] + log_keep, lme + log_alpha)
            loss = lme_ema.apply(t_marg, log_ema[0]) - t_joint.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return (t_joint.detach().mean() - lme).item()

        def evaluate():
            return self._dv(xv, yv, gen)

        res = train_loop(
            step, len(tr), epochs=int(self.epochs), batch_size=int(self.batch_size), generator=gen,
            evaluate=evaluate if xv is not None else None, mode="max", patience=self.patience,
            min_delta=float(self.min_delta), model=self.critic_, restore_best=False, drop_last=True,
            progress=bool(self.progress), desc="MINE", postfix="DV",
        )
        self.critic_.eval()
        self.history_ = np.asarray(res.history)
        self.val_history_ = np.asarray(res.monitor) if xv is not None else None
        self.n_epochs_ = res.epochs_run
        self.stopped_early_ = res.stopped_early
        return self

    def _dv(self, x, y, gen, chunk: int = 4096) -> float:
        """DV bound of the current critic on (x, y), marginal by one permutation of y."""
        import torch

        perm = torch.randperm(len(x), generator=gen, device=x.device)
        self.critic_.eval()
        joint, marg = [], []
        with torch.no_grad():
            for s in range(0, len(x), chunk):
                joint.append(self.critic_(x[s:s + chunk], y[s:s + chunk]))
                marg.append(self.critic_(x[s:s + chunk], y[perm[s:s + chunk]]))
        self.critic_.train()
        return (torch.cat(joint).mean() - _log_mean_exp(torch.cat(marg))).item()

    # -- result -----------------------------------------------------------------------------

    def estimate(self) -> Estimate:
        """Mean DV value over the last ``average_last`` epochs, clipped at 0 (nats).

        ``std`` is ``std(window) / sqrt(len(window))``: the spread of the training curve, not a
        sampling standard error (successive epochs are correlated; bias is not included).
        """
        check_fitted(self, "history_", "fit(x, y)")
        curve = self.history_ if self.estimate_from == "train" else self.val_history_
        a = self.average_last
        count = int(a) if isinstance(a, numbers.Integral) else int(math.ceil(a * len(curve)))
        window = curve[-max(1, min(count, len(curve))):]
        std = float(window.std(ddof=1) / math.sqrt(len(window))) if len(window) > 1 else 0.0
        return Estimate(max(float(window.mean()), 0.0), std)


MINE_OPTIONS = (
    "critic", "hidden", "conv_channels", "epochs", "batch_size", "lr", "ema_alpha", "average_last",
    "validation_fraction", "patience", "min_delta", "estimate_from", "standardize", "random_state", "device",
    "progress",
)


def mine_mutual_information(x, y, *, discrete_y: bool | None = None, random_state=None, **options) -> Estimate:
    """I(X; Y) in nats by MINE; a functional front end of :class:`MINE`.

    Parameters
    ----------
    x, y : arrays
        Paired samples, see :meth:`MINE.fit` (vectors, images, or labels for ``y``).
    discrete_y : bool, optional
        Treat ``y`` as class labels.
    random_state : int, optional
        Seeds the critic's initialisation, the validation split and the batches.
    **options
        Any of :data:`MINE_OPTIONS` (the :class:`MINE` constructor's parameters).

    Returns
    -------
    Estimate
        Mean of the last per-epoch DV values, clipped at 0, and the training-curve std
        (see :meth:`MINE.estimate`).
    """
    unknown = sorted(set(options) - set(MINE_OPTIONS))
    if unknown:
        raise TypeError(f"unknown option(s) for method 'mine': {unknown}; accepted: {list(MINE_OPTIONS)}")
    return MINE(random_state=random_state, **options).fit(x, y, discrete_y=discrete_y).estimate()
