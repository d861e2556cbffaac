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

import csv
import math
import os
from pathlib import Path

import numpy as np

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


def _parse_row(raw: dict) -> dict | None:
    """Typed row, or None for a malformed (e.g. partly written) one."""
    if raw is None or set(raw) != set(COLUMNS) or any(raw[c] is None for c in COLUMNS):
        return None
    row = dict(raw)
    try:
        for c in _INT_COLUMNS:
            row[c] = int(row[c])
        for c in _FLOAT_COLUMNS:
            row[c] = float(row[c]) if row[c] != "" else math.nan
    except ValueError:
        return None
    if any(row[c] == "" for c in ("dataset", "estimator", "input", "compressor")) or math.isnan(row["estimate"]):
        return None
    return row


def read_results(path) -> list[dict]:
    """Rows of a results CSV written by :func:`run_algorithm1`, typed (ints, floats; empty -> NaN).

    Malformed rows (a line cut by a killed run) are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is not None and tuple(reader.fieldnames) != COLUMNS:
            raise ValueError(
                f"{path} does not have the columns of an Algorithm 1 table ({', '.join(COLUMNS)}); "
                f"found {reader.fieldnames}"
            )
        rows = [_parse_row(r) for r in reader]
    return [r for r in rows if r is not None]


def prepare_table(path: Path) -> list[dict]:
    """Read the finished rows; drop a partly written last line (killed run) and duplicates."""
    if not path.is_file() or path.stat().st_size == 0:
        with path.open("w", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerow(COLUMNS)
        return []
    text = path.read_text()
    complete = text.endswith("\n")
    rows = read_results(path)
    if not complete:
        # the last line was cut mid-write: it may even parse (a truncated number), so drop it
        text = text[: text.rfind("\n") + 1]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        rows = read_results(tmp)
    n_lines = len([ln for ln in text.splitlines() if ln.strip()])
    seen, clean = set(), []
    for r in rows:
        if cell_key(r) not in seen:
            seen.add(cell_key(r))
            clean.append(r)
    if not complete or n_lines != len(clean) + 1:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
            w.writeheader()
            for r in clean:
                w.writerow(_format_row(r))
        os.replace(tmp, path)
    return clean


def _format_row(row: dict) -> dict:
    out = {}
    for c in COLUMNS:
        v = row[c]
        if isinstance(v, float):
            out[c] = "" if math.isnan(v) else repr(v)
        else:
            out[c] = v
    return out


def append_row(path: Path, row: dict) -> None:
    with path.open("a", newline="") as fh:
        csv.DictWriter(fh, COLUMNS, lineterminator="\n").writerow(_format_row(row))
        fh.flush()
        os.fsync(fh.fileno())


def mean_absolute_error(rows, *, max_mi: float | None = None, **filters) -> float:
    """Mean of ``|estimate - true_mi|`` (nats) over the rows matching ``filters`` (column=value)
    with ``true_mi <= max_mi``; NaN when no row matches."""
    sel = [r for r in rows if all(r[k] == v for k, v in filters.items())
           and (max_mi is None or r["true_mi"] <= max_mi + 1e-12)]
    if not sel:
        return math.nan
    return float(np.mean([abs(r["estimate"] - r["true_mi"]) for r in sel]))
