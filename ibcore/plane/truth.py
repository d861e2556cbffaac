"""Closed-form ``I(X;L)`` of noisy networks on Gaussian inputs: the truth a plane estimator is
checked against.

For ``X ~ N(mu, Sigma_X)`` and a network made of linear maps and absolute Gaussian noise
(:class:`~ibcore.plane.GaussianNoise`, as :func:`~ibcore.plane.make_stochastic` inserts it), every
layer is jointly Gaussian with ``X``: with ``Sigma_L`` its covariance and ``Sigma_{L|X}`` the
covariance the noise alone gives it,

    I(X;L) = (1/2) log det Sigma_L - (1/2) log det Sigma_{L|X}       (nats).

An elementwise invertible activation (tanh, sigmoid, leaky ReLU with a positive slope) applied to
a Gaussian layer changes nothing (mutual information is invariant under invertible maps), so the
value carries over to it and to every later layer that is an injective image of it (a linear map
of full column rank, another invertible activation). After such a nonlinearity, noise or a
non-injective map leaves no closed form: those layers get NaN.
"""
from __future__ import annotations

import math

import numpy as np
from torch import nn

from .noise import GaussianNoise

__all__ = ["gaussian_information"]

_INVERTIBLE = (nn.Tanh, nn.Sigmoid, nn.Identity, nn.Flatten)


def _modules_in_order(model: nn.Module):
    """Leaf computations of a (nested) Sequential in forward order, with make_stochastic's
    input and output noise around their layer."""
    if isinstance(model, nn.Sequential):
        for child in model:
            yield from _modules_in_order(child)
        return
    noise_in = getattr(model, "input_noise", None)
    noise_out = getattr(model, "output_noise", None)
    if noise_in is not None:
        yield "", noise_in
    yield "self", model
    if noise_out is not None:
        yield "", noise_out


def _gaussian_mi(cov: np.ndarray, cond: np.ndarray) -> float:
    """``(1/2) log det cov - (1/2) log det cond`` on the range of ``cov`` (a layer wider than
    the rank of its input lies on a subspace; its information is that of the subspace)."""
    lam, vec = np.linalg.eigh(cov)
    keep = lam > 1e-12 * lam.max()
    u = vec[:, keep]
    sign, logdet_c = np.linalg.slogdet(u.T @ cond @ u)
    if sign <= 0:
        return math.inf  # a direction of the layer that no noise reaches
    return 0.5 * (float(np.log(lam[keep]).sum()) - logdet_c)


def gaussian_information(model: nn.Module, layers, cov_x) -> dict[str, float]:
    """``I(X;L)`` in nats for each named layer of a noisy network on Gaussian inputs.

    Parameters
    ----------
    model : torch.nn.Sequential
        Linear layers, absolute :class:`~ibcore.plane.GaussianNoise` (own modules or added by
        :func:`~ibcore.plane.make_stochastic`), and elementwise invertible activations
        (``Tanh``, ``Sigmoid``, ``LeakyReLU`` with a positive slope), nested Sequentials allowed.
    layers : list of str
        Names from ``model.named_modules()``; the value is that of the layer's output (after its
        own output noise, if any).
    cov_x : array (d, d)
        Covariance of the Gaussian input ``X`` (the mean does not matter).

    Returns
    -------
    dict
        ``{layer: I(X;L)}``; NaN where the network leaves no closed form (module docstring), and
        ``inf`` for a layer no noise has reached yet (a deterministic injective image of ``X``).
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    cov = np.asarray(cov_x, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"cov_x must be a square matrix, got shape {cov.shape}")
    if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() <= 0:
        raise ValueError("cov_x must be symmetric positive definite")
    names = {m: n for n, m in model.named_modules()}
    wanted = list(layers)
    unknown = [n for n in wanted if n not in dict(model.named_modules())]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; the model has {[n for n, _ in model.named_modules() if n]}")
    cond = np.zeros_like(cov)  # covariance given X: the noise's contribution
    value = math.inf
    gaussian = True  # False once an invertible nonlinearity has acted: value frozen, no more noise allowed
    result: dict[str, float] = {}
    for role, m in _modules_in_order(model):
        if isinstance(m, GaussianNoise):
            if m.sigma == 0:
                pass
            elif m.mode != "absolute":
                raise ValueError("relative noise leaves no closed form; use absolute noise")
            elif not gaussian:
                value = math.nan
            else:
                cov = cov + m.sigma ** 2 * np.eye(len(cov))
                cond = cond + m.sigma ** 2 * np.eye(len(cond))
        elif isinstance(m, nn.Linear):
            w = m.weight.detach().double().cpu().numpy()
            injective = np.linalg.matrix_rank(w) == w.shape[1]
            if gaussian:
                cov, cond = w @ cov @ w.T, w @ cond @ w.T
            elif not injective:
                value = math.nan
        elif isinstance(m, _INVERTIBLE) or (isinstance(m, nn.LeakyReLU) and m.negative_slope > 0):
            if not isinstance(m, (nn.Identity, nn.Flatten)):
                gaussian = False
        else:
            raise ValueError(f"{type(m).__name__} is not linear, Gaussian noise or an invertible activation: "
                             "no closed form")
        if gaussian and cond.any():
            value = _gaussian_mi(cov, cond)
        name = names.get(m)
        if role == "self" and name in wanted:
            result[name] = float(value)
        elif role == "" and name is not None:  # a layer's output noise: recorded after it
            layer = name.rsplit(".", 1)[0]
            if name.endswith("output_noise") and layer in wanted:
                result[layer] = float(value)
    return {n: result[n] for n in wanted}
