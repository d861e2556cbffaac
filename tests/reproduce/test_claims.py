"""The claims rules on constructed results whose verdict is known by construction."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibcore.plane import PLANE_COLUMNS, PlaneResults
from ibcore.plane.run import METRIC_COLUMNS
from ibcore.reproduce.claims import CLAIMS, Evidence, claims_table, plane_evidence, synthetic_evidence

GRID = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def cell(dataset, estimator, inp, compressor, mi, estimate, size=16):
    return {"dataset": dataset, "size": size, "estimator": estimator, "input": inp, "compressor": compressor,
            "true_mi": mi, "estimate": estimate, "std": 0.05, "noise_std": 0.0}


def rows(ae_gap=0.2, kde_high_error=3.0, mine_error=4.0, pca_error=2.0):
    out = []
    for d in ("gaussians", "rectangles"):
        for mi in GRID:
            out.append(cell(d, "wkl", "latent", "none", mi, mi - 0.1))
            out.append(cell(d, "wkl", "compressed", "ae", mi, mi - 0.1 - ae_gap))
            out.append(cell(d, "kl", "compressed", "ae", mi, mi - 0.3))
            for e in ("kde-ml", "kde-lse"):
                out.append(cell(d, e, "compressed", "ae", mi, mi - (kde_high_error if mi >= 6 else 0.2)))
            out.append(cell(d, "mine", "raw", "none", mi, mi - mine_error))
            for e in ("kl", "wkl"):
                out.append(cell(d, e, "compressed", "pca", mi, mi - pca_error))
    return out


def test_synthetic_rules_hold_on_results_built_to_satisfy_them():
    ev = synthetic_evidence(rows())
    assert all(e.holds for e in ev.values()), ev
    assert "max |AE − latent| 0.20 nats" in ev["ae-tracks-gaussians"].text


@pytest.mark.parametrize("change, claim", [
    ({"ae_gap": 0.6}, "ae-tracks-gaussians"),
    ({"kde_high_error": 0.6}, "kde-degrades"),      # 0.6 - 0.2 < 0.5 nats more error at high MI
    ({"mine_error": 0.2}, "mine-worse-high-mi"),
    ({"pca_error": 0.1}, "ae-beats-pca"),
])
def test_each_synthetic_rule_fails_when_its_premise_is_broken(change, claim):
    ev = synthetic_evidence(rows(**change))
    assert ev[claim].holds is False
    assert all(e.holds for k, e in ev.items() if k != claim and not (claim == "ae-tracks-gaussians"
                                                                    and k == "ae-tracks-rectangles"))


def test_knn_rule_compares_the_best_of_each_family():
    bad = [dict(r, estimate=r["true_mi"] + (0.0 if r["estimator"] == "kde-ml" else r["estimate"] - r["true_mi"]))
           for r in rows()]  # kde-ml exact: KDE is now the most accurate
    assert synthetic_evidence(bad)["knn-most-accurate"].holds is False


def test_missing_cells_are_not_run_not_failed():
    ev = synthetic_evidence([r for r in rows() if r["estimator"] not in ("mine", "kde-ml", "kde-lse")])
    assert ev["mine-worse-high-mi"].holds is None and ev["kde-degrades"].holds is None
    assert ev["knn-most-accurate"].holds is None


def plane_run(ixl_of_epoch, loss_of_epoch, layers=("layer1", "layer2"), ily=2.25, epochs=30):
    rows, metrics = [], []
    for e in range(1, epochs + 1):
        metrics.append({c: 0.0 for c in METRIC_COLUMNS} | {"epoch": e, "train_loss": loss_of_epoch(e)})
        for la in layers:
            r = {c: 0.0 for c in PLANE_COLUMNS}
            r.update(epoch=e, layer=la, ixl=ixl_of_epoch(e), ixl_std=0.01, ily=ily, ily_std=0.01, manifold="")
            rows.append(r)
    return PlaneResults(rows, metrics)


def rise_fall_rise(e):
    # fitting to epoch 10, compression to 20, fitting again
    return e if e <= 10 else (20 - e if e <= 20 else e - 20)


def fast_drop(e):
    return 2.3 - 2.0 / (1 + math.exp(-(e - 15)))  # the loss falls fastest around epoch 15


def test_plane_rules_on_planes_built_with_phases():
    runs = {k: plane_run(rise_fall_rise, fast_drop) for k in range(3)}
    ev = plane_evidence(runs)
    for claim in ("fitting", "compression", "alternations", "first-compression-at-loss-drop", "ily-bound",
                  "ily-last-layers"):
        assert ev[claim].holds, (claim, ev[claim])
    assert "layer1 3/3" in ev["fitting"].text


def test_plane_rules_fail_without_compression_and_away_from_the_loss_drop():
    ev = plane_evidence({0: plane_run(lambda e: float(e), fast_drop)})
    assert ev["fitting"].holds and not ev["compression"].holds and not ev["alternations"].holds
    assert ev["first-compression-at-loss-drop"].holds is False
    late = plane_evidence({0: plane_run(rise_fall_rise, lambda e: 2.3 - 2.0 / (1 + math.exp(-(e - 27))))})
    assert late["compression"].holds and late["first-compression-at-loss-drop"].holds is False


def test_the_information_bound_and_the_last_layers():
    ev = plane_evidence({0: plane_run(rise_fall_rise, fast_drop, ily=2.6)})
    assert ev["ily-bound"].holds is False  # above log 10 by far more than its error
    assert ev["ily-bound"].text.startswith("60 estimates above log 10")
    ev = plane_evidence({0: plane_run(rise_fall_rise, fast_drop, ily=1.5)})
    assert ev["ily-bound"].holds and ev["ily-last-layers"].holds is False


def test_table_verdicts_come_from_the_largest_scale_and_say_when_smaller_ones_disagree():
    small = {"fitting": Evidence("a", False), "compression": Evidence("b", True)}
    large = {"fitting": Evidence("c", True), "compression": Evidence("d", True)}
    table = {r["id"]: r for r in claims_table({"ci": small, "stored": large, "paper": {}})}
    assert [r[0] for r in CLAIMS] == list(table)
    assert table["fitting"]["verdict"] == "reproduced (the smaller scale disagrees)"
    assert table["compression"]["verdict"] == "reproduced"
    assert table["alternations"]["verdict"] == "not run"
    assert table["fitting"]["paper"] == "not run" and table["fitting"]["stored"] == "c"
    contradicted = claims_table({"stored": {"fitting": Evidence("x", False)}})[6]
    assert contradicted["id"] == "fitting" and contradicted["verdict"] == "not reproduced"


def test_rows_with_noise_or_nan_are_ignored():
    noisy = [dict(r, noise_std=0.1) for r in rows()]
    assert synthetic_evidence(noisy)["ae-tracks-gaussians"].holds is None
    nan = [dict(r, estimate=np.nan) if r["input"] == "latent" else r for r in rows()]
    assert synthetic_evidence(nan)["ae-tracks-gaussians"].holds is None


def test_manifold_flagged_estimates_are_left_out():
    run = plane_run(rise_fall_rise, fast_drop, layers=("layer1", "probs"))
    for r in run.rows:
        if r["layer"] == "probs":
            r.update(ixl=-float(r["epoch"]), ily=2.9, manifold="ixl+ily")  # a diverging, flagged series
    ev = plane_evidence({0: run})
    assert ev["fitting"].holds and "probs" not in ev["fitting"].text.split(";")[0]
    assert "1 (seed, layer) series" in ev["fitting"].text
    assert ev["ily-bound"].holds and "30 manifold-flagged estimates left out" in ev["ily-bound"].text
    # only layer1 is left among the last two layers
    assert "over 1 (seed, layer) pairs" in ev["ily-last-layers"].text
