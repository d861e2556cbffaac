"""What the seeds of :func:`~ibcore.plane.run_plane_seeds` agree on: their aggregate and phases.

:func:`aggregate_seeds` gives the rows of ``aggregate.csv`` (:data:`AGGREGATE_COLUMNS`) and
:func:`phase_frequencies` those of ``phases.csv`` (:data:`PHASE_COLUMNS`) and
``phase_segments.csv`` (:data:`SEGMENT_COLUMNS`), from the per-seed run tables
(:class:`~ibcore.plane.PlaneResults`).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from .phases import PHASE_KINDS, detect_phases, trusted_points
from .run import PlaneResults

__all__ = ["aggregate_seeds", "phase_frequencies", "layer_order", "layer_series", "AGGREGATE_COLUMNS",
           "PHASE_COLUMNS", "SEGMENT_COLUMNS"]

#: columns of aggregate.csv (information in nats)
AGGREGATE_COLUMNS = (
    "epoch", "layer", "n_seeds", "ixl_mean", "ixl_std", "ixl_min", "ixl_max", "ily_mean", "ily_std", "ily_min",
    "ily_max", "test_accuracy_mean", "test_accuracy_std",
)
#: columns of phases.csv
PHASE_COLUMNS = ("layer", "phase", "seeds_with_phase", "n_seeds", "fraction", "mean_segments")
#: columns of phase_segments.csv (start/end: epochs; delta, delta_std: nats)
SEGMENT_COLUMNS = ("seed", "layer", "phase", "start", "end", "delta", "delta_std", "z")


def _spread(values) -> tuple[float, float, float, float]:
    a = np.asarray(values, dtype=float)
    std = float(np.std(a, ddof=1)) if len(a) > 1 else math.nan
    return float(np.mean(a)), std, float(np.min(a)), float(np.max(a))


def layer_series(res: PlaneResults, layer: str, *columns) -> list[np.ndarray]:
    """The float arrays of ``columns`` over the rows of one layer of a run, in epoch order."""
    sel = [r for r in res.rows if r["layer"] == layer]
    return [np.array([r[c] for r in sel], dtype=float) for c in columns]


def layer_order(runs: dict) -> list[str]:
    """The layers of the runs (dict of seed -> PlaneResults), each once, in the order they first appear."""
    order = []
    for res in runs.values():
        order += [name for name in res.layers if name not in order]
    return order


def aggregate_seeds(runs: dict) -> list[dict]:
    """Per (layer, epoch) the mean, std across seeds, min and max of ``I(X;L)`` and ``I(L;Y)`` (nats)
    and the mean and std of the test accuracy, over the seeds that estimated that epoch.

    Parameters
    ----------
    runs : dict of int -> PlaneResults

    Returns
    -------
    list of dict
        Rows with the columns of :data:`AGGREGATE_COLUMNS`, by layer then epoch.
    """
    cells = defaultdict(list)
    for res in runs.values():
        for r in res.rows:
            cells[(r["layer"], int(r["epoch"]))].append(r)
    rows = []
    for layer in layer_order(runs):
        for epoch in sorted(e for name, e in cells if name == layer):
            sel = cells[(layer, epoch)]
            row = {"epoch": epoch, "layer": layer, "n_seeds": len(sel)}
            for col in ("ixl", "ily"):
                row.update(zip((f"{col}_mean", f"{col}_std", f"{col}_min", f"{col}_max"),
                               _spread([r[col] for r in sel])))
            acc = _spread([r["test_accuracy"] for r in sel])
            row["test_accuracy_mean"], row["test_accuracy_std"] = acc[0], acc[1]
            rows.append(row)
    return rows


def phase_frequencies(runs: dict, **detect_options) -> tuple[list[dict], list[dict]]:
    """How often each phase kind appears per layer across seeds, and every detected segment.

    Each seed's raw ``I(X;L)`` series of a layer (with its standard errors) goes through
    :func:`~ibcore.plane.detect_phases` (``detect_options`` are passed on); a series with fewer
    than 2 estimated epochs has no segments, and one with non-finite values is skipped.

    Returns
    -------
    phases : list of dict
        :data:`PHASE_COLUMNS` rows, one per layer and kind (``n_seeds``: the seeds with a usable
        series of that layer).
    segments : list of dict
        :data:`SEGMENT_COLUMNS` rows.
    """
    segments, usable = [], defaultdict(int)
    for seed, res in runs.items():
        for layer in res.layers:
            epochs, ixl, std = layer_series(res, layer, "epoch", "ixl", "ixl_std")
            # flagged points (estimator failures, :func:`trusted_points`) are left out of the phases
            sel = [r for r in res.rows if r["layer"] == layer]
            series = {c: [r[c] for r in sel] for c in ("ixl", "ixl_high", "manifold") if all(c in r for r in sel)}
            keep = trusted_points(series) & np.isfinite(std)
            epochs, ixl, std = epochs[keep], ixl[keep], std[keep]
            if len(epochs) < 2:
                continue
            usable[layer] += 1
            for seg in detect_phases(epochs, ixl, std, **detect_options):
                segments.append({"seed": int(seed), "layer": layer, "phase": seg.kind, "start": seg.start,
                                 "end": seg.end, "delta": seg.delta, "delta_std": seg.delta_std, "z": seg.z})
    phases = []
    for layer in layer_order(runs):
        n = usable.get(layer, 0)
        for kind in PHASE_KINDS:
            sel = [s for s in segments if s["layer"] == layer and s["phase"] == kind]
            seen = len({s["seed"] for s in sel})
            phases.append({"layer": layer, "phase": kind, "seeds_with_phase": seen, "n_seeds": n,
                           "fraction": seen / n if n else math.nan, "mean_segments": len(sel) / n if n else math.nan})
    return phases, segments
