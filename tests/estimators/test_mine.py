"""MINE against closed-form mutual information, its gradient correction, and its input checks."""
import math

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from ibcore import Estimate
from ibcore.estimators.mine import MINE, MINE_OPTIONS, _lme_ema_function, mine_mutual_information
from ibcore.nn import limit_threads, train_loop


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # small networks gain nothing from intra-op threads; on a shared 2-core machine OpenMP
    # spinning makes them many times slower (the setting is restored afterwards)
    with limit_threads(1):
        yield


def gaussian_pair(n, mi, seed):
    """(x, y) standard normal scalars with correlation rho, I = -1/2 log(1 - rho^2) = mi nats."""
    rng = np.random.default_rng(seed)
    rho = math.sqrt(1.0 - math.exp(-2.0 * mi))
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1.0 - rho**2) * rng.normal(size=n)
    return x, y


def test_gaussian_mi_one_nat():
    x, y = gaussian_pair(4096, 1.0, seed=0)
    est = mine_mutual_information(x, y, epochs=100, batch_size=512, random_state=0, progress=False, device="cpu")
    assert isinstance(est, Estimate)
    # The tolerance is 0.15 nats. It covers the sampling error of a 4096-sample
    # estimate (std of the pointwise MI is rho ~ 0.93, so ~0.015 nats) several times over plus the
    # DV bound's small downward bias at batch 512; the reported std (training-curve spread,
    # ~0.005 here) is far smaller and not a sampling error, so it is not used for the tolerance.
    # Seeds 0, 1, 2 gave 0.985, 0.996, 1.009 during development.
    assert abs(est.value - 1.0) < 0.15
    assert 0 < est.std < 0.05


def test_independent_gives_near_zero():
    x, y = gaussian_pair(2048, 0.0, seed=1)
    est = MINE(epochs=30, random_state=1, progress=False, device="cpu").fit(x, y).estimate()
    # true MI 0; a critic on 2048 samples overfits by a few thousandths of a nat (0.004 seen)
    assert 0.0 <= est.value < 0.05


def test_labels_are_one_hot():
    # y = [2u] for u ~ U(0, 1): I(u; y) = H(y) = log 2
    rng = np.random.default_rng(3)
    u = rng.uniform(size=2048)
    labels = (2 * u).astype(int)
    m = MINE(epochs=60, random_state=0, progress=False, device="cpu").fit(u, labels)
    assert m.critic_kind_ == "dense"
    # DV is a lower bound and the step at u = 1/2 needs a sharp critic: 0.66 seen; allow 0.15
    assert abs(m.estimate().value - math.log(2)) < 0.15


def test_conv_critic_on_images():
    # image = injective smooth map of a (a bump whose position is a logistic of a), so
    # I(image; b) = I(a; b) = 1 nat (Theorem 1 of book/theory.md); a short run must already be close
    rng = np.random.default_rng(4)
    n, s = 2048, 8
    a, b = gaussian_pair(n, 1.0, seed=4)
    centre = 2 + 4 / (1 + np.exp(-a))
    g = np.arange(s)
    img = np.exp(-((g[None, :, None] - centre[:, None, None]) ** 2 + (g[None, None, :] - 3.5) ** 2) / 2)
    m = MINE(epochs=25, batch_size=256, random_state=0, progress=False, device="cpu").fit(img, b)
    assert m.critic_kind_ == "conv"
    assert len(m.history_) == 25 and np.isfinite(m.history_).all()
    # 0.98 seen at 40 epochs; a loose band because 25 epochs is a smoke-sized budget
    assert abs(m.estimate().value - 1.0) < 0.3
    # the same data with critic="dense" flattens the images
    d = MINE(critic="dense", epochs=1, random_state=0, progress=False, device="cpu").fit(img[:256], b[:256])
    assert d.critic_kind_ == "dense"
    del rng


def test_ema_gradient_correction():
    lme_ema = _lme_ema_function()
    t = torch.randn(64, dtype=torch.float64, requires_grad=True)
    exact = torch.logsumexp(t, 0) - math.log(64)
    (g_exact,) = torch.autograd.grad(exact, t)
    # with the moving average equal to the batch mean exp(t), the gradient is the exact one
    t2 = t.detach().clone().requires_grad_(True)
    out = lme_ema.apply(t2, exact.detach())
    assert torch.allclose(out, exact)
    out.backward()
    assert torch.allclose(t2.grad, g_exact)
    # a moving average e times larger divides the gradient by e; the forward value is unchanged
    t3 = t.detach().clone().requires_grad_(True)
    out3 = lme_ema.apply(t3, exact.detach() + 1.0)
    assert torch.allclose(out3, exact)
    out3.backward()
    assert torch.allclose(t3.grad, g_exact / math.e)
    # no overflow for large critic outputs (log domain)
    big = (t.detach() + 800).requires_grad_(True)
    lme_ema.apply(big, torch.logsumexp(big.detach(), 0) - math.log(64)).backward()
    assert torch.isfinite(big.grad).all() and torch.allclose(big.grad, g_exact)


def test_estimate_is_window_mean_and_seed_reproducible():
    x, y = gaussian_pair(512, 0.5, seed=5)
    a = MINE(epochs=12, batch_size=128, average_last=4, random_state=7, progress=False, device="cpu").fit(x, y)
    b = MINE(epochs=12, batch_size=128, average_last=4, random_state=7, progress=False, device="cpu").fit(x, y)
    np.testing.assert_array_equal(a.history_, b.history_)
    w = a.history_[-4:]
    est = a.estimate()
    assert est.value == pytest.approx(max(w.mean(), 0.0))
    assert est.std == pytest.approx(w.std(ddof=1) / 2.0)
    # a share of the epochs: ceil(0.25 * 12) = 3
    a.average_last = 0.25
    assert a.estimate().value == pytest.approx(max(a.history_[-3:].mean(), 0.0))
    # the functional front end is the class
    c = mine_mutual_information(x, y, epochs=12, batch_size=128, average_last=4, random_state=7,
                                progress=False, device="cpu")
    assert c == est


def test_validation_and_early_stopping():
    x, y = gaussian_pair(1024, 0.0, seed=6)
    m = MINE(epochs=300, batch_size=256, validation_fraction=0.25, patience=3, random_state=0,
             progress=False, device="cpu").fit(x, y)
    # on independent data the held-out DV value cannot keep improving for long
    assert m.stopped_early_ and m.n_epochs_ < 300
    assert len(m.val_history_) == len(m.history_) == m.n_epochs_
    est = MINE(epochs=5, batch_size=256, validation_fraction=0.25, estimate_from="validation",
               random_state=0, progress=False, device="cpu").fit(x, y).estimate()
    assert est.value >= 0


@pytest.mark.parametrize(
    "options, error",
    [
        ({"critic": "rnn"}, ValueError),
        ({"epochs": 0}, ValueError),
        ({"batch_size": 1}, ValueError),
        ({"lr": -1.0}, ValueError),
        ({"ema_alpha": 0.0}, ValueError),
        ({"ema_alpha": 1.5}, ValueError),
        ({"average_last": 1.5}, ValueError),
        ({"average_last": 0}, ValueError),
        ({"average_last": "all"}, TypeError),
        ({"estimate_from": "validation"}, ValueError),
        ({"validation_fraction": 1.0}, ValueError),
        ({"patience": 0}, ValueError),
        ({"hidden": 2.5}, TypeError),
        ({"random_state": -1}, TypeError),
        ({"device": "tpu"}, ValueError),
        ({"progress": "yes"}, TypeError),
    ],
)
def test_bad_options(options, error):
    x, y = gaussian_pair(64, 0.5, seed=0)
    with pytest.raises(error):
        MINE(**{"progress": False, **options}).fit(x, y)


def test_bad_inputs():
    x, y = gaussian_pair(64, 0.5, seed=0)
    opts = dict(epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match="same number of samples"):
        MINE(**opts).fit(x, y[:-1])
    with pytest.raises(ValueError, match="needs image input"):
        MINE(critic="conv", **opts).fit(x, y)
    with pytest.raises(ValueError, match="NaN"):
        MINE(**opts).fit(np.where(np.arange(64) == 3, np.nan, x), y)
    with pytest.raises(TypeError, match="real numbers"):
        MINE(**opts).fit(np.array(["a"] * 64), y)
    with pytest.raises(ValueError, match="at least 4"):
        MINE(**opts).fit(x[:3], y[:3])
    with pytest.raises(NotFittedError):
        MINE().estimate()
    with pytest.raises(TypeError, match="unknown option"):
        mine_mutual_information(x, y, k=3)
    with pytest.raises(TypeError, match="random_state must be None or a non-negative integer"):
        mine_mutual_information(x, y, random_state=-1, **opts)
    with pytest.raises(TypeError, match="discrete_y"):
        MINE(**opts).fit(x, y, discrete_y="yes")
    assert "random_state" in MINE_OPTIONS and "seed" not in MINE_OPTIONS and "epochs" in MINE_OPTIONS


def test_train_loop_early_stopping_restores_best():
    # monitored values 5, 4, 3, 4, 5, ...: best at epoch 2, stop after `patience` worse epochs
    values = iter([5.0, 4.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    model = torch.nn.Linear(1, 1)
    w_init = model.weight.item()

    def step(idx):
        with torch.no_grad():
            model.weight.add_(1.0)  # one step per epoch (one batch of 10 rows)
        return float(len(idx))

    gen = torch.Generator().manual_seed(0)
    res = train_loop(step, 10, epochs=7, batch_size=10, generator=gen, evaluate=lambda: next(values),
                     patience=2, model=model, progress=False)
    assert res.stopped_early and res.epochs_run == 5 and res.best_epoch == 2
    assert res.monitor == [5.0, 4.0, 3.0, 4.0, 5.0] and res.history == [10.0] * 5
    # the weights after epoch 2 (three steps) are restored, not those after epoch 4
    assert model.weight.item() == pytest.approx(w_init + 3.0)


def test_limit_threads_restores():
    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
