"""ibcore.intrinsic_dimension: TwoNN and the Levina–Bickel MLE against known dimensions.

Tolerance rule: ``|d̂ - d| <= bias + 4·sd`` with ``sd`` the spread of the estimate over 20
seeds measured at the same n and ``bias`` its measured mean error (both next to each case), so
that a correct estimator fails with probability ~1e-4 while an error of one dimension is caught.
"""
import math

import numpy as np
import pytest
from scipy.stats import ortho_group

import ibcore
from ibcore import IntrinsicDimension, intrinsic_dimension
from ibcore.estimators.intrinsic import mle_dimension, twonn_dimension


def _embed(z, ambient, rng):
    """Points z (n, d) on a random d-dimensional affine subspace of R^ambient, scaled by 3."""
    q = ortho_group.rvs(ambient, random_state=rng)[: z.shape[1]]
    return z @ q * 3.0 + rng.standard_normal(ambient)


def _torus(n, rng):
    t = rng.random((n, 2)) * 2 * np.pi
    return np.column_stack([np.cos(t[:, 0]), np.sin(t[:, 0]), np.cos(t[:, 1]), np.sin(t[:, 1])])


def _sphere(n, rng):
    g = rng.standard_normal((n, 3))
    return _embed(g / np.linalg.norm(g, axis=1, keepdims=True), 6, rng)


CASES = {  # name: (sampler, true dimension)
    "gaussian 3-D subspace of R^10": (lambda rng: _embed(rng.standard_normal((2000, 3)), 10, rng), 3),
    "gaussian 5-D subspace of R^8": (lambda rng: _embed(rng.standard_normal((2000, 5)), 8, rng), 5),
    "flat 2-torus in R^4": (lambda rng: _torus(2000, rng), 2),
    "2-sphere in R^6": (lambda rng: _sphere(2000, rng), 2),
    "uniform segment in R^3": (lambda rng: _embed(rng.random((1000, 1)), 3, rng), 1),
}
# measured over 20 seeds (mean error, sd): (twonn, mle)
#   3 in 10: +0.008 0.060 | +0.047 0.023      5 in 8: +0.041 0.125 | +0.027 0.029
#   torus  : +0.002 0.064 | +0.009 0.017      sphere: +0.030 0.062 | +0.002 0.015
#   segment: -0.009 0.046 | -0.005 0.009
TOL = {
    "twonn": {"gaussian 3-D subspace of R^10": 0.25, "gaussian 5-D subspace of R^8": 0.55,
              "flat 2-torus in R^4": 0.26, "2-sphere in R^6": 0.28, "uniform segment in R^3": 0.2},
    "mle": {"gaussian 3-D subspace of R^10": 0.14, "gaussian 5-D subspace of R^8": 0.15,
            "flat 2-torus in R^4": 0.08, "2-sphere in R^6": 0.07, "uniform segment in R^3": 0.045},
}


@pytest.mark.parametrize("method", ["twonn", "mle"])
@pytest.mark.parametrize("case", list(CASES))
def test_known_dimension(case, method):
    sampler, d = CASES[case]
    x = sampler(np.random.default_rng(12345))
    est = intrinsic_dimension(x, method)
    assert abs(est.value - d) <= TOL[method][case], f"{case}: {est}"
    assert est.method == method and est.n == len(x) and est.ambient_dim == x.shape[1]


def test_result_object():
    x = _torus(500, np.random.default_rng(0))
    two = intrinsic_dimension(x)
    assert isinstance(two, IntrinsicDimension) and two.per_k == {}
    assert float(two) == two.value and f"{two:.2f}" == f"{two.value:.2f}"
    assert str(two).startswith("intrinsic dimension 2") and "twonn; n = 500 points in 4 dimensions" in str(two)
    mle = intrinsic_dimension(x, "mle", k=(5, 8))
    assert list(mle.per_k) == [5, 6, 7, 8]
    assert mle.value == pytest.approx(np.mean(list(mle.per_k.values())), rel=1e-14)
    assert "per k: 5: " in str(mle)
    assert list(intrinsic_dimension(x, "mle", k=7).per_k) == [7]
    assert list(intrinsic_dimension(x, "mle").per_k) == list(range(10, 21))  # default (10, 20)


def test_formulas_match_a_direct_computation():
    """TwoNN: least squares through the origin of -log(1 - i/n) on log μ_(i), top 10 % of μ
    dropped; MLE: [mean_i (1/(k-1)) Σ_{j<k} log(T_k/T_j)]^{-1}, on brute-force distances."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 3))
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    r = np.sqrt(np.sort(d2, 1)[:, :12])
    mu = np.sort(r[:, 1] / r[:, 0])
    keep = 270
    xs, ys = np.log(mu[:keep]), -np.log(1 - np.arange(1, keep + 1) / 300)
    assert intrinsic_dimension(x).value == pytest.approx((xs @ ys) / (xs @ xs), rel=1e-10)
    assert twonn_dimension(r[:, 0], r[:, 1]) == pytest.approx((xs @ ys) / (xs @ xs), rel=1e-12)
    k = 12
    inv = np.array([np.mean([math.log(r[i, k - 1] / r[i, j]) for j in range(k - 1)]) for i in range(300)])
    assert intrinsic_dimension(x, "mle", k=k).value == pytest.approx(1 / inv.mean(), rel=1e-10)
    assert mle_dimension(r, [k])[k] == pytest.approx(1 / inv.mean(), rel=1e-12)


def test_discard_fraction_zero_uses_every_ratio_but_the_last():
    x = np.random.default_rng(4).standard_normal((400, 2))
    a = intrinsic_dimension(x, discard_fraction=0.0).value
    b = intrinsic_dimension(x, discard_fraction=0.3).value
    assert math.isfinite(a) and math.isfinite(b) and a != b


# --- invariances ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["twonn", "mle"])
def test_exact_invariance_to_similarities(method):
    """Ratios of neighbour distances: a scale by a power of two, a coordinate permutation with
    sign flips and an integer shift change no distance ratio (bit for bit up to the shift's
    rounding); a general rotation and scale change them only by rounding."""
    rng = np.random.default_rng(5)
    x = _embed(rng.standard_normal((800, 3)), 5, rng)
    ref = intrinsic_dimension(x, method).value
    perm = x[:, [3, 0, 4, 1, 2]] * np.array([1, -1, 1, 1, -1])
    assert intrinsic_dimension(perm * 4.0, method).value == pytest.approx(ref, rel=1e-13)
    q = ortho_group.rvs(5, random_state=rng)
    assert intrinsic_dimension(0.37 * x @ q + 11.0, method).value == pytest.approx(ref, rel=1e-9)


def test_rescale_makes_it_affine_invariant():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((800, 3)) ** 3  # not elliptical: whitening is not a rotation of it
    a = rng.standard_normal((3, 3))
    ref = intrinsic_dimension(x, rescale=True).value
    assert intrinsic_dimension(x @ a + 2.0, rescale=True).value == pytest.approx(ref, rel=1e-8)
    assert intrinsic_dimension(x @ a).value != pytest.approx(ref, rel=1e-8)


def test_backends_agree():
    x = _torus(600, np.random.default_rng(7))
    tree = intrinsic_dimension(x, "mle", backend="tree").value
    assert intrinsic_dimension(x, "mle", backend="brute", device="cpu").value == pytest.approx(tree, rel=1e-10)


# --- duplicates and bad input --------------------------------------------------------------------
def test_duplicates_error_and_jitter():
    x = np.random.default_rng(8).standard_normal((500, 3))
    x[10:15] = x[0]
    with pytest.raises(ValueError, match=r"5 duplicate sample\(s\).*jitter="):
        intrinsic_dimension(x)
    a = intrinsic_dimension(x, jitter=1e-6, random_state=0)
    assert a == intrinsic_dimension(x, jitter=1e-6, random_state=0)  # seeded
    # 6 of 500 points collapse to a 0-dimensional cluster; the robust fit drops their huge μ.
    # Spread of TwoNN on 3-D Gaussians at n = 500: sd 0.17 over 20 seeds, so 4 sd = 0.7
    assert abs(a.value - 3) <= 0.7


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"method": "pca"}, ValueError, "method must be one of"),
    ({"method": "twonn", "k": 5}, TypeError, "k is an option of method='mle'"),
    ({"method": "mle", "discard_fraction": 0.1}, TypeError, "discard_fraction is an option of method='twonn'"),
    ({"discard_fraction": 1.0}, ValueError, "discard_fraction must be < 1"),
    ({"discard_fraction": -0.1}, ValueError, "discard_fraction must be >= 0"),
    ({"method": "mle", "k": 1}, ValueError, "k must be >= 2"),
    ({"method": "mle", "k": (8, 4)}, ValueError, "k1 <= k2"),
    ({"method": "mle", "k": (2, 3, 4)}, ValueError, "pair"),
    ({"method": "mle", "k": 2.5}, TypeError, "k must be an integer"),
    ({"rescale": "yes"}, TypeError, "rescale must be True or False"),
    ({"jitter": 0.0}, ValueError, "jitter must be > 0"),
    ({"backend": "kd"}, ValueError, "backend must be one of"),
])
def test_bad_options(kwargs, exc, match):
    x = np.random.default_rng(9).standard_normal((50, 2))
    with pytest.raises(exc, match=match):
        intrinsic_dimension(x, **kwargs)


def test_bad_samples():
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        intrinsic_dimension(np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 1.0], [2.0, 2.0]]))
    with pytest.raises(ValueError, match=r"x must be 1-D \(n_samples,\) or 2-D"):
        intrinsic_dimension(np.zeros((5, 2, 2)))
    with pytest.raises(TypeError, match="x must hold real numbers"):
        intrinsic_dimension(np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="x has 2 samples; .* needs at least 3"):
        intrinsic_dimension(np.array([[0.0], [1.0]]))
    with pytest.raises(ValueError, match="x has 20 samples; .* needs at least 21"):
        intrinsic_dimension(np.random.default_rng(0).standard_normal((20, 2)), "mle")
    with pytest.raises(ValueError, match="collinear"):  # whitening a subspace
        intrinsic_dimension(_embed(np.random.default_rng(0).standard_normal((100, 2)), 4, np.random.default_rng(1)),
                            rescale=True)


def test_one_dimensional_input_is_one_feature():
    x = np.random.default_rng(10).random(1000)
    est = intrinsic_dimension(x)
    assert est.ambient_dim == 1 and abs(est.value - 1) <= 0.2  # sd 0.046 at n = 1000 (segment case)


def test_exported():
    assert ibcore.intrinsic_dimension is intrinsic_dimension
    assert ibcore.estimators.intrinsic_dimension is intrinsic_dimension
    assert issubclass(ibcore.ManifoldWarning, UserWarning)
