"""The tracker's intrinsic-dimension columns and its collected manifold warnings."""
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from ibcore import ManifoldWarning
from ibcore.plane import PLANE_COLUMNS, InformationPlaneTracker, make_stochastic


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _inputs(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g)


PAPER = {"compressor": "pca", "method": "wkl", "x_compressor": "pca"}


def test_curved_layer_is_flagged_and_its_dimension_recorded():
    """L = tanh(W x + b) of 2-D inputs is a 2-D surface in R^6, and so is its 4-D PCA code (the
    paper's route): both estimates (I(L;Y) and the joint of I(X;L)) warn, collected in the point
    instead. The default codes the layer to its intrinsic dimension and has nothing to flag."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh())
    x = _inputs(1500, 2, 1)
    y = (x[:, 0] > 0).long()
    (default,) = InformationPlaneTracker(net, ["1"], x, y, random_state=0).measure(1)
    assert default.manifold == "" and default.n_components == 2
    tracker = InformationPlaneTracker(net, ["1"], x, y, random_state=0, **PAPER)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ManifoldWarning)  # nothing reaches the caller
        (pt,) = tracker.measure(1)
    assert pt.manifold == "ixl+ily"
    # TwoNN on 2-D surfaces: sd ≈ 1.4 · 2 / √n = 0.07 at n = 1000 (id_samples), 0.07 at 1500
    assert abs(pt.id_layer - 2) <= 0.3 and abs(pt.id_code - 2) <= 0.3
    row = pt.row()
    assert {"id_layer", "id_code", "manifold"} <= set(row) and set(row) <= set(PLANE_COLUMNS)


def test_full_dimensional_layer_is_not_flagged():
    """L = x + N(0, 0.5² I) of 3-D Gaussian x: full-dimensional everywhere (no warning)."""
    net = nn.Sequential(nn.Identity())
    make_stochastic(net, 0.5, "absolute", where="outputs", layers=["0"])
    x = _inputs(1500, 3, 2)
    y = (x[:, 0] + x[:, 1] > 0).long()
    tracker = InformationPlaneTracker(net, ["0"], x, y, random_state=0, **PAPER)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ManifoldWarning)
        a, b = tracker.measure(3), tracker.measure(3)
    (pt,) = a
    assert pt.manifold == ""
    # 3-D Gaussians: TwoNN sd 0.11 at n = 1000 (20 seeds), so 4 sd = 0.45
    assert abs(pt.id_layer - 3) <= 0.45 and abs(pt.id_code - 3) <= 0.45
    assert [(p.id_layer, p.id_code, p.manifold) for p in a] == [(p.id_layer, p.id_code, p.manifold) for p in b]


def test_id_samples_option_and_other_warnings_pass_through():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 6), nn.Tanh())
    x = _inputs(600, 2, 3)
    y = (x[:, 1] > 0).long()
    full = InformationPlaneTracker(net, ["1"], x, y, random_state=0, id_samples=None, **PAPER).measure(1)[0]
    sub = InformationPlaneTracker(net, ["1"], x, y, random_state=0, id_samples=200, **PAPER).measure(1)[0]
    assert math.isfinite(full.id_layer) and math.isfinite(sub.id_layer) and full.id_layer != sub.id_layer
    with pytest.raises(ValueError, match="id_samples must be >= 3"):
        InformationPlaneTracker(net, ["1"], x, y, id_samples=2)
    # a weight-norm RuntimeWarning of wkl with an explicit small k on an 8-D joint is not swallowed
    x8 = _inputs(600, 8, 4)
    lin = nn.Sequential(nn.Linear(8, 8))
    make_stochastic(lin, 0.5, "absolute", where="outputs", layers=["0"])
    tr = InformationPlaneTracker(lin, ["0"], x8, (x8[:, 0] > 0).long(), x_codes=x8.numpy()[:, :6],
                                 estimator_options={"k": 5}, n_components=6, random_state=0, compressor="pca", method="wkl")
    with pytest.warns(RuntimeWarning, match="have norm"):
        tr.measure(1)
