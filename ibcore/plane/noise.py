"""Stochastic layers for the information-plane analysis (the paper's Algorithm 2).

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
    ``x + sigma * eps`` ("absolute", the paper's framing after Goldfeld et al., ICML 2019) or
    ``x + sigma * |x| * eps`` ("relative", what the authors' code does); active in train *and*
    eval mode.
:func:`make_stochastic`
    add noise before or after chosen layers of an existing model, keeping its ``state_dict`` keys.
:func:`noise_seed`
    make the noise of a model reproducible inside a ``with`` block.
:func:`noise_entropy`
    ``h(Z) = (d/2) log(2 pi e sigma^2)`` nats.
"""
from __future__ import annotations

import contextlib
import math
import numbers

import torch
from torch import nn

from ..device import model_device

__all__ = ["GaussianNoise", "make_stochastic", "noise_seed", "noise_modules", "noise_entropy", "noise_order", "NOISE_MODES"]

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
        ``h(L~ | f(X)) = h(Z)`` is known (Proposition 3 of ``book/theory.md``). ``"relative"``:
        ``x + sigma * x * eps`` (multiplicative noise), what the authors' code
        (``VanessB/Information-v3``) uses; the scale ``sigma * x``
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

    ``h(Z) = (dim / 2) * log(2 pi e sigma^2)`` (Proposition 3 of ``book/theory.md``). For
    ``L~ = f(X) + Z`` with ``Z`` the only randomness given ``X``, ``I(X; L~) = h(L~) - h(Z)``;
    this stays exact after an orthonormal projection of ``L~`` to ``dim`` coordinates (PCA
    without whitening).

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


def resolve_layers(model: nn.Module, layers) -> dict[str, nn.Module]:
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
        chosen = resolve_layers(model, layers)
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


def noise_order(model: nn.Module, layers, x_probe, device) -> list[tuple[str, str]]:
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
