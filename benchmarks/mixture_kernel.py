"""Speed, memory and agreement of the mixture-information kernel against direct numpy/scipy code.

``ibcore.plane.mixture_information`` computes ``I(X;T)`` (and ``I(T;Y)``) of a layer observed
through Gaussian noise by Monte Carlo over an ``m``-component mixture. This script evaluates the
same Monte Carlo estimate (the same rows and the same standard normals) three ways, each in a
fresh subprocess so that its peak memory can be read:

* ``ibcore``: the chunked torch kernel (float64 exponents, float32 exponentials);
* ``scipy, blocks``: blocks of 1,000 points, ``scipy.spatial.distance.cdist`` (squared
  Euclidean) against all centres and ``scipy.special.logsumexp``: the vectorised code a careful
  numpy user writes;
* ``numpy, per point``: one point at a time, ``((t - F) ** 2).sum(1)`` and ``logsumexp``: the
  textbook loop (run on a tenth of the points and scaled, see the table).

Run::

    python benchmarks/mixture_kernel.py --out benchmarks/mixture_kernel.md

The ratio is baseline time / ibcore time within one run; the value columns show that all three
compute the same number.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def make_data(m: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    outputs = np.tanh(rng.standard_normal((m, d)) @ rng.standard_normal((d, d)) / math.sqrt(d))
    labels = rng.integers(10, size=m)
    return outputs, labels


def draws(m: int, d: int, samples: int, random_state: int):
    """The rows and standard normals mixture_information draws (same generator, same order)."""
    from ibcore.plane.mixture import _rows

    rng = np.random.default_rng(random_state)
    rows = _rows(m, samples, rng)
    return rows, rng.standard_normal((samples, d))


def baseline_terms(f, rows, z, sigma, labels, block):
    """Pointwise log p(t|x) - log p(t) and log p(t|y) - log p(t), scipy, ``block`` points at a time."""
    from scipy.spatial.distance import cdist
    from scipy.special import logsumexp

    m = len(f)
    classes = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
    counts = np.array([len(c) for c in classes])
    ixt, ity = [], []
    for start in range(0, len(rows), block):
        r = rows[start:start + block]
        zb = z[start:start + block]
        t = f[r] + sigma * zb
        a = -cdist(t, f, "sqeuclidean") / (2 * sigma ** 2) if block > 1 else \
            -((t - f) ** 2).sum(1)[None, :] / (2 * sigma ** 2)
        log_pt = logsumexp(a, axis=1) - math.log(m)
        ixt.append(-0.5 * (zb * zb).sum(1) - log_pt)
        per_class = np.stack([logsumexp(a[:, c], axis=1) for c in classes], 1)
        y = labels[r]
        ity.append(per_class[np.arange(len(r)), y] - np.log(counts[y]) - log_pt)
    return np.concatenate(ixt), np.concatenate(ity)


def worker(args) -> dict:
    """One method in this process; prints a JSON line with time, value and peak memory."""
    import resource

    f, labels = make_data(args.m, args.d, args.seed)
    rows, z = draws(args.m, args.d, args.samples, args.seed)
    if args.method == "ibcore":
        import torch

        from ibcore.plane import mixture_information

        mixture_information(f[:50], args.sigma, labels[:50], samples=100, device="cpu")  # warm-up
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        res = mixture_information(f, args.sigma, labels, samples=args.samples, random_state=args.seed, device="cpu")
        seconds = time.perf_counter() - t0
        ixt, ity = res.ixt.value, res.ity.value
        threads = torch.get_num_threads()
    else:
        block = 1000 if args.method == "scipy-blocks" else 1
        n = args.samples if block > 1 else args.samples // 10
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        ixt_t, ity_t = baseline_terms(f, rows[:n], z[:n], args.sigma, labels, block)
        seconds = (time.perf_counter() - t0) * args.samples / n
        ixt, ity = float(ixt_t.mean()), float(ity_t.mean())
        threads = 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"method": args.method, "seconds": seconds, "ixt": ixt, "ity": ity,
            "memory_mb": max(0, peak - before) / 1024, "threads": threads}


def run(method: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--m", str(args.m), "--d", str(args.d),
           "--samples", str(args.samples), "--sigma", str(args.sigma), "--seed", str(args.seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--m", type=int, default=5000, help="mixture components (evaluation rows)")
    p.add_argument("--d", type=int, default=64, help="layer width")
    p.add_argument("--samples", type=int, default=10_000, help="Monte Carlo points")
    p.add_argument("--sigma", type=float, default=2.0, help="noise standard deviation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="runs of each method; the fastest is kept")
    p.add_argument("--out", help="also write the table to this Markdown file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.method = args.worker
        print(json.dumps(worker(args)))
        return

    import scipy
    import torch

    rows = {}
    for method in ("ibcore", "scipy-blocks", "numpy-per-point"):
        reps = [run(method, args) for _ in range(args.repeats if method != "numpy-per-point" else 1)]
        rows[method] = min(reps, key=lambda r: r["seconds"])
        rows[method]["memory_mb"] = max(r["memory_mb"] for r in reps)
        print(method, rows[method], flush=True)
    ref = rows["ibcore"]
    lines = [
        "# Mixture-information kernel: speed, memory and agreement",
        "",
        f"Output of `python benchmarks/mixture_kernel.py --m {args.m} --d {args.d} --samples {args.samples} "
        f"--sigma {args.sigma} --seed {args.seed}` ({time.strftime('%Y-%m-%d')}).",
        "",
        f"- machine: {platform.machine()}, os.cpu_count() = {os.cpu_count()}, torch threads = {ref['threads']}; "
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, scipy {scipy.__version__}",
        f"- data: m = {args.m} rows of a {args.d}-unit tanh layer (Gaussian inputs through a random "
        f"linear map), 10 random classes; sigma = {args.sigma}; {args.samples} Monte Carlo points, the "
        "same rows and standard normals for every method",
        "- time: the fastest of the runs, each in a fresh process; memory: the peak resident size the "
        "computation added (ru_maxrss after minus before)",
        "- `numpy, per point` ran on a tenth of the points; its time is scaled to all of them and its values are those of the tenth",
        "",
        "| method | I(X;T), nats | I(T;Y), nats | time | ratio to ibcore | added peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    names = {"ibcore": "ibcore (torch, chunked)", "scipy-blocks": "scipy, blocks of 1,000",
             "numpy-per-point": "numpy, per point"}
    for method, r in rows.items():
        lines.append(f"| {names[method]} | {r['ixt']:.6f} | {r['ity']:.6f} | {r['seconds']:.3g} s | "
                     f"{r['seconds'] / ref['seconds']:.1f}× | {r['memory_mb']:.0f} MB |")
    diff = abs(rows["scipy-blocks"]["ixt"] - ref["ixt"]), abs(rows["scipy-blocks"]["ity"] - ref["ity"])
    ratio = rows["scipy-blocks"]["seconds"] / ref["seconds"]
    lines += ["", f"Same value as `scipy, blocks`: |ΔI(X;T)| = {diff[0]:.1e}, |ΔI(T;Y)| = {diff[1]:.1e} nats. "
              f"Target ≥ 10× against the direct evaluation: {ratio:.1f}× against `scipy, blocks` "
              f"({'PASS' if ratio >= 10 else 'FAIL'}), "
              f"{rows['numpy-per-point']['seconds'] / ref['seconds']:.1f}× against `numpy, per point`."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
