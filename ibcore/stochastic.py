"""Stochastic layers and layer-output capture for the information-plane analysis (spec §2 T3, §4, §7.3).

Why noise
---------
For a deterministic network, ``L = f(X)`` and ``I(X; L)`` is infinite (continuous ``X``) or
constant (discrete ``X``): there is nothing to watch. Injecting Gaussian noise ``Z`` makes every
layer a noisy channel ``L~ = f(X) + Z`` with finite ``I(X; L~)``; the noise must stay on at
evaluation time, since the estimates are computed from evaluation passes. With fixed-variance
(absolute) noise ``h(L~ | X) = h(Z)`` is known in closed form (:func:`noise_entropy`), which gives
``I(X; L~) = h(L~) - h(Z)`` from one entropy estimate when ``Z`` is the only randomness given ``X``.

Contents
--------
:class:`GaussianNoise`
    ``x + sigma * eps`` ("absolute", the paper's framing after Goldfeld et al.) or
    ``x + sigma * |x| * eps`` ("relative", what the authors' code does); active in train *and*
    eval mode.
:func:`make_stochastic`
    add noise before or after chosen layers of an existing model, keeping its ``state_dict`` keys.
:func:`noise_seed`
    make the noise of a model reproducible inside a ``with`` block.
:class:`LayerRecorder`
    forward hooks capturing named layers' outputs, flattened to ``(n, features)``.
:func:`collect`
    one unshuffled, gradient-free evaluation pass returning layer outputs together with the
    inputs and labels *of the same pass*, so the X/L pairing is exact by construction (the
    authors' CIFAR10 notebook paired a shuffled ``C_X`` with unshuffled layer outputs, spec §7.8).
:func:`noise_entropy`
    ``h(Z) = (d/2) log(2 pi e sigma^2)`` nats.
"""
from __future__ import annotations

import contextlib
import math
import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

__all__ = [
    "GaussianNoise", "make_stochastic", "noise_seed", "noise_modules", "LayerRecorder", "collect",
    "Collected", "noise_entropy", "NOISE_MODES",
]

NOISE_MODES = ("absolute", "relative")
# attribute names under which make_stochastic registers its noise as a child of the layer
_INPUT_NOISE = "input_noise"
_OUTPUT_NOISE = "output_noise"


def _check_sigma(sigma, mode) -> float:
    if mode not in NOISE_MODES:
        raise ValueError(f"noise mode must be one of {NOISE_MODES}, got {mode!r}")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma):
        raise TypeError(f"sigma must be a finite real number, got {sigma!r}")
    sigma = float(sigma)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if mode == "absolute" and sigma == 0:
        raise ValueError(
            "sigma must be > 0 for absolute noise: with sigma = 0 the layer is deterministic and "
            "I(X; L) is infinite, and h(Z) = (d/2) log(2 pi e sigma^2) is -inf"
        )
    return sigma


class GaussianNoise(nn.Module):
    """Additive Gaussian noise that stays on in evaluation mode.

    Parameters
    ----------
    sigma : float
        Noise scale. ``"absolute"``: the standard deviation of the added noise (same units as
        the activations), must be > 0. ``"relative"``: the noise-to-signal ratio, the std of the
        noise added to ``x_i`` being ``sigma * |x_i|``; ``sigma = 0`` is allowed and turns the
        module into the identity.
    mode : {"absolute", "relative"}
        ``"absolute"``: ``x + sigma * eps``, the stochastic network of Goldfeld et al. for which
        ``h(L~ | f(X)) = h(Z)`` is known (spec T3). ``"relative"``: ``x + sigma * x * eps``
        (multiplicative noise), what the authors' code uses (spec §7.3); the scale ``sigma * x``
        stays inside the autograd graph, as in their current code.
    generator : torch.Generator, optional
        Source of the noise. ``None`` uses torch's global generator (seed it with
        ``torch.manual_seed``); see also :func:`noise_seed`. When the generator lives on another
        device than the input, the noise is drawn there and moved.

    Notes
    -----
    The module has no parameters or buffers, so adding it never changes a ``state_dict``. The
    noise is drawn in the input's dtype; ``eps ~ N(0, I)`` has the input's shape (independent
    across samples and features).
    """

    def __init__(self, sigma: float, mode: str = "absolute", generator: torch.Generator | None = None):
        super().__init__()
        self.sigma = _check_sigma(sigma, mode)
        self.mode = mode
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"GaussianNoise expects a tensor, got {type(x).__name__}")
        if self.sigma == 0:
            return x
        gen = self.generator
        if gen is None:
            eps = torch.randn(x.shape, dtype=x.dtype, device=x.device)
        else:
            eps = torch.randn(x.shape, dtype=x.dtype, device=gen.device, generator=gen).to(x.device)
        if self.mode == "absolute":
            return x + self.sigma * eps
        return x + self.sigma * x * eps

    def entropy(self, dim: int) -> float:
        """``h(Z)`` in nats of the noise added to a ``dim``-dimensional vector (absolute mode only)."""
        if self.mode != "absolute":
            raise ValueError(
                "the noise entropy is a constant only for absolute noise; with relative noise "
                "h(Z | x) = sum_i log(sigma |x_i|) + (d/2) log(2 pi e) depends on the activations"
            )
        return noise_entropy(dim, self.sigma)

    def extra_repr(self) -> str:
        seeded = ", generator=set" if self.generator is not None else ""
        return f"sigma={self.sigma:g}, mode={self.mode!r}{seeded}"


def noise_entropy(dim: int, sigma: float) -> float:
    """Differential entropy of isotropic Gaussian noise ``N(0, sigma^2 I_dim)``, in nats.

    ``h(Z) = (dim / 2) * log(2 pi e sigma^2)`` (spec T3). For ``L~ = f(X) + Z`` with ``Z`` the
    only randomness given ``X``, ``I(X; L~) = h(L~) - h(Z)``; this stays exact after an
    orthonormal projection of ``L~`` to ``dim`` coordinates (PCA without whitening).

    Parameters
    ----------
    dim : int
        Dimension of the noise vector, >= 1.
    sigma : float
        Noise standard deviation, > 0.
    """
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    sigma = _check_sigma(sigma, "absolute")
    return 0.5 * int(dim) * math.log(2 * math.pi * math.e * sigma ** 2)


# --- making a model stochastic ----------------------------------------------------------------

class _NoiseHook:
    """Forward (pre-)hook that applies the layer's own noise child.

    A named, picklable callable rather than a closure: ``copy.deepcopy`` and ``torch.save`` of
    the model then keep a hook that calls the *copy's* noise module.
    """

    def __init__(self, attr: str):
        self.attr = attr

    def __call__(self, module, args, output=None):
        noise = getattr(module, self.attr)
        if output is not None:  # forward hook: replace the output
            return noise(output)
        if not args:
            raise TypeError(f"{type(module).__name__} was called without a positional input to add noise to")
        return (noise(args[0]),) + tuple(args[1:])


def _available(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def _name_error(unknown, model: nn.Module, what: str = "layer") -> ValueError:
    names = _available(model)
    shown = ", ".join(repr(n) for n in names[:60])
    more = f", ... ({len(names) - 60} more)" if len(names) > 60 else ""
    return ValueError(
        f"unknown {what} name(s) {list(unknown)} in {type(model).__name__}; available names "
        f"(as in model.named_modules()): {shown}{more}"
    )


def _resolve_layers(model: nn.Module, layers) -> dict[str, nn.Module]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("no layers given; pass at least one name from model.named_modules()")
    if not all(isinstance(n, str) for n in layers):
        raise TypeError(f"layer names must be strings, got {layers!r}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layer names must be unique, got {layers!r}")
    modules = dict(model.named_modules())
    unknown = [n for n in layers if n not in modules]
    if unknown:
        raise _name_error(unknown, model)
    return {n: modules[n] for n in layers}


def make_stochastic(
    model: nn.Module,
    sigma: float,
    mode: str = "absolute",
    where: str = "inputs",
    layers=None,
    types=(nn.Conv2d, nn.Linear),
) -> nn.Module:
    """Add :class:`GaussianNoise` to the inputs (or outputs) of chosen layers, in place.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; nested modules are addressed by their qualified names.
    sigma, mode
        As in :class:`GaussianNoise`.
    where : {"inputs", "outputs"}
        Noise on each chosen layer's (first positional) input, like the paper's classifier, or on
        its output.
    layers : str or list of str, optional
        Qualified names as listed by ``model.named_modules()`` (e.g. ``"features.0"``); an
        unknown name raises ``ValueError`` listing the available ones. ``None`` selects every
        module that is an instance of ``types``.
    types : tuple of module classes
        Used only when ``layers`` is None. Default: ``(nn.Conv2d, nn.Linear)``.

    Returns
    -------
    model : torch.nn.Module
        The same object, modified (``copy.deepcopy`` it first to keep a deterministic copy).

    Notes
    -----
    Each noise module is registered as a child of its layer (``<layer>.input_noise`` or
    ``<layer>.output_noise``) and applied by a forward pre-hook (forward hook for outputs).
    Because :class:`GaussianNoise` has no parameters or buffers, the ``state_dict`` keys are
    exactly those of the original model, so weights load in both directions; the noise shows in
    ``print(model)`` and ``named_modules()`` (and so is reached by :func:`noise_seed`). The model's
    own ``forward`` is untouched. A layer that already has noise at ``where`` is refused.
    """
    sigma = _check_sigma(sigma, mode)
    if where not in ("inputs", "outputs"):
        raise ValueError(f"where must be 'inputs' or 'outputs', got {where!r}")
    if layers is None:
        if isinstance(types, type):
            types = (types,)
        types = tuple(types)
        if not types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in types):
            raise TypeError(f"types must be a tuple of torch.nn.Module subclasses, got {types!r}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        chosen = {n: m for n, m in model.named_modules() if isinstance(m, types) and not isinstance(m, GaussianNoise)}
        if not chosen:
            raise ValueError(
                f"no module of types {[t.__name__ for t in types]} in {type(model).__name__}; "
                "pass layers=[names] instead"
            )
    else:
        chosen = _resolve_layers(model, layers)
    attr = _INPUT_NOISE if where == "inputs" else _OUTPUT_NOISE
    clash = [n for n, m in chosen.items() if attr in m._modules]
    if clash:
        raise ValueError(f"layer(s) {clash} already have noise on their {where}")
    for module in chosen.values():
        module.add_module(attr, GaussianNoise(sigma, mode))
        if where == "inputs":
            module.register_forward_pre_hook(_NoiseHook(attr))
        else:
            module.register_forward_hook(_NoiseHook(attr))
    return model


def noise_modules(model: nn.Module) -> dict[str, GaussianNoise]:
    """All :class:`GaussianNoise` modules of ``model`` by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, GaussianNoise)}


def model_device(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); the CPU for a stateless model."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


@contextlib.contextmanager
def noise_seed(model: nn.Module, seed: int, device=None):
    """Make every :class:`GaussianNoise` of ``model`` draw from one seeded generator in the block.

    The generators the modules had before are restored on exit, so training noise keeps using
    torch's global stream. Use it for reproducible evaluation passes::

        with noise_seed(model, 0):
            out = model(x)

    Parameters
    ----------
    model : torch.nn.Module
    seed : int
        Non-negative seed.
    device : torch.device or str, optional
        Device of the generator; default the model's (first parameter's) device. Noise for
        inputs on another device is drawn there and moved.

    Yields
    ------
    generator : torch.Generator
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative integer, got {seed!r}")
    mods = noise_modules(model)
    dev = model_device(model) if device is None else torch.device(device)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed))
    old = {n: m.generator for n, m in mods.items()}
    try:
        for m in mods.values():
            m.generator = gen
        yield gen
    finally:
        for n, m in mods.items():
            m.generator = old[n]


# --- capturing layer outputs ------------------------------------------------------------------

class LayerRecorder:
    """Capture the outputs of named layers with forward hooks.

    Use as a context manager; the hooks exist only inside the block::

        with LayerRecorder(model, ["features.2", "classifier.1"]) as rec:
            for xb in batches:
                model(xb)
        outputs = rec.outputs()   # {"features.2": array (n, d1), "classifier.1": array (n, d2)}

    Parameters
    ----------
    model : torch.nn.Module
    layers : str or list of str
        Qualified names from ``model.named_modules()`` (conv, linear, containers, activations:
        any module). Unknown names raise ``ValueError`` listing the available ones.
    as_numpy : bool, default True
        ``outputs()`` returns float64 numpy arrays; ``False`` returns float64 CPU tensors.

    Notes
    -----
    Each call of a hooked module appends its output, detached, flattened to ``(batch, -1)`` and
    copied to the CPU in float64. Outputs are concatenated in call order, so the rows follow the
    order in which the batches were fed. A module called several times per forward (weight
    sharing) records every call. A tuple output records its first element.
    """

    def __init__(self, model: nn.Module, layers, as_numpy: bool = True):
        self._modules = _resolve_layers(model, layers)
        self.model = model
        self.layers = list(self._modules)
        self.as_numpy = bool(as_numpy)
        self._handles: list = []
        self._store: dict[str, list] = {n: [] for n in self.layers}

    def _hook(self, name):
        def hook(module, args, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returned {type(output).__name__}, not a tensor")
            out = output.detach()
            out = out.reshape(out.shape[0], -1) if out.ndim > 1 else out.reshape(-1, 1)
            self._store[name].append(out.to(device="cpu", dtype=torch.float64))
        return hook

    @property
    def active(self) -> bool:
        """Whether the hooks are installed."""
        return bool(self._handles)

    def __enter__(self):
        if self._handles:
            raise RuntimeError("LayerRecorder is already active; it cannot be entered twice")
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self._modules.items()]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
        return False

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self._store = {n: [] for n in self.layers}

    def outputs(self) -> dict:
        """``{name: (n, d_layer)}`` float64 arrays (or tensors), rows in call order.

        A layer that was never called raises ``RuntimeError`` (it is not on the model's forward
        path, or nothing was run yet).
        """
        missing = [n for n in self.layers if not self._store[n]]
        if missing:
            raise RuntimeError(
                f"no outputs recorded for layer(s) {missing}: nothing was run inside the block, or "
                "these modules are not used by the model's forward"
            )
        out = {}
        for n in self.layers:
            t = torch.cat(self._store[n], dim=0)
            out[n] = t.numpy() if self.as_numpy else t
        return out


class Collected(NamedTuple):
    """Result of :func:`collect`; rows of every field are aligned (same sample, same row).

    Attributes
    ----------
    outputs : dict
        ``{layer name: float64 array (n, d_layer)}``.
    inputs : torch.Tensor or None
        ``(n, ...)`` inputs in the order they were fed (CPU), ``None`` if not kept.
    labels : torch.Tensor or None
        ``(n,)`` labels of the same rows (CPU), ``None`` when the data had none.
    """

    outputs: dict
    inputs: torch.Tensor | None
    labels: torch.Tensor | None


def _batches(data, labels, batch_size):
    """Yield ``(x, y_or_None)`` CPU/any-device batches in a fixed order."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset

    if isinstance(data, DataLoader):
        if labels is not None:
            raise ValueError("labels must not be given with a DataLoader; they come from its batches")
        ds = data.dataset
        if isinstance(ds, IterableDataset):
            # no index order to restore: the stream's own order is the pass order
            loader = data
        else:
            # the loader may shuffle; rebuild it over the same dataset in index order
            loader = DataLoader(ds, batch_size=data.batch_size or batch_size, shuffle=False,
                                collate_fn=data.collate_fn, num_workers=data.num_workers)
        for batch in loader:
            yield _split_batch(batch)
        return
    if isinstance(data, Dataset):
        if labels is not None:
            raise ValueError("labels must not be given with a Dataset; they come from its items")
        for batch in DataLoader(data, batch_size=batch_size, shuffle=False):
            yield _split_batch(batch)
        return
    if isinstance(data, tuple):
        if len(data) != 2 or labels is not None:
            raise ValueError("a tuple must be (inputs, labels); do not pass labels= as well")
        data, labels = data
    if isinstance(data, torch.Tensor):
        x = data
    else:
        x = torch.as_tensor(np.asarray(data))
        if x.is_floating_point():  # numpy defaults to float64; torch models to float32
            x = x.float()
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"inputs are empty or a scalar: shape {tuple(x.shape)}")
    y = None
    if labels is not None:
        y = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"inputs have {x.shape[0]} rows but labels have {y.shape[0]}")
    for start in range(0, x.shape[0], batch_size):
        yield x[start:start + batch_size], (None if y is None else y[start:start + batch_size])


def _split_batch(batch):
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) >= 1:
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise TypeError(f"batches must be tensors or (inputs, labels) pairs, got {type(batch).__name__}")


def collect(
    model: nn.Module,
    data,
    layers,
    *,
    labels=None,
    device=None,
    batch_size: int = 2048,
    seed: int | None = None,
    keep_inputs: bool = True,
) -> Collected:
    """One evaluation pass: layer outputs, inputs and labels in one fixed order.

    The model runs in eval mode (dropout off, batch-norm frozen) under ``torch.no_grad``;
    :class:`GaussianNoise` stays on. Every module's ``training`` flag is restored afterwards.
    Inputs, labels and layer outputs come from the same batches of the same pass, so row ``i``
    of every result is the same sample: this is what keeps ``C_X`` and ``C_L`` paired.

    Parameters
    ----------
    model : torch.nn.Module
    data : tensor, array, ``(inputs, labels)`` pair, Dataset or DataLoader
        A DataLoader over a map-style dataset is re-read in index order, whatever its sampler
        (a shuffling loader gives the same rows every call); an iterable dataset is read once
        in its own order and the returned inputs/labels record that order.
    layers : str or list of str
        Names from ``model.named_modules()``.
    labels : tensor or array, optional
        ``(n,)`` labels for tensor/array ``data``.
    device : torch.device or str, optional
        Where the batches go; default the model's device. The model is not moved: it must
        already be there.
    batch_size : int, default 2048
        Used for tensors, arrays and Datasets.
    seed : int, optional
        Seed the evaluation noise (:func:`noise_seed`) for a reproducible pass.
    keep_inputs : bool, default True
        Return the inputs (CPU); ``False`` saves memory.

    Returns
    -------
    Collected
        ``(outputs, inputs, labels)``; ``outputs[name]`` is float64 ``(n, d_layer)``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    recorder = LayerRecorder(model, layers)
    model_dev = model_device(model)
    dev = model_dev if device is None else torch.device(device)
    if dev.type != model_dev.type or (dev.index is not None and model_dev.index is not None
                                      and dev.index != model_dev.index):
        raise ValueError(f"device={dev} but the model's parameters are on {model_dev}; move the model first")
    flags = {m: m.training for m in model.modules()}
    xs, ys = [], []
    seeding = noise_seed(model, seed) if seed is not None else contextlib.nullcontext()
    try:
        model.eval()
        with torch.no_grad(), seeding, recorder:
            for xb, yb in _batches(data, labels, int(batch_size)):
                model(xb.to(dev))
                if keep_inputs:
                    xs.append(xb.detach().cpu())
                if yb is not None:
                    ys.append(torch.as_tensor(yb).detach().cpu())
    finally:
        for m, flag in flags.items():
            m.training = flag
    outputs = recorder.outputs()
    n = next(iter(outputs.values())).shape[0]
    inputs = torch.cat(xs, dim=0) if keep_inputs else None
    y = torch.cat(ys, dim=0) if ys else None
    bad = {k: v.shape[0] for k, v in outputs.items() if v.shape[0] != n}
    if bad or (y is not None and y.shape[0] != n):
        raise RuntimeError(
            f"recorded row counts differ ({ {k: v.shape[0] for k, v in outputs.items()} }, labels "
            f"{None if y is None else y.shape[0]}): a layer is called more than once per forward "
            "or some batches had no labels"
        )
    return Collected(outputs, inputs, y)
