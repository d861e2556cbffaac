"""ibcore.estimators.estimate_mutual_information (through ibcore.mutual_information): MI estimators against closed forms (nats).

Tolerance rule: ``-below - 4·std <= Î - I <= above + 4·std`` with ``std`` the reported
standard error and ``(below, above)`` a stated allowance for a bias that is a property of
the estimator at this n (measured over 12 seeds for kNN/KSG at n = 2000 and 3 seeds for
KDE at n = 1000; numbers next to each table). The factor 4 leaves room for the reported
std being up to ~1.4× too small (test_std_is_calibrated measures 1.2-1.4 for kl, wkl, ksg).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import digamma

from ibcore import KSG, entropy, mutual_information, pointwise_mutual_information

from _assertions import FACTOR, check  # noqa: F401  (tests/ is on sys.path; shared tolerance rule)

METHODS = ("kl", "wkl", "kde-ml", "kde-lse", "ksg")
N = {"kl": 2000, "wkl": 2000, "ksg": 2000, "kde-ml": 1000, "kde-lse": 1000}


# --- Correlated Gaussians: m + m dims, I in {0, 1, 3, 5} ------------------------------------
# Measured mean error (sd over seeds) at the n above:
#   kl : |bias| <= 0.04 everywhere (sd 0.03-0.10)          -> 0.05 for m = 4, else 0.03
#   wkl: |bias| <= 0.03 for m <= 2; m = 4 (the d = 8 joint; k chosen by choose_wkl_k: 36 for
#        the joint, 5 for the marginals): -0.03..-0.04, sd 0.13-0.16, reported std 0.09-0.10
#        (10 seeds; with the paper's k = 5 everywhere: ±0.03, sd 0.43-0.46, reported std 0.24)
#   ksg: I=0 unbiased; strongly biased *low* at high MI, growing with dimension (the k-NN
#        ball in the joint space is not small against the width of the dependence):
#        m=1 I=5 -0.10; m=2 I=3 -0.07, I=5 -0.43; m=4 I=1 -0.15, I=3 -0.51, I=5 -1.15.
#        An independent numpy KSG (same metric) and the classic max-norm KSG give the
#        same numbers (-1.16 / -1.28 at m=4, I=5), so this is the estimator, not a bug.
#   kde (3 seeds, n = 1000; the marginals reuse the joint's bandwidth):
#        kde-ml  m=1 -0.01..-0.03, m=2 -0.02..-0.09, m=4 -0.05..-0.09 (worst seed -0.15);
#        kde-lse m=1 -0.01..-0.03, m=2 -0.04..-0.12, m=4 -0.14..-0.19 (worst seed -0.21).
#        Biased low: the joint density is smoothed in 2m dims. Allowances 0.05 / 0.15 / 0.22.
def _gauss_allow(method, m, mi):
    if method == "ksg":
        below = {(1, 5): 0.15, (2, 3): 0.12, (2, 5): 0.52, (4, 1): 0.22, (4, 3): 0.62,
                 (4, 5): 1.3}.get((m, mi), 0.03)
        return below, 0.03
    if method in ("kde-ml", "kde-lse"):
        return {1: 0.05, 2: 0.15, 4: 0.22}[m], 0.03
    return (0.05, 0.05) if m == 4 else (0.03, 0.03)


@pytest.mark.parametrize("mi", [0.0, 1.0, 3.0, 5.0])
@pytest.mark.parametrize("m", [1, 2, 4])
@pytest.mark.parametrize("method", METHODS)
def test_correlated_gaussians(samplers, method, m, mi):
    x, y = samplers.correlated_gaussians(m, mi, N[method], seed=int(100 * m + 10 * mi) + 7)
    check(mutual_information(x, y, method), mi, _gauss_allow(method, m, mi))


# --- Non-Gaussian: uniform marginals -------------------------------------------------------
# u = Φ(g) coordinate-wise keeps I = 2 nats exactly, but the joint is a Gaussian copula on
# [0, 1]^4: whitening cannot make it Gaussian. Measured bias (10 seeds kNN n = 2000, 4 seeds
# KDE n = 1000): kl -0.10 (sd 0.085), wkl -0.01, ksg -0.05, kde-ml -0.14, kde-lse -0.15; all
# low, as in a re-implementation of the authors' estimator (≈ -0.1 at 2 nats). Allowances: measured + ~50 %.
UNIFORM_ALLOW = {"kl": 0.15, "wkl": 0.05, "ksg": 0.1, "kde-ml": 0.21, "kde-lse": 0.23}


@pytest.mark.parametrize("method", METHODS)
def test_uniform_marginals(samplers, method):
    x, y = samplers.uniform_marginal_pair(2, 2.0, N[method], seed=31)
    check(mutual_information(x, y, method), 2.0, (UNIFORM_ALLOW[method], 0.03))


# --- Continuous x, discrete y: X ~ U[0,1]², Y = ⌊M X₁⌋, I = log M ------------------------
# Expected (a re-implementation of the authors' estimator): within 0.1 nats at n = 5000, a slight *under*estimate. Measured mean
# error (n = 5000, 4 seeds; KDE n = 2000, 3 seeds):
#   kl  -0.006 / -0.020 / -0.037      wkl -0.007 / -0.028 / -0.069      (M = 2 / 8 / 32)
#   ksg (Ross 2014): a reference implementation gives -0.009 / -0.062 / -0.284 (an earlier
#       ibcore version that lost the k-th neighbour to rounding gave +0.111 / +0.055 / -0.18): at M = 32 the
#       strips are ~2 k-NN radii wide and the boundary bias dominates, hence 0.35 there.
#   kde-ml -0.022 / -0.086 / -0.195, kde-lse -0.025 / -0.095 / -0.208 at n = 2000: each class
#       is a uniform strip with hard edges that the Gaussian kernel smooths (62 points per
#       class at M = 32); allowances 0.1 / 0.15 / 0.27. With labels the reported std is
#       somewhat small, as for continuous y: seed spread / mean std at M = 8 = 1.37 (wkl, n = 1000,
#       200 seeds; 1.31 at M = 2 and 32), 1.23 (wkl, n = 5000, 100 seeds), 1.30 (kl, n = 1000,
#       200 seeds), 1.19 (kde-ml, n = 1000, 40 seeds). An earlier 1.87 for wkl came from 15 seeds:
#       blocks of 15 of the 200 seeds give 0.98-1.87, blocks of 30 give 1.23-1.49. The bias, not
#       the std, dominates here, so the allowance, not 4·std, carries these checks.
# Upper side: no mechanism for an overestimate beyond noise (0.02 + 4 std).
CD_N = {"kl": 5000, "wkl": 5000, "ksg": 5000, "kde-ml": 2000, "kde-lse": 2000}
CD_BELOW = {"ksg": {2: 0.1, 8: 0.1, 32: 0.35},
            "kde-ml": {2: 0.1, 8: 0.15, 32: 0.27}, "kde-lse": {2: 0.1, 8: 0.15, 32: 0.27}}


@pytest.mark.parametrize("M", [2, 8, 32])
@pytest.mark.parametrize("method", METHODS)
def test_continuous_discrete(method, M):
    rng = np.random.default_rng(M)
    x = rng.random((CD_N[method], 2))
    y = np.floor(M * x[:, 0]).astype(int)
    below = CD_BELOW.get(method, {}).get(M, 0.1)
    check(mutual_information(x, y, method), math.log(M), (below, 0.02))


def test_ross_terms_never_exceed_the_label_entropy_bound():
    """In Ross's estimator ψ(n) - ψ(n_y) + ψ(k) - ψ(m_i), m_i (points of any class within the
    distance of the k-th same-class neighbour, self excluded) counts at least those k
    neighbours, so every term is <= ψ(n) - ψ(n_{y_i}). A term above the bound means m_i < k:
    the k-th neighbour, which lies exactly *on* the radius, was not counted.
    """
    rng = np.random.default_rng(1)
    x = rng.random((2000, 2))
    y = np.floor(2 * x[:, 0]).astype(int)
    pmi = pointwise_mutual_information(x, y, "ksg")
    counts = np.bincount(y)
    bound = digamma(2000) - digamma(counts[y])
    excess = pmi - bound
    assert (excess <= 1e-12).all(), (
        f"{int((excess > 1e-12).sum())} of 2000 terms exceed ψ(n) - ψ(n_y) (by up to {excess.max():.3f})"
    )


def test_independent_labels_give_zero():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3000, 2))
    y = rng.integers(0, 4, 3000)
    for method in ("wkl", "ksg"):
        check(mutual_information(x, y, method), 0.0, (0.0, 0.0))


# --- Exact invariances (property-based) --------------------------------------------------
# rescale=True whitens x, y (and the pair) separately: an invertible affine map of x becomes
# an orthogonal rotation of the whitened sample, and every estimator here depends only on
# Euclidean distances, so the estimate is unchanged up to floating-point rounding.
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dx=st.integers(1, 3), dy=st.integers(1, 2),
       method=st.sampled_from(METHODS))
def test_affine_invariance(samplers, seed, dx, dy, method):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, dx))
    y = x[:, :1] @ rng.standard_normal((1, dy)) + rng.standard_normal((300, dy))
    a, b = samplers.random_invertible(dx, rng), rng.standard_normal(dx) * 10
    bb, c = samplers.random_invertible(dy, rng), rng.standard_normal(dy) * 10
    i0 = mutual_information(x, y, method)
    i1 = mutual_information(x @ a + b, y @ bb + c, method)
    assert i1.value == pytest.approx(i0.value, abs=1e-9)
    assert i1.std == pytest.approx(i0.std, abs=1e-9)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dx=st.integers(1, 2), dy=st.integers(1, 3),
       method=st.sampled_from(METHODS))
def test_symmetry(seed, dx, dy, method):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, dx))
    y = np.tanh(x[:, :1]) @ rng.standard_normal((1, dy)) + 0.5 * rng.standard_normal((300, dy))
    assert mutual_information(x, y, method).value == pytest.approx(
        mutual_information(y, x, method).value, abs=1e-9)
    np.testing.assert_allclose(pointwise_mutual_information(x, y, method),
                               pointwise_mutual_information(y, x, method), atol=1e-9)


def test_mi_is_sum_of_entropies_for_entropy_methods(samplers):
    from ibcore import KDEEntropy

    x, y = samplers.correlated_gaussians(2, 1.0, 400, seed=3)
    xy = np.hstack([x, y])
    for method in ("kl", "wkl"):
        expected = entropy(x, method).value + entropy(y, method).value - entropy(xy, method).value
        assert mutual_information(x, y, method).value == pytest.approx(expected, abs=1e-10)
    # KDE: the bandwidth selected on the joint sample is reused for the marginals (whitened
    # units), so that the smoothing biases of the three entropies largely cancel
    for kind in ("ml", "lse"):
        joint = KDEEntropy(kind).fit(xy)
        b = joint.bandwidth_
        expected = (KDEEntropy(b).fit(x).estimate().value + KDEEntropy(b).fit(y).estimate().value
                    - joint.estimate().value)
        assert mutual_information(x, y, "kde-" + kind).value == pytest.approx(expected, abs=1e-10)


# --- Std calibration -----------------------------------------------------------------------
# Over 30 seeds at n = 2000, I = 1 nat, 2 + 2 dims, measured spread / mean reported std:
# wkl 1.18, kl 1.34, ksg 1.40 (kde-ml at n = 1000: 0.80 over 20 seeds). The pointwise terms
# are not independent (shared neighbours), so the i.i.d. standard error is somewhat small for
# kl and ksg. With 30 seeds the ratio itself has ~13 % sampling error; we require a factor 2.
@pytest.mark.parametrize("method", ["wkl", "kl", "ksg"])
def test_std_is_calibrated(samplers, method):
    values, stds = [], []
    for seed in range(30):
        x, y = samplers.correlated_gaussians(2, 1.0, 2000, seed)
        est = mutual_information(x, y, method)
        values.append(est.value)
        stds.append(est.std)
    ratio = np.std(values, ddof=1) / np.mean(stds)
    assert 0.5 <= ratio <= 2.0, f"spread / reported std = {ratio:.2f}"
    # and the estimator is centred: mean over seeds within 4 standard errors of the mean + 0.03
    assert abs(np.mean(values) - 1.0) <= 4 * np.std(values, ddof=1) / math.sqrt(30) + 0.03


def test_std_is_calibrated_with_labels():
    """Labels (X ~ U[0,1]², Y = ⌊8 X₁⌋, n = 1000): spread over seeds / mean reported std is
    1.37 over 200 seeds (1.47 for these 30; unequal classes, Y = ⌊8 X₁²⌋: 1.28 over 100), the
    same factor as for continuous y. Its cause is the marginal term ĥ(X): its per-sample terms
    share neighbours (spread/std 1.32 alone), while the per-class terms are calibrated (0.96)
    and the class frequencies, whose variance the pointwise terms carry, add nothing (equal
    and unequal classes agree). Same factor-2 band as test_std_is_calibrated."""
    values, stds = [], []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        x = rng.random((1000, 2))
        est = mutual_information(x, np.floor(8 * x[:, 0]).astype(int), "wkl")
        values.append(est.value)
        stds.append(est.std)
    ratio = np.std(values, ddof=1) / np.mean(stds)
    assert 0.5 <= ratio <= 2.0, f"spread / reported std = {ratio:.2f}"


# --- API -----------------------------------------------------------------------------------
def test_labels_and_flags(samplers):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((600, 2))
    lab = (x[:, 0] > 0).astype(int) + 2 * (rng.random(600) < 0.5)
    as_int = mutual_information(x, lab, "wkl")  # 1-D integers are labels
    assert mutual_information(x, lab.astype(float), "wkl", discrete_y=True) == as_int
    assert mutual_information(x, np.array(["abcd"[v] for v in lab]), "wkl") == as_int
    two_col = np.c_[lab % 2, lab // 2]
    assert mutual_information(x, two_col, "wkl", discrete_y=True) == as_int
    # integers read as a continuous variable go through the continuous path (duplicates!)
    with pytest.raises(ValueError, match="duplicate"):
        mutual_information(x, lab, "wkl", discrete_y=False)
    with pytest.raises(TypeError, match="discrete_y must be None, True or False"):
        mutual_information(x, lab, "wkl", discrete_y="yes")


def test_pointwise_and_classes(samplers):
    x, y = samplers.correlated_gaussians(1, 1.0, 500, seed=2)
    pmi = pointwise_mutual_information(x, y, "ksg", k=4)
    est = mutual_information(x, y, "ksg", k=4)
    assert pmi.shape == (500,)
    assert est.value == pytest.approx(pmi.mean(), rel=1e-12)
    assert est.std == pytest.approx(pmi.std(ddof=1) / math.sqrt(500), rel=1e-12)
    assert KSG(k=4).fit(x, y).estimate() == est
    with pytest.raises(ValueError, match="not fitted yet"):
        KSG().estimate()


# --- Bad input (issue 2, item 5) ---------------------------------------------------------
@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 2))
    return x, x[:, :1] + rng.standard_normal((80, 1))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("which", ["x", "y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite(xy, method, which, bad):
    x, y = (a.copy() for a in xy)
    (x if which == "x" else y)[5, 0] = bad
    with pytest.raises(ValueError, match=rf"{which} contains 1 NaN or infinite value"):
        mutual_information(x, y, method)


def test_non_finite_labels(xy):
    y = np.zeros(80)
    y[3] = np.nan
    with pytest.raises(ValueError, match="y \\(labels\\) contains NaN or infinite"):
        mutual_information(xy[0], y, "wkl", discrete_y=True)


@pytest.mark.parametrize("method", METHODS)
def test_wrong_ndim(xy, method):
    x, y = xy
    with pytest.raises(ValueError, match=r"x must be 1-D \(n_samples,\) or 2-D"):
        mutual_information(x[:, :, None], y, method)
    with pytest.raises(ValueError, match=r"y must be 1-D \(n_samples,\) or 2-D"):
        mutual_information(x, y[:, :, None], method)
    with pytest.raises(ValueError, match=r"y \(labels\) must be 1-D or 2-D"):
        mutual_information(x, np.zeros((80, 1, 1), dtype=int), method, discrete_y=True)


@pytest.mark.parametrize("method", METHODS)
def test_different_lengths(xy, method):
    x, y = xy
    with pytest.raises(ValueError, match="same number of samples; got 80 and 79"):
        mutual_information(x, y[:79], method)
    with pytest.raises(ValueError, match="same number of samples; got 80 and 79"):
        mutual_information(x, np.arange(79) % 2, method)


@pytest.mark.parametrize("method, options, n, need", [
    ("kl", {"k": 4}, 4, 5), ("wkl", {}, 5, 6), ("ksg", {}, 3, 4), ("ksg", {"k": 6}, 6, 7),
    ("kde-ml", {}, 1, 2),
])
def test_too_few_samples(method, options, n, need):
    x = np.random.default_rng(1).standard_normal((n, 1))
    y = np.random.default_rng(2).standard_normal((n, 1))
    with pytest.raises(ValueError, match=rf"has {n} samples; .*needs at least {need}"):
        mutual_information(x, y, method, rescale=False, **options)


@pytest.mark.parametrize("method, need", [("kl", 3), ("wkl", 6), ("ksg", 4), ("kde-ml", 3),
                                          ("kde-lse", 3)])
def test_class_too_small(xy, method, need):
    # kNN methods need k + 1 points per class; with rescaling also d + 1 (here d = 2)
    y = np.zeros(80, dtype=int)
    y[:2] = 7
    with pytest.raises(ValueError, match=rf"class (np\.int64\()?7\)? of y has only 2 sample\(s\).*at least {need} samples per class"):
        mutual_information(xy[0], y, method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("which", ["x", "y"])
def test_constant_column(method, which):
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((80, 2)), rng.standard_normal((80, 2))
    (x if which == "x" else y)[:, 1] = -2.0
    # the joint (x, y) may be fitted first (KDE shares its bandwidth), naming column d_x + 1
    col = r"\[1\]" if which == "x" else r"\[(1|3)\]"
    with pytest.raises(ValueError, match=rf"(\(x, y\)|{which}) has constant \(zero-variance\) column\(s\) {col}"):
        mutual_information(x, y, method)


@pytest.mark.parametrize("method", METHODS)
def test_duplicates_error_and_jitter(samplers, method):
    x, y = samplers.correlated_gaussians(2, 1.0, 600, seed=5)
    x, y = x.copy(), y.copy()
    x[1:4], y[1:4] = x[0], y[0]  # four identical (x, y) pairs
    with pytest.raises(ValueError, match=r"duplicate sample\(s\).*jitter="):
        mutual_information(x, y, method)
    est = mutual_information(x, y, method, jitter=1e-8, random_state=0)
    assert math.isfinite(est.value) and abs(est.value - 1.0) < 0.6  # sanity only (4 tied points)
    assert mutual_information(x, y, method, jitter=1e-8, random_state=0) == est
    # duplicates in x alone: a problem for the x entropy / x neighbours as well
    x2, y2 = samplers.correlated_gaussians(2, 1.0, 600, seed=6)
    x2 = x2.copy()
    x2[7] = x2[8]
    with pytest.raises(ValueError, match="duplicate"):
        mutual_information(x2, y2, method)


@pytest.mark.parametrize("method", METHODS)
def test_non_numeric(xy, method):
    x, y = xy
    with pytest.raises(TypeError, match="x must hold real numbers"):
        mutual_information(x.astype(str), y, method)
    with pytest.raises(TypeError, match="x must hold real numbers"):
        mutual_information(x + 1j, y, method)
    with pytest.raises(TypeError, match="y must hold real numbers"):
        mutual_information(x, np.array(["a"] * 80), method, discrete_y=False)


def test_unknown_method_and_options(xy):
    x, y = xy
    with pytest.raises(ValueError, match=r"unknown method 'mi'"):
        mutual_information(x, y, "mi")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['n_neighbors'\] for method 'ksg'"):
        mutual_information(x, y, "ksg", n_neighbors=3)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['k'\] for method 'kde-lse'"):
        mutual_information(x, y, "kde-lse", k=3)
    with pytest.raises(ValueError, match="k must be >= 1"):
        mutual_information(x, y, "ksg", k=0)
    with pytest.raises(TypeError, match="k must be an integer"):
        mutual_information(x, y, "wkl", k=2.0)
    with pytest.raises(ValueError, match="jitter must be"):
        mutual_information(x, y, "ksg", jitter=-1e-8)
    # a non-finite jitter must be refused by name, not surface later as NaN/duplicate errors
    with pytest.raises((TypeError, ValueError), match="jitter must be"):
        mutual_information(x, y, "ksg", jitter=float("inf"))
