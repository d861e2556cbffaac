"""Stored results and their audit: a tiny `ibcore store` run, audited as made (every number agrees
to the last bit) and after each kind of tampering (a changed number, parameter or checkpoint),
which the audit must catch."""
from __future__ import annotations

import csv
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from ibcore.cli import main
from ibcore.reproduce import TOLERANCE, audit, format_checks, params_hash, read_provenance, read_section, store

TINY = textwrap.dedent("""\
    synthetic:
      seed: 0
      n: 200
      grid: "0:4:2"
      sizes: [16]
      estimators: [kl, wkl]
      pca_estimators: [kl]
      train_size: 200
      val_size: 50
      ae_epochs: 1
      ae_patience: 1
      device: cpu
      threads: 1
    mnist:
      dataset: mnist
      source: embedded
      n_train: 200
      n_test: 100
      epochs: 2
      lr: 0.001
      batch_size: 64
      x_ae_epochs: 1
      device: cpu
      threads: 1
    """)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A checkout-like folder: params/tiny.yaml and its results/tiny/ (two plane seeds)."""
    root = tmp_path_factory.mktemp("checkout")
    (root / "params").mkdir()
    (root / "params" / "tiny.yaml").write_text(TINY)
    out = store(root / "params" / "tiny.yaml", out=root / "results" / "tiny", seeds="0:2", progress=False)
    # the stored path is what the command line was given; make it relative like params/<name>.yaml
    prov = json.loads((out / "provenance.json").read_text())
    prov["params_file"] = "params/tiny.yaml"
    (out / "provenance.json").write_text(json.dumps(prov))
    return root


@pytest.fixture
def copy(made, tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(made, root)
    return root


def _failed(checks):
    return [c for c in checks if not c.ok]


def test_store_records_provenance_and_what_the_audit_recomputes(made):
    prov = read_provenance(made / "results" / "tiny")
    assert set(prov["parts"]) == {"synthetic", "mnist"}
    for part, entry in prov["parts"].items():
        assert entry["params_hash"] == params_hash(read_section(made / "params" / "tiny.yaml", part))
        assert entry["versions"]["torch"] and entry["versions"]["ibcore"]
        assert entry["machine"]["device"] == "cpu" and entry["seconds"] > 0
        assert "commit" in entry and "dirty" in entry
    syn = prov["parts"]["synthetic"]
    assert [(c["dataset"], c["estimator"], c["compressor"]) for c in syn["audit"]] == [
        ("gaussians", "wkl", "ae"), ("rectangles", "kl", "pca")]
    assert prov["parts"]["mnist"]["audit"] == [{"seed": 0, "epoch": 1}, {"seed": 0, "epoch": 2}]
    snaps = sorted(p.name for p in (made / "results" / "tiny" / "mnist" / "seed-0" / "snapshots").iterdir())
    assert snaps == ["model-epoch-1.pt", "model-epoch-2.pt"]
    assert list((made / "results" / "tiny" / "synthetic" / "compressors").glob("*.pt"))


def test_the_audit_of_an_untouched_folder_agrees_to_the_last_bit(made):
    checks = audit(made / "results" / "tiny")
    assert not _failed(checks), format_checks(checks)
    numbers = [c for c in checks if isinstance(c.stored, float) and c.what.endswith(("estimate", "std", "ixl", "ily",
                                                                                      "ixl_std", "ily_std"))]
    # 2 cells x (estimate, std) + 2 epochs x 6 layers x 4 columns
    assert len(numbers) == 4 + 48
    assert all(c.difference == 0.0 for c in numbers)


def _edit_csv(path: Path, match, column, delta):
    rows = list(csv.DictReader(path.open(newline="")))
    hit = [r for r in rows if match(r)]
    assert hit
    hit[0][column] = repr(float(hit[0][column]) + delta)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_a_changed_cell_fails_the_audit_and_the_command(copy, capsys):
    folder = copy / "results" / "tiny"
    cell = read_provenance(folder)["parts"]["synthetic"]["audit"][0]
    _edit_csv(folder / "synthetic" / "results.csv",
              lambda r: (r["dataset"], r["estimator"], r["compressor"], float(r["true_mi"]))
              == (cell["dataset"], cell["estimator"], cell["compressor"], cell["true_mi"]), "estimate", 3 * TOLERANCE)
    failed = _failed(audit(folder))
    assert [c.what for c in failed] == [f"gaussians 16x16 wkl on ae, I = {cell['true_mi']:g}: estimate"]
    assert failed[0].difference == pytest.approx(3 * TOLERANCE, rel=1e-6)
    assert main(["audit", str(folder)]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_a_change_within_the_tolerance_passes(copy):
    folder = copy / "results" / "tiny"
    cell = read_provenance(folder)["parts"]["synthetic"]["audit"][1]
    _edit_csv(folder / "synthetic" / "results.csv",
              lambda r: (r["dataset"], r["estimator"], r["compressor"], float(r["true_mi"]))
              == (cell["dataset"], cell["estimator"], cell["compressor"], cell["true_mi"]), "std", TOLERANCE / 2)
    assert not _failed(audit(folder))


def test_a_changed_plane_estimate_fails_the_audit(copy):
    folder = copy / "results" / "tiny"
    _edit_csv(folder / "mnist" / "seed-0" / "information_plane.csv",
              lambda r: r["epoch"] == "2" and r["layer"] == "layer3", "ixl", -0.01)
    failed = _failed(audit(folder))
    names = [c.what for c in failed]
    assert "seed 0 epoch 2 layer3: ixl" in names
    # the aggregate over seeds was made from the true table, so it no longer agrees either
    assert any(n.startswith("aggregate.csv") for n in names)


def test_changed_parameters_fail_the_audit(copy):
    params = copy / "params" / "tiny.yaml"
    params.write_text(params.read_text().replace("\n  n: 200\n", "\n  n: 300\n"))
    failed = _failed(audit(copy / "results" / "tiny"))
    assert [c.what for c in failed] == ["parameters: section 'synthetic' of params/tiny.yaml (hash)"]


def test_a_missing_autoencoder_checkpoint_fails_the_audit(copy):
    for p in (copy / "results" / "tiny" / "synthetic" / "compressors").glob("*.pt"):
        p.unlink()
    failed = _failed(audit(copy / "results" / "tiny"))
    assert [c.what for c in failed] == ["gaussians 16x16 wkl on ae, I = 4: autoencoder checkpoint"]


def test_a_missing_model_snapshot_fails_the_audit_with_the_reason(copy):
    (copy / "results" / "tiny" / "mnist" / "seed-0" / "snapshots" / "model-epoch-2.pt").unlink()
    failed = _failed(audit(copy / "results" / "tiny"))
    assert len(failed) == 1 and "keeps no model weights for epoch 2" in str(failed[0].now)


def test_store_resumes_and_refuses_changed_parameters(copy):
    params = copy / "params" / "tiny.yaml"
    out = copy / "results" / "tiny"
    before = (out / "synthetic" / "results.csv").read_text()
    store(params, ["synthetic"], out=out, progress=False)  # everything is done: nothing is recomputed
    assert (out / "synthetic" / "results.csv").read_text() == before
    assert read_provenance(out)["parts"]["synthetic"]["invocations"] == 2
    params.write_text(params.read_text().replace("\n  n: 200\n", "\n  n: 300\n"))
    with pytest.raises(ValueError, match="other synthetic parameters"):
        store(params, ["synthetic"], out=out, progress=False)


def test_bad_folders_and_tolerances_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no provenance.json"):
        audit(tmp_path)
    (tmp_path / "provenance.json").write_text("{}")
    with pytest.raises(ValueError, match="not written by `ibcore store`"):
        audit(tmp_path)
    with pytest.raises(ValueError, match="tolerance"):
        audit(tmp_path, tolerance=-1.0)
    with pytest.raises(ValueError, match="parts must be among"):
        store(tmp_path / "p.yaml", ["cifar"])
