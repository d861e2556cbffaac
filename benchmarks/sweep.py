"""Time one fixed Algorithm 1 sweep serially and on a local Dask cluster; print the speed-up.

The sweep (fixed unless options change it): Gaussian bumps at 16 x 16, n = 2,000 pairs per MI
value, the paper's 41 MI values from 0 to 10 nats, the estimators kl, wkl and kde-ml on the latent
parameters, on PCA codes and on the codes of a convolutional autoencoder (trained once on
2,000 + 500 marginal images, up to 20 epochs): 369 cells and one autoencoder. Both runs start
from an empty folder (the autoencoder is trained in each) and use one thread per task (the
default ``threads=1``), so the serial run uses one core and the cluster one per worker.

* serial: ``run_algorithm1(out, scheduler=None)``;
* cluster: ``run_algorithm1(out, scheduler=W)``, a ``LocalCluster`` of ``W`` single-threaded
  worker processes (default 2), timed from before the cluster starts to after it is closed, so
  its start-up (the workers import torch) counts against it.

The script checks that both runs wrote the same rows (every column but ``seconds``) and prints
both wall times and their ratio, serial / cluster (the project's target: >= 1.6 with 2 workers on
2 cores). The ratio means something only on an otherwise idle machine: the header shows the
load average before and after, and the *parallel capacity* the machine offers right then (two
copies of a CPU-bound numpy job run side by side: 2.0 when two cores are free; less when other
work competes, e.g. under Linux's per-session CPU sharing, ``sched_autogroup``).

Usage::

    python benchmarks/sweep.py                 # the fixed sweep, 2 workers
    python benchmarks/sweep.py --workers 4 --grid 0:10:21
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import sys
import tempfile
import time


def _values(rows) -> dict:
    from ibcore.synthetic.table import cell_key

    return {cell_key(r): tuple("nan" if isinstance(v, float) and math.isnan(v) else v
                               for k, v in r.items() if k != "seconds") for r in rows}


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def _spin(seconds_hint: float = 1.0) -> float:
    """Wall time of a fixed CPU-bound numpy job (about ``seconds_hint`` s on a free core)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random(200_000)
    t0 = time.perf_counter()
    for _ in range(int(300 * seconds_hint)):
        np.sort(a)
    return time.perf_counter() - t0


def parallel_capacity() -> tuple[float, float, float]:
    """(one alone, two at once (mean), cores' worth of capacity = 2 x alone / together): how much
    two processes gain from running side by side on this machine right now."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_spin, [0.1, 0.1])  # start-up outside the timing
        alone = pool.apply(_spin)
        both = pool.map(_spin, [1.0, 1.0])
    together = sum(both) / 2
    return alone, together, 2 * alone / together


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    p.add_argument("--n", type=int, default=2000, help="sample pairs per MI value (default 2000)")
    p.add_argument("--grid", default="0:10:41", help="MI values, nats (default 0:10:41, the paper's)")
    p.add_argument("--estimators", default="kl,wkl,kde-ml", help="comma-separated (default kl,wkl,kde-ml)")
    p.add_argument("--compressors", default="pca,ae", help="comma-separated (default pca,ae)")
    p.add_argument("--ae-epochs", type=int, default=20, help="autoencoder epoch budget (default 20)")
    p.add_argument("--out", default=None, help="folder for the two runs (default: a temporary one, removed)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from ibcore.synthetic import SweepSettings, plan_cells, run_algorithm1

    settings = SweepSettings(datasets=["gaussians"], sizes=[16], estimators=args.estimators.split(","),
                             compressors=args.compressors.split(","), grid=args.grid, n=args.n,
                             train_size=2000, val_size=500, ae_options={"epochs": args.ae_epochs, "patience": 5},
                             device="cpu", threads=1)
    root = args.out or tempfile.mkdtemp(prefix="ibcore-sweep-bench-")
    serial_dir, cluster_dir = os.path.join(root, "serial"), os.path.join(root, f"cluster-{args.workers}")
    for d in (serial_dir, cluster_dir):
        shutil.rmtree(d, ignore_errors=True)
    import distributed
    import torch

    import ibcore

    print(f"- machine: {platform.machine()}, os.cpu_count() = {os.cpu_count()}, load average (1/5/15 min) "
          f"before: {_load()}")
    print(f"- versions: python {platform.python_version()}, ibcore {ibcore.__version__}, torch {torch.__version__}, "
          f"distributed {distributed.__version__}")
    alone, together, capacity = parallel_capacity()
    print(f"- parallel capacity now: a CPU-bound job took {alone:.2f} s alone and {together:.2f} s with a second "
          f"copy beside it: {capacity:.2f} cores' worth (2.0 on an idle 2-core machine; the ratio below "
          "cannot exceed it)")
    print(f"- sweep: {len(plan_cells(settings))} cells (gaussians 16x16, n = {settings.n}, grid {args.grid}, "
          f"estimators {args.estimators}, compressors {args.compressors}, autoencoder up to {args.ae_epochs} epochs), "
          "one thread per task", flush=True)
    t0 = time.perf_counter()
    serial = run_algorithm1(serial_dir, settings, progress=False)
    t_serial = time.perf_counter() - t0
    print(f"- serial: {t_serial:.1f} s", flush=True)
    t0 = time.perf_counter()
    cluster = run_algorithm1(cluster_dir, settings, progress=False, scheduler=args.workers)
    t_cluster = time.perf_counter() - t0
    print(f"- LocalCluster of {args.workers} workers: {t_cluster:.1f} s (cluster start-up and close included)")
    a, b = _values(serial), _values(cluster)
    same = a == b and len(serial) == len(cluster)
    print(f"- identical rows (all columns but seconds): {'yes' if same else 'NO'}; "
          f"load average after: {_load()}")
    if not same:
        from ibcore.synthetic import COLUMNS

        names = [c for c in COLUMNS if c != "seconds"]
        for key in sorted(set(a) | set(b), key=str)[:400]:
            if a.get(key) != b.get(key):
                diff = {n: (u, v) for n, u, v in zip(names, a.get(key, ()), b.get(key, ())) if u != v}
                print(f"  differs: {key[2:6]} {diff or 'missing on one side'}")
        print(f"  (both tables kept in {root})")
    ratio = t_serial / t_cluster
    target = 1.6 if args.workers == 2 else None
    verdict = "" if target is None else f" (target >= {target}: {'PASS' if ratio >= target else 'FAIL'})"
    print(f"RATIO serial / {args.workers} workers: {ratio:.2f}x{verdict}")
    if args.out is None and same:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
