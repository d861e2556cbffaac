"""The one compress-then-estimate path (lossy_mutual_information): compressors by name or "auto"
per side, "auto" as the method, its diagnostics; the tracker through it with auto and flow."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

import ibcore
from ibcore.compression import PCACompressor, auto_mutual_information, lossy_mutual_information
from ibcore.synthetic import CorrelatedNormal
from ibcore.validation import check_fitted, derived_seed


def _embedded(n=2000, mi=1.0, seed=0, width=10):
    """A 2+2 Gaussian pair with known MI, x embedded linearly (injectively) in ``width`` dimensions."""
    x, y = CorrelatedNormal(2, 2, mi).sample(n, random_state=seed)
    return x @ np.random.default_rng(seed + 1).standard_normal((2, width)), y


@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")  # sklearn on constant data
def test_pca_drops_components_without_variance():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 3))
    x = np.hstack([z, np.ones((500, 2))])  # two constant columns: rank 3 after centring
    pca = PCACompressor(5, drop_degenerate=True).fit(x)
    assert pca.n_components_ == 3 and pca.transform(x).shape == (500, 3)
    assert pca.reconstruction_error(x, per="coordinate") < 1e-20
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(x)), x, atol=1e-12)
    # without the option the codes keep every component (one of them constant)
    assert PCACompressor(5).fit(x).transform(x).shape == (500, 5)
    with pytest.raises(ValueError, match="constant"):
        PCACompressor(2, drop_degenerate=True).fit(np.ones((50, 4)))


def test_a_named_compressor_is_made_and_fitted_here_with_the_intrinsic_dimension():
    x, y = _embedded(mi=1.0)
    res = lossy_mutual_information(x, y, "wkl", compressor_x="pca")  # n_components from TwoNN: 2
    assert res.code_dim_x == 2 and res.details["x"]["compressor"] == "pca"
    assert abs(res.details["x"]["intrinsic_dim"] - 2) < 0.5
    assert abs(res.value - 1.0) < 4 * res.std + 0.05  # a linear embedding keeps the MI
    assert res.details["method"] == "wkl" and res.details["seconds"] > 0
    same = lossy_mutual_information(x, y, "wkl", compressor_x=PCACompressor(2).fit(x))
    assert abs(same.value - res.value) < 1e-9  # the same codes up to rounding


def test_auto_per_side_and_auto_method_equal_the_default_call():
    x, y = _embedded(n=1500, mi=0.8, seed=3)
    res = lossy_mutual_information(x, y, "auto", compressor_x="auto", compressor_y="auto", random_state=0,
                                   device="cpu")
    est = auto_mutual_information(x, y, random_state=0, device="cpu")
    assert (res.value, res.std, res.unstable) == (est.value, est.std, est.unstable)
    assert res.details["x"]["compressor"] == "pca" and res.details["x"]["lossless"]
    assert est.details["method"] == res.details["method"] == "wkl"
    assert abs(est.value - 0.8) < 4 * est.std + 0.05
    with pytest.raises(TypeError, match="no estimator options"):
        lossy_mutual_information(x, y, "auto", k=3)


def test_the_seed_and_device_reach_the_estimator():
    """random_state and device serve the compressors and, where it takes them, the estimator
    (here: the seeded jitter of KSG), as they did when they were estimator options."""
    x, y = _embedded(n=800, mi=0.5, seed=5, width=3)
    a = lossy_mutual_information(x, y, "ksg", jitter=1e-3, random_state=5, device="cpu")
    b = lossy_mutual_information(x, y, "ksg", jitter=1e-3, random_state=5)
    c = lossy_mutual_information(x, y, "ksg", jitter=1e-3, random_state=6)
    direct = ibcore.estimators.estimate_mutual_information(x, y, "ksg", jitter=1e-3, random_state=5)
    assert a.value == b.value == direct.value and c.value != a.value


def test_manifold_warnings_are_shown_or_recorded():
    rng = np.random.default_rng(4)
    t = rng.standard_normal((1500, 1))
    curve = np.hstack([np.cos(3 * t), np.sin(3 * t), t])  # a 1-D curve in 3-D
    y = t + 0.3 * rng.standard_normal((1500, 1))
    with pytest.warns(ibcore.ManifoldWarning):
        shown = lossy_mutual_information(curve, y, "wkl")
    assert shown.manifold
    with warnings.catch_warnings():
        warnings.simplefilter("error", ibcore.ManifoldWarning)
        recorded = lossy_mutual_information(curve, y, "wkl", manifold="record", code_dimension=True)
    assert recorded.manifold and recorded.value == shown.value
    assert recorded.details["x"]["code_intrinsic_dim"] < 2


def test_one_seed_helper_and_one_not_fitted_error():
    # integers, strings and floats; the same value in any process
    assert derived_seed(0, "gaussians", 16, 2.5, "estimator") == derived_seed(0, "gaussians", 16, 2.5, "estimator")
    assert derived_seed(1, 2) != derived_seed(2, 1)
    assert 0 <= derived_seed(7) < 2 ** 31
    for obj, attr in ((ibcore.KSG(), "pointwise_"), (ibcore.KLEntropy(), "reference_"), (PCACompressor(2), "pca_")):
        with pytest.raises(NotFittedError, match="not fitted"):
            check_fitted(obj, attr)
    with pytest.raises(NotFittedError):
        ibcore.KSG().estimate()


@pytest.mark.parametrize("compressor, method", [("auto", "auto"), ("flow", "ksg")])
def test_the_tracker_takes_auto_and_flow(compressor, method):
    from ibcore.plane import InformationPlaneTracker, make_stochastic

    torch.manual_seed(0)
    x = torch.randn(500, 5)
    labels = (x[:, 0] > 0).long()
    net = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 2))
    make_stochastic(net, sigma=0.2, mode="absolute", where="inputs")
    tracker = InformationPlaneTracker(net, ["1"], x, labels, compressor=compressor, method=method, n_components=3)
    (point,) = tracker.measure(1)
    assert math.isfinite(point.ixl.value) and math.isfinite(point.ily.value) and point.ixl.std > 0
    assert -0.1 < point.ily.value < math.log(2) + 0.15  # two classes
