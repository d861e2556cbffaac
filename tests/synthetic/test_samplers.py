"""Samplers with a prescribed mutual information: closed forms, invariances, bad inputs."""
import math
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtri

import ibcore
from ibcore.synthetic import (
    StudentT,
    CorrelatedNormal, CorrelatedUniform, correlated_normal, correlated_uniform,
    gaussian_mutual_information, pair_correlation,
)

LOG_2PIE = math.log(2 * math.pi * math.e)


@pytest.mark.parametrize("mi", [0.0, 1e-9, 0.5, 3.0, 10.0])
@pytest.mark.parametrize("dims", [(1, 1), (2, 5), (4, 3)])
def test_population_covariance_has_exact_mi(mi, dims):
    dist = CorrelatedNormal(*dims, mi, random_state=3)
    assert dist.mutual_information == mi
    cov = dist.covariance
    # marginals stay N(0, I) after the orthogonal mixing
    np.testing.assert_allclose(np.diag(cov), 1.0, atol=1e-12)
    # exact Gaussian MI of the joint covariance. det Σ = exp(-2 mi) is computed from entries of
    # size 1, so log det carries an absolute rounding error ~ eps / (1 - rho²) = eps e^{2 mi / m}
    # (2e-7 nats at 10 nats over one pair); larger MI is checked by sampling below.
    tol = 1e-12 + 10 * np.finfo(float).eps * math.exp(2 * mi / min(dims))
    assert gaussian_mutual_information(cov, dims[0]) == pytest.approx(mi, abs=tol)
    # joint entropy closed form = ½ log det(2πe Σ)
    sign, logdet = np.linalg.slogdet(cov)
    assert dist.joint_entropy == pytest.approx(0.5 * (sum(dims) * LOG_2PIE + logdet), abs=tol)


def test_pair_correlation_is_exact_for_large_and_small_mi():
    rho, noise = pair_correlation(40.0, 2)
    assert rho <= 1.0
    assert noise == pytest.approx(math.exp(-20.0), rel=1e-15)   # not 1 - rho² (which is 0 here)
    rho, noise = pair_correlation(1e-12, 1)
    assert rho == pytest.approx(math.sqrt(2e-12), rel=1e-9)       # no cancellation in 1 - exp(-2I)
    assert pair_correlation(0.0, 3) == (0.0, 1.0)


def test_sample_covariance_gives_target_mi():
    n, mi = 40_000, 2.0
    x, y = correlated_normal(n, 3, 2, mi, random_state=0)
    assert x.shape == (n, 3) and y.shape == (n, 2)
    cov = np.cov(np.hstack([x, y]), rowvar=False)
    # Plug-in Gaussian MI: per pair var(Î) ≈ rho²/n (delta method on -½log(1-r²)), so with m = 2
    # pairs std ≤ sqrt(2/n) ≈ 0.007; bias ≈ d_x d_y / (2n) ≈ 1e-4. 0.04 is > 5 std.
    assert gaussian_mutual_information(cov, 3) == pytest.approx(mi, abs=0.04)
    # entry-wise, a sample covariance of unit-variance data has std ≤ sqrt(2/n) ≈ 0.007
    dist = CorrelatedNormal(3, 2, mi, random_state=np.random.default_rng(0))
    np.testing.assert_allclose(cov, dist.covariance, atol=0.04)


def test_mixing_is_orthogonal_and_leaves_mi_unchanged():
    mixed = CorrelatedNormal(3, 4, 2.5, random_state=11)
    plain = CorrelatedNormal(3, 4, 2.5, mixing=False)
    for q in (mixed.mixing_x, mixed.mixing_y):
        np.testing.assert_allclose(q @ q.T, np.eye(len(q)), atol=1e-12)
    assert not np.allclose(mixed.mixing_x, np.eye(3))
    xm, ym = mixed.sample(2000, random_state=5)
    xp, yp = plain.sample(2000, random_state=5)
    # the same draws, rotated within x and within y
    np.testing.assert_allclose(xm, xp @ mixed.mixing_x.T, atol=1e-12)
    np.testing.assert_allclose(ym, yp @ mixed.mixing_y.T, atol=1e-12)
    # the sample Gaussian MI is exactly invariant to block-orthogonal maps
    mi_m = gaussian_mutual_information(np.cov(np.hstack([xm, ym]), rowvar=False), 3)
    mi_p = gaussian_mutual_information(np.cov(np.hstack([xp, yp]), rowvar=False), 3)
    assert mi_m == pytest.approx(mi_p, abs=1e-9)
    # and so is the whitened KL estimate (whitened samples differ by a rotation only)
    est_m = ibcore.mutual_information(xm, ym, "kl")
    est_p = ibcore.mutual_information(xp, yp, "kl")
    assert est_m.value == pytest.approx(est_p.value, abs=1e-9)


def test_sampler_is_one_distribution_and_reproducible():
    dist = CorrelatedNormal(2, 2, 1.0, random_state=7)
    q = dist.mixing_x.copy()
    a = dist.sample(100, random_state=1)
    b = dist.sample(100, random_state=1)
    c = dist.sample(100, random_state=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(dist.mixing_x, q)   # sampling does not redraw the mixing
    np.testing.assert_array_equal(CorrelatedNormal(2, 2, 1.0, random_state=7).mixing_y, dist.mixing_y)
    np.testing.assert_array_equal(correlated_normal(50, 2, 3, 1.0, random_state=4)[1],
                                  correlated_normal(50, 2, 3, 1.0, random_state=4)[1])


def test_default_samplers_are_the_same_distribution_in_every_process():
    # the mixing seed defaults to a fixed value: two samplers built alike draw the same samples
    for cls in (CorrelatedNormal, CorrelatedUniform):
        a = cls(3, 2, 1.0).sample(50, random_state=5)
        b = cls(3, 2, 1.0).sample(50, random_state=5)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    fresh = [CorrelatedNormal(3, 2, 1.0, random_state=None).mixing_x for _ in range(2)]
    assert not np.array_equal(*fresh)   # seed=None still draws fresh matrices


@pytest.mark.parametrize("mi", [10.0, 15.0, 25.0])
def test_large_mi_is_finite_and_exact(mi):
    # one unmixed pair, so y - rho x = noise · e is observable directly
    dist = CorrelatedNormal(1, 1, mi, mixing=False)
    x, y = dist.sample(20_000, random_state=0)
    assert np.isfinite(x).all() and np.isfinite(y).all()
    resid = (y - dist.rho * x)[:, 0] / dist.noise_scale
    # resid is N(0,1) up to rounding of y (|y| eps / noise ≲ 1e-16 e^{12.5} ≈ 3e-11):
    # its sample std has std 1/sqrt(2n) ≈ 0.005
    assert resid.std() == pytest.approx(1.0, abs=0.03)
    assert abs(resid.mean()) < 0.03


def test_too_large_mi_warns():
    with pytest.warns(RuntimeWarning, match="float64 resolution"):
        CorrelatedNormal(1, 1, 40.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CorrelatedNormal(4, 4, 40.0)   # 10 nats per pair is fine


def test_uniform_marginals_and_same_dependence():
    n = 5000
    u, v = correlated_uniform(n, 2, 3, 3.0, random_state=9)
    assert u.shape == (n, 2) and v.shape == (n, 3)
    assert ((u > 0) & (u < 1)).all() and ((v > 0) & (v < 1)).all()
    # each coordinate uniform on (0, 1): KS with a fixed seed; p > 1e-3 fails 0.1 % of seeds at most
    for col in np.hstack([u, v]).T:
        assert stats.kstest(col, "uniform").pvalue > 1e-3
    # Phi is a coordinate-wise bijection: Phi^{-1} gives back exactly the Gaussian draws
    x, y = correlated_normal(n, 2, 3, 3.0, random_state=9)
    np.testing.assert_allclose(ndtri(u), x, atol=1e-8)
    np.testing.assert_allclose(ndtri(v), y, atol=1e-8)
    dist = CorrelatedUniform(2, 3, 3.0)
    assert (dist.entropy_x, dist.entropy_y, dist.joint_entropy) == (0.0, 0.0, -3.0)
    assert dist.marginal == "uniform"


def test_gaussian_entropies():
    dist = CorrelatedNormal(2, 3, 1.25)
    assert dist.entropy_x == pytest.approx(LOG_2PIE)
    assert dist.entropy_y == pytest.approx(1.5 * LOG_2PIE)
    assert dist.entropy_x + dist.entropy_y - dist.joint_entropy == pytest.approx(1.25)


@pytest.mark.parametrize("sample", [correlated_normal, correlated_uniform])
def test_estimator_recovers_mi(sample):
    # n = 2000, 1-NN KL. Over 6 seeds at MI = 1 nat the spread of the estimate was ≈ 1.5 times
    # the reported std (≈ 0.05; the pointwise terms of kNN estimates are correlated) and the
    # bias ≤ 0.06 (uniform marginals: boundary effect). 5 reported stds ≈ 0.26 ≈ 3.3 true stds.
    dims = (2, 2) if sample is correlated_normal else (1, 1)
    x, y = sample(2000, *dims, 1.0, random_state=21)
    est = ibcore.mutual_information(x, y, "kl")
    assert abs(est.value - 1.0) < 5 * est.std


@pytest.mark.parametrize("mi", [-0.1, -1e-12])
def test_negative_mi_is_refused(mi):
    with pytest.raises(ValueError, match="mi .* >= 0"):
        CorrelatedNormal(1, 1, mi)
    with pytest.raises(ValueError, match=">= 0"):
        correlated_uniform(10, 1, 1, mi)


def test_bad_inputs():
    with pytest.raises(ValueError, match="finite"):
        CorrelatedNormal(1, 1, float("inf"))
    with pytest.raises(ValueError, match="finite"):
        CorrelatedNormal(1, 1, float("nan"))
    with pytest.raises(TypeError, match="mi"):
        CorrelatedNormal(1, 1, "1.0")
    with pytest.raises(ValueError, match="n must be >= 1"):
        correlated_normal(0, 2, 2, 1.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        CorrelatedUniform(2, 2, 1.0).sample(-3)
    with pytest.raises(TypeError, match="n must be an integer"):
        CorrelatedNormal(2, 2, 1.0).sample(10.0)
    with pytest.raises(ValueError, match="dim_x must be >= 1"):
        CorrelatedNormal(0, 2, 1.0)
    with pytest.raises(TypeError, match="dim_y must be an integer"):
        CorrelatedNormal(2, 2.0, 1.0)
    with pytest.raises(TypeError, match="mixing"):
        CorrelatedNormal(2, 2, 1.0, mixing="yes")
    with pytest.raises(ValueError, match="not positive definite"):
        gaussian_mutual_information(np.ones((2, 2)), 1)


@pytest.mark.parametrize("dims,nu,rho", [((4, 4), 3.0, 0.0), ((10, 10), 3.0, 0.0), ((2, 3), 5.0, 0.6)])
def test_student_t_mi_matches_a_monte_carlo_of_its_densities(dims, nu, rho):
    """The closed form against E[log p(x, y) - log p(x) - log p(y)] under scipy's multivariate t
    densities (marginals of a multivariate t are t with the same nu and the sub-dispersion):
    within 4 standard errors of the Monte Carlo mean over 100,000 draws."""
    dx, dy = dims
    dist = StudentT(dx, dy, nu, rho)
    x, y = dist.sample(100_000, random_state=1)
    joint = stats.multivariate_t(np.zeros(dx + dy), dist.dispersion, df=nu)
    px = stats.multivariate_t(np.zeros(dx), dist.dispersion[:dx, :dx], df=nu)
    py = stats.multivariate_t(np.zeros(dy), dist.dispersion[dx:, dx:], df=nu)
    pmi = joint.logpdf(np.hstack([x, y])) - px.logpdf(x) - py.logpdf(y)
    assert abs(pmi.mean() - dist.mutual_information) < 4 * pmi.std() / math.sqrt(len(pmi)), (pmi.mean(), dist)
    assert dist.mutual_information > 0.1


def test_student_t_limits_and_bad_arguments():
    # uncorrelated: the information is the shared scale's alone, shrinking to 0 as nu grows
    values = [StudentT(3, 3, nu).mutual_information for nu in (1.0, 3.0, 30.0, 3e4)]
    assert all(a > b for a, b in zip(values, values[1:])) and values[-1] < 1e-6
    # nu -> inf with correlations: the Gaussian value
    assert abs(StudentT(2, 2, 1e7, 0.5).mutual_information - 2 * -0.5 * math.log(1 - 0.25)) < 1e-5
    a, b = StudentT(2, 2, 3.0).sample(50, random_state=3), StudentT(2, 2, 3.0).sample(50, random_state=3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="nu"):
        StudentT(2, 2, 0.0)
    with pytest.raises(ValueError, match="rho"):
        StudentT(2, 2, 3.0, rho=1.0)
    with pytest.raises(TypeError, match="nu"):
        StudentT(2, 2, "3")
