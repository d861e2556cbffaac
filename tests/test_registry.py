"""The registries of estimators and compressors: a toy estimator and a toy compressor, added
through the registry only, work in mutual_information, lossy_mutual_information, an Algorithm 1
cell and the plane tracker; plug-ins arrive through entry points."""
from __future__ import annotations

import math
import sys
import textwrap

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from torch import nn

import ibcore
from ibcore.compression import (CompressorSpec, compressor_names, get_compressor, lossy_mutual_information,
                                register_compressor, unregister_compressor)
from ibcore.estimators import (EntropyEstimator, EstimatorSpec, estimator_names, get_estimator,
                               register_estimator, unregister_estimator)
from ibcore.synthetic import CorrelatedNormal, SweepSettings, run_algorithm1


class GaussianEntropy(EntropyEstimator):
    """A toy parametric estimator: -log of the fitted Gaussian density at each sample."""

    method = "gauss"

    def _fit_reference(self) -> None:
        z = self.reference_
        self.mean_ = z.mean(axis=0)
        self.cov_ = np.atleast_2d(np.cov(z, rowvar=False))

    def _loo_log_density(self) -> np.ndarray:
        return self._log_density(self.reference_)

    def _log_density(self, z: np.ndarray) -> np.ndarray:
        return np.atleast_1d(multivariate_normal(self.mean_, self.cov_).logpdf(z))


class FirstComponents:
    """A toy compressor: the leading right singular vectors of the (centred, flattened) data."""

    def __init__(self, n_components: int):
        self.n_components = n_components

    def fit(self, x, y=None):
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        self.mean_ = flat.mean(axis=0)
        self.components_ = np.linalg.svd(flat - self.mean_, full_matrices=False)[2][:self.n_components]
        return self

    def transform(self, x):
        flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        return (flat - self.mean_) @ self.components_.T


def _make_first(n_components, *, kind, image_size=None, random_state=None, device="auto", **options):
    return FirstComponents(n_components)


GAUSS = EstimatorSpec("gauss", "Gaussian (toy)", "other", entropy=lambda **o: GaussianEntropy(**o),
                      options=("rescale", "jitter", "random_state", "check_manifold", "device"), color="#000000")
FIRST = CompressorSpec("first", "first components (toy)", _make_first, color="#111111")


@pytest.fixture
def toys():
    register_estimator(GAUSS)
    register_compressor(FIRST)
    yield
    unregister_estimator("gauss")
    unregister_compressor("first")


def test_registered_toys_are_listed_everywhere(toys):
    assert "gauss" in estimator_names() and "gauss" in estimator_names("entropy") and "gauss" in ibcore.MI_METHODS
    assert get_estimator("gauss").label == "Gaussian (toy)"
    assert "first" in compressor_names("vectors") and get_compressor("first").color == "#111111"
    assert "gauss" not in estimator_names("entropy", in_paper=True)
    with pytest.raises(ValueError, match="registered already"):
        register_estimator(GAUSS)
    # the command line offers them (its choices are read from the registries when it is built)
    from ibcore.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["synthetic", "--estimators", "gauss", "--compressor", "first", "--out", "x"])
    assert args.estimators == ["gauss"] and args.compressor == ["first"]


def test_toy_estimator_in_mutual_information(toys):
    x, y = CorrelatedNormal(2, 2, 1.0).sample(4000, random_state=0)
    for est in (ibcore.estimators.estimate_mutual_information(x, y, "gauss"), ibcore.mutual_information(x, y, method="gauss")):
        # a Gaussian model on Gaussian data: only sampling error (its own standard error)
        assert abs(est.value - 1.0) < 4 * est.std + 0.01
    h = ibcore.entropy(x, "gauss")
    assert abs(h.value - math.log(2 * math.pi * math.e)) < 4 * h.std + 0.01
    labels = (x[:, 0] > 0).astype(int)
    assert ibcore.estimators.estimate_mutual_information(x, labels, "gauss").value > 0.1  # labels through its entropies
    with pytest.raises(TypeError, match="unknown option"):
        ibcore.estimators.estimate_mutual_information(x, y, "gauss", k=3)


def test_toy_estimator_and_compressor_in_lossy_mutual_information(toys):
    x, y = CorrelatedNormal(2, 2, 1.5).sample(3000, random_state=1)
    rng = np.random.default_rng(2)
    # injective linear maps into 12 dimensions keep the MI; the toy compressor recovers the plane
    wide_x, wide_y = x @ rng.standard_normal((2, 12)), y @ rng.standard_normal((2, 12))
    res = lossy_mutual_information(wide_x, wide_y, "gauss", compressor_x="first", compressor_y="first",
                                   n_components=2)
    assert res.code_dim_x == res.code_dim_y == 2
    assert res.details["x"]["compressor"] == "first" and res.details["method"] == "gauss"
    assert abs(res.value - 1.5) < 4 * res.std + 0.01
    assert res.reconstruction_error_x is None  # the toy has no reconstruction_error


def test_toy_estimator_and_compressor_in_an_algorithm1_cell(toys, tmp_path):
    s = SweepSettings(datasets=["gaussians"], sizes=[16], estimators=["gauss"], compressors=["first"], grid=[1.0],
                      n=600, train_size=300, val_size=0, latent=True, device="cpu")
    rows = run_algorithm1(tmp_path, s, progress=False)
    got = {(r["input"], r["compressor"]) for r in rows}
    assert got == {("latent", "none"), ("compressed", "first")}
    for r in rows:
        assert r["estimator"] == "gauss" and math.isfinite(r["estimate"]) and r["std"] > 0
    # the latent bump centres are Φ of correlated Gaussians: a Gaussian model of their copula is
    # nearly right (uniform marginals lose a little), so the latent estimate is near the truth
    latent = next(r for r in rows if r["input"] == "latent")
    assert abs(latent["estimate"] - 1.0) < 0.3


def test_toy_estimator_and_compressor_in_the_tracker(toys):
    from ibcore.plane import InformationPlaneTracker, PlaneSettings, make_stochastic

    torch.manual_seed(0)
    x = torch.randn(600, 6)
    labels = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    net = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    make_stochastic(net, sigma=0.1, mode="absolute", where="inputs")
    tracker = InformationPlaneTracker(net, ["1", "2"], x, labels, compressor="first", method="gauss", n_components=3)
    points = tracker.measure(1)
    assert [p.layer for p in points] == ["1", "2"]
    for p in points:
        assert p.n_components == 3 and math.isfinite(p.ixl.value) and math.isfinite(p.ily.value)
        assert 0.0 < p.ily.value < math.log(3) + 0.1  # three classes
    assert PlaneSettings(estimator="gauss", compressor="first").estimator == "gauss"


def test_plugins_arrive_through_entry_points(tmp_path, monkeypatch):
    """An installed package's entry points (groups ibcore.estimators / ibcore.compressors)."""
    from ibcore.compression import registry as creg
    from ibcore.estimators import registry as ereg

    (tmp_path / "toyplugin.py").write_text(textwrap.dedent("""\
        from ibcore.compression import CompressorSpec, PCACompressor
        from ibcore.estimators import EstimatorSpec, KLEntropy

        def estimator():
            return EstimatorSpec("plug-kl", "plug-in KL", "knn", entropy=lambda **o: KLEntropy(**o),
                                 options=("k", "rescale"))

        COMPRESSOR = CompressorSpec("plug-pca", "plug-in PCA", lambda n, **o: PCACompressor(n))
        """))
    dist = tmp_path / "toyplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ibcore.estimators]\nplug-kl = toyplugin:estimator\n\n"
                                           "[ibcore.compressors]\nplug-pca = toyplugin:COMPRESSOR\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for table in (ereg._TABLE, creg._TABLE):  # as in a fresh process: load built-ins and plug-ins again
        monkeypatch.setattr(table, "_specs", {})
        monkeypatch.setattr(table, "_loaded", False)
    assert estimator_names()[-1] == "plug-kl" and "kl" in estimator_names()
    assert compressor_names()[-1] == "plug-pca"
    x, y = CorrelatedNormal(2, 2, 1.0).sample(2000, random_state=3)
    assert abs(ibcore.estimators.estimate_mutual_information(x, y, "plug-kl").value
               - ibcore.estimators.estimate_mutual_information(x, y, "kl").value) < 1e-12
    assert "toyplugin" in sys.modules
