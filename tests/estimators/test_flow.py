"""The normalizing-flow MI estimator (MIENF): closed forms, exact invariances, reproducibility."""
from __future__ import annotations

import numpy as np
import pytest

import ibcore
from ibcore.estimators.flow import FlowMI, canonical_pair, normal_scores
from ibcore.synthetic import CorrelatedNormal

# Small budgets keep each fit to a few seconds on one CPU thread; the preprocessing (normal
# scores + CCA) already solves the Gaussian cases, so the flows only need to stay near it.
FAST = dict(epochs=40, patience=8, batch_size=256, transforms=2, hidden=(32, 32), random_state=0)


def test_canonical_pair_is_the_gaussian_canonical_form():
    x, y = CorrelatedNormal(3, 2, 1.5).sample(4000, random_state=0)
    u, v, rho = canonical_pair(x @ np.array([[2.0, 0, 0], [1, 1, 0], [0, 3, 1]]) + 5, y)
    n = len(u)
    np.testing.assert_allclose(u.T @ u / (n - 1), np.eye(3), atol=1e-10)
    np.testing.assert_allclose(v.T @ v / (n - 1), np.eye(2), atol=1e-10)
    cross = u.T @ v / (n - 1)
    np.testing.assert_allclose(cross[:2, :2], np.diag(rho), atol=1e-10)
    assert np.all(np.abs(cross[2]) < 1e-10) and np.all(np.diff(rho) <= 0)


@pytest.mark.parametrize("mi,dims", [(1.0, (1, 1)), (2.0, (2, 2))])
def test_gaussian_closed_form(mi, dims):
    x, y = CorrelatedNormal(*dims, mi).sample(2000, random_state=1)
    est = ibcore.mutual_information(x, y, "flow", **FAST)
    # the held-out mean has std ~0.02-0.03 here; 4 std plus 0.03 for the flows' finite fit
    assert abs(est.value - mi) < 4 * est.std + 0.03, est


def test_ill_conditioned_linear_image_is_whitened_before_the_scores():
    """y = A (x + s z) with cond(A) = 1000: I(x; y) = I(x; x + s z) = (3/2) log(1 + 1/s^2). Scored
    in its own coordinates, y's thinnest direction (1/1000 of the largest) drowns in the normal
    scores' error; whitened first, it does not."""
    rng = np.random.default_rng(4)
    s = 0.5
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    a = q @ np.diag([1.0, 0.1, 0.001]) @ q.T
    x = rng.standard_normal((2000, 3))
    y = (x + s * rng.standard_normal((2000, 3))) @ a.T
    truth = 1.5 * np.log1p(1 / s ** 2)
    fit = FlowMI(**FAST).fit(x, y)
    est = fit.estimate()
    assert all(wy and not wx for wx, wy in fit.whitened_first_)
    assert abs(est.value - truth) < 4 * est.std + 0.03, (est, truth)


def test_independent_pair_gives_zero():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2000, 3)), rng.standard_normal((2000, 3))
    est = ibcore.mutual_information(x, y, "flow", **FAST)
    assert abs(est.value) < 4 * est.std + 0.02, est


def test_monotone_maps_leave_the_estimate_unchanged_exactly():
    # normal scores depend on ranks only, so strictly increasing maps per coordinate give the
    # very same training data: the estimate is bit-identical, not merely close
    x, y = CorrelatedNormal(2, 2, 1.0).sample(1000, random_state=3)
    a = FlowMI(**FAST).fit(x, y).estimate()
    b = FlowMI(**FAST).fit(np.exp(x), np.sign(y) * np.abs(y) ** 3 + 2 * y).estimate()
    assert a == b


def test_seeded_fit_is_reproducible_and_scores_every_sample():
    x, y = CorrelatedNormal(1, 1, 0.5).sample(600, random_state=4)
    f1, f2 = FlowMI(**FAST).fit(x, y), FlowMI(**FAST).fit(x, y)
    np.testing.assert_array_equal(f1.pointwise_, f2.pointwise_)
    assert f1.pointwise_.shape == (600,) and f1.rho_.shape == (2, 1)


def test_normal_scores_are_standard_normal_quantiles():
    z = normal_scores(np.array([[3.0], [1.0], [2.0]]))
    from scipy.stats import norm

    np.testing.assert_allclose(z[:, 0], norm.ppf([0.75, 0.25, 0.5]))


def test_bad_inputs():
    x = np.random.default_rng(0).standard_normal((100, 2))
    with pytest.raises(ValueError, match="continuous y"):
        ibcore.mutual_information(x, np.arange(100) % 3, "flow")
    with pytest.raises(ValueError, match="unknown option"):
        ibcore.mutual_information(x, x, "flow", depth=3)
    with pytest.raises(ValueError, match="at least 16 samples"):
        ibcore.mutual_information(x[:10], x[:10], "flow")
    with pytest.raises(ValueError, match="singular covariance"):
        ibcore.mutual_information(np.c_[x[:, 0], x[:, 0]], x, "flow")
    with pytest.raises(ValueError, match="folds must be >= 2"):
        FlowMI(folds=1).fit(x, x)
    with pytest.raises(ValueError, match="not fitted"):
        FlowMI().estimate()
