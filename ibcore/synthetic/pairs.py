"""Pairs of image batches whose mutual information is known: :func:`image_pair`.

A latent pair with closed-form MI (a sampler of :mod:`ibcore.synthetic.samplers`, or an MI value
for :class:`~ibcore.synthetic.CorrelatedNormal`) is rendered by an injective generator of
:mod:`ibcore.synthetic.images` on both sides, so the images keep the latents' MI exactly
(Theorem 1 of ``book/theory.md``).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..validation import check_int
from .images import ImageGenerator
from .samplers import CorrelatedNormal

__all__ = ["ImagePair", "image_pair"]


class ImagePair(NamedTuple):
    """Output of :func:`image_pair`; unpacks as ``x, y, latent_x, latent_y, mi``."""

    x: np.ndarray
    """Images of ``X``, (n, *generator.shape)."""
    y: np.ndarray
    """Images of ``Y``, (n, *generator.shape)."""
    latent_x: np.ndarray
    """Shape parameters of ``X`` (``generator.latent_to_params``), (n, n_params)."""
    latent_y: np.ndarray
    """Shape parameters of ``Y``."""
    mutual_information: float
    """``I(X; Y) = I(latent_x; latent_y)``, nats."""


def image_pair(generator: ImageGenerator, sampler, n: int, random_state=None) -> ImagePair:
    """Sample ``n`` image pairs with a known MI (Algorithm 1, steps 1–3).

    Parameters
    ----------
    generator : ImageGenerator
        Used for both ``X`` and ``Y``.
    sampler : CorrelatedNormal, CorrelatedUniform or float
        Latent distribution with ``dim_x == dim_y == generator.latent_dim``; a
        :class:`~ibcore.synthetic.CorrelatedUniform` is fed through ``from_uniform``. A number is
        read as the MI in nats and gives ``CorrelatedNormal(n', n', mi)`` with mixing matrices
        seeded from ``random_state``.
    n : int
        Number of pairs (>= 1).
    random_state : None, int, SeedSequence or Generator
        One generator seeded here draws (in order) the mixing matrices when ``sampler`` is a
        number, the latents, and the nuisances of ``X`` then ``Y``.

    Returns
    -------
    ImagePair
        ``(x, y, latent_x, latent_y, mutual_information)``; the latents are the shape
        parameters, a bijective image of the sampled latent, so they carry the same MI.
    """
    if not isinstance(generator, ImageGenerator):
        raise TypeError(f"generator must be an ibcore.synthetic.ImageGenerator, got {type(generator).__name__}")
    n = check_int(n, "n", 1)
    rng = np.random.default_rng(random_state)
    d = generator.latent_dim
    if isinstance(sampler, numbers.Real) and not isinstance(sampler, (bool, np.bool_)):
        sampler = CorrelatedNormal(d, d, sampler, random_state=rng)
    if not (hasattr(sampler, "sample") and hasattr(sampler, "mutual_information")):
        raise TypeError(
            "sampler must be a sampler from ibcore.synthetic (with .sample and .mutual_information) "
            f"or an MI value in nats, got {sampler!r}"
        )
    if (getattr(sampler, "dim_x", None), getattr(sampler, "dim_y", None)) != (d, d):
        raise ValueError(
            f"sampler dimensions (dim_x={getattr(sampler, 'dim_x', None)}, "
            f"dim_y={getattr(sampler, 'dim_y', None)}) do not match the generator's latent "
            f"dimension {d} ({generator!r})"
        )
    lx, ly = sampler.sample(n, random_state=rng)
    if getattr(sampler, "marginal", "normal") == "uniform":
        px, py = generator.params_from_uniform(lx), generator.params_from_uniform(ly)
    else:
        px, py = generator.latent_to_params(lx), generator.latent_to_params(ly)
    if generator.nuisance_dim:
        x, y = generator.render(px, random_state=rng), generator.render(py, random_state=rng)
    else:
        x, y = generator.render(px), generator.render(py)
    return ImagePair(x, y, px, py, float(sampler.mutual_information))
