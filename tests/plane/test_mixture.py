"""The exact information of noise-observed layers (ibcore.plane.mixture) against closed forms.

Tolerances are in units of the Monte Carlo standard error the function reports (4 of them: a
false failure about once in 16,000 runs at a fixed seed, never at these seeds), or at rounding
level where the value is exact.
"""
import math

import numpy as np
import pytest
from scipy import integrate, stats

from ibcore.plane import mixture_information, mixture_profile


def pair_information(delta: float, sigma: float) -> float:
    """I(X;T) for X uniform on {0, delta} and T = X + sigma Z, by quadrature: h(T) - h(sigma Z)."""
    def integrand(t):
        p = 0.5 * (stats.norm.pdf(t, 0, sigma) + stats.norm.pdf(t, delta, sigma))
        return -p * np.log(p) if p > 0 else 0.0

    h_t = integrate.quad(integrand, -12 * sigma, delta + 12 * sigma, limit=400, epsabs=1e-12)[0]
    return h_t - 0.5 * math.log(2 * math.pi * math.e * sigma ** 2)


def test_one_input_carries_nothing():
    res = mixture_information(np.ones((1, 5)), 0.3, labels=[2])
    assert res.ixt.value == 0.0 and res.ity.value == 0.0
    assert res.m == 1 and res.draws == 1


def test_separated_inputs_carry_log_m():
    rng = np.random.default_rng(0)
    m = 40
    outputs = 1e3 * np.arange(m)[:, None] * np.ones((1, 3)) + rng.standard_normal((m, 3))
    labels = np.arange(m) % 4
    res = mixture_information(outputs, 1.0, labels=labels, samples=4000)
    assert res.ixt.value == pytest.approx(math.log(m), abs=1e-9)
    assert res.ity.value == pytest.approx(math.log(4), abs=1e-9)  # H(Y) of 4 equal classes


@pytest.mark.parametrize("delta", [0.5, 1.5, 3.0, 6.0])
def test_two_inputs_on_a_line_match_quadrature(delta):
    res = mixture_information(np.array([[0.0], [delta]]), 1.0, samples=40_000, random_state=1)
    truth = pair_information(delta, 1.0)
    assert abs(res.ixt.value - truth) < 4 * res.ixt.std, (res.ixt, truth)
    # labels that tell the two inputs apart: Y is a function of X and X of Y, so I(T;Y) = I(X;T)
    lab = mixture_information(np.array([[0.0], [delta]]), 1.0, labels=[0, 1], samples=40_000, random_state=1)
    assert lab.ity.value == pytest.approx(lab.ixt.value, abs=1e-6)  # float32 exponentials: ~1e-7 per term


def test_two_inputs_in_many_dimensions_match_the_line():
    """Only the distance between the two centres matters (rotation and translation invariance)."""
    rng = np.random.default_rng(3)
    direction = rng.standard_normal(50)
    direction /= np.linalg.norm(direction)
    outputs = np.stack([5.0 + 0 * direction, 5.0 + 2.0 * direction])
    res = mixture_information(outputs, 1.0, samples=40_000, random_state=2)
    truth = pair_information(2.0, 1.0)
    assert abs(res.ixt.value - truth) < 4 * res.ixt.std, (res.ixt, truth)


def test_mixture_with_labels():
    """Two classes far apart, each a pair at distance delta: I(T;Y) = log 2 and
    I(X;T) = log 2 + I(pair), by the chain rule (X = (Y, which member of the pair))."""
    delta = 1.5
    outputs = np.array([[0.0], [delta], [1e4], [1e4 + delta]])
    res = mixture_information(outputs, 1.0, labels=["a", "a", "b", "b"], samples=40_000, random_state=4)
    assert res.ity.value == pytest.approx(math.log(2), abs=1e-9)
    truth = math.log(2) + pair_information(delta, 1.0)
    assert abs(res.ixt.value - truth) < 4 * res.ixt.std, (res.ixt, truth)
    # one class: nothing about Y
    same = mixture_information(outputs, 1.0, labels=[7, 7, 7, 7], samples=2000)
    assert same.ity.value == pytest.approx(0.0, abs=1e-12)


def test_unbalanced_labels_bounded_by_label_entropy():
    rng = np.random.default_rng(5)
    outputs = rng.standard_normal((300, 8))
    labels = (outputs[:, 0] > 0.8).astype(int)  # about 21 % in class 1
    p = labels.mean()
    h_y = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    res = mixture_information(outputs, 0.05, labels=labels, samples=6000)
    # tiny noise: T tells X apart, so I(T;Y) = H(Y) and I(X;T) = log m
    assert res.ity.value == pytest.approx(h_y, abs=1e-6)
    assert res.ixt.value == pytest.approx(math.log(300), abs=1e-6)


def test_identical_draws_equal_one_draw():
    """The nested form with r identical draws per row is the plain mixture."""
    rng = np.random.default_rng(6)
    f = rng.standard_normal((60, 5))
    nested = np.repeat(f[:, None, :], 3, axis=1)
    labels = np.arange(60) % 3
    one = mixture_information(f, 0.7, labels=labels, samples=3000, random_state=0)
    three = mixture_information(nested, 0.7, labels=labels, samples=3000, random_state=0)
    assert three.draws == 3
    # the draws differ (a draw index is sampled), the mixture does not: same value in expectation
    assert abs(one.ixt.value - three.ixt.value) < 4 * math.hypot(one.ixt.std, three.ixt.std)
    assert abs(one.ity.value - three.ity.value) < 4 * math.hypot(one.ity.std, three.ity.std)


def test_upstream_noise_lowers_the_information():
    """Spreading each row's conditional (upstream noise) can only make rows harder to tell apart."""
    rng = np.random.default_rng(7)
    f = rng.standard_normal((80, 4))
    spread = f[:, None, :] + 0.8 * rng.standard_normal((80, 6, 4))
    plain = mixture_information(f, 0.4, samples=4000)
    nested = mixture_information(spread, 0.4, samples=4000)
    assert nested.ixt.value < plain.ixt.value - 4 * math.hypot(plain.ixt.std, nested.ixt.std)


def test_chunking_and_dtype_do_not_change_the_value():
    rng = np.random.default_rng(8)
    f = rng.standard_normal((500, 16))
    labels = rng.integers(3, size=500)
    big = mixture_information(f, 1.0, labels=labels, samples=3000)
    small = mixture_information(f, 1.0, labels=labels, samples=3000, memory_mb=0.5)
    assert small.ixt.value == pytest.approx(big.ixt.value, abs=1e-10)
    assert small.ity.value == pytest.approx(big.ity.value, abs=1e-10)
    single = mixture_information(f, 1.0, labels=labels, samples=3000, dtype="float32")
    assert single.ixt.value == pytest.approx(big.ixt.value, abs=1e-4)


def test_profile_decreases_with_sigma_and_matches_single_calls():
    rng = np.random.default_rng(9)
    f = rng.standard_normal((200, 6))
    sigmas = [0.05, 0.2, 0.5, 1.0, 2.0, 5.0]
    prof = mixture_profile(f, sigmas, samples=4000)
    values = [p.ixt.value for p in prof]
    assert all(a > b for a, b in zip(values, values[1:]))  # data processing inequality
    assert values[0] == pytest.approx(math.log(200), abs=0.01)
    assert mixture_information(f, 0.5, samples=4000).ixt.value == pytest.approx(values[2], abs=1e-10)
    assert [p.sigma for p in prof] == sigmas


def test_accepts_tensors():
    torch = pytest.importorskip("torch")
    f = torch.randn(30, 4, generator=torch.Generator().manual_seed(0))
    res = mixture_information(f, 0.5, labels=torch.arange(30) % 2, samples=600)
    ref = mixture_information(f.numpy(), 0.5, labels=np.arange(30) % 2, samples=600)
    assert res.ixt.value == ref.ixt.value and res.ity.value == ref.ity.value


@pytest.mark.parametrize("kwargs, error, match", [
    ({"sigma": 0.0}, ValueError, "sigma must be > 0"),
    ({"sigma": float("nan")}, TypeError, "sigma must be a finite real number"),
    ({"sigma": True}, TypeError, "sigma must be a finite real number"),
    ({"labels": [0, 1]}, ValueError, "one entry per row"),
    ({"samples": 1}, ValueError, "samples must be >= 2"),
    ({"dtype": "float16"}, ValueError, "dtype"),
    ({"memory_mb": 0}, ValueError, "memory_mb"),
])
def test_bad_arguments(kwargs, error, match):
    args = {"sigma": 1.0, **kwargs}
    sigma = args.pop("sigma")
    with pytest.raises(error, match=match):
        mixture_information(np.zeros((5, 2)), sigma, **args)


def test_bad_outputs():
    with pytest.raises(ValueError, match="NaN"):
        mixture_information(np.array([[0.0], [np.nan]]), 1.0)
    with pytest.raises(ValueError, match=r"\(m, d\) or \(m, r, d\)"):
        mixture_information(np.zeros(5), 1.0)
    with pytest.raises(TypeError, match="outputs must hold real numbers"):
        mixture_information([["a"]], 1.0)
