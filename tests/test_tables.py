"""Tidy CSV tables (ibcore.tables): cell text, atomic writes, appended rows, checked reads."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ibcore.tables import append_row, format_cell, read_rows, write_table

COLUMNS = ("name", "k", "value")


@pytest.mark.parametrize("value,nan,text", [
    ("a,b", "nan", "a,b"),
    (3, "nan", "3"),
    (np.int64(-7), "nan", "-7"),
    (True, "nan", "1.0"),                       # a bool is a number, not an integer column
    (0.1, "nan", "0.1"),
    (np.float64(1 / 3), "nan", repr(1 / 3)),    # numpy floats as Python's shortest repr
    (np.float32(0.1), "nan", repr(float(np.float32(0.1)))),
    (1e-300, "nan", "1e-300"),
    (math.nan, "nan", "nan"),
    (math.nan, "", ""),
    (math.inf, "", "inf"),
])
def test_format_cell(value, nan, text):
    assert format_cell(value, nan) == text


def test_write_table_round_trips_floats_exactly_and_atomically(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"name": f"r{i}", "k": i, "value": float(v), "ignored": object()} for i, v in enumerate(rng.normal(size=20))]
    rows.append({"name": "quoted, name", "k": 20, "value": math.nan})
    path = tmp_path / "t.csv"
    write_table(path, COLUMNS, rows)
    assert path.read_text().splitlines()[0] == "name,k,value"
    assert '"quoted, name",20,nan' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]  # the temporary file was renamed
    back = read_rows(path, COLUMNS, ints=("k",), floats=("value",))
    assert [r["value"] for r in back[:-1]] == [r["value"] for r in rows[:-1]]
    assert [r["k"] for r in back] == list(range(21)) and back[-1]["name"] == "quoted, name"
    assert math.isnan(back[-1]["value"])
    write_table(path, COLUMNS, [])
    assert path.read_text() == "name,k,value\n" and read_rows(path, COLUMNS) == []


def test_append_row_writes_the_header_once_and_empty_nan_cells(tmp_path):
    path = tmp_path / "t.csv"
    append_row(path, COLUMNS, {"name": "a", "k": 1, "value": 0.5}, nan="")
    append_row(path, COLUMNS, {"name": "b", "k": 2, "value": math.nan}, nan="")
    assert path.read_text() == "name,k,value\na,1,0.5\nb,2,\n"
    rows = read_rows(path, COLUMNS, ints=("k",), floats=("value",))
    assert rows[0] == {"name": "a", "k": 1, "value": 0.5} and math.isnan(rows[1]["value"])
    assert read_rows(path)[1] == {"name": "b", "k": "2", "value": ""}  # untyped: the text


def test_read_rows_checks_the_columns_and_names_the_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name,k\na,1\n")
    with pytest.raises(ValueError, match=r"t\.csv does not have the expected columns \(name, k, value\)"):
        read_rows(path, COLUMNS)
    path.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        read_rows(path, COLUMNS)
    assert read_rows(path, COLUMNS, malformed="skip") == []
    with pytest.raises(FileNotFoundError):
        read_rows(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="malformed must be"):
        read_rows(path, malformed="ignore")


def test_a_cut_last_line_raises_or_is_skipped(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("name,k,value\na,1,0.5\n\nb,2,0.2\nc,3\nd,x,1\n")
    with pytest.raises(ValueError, match=r"t\.csv, line 5: 2 cells instead of 3"):
        read_rows(path, COLUMNS)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,k,value\na,1,0.5\nd,x,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 3: invalid literal"):
        read_rows(bad, COLUMNS, ints=("k",))
    assert read_rows(bad, COLUMNS, floats=("k",), malformed="skip") == [{"name": "a", "k": 1.0, "value": "0.5"}]
    rows = read_rows(path, COLUMNS, ints=("k",), floats=("value",), malformed="skip")
    assert [r["name"] for r in rows] == ["a", "b"]  # the blank line, the short row and the bad integer left out
