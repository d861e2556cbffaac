"""Audit a stored-results folder: recompute a few of its numbers with today's code.

``ibcore audit results/cpu`` (and ``nox -s audit``, which CI runs) checks a folder written by
:func:`ibcore.reproduce.store`:

* **parameters**: each part's parameters section in the parameters file still hashes to the
  stored hash (otherwise the folder describes a file that now says something else);
* **Algorithm 1 cells**: the cells listed in ``provenance.json`` are recomputed from the stored
  sweep settings and autoencoder checkpoints (their images are resampled from the seed, PCA is
  refitted), and each ``estimate`` and ``std`` must equal the stored one within ``tolerance``;
  an autoencoder that would have to be retrained fails the check (its checkpoint is missing);
* **information-plane epochs**: the listed epochs of a seed's run are measured again from the
  stored model weights and input codes (:func:`ibcore.plane.remeasure`), ``ixl``, ``ixl_std``,
  ``ily`` and ``ily_std`` of every layer within ``tolerance``;
* **derived tables**: ``aggregate.csv`` and ``phases.csv`` are recomputed from the stored per-seed
  tables, so a change in the phase detection shows.

The default tolerance, :data:`TOLERANCE` = 1e-4 nats, is far below every standard error in the
tables (0.01 nats and more) and far above the rounding differences between two CPUs (1e-7 nats
and less), so it passes on any machine that runs the same code and fails on any change of the
numbers a figure shows.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import shutil
import tempfile
import warnings
from pathlib import Path

from .provenance import params_hash, read_provenance, read_section

__all__ = ["audit", "Check", "TOLERANCE", "format_checks"]

#: nats; see the module docstring
TOLERANCE = 1e-4


@dataclasses.dataclass
class Check:
    """One audited number: what was stored, what today's code gives, and whether they agree."""

    part: str
    what: str
    stored: float | str
    now: float | str
    ok: bool

    @property
    def difference(self) -> float:
        try:
            return abs(float(self.now) - float(self.stored))
        except (TypeError, ValueError):
            return math.nan


def _close(a, b, tol) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


def _synthetic(folder: Path, entry: dict, tol: float) -> list[Check]:
    from ..synthetic import SweepSettings, read_results, run_algorithm1
    from ..synthetic.table import cell_key

    stored = {cell_key(r): r for r in read_results(folder / "results.csv")}
    base = SweepSettings.from_dict(entry["settings"])
    checks = []
    with tempfile.TemporaryDirectory(prefix="ibcore-audit-") as tmp:
        work = Path(tmp) / "cells"  # run_algorithm1 loads cached autoencoders from work/compressors
        cache = work / "compressors"
        cache.mkdir(parents=True)
        for p in (folder / "compressors").glob("*.pt"):
            shutil.copy2(p, cache / p.name)
        before = sorted(p.name for p in cache.iterdir())
        for cell in entry["audit"]:
            key = cell_key(cell)
            name = (f"{cell['dataset']} {cell['size']}x{cell['size']} {cell['estimator']} on "
                    f"{cell['compressor'] if cell['input'] == 'compressed' else cell['input']}, I = {cell['true_mi']:g}")
            if key not in stored:
                checks.append(Check("synthetic", name, "missing from results.csv", "", False))
                continue
            if cell["compressor"] == "ae" and not list(cache.glob(f"{cell['dataset']}-{cell['size']}-ae-*.pt")):
                # retraining would take minutes and give another autoencoder on another machine
                checks.append(Check("synthetic", f"{name}: autoencoder checkpoint", "stored", "missing", False))
                continue
            s = base.replace(datasets=[cell["dataset"]], sizes=[cell["size"]], estimators=[cell["estimator"]],
                             compressors=[cell["compressor"]] if cell["input"] == "compressed" else ["pca"],
                             latent=cell["input"] == "latent", grid=[cell["true_mi"]], n=cell["n"],
                             seed=cell["seed"], noise_std=cell["noise_std"], device="cpu")
            with warnings.catch_warnings():  # the audit compares numbers; the run warned when it made them
                warnings.simplefilter("ignore")
                rows = {cell_key(r): r for r in run_algorithm1(work, s, progress=False)}
            now = rows.get(key)
            for col in ("estimate", "std"):
                value = math.nan if now is None else now[col]
                checks.append(Check("synthetic", f"{name}: {col}", stored[key][col], value,
                                    now is not None and _close(stored[key][col], value, tol)))
        after = sorted(p.name for p in cache.iterdir())
        if after != before:
            checks.append(Check("synthetic", "autoencoder checkpoints", ", ".join(before) or "none",
                                "retrained: " + ", ".join(sorted(set(after) - set(before))), False))
    return checks


def _mnist(folder: Path, entry: dict, tol: float) -> list[Check]:
    from ..plane import aggregate_seeds, phase_frequencies, read_results, remeasure
    from ..plane.run import _read_csv
    from ..plane.seeds import AGGREGATE_COLUMNS

    checks = []
    for item in entry["audit"]:
        run_dir = folder / f"seed-{item['seed']}"
        stored = {r["layer"]: r for r in read_results(run_dir).rows if r["epoch"] == item["epoch"]}
        now = {r["layer"]: r for r in remeasure(run_dir, item["epoch"])}
        for layer in stored.keys() | now.keys():
            for col in ("ixl", "ixl_std", "ily", "ily_std"):
                a = stored.get(layer, {}).get(col, math.nan)
                b = now.get(layer, {}).get(col, math.nan)
                checks.append(Check("mnist", f"seed {item['seed']} epoch {item['epoch']} {layer}: {col}", a, b,
                                    layer in stored and layer in now and _close(a, b, tol)))
    runs = {k: read_results(folder / f"seed-{k}") for k in entry["seeds"]}
    agg_now = aggregate_seeds(runs)
    agg_stored = _read_csv(folder / "aggregate.csv", AGGREGATE_COLUMNS)
    worst = 0.0
    same_shape = len(agg_now) == len(agg_stored)
    for a, b in zip(agg_stored, agg_now):
        same_shape &= (a["epoch"], a["layer"]) == (b["epoch"], b["layer"])
        for col in ("ixl_mean", "ily_mean"):
            worst = max(worst, abs(float(a[col]) - float(b[col])))
    checks.append(Check("mnist", "aggregate.csv from the seeds' tables: largest difference of a mean", 0.0,
                        worst, same_shape and worst <= tol))
    phases_now, _ = phase_frequencies(runs)
    with (folder / "phases.csv").open(newline="") as fh:
        phases_stored = list(csv.DictReader(fh))

    def counts(rows):
        return sorted((r["layer"], r["phase"], int(r["seeds_with_phase"])) for r in rows)

    checks.append(Check("mnist", "phases.csv from the seeds' tables (seeds per layer and phase)",
                        str(len(phases_stored)) + " rows", str(len(phases_now)) + " rows",
                        counts(phases_now) == counts(phases_stored)))
    return checks


def audit(folder, *, tolerance: float = TOLERANCE, params_root=None) -> list[Check]:
    """Recompute the audited numbers of a stored-results folder; see the module docstring.

    Parameters
    ----------
    folder : path
        ``results/<name>`` with ``provenance.json``.
    tolerance : float
        Largest allowed absolute difference, nats.
    params_root : path, optional
        Folder the stored ``params_file`` path is relative to (default: the folder above
        ``results/``, the checkout that made it).

    Returns
    -------
    list of Check
        Every audited number; the audit passed when all are ``ok``.
    """
    folder = Path(folder)
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    prov = read_provenance(folder)
    # results/<name>/ sits in the checkout whose params/ made it
    params_file = Path(params_root or folder.resolve().parents[1]) / prov["params_file"]
    checks = []
    for part, entry in sorted(prov["parts"].items()):
        try:
            now = params_hash(read_section(params_file, part))
        except ValueError as exc:
            now = f"unreadable ({exc})"
        checks.append(Check(part, f"parameters: section {part!r} of {prov['params_file']} (hash)",
                            entry["params_hash"][:12], now[:12], now == entry["params_hash"]))
        run = {"synthetic": _synthetic, "mnist": _mnist}.get(part)
        if run is None:
            checks.append(Check(part, "unknown part", part, "", False))
            continue
        try:
            checks += run(folder / part, entry, tolerance)
        except (ValueError, FileNotFoundError, KeyError) as exc:  # a missing or unreadable stored file
            checks.append(Check(part, "recomputing the stored numbers", "stored files", f"failed: {exc}", False))
    return checks


def format_checks(checks) -> str:
    """A plain-text table of the checks, one per line, with the verdict at the end."""
    lines = []
    for c in checks:
        diff = c.difference
        shown = (f"{float(c.stored):.6f} -> {float(c.now):.6f} (|diff| {diff:.1e})" if not math.isnan(diff)
                 else f"{c.stored} -> {c.now}")
        lines.append(f"{'ok  ' if c.ok else 'FAIL'} {c.part}: {c.what}: {shown}")
    bad = sum(not c.ok for c in checks)
    lines.append(f"audit: {len(checks) - bad} of {len(checks)} checks agree" + (f", {bad} FAILED" if bad else ""))
    return "\n".join(lines)
