"""FlowCompressor: a lossless map onto N(0, I), usable wherever a compressor is (all MI in nats)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import ibcore
from ibcore.compression import FlowCompressor, PCACompressor, lossy_mutual_information
from ibcore.synthetic import CorrelatedNormal, train_compressor

FAST = dict(epochs=40, patience=5)


def test_vectors_round_trip_and_codes_are_standardised():
    x = np.exp(np.random.default_rng(0).standard_normal((1500, 2)))  # log-normal: far from Gaussian
    fc = FlowCompressor(random_state=0, **FAST).fit(x)
    u = fc.transform(x)
    assert u.shape == (1500, 2) and fc.n_components_ == 2
    # a diffeomorphism: the inverse recovers x up to float32 rounding (relative 1e-7 per step)
    assert np.max(np.abs(fc.inverse_transform(u) - x) / np.abs(x)) < 1e-4
    assert fc.reconstruction_error(x, per="coordinate") < 1e-6 * np.mean(x ** 2)
    # trained towards N(0, I): the log-normal's skewness (6.2) is gone
    skew = np.mean(((u - u.mean(0)) / u.std(0)) ** 3, axis=0)
    assert np.all(np.abs(skew) < 0.5), skew
    assert np.all(np.abs(u.mean(0)) < 0.2) and np.all(np.abs(u.std(0) - 1) < 0.2)


def test_mutual_information_is_unchanged_by_the_flow_codes():
    # I(f(X); g(Y)) = I(X; Y) for diffeomorphisms: a Gaussian pair of 1 nat seen through exp()
    x, y = CorrelatedNormal(2, 2, 1.0).sample(2000, random_state=1)
    res = lossy_mutual_information(np.exp(x), np.exp(y), "wkl", compressor_x=FlowCompressor(random_state=0, **FAST),
                                   compressor_y=FlowCompressor(random_state=1, **FAST), fit=True)
    # weighted KL's std at n = 2000 in 4 joint dimensions is about 0.05; 4 std + 0.05 for the fit
    assert abs(res.value - 1.0) < 4 * res.std + 0.05, res
    assert res.code_dim_x == res.code_dim_y == 2


def test_seeded_fits_are_bit_identical_and_seeds_differ():
    x = np.random.default_rng(2).standard_normal((500, 3)) ** 3
    a = FlowCompressor(random_state=4, **FAST).fit(x).transform(x)
    b = FlowCompressor(random_state=4, **FAST).fit(x).transform(x)
    c = FlowCompressor(random_state=5, **FAST).fit(x).transform(x)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_base_compressor_comes_first():
    x0 = np.random.default_rng(3).standard_normal((800, 2))
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))[0][:, :2]
    x = x0 @ q.T                                      # a plane inside 6-D: PCA to 2 is exact
    fc = FlowCompressor(PCACompressor(2), random_state=0, **FAST).fit(x)
    assert fc.transform(x).shape == (800, 2)
    assert fc.reconstruction_error(x, per="coordinate") < 1e-8
    pca = PCACompressor(2).fit(x)
    kept = FlowCompressor(pca, fit_base=False, random_state=0, **FAST).fit(x)
    assert kept.base is pca and np.array_equal(kept.transform(x), fc.transform(x))
    # the flow part inverts exactly (float32), the base's decoder comes after it
    codes = pca.transform(x)
    back = kept.inverse_transform(kept.transform(x), through_base=False)
    assert np.max(np.abs(back - codes)) < 1e-4 * np.max(np.abs(codes))


def test_bad_input_is_named():
    x = np.random.default_rng(0).standard_normal((200, 2))
    with pytest.raises(NotFittedError):
        FlowCompressor().transform(x)
    with pytest.raises(ValueError, match="singular covariance"):
        FlowCompressor(random_state=0).fit(np.c_[x, x[:, 0]])
    with pytest.raises(TypeError, match="base must be None or a compressor"):
        FlowCompressor(base=object()).fit(x)
    with pytest.raises(ValueError, match="at least 10 samples"):
        FlowCompressor().fit(x[:5])
    with pytest.raises(ValueError, match="patience"):
        FlowCompressor(patience=0).fit(x)
    fc = FlowCompressor(random_state=0, epochs=2).fit(x)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        fc.inverse_transform(np.zeros((3, 5)))


def test_the_synthetic_flow_compressor_shares_the_sweeps_autoencoder(tmp_path):
    opts = dict(random_state=0, train_size=64, val_size=16, ae_options={"epochs": 1, "batch_size": 32, "patience": None},
                cache_dir=tmp_path)
    ae = train_compressor("ae", "gaussians", 16, **opts)
    fc = train_compressor("flow", "gaussians", 16, **opts)
    assert isinstance(fc, FlowCompressor) and len(list(tmp_path.glob("gaussians-16-ae-*.pt"))) == 1
    imgs = ibcore.synthetic.make_generator("gaussians", 16).sample_marginal(50, random_state=1)
    assert np.array_equal(fc.base.transform(imgs), ae.transform(imgs))   # the same autoencoder, bit for bit
    assert fc.transform(imgs).shape == (50, 2)
