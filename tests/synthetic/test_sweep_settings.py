"""SweepSettings: one object for an Algorithm 1 sweep, from the CLI, a chapter or a directory."""
from __future__ import annotations

import json

import pytest

from ibcore.cli import build_parser
from ibcore.synthetic import SweepSettings, run_algorithm1
from ibcore.synthetic.settings import RUN_FIELDS


def test_defaults_are_the_papers_sweep():
    s = SweepSettings()
    assert s.grid == tuple(0.25 * i for i in range(41))   # 0:10:41 nats
    assert s.n == 5000 and (s.train_size, s.val_size) == (6000, 1000)
    assert SweepSettings(datasets=["antipca"], sizes=[32]).grid[-1] == 4.0  # Anti-PCA default range


def test_dict_round_trip_and_normalisation():
    s = SweepSettings(datasets="rectangles", sizes=32, grid="0,2.5", estimators=["kl", "kl", "wkl"])
    assert s.datasets == ("rectangles",) and s.sizes == (32,) and s.grid == (0.0, 2.5)
    assert s.estimators == ("kl", "wkl")  # duplicates dropped, order kept
    assert SweepSettings.from_dict(json.loads(s.to_json())) == s


@pytest.mark.parametrize("change,exc,match", [
    ({"threads": 0}, ValueError, "threads must be >= 1"),
    ({"device": "tpu"}, ValueError, "device must be"),
    ({"latent": "yes"}, TypeError, "latent must be True or False"),
    ({"ae_options": [1]}, TypeError, "ae_options must be a dict"),
    ({"sizes": []}, ValueError, "at least one size"),
])
def test_bad_fields(change, exc, match):
    with pytest.raises(exc, match=match):
        SweepSettings(**change)


def test_cli_builds_the_same_object(tmp_path):
    args = build_parser().parse_args([
        "synthetic", "--dataset", "rectangles", "--size", "16", "--estimators", "kl", "--compressor", "pca",
        "--grid", "0:2:3", "--n", "300", "--train-size", "200", "--val-size", "0", "--out", str(tmp_path),
        "--no-figure", "--quiet"])
    assert args._run(args) == 0
    stored = SweepSettings.from_dict(json.loads((tmp_path / "results.settings.json").read_text()))
    assert stored == SweepSettings(datasets=["rectangles"], sizes=[16], estimators=["kl"], compressors=["pca"],
                                   grid="0:2:3", n=300, train_size=200, val_size=0)


def test_directory_compares_run_fields_only(tmp_path):
    base = SweepSettings(datasets=["gaussians"], sizes=[16], estimators=["kl"], compressors=["pca"], grid=[0.0],
                         n=200, train_size=150, val_size=0)
    run_algorithm1(tmp_path, base, progress=False)
    # cell fields (here another MI value and n) are columns: the same directory takes them
    rows = run_algorithm1(tmp_path, base.replace(grid=[1.0], n=250, threads=2), progress=False)
    assert sorted({(r["true_mi"], r["n"]) for r in rows}) == [(0.0, 200), (1.0, 250)]
    assert len(rows) == 4  # latent + compressed for each of the two cells
    assert set(RUN_FIELDS) <= set(SweepSettings.result_fields())
    for change in ({"train_size": 160}, {"estimator_options": {"kl": {"k": 2}}}):
        with pytest.raises(ValueError, match=f"other options.*{next(iter(change))}"):
            run_algorithm1(tmp_path, base.replace(**change), progress=False)
