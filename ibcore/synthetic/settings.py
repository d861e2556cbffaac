"""The options of one Algorithm 1 sweep as a :class:`SweepSettings` object, and their checks.

The command ``ibcore synthetic``, the Synthetic chapter and :func:`ibcore.synthetic.run_algorithm1`
all describe a sweep with one :class:`SweepSettings`. Most fields select *cells* (dataset, size,
estimator, input, compressor, MI value, n, seed, noise): every row of the results table carries
them, so one output directory may collect the cells of several sweeps. The others
(:data:`RUN_FIELDS`: compressor training sizes and the autoencoder, MINE and estimator options)
are not columns, so a directory refuses a sweep whose run fields differ from those it was
started with.
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ..compression import compressor_names
from ..estimators import estimator_names
from ..settings import RESUMABLE, Settings
from ..validation import check_int
from .images import AntiPCA, CovarianceBumps, GaussianBumps, Rectangles

__all__ = ["SweepSettings", "DATASETS", "INPUTS", "RUN_FIELDS", "parse_grid",
           "check_size"]

# name -> (generator factory, code dimension n' of the compressors, default MI range)
DATASETS = {
    "gaussians": (GaussianBumps, 2, 10.0),
    "covgaussians": (CovarianceBumps, 5, 10.0),
    "rectangles": (Rectangles, 4, 10.0),
    # the Anti-PCA manifold: 1 informative coordinate plus a nuisance, so codes of size 2;
    # "size" is the ambient dimension (32 in the paper)
    "antipca": (lambda size: AntiPCA(dim=size), 2, 4.0),
}
INPUTS = ("latent", "compressed", "raw")
_IMAGE_SIZES = (8, 16, 32, 64, 128)

#: fields that are not columns of the table: one directory holds one value of each
RUN_FIELDS = ("train_size", "val_size", "ae_options", "mine_options", "estimator_options")


def check_names(values, allowed, what):
    if isinstance(values, str):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"at least one {what} is needed; choose from {list(allowed)}")
    for v in values:
        if v not in allowed:
            raise ValueError(f"unknown {what} {v!r}; choose from {list(allowed)}")
    return list(dict.fromkeys(values))


def check_size(dataset: str, size) -> int:
    """Validate the image side (or, for ``antipca``, the ambient dimension)."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral):
        raise TypeError(f"size must be an integer, got {size!r}")
    size = int(size)
    if dataset == "antipca":
        if size < 3:
            raise ValueError(f"unsupported size {size} for antipca: the ambient dimension must be >= 3")
    elif size not in _IMAGE_SIZES:
        raise ValueError(
            f"unsupported image size {size} for {dataset}: the convolutional autoencoder and the MINE "
            f"critic need a power of two in {list(_IMAGE_SIZES)} (the paper uses 16 and 32)"
        )
    return size


def parse_grid(text) -> np.ndarray:
    """MI grid (nats) from ``"start:stop:num"`` (``numpy.linspace``, ends included), a
    comma-separated list ``"0,1,2.5"``, or a sequence of numbers. Values must be >= 0."""
    if isinstance(text, str):
        s = text.strip()
        try:
            if ":" in s:
                parts = s.split(":")
                if len(parts) != 3:
                    raise ValueError
                start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
                if num < 1:
                    raise ValueError
                grid = np.linspace(start, stop, num)
            else:
                grid = np.array([float(p) for p in s.split(",") if p.strip()])
        except ValueError:
            raise ValueError(
                f"cannot read the MI grid {text!r}: use 'start:stop:num' (e.g. 0:10:41) or a "
                "comma-separated list (e.g. 0,2.5,5)"
            ) from None
    else:
        try:
            grid = np.asarray(list(text), dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"grid must be a string or a sequence of numbers, got {text!r}") from None
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"the MI grid is empty: {text!r}")
    if not np.isfinite(grid).all():
        raise ValueError(f"the MI grid must be finite, got {grid}")
    if (grid < 0).any():
        raise ValueError(f"mutual information must be >= 0 nats; the grid has {grid[grid < 0][0]:g}")
    return grid




def _options(value, name) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict or None, got {type(value).__name__}")
    return dict(value)


@dataclasses.dataclass(frozen=True)
class SweepSettings(Settings):
    """Every option of one Algorithm 1 sweep (defaults: the paper's Gaussian-bump panel).

    Parameters
    ----------
    datasets : sequence of {"gaussians", "covgaussians", "rectangles", "antipca"}
    sizes : sequence of int
        Image sides (powers of two, 8 to 128; the paper: 16, 32). For ``antipca`` the size is the
        ambient dimension (32 in the paper).
    estimators : sequence of str
        Methods of :func:`ibcore.estimators.estimator_names` (the registry).
    compressors : sequence of str
        Compressors of :func:`ibcore.compression.compressor_names` (the registry) or ``"none"``.
        ``"none"``: the non-neural estimators also run on the raw (flattened) images.
    grid : str or sequence of float, optional
        True MI values, nats (see :func:`parse_grid`); default ``0:10:41`` (``0:4:41`` when
        every dataset is ``antipca``). Stored as a tuple of floats.
    n : int
        Sample pairs per MI value (the paper: 5,000).
    seed : int
        Master seed of everything (samples, compressor training, estimator randomness).
    latent : bool
        Also estimate on the latent shape parameters (the reference without compression loss).
    mine_inputs : sequence of {"raw", "latent", "compressed"}
        Inputs of MINE (the paper's baseline: raw images with the convolutional critic).
    train_size, val_size : int
        Marginal images for training / validating each compressor (the paper: 6,000 + 1,000).
    noise_std : float
        Std of isotropic Gaussian noise added to every image (0: noiseless, as in the paper).
        With PCA it gives ``bound_upper``, the bound on the MI lost by compression.
    ae_options, mine_options : dict
        Overrides of the autoencoder (:func:`~ibcore.synthetic.make_compressor`) and MINE
        options (e.g. ``{"epochs": 2000}``).
    estimator_options : dict
        Per-method options of :func:`ibcore.mutual_information`, e.g. ``{"wkl": {"k": 5}}``.
    device : {"auto", "cpu", "cuda"}
        Where the networks train (may change between runs into one directory).
    threads : int or None
        torch and BLAS CPU threads of every task of the sweep (training a compressor, sampling,
        estimating a cell), in this process or on a Dask worker: the same number everywhere
        gives the same numbers everywhere. 1 is fastest for the small nets on a shared CPU and
        lets a cluster run one task per core; None leaves each process's settings.
    """

    datasets: tuple = ("gaussians",)
    sizes: tuple = (16,)
    estimators: tuple = ("kl", "wkl")
    compressors: tuple = ("ae",)
    grid: tuple | str | None = None
    n: int = 5000
    seed: int = 0
    latent: bool = True
    mine_inputs: tuple = ("raw",)
    train_size: int = 6000
    val_size: int = 1000
    noise_std: float = 0.0
    ae_options: dict = dataclasses.field(default_factory=dict)
    mine_options: dict = dataclasses.field(default_factory=dict)
    estimator_options: dict = dataclasses.field(default_factory=dict)
    device: str = dataclasses.field(default="auto", metadata=RESUMABLE)
    threads: int | None = dataclasses.field(default=1, metadata=RESUMABLE)

    def _validate(self) -> None:
        datasets = check_names(self.datasets, DATASETS, "dataset")
        self._set("datasets", tuple(datasets))
        self._set("estimators", tuple(check_names(self.estimators, estimator_names(), "estimator")))
        self._set("compressors", tuple(check_names(self.compressors, compressor_names(none=True), "compressor")))
        self._set("mine_inputs", tuple(check_names(self.mine_inputs, INPUTS, "MINE input")))
        sizes = [self.sizes] if isinstance(self.sizes, numbers.Integral) else list(self.sizes)
        sizes = list(dict.fromkeys(sizes))
        if not sizes:
            raise ValueError("at least one size is needed")
        for d in datasets:
            for s in sizes:
                check_size(d, s)
        self._set("sizes", tuple(int(s) for s in sizes))
        grid = self.grid
        if grid is None:
            grid = "0:4:41" if set(datasets) == {"antipca"} else "0:10:41"
        self._set("grid", tuple(float(g) for g in parse_grid(grid)))
        self._set("n", check_int(self.n, "n", 1))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise TypeError(f"seed must be a non-negative integer, got {self.seed!r}")
        self._set("seed", int(self.seed))
        if not isinstance(self.latent, (bool, np.bool_)):
            raise TypeError(f"latent must be True or False, got {self.latent!r}")
        self._set("latent", bool(self.latent))
        self._set("train_size", check_int(self.train_size, "train_size", 2))
        self._set("val_size", check_int(self.val_size, "val_size", 0))
        ns = self.noise_std
        if isinstance(ns, bool) or not isinstance(ns, numbers.Real) or not ns >= 0:
            raise ValueError(f"noise_std must be a real number >= 0, got {ns!r}")
        self._set("noise_std", float(ns))
        for name in ("ae_options", "mine_options", "estimator_options"):
            self._set(name, _options(getattr(self, name), name))
        unknown = sorted(set(self.estimator_options) - set(estimator_names()))
        if unknown:
            raise ValueError(f"estimator_options names unknown estimator(s) {unknown}")
        if self.device not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.threads is not None:
            self._set("threads", check_int(self.threads, "threads", 1))
