"""Tidy CSV tables: a header row of column names, then one row per record.

Every table of ibcore and its benchmarks goes through this module: the information-plane run
tables and the seeds' aggregate (:mod:`ibcore.plane`), the Algorithm 1 results table
(:mod:`ibcore.synthetic.table`), what the audit reads back (:mod:`ibcore.reproduce.audit`) and
``benchmarks/accuracy.csv`` and ``benchmarks/coverage.csv``.

A cell is written by :func:`format_cell`: text as it is, integers in decimal, real numbers by
``repr`` of the float (the shortest text that reads back to the same float, so a table
round-trips exactly) and NaN as the caller's ``nan`` text (``"nan"`` or an empty cell). A whole
table is written to a temporary file and renamed (:func:`write_table`), so a kill never leaves
half of it; a row is appended and synced (:func:`append_row`), so a kill leaves at most a cut
last line, which :func:`read_rows` can skip.
"""
from __future__ import annotations

import csv
import io
import math
import numbers
import os
from pathlib import Path

__all__ = ["format_cell", "write_table", "append_row", "read_rows"]


def format_cell(value, nan: str = "nan") -> str:
    """The text of one cell.

    Parameters
    ----------
    value : str, int or real number
        Text is written as it is, integers (also numpy's; not bools) in decimal, any other real
        number as ``repr(float(value))``.
    nan : str
        The text of a NaN (``"nan"``, or ``""`` for an empty cell).

    Returns
    -------
    str
    """
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    return nan if math.isnan(value) else repr(value)


def _csv_line(cells) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def write_table(path, columns, rows, *, nan: str = "nan") -> None:
    """Write a whole table: the header ``columns``, then the cells of ``rows`` (dicts; keys
    beyond ``columns`` are ignored) by :func:`format_cell`. The text goes to
    ``<path>.tmp``, which then replaces ``path``: a kill never leaves half a file.
    """
    path = Path(path)
    text = _csv_line(columns) + "".join(_csv_line([format_cell(r[c], nan) for c in columns]) for r in rows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def append_row(path, columns, row: dict, *, nan: str = "nan") -> None:
    """Append one row to a table (its header first when the file is missing or empty), flushed
    and synced to the disk: a kill leaves at most a cut last line."""
    path = Path(path)
    text = _csv_line([format_cell(row[c], nan) for c in columns])
    if not path.exists() or path.stat().st_size == 0:
        text = _csv_line(columns) + text
    with path.open("a", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def read_rows(path, columns=None, *, ints=(), floats=(), malformed: str = "raise") -> list[dict]:
    """The rows of a table as dicts, column name -> cell.

    Parameters
    ----------
    path : path
    columns : sequence of str, optional
        The header the table must have (a ``ValueError`` naming the file otherwise); default:
        whatever it has.
    ints, floats : sequence of str
        Columns read as ``int`` and as ``float`` (an empty cell is NaN); the others stay text.
    malformed : {"raise", "skip"}
        A row with another number of cells than the header, or a cell of ``ints`` or ``floats``
        that is not a number: a ``ValueError`` naming the file and line, or the row is left
        out (what a killed :func:`append_row` leaves). With ``"skip"`` an empty file has no
        rows; with ``"raise"`` it is an error. Blank lines are always skipped.

    Returns
    -------
    list of dict
    """
    if malformed not in ("raise", "skip"):
        raise ValueError(f"malformed must be 'raise' or 'skip', got {malformed!r}")
    path = Path(path)
    converters = {**{c: int for c in ints}, **{c: _float for c in floats}}
    rows = []
    with path.open(newline="") as fh:
        try:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                if malformed == "skip":
                    return []
                raise ValueError(f"{path} is empty: it has no header row")
            if columns is not None and tuple(header) != tuple(columns):
                raise ValueError(f"{path} does not have the expected columns ({', '.join(columns)}); "
                                 f"found {header}")
            for line in reader:
                if not line:
                    continue
                try:
                    if len(line) != len(header):
                        raise ValueError(f"{len(line)} cells instead of {len(header)}")
                    rows.append({c: converters[c](v) if c in converters else v for c, v in zip(header, line)})
                except ValueError as exc:
                    if malformed == "raise":
                        raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
        except csv.Error as exc:
            raise ValueError(f"{path} is not a CSV table ({exc})") from None
    return rows


def _float(text: str) -> float:
    return math.nan if text == "" else float(text)
