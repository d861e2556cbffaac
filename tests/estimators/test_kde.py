"""ibcore.estimators.kde: the streamed Gaussian kernel pass and the bandwidth search.

Everything is compared with a direct numpy computation on a small sample (full n × n
matrices are fine at n ≤ 200).
"""
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

from ibcore import KDEEntropy
from ibcore.estimators import kde


def _sq(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def _loo_log_density(z, t):
    """Leave-one-out Gaussian-KDE log-density at each sample, bandwidth b = e^t (numpy)."""
    n, d = z.shape
    a = -_sq(z, z) / (2 * math.exp(2 * t))
    np.fill_diagonal(a, -np.inf)
    return logsumexp(a, axis=1) - math.log(n - 1) - 0.5 * d * math.log(2 * math.pi) - d * t


def _neg_loglik(z, t):
    return -_loo_log_density(z, t).mean()


def _lscv(z, t):
    """∫ f̂² - (2/n) Σ f̂_{-i}(z_i) for the Gaussian KDE (numpy, all pairs)."""
    n, d = z.shape
    b2 = math.exp(2 * t)
    d2 = _sq(z, z)
    int_f2 = np.exp(-d2 / (4 * b2)).sum() / (n * n * (4 * math.pi * b2) ** (d / 2))
    return int_f2 - 2 * np.exp(_loo_log_density(z, t)).mean()


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(11)
    return rng.standard_normal((150, 2)) @ np.array([[1.0, 0.4], [0.0, 0.7]])


def _nn_sq(z):
    d2 = _sq(z, z)
    np.fill_diagonal(d2, np.inf)
    return d2.min(1)


# nn_sq=None: row-shifted log-sum-exp; nn_sq given: the symmetric pass (each pair once) when
# the widths are safe, the shifted one otherwise (c = 400 on unit-scale data is not safe).
@pytest.mark.parametrize("moments", [False, True])
@pytest.mark.parametrize("path", ["shifted", "symmetric"])
def test_kernel_pass_matches_numpy(small, moments, path):
    z = small
    coefs = [0.05, 0.8, 6.0, 400.0]
    nn_sq = _nn_sq(z) if path == "symmetric" else None
    res = kde.kernel_pass(z, coefs, moments=moments, device="cpu", nn_sq=nn_sq)
    d2 = _sq(z, z)
    assert res.log_sum.shape == (len(z), len(coefs))
    for j, c in enumerate(coefs):
        a = -c * d2
        np.fill_diagonal(a, -np.inf)
        np.testing.assert_allclose(res.log_sum[:, j], logsumexp(a, axis=1), rtol=1e-10, atol=1e-10)
        if moments:
            w = np.exp(a - a.max(1, keepdims=True))
            w /= w.sum(1, keepdims=True)
            np.testing.assert_allclose(res.mean_d2[:, j], (w * d2).sum(1), rtol=1e-8, atol=1e-10)
    if not moments:
        assert res.mean_d2 is None


def test_kernel_pass_with_queries_and_blocks(small, monkeypatch):
    z, q = small, np.random.default_rng(2).standard_normal((37, 2))
    coefs = [0.3, 2.0]
    whole = kde.kernel_pass(z, coefs, queries=q, device="cpu")
    assert whole.log_sum.shape == (37, 2)
    for j, c in enumerate(coefs):
        np.testing.assert_allclose(whole.log_sum[:, j], logsumexp(-c * _sq(q, z), axis=1), rtol=1e-11)
    shf = kde.kernel_pass(z, coefs, moments=True, device="cpu")
    sym = kde.kernel_pass(z, coefs, moments=True, device="cpu", nn_sq=_nn_sq(z))
    # several row blocks (with a ragged last block) give the same numbers on every path
    monkeypatch.setattr(kde, "_BLOCK_ELEMENTS", 4 * len(z))
    blocked = kde.kernel_pass(z, coefs, queries=q, device="cpu")
    np.testing.assert_allclose(blocked.log_sum, whole.log_sum, rtol=1e-12)
    for nn_sq, ref in ((None, shf), (_nn_sq(z), sym)):
        res = kde.kernel_pass(z, coefs, moments=True, device="cpu", nn_sq=nn_sq)
        np.testing.assert_allclose(res.log_sum, ref.log_sum, rtol=1e-12)
        np.testing.assert_allclose(res.mean_d2, ref.mean_d2, rtol=1e-10)


def test_log_density_matches_numpy(small):
    q = np.random.default_rng(3).standard_normal((20, 2))
    t = math.log(0.4)
    direct = logsumexp(-_sq(q, small) / (2 * 0.4**2), axis=1) - math.log(150) - math.log(2 * math.pi * 0.16)
    np.testing.assert_allclose(kde.log_density(small, q, t, device="cpu"), direct, rtol=1e-12)


def _fine_minimum(f, t_guess):
    """Global minimum of f on a fine grid around t_guess, polished by bounded Brent."""
    grid = t_guess + np.linspace(-3.0, 2.0, 251)
    vals = np.array([f(t) for t in grid])
    i = int(np.argmin(vals))
    assert 0 < i < len(grid) - 1, "optimum on the edge of the check grid"
    res = minimize_scalar(f, bounds=(grid[i - 1], grid[i + 1]), method="bounded",
                          options={"xatol": 1e-10})
    return res.x, res.fun


@pytest.mark.parametrize("rule, criterion, slack", [("ml", _neg_loglik, 1e-10), ("lse", _lscv, 1e-12)])
def test_bandwidth_optimises_its_criterion(small, rule, criterion, slack):
    """ML maximises the leave-one-out likelihood, LSE minimises the least-squares CV criterion."""
    t, logf, passes = kde.select_bandwidth(small, rule, device="cpu")
    t_star, f_star = _fine_minimum(lambda s: criterion(small, s), t)
    # Newton stops at a step below 1e-7; the optimum is quadratic, so criterion values agree
    # to ~1e-12 and the location to ~1e-6 (the check's own Brent tolerance dominates)
    assert t == pytest.approx(t_star, abs=1e-5)
    assert criterion(small, t) <= f_star + slack
    np.testing.assert_allclose(logf, _loo_log_density(small, t), rtol=1e-10)
    assert rule != "ml" or passes >= 1


def test_kde_entropy_with_a_fixed_bandwidth(small):
    est = KDEEntropy(bandwidth=0.5, rescale=False, device="cpu").fit(small)
    assert est.bandwidth_ == 0.5 and est.n_passes_ == 1
    np.testing.assert_allclose(est.score_samples(), _loo_log_density(small, math.log(0.5)), rtol=1e-11)
    assert est.estimate().value == pytest.approx(_neg_loglik(small, math.log(0.5)), rel=1e-11)


def test_silverman_rule():
    # b = σ (4 / ((d + 2) n))^{1 / (d + 4)}
    for n, d, s in [(100, 1, 1.0), (5000, 4, 2.5)]:
        b = s * (4.0 / ((d + 2) * n)) ** (1.0 / (d + 4))
        assert kde.silverman_log_bandwidth(n, d, s) == pytest.approx(math.log(b), abs=1e-12)


@pytest.mark.parametrize("bandwidth, exc", [
    ("scott", ValueError), (0.0, ValueError), (-1.0, ValueError),
    (float("nan"), (TypeError, ValueError)), (True, (TypeError, ValueError)),
])
def test_bad_bandwidth(bandwidth, exc):
    with pytest.raises(exc, match="bandwidth must be"):
        KDEEntropy(bandwidth=bandwidth).fit(np.random.default_rng(0).standard_normal((20, 1)))
