"""Stored results and their audit: a tiny `ibcore store` run, audited as made (every number agrees
to the last bit) and after each kind of tampering (a changed number, parameter or checkpoint),
which the audit must catch."""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ibcore.cli import main
from ibcore.reproduce import TOLERANCE, audit, format_checks, params_hash, read_provenance, read_section, store
from ibcore.reproduce.audit import MATTERS, ROUNDING, SAFETY, _judge, rounding_perturbation
from ibcore.reproduce.store import snapshot_epochs

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


@pytest.fixture(scope="module")
def untouched(made):
    """The audit of the folder as made."""
    return audit(made / "results" / "tiny")


def test_the_audit_of_an_untouched_folder_agrees_to_the_last_bit(untouched):
    checks = untouched
    assert not _failed(checks), format_checks(checks)
    numbers = [c for c in checks if isinstance(c.stored, float) and c.what.endswith(("estimate", "std", "ixl", "ily",
                                                                                      "ixl_std", "ily_std"))]
    # 2 cells x (estimate, std) + 2 epochs x 6 layers x 4 columns
    assert len(numbers) == 4 + 48
    assert all(c.difference == 0.0 for c in numbers)
    assert all(TOLERANCE <= c.tolerance <= max(TOLERANCE, SAFETY * c.spread) for c in numbers)


def _edit_csv(path: Path, match, column, delta):
    rows = list(csv.DictReader(path.open(newline="")))
    hit = [r for r in rows if match(r)]
    assert hit
    hit[0][column] = repr(float(hit[0][column]) + delta)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.mark.parametrize("times", [3.0, "matters"])
def test_a_changed_cell_fails_the_audit_and_the_command(copy, untouched, capsys, times):
    """Three times the cell's own tolerance, or just over what matters (a tenth of its standard
    error), fails."""
    folder = copy / "results" / "tiny"
    cell = read_provenance(folder)["parts"]["synthetic"]["audit"][0]
    name = f"gaussians 16x16 wkl on ae, I = {cell['true_mi']:g}: estimate"
    before = next(c for c in untouched if c.what == name)
    std = next(c for c in untouched if c.what == name[:-len("estimate")] + "std").stored
    delta = 3 * before.tolerance if times == 3.0 else 1.01 * MATTERS * std
    _edit_csv(folder / "synthetic" / "results.csv",
              lambda r: (r["dataset"], r["estimator"], r["compressor"], float(r["true_mi"]))
              == (cell["dataset"], cell["estimator"], cell["compressor"], cell["true_mi"]), "estimate", delta)
    failed = _failed(audit(folder))
    assert [c.what for c in failed] == [name]
    assert failed[0].difference == pytest.approx(delta, rel=1e-6)
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


def test_exact_planes_of_the_snapshots_are_audited(copy):
    """A table of the snapshots measured exactly (measure_snapshots) is recomputed at its first
    and last epoch; an untouched table agrees, a changed value fails."""
    from ibcore.plane import measure_snapshots

    folder = copy / "results" / "tiny"
    seed_dir = folder / "mnist" / "seed-0"
    measure_snapshots(seed_dir, "exact", {"mi_mode": "exact", "noise_sigma": 1.0, "sigma_scale": "layer",
                                          "exact_rows": 60, "exact_samples": 300}, progress=False)
    checks = audit(folder)
    exact = [c for c in checks if c.what.startswith("exact.csv")]
    assert exact and all(c.ok for c in exact)
    assert {c.what.split()[4] for c in exact} == {"1", "2"}  # the first and the last epoch
    _edit_csv(seed_dir / "exact.csv", lambda r: r["epoch"] == "2" and r["layer"] == "layer3", "ixl", 0.01)
    assert [c.what for c in _failed(audit(folder))] == ["exact.csv seed 0 epoch 2 layer3: ixl"]


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


def test_snapshot_epochs_keep_the_audited_ends_and_every_kth_estimated_epoch():
    assert snapshot_epochs(300, 1) == (1, 300)
    assert snapshot_epochs(300, 1, 100) == (1, 100, 200, 300)
    assert snapshot_epochs(10, 2, 3) == (2, 6, 10)          # only estimated epochs (multiples of 2)
    assert snapshot_epochs(7, 1, 10) == (1, 7)
    with pytest.raises(ValueError, match="snapshot_every"):
        snapshot_epochs(10, 1, 0)


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


# --------------------------------------------------------------------------- per-number tolerances
def test_the_tolerance_is_the_floor_or_ten_times_the_rounding_spread():
    # well conditioned: the perturbations moved it by 1e-9, so the 1e-4 floor applies
    # (the probes are perturbed recomputations, so they lie around the recomputed value)
    c = _judge("p", "x", 1.0, 1.0 + 0.9e-4, [1.0 + 0.9e-4 + 1e-9, 1.0 + 0.9e-4 - 1e-9], scale=0.2, floor=TOLERANCE)
    assert c.ok and c.tolerance == TOLERANCE and c.spread == pytest.approx(1e-9, rel=1e-4)
    assert not _judge("p", "x", 1.0, 1.0 + 1.1e-4, [1.0 + 1.1e-4 + 1e-9], scale=0.2, floor=TOLERANCE).ok
    # ill conditioned but still auditable: rounding moves it by 2e-4, tolerance 2e-3 < 0.1 * 0.2
    now = -3.7 + 1.5e-3
    c = _judge("p", "x", -3.7, now, [now + 2e-4, now - 1e-4], scale=0.2, floor=TOLERANCE)
    assert c.ok and c.tolerance == pytest.approx(SAFETY * 2e-4)
    now = -3.7 + 2.5e-3
    assert not _judge("p", "x", -3.7, now, [now + 2e-4], scale=0.2, floor=TOLERANCE).ok
    # rounding alone moves it by more than matters: it cannot be audited, whatever the difference
    c = _judge("p", "x", 1.0, 1.0, [1.0 + 3e-3], scale=0.2, floor=TOLERANCE)
    assert not c.ok and "ill-conditioned" in c.note and c.tolerance > MATTERS * 0.2
    assert "ill-conditioned" in format_checks([c])
    # NaN agrees with NaN only
    assert _judge("p", "x", math.nan, math.nan, [], scale=0.2, floor=TOLERANCE).ok
    assert not _judge("p", "x", math.nan, 1.0, [], scale=0.2, floor=TOLERANCE).ok


def test_the_rounding_perturbation_is_two_float32_ulps_at_most_and_seeded():
    a = np.random.default_rng(0).standard_normal((200, 7))
    p = rounding_perturbation(3)(a)
    rel = np.abs(p / a - 1)
    assert rel.max() <= ROUNDING and rel.max() > 0.9 * ROUNDING and rel.mean() > 0.4 * ROUNDING
    assert np.array_equal(p, rounding_perturbation(3)(a)) and not np.array_equal(p, rounding_perturbation(4)(a))
    f32 = a.astype(np.float32)
    assert rounding_perturbation(0)(f32).dtype == np.float32
    labels = np.arange(5)
    assert rounding_perturbation(0)(labels) is labels


def _has_avx512() -> bool:
    try:
        return any(line.startswith("flags") and " avx512f" in line
                   for line in Path("/proc/cpuinfo").read_text().splitlines())
    except OSError:
        return False


@pytest.mark.parametrize("capability", ["avx2", "default", "avx512"])
def test_the_audit_passes_under_other_instruction_sets(made, capability):
    """The recomputation in a fresh process whose torch kernels use another instruction set
    (the folder was made with this CPU's own kernels) still agrees within every tolerance."""
    if capability == "avx512" and not _has_avx512():
        pytest.skip("this CPU has no AVX-512: torch's AVX-512 kernels could not be covered here "
                    "(benchmarks/audit_rounding.md says which settings were)")
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    proc = subprocess.run([sys.executable, "-m", "ibcore", "audit", "--json", str(made / "results" / "tiny")],
                          env=env, capture_output=True, text=True)
    reports = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert reports, f"the audit printed no report (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    checks = json.loads(reports[0])["checks"]
    bad = [c for c in checks if not c["ok"]]
    assert proc.returncode == 0 and not bad, bad
    plane = [c for c in checks if c["part"] == "mnist" and not math.isnan(c["tolerance"])]
    assert len(plane) == 48 and all(c["spread"] >= 0 for c in plane)
    if capability == "default":  # the setting did change the kernels: some number moved
        assert any(abs(c["now"] - c["stored"]) > 0 for c in plane)
