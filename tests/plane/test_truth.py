"""Closed-form I(X;L) of noisy networks on Gaussian inputs (ibcore.plane.truth)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from ibcore.plane import GaussianNoise, gaussian_information, make_stochastic


def sampled_gaussian_mi(model, layer, cov_x, n=200_000, seed=0):
    """I(X;L) from the sample covariance of (X, L): exact for jointly Gaussian pairs up to the
    sampling error of a log-determinant (about d_x d_l / n nats of bias, sd ~ sqrt(d_x d_l / n))."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(torch.as_tensor(cov_x, dtype=torch.float64))
    x = torch.randn(n, len(cov_x), generator=g, dtype=torch.float64) @ chol.T
    seen = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, i, o: seen.setdefault("l", o))
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        model.double()(x)
    handle.remove()
    joint = np.cov(np.hstack([x.numpy(), seen["l"].numpy()]).T)
    dx = len(cov_x)
    ld = lambda a: np.linalg.slogdet(a)[1]  # noqa: E731
    return 0.5 * (ld(joint[:dx, :dx]) + ld(joint[dx:, dx:]) - ld(joint))


def test_one_noisy_invertible_layer():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 3))
    make_stochastic(net, sigma=0.5, mode="absolute", where="inputs")
    cov = np.diag([1.0, 2.0, 0.5])
    # W invertible: I(X; W(X + sZ)) = I(X; X + sZ) = (1/2) log det(I + cov / s^2)
    expected = 0.5 * np.linalg.slogdet(np.eye(3) + cov / 0.25)[1]
    assert gaussian_information(net, ["0"], cov)["0"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("where", ["inputs", "outputs"])
def test_deep_linear_chain_matches_sampled_covariance(where):
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 4), nn.Linear(4, 3))
    make_stochastic(net, sigma=0.4, mode="absolute", where=where)
    cov = np.eye(6) + 0.3 * np.ones((6, 6))
    truth = gaussian_information(net, ["0", "1", "2"], cov)
    for layer, value in truth.items():
        sampled = sampled_gaussian_mi(net, layer, cov)
        assert sampled == pytest.approx(value, abs=0.02), layer  # sd of the sampled value ~ 0.015
    assert truth["0"] > truth["1"] > truth["2"]  # data processing inequality along a Markov chain


def test_invertible_activation_keeps_the_value_and_later_noise_has_none():
    torch.manual_seed(2)
    net = nn.Sequential(GaussianNoise(0.3), nn.Linear(5, 5), nn.Tanh(), nn.Linear(5, 5), nn.LeakyReLU(0.1),
                        GaussianNoise(0.3), nn.Linear(5, 2))
    truth = gaussian_information(net, ["1", "2", "3", "4", "5", "6"], np.eye(5))
    expected = 0.5 * 5 * math.log(1 + 1 / 0.09)
    for layer in ("1", "2", "3", "4"):
        assert truth[layer] == pytest.approx(expected, rel=1e-12)
    assert math.isnan(truth["5"]) and math.isnan(truth["6"])


def test_a_layer_before_any_noise_is_infinite():
    net = nn.Sequential(nn.Linear(2, 2), GaussianNoise(0.1), nn.Linear(2, 2))
    truth = gaussian_information(net, ["0", "2"], np.eye(2))
    assert truth["0"] == math.inf and math.isfinite(truth["2"])


def test_wider_layer_lies_on_a_subspace():
    torch.manual_seed(3)
    net = nn.Sequential(GaussianNoise(0.5), nn.Linear(3, 8))
    truth = gaussian_information(net, ["1"], np.eye(3))
    assert truth["1"] == pytest.approx(1.5 * math.log(1 + 4.0), rel=1e-9)


def test_refuses_what_has_no_closed_form():
    with pytest.raises(ValueError, match="ReLU is not linear"):
        gaussian_information(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), ["1"], np.eye(2))
    with pytest.raises(ValueError, match="relative noise"):
        gaussian_information(nn.Sequential(GaussianNoise(0.1, "relative"), nn.Linear(2, 2)), ["1"], np.eye(2))
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_information(nn.Sequential(nn.Linear(2, 2)), ["0"], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unknown layers"):
        gaussian_information(nn.Sequential(nn.Linear(2, 2)), ["7"], np.eye(2))
    with pytest.raises(TypeError, match="Sequential"):
        gaussian_information(nn.Linear(2, 2), ["0"], np.eye(2))
