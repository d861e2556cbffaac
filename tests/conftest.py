"""Shared samplers with closed-form entropies and mutual informations (all in nats).

The samplers are plain functions exposed through session fixtures, so that the test
modules need no import path tricks and hypothesis tests can use them without
function-scoped fixtures.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import ortho_group


def random_covariance(d: int, seed: int) -> np.ndarray:
    """A well-conditioned random covariance ``A Aᵀ + ½ I`` (d, d)."""
    a = np.random.default_rng(seed).standard_normal((d, d))
    return a @ a.T + 0.5 * np.eye(d)


def gaussian_entropy(cov: np.ndarray) -> float:
    """½ log det(2πe Σ) of the population covariance Σ."""
    sign, logdet = np.linalg.slogdet(2.0 * math.pi * math.e * np.atleast_2d(cov))
    assert sign > 0
    return 0.5 * logdet


def gaussian_sample(d: int, n: int, seed: int, cov_seed: int | None = None):
    """``(x, h)``: n samples (n, d) of N(0, Σ) with a random Σ and its exact entropy h."""
    cov = random_covariance(d, d if cov_seed is None else cov_seed)
    x = np.random.default_rng(seed).standard_normal((n, d)) @ np.linalg.cholesky(cov).T
    return x, gaussian_entropy(cov)


def uniform_sample(lengths, n: int, seed: int):
    """``(x, h)``: uniform on a product of intervals [-1, -1 + L_i]; h = Σ log L_i."""
    lengths = np.asarray(lengths, dtype=float)
    x = -1.0 + np.random.default_rng(seed).random((n, len(lengths))) * lengths
    return x, float(np.sum(np.log(lengths)))


def correlated_gaussians(m: int, mi: float, n: int, seed: int):
    """``(x, y)`` of shape (n, m) each with I(X;Y) = ``mi`` nats exactly.

    m independent pairs with correlation ``ρ = sqrt(1 - exp(-2 I / m))`` (each pair carries
    ``-½ log(1 - ρ²) = I / m``), then a random orthogonal mixing inside x and inside y so
    that no coordinate is special (MI is invariant to it).
    """
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1.0 - math.exp(-2.0 * mi / m))
    g = rng.standard_normal((n, m))
    y = rho * g + math.sqrt(1.0 - rho * rho) * rng.standard_normal((n, m))
    if m > 1:
        g = g @ ortho_group.rvs(m, random_state=rng)
        y = y @ ortho_group.rvs(m, random_state=rng)
    return g, y


def uniform_marginal_pair(m: int, mi: float, n: int, seed: int):
    """Correlated Gaussians pushed through Φ coordinate-wise (no mixing): uniform marginals.

    A coordinate-wise invertible map keeps I(X;Y) = ``mi`` exactly, but the joint law is no
    longer Gaussian, so whitening cannot turn the problem into an easy one.
    """
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1.0 - math.exp(-2.0 * mi / m))
    g = rng.standard_normal((n, m))
    y = rho * g + math.sqrt(1.0 - rho * rho) * rng.standard_normal((n, m))
    return ndtr(g), ndtr(y)


def random_invertible(d: int, rng: np.random.Generator) -> np.ndarray:
    """A random invertible (d, d) matrix with condition number below ~100."""
    while True:
        a = rng.standard_normal((d, d))
        if np.linalg.cond(a) < 100.0:
            return a


@pytest.fixture(scope="session")
def samplers():
    """The sampler functions of this module, as a namespace."""
    return SimpleNamespace(**{f.__name__: f for f in (
        random_covariance, gaussian_entropy, gaussian_sample, uniform_sample,
        correlated_gaussians, uniform_marginal_pair, random_invertible)})
