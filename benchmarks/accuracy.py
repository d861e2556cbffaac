"""Accuracy of every ibcore MI method, and of peers, on tasks whose MI is known in closed form.

    python benchmarks/accuracy.py                 # n = 5,000, seeds 0 and 1, all tasks and methods
    python benchmarks/accuracy.py --quick         # n = 1,000, seed 0, a few tasks (minutes)
    python benchmarks/accuracy.py --report-only   # rebuild benchmarks/accuracy.md from the CSV

Rows go to ``benchmarks/accuracy.csv`` as they finish (one per task, method and seed); a rerun
skips finished rows, so an interrupted run resumes. ``benchmarks/accuracy.md`` is rewritten from
the CSV at the end. The task families follow the public ``bmi`` benchmark (Czyż et al., NeurIPS
2023): dense and sparse Gaussians up to 50+50 dimensions, Student-t, Gaussians through spiral,
half-cube and normal-CDF maps, high MI; plus Student-t pairs whose sides are uncorrelated (all the
MI is in the shared scale, ``ibcore.synthetic.StudentT``), labels that are a function of X (2 and
10 classes cut at quantiles of one coordinate, truth H(Y)), images rendered injectively from 2-5
latent pairs (one family with a Student-t latent copula) and noisy layers
``L = tanh(W X + σ Z)`` with ``I(X; L) = ½ log det(I + W Wᵀ / σ²)``.

Peers run in the same script on the same samples: scikit-learn's KSG
(``mutual_info_regression``, only where both sides are 1-D), Gaussian-copula CCA (normal scores,
then the Gaussian closed form; Ince et al. 2017) and ibcore's MINE (a reduced budget, see
``--mine-epochs``). A method that does not apply to a task (labels, dimension, cost) is recorded
with an empty estimate and the reason.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
from scipy.special import ndtri
from scipy.stats import ortho_group

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ibcore  # noqa: E402
from ibcore import tables  # noqa: E402
from ibcore.estimators import canonical_mutual_information  # noqa: E402
from ibcore.estimators import estimate_mutual_information as raw_mi  # noqa: E402
from ibcore.estimators.flow import CanonicalPair, normal_scores  # noqa: E402
from ibcore.synthetic import (CorrelatedNormal, CovarianceBumps, GaussianBumps, Rectangles, StudentT,  # noqa: E402
                              image_pair)  # noqa: E402

COLUMNS = ("task", "family", "dims", "truth", "method", "seed", "n", "estimate", "std", "covers", "seconds",
           "note")
METHODS = ("auto", "flow", "wkl", "kl", "ksg", "kde-ml", "kde-lse", "mine", "sklearn-ksg", "gaussian-copula")
PEERS = ("sklearn-ksg", "gaussian-copula", "mine")


# ------------------------------------------------------------------------------ samplers
def _gauss(dx, dy, mi):
    def draw(n, rng):
        return (*CorrelatedNormal(dx, dy, mi).sample(n, random_state=rng), mi)
    return draw


def _sparse(dx, dy, pairs, mi):
    """``pairs`` correlated coordinates hidden among independent ones, mixed by fixed rotations."""
    def draw(n, rng):
        x0, y0 = CorrelatedNormal(pairs, pairs, mi, mixing=False).sample(n, random_state=rng)
        x = np.hstack([x0, rng.standard_normal((n, dx - pairs))])
        y = np.hstack([y0, rng.standard_normal((n, dy - pairs))])
        qx = ortho_group.rvs(dx, random_state=101)
        qy = ortho_group.rvs(dy, random_state=102)
        return x @ qx, y @ qy, mi
    return draw


def _student(dx, dy, nu, rho):
    dist = StudentT(dx, dy, nu, rho)

    def draw(n, rng):
        return (*dist.sample(n, random_state=rng), dist.mutual_information)
    return draw


class _TCopula:
    """A Student-t pair with each coordinate mapped to uniform by its own t CDF: the latents of an
    image family whose copula is not Gaussian (coordinate-wise bijections keep the MI)."""

    marginal = "uniform"

    def __init__(self, dim, nu, rho):
        self.dist = StudentT(dim, dim, nu, rho)
        self.dim_x = self.dim_y = dim
        self.mutual_information = self.dist.mutual_information

    def sample(self, n, random_state=None):
        from scipy.stats import t

        x, y = self.dist.sample(n, random_state=random_state)
        return t.cdf(x, self.dist.nu), t.cdf(y, self.dist.nu)


def _labels(classes, dim=4):
    """Labels cut at the quantiles of the first coordinate of a Gaussian: I(X;Y) = H(Y) = log K."""
    cuts = ndtri(np.arange(1, classes) / classes)

    def draw(n, rng):
        x = rng.standard_normal((n, dim))
        return x, np.searchsorted(cuts, x[:, 0]), math.log(classes)
    return draw


def _half_cube(a):
    return a * np.sqrt(np.abs(a))


def _normal_cdf(a):
    from scipy.special import ndtr
    return ndtr(a)


def _spiral(a, speed=0.5):
    """Rotate the first two coordinates by an angle growing with ||a||²: a diffeomorphism."""
    theta = speed * (a ** 2).sum(axis=1)
    c, s = np.cos(theta), np.sin(theta)
    out = a.copy()
    out[:, 0], out[:, 1] = c * a[:, 0] - s * a[:, 1], s * a[:, 0] + c * a[:, 1]
    return out


def _mapped(dx, dy, mi, fn):
    def draw(n, rng):
        x, y = CorrelatedNormal(dx, dy, mi).sample(n, random_state=rng)
        return fn(x), fn(y), mi
    return draw


def _images(generator, mi):
    """Images of latents with ``mi`` nats: a number (a Gaussian latent pair) or a sampler."""
    def draw(n, rng):
        pair = image_pair(generator, mi, n, random_state=rng)
        return pair.x, pair.y, pair.mutual_information
    draw.generator, draw.latents = generator, mi  # benchmarks/image_codes.py replays the pair with its latents
    return draw


def _layer(d, m, scale, sigma=0.5):
    def draw(n, rng):
        w = np.random.default_rng(7).standard_normal((m, d)) * scale
        x = rng.standard_normal((n, d))
        lay = np.tanh(x @ w.T + sigma * rng.standard_normal((n, m)))
        truth = 0.5 * np.linalg.slogdet(np.eye(m) + w @ w.T / sigma ** 2)[1]
        return x, lay, float(truth)
    return draw


# name -> (family, dims text, sampler)
TASKS = {
    "gauss-1x1": ("gaussian", "1+1", _gauss(1, 1, 0.5)),
    "gauss-2x2": ("gaussian", "2+2", _gauss(2, 2, 1.0)),
    "gauss-5x5": ("gaussian", "5+5", _gauss(5, 5, 2.0)),
    "gauss-25x25": ("gaussian", "25+25", _gauss(25, 25, 1.29)),
    "gauss-50x50": ("gaussian", "50+50", _gauss(50, 50, 1.29)),
    "sparse-10x10": ("gaussian (sparse)", "10+10", _sparse(10, 10, 2, 2.0)),
    "gauss-3x3-high": ("gaussian (high MI)", "3+3", _gauss(3, 3, 10.0)),
    "student-2x2-nu3": ("student-t", "2+2", _student(2, 2, 3.0, 0.0)),
    "student-3x3-nu5": ("student-t", "3+3", _student(3, 3, 5.0, 0.6)),
    "student-4x4-shared": ("student-t (shared scale)", "4+4", _student(4, 4, 3.0, 0.0)),
    "student-10x10-shared": ("student-t (shared scale)", "10+10", _student(10, 10, 3.0, 0.0)),
    "labels-2": ("labels (function of X)", "4 + 2 classes", _labels(2)),
    "labels-10": ("labels (function of X)", "4 + 10 classes", _labels(10)),
    "halfcube-3x3": ("transformed", "3+3", _mapped(3, 3, 1.5, _half_cube)),
    "normalcdf-3x3": ("transformed", "3+3", _mapped(3, 3, 1.5, _normal_cdf)),
    "spiral-3x3": ("transformed", "3+3", _mapped(3, 3, 1.5, _spiral)),
    "bumps16-2": ("image", "16x16, 2+2 latents", _images(GaussianBumps(16), 2.0)),
    "bumps28-5": ("image", "28x28, 2+2 latents", _images(GaussianBumps(28), 5.0)),
    "rect16-4": ("image", "16x16, 4+4 latents", _images(Rectangles(16), 4.0)),
    "covbumps16-10": ("image", "16x16, 5+5 latents", _images(CovarianceBumps(16), 10.0)),
    "covbumps28-10": ("image", "28x28, 5+5 latents", _images(CovarianceBumps(28), 10.0)),
    "tcopula-bumps16": ("image", "16x16, 2+2 latents, t copula", _images(GaussianBumps(16), _TCopula(2, 3.0, 0.95))),
    "layer-3": ("noisy layer", "10+10", _layer(10, 10, 0.25)),
    "layer-8": ("noisy layer", "10+10", _layer(10, 10, 0.7)),
}
QUICK = ("gauss-2x2", "student-2x2-nu3", "halfcube-3x3", "bumps16-2", "layer-3")


# ------------------------------------------------------------------------------ peers
def gaussian_copula(x, y):
    """Ince et al. (2017): normal scores, then the Gaussian MI of the canonical correlations."""
    cp = CanonicalPair().fit(normal_scores(x), normal_scores(y))
    return canonical_mutual_information(np.clip(cp.rho_, 0, 1 - 1e-12)), math.nan


def sklearn_ksg(x, y, seed):
    from sklearn.feature_selection import mutual_info_regression

    return float(mutual_info_regression(x, y[:, 0], n_neighbors=3, random_state=seed)[0]), math.nan


# ------------------------------------------------------------------------------ one row
def _flat(a):
    return a.reshape(len(a), -1)


def run_method(method, x, y, seed, args, cache):
    """(estimate, std, note) of one method; estimate NaN with a reason when it does not apply."""
    image = x.ndim >= 3
    labels = y.ndim == 1 and np.issubdtype(y.dtype, np.integer)
    xf, yf = _flat(x), (y if labels else _flat(y))
    d = xf.shape[1] + (1 if labels else yf.shape[1])
    if method == "auto":
        est = ibcore.mutual_information(x, y, random_state=seed)
        cache["auto"] = est
        sides = [est.details[s].get("code_dim", f"{est.details[s].get('classes')} classes") for s in ("x", "y")]
        note = f"{est.details['method']}; codes {sides[0]}+{sides[1]}"
        canon = est.details.get("canonical_codes")
        if canon:  # auto's pooled canonical encoders: which leading canonical pairs it kept
            k = canon[canon["used"]]["code_dim"]
            pooled = f"{est.details['x']['encoders']} encoders' {sides[0]}+{sides[1]}"
            note = f"{est.details['method']}; codes {k}+{k} (leading canonical pairs of {pooled})"
        return est.value, est.std, note + ("; unstable" if est.unstable else "")
    if labels and method in ("flow", "sklearn-ksg", "gaussian-copula"):
        return math.nan, math.nan, "continuous y only"
    if labels and method in ("wkl", "kl", "kde-ml", "kde-lse", "ksg"):
        try:
            est = raw_mi(xf, y, method, discrete_y=True)
        except ValueError as exc:
            return math.nan, math.nan, f"refused: {str(exc).splitlines()[0][:120]}"
        return est.value, est.std, ""
    if method == "flow":
        if image or d > 2 * 64:
            return math.nan, math.nan, "needs compression (raw images or > 64 dims a side): see auto"
        a = cache.get("auto")
        if a is not None and "flow" in a.details and a.details["x"]["compressor"] == "none" \
                and a.details["y"]["compressor"] == "none":
            # auto ran FlowMI with its defaults on these very arrays (its estimate, or its cross-check)
            return a.details["flow"], a.details["flow_std"], "the same computation as auto"
        est = raw_mi(xf, yf, "flow", random_state=seed)
        return est.value, est.std, ""
    if method in ("kde-ml", "kde-lse") and d > 8:
        return math.nan, math.nan, "not run: KDE beyond 8 joint dimensions (cost, curse of dimension)"
    if method in ("wkl", "kl", "kde-ml", "kde-lse", "ksg"):
        if image and method != "ksg":
            return math.nan, math.nan, "not run on raw images (entropy of a manifold sample is -inf)"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                est = raw_mi(xf, yf, method)
            except ValueError as exc:
                return math.nan, math.nan, f"refused: {str(exc).splitlines()[0][:120]}"
        note = "ManifoldWarning" if any(type(w.message).__name__ == "ManifoldWarning" for w in caught) else ""
        return est.value, est.std, note
    if method == "mine":
        if args.mine_epochs == 0:
            return math.nan, math.nan, "not run (--mine-epochs 0)"
        est = raw_mi(x if image else xf, y if image else yf, "mine", epochs=args.mine_epochs, random_state=seed,
                     progress=False, **({"discrete_y": True} if labels else {}))
        return est.value, est.std, f"{args.mine_epochs} epochs"
    if method == "sklearn-ksg":
        if xf.shape[1] != 1 or yf.shape[1] != 1:
            return math.nan, math.nan, "applies to 1-D x and y only"
        v, s = sklearn_ksg(xf, yf, seed)
        return v, s, ""
    if method == "gaussian-copula":
        try:
            v, s = gaussian_copula(xf, yf)
        except ValueError as exc:  # constant pixels: a singular covariance
            return math.nan, math.nan, f"fails: {str(exc).split(';')[0][:100]}"
        return v, s, ""
    raise ValueError(method)


# ------------------------------------------------------------------------------ table
def read_rows(path: Path) -> list[dict]:
    """The rows of the table, typed (an empty cell is NaN); none when it does not exist yet."""
    if not path.exists():
        return []
    return tables.read_rows(path, COLUMNS, ints=("seed", "n"), floats=("truth", "estimate", "std", "seconds"))


def append_row(path: Path, row: dict) -> None:
    """Append one row (NaN as an empty cell), synced."""
    tables.append_row(path, COLUMNS, row, nan="")


def within(err: float, truth: float) -> bool:
    return abs(err) <= max(0.1, 0.1 * abs(truth))


def _with_shared_times(rows):
    """A flow row that reused auto's computation reports auto's time."""
    auto = {(r["task"], r["seed"], r["n"]): r["seconds"] for r in rows if r["method"] == "auto"}
    return [dict(r, seconds=auto.get((r["task"], r["seed"], r["n"]), r["seconds"]))
            if r["note"] == "the same computation as auto" else r for r in rows]


def summary(rows, methods):
    """Per method: MAE (suite), share within max(0.1, 10 %), MAE on images, coverage, max seconds."""
    out = {}
    for m in methods:
        sel = [r for r in rows if r["method"] == m]
        ran = [r for r in sel if not math.isnan(r["estimate"])]
        if not ran:
            continue
        tasks = sorted({r["task"] for r in sel})
        # per task: mean error over seeds; a task the method does not run counts as missing
        per_task = {}
        for t in tasks:
            errs = [r["estimate"] - r["truth"] for r in ran if r["task"] == t]
            if errs:
                per_task[t] = (float(np.mean(np.abs(errs))), float(np.mean(errs)),
                               next(r["truth"] for r in ran if r["task"] == t))
        img = [v[0] for t, v in per_task.items() if TASKS[t][0] == "image"]
        cov = [r for r in ran if r["covers"] in ("True", True)]
        with_std = [r for r in ran if not math.isnan(r["std"])]
        out[m] = dict(
            tasks_run=len(per_task), tasks=len(tasks),
            mae=float(np.mean([v[0] for v in per_task.values()])),
            within=float(np.mean([within(v[0], v[2]) for v in per_task.values()])),
            mae_images=float(np.mean(img)) if img else math.nan,
            coverage=(len(cov) / len(with_std)) if with_std else math.nan,
            max_seconds=float(max(r["seconds"] for r in ran)),
        )
    return out


def write_markdown(rows, path: Path, n: int, seeds) -> None:
    rows = _with_shared_times(rows)
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    lines = ["# Accuracy against ground truth", "",
             f"`python benchmarks/accuracy.py` on the project's 2-core CPU machine (no GPU): n = {n} per task, "
             f"seeds {', '.join(map(str, seeds))}; all methods on the same samples. Errors are estimate − truth "
             "in nats, averaged over the seeds; `—` means the method does not apply or was not run there "
             "(the CSV says why). The 95 % interval covers the truth in the share of runs given by *coverage*.",
             "", "## Summary", "",
             "| method | tasks run | MAE, nats | within max(0.1, 10 %) | MAE on images | coverage of 95 % CI | max s/task |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    summ = summary(rows, methods)
    for m in methods:
        s = summ.get(m)
        if s is None:
            continue
        fmt = lambda v, f: "—" if math.isnan(v) else format(v, f)  # noqa: E731
        lines.append(f"| {m} | {s['tasks_run']}/{s['tasks']} | {s['mae']:.3f} | {100 * s['within']:.0f} % | "
                     f"{fmt(s['mae_images'], '.3f')} | {fmt(100 * s['coverage'], '.0f')}{'' if math.isnan(s['coverage']) else ' %'} | "
                     f"{s['max_seconds']:.0f} |")
    a = summ.get("auto")
    if a:
        lines += ["", "The project's targets for `auto`: MAE ≤ 0.3 nats over the suite; ≥ 85 % of tasks within "
                  "max(0.1 nats, 10 %); ≤ 1.0 nats MAE on the image tasks; ≤ 120 s per task on 2 CPU cores.", "",
                  "| target | measured | met |", "|---|---:|---|",
                  f"| MAE ≤ 0.3 | {a['mae']:.3f} | {'yes' if a['mae'] <= 0.3 else '**missed**'} |",
                  f"| within ≥ 85 % | {100 * a['within']:.0f} % | {'yes' if a['within'] >= 0.85 else '**missed**'} |",
                  f"| images ≤ 1.0 | {a['mae_images']:.3f} | {'yes' if a['mae_images'] <= 1.0 else '**missed**'} |",
                  f"| ≤ 120 s/task | {a['max_seconds']:.0f} s | {'yes' if a['max_seconds'] <= 120 else '**missed**'} |"]
    lines += ["", "## Per task: mean error (nats) over seeds", "",
              "| task | family | dims | truth | " + " | ".join(methods) + " |",
              "|---|---|---|---:|" + "---:|" * len(methods)]
    for t in tasks:
        fam, dims, _ = TASKS[t]
        truth = next(r["truth"] for r in rows if r["task"] == t)
        cells = []
        for m in methods:
            sel = [r for r in rows if r["task"] == t and r["method"] == m and not math.isnan(r["estimate"])]
            if not sel:
                cells.append("—")
                continue
            err = np.mean([r["estimate"] - r["truth"] for r in sel])
            cov = sum(r["covers"] == "True" for r in sel)
            secs = np.mean([r["seconds"] for r in sel])
            mark = f" ({cov}/{len(sel)} CI)" if not math.isnan(sel[0]["std"]) else ""
            cells.append(f"{err:+.2f}{mark}, {secs:.0f} s")
        lines.append(f"| {t} | {fam} | {dims} | {truth:.3f} | " + " | ".join(cells) + " |")
    missing = {m: [t for t in tasks if not any(r["task"] == t and r["method"] == m for r in rows)] for m in methods}
    missing = {m: ts for m, ts in missing.items() if ts}
    if missing:
        lines += ["", "## Not attempted", "",
                  "Rows that were never run (the run was stopped for its CPU budget); they are not in the "
                  "summary's task counts:", ""]
        lines += [f"* {m}: {', '.join(ts)}" for m, ts in missing.items()]
    notes = sorted({(r["method"], r["note"]) for r in rows if r["note"] and math.isnan(r["estimate"])})
    if notes:
        lines += ["", "## Not applicable or not run", ""] + [f"* {m}: {note}" for m, note in notes]
    auto_rows = [r for r in rows if r["method"] == "auto"]
    if auto_rows:
        lines += ["", "## What `auto` did", ""] + [
            f"* {t}: {next(r['note'] for r in auto_rows if r['task'] == t)}" for t in tasks
            if any(r["task"] == t for r in auto_rows)]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--tasks", default=None, help="comma-separated task names (default: all)")
    p.add_argument("--methods", default=None, help=f"comma-separated (default: {','.join(METHODS)})")
    p.add_argument("--mine-epochs", type=int, default=100, help="MINE budget per task (0: skip MINE)")
    p.add_argument("--out", default=str(HERE / "accuracy.csv"))
    p.add_argument("--md", default=str(HERE / "accuracy.md"))
    p.add_argument("--quick", action="store_true", help="n = 1000, seed 0, five tasks")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no line per finished row")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.seeds = 1000, "0"
        args.tasks = args.tasks or ",".join(QUICK)
    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = args.tasks.split(",") if args.tasks else list(TASKS)
    methods = args.methods.split(",") if args.methods else list(METHODS)
    for t in tasks:
        if t not in TASKS:
            p.error(f"unknown task {t!r}; known: {', '.join(TASKS)}")
    out = Path(args.out)
    if not args.report_only:
        import torch

        torch.set_num_threads(1)
        done = {(r["task"], r["method"], r["seed"], r["n"]) for r in read_rows(out)}
        for seed in seeds:
            for t in tasks:
                fam, dims, draw = TASKS[t]
                x = y = None
                cache = {}
                for m in methods:
                    if (t, m, seed, args.n) in done:
                        continue
                    if x is None:
                        rng = np.random.default_rng([seed, zlib.crc32(t.encode())])
                        x, y, truth = draw(args.n, rng)
                    t0 = time.perf_counter()
                    try:
                        v, s, note = run_method(m, x, y, seed, args, cache)
                    except Exception as exc:  # a failure is a result too: record it, keep going
                        v, s, note = math.nan, math.nan, f"error: {type(exc).__name__}: {str(exc)[:120]}"
                    secs = time.perf_counter() - t0
                    covers = "" if math.isnan(v) or math.isnan(s) else str(abs(v - truth) <= 1.96 * s)
                    row = dict(task=t, family=fam, dims=dims, truth=truth, method=m, seed=seed, n=args.n,
                               estimate=v, std=s, covers=covers, seconds=secs, note=note)
                    append_row(out, row)
                    shown = "—" if math.isnan(v) else f"{v:.3f}"
                    if not args.quiet:
                            print(f"{t:16s} seed {seed} {m:16s} truth {truth:7.3f} est {shown:>8s} {secs:6.1f} s "
                              f"{note}", flush=True)
    rows = [r for r in read_rows(out) if r["n"] == args.n and r["seed"] in seeds and r["task"] in tasks]
    write_markdown(rows, Path(args.md), args.n, seeds)
    if not args.quiet:
        print(f"wrote {args.md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
