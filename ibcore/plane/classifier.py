"""The paper's MNIST classifier and its one-epoch training and evaluation.

* :class:`MNISTClassifier`: the paper's stochastic conv net; its six analysed outputs are the
  modules ``layer1`` .. ``layer5`` and ``probs`` (see :data:`ANALYSED_LAYERS`), ready for
  :class:`ibcore.plane.LayerRecorder` / :func:`ibcore.plane.collect`.
* :func:`train_epoch`, :func:`evaluate`: one epoch of Adam/NLL training, and loss / accuracy /
  one-vs-one ROC-AUC on held-out data.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..device import model_device
from .noise import GaussianNoise

__all__ = ["MNISTClassifier", "ANALYSED_LAYERS", "train_epoch", "evaluate"]

#: names of the six analysed outputs of :class:`MNISTClassifier` (L1..L5 and exp(L5))
ANALYSED_LAYERS = ("layer1", "layer2", "layer3", "layer4", "layer5", "probs")


class _Exp(nn.Module):
    """``exp`` as a module, so the softmax probabilities are a hook point of their own."""

    def forward(self, x):
        return torch.exp(x)


class MNISTClassifier(nn.Module):
    """The paper's stochastic MNIST classifier (as ``MNIST_Classifier`` in ``VanessB/Information-v3``).

    Noise is applied to the input of every layer (the image included), dropout before the
    three conv layers, LeakyReLU (slope 0.01) activations, log-softmax output. Outputs of the
    named submodules, each taken after the layer's activation (before the next layer's noise):

    ===========  =====================================================================  ================
    name         operations                                                             output (dim)
    ===========  =====================================================================  ================
    ``layer1``   Dropout(p) -> noise -> Conv2d(1->8, 3x3) -> MaxPool 2 -> LeakyReLU       8x13x13 (1352)
    ``layer2``   Dropout(p) -> noise -> Conv2d(8->16, 3x3) -> MaxPool 2 -> LeakyReLU      16x5x5 (400)
    ``layer3``   Dropout(p) -> noise -> Conv2d(16->32, 3x3) -> MaxPool 2 -> LeakyReLU     32x1x1 (32)
    ``layer4``   Flatten -> noise -> Linear(32->32) -> LeakyReLU                          32
    ``layer5``   noise -> Linear(32->10) -> LogSoftmax                                    10
    ``probs``    exp(layer5): the softmax probabilities (the sixth analysed output)       10
    ===========  =====================================================================  ================

    Parameters
    ----------
    sigma : float, default 1e-3
        Noise scale of every :class:`~ibcore.plane.GaussianNoise` (paper: 1e-3).
    noise : {"relative", "absolute"}, default "relative"
        ``"relative"`` (std ``sigma * |x|``) is what the authors' code does; ``"absolute"`` is
        the fixed-variance noise for which ``h(L~ | X)`` is known (Proposition 3 of
        ``book/theory.md``). ``sigma = 0`` with
        relative noise gives a deterministic network.
    dropout : float, default 0.1
        Dropout probability before each conv layer (off in eval mode, unlike the noise).

    Notes
    -----
    ``forward`` takes ``(n, 1, 28, 28)`` normalised images and returns log-probabilities
    ``(n, 10)`` (use ``nn.NLLLoss``). The ``probs`` module is evaluated in every forward pass only
    so that hooks can see it; its output is not returned.
    """

    def __init__(self, sigma: float = 1e-3, noise: str = "relative", dropout: float = 0.1):
        super().__init__()
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

        def agn():
            return GaussianNoise(sigma, noise)

        def conv_block(c_in, c_out):
            return nn.Sequential(
                nn.Dropout(dropout), agn(), nn.Conv2d(c_in, c_out, kernel_size=3),
                nn.MaxPool2d(2), nn.LeakyReLU(),
            )

        self.layer1 = conv_block(1, 8)
        self.layer2 = conv_block(8, 16)
        self.layer3 = conv_block(16, 32)
        self.layer4 = nn.Sequential(nn.Flatten(), agn(), nn.Linear(32, 32), nn.LeakyReLU())
        self.layer5 = nn.Sequential(agn(), nn.Linear(32, 10), nn.LogSoftmax(dim=1))
        self.probs = _Exp()
        self.sigma = float(sigma)
        self.noise = noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"MNISTClassifier expects inputs of shape (n, 1, 28, 28), got {tuple(x.shape)}")
        logp = self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
        self.probs(logp)  # hook point for exp(L5)
        return logp


# --- training and evaluation -----------------------------------------------------------------

def _check_xy(x, y):
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("x and y must be torch tensors (see load_mnist)")
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has shape {tuple(y.shape)}; expected ({x.shape[0]},)")
    if x.shape[0] == 0:
        raise ValueError("x and y are empty")


def _check_batch(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def train_epoch(model: nn.Module, optimizer, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024,
                generator: torch.Generator | None = None) -> float:
    """One epoch of NLL training over shuffled mini-batches; returns the mean training loss.

    Parameters
    ----------
    model : torch.nn.Module
        Returns log-probabilities ``(n, classes)``.
    optimizer : torch.optim.Optimizer
    x, y : torch.Tensor
        Inputs ``(n, ...)`` and int64 labels ``(n,)``, on any device (batches are moved to
        the model's device).
    batch_size : int, default 1024
        The paper's training batch.
    generator : torch.Generator, optional
        CPU generator of the shuffle; ``None`` uses torch's global one.

    Returns
    -------
    float
        Sample-weighted mean NLL (nats) of the epoch's batches, in training mode (with dropout
        and noise).

    Notes
    -----
    Dropout and noise draw from torch's global generator (seed it with ``torch.manual_seed``):
    with that and ``generator`` seeded, an epoch on the CPU is reproducible.
    """
    _check_xy(x, y)
    batch_size = _check_batch(batch_size)
    dev = model_device(model)
    n = x.shape[0]
    perm = torch.randperm(n, generator=generator)
    model.train()
    total = 0.0
    for start in range(0, n, batch_size):
        idx = perm[start:start + batch_size]
        xb, yb = x[idx.to(x.device)].to(dev), y[idx.to(y.device)].to(dev)
        optimizer.zero_grad(set_to_none=True)
        loss = F.nll_loss(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
    return total / n


def _ovo_roc_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """Macro one-vs-one ROC-AUC (Hand & Till), also when some classes are absent from ``y``."""
    from sklearn.metrics import roc_auc_score

    present = np.unique(y)
    if len(present) < 2:
        return float("nan")  # no pair of classes to rank: AUC undefined
    if len(present) == probs.shape[1]:
        return float(roc_auc_score(y, probs, multi_class="ovo", labels=np.arange(probs.shape[1])))
    # sklearn's "ovo" needs every class present; the same pairwise average over those that are
    return _pairwise_auc(y, probs, present)


def _pairwise_auc(y: np.ndarray, probs: np.ndarray, classes) -> float:
    """Hand & Till's average over class pairs (a, b) of (AUC(a vs b) + AUC(b vs a)) / 2."""
    from sklearn.metrics import roc_auc_score

    scores = []
    for i, a in enumerate(classes):
        for b in classes[i + 1:]:
            mask = (y == a) | (y == b)
            scores.append(roc_auc_score(y[mask] == a, probs[mask, a]))
            scores.append(roc_auc_score(y[mask] == b, probs[mask, b]))
    return float(np.mean(scores))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> dict:
    """Loss, accuracy and one-vs-one ROC-AUC on held-out data (eval mode, noise on, no grad).

    Parameters
    ----------
    model : torch.nn.Module
        Returns log-probabilities ``(n, classes)``.
    x, y : torch.Tensor
        Inputs and int64 labels.
    batch_size : int, default 2048
        The paper's evaluation batch.

    Returns
    -------
    dict
        ``loss``: mean NLL in nats; ``accuracy`` in [0, 1]; ``roc_auc``: macro one-vs-one
        multi-class ROC-AUC of the predicted probabilities
        (``sklearn.metrics.roc_auc_score(multi_class="ovo")``), NaN when ``y`` has a single class.

    Notes
    -----
    Each module's ``training`` flag is restored afterwards.
    """
    _check_xy(x, y)
    batch_size = _check_batch(batch_size)
    dev = model_device(model)
    flags = {m: m.training for m in model.modules()}
    outs = []
    try:
        model.eval()
        with torch.no_grad():
            for start in range(0, x.shape[0], batch_size):
                outs.append(model(x[start:start + batch_size].to(dev)).double().cpu())
    finally:
        for m, flag in flags.items():
            m.training = flag
    logp = torch.cat(outs)
    yc = y.detach().cpu().to(torch.int64)
    if logp.ndim != 2 or int(yc.max()) >= logp.shape[1] or int(yc.min()) < 0:
        raise ValueError(f"labels must lie in 0..{logp.shape[1] - 1} for model outputs of shape {tuple(logp.shape)}")
    loss = float(F.nll_loss(logp, yc))
    acc = float((logp.argmax(dim=1) == yc).double().mean())
    probs = torch.softmax(logp, dim=1).numpy()  # renormalised in float64: sklearn checks the sums
    auc = _ovo_roc_auc(yc.numpy(), probs)
    if not math.isfinite(loss):
        raise FloatingPointError("the evaluation loss is not finite (diverged training?)")
    return {"loss": loss, "accuracy": acc, "roc_auc": auc}
