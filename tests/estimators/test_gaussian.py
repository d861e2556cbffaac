"""The Gaussian closed forms against each other and against textbook values."""
import math

import numpy as np
import pytest

from ibcore.estimators import canonical_mutual_information, gaussian_mutual_information
from ibcore.synthetic import gaussian_mutual_information as sampler_form


def test_one_pair_is_minus_half_log_one_minus_rho_squared():
    rho = 0.8
    cov = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_mutual_information(cov, 1) == pytest.approx(-0.5 * math.log(1 - rho ** 2), rel=1e-14)
    assert canonical_mutual_information([rho]) == pytest.approx(-0.5 * math.log(1 - rho ** 2), rel=1e-14)


def test_canonical_correlations_give_the_covariance_form_after_any_affine_maps():
    rng = np.random.default_rng(0)
    rho = np.array([0.9, 0.5, 0.1])
    joint = np.eye(6)
    joint[np.arange(3), 3 + np.arange(3)] = joint[3 + np.arange(3), np.arange(3)] = rho
    a, b = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))   # invertible maps of each side
    m = np.zeros((6, 6))
    m[:3, :3], m[3:, 3:] = a, b
    cov = m @ joint @ m.T
    assert gaussian_mutual_information(cov, 3) == pytest.approx(canonical_mutual_information(rho), rel=1e-10)


def test_one_implementation_and_its_errors():
    assert sampler_form is gaussian_mutual_information   # the samplers re-export it
    assert canonical_mutual_information([]) == 0.0
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_mutual_information(np.ones((2, 2)), 1)
