"""PlaneSettings: one object for an MNIST plane run, from the CLI, a chapter or a run directory."""
from __future__ import annotations

import argparse
import json

import pytest

from ibcore.plane import ANALYSED_LAYERS, PlaneSettings, run_mnist_plane
from ibcore.plane.experiment import add_plane_arguments


def test_defaults_are_the_papers():
    s = PlaneSettings()
    assert (s.epochs, s.lr, s.batch_size, s.sigma, s.noise) == (300, 1e-5, 1024, 1e-3, "relative")
    assert (s.estimator, s.k, s.n_components, s.compressor, s.mi_mode) == ("wkl", 5, 4, "pca", "joint")
    assert s.layers == ANALYSED_LAYERS


def test_cli_defaults_and_values_build_the_object():
    parser = add_plane_arguments(argparse.ArgumentParser())
    assert PlaneSettings.from_args(parser.parse_args([])) == PlaneSettings()
    args = parser.parse_args(["--epochs", "7", "--lr", "1e-3", "--layers", "layer2", "probs", "--n-train", "50"])
    s = PlaneSettings.from_args(args)
    assert (s.epochs, s.lr, s.layers, s.n_train) == (7, 1e-3, ("layer2", "probs"), 50)
    assert PlaneSettings.from_dict(json.loads(s.to_json())) == s


@pytest.mark.parametrize("change,exc,match", [
    ({"lr": 0}, ValueError, "lr must be a positive number"),
    ({"noise": "pink"}, ValueError, "noise must be one of"),
    ({"mi_mode": "noise"}, ValueError, "needs --noise absolute"),
    ({"noise": "absolute", "sigma": 0.0}, ValueError, "sigma must be > 0 with absolute noise"),
    ({"epochs": 0}, ValueError, "epochs must be >= 1"),
    ({"epochs": 2.5}, TypeError, "epochs must be an integer"),
    ({"layers": []}, ValueError, "layers must be a non-empty list"),
    ({"estimator": "mine"}, ValueError, "estimator must be one of"),
])
def test_bad_fields(change, exc, match):
    with pytest.raises(exc, match=match):
        PlaneSettings(**change)


def test_resumable_fields():
    assert set(PlaneSettings.result_fields()) == {f for f in PlaneSettings().to_dict()} - {
        "epochs", "threads", "data_dir", "download", "snapshots"}


def test_snapshots_are_sorted_unique_positive_epochs():
    assert PlaneSettings(snapshots=[5, 1, 5]).snapshots == (1, 5)
    assert PlaneSettings(snapshots=3).snapshots == (3,)
    with pytest.raises(ValueError, match="snapshot epoch"):
        PlaneSettings(snapshots=[0])


def test_run_directory_stores_the_resolved_settings(tmp_path, small_mnist):
    s = PlaneSettings(epochs=1, lr=1e-3, batch_size=128, x_ae_epochs=1, n_train=300, layers=["layer4", "probs"])
    run_mnist_plane(s, out=tmp_path, data=small_mnist, progress=False, figures=False)
    stored = json.loads((tmp_path / "settings.json").read_text())
    back = PlaneSettings.from_dict(stored["settings"])
    # what the run used: the data's source, the concrete device, the training subset
    assert back == s.replace(source=small_mnist.source, device="cpu", n_train=300)
    assert stored["context"] == {"data": small_mnist.description, "n_eval": len(small_mnist.y_test)}
    # more epochs and other threads resume; another learning rate is refused, naming the field
    run_mnist_plane(s.replace(epochs=2, threads=2), out=tmp_path, data=small_mnist, progress=False, figures=False)
    with pytest.raises(ValueError, match="other settings.*lr: 0.001 vs 0.01"):
        run_mnist_plane(s.replace(lr=1e-2), out=tmp_path, data=small_mnist, progress=False, figures=False)


def test_measure_snapshots_is_resumable_and_keeps_its_options(tmp_path, small_mnist):
    import math

    from ibcore.plane import measure_snapshots

    s = PlaneSettings(epochs=2, lr=1e-3, batch_size=128, x_ae_epochs=1, n_train=300, layers=["layer4", "probs"],
                      snapshots=[1, 2])
    run_mnist_plane(s, out=tmp_path, data=small_mnist, progress=False, figures=False)
    options = {"mi_mode": "exact", "noise_sigma": 1.0, "sigma_scale": "layer", "exact_rows": 100,
               "exact_samples": 500}
    rows = measure_snapshots(tmp_path, "exact", options, epochs=[1], progress=False)
    assert [(r["epoch"], r["layer"]) for r in rows] == [(1, "layer4"), (1, "probs")]
    assert all(0 <= r["ixl"] <= math.log(100) + 1e-9 and 0 <= r["ily"] <= r["ixl"] + 4 * r["ixl_std"] for r in rows)
    assert all(r["ixl_kind"] == "nested (1 draw)" and math.isnan(r["train_loss"]) for r in rows)
    again = measure_snapshots(tmp_path, "exact", options, progress=False)  # epoch 1 kept, epoch 2 added
    assert [r["epoch"] for r in again] == [1, 1, 2, 2]
    assert [(r["ixl"], r["ily"]) for r in again[:2]] == [(r["ixl"], r["ily"]) for r in rows]
    with pytest.raises(ValueError, match="other options"):
        measure_snapshots(tmp_path, "exact", {**options, "noise_sigma": 2.0}, progress=False)
    with pytest.raises(ValueError, match="keeps no weights"):
        measure_snapshots(tmp_path, "other", options, epochs=[3], progress=False)
    with pytest.raises(ValueError, match="name must be"):
        measure_snapshots(tmp_path, "../x", options, progress=False)
