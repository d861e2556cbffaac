"""Smoothing and automatic phase detection on synthetic trajectories with known phases."""
import math

import numpy as np
import pytest

from ibcore.plane import PlaneResults
from ibcore.plane import detect_phases, smooth, steepest_loss_drop
from ibcore.plane.plots import loss_differences, plot_information_planes, plot_mi_over_epochs, plot_training_curves


def _piecewise(breaks, slopes, n, noise, seed):
    """Piecewise-linear trajectory over epochs 1..n with the given slopes, plus Gaussian noise."""
    t = np.arange(1, n + 1, dtype=float)
    edges = [1] + list(breaks) + [n + 1]
    x = np.zeros(n)
    level = 0.0
    for (a, b), s in zip(zip(edges[:-1], edges[1:]), slopes):
        sel = (t >= a) & (t < b)
        x[sel] = level + s * (t[sel] - a + 1)
        level = x[sel][-1]
    return t, x + noise * np.random.default_rng(seed).standard_normal(n)


def test_fitting_then_compression_found_at_the_right_epoch():
    t, x = _piecewise([41], [0.05, -0.04], 80, 0.03, seed=0)
    segs = detect_phases(t, x, np.full(80, 0.03))
    assert [s.kind for s in segs] == ["fitting", "compression"]
    assert abs(segs[0].end - 40) <= 3  # the turning point, within the smoothing window's reach
    assert segs[0].delta == pytest.approx(2.0, abs=0.2) and segs[1].delta == pytest.approx(-1.6, abs=0.2)
    assert all(s.significant and s.z > 1.96 for s in segs)
    assert segs[0].start == 1 and segs[-1].end == 80  # the segments cover every epoch


def test_three_alternating_phases():
    t, x = _piecewise([31, 61], [0.06, -0.05, 0.04], 90, 0.03, seed=1)
    segs = detect_phases(t, x, np.full(90, 0.03))
    assert [s.kind for s in segs] == ["fitting", "compression", "fitting"]
    assert abs(segs[1].start - 31) <= 3 and abs(segs[2].start - 61) <= 3


def test_noise_at_ci_scale_gives_no_phase():
    """A flat trajectory whose wiggles are of the size of the reported std shows no phase."""
    rng = np.random.default_rng(2)
    t = np.arange(1, 61, dtype=float)
    x = 1.0 + 0.3 * rng.standard_normal(60)
    segs = detect_phases(t, x, np.full(60, 0.3))
    assert all(s.kind == "flat" and not s.significant for s in segs)


def test_small_changes_are_significant_only_with_small_errors():
    t, x = _piecewise([21], [0.02, -0.02], 40, 0.0, seed=0)  # 0.4 nats up then down, noiseless
    assert [s.kind for s in detect_phases(t, x, np.full(40, 0.01))] == ["fitting", "compression"]
    assert [s.kind for s in detect_phases(t, x, np.full(40, 1.0))] == ["flat"]  # CIs of ±2 nats


def test_min_length_merges_short_runs():
    t, x = _piecewise([30, 32], [0.05, -0.05, 0.05], 60, 0.0, seed=0)  # a 2-epoch dip
    kinds = [s.kind for s in detect_phases(t, x, None, smoothing="none", min_length=5)]
    assert kinds == ["fitting"]


def test_smooth_leaves_the_raw_points_alone_and_follows_a_line():
    t = np.arange(50, dtype=float)
    x = 0.1 * t
    before = x.copy()
    for method in ("savgol", "paper"):
        s = smooth(x, method)
        assert np.array_equal(x, before) and s.shape == x.shape
    # Savitzky-Golay reproduces polynomials up to its order exactly
    assert np.allclose(smooth(x, "savgol", window=7), x)
    assert np.array_equal(smooth(x[:3]), x[:3])  # too short to smooth


def test_steepest_loss_drop_contains_the_inflection():
    t = np.arange(1, 101, dtype=float)
    loss = 2.3 / (1 + np.exp((t - 40) / 5)) + 0.1
    a, b = steepest_loss_drop(t, loss)
    assert a < 40 < b and b - a < 30
    with pytest.raises(ValueError, match="never decreases"):
        steepest_loss_drop(t, t)


def test_bad_inputs():
    with pytest.raises(ValueError, match="NaN"):
        detect_phases([1, 2, 3], [0.1, math.nan, 0.2])
    with pytest.raises(ValueError, match="length"):
        detect_phases([1, 2, 3], [0.1, 0.2])
    with pytest.raises(ValueError, match="increasing"):
        detect_phases([1, 3, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="method"):
        smooth([1.0, 2.0, 3.0, 4.0, 5.0], "lowess")


def _synthetic_results(n=30):
    t, x = _piecewise([16], [0.1, -0.05], n, 0.02, seed=3)
    loss = 2.3 / (1 + np.exp((t - 8) / 2)) + 0.1
    rows, metrics = [], []
    for i, e in enumerate(t.astype(int)):
        m = {"epoch": e, "train_loss": loss[i], "test_loss": loss[i] + 0.05, "test_accuracy": 0.5, "roc_auc": 0.9,
             "seconds_train": 1.0, "seconds_metrics": 0.1, "seconds_estimate": 1.0}
        metrics.append(m)
        for name in ("a", "b"):
            rows.append({"epoch": e, "layer": name, "dim": 8, "n_components": 4, "ixl": x[i], "ixl_std": 0.02,
                         "ixl_low": x[i] - 0.04, "ixl_high": x[i] + 0.04, "ixl_kind": "estimate",
                         "ily": 0.05 * e, "ily_std": 0.02, "ily_low": 0.05 * e - 0.04, "ily_high": 0.05 * e + 0.04,
                         "id_layer": 3.0, "id_code": 3.0, "manifold": "",
                         **{k: m[k] for k in ("train_loss", "test_loss", "test_accuracy", "roc_auc",
                                              "seconds_train")}, "seconds_estimate": 1.0})
    return PlaneResults(rows, metrics)


def test_plots_return_figures_with_units():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = _synthetic_results()
    diff = loss_differences(res)
    assert math.isnan(diff[1]) and diff[8] > 0
    for fig in (plot_information_planes(res), plot_training_curves(res), plot_mi_over_epochs(res)):
        labels = [ax.get_xlabel() + ax.get_ylabel() for ax in fig.axes]
        assert any("nats" in lab for lab in labels)
        plt.close(fig)
    with pytest.raises(ValueError, match="no results for layer"):
        plot_information_planes(res, layers=["zzz"])


def test_trusted_points_leave_out_flagged_and_impossible_values():
    from ibcore.plane import trusted_points

    series = {"ixl": np.array([1.0, 0.5, -0.6, 2.0, np.nan]),
              "ixl_high": np.array([1.2, 0.7, -0.1, 2.3, np.nan]),
              "ily": np.array([0.1, 0.2, 0.3, 0.4, 0.5]),
              "ily_high": np.array([0.2, 0.3, 0.4, 0.5, 0.6]),
              "manifold": np.array(["", "ixl", "", "ily", ""])}
    assert trusted_points(series).tolist() == [True, False, False, True, False]
    assert trusted_points(series, "ily").tolist() == [True, True, True, False, True]
    assert trusted_points({"ixl": [1.0, 2.0]}).tolist() == [True, True]  # no flags stored: all kept
    with pytest.raises(ValueError, match="which"):
        trusted_points(series, "ilx")
