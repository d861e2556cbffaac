"""How often ``ibcore.consistency_checks`` fails an estimator that is right, and that is wrong.

    python benchmarks/consistency.py            # all cells below (about 30 min on one core)

Gaussian 2+2 pairs ``ibcore.synthetic.correlated_normal(n, 2, 2, mi, random_state=s)`` with the
checks at ``random_state=s``, the defaults of :func:`ibcore.consistency_checks` (level 0.95,
floor 0.03 nats, std_scale 1.25) and, for comparison, the plain z-test (``std_scale=1``,
``floor=0``) computed from the same estimates. A report *fails* when one check or more fails.
Weighted KL and KL are consistent on these samples, so their failures are false alarms (the level
allows 5 %); KSG saturates at large MI, so its additivity failures are the checks doing their job.

Rows go to ``benchmarks/consistency.csv`` as they finish (one per cell, method and seed) and a
rerun skips finished rows; ``benchmarks/consistency.md`` is rewritten at the end.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ibcore  # noqa: E402
from ibcore.consistency import FLOOR, STD_SCALE  # noqa: E402
from ibcore.synthetic import correlated_normal  # noqa: E402
from ibcore.tables import append_row, read_rows  # noqa: E402

COLUMNS = ("n", "mi", "method", "seed", "check", "difference", "std", "z", "relation", "passed")
# (n, mi, seeds, methods)
CELLS = [(1000, 1.0, 100, ("wkl", "kl")), (2000, 0.0, 100, ("wkl", "kl")), (2000, 1.0, 100, ("wkl", "kl", "ksg")),
         (2000, 3.0, 100, ("wkl", "kl")), (5000, 1.0, 50, ("wkl", "kl")), (2000, 8.0, 20, ("wkl", "ksg"))]


def _passes(row, scale, floor) -> bool:
    tol = row["z"] * scale * row["std"] + floor
    return abs(row["difference"]) <= tol if row["relation"] == "=" else row["difference"] <= tol


def write_markdown(rows, path: Path) -> None:
    lines = ["# Self-consistency checks: false alarms and detections", "",
             "`python benchmarks/consistency.py` (Gaussian 2+2 pairs, one fresh sample per seed). A report fails when "
             "one of its three checks fails; *defaults*: `ibcore.consistency_checks` as shipped (family-wise level "
             f"0.95, std_scale {STD_SCALE}, floor {FLOOR} nats); *plain z-test*: std_scale 1, floor 0 on the same "
             "estimates. *Spread / std*: the standard deviation over seeds of each check's difference divided by the "
             "mean of its reported std (largest of the three checks).", "",
             "| n | MI, nats | method | reports | failed (defaults) | failed (plain z-test) | failing checks (defaults) "
             "| spread / std |",
             "|---:|---:|---|---:|---:|---:|---|---:|"]
    for n, mi, _, methods in CELLS:
        for m in methods:
            sel = [r for r in rows if r["n"] == n and r["mi"] == mi and r["method"] == m]
            seeds = sorted({r["seed"] for r in sel})
            if not seeds:
                continue
            fail_d = fail_z = 0
            which = {}
            for s in seeds:
                rs = [r for r in sel if r["seed"] == s]
                bad = [r["check"] for r in rs if not _passes(r, STD_SCALE, FLOOR)]
                fail_d += bool(bad)
                fail_z += any(not _passes(r, 1.0, 0.0) for r in rs)
                for c in bad:
                    which[c] = which.get(c, 0) + 1
            spread = max(np.std([r["difference"] for r in sel if r["check"] == c], ddof=1)
                         / np.mean([r["std"] for r in sel if r["check"] == c])
                         for c in {r["check"] for r in sel})
            text = ", ".join(f"{c} {k}" for c, k in sorted(which.items())) or "—"
            lines.append(f"| {n} | {mi:g} | {m} | {len(seeds)} | {fail_d} ({100 * fail_d / len(seeds):.0f} %) | "
                         f"{fail_z} ({100 * fail_z / len(seeds):.0f} %) | {text} | {spread:.2f} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(HERE / "consistency.csv"))
    p.add_argument("--md", default=str(HERE / "consistency.md"))
    p.add_argument("--max-seeds", type=int, default=None, help="cap the seeds of every cell (a quick look)")
    args = p.parse_args(argv)
    out = Path(args.out)
    ints, floats = ("n", "seed"), ("mi", "difference", "std", "z")
    rows = read_rows(out, COLUMNS, ints=ints, floats=floats, malformed="skip") if out.exists() else []
    done = {(r["n"], r["mi"], r["method"], r["seed"]) for r in rows}
    for n, mi, seeds, methods in CELLS:
        for s in range(min(seeds, args.max_seeds or seeds)):
            x = y = None
            for m in methods:
                if (n, mi, m, s) in done:
                    continue
                if x is None:
                    x, y = correlated_normal(n, 2, 2, mi, random_state=s)
                report = ibcore.consistency_checks(x, y, m, random_state=s)
                for c in report.checks:
                    append_row(out, COLUMNS, dict(n=n, mi=mi, method=m, seed=s, check=c.name, difference=c.difference,
                                                  std=c.std, z=c.z, relation=c.relation, passed=c.passed))
        print(f"n={n} mi={mi} done", flush=True)
    write_markdown(read_rows(out, COLUMNS, ints=ints, floats=floats, malformed="skip"), Path(args.md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
