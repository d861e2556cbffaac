"""Compressors (round trips, training, persistence, input checks) and the compression bound."""
import math

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from ibcore.compression import (
    CompressionBound, ConvAutoencoder, DenseAutoencoder, PCACompressor, compression_bound, load_compressor,
)
from ibcore.nn import limit_threads


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # small networks gain nothing from intra-op threads; on a shared 2-core machine OpenMP
    # spinning makes them many times slower (the setting is restored afterwards)
    with limit_threads(1):
        yield


def bumps(n, side=16, seed=0):
    """Images of an isotropic 2-D Gaussian bump at a random centre (2 latent parameters), in [0, 1]."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.25 * side, 0.75 * side, size=(n, 2))
    g = np.arange(side)
    d2 = (g[None, :, None] - c[:, 0, None, None]) ** 2 + (g[None, None, :] - c[:, 1, None, None]) ** 2
    return np.exp(-d2 / (2 * (side / 8) ** 2))


@pytest.fixture(scope="module")
def trained_ae():
    imgs = bumps(320, seed=0)
    ae = ConvAutoencoder(2, image_size=16, epochs=15, batch_size=32, lr=3e-3, patience=None,
                         random_state=0, progress=False, device="cpu").fit(imgs)
    return ae, imgs


# ------------------------------------------------------------------------------------------ PCA

def test_pca_exact_on_low_rank_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 8)) + 5.0  # rank 3 around a mean
    pca = PCACompressor(3).fit(x)
    codes = pca.transform(x)
    assert codes.shape == (200, 3)
    np.testing.assert_allclose(pca.inverse_transform(codes), x, atol=1e-9)
    assert pca.reconstruction_error(x) < 1e-18
    # orthonormal rows: needed for the noise identity of the bound
    w = pca.pca_.components_
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-12)
    # fewer components lose exactly the discarded eigenvalues (sample covariance, ddof=1)
    pca2 = PCACompressor(2).fit(x)
    lost = pca2.reconstruction_error(x, per="sample")
    ev = np.linalg.eigvalsh(np.cov(x.T))[::-1]
    assert lost == pytest.approx(ev[2] * (len(x) - 1) / len(x), rel=1e-9)
    assert pca2.reconstruction_error(x, per="coordinate") == pytest.approx(lost / 8)


def test_pca_images_keep_their_shape():
    imgs = bumps(60, side=8)
    pca = PCACompressor(4).fit(imgs)
    assert pca.fit_transform(imgs).shape == (60, 4)
    assert pca.inverse_transform(pca.transform(imgs)).shape == (60, 8, 8)
    with pytest.raises(ValueError, match="64"):
        pca.transform(bumps(5, side=16))


# ------------------------------------------------------------------------------------ autoencoders

def test_conv_autoencoder_learns(trained_ae):
    ae, imgs = trained_ae
    assert ae.history_.shape == (15,) and ae.val_history_.shape == (15,)
    # the L1 training loss falls with training (0.36 -> 0.04 in development)
    assert ae.history_[-1] < 0.3 * ae.history_[0]
    # a 2-number code of a 2-parameter family must beat the best constant image (the mean) clearly
    # (0.78 vs 7.36 in development)
    flat = imgs.reshape(len(imgs), -1)
    mean_err = ((flat - flat.mean(axis=0)) ** 2).sum(axis=1).mean()
    assert ae.reconstruction_error(imgs) < 0.5 * mean_err
    codes = ae.transform(imgs)
    assert codes.shape == (320, 2) and codes.dtype == np.float64
    assert np.abs(codes).max() <= 1.0  # tanh code
    rec = ae.inverse_transform(codes)
    assert rec.shape == (320, 16, 16) and rec.min() >= 0 and rec.max() <= 1  # sigmoid output
    # (n, 1, H, W) arrays and torch tensors are accepted and give the same codes
    np.testing.assert_allclose(ae.transform(torch.as_tensor(imgs[:, None])), codes, atol=1e-6)
    assert ae.reconstruction_error(imgs, per="coordinate") == pytest.approx(ae.reconstruction_error(imgs) / 256)


def test_save_load_round_trip(trained_ae, tmp_path):
    ae, imgs = trained_ae
    path = tmp_path / "ae.pt"
    ae.save(path)
    back = ConvAutoencoder.load(path, device="cpu")
    np.testing.assert_array_equal(back.transform(imgs), ae.transform(imgs))
    np.testing.assert_array_equal(back.inverse_transform(ae.transform(imgs)), ae.inverse_transform(ae.transform(imgs)))
    np.testing.assert_array_equal(back.history_, ae.history_)
    assert back.get_params() == ae.get_params()
    assert isinstance(load_compressor(path), ConvAutoencoder)
    with pytest.raises(ValueError, match="not a DenseAutoencoder"):
        DenseAutoencoder.load(path)
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a compressor"):
        load_compressor(tmp_path / "other.pt")


def test_dense_autoencoder_linear_and_reproducible(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 2)) @ rng.normal(size=(2, 5)) * 3.0 + 1.0  # rank 2 in R^5
    opts = dict(hidden=(), epochs=80, batch_size=64, lr=1e-2, random_state=3, progress=False, device="cpu")
    ae = DenseAutoencoder(2, **opts).fit(x)
    total = ((x - x.mean(axis=0)) ** 2).sum(axis=1).mean()
    # a linear AE with 2 latents can reconstruct rank-2 data; PCA does it exactly, the trained one
    # must come within 1 % of the total variance (float32 round-off, ~1e-13, in development)
    assert ae.reconstruction_error(x) < 0.01 * total
    assert ae.inverse_transform(ae.transform(x)).shape == x.shape
    again = DenseAutoencoder(2, **opts).fit(x)
    np.testing.assert_array_equal(again.transform(x), ae.transform(x))
    ae.save(tmp_path / "d.pt")
    np.testing.assert_array_equal(DenseAutoencoder.load(tmp_path / "d.pt").transform(x), ae.transform(x))


def test_dense_autoencoder_linear_encoder_anti_pca_layout():
    rng = np.random.default_rng(2)
    u = rng.uniform(-1, 1, size=(400, 2))
    k = np.arange(32)
    a = u[:, :1] + u[:, 1:] * k
    x = np.maximum(a, 0.1 * k * a)
    ae = DenseAutoencoder(2, hidden=(32,), linear_encoder=True, latent_noise=0.01, epochs=5,
                          random_state=0, progress=False, device="cpu").fit(x)
    assert len(ae.encoder_) == 1 and isinstance(ae.encoder_[0], torch.nn.Linear)
    assert ae.transform(x).shape == (400, 2)


# ----------------------------------------------------------------------------------------- bound

def gaussian_noise_case(eigvals, noise_var, n_kept, n=20000, seed=0):
    """Exact I(X; X~), I(X; A) and Delta for Gaussian X, X~ = X + Z, A = PCA (fitted) of X~."""
    rng = np.random.default_rng(seed)
    d = len(eigvals)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    cov = q @ np.diag(eigvals) @ q.T
    x = rng.multivariate_normal(np.zeros(d), cov, size=n)
    x_noisy = x + math.sqrt(noise_var) * rng.normal(size=(n, d))
    pca = PCACompressor(n_kept).fit(x_noisy)
    w, m = pca.pca_.components_, pca.pca_.mean_
    c_noisy = cov + noise_var * np.eye(d)
    # Gaussian MI with additive independent noise: 1/2 logdet(Cov(out)) - 1/2 logdet(Cov(noise));
    # A's noise is W Z with covariance noise_var * W W^T = noise_var * I (orthonormal rows)
    i_full = 0.5 * np.linalg.slogdet(c_noisy)[1] - 0.5 * d * math.log(noise_var)
    i_kept = 0.5 * np.linalg.slogdet(w @ c_noisy @ w.T)[1] - 0.5 * n_kept * math.log(noise_var)
    p_perp = np.eye(d) - w.T @ w
    delta_exact = np.trace(p_perp @ c_noisy) + m @ p_perp @ m  # E||P_perp (X~ - m)||^2
    return i_full - i_kept, delta_exact, pca.reconstruction_error(x_noisy), x_noisy


def test_bound_holds_on_gaussian_pca():
    eig, s2 = np.array([4.0, 2.0, 1.0, 0.3, 0.1, 0.05]), 0.1
    gap, delta, delta_hat, _ = gaussian_noise_case(eig, s2, n_kept=3)
    # empirical Delta matches the exact one: relative sampling std ~ sqrt(2 sum v^2 / n) / sum v < 1 %
    assert delta_hat == pytest.approx(delta, rel=0.05)
    bound = compression_bound(6, 3, s2, delta)
    assert isinstance(bound, CompressionBound) and bound.lower == 0.0
    assert 0.0 <= gap <= bound.upper
    # the population gap is 1/2 sum log(1 + lambda_i / s2) over the discarded eigenvalues (1.242 nats);
    # the fitted PCA recovers the eigenvectors closely, so the exact gap is near it
    assert gap == pytest.approx(0.5 * np.log1p(eig[3:] / s2).sum(), abs=0.05)
    assert 0.0 <= gap <= compression_bound(6, 3, s2, delta_hat).upper


def test_bound_is_tight_when_only_noise_is_discarded():
    eig, s2 = np.array([3.0, 1.0, 0.5, 0.0, 0.0, 0.0]), 0.05
    gap, delta, _, _ = gaussian_noise_case(eig, s2, n_kept=3)
    bound = compression_bound(6, 3, s2, delta).upper
    # rank-3 signal: the discarded block is pure noise, Delta ~ 3 s2, both sides ~ 0
    assert 0.0 <= gap <= bound < 0.01
    assert compression_bound(6, 6, s2, 0.0) == (0.0, 0.0)


def test_bound_formula_and_checks():
    assert compression_bound(10, 4, 0.01, 0.12).upper == pytest.approx(3 * math.log(2))
    # an estimated Delta below the noise floor (sampling noise) is clipped to a zero gap
    assert compression_bound(10, 4, 0.01, 0.05).upper == 0.0
    with pytest.raises(ValueError, match="cannot exceed"):
        compression_bound(3, 4, 0.1, 1.0)
    with pytest.raises(ValueError, match="noise_var"):
        compression_bound(5, 2, 0.0, 1.0)
    with pytest.raises(ValueError, match="at least"):
        compression_bound(5, 2, 0.1, 0.0)
    with pytest.raises(ValueError, match="reconstruction_error"):
        compression_bound(5, 2, 0.1, -1.0)
    with pytest.raises(TypeError):
        compression_bound(5.5, 2, 0.1, 1.0)


# ----------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("make", [
    lambda: PCACompressor(2),
    lambda: ConvAutoencoder(2, progress=False),
    lambda: DenseAutoencoder(2, progress=False),
])
def test_use_before_fit(make, tmp_path):
    comp = make()
    x = bumps(4, side=8)
    for call in (lambda: comp.transform(x), lambda: comp.inverse_transform(np.zeros((4, 2))),
                 lambda: comp.reconstruction_error(x)):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
    assert issubclass(NotFittedError, ValueError)
    if hasattr(comp, "save"):
        with pytest.raises(NotFittedError):
            comp.save(tmp_path / "x.pt")


def test_conv_autoencoder_bad_inputs(trained_ae):
    ae, imgs = trained_ae
    fast = dict(epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="16x16"):
        ae.transform(bumps(3, side=8))
    with pytest.raises(ValueError, match="columns"):
        ae.inverse_transform(np.zeros((3, 5)))
    # any square side from 4 to 128 is accepted now (padded to a power of two inside)
    with pytest.raises(ValueError, match="from 4 to 128"):
        ConvAutoencoder(2, **fast).fit(np.zeros((10, 3, 3)))
    with pytest.raises(ValueError, match="image_size=20 but the images are 16x16"):
        ConvAutoencoder(2, image_size=20, **fast).fit(imgs)
    with pytest.raises(ValueError, match="image_size=32"):
        ConvAutoencoder(2, image_size=32, **fast).fit(imgs)
    with pytest.raises(ValueError, match="square"):
        ConvAutoencoder(2, **fast).fit(np.zeros((10, 16, 8)))
    with pytest.raises(ValueError, match="single-channel"):
        ConvAutoencoder(2, **fast).fit(np.zeros((10, 3, 16, 16)))
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        ConvAutoencoder(2, **fast).fit(np.zeros((10, 256)))
    with pytest.raises(ValueError, match="NaN"):
        ae.transform(np.full((2, 16, 16), np.nan))
    with pytest.raises(ValueError, match="per"):
        ae.reconstruction_error(imgs, per="pixel")


@pytest.mark.parametrize("options, error", [
    ({"latent_dim": 0}, ValueError),
    ({"epochs": 0}, ValueError),
    ({"batch_size": 1}, ValueError),
    ({"lr": 0.0}, ValueError),
    ({"loss": "huber"}, ValueError),
    ({"validation_fraction": 1.0}, ValueError),
    ({"validation_fraction": 0.0, "patience": 5}, ValueError),
    ({"input_noise": -0.1}, ValueError),
    ({"random_state": 1.5}, TypeError),
    ({"hidden": (8, 0)}, ValueError),
    ({"hidden": "wide"}, TypeError),
    ({"latent_activation": "relu"}, ValueError),
    ({"dropout": 1.0}, ValueError),
    ({"device": "gpu"}, ValueError),
])
def test_dense_autoencoder_bad_options(options, error):
    x = np.random.default_rng(0).normal(size=(40, 4))
    opts = {"latent_dim": 2, "epochs": 1, "progress": False, **options}
    with pytest.raises(error):
        DenseAutoencoder(**opts).fit(x)


def test_shape_mismatch_and_bad_values():
    x = np.random.default_rng(0).normal(size=(40, 4))
    ae = DenseAutoencoder(2, epochs=1, progress=False, device="cpu").fit(x)
    with pytest.raises(ValueError, match="4"):
        ae.transform(np.zeros((3, 5)))
    with pytest.raises(TypeError, match="real numbers"):
        ae.transform(np.array([["a"] * 4]))
    with pytest.raises(ValueError, match="n_components"):
        PCACompressor(5).fit(x)
    with pytest.raises(TypeError):
        PCACompressor(2.0).fit(x)
    with pytest.raises(ValueError, match="columns"):
        PCACompressor(2).fit(x).inverse_transform(np.zeros((3, 3)))
