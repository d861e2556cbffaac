"""The manifold check of the entropy-based estimators (kl, wkl, kde-ml, kde-lse).

A sample near a manifold of lower dimension than its coordinates has differential entropy -∞;
the estimators then return numbers that drift without bound as n grows. They must warn
(:class:`ibcore.ManifoldWarning`, carrying the numbers) and never flag full-dimensional data.
The rule, ``TwoNN < d · (0.7 - 2.5/√n)``, and its measured false-alarm and detection rates are
in :func:`ibcore.estimators.intrinsic.manifold_suspected`: 0 false alarms in 5760 full-dimensional
samples, 100 % detection of 2-D surfaces in 4-D from n = 500 on. The cases below are inside
those measured grids, far from the threshold (stated next to each).
"""
import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA

import ibcore
from ibcore import ManifoldWarning, entropy, intrinsic_dimension, mutual_information
from ibcore.synthetic import GaussianBumps, image_pair

METHODS = ("kl", "wkl", "kde-ml", "kde-lse")


def _torus(n, seed):
    t = np.random.default_rng(seed).random((n, 2)) * 2 * np.pi
    return np.column_stack([np.cos(t[:, 0]), np.sin(t[:, 0]), np.cos(t[:, 1]), np.sin(t[:, 1])])


@pytest.fixture(scope="module")
def bump_codes():
    """A manifold case: 16x16 images of 2 latent parameters (true MI 2 nats), PCA to 4 per side.
    TwoNN of such codes: 1.97 ± 0.08 at n = 1000 (20 seeds); the threshold is 2.48."""
    pair = image_pair(GaussianBumps(16), 2.0, n=1000, random_state=0)
    flat = lambda a: PCA(4, random_state=0).fit_transform(a.reshape(len(a), -1))  # noqa: E731
    return flat(pair.x), flat(pair.y)


def _manifold_warnings(record):
    return [w for w in record if issubclass(w.category, ManifoldWarning)]


def test_wkl_warns_on_a_2d_manifold_in_4d(bump_codes):
    cx, cy = bump_codes
    with pytest.warns(ManifoldWarning) as record:
        entropy(cx, "wkl")
    (w,) = _manifold_warnings(record)
    (check,) = w.message.checks
    assert check["name"] == "x" and check["ambient_dim"] == 4 and check["n"] == 1000
    assert abs(check["intrinsic_dim"] - 2) <= 0.35  # 4 sd of TwoNN on these codes
    assert "4 coordinates, intrinsic dimension" in str(w.message) and "'wkl'" in str(w.message)
    assert w.filename == __file__  # points at the caller, not inside ibcore


def test_mutual_information_warns_once_naming_every_term(bump_codes):
    cx, cy = bump_codes
    with pytest.warns(ManifoldWarning) as record:
        mutual_information(cx, cy, "wkl")
    (w,) = _manifold_warnings(record)
    names = [c["name"] for c in w.message.checks]
    assert names == ["(x, y)", "x", "y"]
    joint = w.message.checks[0]
    # the joint of two 2-D codes is a 4-D set in R^8 (TwoNN 3.9 ± 0.2 over 20 seeds; threshold 4.97)
    assert joint["ambient_dim"] == 8 and joint["intrinsic_dim"] < 5
    assert w.filename == __file__


def test_labels_name_the_flagged_classes():
    x = _torus(1000, 1)
    y = (x[:, 0] > 0).astype(int)
    with pytest.warns(ManifoldWarning) as record:
        mutual_information(x, y, "kl")
    (w,) = _manifold_warnings(record)
    assert [c["name"] for c in w.message.checks] == ["x", "x[y == 0]", "x[y == 1]"]
    assert [c["n"] for c in w.message.checks] == [1000, int((y == 0).sum()), int((y == 1).sum())]


@pytest.mark.parametrize("method", METHODS)
def test_every_entropy_method_warns_and_can_be_silenced(method):
    x = _torus(500, 2)  # TwoNN 2.01 ± 0.14 at n = 500; threshold 2.35
    with pytest.warns(ManifoldWarning):
        flagged = ibcore.make_entropy_estimator(method).fit(x)
    assert flagged.on_manifold_ and flagged.intrinsic_dimension_.ambient_dim == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error", ManifoldWarning)
        quiet = ibcore.make_entropy_estimator(method, check_manifold=False).fit(x)
        assert quiet.intrinsic_dimension_ is None and not quiet.on_manifold_
        mi = mutual_information(x[:, :2], x[:, 2:], method, check_manifold=False)
    # the check changes no number
    assert quiet.estimate() == flagged.estimate()
    with pytest.warns(ManifoldWarning):
        assert mutual_information(x[:, :2], x[:, 2:], method) == mi


def test_the_check_reuses_the_estimators_distances():
    """kNN estimators read r1, r2 from their own neighbour query: the stored TwoNN equals
    intrinsic_dimension of the fitted (whitened) sample exactly."""
    x = np.random.default_rng(3).standard_normal((700, 3)) @ np.array([[2.0, 0, 0], [1, 1, 0], [0, 3, 1]])
    for method, k in (("kl", 1), ("wkl", 5), ("kl", 4)):
        est = ibcore.make_entropy_estimator(method, k=k).fit(x)
        assert est.intrinsic_dimension_.value == intrinsic_dimension(est.reference_).value
        assert est.intrinsic_dimension_.method == "twonn" and est.intrinsic_dimension_.n == 700


FULL = {  # full-dimensional families; TwoNN sits >= 2.6 sd above the threshold in every measured cell
    "gaussian": lambda rng, n, d: rng.standard_normal((n, d)) @ rng.standard_normal((d, d)),
    "uniform": lambda rng, n, d: rng.random((n, d)),
    "student-t (ν = 1)": lambda rng, n, d: (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)))
    / np.abs(rng.standard_normal(n))[:, None],
}


@pytest.mark.filterwarnings("error::ibcore.ManifoldWarning")
@pytest.mark.parametrize("family", list(FULL))
def test_no_false_alarm_on_full_dimensional_data(family):
    for d in range(1, 9):
        for seed in range(2):
            x = FULL[family](np.random.default_rng([seed, d, 77]), 500, d)
            est = ibcore.make_entropy_estimator("kl").fit(x)
            assert not est.on_manifold_, (family, d, est.intrinsic_dimension_)


@pytest.mark.filterwarnings("error::ibcore.ManifoldWarning")
def test_no_false_alarm_in_mutual_information_of_closed_form_pairs(samplers):
    for m, mi in ((1, 5.0), (2, 1.0), (4, 3.0)):
        x, y = samplers.correlated_gaussians(m, mi, 1000, seed=m)
        mutual_information(x, y, "wkl")
        mutual_information(x, (x[:, 0] > 0).astype(int), "wkl")


def test_ksg_is_not_checked(bump_codes):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ManifoldWarning)
        mutual_information(*bump_codes, "ksg")


def test_check_manifold_must_be_a_bool():
    with pytest.raises(TypeError, match="check_manifold must be True or False"):
        entropy(np.random.default_rng(0).standard_normal((50, 2)), "kl", check_manifold="no")
