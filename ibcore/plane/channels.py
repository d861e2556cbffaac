"""The Gaussian channels through which the tracker's noise and exact modes observe a layer.

Both modes read ``I(X;L)`` as the information of ``T = L + sigma Z`` (``Z ~ N(0, I)``): the noise
mode estimates ``h(T) - h(sigma Z)`` on codes, the exact mode computes the mixture value
(:func:`ibcore.plane.mixture_information`). This module resolves ``sigma`` per layer and says
whether noise runs upstream of a layer (which turns the noise mode's value into an upper bound
and the exact mode's into the nested mixture form); :class:`~ibcore.plane.InformationPlaneTracker`
documents the modes.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from ..validation import check_float
from .noise import noise_modules, noise_order

__all__ = ["SIGMA_SCALES", "layer_sigmas", "noise_mode_sigma", "upstream_noise", "check_output_noise"]

SIGMA_SCALES = ("absolute", "layer")


def layer_sigmas(noise_sigma, layers, outputs: dict, sigma_scale: str, rows=None) -> dict[str, float]:
    """``{layer: sigma}`` of the observation channel, in each layer's units.

    Parameters
    ----------
    noise_sigma : float or dict
        One standard deviation for every layer, or ``{layer: value}`` with one value per layer.
    layers : list of str
    outputs : dict of str to array (n, d)
        A pass of the evaluation set (the layer scale is read from it).
    sigma_scale : {"absolute", "layer"}
        ``"layer"``: the value times the root-mean-square per-unit standard deviation of the
        layer on ``rows`` of ``outputs``.
    rows : array of int, optional
        The evaluation rows the channel is measured on (default: all).
    """
    if sigma_scale not in SIGMA_SCALES:
        raise ValueError(f"sigma_scale must be one of {SIGMA_SCALES}, got {sigma_scale!r}")
    if isinstance(noise_sigma, dict):
        unknown = sorted(set(noise_sigma) - set(layers))
        missing = [n for n in layers if n not in noise_sigma]
        if unknown or missing:
            raise ValueError(f"noise_sigma must have one value per layer: unknown {unknown}, missing {missing}")
        given = dict(noise_sigma)
    else:
        given = {name: noise_sigma for name in layers}
    sigmas = {}
    for name in layers:
        what = f"noise_sigma of layer {name!r}" if isinstance(noise_sigma, dict) else "noise_sigma"
        value = check_float(given[name], what, low=0.0, low_open=True)
        if sigma_scale == "layer":
            out = outputs[name] if rows is None else outputs[name][rows]
            scale = float(np.sqrt(out.var(axis=0).mean()))
            if not scale > 0:
                raise ValueError(f"layer {name!r} is constant on the evaluation rows: it has no scale "
                                 "for sigma_scale='layer'; use sigma_scale='absolute'")
            value = value * scale
        sigmas[name] = float(value)
    return sigmas


def noise_mode_sigma(model: nn.Module, noise_sigma=None):
    """``noise_sigma`` of the noise mode, by default the common ``sigma`` of the model's
    absolute noise modules.

    Refuses relative noise (std ``sigma |x|``) in the model: ``h(L~ | X)`` is then not a
    constant, so ``I(X;L~) != h(L~) - h(Z)``; without ``noise_sigma``, refuses a model without
    one common level.
    """
    mods = noise_modules(model)
    relative = sorted(n for n, m in mods.items() if m.mode == "relative" and m.sigma > 0)
    if relative:
        raise ValueError(
            "mi_mode='noise' needs absolute noise: with relative noise (std sigma*|x|) h(L~|X) is "
            f"not a constant, so I(X;L) != h(L~) - h(Z). Relative noise modules: {relative[:6]}"
            f"{' ...' if len(relative) > 6 else ''}. Use absolute noise or mi_mode='joint'"
        )
    if noise_sigma is not None:
        return noise_sigma
    sigmas = sorted({m.sigma for m in mods.values() if m.sigma > 0})
    if len(sigmas) != 1:
        raise ValueError(
            "mi_mode='noise' needs noise_sigma: the model has "
            f"{'no noise modules' if not sigmas else f'several noise levels {sigmas}'}"
        )
    return sigmas[0]


def check_output_noise(model: nn.Module, sigmas: dict[str, float]) -> None:
    """With ``observation_noise=False`` every layer must end with its own absolute noise of the
    channel's ``sigma`` (``make_stochastic(..., where="outputs")``)."""
    named = dict(model.named_modules())
    for name, sigma in sigmas.items():
        m = named.get(f"{name}.output_noise")
        if m is None:
            raise ValueError(
                f"observation_noise=False but layer {name!r} has no output noise of its own "
                "(make_stochastic(..., where='outputs')); use observation_noise=True"
            )
        if m.sigma != sigma:
            raise ValueError(f"layer {name!r} has output noise sigma={m.sigma}, not noise_sigma={sigma}")


def upstream_noise(model: nn.Module, layers, inputs, device, own_counts: bool) -> dict[str, bool]:
    """Whether some noise module runs before each layer's recorded output (its own output noise
    counted when ``own_counts``); ``inputs`` is a probe batch of the evaluation inputs."""
    order = noise_order(model, layers, inputs[:2], device)
    result = {}
    for name in layers:
        pos = order.index(("layer", name))
        own = f"{name}.output_noise"
        result[name] = any(kind == "noise" and (own_counts or n != own) for kind, n in order[:pos])
    return result
