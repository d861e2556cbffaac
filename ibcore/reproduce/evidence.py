"""The evidence of the claims table: which results each scale and each estimator contributes.

The appendix "Reproducing the paper" (``book/reproducing.md``) shows two tables. The first puts
the results of the book's own build (CI scale, one seed) beside every stored-results folder
``results/<name>/`` (:func:`ibcore.reproduce.store`), smallest scale first, and
:func:`~ibcore.reproduce.claims.claims_table` gives each claim its verdict; :func:`scale_evidence`
assembles its columns and the line saying where each stored part comes from. The second applies
the information-plane rules of :mod:`ibcore.reproduce.claims` to the same stored runs measured in
other ways (:func:`ibcore.plane.measure_snapshots`: the tables ``exact.csv`` and ``default.csv``
of each seed); :func:`estimator_evidence` assembles its columns and :func:`estimator_rows` its
rows.

A folder without a ``provenance.json`` is not a stored result: it is reported as *not run*
(a column of "not run" texts and a note), never as a failure, so that ``results/paper`` can be
listed before anyone has made it. Column names are Markdown (a folder is shown as code).
"""
from __future__ import annotations

from pathlib import Path

from .claims import CLAIMS, plane_evidence, synthetic_evidence
from .provenance import PROVENANCE_NAME, read_provenance

__all__ = ["BUILD_SCALE", "REMEASURED_TABLES", "build_runs", "build_evidence", "stored_evidence", "provenance_notes",
           "scale_evidence", "seed_dirs", "estimator_evidence", "plane_claims", "estimator_rows"]

#: the column of the book's own build in the claims table
BUILD_SCALE = "this build (CI scale, one seed)"
#: ``(table, label)`` of the re-measured plane tables of a stored seed: ``<table>.csv`` in its run folder
REMEASURED_TABLES = (("exact", "exact (σ = layer scale)"), ("default", "default tracker (auto)"))


def build_runs(reports_dir, names=("synthetic", "mnist")) -> dict:
    """The run folders the chapters of a book build wrote.

    The synthetic and MNIST chapters (``book/synthetic.md``, ``book/mnist.md``) write the path of
    their run folder to ``<reports_dir>/<chapter>-run.txt``.

    Parameters
    ----------
    reports_dir : path-like
        The folder of the build's execution report (``_build/reports``).
    names : sequence of str
        The chapters to look up.

    Returns
    -------
    dict
        ``{chapter: Path or None}``; ``None`` when the chapter did not run in this build (no
        file) or its run folder no longer exists.
    """
    out = {}
    for name in names:
        path = Path(reports_dir) / f"{name}-run.txt"
        folder = Path(path.read_text().strip()) if path.is_file() else None
        out[name] = folder if folder is not None and folder.exists() else None
    return out


def build_evidence(synthetic_dir=None, mnist_dir=None) -> dict:
    """``{claim id: Evidence}`` of the book's own build.

    Parameters
    ----------
    synthetic_dir : path-like or None
        The synthetic chapter's run folder; used when it holds ``results.csv`` (the rows of
        :func:`ibcore.synthetic.read_results`).
    mnist_dir : path-like or None
        The MNIST chapter's run folder (one seed); used when it holds ``metrics.csv``.

    Returns
    -------
    dict
        The merged :func:`~ibcore.reproduce.claims.synthetic_evidence` and
        :func:`~ibcore.reproduce.claims.plane_evidence` of what the build ran; empty when it ran
        neither chapter.
    """
    from ..plane import read_results as read_plane
    from ..synthetic import read_results as read_cells

    ev = {}
    if synthetic_dir is not None and (Path(synthetic_dir) / "results.csv").is_file():
        ev.update(synthetic_evidence(read_cells(Path(synthetic_dir) / "results.csv")))
    if mnist_dir is not None and (Path(mnist_dir) / "metrics.csv").is_file():
        ev.update(plane_evidence({0: read_plane(mnist_dir)}))
    return ev


def stored_evidence(folder, provenance: dict | None = None) -> dict:
    """``{claim id: Evidence}`` of one stored-results folder, for the parts it holds.

    Parameters
    ----------
    folder : path-like
        A folder written by :func:`ibcore.reproduce.store` (``results/<name>/``).
    provenance : dict, optional
        Its :func:`~ibcore.reproduce.provenance.read_provenance` (read when not given).

    Returns
    -------
    dict
        The synthetic claims from ``synthetic/results.csv`` when the provenance lists the part
        ``synthetic``, the information-plane claims from every seed of ``mnist/``
        (:func:`ibcore.plane.read_seed_results`) when it lists ``mnist``.
    """
    from ..plane import read_seed_results
    from ..synthetic import read_results as read_cells

    folder = Path(folder)
    prov = read_provenance(folder) if provenance is None else provenance
    ev = {}
    if "synthetic" in prov["parts"]:
        ev.update(synthetic_evidence(read_cells(folder / "synthetic" / "results.csv")))
    if "mnist" in prov["parts"]:
        ev.update(plane_evidence(read_seed_results(folder / "mnist").runs))
    return ev


def provenance_notes(folder, provenance: dict) -> list[str]:
    """One line per stored part: device, wall time in minutes and commit (Markdown).

    Parameters
    ----------
    folder : path-like
        The stored-results folder, as it should be shown.
    provenance : dict
        Its :func:`~ibcore.reproduce.provenance.read_provenance`.

    Returns
    -------
    list of str
        For example ``"`results/cpu` mnist: cpu, 26 min, commit `f304809ed2`"``, parts in
        alphabetical order.
    """
    return [f"`{folder}` {part}: {entry['machine']['device']}, "
            f"{entry['seconds'] / 60:.0f} min, commit `{(entry['commit'] or '?')[:10]}`"
            for part, entry in sorted(provenance["parts"].items())]


def scale_evidence(stored_folders, build: dict | None = None, build_label: str = BUILD_SCALE) -> tuple[dict, list[str]]:
    """The columns of the claims table and the sources they come from.

    Parameters
    ----------
    stored_folders : sequence of path-like
        Stored-results folders, smallest scale first; a missing or unfinished one (no
        ``provenance.json``) is reported as not run.
    build : dict, optional
        ``{"synthetic": Path or None, "mnist": Path or None}``, the run folders of the book's
        build (:func:`build_runs`); ``None`` leaves the build's column out.
    build_label : str
        The name of the build's column.

    Returns
    -------
    scales : dict
        ``{scale name: {claim id: Evidence}}`` for
        :func:`~ibcore.reproduce.claims.claims_table`: the build first (possibly empty), then
        ``"`<folder>` (stored)"`` per stored folder, or ``"`<folder>`"`` with no evidence for a
        folder that is not a stored result.
    notes : list of str
        Where each stored part comes from (:func:`provenance_notes`) and which folders did not run.
    """
    scales, notes = {}, []
    if build is not None:
        scales[build_label] = build_evidence(build.get("synthetic"), build.get("mnist"))
    for folder in map(Path, stored_folders):
        if not (folder / PROVENANCE_NAME).is_file():
            scales[f"`{folder}`"] = {}
            notes.append(f"`{folder}`: not run (no stored results)")
            continue
        prov = read_provenance(folder)
        scales[f"`{folder}` (stored)"] = stored_evidence(folder, prov)
        notes += provenance_notes(folder, prov)
    return scales, notes


def seed_dirs(folder) -> dict:
    """``{seed: Path}`` of the ``mnist/seed-<k>`` run folders of a stored-results folder, by seed."""
    found = {int(p.name[5:]): p for p in (Path(folder) / "mnist").glob("seed-*") if p.is_dir() and p.name[5:].isdigit()}
    return dict(sorted(found.items()))


def estimator_evidence(stored_folders, tables=REMEASURED_TABLES) -> dict:
    """The information-plane claims of each stored run under each estimator it was measured with.

    Parameters
    ----------
    stored_folders : sequence of path-like
        Stored-results folders; those without a ``provenance.json`` or without ``mnist/seed-<k>``
        run folders are skipped.
    tables : sequence of (str, str)
        ``(table, label)``: a re-measured table ``<table>.csv`` of each seed
        (:func:`ibcore.plane.read_remeasured`) and the name of its column. A table counts only
        when every seed of the folder has it, so that every column rests on the same seeds.

    Returns
    -------
    dict
        ``{column: {claim id: Evidence}}`` (:func:`~ibcore.reproduce.claims.plane_evidence`): per
        folder ``"`<folder>`, the paper's estimator"`` (the seeds' own ``information_plane.csv``),
        then ``"`<folder>`, <label>"`` per table present.
    """
    from ..plane import read_remeasured
    from ..plane import read_results as read_plane

    out = {}
    for folder in map(Path, stored_folders):
        seeds = seed_dirs(folder)
        if not (folder / PROVENANCE_NAME).is_file() or not seeds:
            continue
        out[f"`{folder}`, the paper's estimator"] = plane_evidence({k: read_plane(p) for k, p in seeds.items()})
        for table, label in tables:
            if all((p / f"{table}.csv").is_file() for p in seeds.values()):
                out[f"`{folder}`, {label}"] = plane_evidence({k: read_remeasured(p, table) for k, p in seeds.items()})
    return out


def plane_claims(per_estimator: dict) -> list[tuple]:
    """The rows of :data:`~ibcore.reproduce.claims.CLAIMS` that the columns of
    :func:`estimator_evidence` judge (the information-plane claims); empty without a column."""
    first = next(iter(per_estimator.values()), {})
    return [c for c in CLAIMS if c[0] in first]


def estimator_rows(per_estimator: dict) -> list[list[str]]:
    """The rows of the per-estimator table: the claim, then one text per column.

    Parameters
    ----------
    per_estimator : dict
        The output of :func:`estimator_evidence`; its keys are the columns, in order.

    Returns
    -------
    list of list of str
        Per claim of :func:`plane_claims`: ``[claim, text, ...]`` where a text reads
        ``"holds: <evidence>"`` or ``"fails: <evidence>"``, or the evidence alone when the rule
        could not be applied there.
    """
    def text(ev):
        return ev.text if ev.holds is None else f"{'holds' if ev.holds else 'fails'}: {ev.text}"

    return [[claim, *(text(col[cid]) for col in per_estimator.values())] for cid, claim, _ in plane_claims(per_estimator)]
