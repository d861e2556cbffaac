"""Do the 95 % intervals mean what they say? Coverage of every method on closed-form families.

    python benchmarks/coverage.py                  # 30 seeds, n = 1,000 (about 20 minutes on 2 cores)
    python benchmarks/coverage.py --seeds 50 --n 2000

For each family and method: the share of seeds whose 95 % interval covers the true MI, and the
calibration factor ``std over seeds / mean reported std`` (1 = the reported standard error is the
real spread; the interval can still miss through bias, which the coverage shows). Rows go to
``benchmarks/coverage.csv`` as they finish (a rerun resumes); ``benchmarks/coverage.md`` is
rewritten at the end.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ibcore  # noqa: E402
from ibcore.tables import append_row, read_rows  # noqa: E402
from ibcore.synthetic import CorrelatedNormal, CorrelatedUniform, StudentT  # noqa: E402

COLUMNS = ("family", "method", "seed", "n", "truth", "estimate", "std", "seconds")


def _labels(n, rng):
    """x uniform on the square, y = its quadrant row and column with 10 % of labels flipped."""
    x = rng.uniform(size=(n, 2))
    y = (x[:, 0] > 0.5).astype(int) * 2 + (x[:, 1] > 0.5)
    flip = rng.uniform(size=n) < 0.1
    y[flip] = rng.integers(0, 4, flip.sum())
    # H(Y) = log 4 (uniform labels); H(Y|X) with prob 0.9 + 0.1/4 on the true cell, 0.025 elsewhere
    p = 0.9 + 0.1 / 4
    h_cond = -(p * math.log(p) + 3 * 0.025 * math.log(0.025))
    return x, y, math.log(4) - h_cond


def _student(dist):
    return lambda n, rng: (*dist.sample(n, random_state=rng), dist.mutual_information)


FAMILIES = {
    "gaussian 2+2, 1 nat": lambda n, rng: (*CorrelatedNormal(2, 2, 1.0).sample(n, random_state=rng), 1.0),
    "uniform 2+2, 1 nat": lambda n, rng: (*CorrelatedUniform(2, 2, 1.0).sample(n, random_state=rng), 1.0),
    "student-t 2+2, nu 5": _student(StudentT(2, 2, 5.0, 0.5)),
    "labels (4 classes, 10 % noise)": _labels,
    # uncorrelated sides: all the MI (0.241 nats) is in the shared scale, the flow's blind spot
    "student-t 4+4, shared scale, nu 3": _student(StudentT(4, 4, 3.0)),
}
METHODS = ("auto", "flow", "kl", "wkl", "ksg", "kde-ml")


def estimate(method, x, y, seed):
    if method == "auto":
        return ibcore.mutual_information(x, y, random_state=seed)
    if method == "flow":
        if y.ndim == 1:
            return None  # labels: not consistent (the flow needs a continuous y)
        return ibcore.mutual_information(x, y, "flow", random_state=seed)
    return ibcore.mutual_information(x, y, method)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--out", default=str(HERE / "coverage.csv"))
    p.add_argument("--md", default=str(HERE / "coverage.md"))
    args = p.parse_args(argv)
    import torch
    import warnings

    torch.set_num_threads(1)
    out = Path(args.out)
    done = set()
    if out.exists():
        done = {(r["family"], r["method"], r["seed"], r["n"]) for r in read_rows(out, COLUMNS, ints=("seed", "n"))}
    methods = args.methods.split(",")
    for seed in range(args.seeds):
        for fam, draw in FAMILIES.items():
            x = y = None
            for m in methods:
                if (fam, m, seed, args.n) in done:
                    continue
                if x is None:
                    x, y, truth = draw(args.n, np.random.default_rng([seed, len(fam)]))
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est = estimate(m, x, y, seed)
                row = dict(family=fam, method=m, seed=seed, n=args.n, truth=truth,
                           estimate="" if est is None else est.value, std="" if est is None else est.std,
                           seconds=time.perf_counter() - t0)
                append_row(out, COLUMNS, row)
        print(f"seed {seed} done", flush=True)
    write_markdown(out, Path(args.md), args.n)
    return 0


def write_markdown(csv_path: Path, md_path: Path, n: int) -> None:
    rows = [r for r in read_rows(csv_path, COLUMNS, ints=("n",)) if r["n"] == n and r["estimate"] != ""]
    lines = ["# Coverage of the 95 % intervals", "",
             f"`python benchmarks/coverage.py`: n = {n}, one fresh sample per seed; *coverage* is the share of "
             "seeds whose interval `estimate ± 1.96 std` contains the truth (target ≥ 90 % where the method "
             "is consistent); *calibration* is the std of the estimates over seeds divided by the mean "
             "reported std (1 is honest; above 1 the reported std is too small); *bias* is the mean error.", "",
             "| family | method | seeds | coverage | calibration | bias, nats |", "|---|---|---:|---:|---:|---:|"]
    for fam in FAMILIES:
        for m in METHODS:
            sel = [r for r in rows if r["family"] == fam and r["method"] == m]
            if len(sel) < 2:
                continue
            est = np.array([float(r["estimate"]) for r in sel])
            std = np.array([float(r["std"]) for r in sel])
            truth = float(sel[0]["truth"])
            cov = float(np.mean(np.abs(est - truth) <= 1.96 * std))
            cal = float(est.std(ddof=1) / std.mean())
            lines.append(f"| {fam} | {m} | {len(sel)} | {100 * cov:.0f} % | {cal:.2f} | {est.mean() - truth:+.3f} |")
    md_path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
