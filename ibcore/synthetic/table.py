"""The tidy results table of Algorithm 1: one row per cell, appended and flushed as it finishes.

Column units (:data:`COLUMNS`): ``true_mi``, ``estimate``, ``std``, ``ci_low``, ``ci_high`` and
``bound_upper`` in nats (CI at 95 %); ``reconstruction_error`` is the per-pixel mean squared
error ``E||x - D(E(x))||² / n_pixels`` of the compressor on the cell's images (mean of the X
and Y sides; empty when nothing was compressed); ``seconds`` is the wall time of compressing
and estimating (image sampling excluded); ``noise_std`` is the std of the isotropic Gaussian
noise added to the images (0 = none); ``bound_upper`` is the upper bound on the MI lost by
compression (:func:`ibcore.compression.lossy_mutual_information`), only for PCA on noisy images.

A killed run leaves at most a partly written last line, which :func:`prepare_table` drops.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..tables import append_row as append_table_row, read_rows, write_table

__all__ = ["COLUMNS", "read_results", "mean_absolute_error", "cell_key", "prepare_table", "append_row"]

COLUMNS = (
    "dataset", "size", "estimator", "input", "compressor", "true_mi", "estimate", "std", "ci_low",
    "ci_high", "reconstruction_error", "n", "seed", "seconds", "noise_std", "bound_upper",
)
_KEY = ("dataset", "size", "estimator", "input", "compressor", "true_mi", "n", "seed", "noise_std")
_FLOAT_COLUMNS = ("true_mi", "estimate", "std", "ci_low", "ci_high", "reconstruction_error", "seconds",
                  "noise_std", "bound_upper")
_INT_COLUMNS = ("size", "n", "seed")


def cell_key(row) -> tuple:
    return (str(row["dataset"]), int(row["size"]), str(row["estimator"]), str(row["input"]),
            str(row["compressor"]), round(float(row["true_mi"]), 9), int(row["n"]), int(row["seed"]),
            round(float(row["noise_std"] or 0.0), 12))


def _complete(row: dict) -> bool:
    """Whether a typed row holds a cell's result (not a line cut mid-number that still parses)."""
    return (all(row[c] != "" for c in ("dataset", "estimator", "input", "compressor"))
            and not math.isnan(row["estimate"]))


def read_results(path) -> list[dict]:
    """Rows of a results CSV written by :func:`run_algorithm1`, typed (ints, floats; empty -> NaN).

    Malformed rows (a line cut by a killed run) are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}")
    rows = read_rows(path, COLUMNS, ints=_INT_COLUMNS, floats=_FLOAT_COLUMNS, malformed="skip")
    return [r for r in rows if _complete(r)]


def prepare_table(path: Path) -> list[dict]:
    """Read the finished rows; drop a partly written last line (killed run) and duplicates."""
    if not path.is_file() or path.stat().st_size == 0:
        write_table(path, COLUMNS, [])
        return []
    text = path.read_text()
    complete = text.endswith("\n")
    if not complete:
        # the last line was cut mid-write: it may even parse (a truncated number), so drop it
        text = text[: text.rfind("\n") + 1]
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    rows = read_results(path)
    n_lines = len([ln for ln in text.splitlines() if ln.strip()])
    seen, clean = set(), []
    for r in rows:
        if cell_key(r) not in seen:
            seen.add(cell_key(r))
            clean.append(r)
    if not complete or n_lines != len(clean) + 1:
        write_table(path, COLUMNS, clean, nan="")
    return clean


def append_row(path: Path, row: dict) -> None:
    """Append one row (NaN as an empty cell), synced: a kill leaves at most a cut last line."""
    append_table_row(path, COLUMNS, row, nan="")


def mean_absolute_error(rows, *, max_mi: float | None = None, **filters) -> float:
    """Mean of ``|estimate - true_mi|`` (nats) over the rows matching ``filters`` (column=value)
    with ``true_mi <= max_mi``; NaN when no row matches."""
    sel = [r for r in rows if all(r[k] == v for k, v in filters.items())
           and (max_mi is None or r["true_mi"] <= max_mi + 1e-12)]
    if not sel:
        return math.nan
    return float(np.mean([abs(r["estimate"] - r["true_mi"]) for r in sel]))
