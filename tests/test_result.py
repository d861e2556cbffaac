"""ibcore.result.Estimate: the value type of every estimator."""
import dataclasses
import math

import pytest
from scipy.stats import norm

from ibcore import Estimate


def test_ci_is_the_normal_interval():
    est = Estimate(1.2, 0.05)
    for level in (0.5, 0.9, 0.95, 0.99):
        z = norm.ppf(0.5 + level / 2)
        lo, hi = est.ci(level)
        assert lo == pytest.approx(1.2 - z * 0.05, abs=1e-14)
        assert hi == pytest.approx(1.2 + z * 0.05, abs=1e-14)
    # the default is the 95 % interval of the paper's figure 5 (z = 1.95996...)
    lo, hi = est.ci()
    assert (hi - lo) / 2 == pytest.approx(1.959963984540054 * 0.05, rel=1e-12)


def test_zero_std_gives_a_point_interval():
    assert Estimate(-0.3, 0.0).ci() == (-0.3, -0.3)


def test_float_returns_value_and_fields_are_floats():
    import numpy as np

    est = Estimate(np.float32(2.5), np.int64(0))
    assert float(est) == 2.5
    assert type(est.value) is float and type(est.std) is float
    assert math.isclose(float(Estimate(0.125, 0.5)), 0.125)


def test_frozen():
    est = Estimate(1.0, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.value = 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.std = 0.0
    assert est == Estimate(1.0, 0.1)
    assert hash(est) == hash(Estimate(1.0, 0.1))


def test_format_shows_value_and_std():
    assert format(Estimate(1.23456, 0.0123), ".2f") == "1.23 ± 0.01"
    assert "±" in str(Estimate(1.0, 0.1))


@pytest.mark.parametrize("value, std, match", [
    (float("nan"), 0.1, "value must be finite"),
    (float("inf"), 0.1, "value must be finite"),
    (1.0, -0.1, "std must be finite and >= 0"),
    (1.0, float("nan"), "std must be finite and >= 0"),
])
def test_invalid_estimate(value, std, match):
    with pytest.raises(ValueError, match=match):
        Estimate(value, std)


@pytest.mark.parametrize("level", [0.0, 1.0, -0.5, 95])
def test_invalid_level(level):
    with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
        Estimate(1.0, 0.1).ci(level)
