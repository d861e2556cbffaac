"""``ibcore mi X Y``: files in, estimate, interval and what auto did out; one-line errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ibcore.cli import main


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1500, 2))
    labels = np.floor(4 * x[:, 0]).astype(int)                 # I(X;Y) = log 4 exactly
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "labels.npy", labels)
    np.savetxt(tmp_path / "labels.csv", labels[:, None], delimiter=",", header="label", comments="", fmt="%d")
    np.savez(tmp_path / "xy.npz", x=x, other=x[:, :1])
    return tmp_path


def test_json_output_with_labels(files, capsys):
    assert main(["mi", str(files / "x.npy"), str(files / "labels.csv"), "--y-labels", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # deterministic labels: Ross's KSG falls below the held-out classifier bound, so auto reports
    # the interval between the bound and H(Y), which holds log 4
    assert out["method"].startswith("classifier bound") and out["unit"] == "nats" and out["n"] == 1500
    assert out["ci"][0] < out["mi"] < out["ci"][1]
    assert out["ci"][0] <= math.log(4) <= out["ci"][1] and abs(out["mi"] - math.log(4)) < 0.1
    assert out["details"]["y"] == {"kind": "labels", "classes": 4}


def test_text_output_and_npz_key(files, capsys):
    assert main(["mi", str(files / "xy.npz"), str(files / "labels.npy"), "--x-key", "x", "--method", "ksg",
                 "--y-labels"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("I(X;Y) = ") and "nats" in text and "95 % interval" in text


@pytest.mark.parametrize("args,message", [
    (["missing.npy", "labels.npy"], "x: no file"),
    (["xy.npz", "labels.npy"], "holds 2 arrays"),
    (["x.npy", "xy.npz", "--y-key", "nope"], "has no array 'nope'"),
    (["x.npy", "bad.bin"], "unsupported file type"),
])
def test_bad_files_give_one_line_errors(files, capsys, args, message):
    (files / "bad.bin").write_bytes(b"\0\1")
    paths = [str(files / a) if not a.startswith("--") and (i < 2 or args[i - 1] not in ("--y-key", "--x-key"))
             else a for i, a in enumerate(args)]
    with pytest.raises(SystemExit) as exit_info:
        main(["mi", *paths])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_row_mismatch_is_refused(files, capsys):
    np.save(files / "short.npy", np.zeros(10, dtype=int))
    with pytest.raises(SystemExit):
        main(["mi", str(files / "x.npy"), str(files / "short.npy"), "--y-labels"])
    assert "paired row by row" in capsys.readouterr().err


def test_check_flag_with_labels_adds_the_report(files, capsys):
    # weighted KL on the strips: every check passes (seed 0; additivity -0.09 nats within ±0.25)
    assert main(["mi", str(files / "x.npy"), str(files / "labels.npy"), "--y-labels", "--method", "wkl",
                 "--check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    report = out["checks"]
    assert report["passed"] is True and report["labels"] is True and report["n"] == 1500
    assert [c["name"] for c in report["checks"]] == ["independence", "data_processing", "additivity"]
    dp = report["checks"][1]
    assert dp["reference"]["value"] == out["mi"] and dp["note"].startswith("x degraded")  # the estimate, reused
