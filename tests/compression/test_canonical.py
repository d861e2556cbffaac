"""CanonicalEncoder: the held-out canonical MI of its codes against closed forms."""
import math

import numpy as np
import pytest

import ibcore
from ibcore.compression import CanonicalEncoder
from ibcore.estimators.flow import CanonicalPair
from ibcore.estimators.gaussian import canonical_mutual_information

RHO = 0.8
LATENTS = 3
TRUTH = LATENTS * -0.5 * math.log(1 - RHO ** 2)  # 1.53 nats


def _pairs(n, seed, rho=RHO):
    """Gaussian latent pairs (corr ``rho`` per coordinate) seen through one fixed nonlinear
    injective map into 12 coordinates: ``x = tanh(z W)`` plus the latents' cubes."""
    rng = np.random.default_rng(seed)
    zx = rng.standard_normal((n, LATENTS))
    zy = rho * zx + math.sqrt(1 - rho ** 2) * rng.standard_normal((n, LATENTS))
    w = np.random.default_rng(99).standard_normal((LATENTS, 9))

    def look(z):
        return np.concatenate([np.tanh(z @ w), z ** 3], axis=1)

    return look(zx), look(zy)


def _canonical_mi(u, v):
    return float(canonical_mutual_information(CanonicalPair().fit(u, v).rho_))


@pytest.fixture(scope="module")
def fitted():
    x, y = _pairs(2000, 0)
    return CanonicalEncoder(LATENTS, hidden=(64, 64), random_state=0, progress=False).fit(x, y)


def test_held_out_codes_keep_the_mi_of_the_latents(fitted):
    x, y = _pairs(2000, 1)
    cx, cy = fitted.transform(x), fitted.transform(y)
    assert cx.shape == (2000, LATENTS) and cx.dtype == np.float64
    # weighted KL, consistent for any smooth density, on codes of pairs the encoder never saw:
    # at most the truth (data processing), and the codes keep it up to 0.1 nats
    est = ibcore.mutual_information(cx, cy, method="wkl")
    assert TRUTH - 4 * est.std - 0.1 < est.value < TRUTH + 4 * est.std, est
    # the Gaussian MI (the encoder's objective) is no bound: the warped 12 + 12 coordinates read
    # 2.36 nats for a truth of 1.53 (CanonicalEncoder's docstring)
    assert _canonical_mi(x, y) > TRUTH + 0.5
    assert 1 <= fitted.n_epochs_ <= 800 and fitted.val_history_.shape == (fitted.n_epochs_,)
    assert fitted.val_history_[fitted.best_epoch_] == fitted.val_history_.max()


def test_independent_pairs_give_codes_independent_on_held_out_pairs():
    x, _ = _pairs(2000, 2)
    _, y = _pairs(2000, 3)  # y of other latents: I(X; Y) = 0
    enc = CanonicalEncoder(LATENTS, hidden=(64, 64), random_state=0, progress=False).fit(x[:1000], y[:1000])
    held = _canonical_mi(enc.transform(x[1000:]), enc.transform(y[1000:]))
    # sample canonical correlations of independent 3 + 3 codes: E[MI] ~ c^2 / (2 n) = 0.0045 nats
    # at n = 1,000; the largest of three r^2 exceeds 0.02 with probability < 1e-6 (r ~ N(0, 1/n))
    assert held < 0.03, held


def test_the_same_seed_gives_the_same_codes():
    x, y = _pairs(600, 4)
    a = CanonicalEncoder(2, hidden=(16,), epochs=5, random_state=3, progress=False).fit(x, y).transform(x)
    b = CanonicalEncoder(2, hidden=(16,), epochs=5, random_state=3, progress=False).fit(x, y).transform(x)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change, error, match", [
    (dict(y=np.zeros((100, 5))), ValueError, "same shape per sample"),
    (dict(y=np.zeros((90, 12))), ValueError, "same number of samples"),
    (dict(x=np.zeros((12, 12)), y=np.zeros((12, 12))), ValueError, "too few"),
    (dict(latent_dim=0), ValueError, "latent_dim"),
    (dict(hidden="wide"), TypeError, "each hidden width"),
    (dict(progress="yes"), TypeError, "progress"),
    (dict(dropout=1.0), ValueError, "dropout"),
    (dict(x=np.full((100, 12), np.nan)), ValueError, "x"),
])
def test_bad_input_is_refused_with_a_clear_error(change, error, match):
    args = dict(x=np.zeros((100, 12)), y=np.zeros((100, 12)), latent_dim=2, hidden=(8,), progress=False)
    args.update(change)
    enc = CanonicalEncoder(args.pop("latent_dim"), hidden=args.pop("hidden"), progress=args.pop("progress"),
                           dropout=args.pop("dropout", 0.0), epochs=1)
    with pytest.raises(error, match=match):
        enc.fit(args["x"], args["y"])


def test_transform_needs_a_fitted_encoder_of_the_same_shape(fitted):
    with pytest.raises(ValueError, match="fit"):
        CanonicalEncoder(2).transform(np.zeros((3, 12)))
    with pytest.raises(ValueError, match="shape"):
        fitted.transform(np.zeros((3, 11)))
