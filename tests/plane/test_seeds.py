"""Information planes over seeds: ``ibcore plane --seeds 0:3 --scheduler 2``, the aggregate table,
phase frequencies, resume, and the folder lock.

The end-to-end run is tiny (300 embedded training digits, 200 evaluation digits, 2 epochs, 2
layers, a 1-epoch input autoencoder) on a LocalCluster of 2 worker processes. The aggregate is
checked against numpy on the per-seed tables it was computed from, and on hand-made tables
whose phases are known; a seed's run directory must equal an in-process run of that seed
exactly (timing columns aside): the same settings on the CPU with one thread give the same
numbers wherever they run.
"""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from ibcore.cli import build_parser, main
from ibcore.executor import FolderInUseError, FolderLock
from ibcore.plane import (PlaneResults, PlaneSettings, SeedResults, aggregate_seeds, parse_seeds, phase_frequencies,
                          plot_seed_planes, read_results, run_mnist_plane, run_plane_seeds)
from ibcore.plane.run import TIME_COLUMNS

TINY = ["--source", "embedded", "--n-test", "200", "--n-train", "300", "--epochs", "2", "--lr", "1e-3",
        "--batch-size", "128", "--x-ae-epochs", "1", "--layers", "layer4", "probs", "--no-progress"]


def _tables(out) -> dict:
    tables = {}
    for name in ("information_plane.csv", "metrics.csv"):
        with open(out / name, newline="") as fh:
            tables[name] = [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in csv.DictReader(fh)]
    return tables


def _read(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds")
    assert main(["plane", *TINY, "--seeds", "0:3", "--scheduler", "2", "--out", str(out)]) == 0
    return out


@pytest.mark.slow  # a LocalCluster of 2 processes and three tiny runs: 15-30 s on 2 cores
def test_plane_seeds_scheduler_2_writes_per_seed_runs_and_the_aggregate(seeds_run):
    out = seeds_run
    runs = {k: read_results(out / f"seed-{k}") for k in range(3)}
    for k, res in runs.items():
        assert res.settings["seed"] == k and [m["epoch"] for m in res.metrics] == [1, 2]
        assert res.layers == ["layer4", "probs"] and (out / f"seed-{k}" / "checkpoint.pt").is_file()
    agg = _read(out / "aggregate.csv")
    assert [(int(r["epoch"]), r["layer"]) for r in agg] == [(1, "layer4"), (2, "layer4"), (1, "probs"), (2, "probs")]
    for r in agg:
        for col in ("ixl", "ily"):
            values = [x[col] for res in runs.values() for x in res.rows
                      if x["layer"] == r["layer"] and x["epoch"] == int(r["epoch"])]
            assert int(r["n_seeds"]) == len(values) == 3
            # the file holds repr() of the floats: exact
            assert float(r[f"{col}_mean"]) == np.mean(values) and float(r[f"{col}_std"]) == np.std(values, ddof=1)
            assert (float(r[f"{col}_min"]), float(r[f"{col}_max"])) == (min(values), max(values))
    phases = _read(out / "phases.csv")
    segments = _read(out / "phase_segments.csv")
    assert [(p["layer"], p["phase"]) for p in phases] == [
        (layer, kind) for layer in ("layer4", "probs") for kind in ("fitting", "compression", "flat")]
    for p in phases:
        seen = {s["seed"] for s in segments if s["layer"] == p["layer"] and s["phase"] == p["phase"]}
        assert int(p["seeds_with_phase"]) == len(seen) and int(p["n_seeds"]) == 3
        assert float(p["fraction"]) == len(seen) / 3
    # with 2 epochs every seed's series is one segment of some kind
    assert sum(int(p["seeds_with_phase"]) for p in phases if p["layer"] == "probs") == 3
    assert (out / "aggregate.png").stat().st_size > 0 and (out / "seed-2" / "information_planes.png").is_file()


@pytest.mark.slow  # shares the end-to-end run of the test above
def test_a_seed_on_a_worker_equals_the_run_in_process_and_a_rerun_resumes(seeds_run, tmp_path):
    args = build_parser().parse_args(["plane", *TINY, "--out", str(tmp_path / "one"), "--seed", "1"])
    run_mnist_plane(PlaneSettings.from_args(args), out=tmp_path / "one", progress=False, figures=False)
    assert _tables(tmp_path / "one") == _tables(seeds_run / "seed-1")
    before = (seeds_run / "aggregate.csv").read_text()
    res = run_plane_seeds(PlaneSettings.from_args(args), seeds="0:3", out=seeds_run, progress=False, figures=False)
    assert (seeds_run / "aggregate.csv").read_text() == before  # every seed was complete: nothing retrained
    assert [len(r.metrics) for r in res.runs.values()] == [2, 2, 2]


def _results(seed_ixl: dict) -> dict:
    """PlaneResults of one layer "L" over epochs 1..T, I(X;L) given per seed, std 0.01 nats."""
    runs = {}
    for seed, ixl in seed_ixl.items():
        rows = [{"epoch": e + 1, "layer": "L", "ixl": float(v), "ixl_std": 0.01, "ily": 0.1 * seed + e,
                 "test_accuracy": 0.5 + 0.1 * seed} for e, v in enumerate(ixl)]
        runs[seed] = PlaneResults(rows, [])
    return runs


def test_aggregate_and_phase_frequencies_of_known_trajectories(tmp_path):
    t = np.arange(30)
    up = 0.05 * t                              # +1.45 nats: a fitting phase (z ~ 100)
    up_down = np.minimum(0.05 * t, 1.5 - 0.05 * t)  # up to epoch 16, then down: fitting, then compression
    runs = _results({0: up, 3: up_down, 7: np.full(30, 1.0)})  # seed 7: flat
    agg = aggregate_seeds(runs)
    assert [r["epoch"] for r in agg] == list(range(1, 31)) and all(r["n_seeds"] == 3 for r in agg)
    for r, a, b in zip(agg, up, up_down):
        values = [a, b, 1.0]
        assert r["ixl_mean"] == pytest.approx(np.mean(values), abs=1e-15)
        assert r["ixl_std"] == pytest.approx(np.std(values, ddof=1), abs=1e-15)
        assert (r["ixl_min"], r["ixl_max"]) == (min(values), max(values))
    assert agg[0]["ily_mean"] == pytest.approx(1 / 3) and agg[0]["test_accuracy_mean"] == pytest.approx(2.5 / 3)
    phases, segments = phase_frequencies(runs)
    got = {p["phase"]: (p["seeds_with_phase"], p["fraction"]) for p in phases}
    assert got == {"fitting": (2, 2 / 3), "compression": (1, 1 / 3), "flat": (1, 1 / 3)}
    assert [(s["seed"], s["phase"]) for s in segments] == [(0, "fitting"), (3, "fitting"), (3, "compression"),
                                                           (7, "flat")]
    one = aggregate_seeds(_results({5: up}))
    assert math.isnan(one[0]["ixl_std"])  # no spread from one seed
    fig = plot_seed_planes(SeedResults([0, 3, 7], runs, agg, phases, segments, tmp_path))
    assert [ax.get_title() for ax in fig.axes] == ["L: 3 seeds"]
    assert len(fig.axes[0].lines) >= 4  # three seeds and the mean


def test_parse_seeds():
    assert parse_seeds("0:3") == [0, 1, 2] and parse_seeds("2:5") == [2, 3, 4]
    assert parse_seeds("0, 3,7") == [0, 3, 7] and parse_seeds(4) == [4] and parse_seeds([1, 2]) == [1, 2]
    for bad, match in (("3:3", "no seeds"), ("a:b", "cannot read"), ("1,1", "repeat"), ("-1,2", ">= 0"),
                       ("1:2:3", "cannot read")):
        with pytest.raises(ValueError, match=match):
            parse_seeds(bad)
    with pytest.raises(TypeError):
        parse_seeds([1.5])


def test_the_seeds_folder_is_locked_and_not_a_single_run(tmp_path, small_mnist):
    s = PlaneSettings(epochs=1, lr=1e-3, batch_size=128, x_ae_epochs=1, n_train=300, layers=["probs"])
    with FolderLock(tmp_path / "busy", "the first run"):
        with pytest.raises(FolderInUseError, match="the first run"):
            run_plane_seeds(s, seeds="0:2", out=tmp_path / "busy", data=small_mnist, progress=False)
        with pytest.raises(FolderInUseError, match="the first run"):
            run_mnist_plane(s, out=tmp_path / "busy", data=small_mnist, progress=False, figures=False)
    run_mnist_plane(s, out=tmp_path / "single", data=small_mnist, progress=False, figures=False)
    with pytest.raises(ValueError, match="holds a single information-plane run"):
        run_plane_seeds(s, seeds="0:2", out=tmp_path / "single", data=small_mnist, progress=False)
