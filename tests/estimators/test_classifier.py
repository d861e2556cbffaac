"""The held-out classifier bound H(Y) - CE <= I(X;Y) and the label entropy it rests on."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibcore.estimators import classifier_bound, label_entropy


def test_label_entropy_is_the_plug_in_with_miller_madow_and_an_honest_error():
    # 20 repeats of 1,000 uniform labels over 4 classes: the truth log 4 within 4 of their errors,
    # and the spread over repeats of the order of the reported error
    values, stds = [], []
    for seed in range(20):
        y = np.random.default_rng(seed).integers(0, 4, 1000)
        est = label_entropy(y)
        counts = np.bincount(y) / 1000
        assert est.value == pytest.approx(-(counts * np.log(counts)).sum() + 3 / 2000, abs=1e-12)
        values.append(est.value)
        stds.append(est.std)
    assert abs(np.mean(values) - math.log(4)) < 4 * np.mean(stds) / math.sqrt(20)
    assert 0.3 < np.std(values, ddof=1) / np.mean(stds) < 3.0


def test_bound_reaches_the_entropy_of_labels_that_are_a_function_of_x():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3000, 2))
    y = np.floor(4 * x[:, 0]).astype(int)                     # I(X;Y) = H(Y) = log 4
    cb = classifier_bound(x, y, random_state=0)
    assert cb.bound.value <= cb.entropy.value
    assert abs(cb.bound.value - math.log(4)) < 0.05             # 0.04 nats of cross-entropy or less
    assert set(cb.cross_entropy) == {"logistic", "gradient boosting"}
    assert cb.cross_entropy[cb.classifier] == min(cb.cross_entropy.values())


def test_bound_stays_below_the_known_mi_of_noisy_labels():
    """Quadrant labels with 10 % flipped at random: I(X;Y) = log 4 - H(0.925, 0.025 x 3). A held-out
    bound is below it at any n, up to its standard error (checked over 5 seeds)."""
    p = 0.9 + 0.1 / 4
    truth = math.log(4) + p * math.log(p) + 3 * 0.025 * math.log(0.025)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = rng.uniform(size=(2000, 2))
        y = (x[:, 0] > 0.5).astype(int) * 2 + (x[:, 1] > 0.5)
        flip = rng.uniform(size=2000) < 0.1
        y[flip] = rng.integers(0, 4, flip.sum())
        cb = classifier_bound(x, y, random_state=seed)
        assert cb.bound.value < truth + 3 * cb.bound.std, (seed, cb.bound, truth)
        assert cb.bound.value > truth - 0.25                     # and not vacuous


def test_independent_labels_give_a_bound_near_zero_or_below():
    rng = np.random.default_rng(1)
    cb = classifier_bound(rng.standard_normal((1500, 3)), rng.integers(0, 3, 1500), random_state=1)
    assert cb.bound.value < 3 * cb.bound.std


@pytest.mark.parametrize("labels,error,message", [
    (np.zeros(100, dtype=int), ValueError, "two classes"),
    (np.r_[np.zeros(97, dtype=int), np.ones(3, dtype=int)], ValueError, "folds=5"),
    (np.arange(99) % 2, ValueError, "same number|paired|length|rows"),
])
def test_bad_labels_are_refused_with_the_reason(labels, error, message):
    x = np.random.default_rng(0).standard_normal((100, 2))
    with pytest.raises(error, match=message):
        classifier_bound(x, labels)
