"""Stochastic layers, make_stochastic, layer hooks and the X/L pairing of collect()."""
import copy
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from ibcore.plane import (
    GaussianNoise, LayerRecorder, collect, make_stochastic, noise_entropy, noise_modules, noise_seed,
)


class Nested(nn.Module):
    """Conv block and a linear head in nested containers; input (n, 1, 6, 6)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())   # -> (2, 4, 4) = 32
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32, 3))

    def forward(self, x):
        return self.head(self.features(x))


def identity_linear(d, scale=1.0):
    lin = nn.Linear(d, d)
    with torch.no_grad():
        lin.weight.copy_(scale * torch.eye(d))
        lin.bias.zero_()
    return lin


def scaled_chain(d):
    """a: identity, b: times 2; used to see *where* the noise went."""
    return nn.Sequential(identity_linear(d), identity_linear(d, 2.0))


@pytest.fixture
def seeded():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield


# --- GaussianNoise statistics ---------------------------------------------------------------

N = 200_000
# Tolerances: for N i.i.d. draws the sample mean of N(0, s^2) has std s / sqrt(N), and the
# sample std has relative std ~ 1 / sqrt(2 N); 5 of those std's gives a false-failure rate
# below 1e-6 (and the seed is fixed anyway).
MEAN_TOL = 5 / math.sqrt(N)
STD_TOL = 5 / math.sqrt(2 * N)


@pytest.mark.parametrize("train", [True, False])
def test_absolute_noise_has_mean_zero_and_std_sigma_in_train_and_eval(seeded, train):
    sigma = 0.5
    noise = GaussianNoise(sigma, "absolute").train(train)
    x = torch.linspace(-3, 3, N, dtype=torch.float64)
    z = (noise(x) - x).numpy()
    assert abs(z.mean()) < sigma * MEAN_TOL
    assert abs(z.std() / sigma - 1) < STD_TOL
    # Gaussian shape, not just the first two moments
    assert stats.kstest(z / sigma, "norm").pvalue > 1e-4


@pytest.mark.parametrize("train", [True, False])
def test_relative_noise_std_is_sigma_times_abs_x(seeded, train):
    sigma = 0.1
    noise = GaussianNoise(sigma, "relative").train(train)
    values = torch.tensor([-3.0, -0.2, 0.5, 2.0], dtype=torch.float64)
    per = N // len(values)
    x = values.repeat_interleave(per)
    z = noise(x) - x
    for i, v in enumerate(values):
        zi = z[i * per:(i + 1) * per].numpy() / (sigma * abs(float(v)))  # standardised: N(0, 1)
        assert abs(zi.mean()) < 5 / math.sqrt(per)
        assert abs(zi.std() - 1) < 5 / math.sqrt(2 * per)
    # a zero activation gets no noise at all
    assert torch.equal(noise(torch.zeros(10)), torch.zeros(10))


def test_noise_is_independent_across_calls_and_keeps_shape_and_dtype(seeded):
    noise = GaussianNoise(1.0).eval()
    x = torch.zeros(3, 4, 5, dtype=torch.float32)
    a, b = noise(x), noise(x)
    assert a.shape == x.shape and a.dtype == torch.float32
    assert not torch.equal(a, b)


def test_noise_passes_gradients():
    x = torch.randn(5, 3, requires_grad=True)
    GaussianNoise(0.3, "absolute")(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_relative_sigma_zero_is_identity_and_absolute_sigma_zero_is_refused():
    x = torch.randn(4, 3)
    assert torch.equal(GaussianNoise(0.0, "relative")(x), x)
    with pytest.raises(ValueError, match="sigma must be > 0 for absolute"):
        GaussianNoise(0.0, "absolute")
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        GaussianNoise(-0.1, "relative")
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        GaussianNoise(-0.1, "absolute")
    with pytest.raises(ValueError, match="noise mode"):
        GaussianNoise(0.1, "multiplicative")
    with pytest.raises(TypeError, match="finite real"):
        GaussianNoise(float("nan"))


def test_attributes_and_repr():
    g = GaussianNoise(0.25, "relative")
    assert g.sigma == 0.25 and g.mode == "relative"
    assert "sigma=0.25" in repr(g) and "relative" in repr(g)
    assert list(g.state_dict()) == []  # nothing to save: state_dict keys never change


def test_generator_and_noise_seed_make_noise_reproducible():
    x = torch.zeros(100)
    a = GaussianNoise(1.0, generator=torch.Generator().manual_seed(3))(x)
    b = GaussianNoise(1.0, generator=torch.Generator().manual_seed(3))(x)
    assert torch.equal(a, b)

    model = nn.Sequential(GaussianNoise(1.0), nn.Linear(100, 5), GaussianNoise(1.0, "relative"))
    with noise_seed(model, 7):
        o1 = model(x[None])
    with noise_seed(model, 7):
        o2 = model(x[None])
    with noise_seed(model, 8):
        o3 = model(x[None])
    assert torch.equal(o1, o2) and not torch.equal(o1, o3)
    assert all(m.generator is None for m in noise_modules(model).values())  # restored


def test_noise_entropy_matches_scipy():
    for d, sigma in [(1, 0.3), (4, 1e-3), (10, 2.0)]:
        ref = stats.multivariate_normal(mean=np.zeros(d), cov=sigma ** 2 * np.eye(d)).entropy()
        assert noise_entropy(d, sigma) == pytest.approx(ref, rel=1e-12)
    assert GaussianNoise(0.5).entropy(3) == pytest.approx(noise_entropy(3, 0.5))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        noise_entropy(3, 0.0)
    with pytest.raises(ValueError, match="dim"):
        noise_entropy(0, 1.0)
    with pytest.raises(ValueError, match="only for absolute"):
        GaussianNoise(0.5, "relative").entropy(3)


# --- make_stochastic --------------------------------------------------------------------------

def test_make_stochastic_default_types_in_nested_model_keeps_state_dict_keys(seeded):
    model = Nested()
    keys = list(model.state_dict())
    x = torch.randn(4, 1, 6, 6)
    ref = model(x)
    out = make_stochastic(model, 1e-2, "absolute")
    assert out is model
    assert set(noise_modules(model)) == {"features.0.input_noise", "head.1.input_noise"}
    assert list(model.state_dict()) == keys
    model.eval()
    y1, y2 = model(x), model(x)
    assert not torch.equal(y1, y2)          # noisy also in eval mode
    assert torch.allclose(y1, ref, atol=0.2)  # small noise: close to the deterministic output


@pytest.mark.parametrize("where, layer, factor", [
    ("inputs", "1", 2.0),    # noise enters layer b (x2) -> std 2 sigma at the output
    ("outputs", "1", 1.0),   # noise after b -> std sigma
    ("inputs", "0", 2.0),    # noise before a, then a (x1) and b (x2) -> 2 sigma
    ("outputs", "0", 2.0),
])
def test_make_stochastic_puts_noise_where_asked(seeded, where, layer, factor):
    d, n, sigma = 4, 50_000, 0.1
    model = make_stochastic(scaled_chain(d), sigma, "absolute", where=where, layers=[layer])
    other = "0" if layer == "1" else "1"
    assert list(noise_modules(model)) == [f"{layer}.{'input' if where == 'inputs' else 'output'}_noise"]
    assert not noise_modules(model[int(other)])
    x = torch.randn(n, d)
    with torch.no_grad():
        z = (model.eval()(x) - 2 * x).numpy().ravel()
    # n*d draws: the sample std is within 5/sqrt(2 n d) relative of the true std
    assert abs(z.std() / (factor * sigma) - 1) < 5 / math.sqrt(2 * n * d)
    assert abs(z.mean()) < 5 * factor * sigma / math.sqrt(n * d)


def test_make_stochastic_relative_noise(seeded):
    model = make_stochastic(nn.Sequential(identity_linear(3)), 0.05, "relative", layers="0")
    x = torch.full((40_000, 3), -2.0)
    with torch.no_grad():
        z = (model(x) - x).numpy().ravel() / (0.05 * 2.0)
    assert abs(z.std() - 1) < 5 / math.sqrt(2 * z.size)


def test_make_stochastic_errors():
    model = Nested()
    with pytest.raises(ValueError, match=r"unknown layer name.*'nope'.*available.*'features.0'"):
        make_stochastic(model, 0.1, layers=["nope"])
    with pytest.raises(ValueError, match="sigma must be > 0 for absolute"):
        make_stochastic(model, 0.0, "absolute")
    with pytest.raises(ValueError, match="where"):
        make_stochastic(model, 0.1, where="between")
    with pytest.raises(ValueError, match="no module of types"):
        make_stochastic(model, 0.1, types=(nn.LSTM,))
    make_stochastic(model, 0.1, layers=["head.1"])
    with pytest.raises(ValueError, match="already have noise"):
        make_stochastic(model, 0.1, layers=["head.1"])
    assert not noise_modules(Nested())  # nothing was added to other instances


def test_deepcopy_of_stochastic_model_uses_its_own_noise(seeded):
    model = make_stochastic(nn.Sequential(identity_linear(2)), 1e-3, layers=["0"])
    clone = copy.deepcopy(model)
    clone[0].input_noise.sigma = 10.0
    x = torch.zeros(2000, 2)
    with torch.no_grad():
        assert model(x).std() < 0.01
        assert clone(x).std() > 5.0


# --- LayerRecorder ----------------------------------------------------------------------------

def test_recorder_captures_conv_container_and_linear_outputs_by_name(seeded):
    model = Nested().eval()
    x = torch.randn(10, 1, 6, 6)
    with LayerRecorder(model, ["features.0", "features", "head.1"]) as rec:
        model(x[:6])
        model(x[6:])
        assert rec.active
    out = rec.outputs()
    assert not rec.active
    assert set(out) == {"features.0", "features", "head.1"}
    assert out["features.0"].shape == (10, 32) and out["features"].shape == (10, 32)
    assert out["head.1"].shape == (10, 3)
    assert all(v.dtype == np.float64 for v in out.values())
    with torch.no_grad():
        conv = model.features[0](x).reshape(10, -1).double().numpy()
        final = model(x).double().numpy()
    np.testing.assert_allclose(out["features.0"], conv, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["features"], np.maximum(conv, 0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["head.1"], final, rtol=1e-6, atol=1e-7)


def test_recorder_removes_hooks_on_exit_even_after_an_error():
    model = Nested()
    with LayerRecorder(model, ["features.0", "head.1"]) as rec:
        model(torch.randn(2, 1, 6, 6))
    assert not model.features[0]._forward_hooks and not model.head[1]._forward_hooks
    model(torch.randn(3, 1, 6, 6))  # after the block: nothing more is recorded
    assert rec.outputs()["head.1"].shape == (2, 3)
    with pytest.raises(ZeroDivisionError):
        with LayerRecorder(model, "head.1"):
            1 / 0
    assert not model.head[1]._forward_hooks
    rec2 = LayerRecorder(model, "head.1", as_numpy=False)
    with rec2:
        model(torch.randn(2, 1, 6, 6))
    assert isinstance(rec2.outputs()["head.1"], torch.Tensor)


def test_recorder_errors():
    model = Nested()
    with pytest.raises(ValueError, match=r"unknown layer name.*'head.7'.*available.*'head.1'"):
        LayerRecorder(model, ["head.7"])
    with pytest.raises(ValueError, match="at least one"):
        LayerRecorder(model, [])
    with LayerRecorder(model, ["head.1"]) as rec:
        pass
    with pytest.raises(RuntimeError, match="no outputs recorded"):
        rec.outputs()


# --- collect: one pass, one order -------------------------------------------------------------

def copy_model():
    """A model whose recorded layer output equals its (flattened) input."""
    return nn.Sequential(nn.Flatten(), identity_linear(12))


def test_collect_keeps_x_and_l_paired_with_a_shuffling_loader(seeded):
    from torch.utils.data import DataLoader, TensorDataset

    n = 103
    x = torch.randn(n, 3, 4)
    y = torch.arange(n)
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True)
    next(iter(loader))  # consume the global stream elsewhere, as a training loop would
    res = collect(copy_model(), loader, ["1"])
    outputs, inputs, labels = res
    np.testing.assert_allclose(outputs["1"], x.reshape(n, -1).double().numpy(), rtol=1e-6, atol=1e-6)
    assert torch.equal(inputs, x) and torch.equal(labels, y)
    # the same rows, in the same order, on every call
    again = collect(copy_model(), loader, ["1"])
    np.testing.assert_allclose(again.outputs["1"], outputs["1"], atol=1e-6)


def test_collect_tensor_and_pair_inputs_with_ragged_last_batch():
    x = np.random.default_rng(0).standard_normal((25, 12))
    labels = np.arange(25) % 3
    for res in (collect(copy_model(), x, "1", labels=labels, batch_size=7),
                collect(copy_model(), (torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(labels)),
                        "1", batch_size=4)):
        np.testing.assert_allclose(res.outputs["1"], x, rtol=1e-6, atol=1e-6)
        assert res.labels.tolist() == labels.tolist()
    res = collect(copy_model(), x, "1", keep_inputs=False)
    assert res.inputs is None and res.labels is None
    with pytest.raises(ValueError, match="25 rows but labels have 24"):
        collect(copy_model(), x, "1", labels=labels[:24])
    with pytest.raises(ValueError, match="unknown layer"):
        collect(copy_model(), x, "2")


def test_collect_runs_eval_mode_with_noise_on_and_restores_training_flags(seeded):
    sigma = 1e-2
    model = nn.Sequential(nn.Dropout(0.5), GaussianNoise(sigma), identity_linear(12))
    model.train()
    x = torch.randn(2000, 12)
    res = collect(model, x, ["2"])
    z = res.outputs["2"] - x.double().numpy()
    # dropout off (it would zero ~half the entries: |z| ~ |x|), noise on with std sigma
    assert abs(z.std() / sigma - 1) < 5 / math.sqrt(2 * z.size)
    assert model.training and all(m.training for m in model.modules())
    # seeded evaluation noise is reproducible, and differs between seeds
    a, b = collect(model, x, ["2"], random_state=1), collect(model, x, ["2"], random_state=1)
    c = collect(model, x, ["2"], random_state=2)
    assert np.array_equal(a.outputs["2"], b.outputs["2"])
    assert not np.array_equal(a.outputs["2"], c.outputs["2"])
