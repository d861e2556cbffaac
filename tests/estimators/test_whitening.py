"""ibcore.estimators.whitening: the affine map behind rescale=True and its exact log-det correction."""
import numpy as np
import pytest

from ibcore.estimators.whitening import Whitening, fit_whitening, jitter_samples


def _sample(n=500, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + rng.standard_normal(d) * 10


def test_whitened_sample_has_zero_mean_and_identity_covariance():
    x = _sample()
    w = fit_whitening(x)
    z = w.transform(x)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.cov(z.T), np.eye(3), atol=1e-10)
    np.testing.assert_allclose(w.matrix, w.matrix.T, atol=1e-12)  # the symmetric root
    assert w.half_log_det == pytest.approx(0.5 * np.linalg.slogdet(np.cov(x.T))[1], abs=1e-10)


def test_affine_image_whitens_to_a_rotation_of_the_same_sample(samplers):
    # the property that makes MI exactly affine-invariant under rescale=True
    rng = np.random.default_rng(1)
    x = _sample()
    a, b = samplers.random_invertible(3, rng), rng.standard_normal(3)
    w1, w2 = fit_whitening(x), fit_whitening(x @ a + b)
    z1, z2 = w1.transform(x), w2.transform(x @ a + b)
    q, *_ = np.linalg.lstsq(z1, z2, rcond=None)
    np.testing.assert_allclose(z1 @ q, z2, atol=1e-10)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-10)
    # and the log-det corrections differ by exactly log|det A|
    assert w2.half_log_det - w1.half_log_det == pytest.approx(np.linalg.slogdet(a)[1], abs=1e-10)


def test_identity():
    w = Whitening.identity(2)
    x = _sample(d=2)
    assert np.array_equal(w.transform(x), x) and w.half_log_det == 0.0


def test_tiny_and_offset_scales_are_not_mistaken_for_constants():
    x = _sample()
    for scaled in (x * 1e-6, x + 1e9, x * 1e8):
        z = fit_whitening(scaled).transform(scaled)
        np.testing.assert_allclose(np.cov(z.T), np.eye(3), atol=1e-6)


def test_constant_column_is_refused():
    x = _sample()
    x[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"constant \(zero-variance\) column\(s\) \[1\]"):
        fit_whitening(x)


def test_collinear_columns_are_refused():
    x = _sample()
    x[:, 2] = 2.0 * x[:, 0] - x[:, 1]
    with pytest.raises(ValueError, match="collinear"):
        fit_whitening(x)


def test_too_few_samples_for_a_covariance():
    with pytest.raises(ValueError, match="needs at least 4 samples"):
        fit_whitening(_sample(n=3))


def test_jitter_samples_scale_and_seed():
    x = _sample(n=20000)
    x[:, 2] = 5.0  # a constant column gets noise of size `jitter` (its std is taken as 1)
    a = jitter_samples(x, 1e-3, np.random.default_rng(7))
    b = jitter_samples(x, 1e-3, np.random.default_rng(7))
    assert np.array_equal(a, b)
    noise_sd = (a - x).std(0)
    expected = 1e-3 * np.where(x.std(0) > 0, x.std(0), 1.0)
    np.testing.assert_allclose(noise_sd, expected, rtol=0.03)  # 20000 draws: rel. se 0.5 %
