"""The evidence of the claims table, assembled from stored-results folders built from the stored
results of this repository (``results/cpu``, ``results/paper-fashion``): which folder gives
evidence for which claims, what reads "not run", and when a re-measured table makes a column."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ibcore.plane import read_remeasured, read_results, read_seed_results
from ibcore.reproduce import (BUILD_SCALE, build_runs, estimator_evidence, estimator_rows, plane_claims,
                              provenance_notes, read_provenance, scale_evidence, stored_evidence)
from ibcore.reproduce.claims import CLAIMS, Evidence, claims_table, plane_evidence, synthetic_evidence
from ibcore.synthetic import read_results as read_cells

ROOT = Path(__file__).resolve().parents[2]
CPU, FASHION = ROOT / "results" / "cpu", ROOT / "results" / "paper-fashion"
SYNTHETIC_CLAIMS = {c[0] for c in CLAIMS[:6]}
PLANE_CLAIMS = {c[0] for c in CLAIMS[6:]}
RUN_FILES = ("information_plane.csv", "metrics.csv", "settings.json")


def texts(ev: dict) -> dict:
    return {k: (e.text, e.holds) for k, e in ev.items()}


def stored_copy(dest: Path, source: Path = CPU, parts=("synthetic", "mnist"), seeds=(0, 1), tables=()) -> Path:
    """A stored-results folder with the tables of ``source`` the evidence reads: the provenance
    (reduced to ``parts``), the synthetic results and, per seed, the run tables and ``tables``."""
    dest.mkdir(parents=True)
    prov = json.loads((source / "provenance.json").read_text())
    prov["parts"] = {p: e for p, e in prov["parts"].items() if p in parts}
    (dest / "provenance.json").write_text(json.dumps(prov))
    if "synthetic" in parts:
        (dest / "synthetic").mkdir()
        shutil.copy(source / "synthetic" / "results.csv", dest / "synthetic" / "results.csv")
    if "mnist" in parts:
        for k in seeds:
            run = dest / "mnist" / f"seed-{k}"
            run.mkdir(parents=True)
            for name in (*RUN_FILES, *(f"{t}.csv" for t in tables)):
                shutil.copy(source / "mnist" / f"seed-{k}" / name, run / name)
    return dest


def test_a_folder_without_provenance_reads_not_run(tmp_path):
    unfinished = stored_copy(tmp_path / "unfinished", seeds=(0,))
    (unfinished / "provenance.json").unlink()  # its run tables are there, but it is not a stored result
    missing = tmp_path / "paper"
    scales, notes = scale_evidence([missing, unfinished])
    assert scales == {f"`{missing}`": {}, f"`{unfinished}`": {}}
    assert notes == [f"`{missing}`: not run (no stored results)", f"`{unfinished}`: not run (no stored results)"]
    table = claims_table(scales)
    assert all(r[f"`{missing}`"] == "not run" and r["verdict"] == "not run" for r in table)
    assert estimator_evidence([missing, unfinished]) == {}
    assert plane_claims({}) == [] and estimator_rows({}) == []


def test_a_stored_folder_gives_evidence_for_the_parts_it_holds(tmp_path):
    mnist_only = stored_copy(tmp_path / "mnist-only", parts=("mnist",))
    ev = stored_evidence(mnist_only)
    assert set(ev) == PLANE_CLAIMS
    # the same as the rules applied to the stored seeds directly
    direct = plane_evidence({k: read_results(CPU / "mnist" / f"seed-{k}") for k in (0, 1)})
    assert texts(ev) == texts(direct)
    assert "layer1 2/2" in ev["fitting"].text and "/3" not in ev["fitting"].text  # the two copied seeds, not three

    both = stored_copy(tmp_path / "cpu")
    scales, notes = scale_evidence([mnist_only, both])
    assert list(scales) == [f"`{mnist_only}` (stored)", f"`{both}` (stored)"]
    assert texts(scales[f"`{both}` (stored)"]) == texts(
        synthetic_evidence(read_cells(CPU / "synthetic" / "results.csv")) | direct)
    row = {r["id"]: r for r in claims_table(scales)}
    assert row["ae-tracks-gaussians"][f"`{mnist_only}` (stored)"] == "not run"
    assert row["ae-tracks-gaussians"][f"`{both}` (stored)"].startswith("max |AE − latent|")
    # one note per stored part, from its provenance (device, minutes, commit)
    prov = read_provenance(CPU)
    minutes = round(prov["parts"]["mnist"]["seconds"] / 60)
    commit = prov["parts"]["mnist"]["commit"][:10]
    assert notes[0] == f"`{mnist_only}` mnist: cpu, {minutes} min, commit `{commit}`"
    assert notes[1:] == provenance_notes(both, read_provenance(both))
    assert [n.split()[1].rstrip(":") for n in notes[1:]] == ["mnist", "synthetic"]


def test_the_stored_cpu_results_match_the_rules_applied_by_hand():
    ev = stored_evidence(CPU)
    assert set(ev) == SYNTHETIC_CLAIMS | PLANE_CLAIMS
    assert texts(ev) == texts(synthetic_evidence(read_cells(CPU / "synthetic" / "results.csv"))
                              | plane_evidence(read_seed_results(CPU / "mnist").runs))


def test_the_build_column_comes_from_the_run_folders_the_chapters_wrote(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "synthetic-run.txt").write_text(f"{CPU / 'synthetic'}\n")
    (reports / "mnist-run.txt").write_text(str(tmp_path / "deleted-run"))  # a run folder that is gone
    runs = build_runs(reports)
    assert runs == {"synthetic": CPU / "synthetic", "mnist": None}
    scales, notes = scale_evidence([], runs)
    assert list(scales) == [BUILD_SCALE] and notes == []
    assert set(scales[BUILD_SCALE]) == SYNTHETIC_CLAIMS
    # a chapter that did not run in this build gives no evidence (the chapter's assertion then fails)
    scales, _ = scale_evidence([], build_runs(tmp_path / "no-reports"))
    assert scales == {BUILD_SCALE: {}}
    # with one seed's run folder, the plane claims of that seed
    (reports / "mnist-run.txt").write_text(str(CPU / "mnist" / "seed-2"))
    ci = scale_evidence([], build_runs(reports), build_label="ci")[0]["ci"]
    assert set(ci) == SYNTHETIC_CLAIMS | PLANE_CLAIMS
    assert texts({k: ci[k] for k in PLANE_CLAIMS}) == texts(plane_evidence({0: read_results(CPU / "mnist" / "seed-2")}))


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """Both seeds of results/paper-fashion with their exact tables, only seed 0 with its default one."""
    folder = stored_copy(tmp_path_factory.mktemp("stored") / "fashion", source=FASHION, parts=("mnist",),
                         tables=("exact",))
    shutil.copy(FASHION / "mnist" / "seed-0" / "default.csv", folder / "mnist" / "seed-0" / "default.csv")
    return folder


def test_remeasured_tables_count_only_when_every_seed_has_them(fashion, tmp_path):
    per = estimator_evidence([tmp_path / "missing", fashion])
    assert list(per) == [f"`{fashion}`, the paper's estimator", f"`{fashion}`, exact (σ = layer scale)"]
    exact = plane_evidence({k: read_remeasured(FASHION / "mnist" / f"seed-{k}", "exact") for k in (0, 1)})
    assert texts(per[f"`{fashion}`, exact (σ = layer scale)"]) == texts(exact)
    assert texts(per[f"`{fashion}`, exact (σ = layer scale)"]) != texts(per[f"`{fashion}`, the paper's estimator"])

    complete = tmp_path / "complete"
    shutil.copytree(fashion, complete)
    shutil.copy(FASHION / "mnist" / "seed-1" / "default.csv", complete / "mnist" / "seed-1" / "default.csv")
    per = estimator_evidence([complete], tables=(("default", "auto"), ("exact", "exact")))
    assert list(per) == [f"`{complete}`, the paper's estimator", f"`{complete}`, auto", f"`{complete}`, exact"]
    assert set(per[f"`{complete}`, auto"]) == PLANE_CLAIMS


def test_the_per_estimator_rows(fashion):
    per = estimator_evidence([fashion])
    rows = estimator_rows(per)
    assert [r[0] for r in rows] == [c[1] for c in CLAIMS[6:]] == [c[1] for c in plane_claims(per)]
    assert all(len(r) == 1 + len(per) for r in rows)
    for row, (cid, _, _) in zip(rows, CLAIMS[6:]):
        for text, ev in zip(row[1:], per.values()):
            assert text == f"{'holds' if ev[cid].holds else 'fails'}: {ev[cid].text}"
    # exact measurement: every I(L;Y) within the bound (as stored in results/paper-fashion)
    assert rows[4][2].startswith("holds: 0 estimates above log 10")
    # a rule that could not be applied shows its text alone
    none = {"a": {"fitting": Evidence("no usable estimate", None)}, "b": {"fitting": Evidence("x", False)}}
    assert estimator_rows(none) == [[CLAIMS[6][1], "no usable estimate", "fails: x"]]
