"""Lossy MI: estimates on compressed data and the compression diagnostics (all MI in nats).

The exact case: a 2-D Gaussian signal embedded linearly in R^12 plus isotropic noise,
compressed by PCA without whitening. Every quantity (the MI before and after compression,
the population reconstruction error of the *fitted* projection, the bound) is then a
closed-form function of covariances.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import ibcore
from ibcore.compression import compression_bound
from ibcore.compression import LossyEstimate, lossy_mutual_information
from ibcore.synthetic import CorrelatedNormal, gaussian_mutual_information

AMBIENT, SIGNAL = 12, 2


def _setup(mi, sigma, scale=1.0, seed=0):
    """Embedding, noise and the exact joint covariance of (X~, Y~)."""
    rng = np.random.default_rng(seed)
    m, _ = np.linalg.qr(rng.standard_normal((AMBIENT, SIGNAL)))     # orthonormal columns
    dist = CorrelatedNormal(SIGNAL, SIGNAL, mi, mixing=False)
    cov_x = scale ** 2 * m @ m.T + sigma ** 2 * np.eye(AMBIENT)
    cross = scale ** 2 * m @ np.diag([dist.rho] * SIGNAL) @ m.T
    joint = np.block([[cov_x, cross], [cross.T, cov_x]])
    return m, dist, joint


def _sample(m, dist, sigma, n, scale=1.0, seed=1):
    rng = np.random.default_rng(seed)
    xi, eta = dist.sample(n, random_state=rng)
    x = scale * xi @ m.T + sigma * rng.standard_normal((n, AMBIENT))
    y = scale * eta @ m.T + sigma * rng.standard_normal((n, AMBIENT))
    return x, y


def _exact_after(pca, joint):
    """I(A; B) and the population reconstruction error Delta of the fitted projection."""
    w = pca.pca_.components_                                         # (2, 12), orthonormal rows
    big = np.block([[w, np.zeros_like(w)], [np.zeros_like(w), w]])
    mi_codes = gaussian_mutual_information(big @ joint @ big.T, SIGNAL)
    cov_x = joint[:AMBIENT, :AMBIENT]
    resid = np.eye(AMBIENT) - w.T @ w
    mu = pca.pca_.mean_
    delta = float(np.trace(resid @ cov_x @ resid) + mu @ resid @ mu)
    return mi_codes, delta, resid @ cov_x @ resid


@pytest.mark.parametrize("mi,sigma", [(0.5, 0.3), (2.0, 0.1), (4.0, 0.5)])
def test_bound_inequalities_exact_gaussian_pca(mi, sigma):
    m, dist, joint = _setup(mi, sigma)
    pca = ibcore.PCACompressor(SIGNAL).fit(_sample(m, dist, sigma, 20000, seed=7)[0])
    mi_before = gaussian_mutual_information(joint, AMBIENT)
    mi_after, delta, _ = _exact_after(pca, joint)
    ux = compression_bound(AMBIENT, SIGNAL, sigma ** 2, delta).upper
    # the exact statement proved in the book: 0 <= I(X~;Y~) - I(A;B) <= U_X + U_Y
    assert 0 < mi_before <= mi + 1e-12          # data processing: the noise can only lose MI
    assert -1e-9 <= mi_before - mi_after <= 2 * ux + 1e-9


def test_lossy_estimate_diagnostics_match_closed_forms():
    mi, sigma, n = 2.0, 0.2, 4000
    m, dist, joint = _setup(mi, sigma)
    pca = ibcore.PCACompressor(SIGNAL).fit(_sample(m, dist, sigma, 20000, seed=7)[0])
    x, y = _sample(m, dist, sigma, n, seed=3)
    res = lossy_mutual_information(x, y, "kl", compressor_x=pca, compressor_y=pca,
                                   noise_var_x=sigma ** 2, noise_var_y=sigma ** 2)
    assert isinstance(res, LossyEstimate)
    assert (res.n, res.n_features_x, res.code_dim_x, res.code_dim_y) == (n, AMBIENT, SIGNAL, SIGNAL)
    mi_after, delta, resid_cov = _exact_after(pca, joint)
    # the sample reconstruction error is a mean of n values ||r||^2 with r Gaussian:
    # Var ||r||^2 = 2 tr(S^2), so 5 standard errors is a safe tolerance
    se = math.sqrt(2 * np.trace(resid_cov @ resid_cov) / n)
    assert abs(res.reconstruction_error_x - delta) < 5 * se
    assert abs(res.reconstruction_error_y - delta) < 5 * se
    # the bound is compression_bound applied to the measured errors, the total their sum
    assert res.bound_x == compression_bound(AMBIENT, SIGNAL, sigma ** 2, res.reconstruction_error_x)
    assert res.loss_bound == pytest.approx(res.bound_x.upper + res.bound_y.upper)
    assert res.upper == pytest.approx(res.value + res.loss_bound)
    # 1-NN KL on 2+2 Gaussian codes: std ~0.03 at n=4000, bias below 0.1 nats
    assert abs(res.value - mi_after) < 4 * res.std + 0.1
    lo, hi = res.ci()
    assert lo < res.value < hi


def test_identity_and_shared_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 3))
    y = x[:, :2] + 0.5 * rng.standard_normal((500, 2))
    ident = lossy_mutual_information(x, y, "kl")
    direct = ibcore.mutual_information(x, y, "kl")
    assert ident.estimate == direct
    assert ident.reconstruction_error_x is None and ident.bound_x == (0.0, 0.0)
    assert ident.loss_bound == 0.0 and (ident.code_dim_x, ident.code_dim_y) == (3, 2)
    # one compressor for both sides, fitted here on x and y stacked
    xs, ys = rng.standard_normal((300, 6)), rng.standard_normal((300, 6))
    pca = ibcore.PCACompressor(2)
    res = lossy_mutual_information(xs, ys, "kl", compressor_x=pca, compressor_y=pca, fit=True)
    ref = ibcore.PCACompressor(2).fit(np.vstack([xs, ys]))
    np.testing.assert_allclose(pca.pca_.components_, ref.pca_.components_)
    assert res.bound_x is None                              # noise level unknown: no bound
    assert "±" in str(res)


def test_discrete_y_and_bad_inputs():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 5))
    labels = (x[:, 0] > 0).astype(int)
    pca = ibcore.PCACompressor(2).fit(x)
    res = lossy_mutual_information(x, labels, "kl", compressor_x=pca)
    assert res.code_dim_y == 0 and res.bound_y == (0.0, 0.0)
    with pytest.raises(ValueError, match="compressor_y must be None"):
        lossy_mutual_information(x, labels, "kl", compressor_x=pca, compressor_y=pca)
    with pytest.raises(NotFittedError, match="not fitted"):
        lossy_mutual_information(x, x, "kl", compressor_x=ibcore.PCACompressor(2))
    with pytest.raises(ValueError, match="orthogonal linear compressor"):
        lossy_mutual_information(x, x, "kl", compressor_x=ibcore.PCACompressor(2, whiten=True), fit=True,
                                 noise_var_x=0.1)
    with pytest.raises(ValueError, match="noise_var_x"):
        lossy_mutual_information(x, x, "kl", compressor_x=pca, noise_var_x=-1.0)
    with pytest.raises(TypeError, match="compressor_x"):
        lossy_mutual_information(x, x, "kl", compressor_x=3.0)
    with pytest.raises(ValueError, match="compressor_x: unknown compressor 'pcaa'"):
        lossy_mutual_information(x, x, "kl", compressor_x="pcaa")
    with pytest.raises(ValueError, match="same number of samples"):
        lossy_mutual_information(x, x[:10], "kl")
    with pytest.raises(ValueError, match="method"):
        lossy_mutual_information(x, x, "nope")


def test_mine_gets_images_unflattened(monkeypatch):
    """Without a compressor MINE must see the images themselves (convolutional critic)."""
    import ibcore.compression.lossy as lossy

    seen = {}

    def fake_mi(cx, cy, method, **kw):
        seen["shapes"] = (np.shape(cx), np.shape(cy))
        return ibcore.Estimate(0.0, 0.0)

    monkeypatch.setattr(lossy, "estimate_mutual_information", fake_mi)
    imgs = np.random.default_rng(0).random((20, 8, 8))
    res = lossy_mutual_information(imgs, imgs, "mine")
    assert seen["shapes"] == ((20, 8, 8), (20, 8, 8)) and res.code_dim_x == 64
    lossy_mutual_information(imgs, imgs, "kl")
    assert seen["shapes"] == ((20, 64), (20, 64))
