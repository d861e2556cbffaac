"""The tracker's exact mode (mi_mode="exact"): a noise-observed layer's information by the mixture."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from ibcore.plane import InformationPlaneTracker, collect, make_stochastic, mixture_information
from ibcore.validation import derived_seed


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


def _deep_linear(sigma=0.5, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 4), nn.Linear(4, 3))
    make_stochastic(net, sigma=sigma, mode="absolute", where="inputs")
    x = torch.randn(600, 6)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return net, x, y


def test_exact_mode_matches_a_high_precision_monte_carlo_of_the_mixture():
    """The tracker's value (10,000 points) against the same mixture with 200,000 points: within
    0.05 nats + 2 %, and within 4 of the tracker's own standard errors."""
    net, x, y = _deep_linear()
    tracker = InformationPlaneTracker(net, ["0", "1", "2"], x, y, mi_mode="exact", noise_sigma=0.3,
                                      exact_rows=None, exact_samples=10_000, random_state=3)
    points = tracker.measure(2)
    outputs = collect(net, x, ["0", "1", "2"], labels=y, random_state=derived_seed(3, 2, 1)).outputs
    for point in points:
        ref = mixture_information(outputs[point.layer], 0.3, y.numpy(), samples=200_000, random_state=11)
        for got, want in ((point.ixl, ref.ixt), (point.ily, ref.ity)):
            assert abs(got.value - want.value) <= 0.05 + 0.02 * abs(want.value), (point.layer, got, want)
            assert abs(got.value - want.value) <= 4 * math.hypot(got.std, want.std), (point.layer, got, want)
        assert 0 <= point.ily.value <= point.ixl.value + 4 * point.ixl.std <= math.log(600) + 1e-9
        assert point.n_components == point.dim and point.manifold == ""
        assert point.ixl_kind == "nested (1 draw)"  # noise before every Linear: upstream of each layer


def test_exact_mode_without_upstream_noise_is_exact_and_draws_nest():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    make_stochastic(net, sigma=0.2, mode="absolute", where="inputs", layers=["2"])
    x = torch.randn(300, 4)
    y = (x[:, 0] > 0).long()
    tracker = InformationPlaneTracker(net, ["1", "2"], x, y, mi_mode="exact", noise_sigma={"1": 0.1, "2": 0.5},
                                      exact_rows=200, exact_samples=2000, noise_draws=3)
    assert tracker.kinds == {"1": "exact", "2": "nested (3 draws)"}
    assert tracker.sigmas == {"1": 0.1, "2": 0.5}
    p1, p2 = tracker.measure(0)
    assert 0 < p1.ixl.value <= math.log(200) + 1e-9 and 0 < p2.ixl.value <= math.log(200) + 1e-9
    # the same epoch again: the same numbers (seeded passes and Monte Carlo)
    again = tracker.measure(0)
    assert again[0].ixl.value == p1.ixl.value and again[1].ily.value == p2.ily.value


def test_sigma_in_units_of_the_layer():
    net, x, y = _deep_linear()
    tracker = InformationPlaneTracker(net, ["0", "2"], x, y, mi_mode="exact", noise_sigma=0.5,
                                      sigma_scale="layer", exact_rows=100, exact_samples=500)
    first = collect(net, x, ["0", "2"], labels=y, random_state=derived_seed(0, 0)).outputs
    rows = tracker._exact_rows_index
    for name in ("0", "2"):
        scale = math.sqrt(first[name][rows].var(axis=0).mean())
        assert tracker.sigmas[name] == pytest.approx(0.5 * scale, rel=1e-12)


@pytest.mark.parametrize("kwargs, error, match", [
    ({}, ValueError, "needs noise_sigma"),
    ({"noise_sigma": {"0": 0.1}}, ValueError, "one value per layer"),
    ({"noise_sigma": -1.0}, ValueError, "must be > 0"),
    ({"noise_sigma": "big"}, TypeError, "finite real"),
    ({"noise_sigma": 0.1, "sigma_scale": "relative"}, ValueError, "sigma_scale"),
    ({"noise_sigma": 0.1, "noise_draws": 0}, ValueError, "noise_draws"),
])
def test_exact_mode_bad_arguments(kwargs, error, match):
    net, x, y = _deep_linear()
    with pytest.raises(error, match=match):
        InformationPlaneTracker(net, ["0", "1"], x, y, mi_mode="exact", **kwargs)


def test_default_tracker_is_faithful_on_a_deep_linear_noisy_network():
    """Gaussian inputs, noise before every Linear of 6 -> 6 -> 4 -> 3: I(X;L_k) has a closed form
    at every epoch (:func:`ibcore.plane.gaussian_information`). The default tracker lands within
    max(0.15 nats, 15 %) of it on at least 80 % of the (layer, epoch) points; the paper's route
    (PCA to 4 coordinates, weighted KL) on fewer than half of them."""
    from ibcore.plane import gaussian_information

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 4), nn.Linear(4, 3))
    make_stochastic(net, sigma=0.7, mode="absolute", where="inputs")
    x = torch.randn(4000, 6)
    y = (x @ torch.randn(6, 3)).argmax(1)
    layers = ["0", "1", "2"]
    default = InformationPlaneTracker(net, layers, x[2000:], y[2000:])
    paper = InformationPlaneTracker(net, layers, x[2000:], y[2000:], compressor="pca", method="wkl",
                                    x_compressor="pca")
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    hits = {"default": [], "paper": []}
    for epoch in range(4):
        for _ in range(50):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[:2000]), y[:2000]).backward()
            opt.step()
        truth = gaussian_information(net, layers, np.eye(6))
        for name, tracker in (("default", default), ("paper", paper)):
            for point in tracker.measure(epoch):
                t = truth[point.layer]
                hits[name].append(abs(point.ixl.value - t) <= max(0.15, 0.15 * t))
    assert np.mean(hits["default"]) >= 0.8, hits
    assert np.mean(hits["paper"]) < 0.5, hits


def test_eval_rows_estimates_on_a_fixed_subset():
    """A subset of the evaluation rows: the same rows at every call, all rows when it is as large
    as the set, and an estimate close to the full one (the paper's route, a Gaussian linear layer)."""
    net, x, y = _deep_linear()
    opts = {"compressor": "pca", "method": "wkl", "x_compressor": "pca", "random_state": 1}
    full = InformationPlaneTracker(net, ["0", "2"], x, y, **opts).measure(1)
    same = InformationPlaneTracker(net, ["0", "2"], x, y, eval_rows=600, **opts).measure(1)
    assert [p.ixl.value for p in same] == [p.ixl.value for p in full]
    sub = InformationPlaneTracker(net, ["0", "2"], x, y, eval_rows=300, **opts)
    a, b = sub.measure(1), sub.measure(1)
    assert len(sub._eval_index) == 300 and [p.ixl.value for p in a] == [p.ixl.value for p in b]
    for p, q in zip(a, full):
        assert p.ixl.std > q.ixl.std  # half the rows: a larger standard error
        assert abs(p.ixl.value - q.ixl.value) < 4 * math.hypot(p.ixl.std, q.ixl.std)
    with pytest.raises(ValueError, match="eval_rows must be >= 10"):
        InformationPlaneTracker(net, ["0"], x, y, eval_rows=5)


def test_noise_mode_reads_its_channel_like_the_exact_mode_and_agrees_with_it():
    """The noise mode's h(T) - h(sigma Z) on a deterministic network is the exact mode's
    I(X;T) for the same channel (X uniform over the rows), up to the entropy estimate's error."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
    x = torch.randn(3000, 2)
    y = (x[:, 0] > 0).long()
    noise = InformationPlaneTracker(net, ["1", "2"], x, y, mi_mode="noise", noise_sigma=0.5,
                                    sigma_scale="layer", n_components=8)
    exact = InformationPlaneTracker(net, ["1", "2"], x, y, mi_mode="exact", noise_sigma=0.5,
                                    sigma_scale="layer", exact_rows=None)
    assert noise.sigmas == pytest.approx(exact.sigmas, rel=1e-12)
    assert noise.kinds == {"1": "exact", "2": "exact"}
    for a, b in zip(noise.measure(1), exact.measure(1)):
        # weighted KL in 2-3 dimensions at n = 3000: within 4 standard errors plus its bias
        # at this size (a few hundredths of a nat on Gaussian mixtures, tests/estimators)
        assert abs(a.ixl.value - b.ixl.value) <= 4 * math.hypot(a.ixl.std, b.ixl.std) + 0.05, (a, b)
    per_layer = InformationPlaneTracker(net, ["1", "2"], x, y, mi_mode="noise", noise_sigma={"1": 0.2, "2": 0.3})
    assert per_layer.sigmas == {"1": 0.2, "2": 0.3}
    with pytest.raises(ValueError, match="one value per layer"):
        InformationPlaneTracker(net, ["1", "2"], x, y, mi_mode="noise", noise_sigma={"1": 0.2})
