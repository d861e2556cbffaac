"""Audit a stored-results folder: recompute a few of its numbers with today's code.

``ibcore audit results/cpu`` (and ``nox -s audit``, which CI runs) checks a folder written by
:func:`ibcore.reproduce.store`:

* **parameters**: each part's parameters section in the parameters file still hashes to the
  stored hash (otherwise the folder describes a file that now says something else);
* **Algorithm 1 cells**: the cells listed in ``provenance.json`` are recomputed from the stored
  sweep settings and autoencoder checkpoints (:func:`ibcore.synthetic.run_cell`: their images
  are resampled from the seed, PCA is refitted), ``estimate`` and ``std``; an autoencoder that
  would have to be retrained fails the check (its checkpoint is missing);
* **information-plane epochs**: the listed epochs of a seed's run are measured again from the
  stored model weights and input codes (:func:`ibcore.plane.remeasure`), ``ixl``, ``ixl_std``,
  ``ily`` and ``ily_std`` of every layer;
* **derived tables**: ``aggregate.csv`` and ``phases.csv`` are recomputed from the stored per-seed
  tables, so a change in the phase detection shows.

The tolerance of each recomputed number
---------------------------------------
A CPU with other vector instructions (AVX-512 instead of AVX2, or torch's scalar kernels under
``ATEN_CPU_CAPABILITY=default``) sums in another order, so the forward passes of the autoencoders
and the classifier differ in the last bit of some outputs (relative differences up to about
2^-23, float32 rounding). Most estimates pass that on unchanged (1e-8 nats), but an estimate on
codes that lie near a lower-dimensional set is ill-conditioned: its k-NN distances are tiny,
their logarithms move with the last bits, and on the softmax layer of the stored run the same
weights gave estimates 1.5e-4 nats apart under the two instruction sets of one machine. No fixed
tolerance is then honest for every number, so the audit measures each number's conditioning:

1. the number is recomputed once as it was made (``now``), and :data:`PROBES` more times with
   every input of the estimation pipeline (layer outputs, images) multiplied by
   ``1 + u * ROUNDING``, ``u`` uniform in [-1, 1] and :data:`ROUNDING` = 2^-22 (two float32
   units in the last place, in every entry: more than the instruction sets differ);
2. its tolerance is ``max(TOLERANCE, SAFETY * spread)``, ``spread`` the largest change a probe
   made, with :data:`TOLERANCE` = 1e-4 nats and :data:`SAFETY` = 10;
3. the number agrees when ``|stored - now|`` is within its tolerance;
4. a change **matters** when it exceeds :data:`MATTERS` = 0.1 of the number's standard error
   (its ``std`` column): the figures draw 95 % intervals of ±1.96 standard errors, so such a
   change is a twentieth of a half-interval, and the phase rule (:func:`ibcore.plane.detect_phases`)
   compares changes with 1.96 times the standard error of a difference, which it moves by at
   most 0.1. A number whose tolerance would exceed that cannot be audited to the precision that
   matters, and fails as ``ill-conditioned``.

So a tampered number fails whenever the change is larger than rounding could make it, and every
change that matters fails. The measurements behind these constants are in the README's
"Stored results and their audit".
"""
from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .provenance import params_hash, read_provenance, read_section

__all__ = ["audit", "Check", "TOLERANCE", "ROUNDING", "PROBES", "SAFETY", "MATTERS", "rounding_perturbation",
           "format_checks"]

#: nats: the smallest tolerance of a recomputed number (module docstring)
TOLERANCE = 1e-4
#: relative size of the perturbation that stands for rounding differences between CPUs
ROUNDING = 2.0 ** -22
#: perturbed recomputations per audited cell or epoch
PROBES = 3
#: the tolerance is this many times the largest change a perturbation made
SAFETY = 10.0
#: a change matters when it exceeds this share of the number's standard error
MATTERS = 0.1


@dataclasses.dataclass
class Check:
    """One audited number: what was stored, what today's code gives, and whether they agree.

    ``tolerance`` is the largest difference accepted for this number and ``spread`` the largest
    change a rounding perturbation made to it (both NaN for checks that are not recomputed
    numbers); ``note`` says why a check failed other than by its difference."""

    part: str
    what: str
    stored: float | str
    now: float | str
    ok: bool
    tolerance: float = math.nan
    spread: float = math.nan
    note: str = ""

    @property
    def difference(self) -> float:
        try:
            return abs(float(self.now) - float(self.stored))
        except (TypeError, ValueError):
            return math.nan


def rounding_perturbation(seed: int):
    """A function that multiplies every entry of a float array by ``1 + u * ROUNDING``, ``u``
    uniform in [-1, 1] from a generator seeded by ``seed`` (other arrays pass unchanged)."""
    rng = np.random.default_rng(seed)

    def perturb(a):
        arr = np.asarray(a)
        if not np.issubdtype(arr.dtype, np.floating):
            return a
        return (arr * (1.0 + ROUNDING * rng.uniform(-1.0, 1.0, arr.shape))).astype(arr.dtype)

    return perturb


def _judge(part: str, what: str, stored, now, probes, scale, floor: float) -> Check:
    """The check of one recomputed number (module docstring): ``now`` against ``stored``, with
    the tolerance from the ``probes`` (the same number from perturbed inputs) and the
    standard error ``scale`` that says what matters."""
    stored, now = float(stored), float(now)
    if math.isnan(stored) or math.isnan(now):
        return Check(part, what, stored, now, math.isnan(stored) and math.isnan(now))
    spread = max((abs(float(p) - now) for p in probes if not math.isnan(float(p))), default=0.0)
    tol = max(floor, SAFETY * spread)
    scale = float(scale)
    if math.isfinite(scale) and scale > 0 and tol > MATTERS * scale:
        return Check(part, what, stored, now, False, tol, spread,
                     f"ill-conditioned: rounding moves it by {spread:.1e}, so its tolerance {tol:.1e} exceeds "
                     f"{MATTERS:g} of its standard error {scale:.2g}")
    return Check(part, what, stored, now, abs(now - stored) <= tol, tol, spread)


def _synthetic(folder: Path, entry: dict, tol: float) -> list[Check]:
    from ..synthetic import SweepSettings, read_results, run_cell
    from ..synthetic.table import cell_key

    stored = {cell_key(r): r for r in read_results(folder / "results.csv")}
    base = SweepSettings.from_dict(entry["settings"])
    checks = []
    with tempfile.TemporaryDirectory(prefix="ibcore-audit-") as tmp:
        cache = Path(tmp) / "compressors"  # a copy: a retrained autoencoder must not land in the folder
        cache.mkdir(parents=True)
        for p in (folder / "compressors").glob("*.pt"):
            shutil.copy2(p, cache / p.name)
        before = sorted(p.name for p in cache.iterdir())
        for i, cell in enumerate(entry["audit"]):
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
                now = run_cell(s, cell, cache)
                probes = [run_cell(s, cell, cache, perturb=rounding_perturbation(1000 * i + r))
                          for r in range(PROBES)]
            row = stored[key]
            for col in ("estimate", "std"):
                checks.append(_judge("synthetic", f"{name}: {col}", row[col], now[col], [p[col] for p in probes],
                                     row["std"], tol))
        after = sorted(p.name for p in cache.iterdir())
        if after != before:
            checks.append(Check("synthetic", "autoencoder checkpoints", ", ".join(before) or "none",
                                "retrained: " + ", ".join(sorted(set(after) - set(before))), False))
    return checks


def _mnist(folder: Path, entry: dict, tol: float) -> list[Check]:
    from ..plane import aggregate_seeds, load_run_data, phase_frequencies, read_results, remeasure_each
    from ..plane.aggregate import AGGREGATE_COLUMNS, PHASE_COLUMNS
    from ..plane.run import read_table
    from ..tables import read_rows

    checks = []
    data = {}
    for i, item in enumerate(entry["audit"]):
        run_dir = folder / f"seed-{item['seed']}"
        if item["seed"] not in data:
            data[item["seed"]] = load_run_data(run_dir)
        stored = {r["layer"]: r for r in read_results(run_dir).rows if r["epoch"] == item["epoch"]}
        # the epoch as the run measured it, then its rounding probes, with one model and tracker
        perturbations = [None] + [rounding_perturbation(1000 * i + k) for k in range(PROBES)]
        now, *probes = ({r["layer"]: r for r in rows}
                        for rows in remeasure_each(run_dir, item["epoch"], perturbations, data=data[item["seed"]]))
        checks += _plane_checks(f"seed {item['seed']} epoch {item['epoch']}", stored, now, probes, tol)
    checks += _remeasured(folder, entry, data, tol)
    runs = {k: read_results(folder / f"seed-{k}") for k in entry["seeds"]}
    agg_now = aggregate_seeds(runs)
    agg_stored = read_table(folder / "aggregate.csv", AGGREGATE_COLUMNS)
    worst = 0.0
    same_shape = len(agg_now) == len(agg_stored)
    for a, b in zip(agg_stored, agg_now):
        same_shape &= (a["epoch"], a["layer"]) == (b["epoch"], b["layer"])
        for col in ("ixl_mean", "ily_mean"):
            worst = max(worst, abs(float(a[col]) - float(b[col])))
    checks.append(Check("mnist", "aggregate.csv from the seeds' tables: largest difference of a mean", 0.0,
                        worst, same_shape and worst <= tol))
    phases_now, _ = phase_frequencies(runs)
    phases_stored = read_rows(folder / "phases.csv", PHASE_COLUMNS)

    def counts(rows):
        return sorted((r["layer"], r["phase"], int(r["seeds_with_phase"])) for r in rows)

    checks.append(Check("mnist", "phases.csv from the seeds' tables (seeds per layer and phase)",
                        str(len(phases_stored)) + " rows", str(len(phases_now)) + " rows",
                        counts(phases_now) == counts(phases_stored)))
    return checks


def _plane_checks(where: str, stored: dict, now: dict, probes: list, tol: float) -> list[Check]:
    """One check per layer and estimate column of one recomputed epoch (``{layer: row}`` stored,
    recomputed and per rounding probe); a layer on one side only fails."""
    checks = []
    for layer in stored.keys() | now.keys():
        for col in ("ixl", "ixl_std", "ily", "ily_std"):
            what = f"{where} {layer}: {col}"
            if layer not in stored or layer not in now:
                checks.append(Check("mnist", what, stored.get(layer, {}).get(col, "missing"),
                                    now.get(layer, {}).get(col, "missing"), False))
                continue
            checks.append(_judge("mnist", what, stored[layer][col], now[layer][col],
                                 [p[layer][col] for p in probes], stored[layer][col[:3] + "_std"], tol))
    return checks


#: tables of snapshots measured another way (ibcore.plane.measure_snapshots) that the audit
#: recomputes; the default tracker's ("default") is left out: one of its epochs takes minutes
#: on a CPU, and a flow trained on another instruction set needs its probes too
AUDITED_TABLES = ("exact",)


def _remeasured(folder: Path, entry: dict, data: dict, tol: float) -> list[Check]:
    """The first and last epoch of each audited re-measurement table of the first audited seed,
    recomputed from the snapshots with the table's own options (and rounding probes)."""
    import json

    from ..plane import remeasure_each
    from ..plane.run import PLANE_COLUMNS, read_table

    checks = []
    seed = entry["audit"][0]["seed"]
    run_dir = folder / f"seed-{seed}"
    for name in AUDITED_TABLES:
        table, meta = run_dir / f"{name}.csv", run_dir / f"{name}.json"
        if not table.is_file():
            continue
        options = json.loads(meta.read_text())["tracker_options"]
        rows = read_table(table, PLANE_COLUMNS)
        epochs = sorted({int(r["epoch"]) for r in rows})
        for j, epoch in enumerate(sorted({epochs[0], epochs[-1]})):
            stored = {r["layer"]: r for r in rows if int(r["epoch"]) == epoch}
            perturbations = [None] + [rounding_perturbation(7000 + 100 * j + k) for k in range(PROBES)]
            now, *probes = ({r["layer"]: r for r in got} for got in remeasure_each(
                run_dir, epoch, perturbations, data=data[seed], tracker_options=options))
            checks += _plane_checks(f"{name}.csv seed {seed} epoch {epoch}", stored, now, probes, tol)
    return checks


def audit(folder, *, tolerance: float = TOLERANCE, params_root=None) -> list[Check]:
    """Recompute the audited numbers of a stored-results folder; see the module docstring.

    Parameters
    ----------
    folder : path
        ``results/<name>`` with ``provenance.json``.
    tolerance : float
        The smallest tolerance of a recomputed number, nats (:data:`TOLERANCE`); each number's
        own is larger where rounding moves it more (module docstring).
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
        if math.isnan(diff):
            shown = f"{c.stored} -> {c.now}"
        else:
            shown = f"{float(c.stored):.6f} -> {float(c.now):.6f} (|diff| {diff:.1e}"
            shown += f", tolerance {c.tolerance:.1e})" if not math.isnan(c.tolerance) else ")"
        lines.append(f"{'ok  ' if c.ok else 'FAIL'} {c.part}: {c.what}: {shown}" + (f" [{c.note}]" if c.note else ""))
    bad = sum(not c.ok for c in checks)
    lines.append(f"audit: {len(checks) - bad} of {len(checks)} checks agree" + (f", {bad} FAILED" if bad else ""))
    return "\n".join(lines)
