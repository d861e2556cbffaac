"""Command line of ibcore: ``ibcore SUBCOMMAND ...``.

Subcommands register themselves in :data:`SUBCOMMANDS` with the :func:`subcommand` decorator:
each is a function ``build(parser)`` that adds its arguments to its own sub-parser and returns
the function that runs it (``run(args) -> int``). A new subcommand (e.g. ``ibcore plane`` for the
information plane) is one more decorated builder; nothing else changes. The options of
``synthetic`` and ``plane`` are those of their settings classes (:mod:`ibcore.cli_options`).

Example::

    ibcore synthetic --dataset gaussians --size 16 --estimators kde-ml,kde-lse,kl,wkl,mine \\
        --compressor ae --grid 0:10:41 --n 5000 --out runs/gaussians16
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Callable

from .cli_options import add_synthetic_options, argument_type, synthetic_fields
from .validation import parse_int, parse_list

__all__ = ["main", "build_parser", "subcommand", "SUBCOMMANDS"]

#: name -> (help text, builder); a builder adds arguments to its sub-parser and returns the runner
SUBCOMMANDS: dict[str, tuple[str, Callable]] = {}


def subcommand(name: str, help: str):
    """Register ``build(parser) -> run(args) -> int`` as the subcommand ``name``."""
    def register(build):
        SUBCOMMANDS[name] = (help, build)
        return build
    return register


@subcommand("synthetic", "Algorithm 1: estimators vs the true MI on synthetic images (figures 3 and 4)")
def _build_synthetic(p: argparse.ArgumentParser):
    from .compression import compressor_names
    from .estimators import estimator_names
    from .synthetic import DATASETS, INPUTS, SweepSettings

    add_synthetic_options(p, SweepSettings(), datasets=DATASETS, estimators=estimator_names(),
                          compressors=compressor_names(none=True), inputs=INPUTS)
    return _run_synthetic


def _run_synthetic(args) -> int:
    from pathlib import Path

    from .executor import parse_scheduler
    from .synthetic import SweepSettings, plot_estimates, run_algorithm1

    settings = SweepSettings(**synthetic_fields(args))
    rows = run_algorithm1(args.out, settings, progress=not args.quiet, scheduler=parse_scheduler(args.scheduler))
    out = Path(args.out)
    print(f"{len(rows)} rows in {out / 'results.csv'}")
    if not args.no_figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for d in args.dataset:
            fig = plot_estimates([r for r in rows if r["dataset"] == d and r["size"] in args.size], dataset=d,
                                 estimators=[e for e in args.estimators])
            path = out / f"{d}.png"
            fig.savefig(path, dpi=120, bbox_inches="tight")
            plt.close(fig)
            print(f"figure: {path}")
    return 0


@subcommand("plane", "information planes of the paper's MNIST classifier during training (Algorithm 2)")
def _build_plane(parser: argparse.ArgumentParser):
    from .plane.experiment import add_plane_arguments

    add_plane_arguments(parser)  # with --seeds and --scheduler
    return _run_plane


def _run_plane(args) -> int:
    """One run (:func:`~ibcore.plane.experiment.run_plane_command`), the seeds of ``--seeds``, or
    one run as a task on ``--scheduler``."""
    import numpy as np

    from .executor import parse_scheduler
    from .plane import PlaneSettings, run_plane_seeds
    from .plane.experiment import run_plane_command
    from .plane.seeds import run_plane_task

    scheduler = parse_scheduler(args.scheduler)
    if args.seeds is None and scheduler is None:
        return run_plane_command(args)
    settings = PlaneSettings.from_args(args)
    progress, figures = not args.no_progress, not args.no_figures
    if args.seeds is None:
        res = run_plane_task(settings, out=args.out, scheduler=scheduler, progress=progress, figures=figures)
        last = res.metrics[-1]
        print(f"[ibcore] {len(res.metrics)} epochs in {args.out}: test accuracy {last['test_accuracy']:.4f}")
        return 0
    res = run_plane_seeds(settings, seeds=args.seeds, out=args.out, scheduler=scheduler, progress=progress,
                          figures=figures)
    accs = [r.metrics[-1]["test_accuracy"] for r in res.runs.values()]
    print(f"[ibcore] {len(res.seeds)} seeds in {res.out}: final test accuracy {np.mean(accs):.4f} ± "
          f"{np.std(accs, ddof=1) if len(accs) > 1 else 0.0:.4f} (mean ± std over seeds)")
    for p in res.phases:
        if p["seeds_with_phase"]:
            print(f"[ibcore]   {p['layer']}: {p['phase']} phase in {p['seeds_with_phase']} of {p['n_seeds']} seeds")
    print(f"[ibcore] tables: {res.out / 'aggregate.csv'}, {res.out / 'phases.csv'}, {res.out / 'phase_segments.csv'}")
    return 0


_CHECKS = ("independence", "data_processing", "additivity")  # ibcore.consistency.CHECKS, without importing it


@subcommand("mi", "mutual information between two arrays in files (.npy, .npz, .csv), auto by default")
def _build_mi(p: argparse.ArgumentParser):
    p.add_argument("x", help="samples of X: .npy, .npz (one array, or --x-key) or .csv (rows = samples)")
    p.add_argument("y", help="samples of Y (same formats and number of rows), or labels with --y-labels")
    p.add_argument("--y-labels", action="store_true", help="read Y as discrete labels (one label per row)")
    p.add_argument("--method", default="auto",
                   help="auto (default), flow, wkl, kl, ksg, kde-ml, kde-lse or mine")
    p.add_argument("--seed", type=argument_type(parse_int, "seed", minimum=0), default=0,
                   help="seed of auto / flow / mine (default 0)")
    p.add_argument("--level", type=float, default=0.95,
                   help="confidence level of the interval and, with --check, family-wise level of the checks "
                        "(default 0.95)")
    p.add_argument("--x-key", default=None, help="array name inside an .npz file of X")
    p.add_argument("--y-key", default=None, help="array name inside an .npz file of Y")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--check", action="store_true",
                   help="also run the self-consistency checks of ibcore.consistency_checks (independence of "
                        "shuffled pairs, data processing, additivity; Song & Ermon, ICLR 2020) with the same method, "
                        "seed and --level, and print their report after the estimate (under \"checks\" with --json); "
                        "exit status 0 when every check passes, 1 when one fails (2 for bad input, as always)")
    p.add_argument("--checks", type=argument_type(parse_list, "check", choices=_CHECKS), default=None,
                   help=f"comma-separated checks to run, implies --check (default all: {','.join(_CHECKS)}); "
                        "with --method auto each check costs 1 to 3 estimates of tens of seconds")
    return _run_mi


def _load_array(path: str, key: str | None, name: str):
    """An array from .npy / .npz / .csv with one-line errors."""
    from pathlib import Path

    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name}: no file {path}")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as data:
                keys = list(data.keys())
                if key is None:
                    if len(keys) != 1:
                        raise ValueError(f"{name}: {path} holds {len(keys)} arrays {keys}; choose one with --{name}-key")
                    key = keys[0]
                if key not in keys:
                    raise ValueError(f"{name}: {path} has no array {key!r}; it has {keys}")
                return data[key]
        if suffix in (".csv", ".txt"):
            with p.open() as fh:
                first = fh.readline().strip().split(",")
            try:
                [float(v) for v in first]
                header = 0
            except ValueError:
                header = 1  # a header row of column names
            arr = np.loadtxt(p, delimiter=",", dtype=float, skiprows=header, ndmin=1)
            if arr.size == 0:
                raise ValueError(f"{name}: {path} holds no numbers")
            return arr
    except (OSError, EOFError) as exc:
        raise ValueError(f"{name}: cannot read {path} ({exc})") from None
    except ValueError as exc:
        if str(exc).startswith(f"{name}:"):
            raise
        raise ValueError(f"{name}: cannot read {path} ({exc})") from None
    raise ValueError(f"{name}: unsupported file type {suffix!r} of {path}; use .npy, .npz or .csv")


def _run_mi(args) -> int:
    import numpy as np

    from . import mutual_information

    x = _load_array(args.x, args.x_key, "x")
    y = _load_array(args.y, args.y_key, "y")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}: the samples must be paired row by row")
    if args.y_labels:
        y = np.asarray(y)
        if y.ndim > 1 and y.shape[1] == 1:
            y = y[:, 0]
        if np.issubdtype(y.dtype, np.floating):
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise ValueError("--y-labels needs integer labels in y")
            y = y.astype(np.int64)
    options = {"discrete_y": True} if args.y_labels else {}
    if args.method in ("auto", "flow", "mine"):
        options["random_state"] = args.seed
    est = mutual_information(x, y, args.method, **options)
    lo, hi = est.ci(args.level)
    details = getattr(est, "details", {"method": args.method})
    out = {"mi": est.value, "std": est.std, "ci": [lo, hi], "level": args.level, "unit": "nats",
           "method": details.get("method", args.method), "unstable": bool(getattr(est, "unstable", False)),
           "details": details, "n": int(len(x))}
    report = None
    if args.check or args.checks:
        from .consistency import consistency_checks

        report = consistency_checks(x, y, args.method, checks=args.checks or _CHECKS, random_state=args.seed,
                                    level=args.level, discrete_y=True if args.y_labels else None, estimate=est)
        out["checks"] = report.to_dict()
    status = 0 if report is None or report.passed else 1
    if args.json:
        print(json.dumps(out, default=float))
        return status
    print(f"I(X;Y) = {est.value:.4f} nats (std {est.std:.4f}; {100 * args.level:g} % interval [{lo:.4f}, {hi:.4f}]; "
          f"n = {len(x)})")
    print(f"method: {out['method']}" + ("  [unstable: the bias diagnostic is large]" if out["unstable"] else ""))
    for side in ("x", "y"):
        rec = details.get(side)
        if isinstance(rec, dict):
            shown = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items())
            print(f"{side}: {shown}")
    if "bias" in details:
        print(f"bias diagnostic: {details['bias']:.4f} nats")
    if report is not None:
        print()
        print(report)
    return status


@subcommand("store", "run the book's experiments at the scale of a parameters file into results/<name>/ (resumable)")
def _build_store(p: argparse.ArgumentParser):
    from .executor import SCHEDULER_HELP
    from .reproduce import PARTS

    p.add_argument("--params", required=True, help="parameters file with synthetic and mnist sections, e.g. params/cpu.yaml")
    p.add_argument("--part", type=argument_type(parse_list, "part", choices=PARTS), default=list(PARTS),
                   help="comma-separated parts: synthetic, mnist (default both)")
    p.add_argument("--out", default=None, help="stored-results folder (default results/<name of the parameters file>)")
    p.add_argument("--seeds", default="0:3", help="seeds of the information-plane runs (default 0:3)")
    p.add_argument("--scheduler", default=None, help=SCHEDULER_HELP)
    p.add_argument("--snapshot-every", type=int, default=None, metavar="K",
                   help="also keep the model weights of every K-th epoch of the plane runs, so that other "
                        "estimators can measure them later (default: only the two audited epochs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return _run_store


def _run_store(args) -> int:
    from .executor import parse_scheduler
    from .reproduce import store

    out = store(args.params, args.part, out=args.out, seeds=args.seeds, scheduler=parse_scheduler(args.scheduler),
                progress=not args.quiet, snapshot_every=args.snapshot_every)
    print(f"[ibcore] stored results and provenance in {out}; check them with `ibcore audit {out}`")
    return 0


@subcommand("audit", "recompute a few stored numbers of results/<name>/ with this code; exit 1 when they differ")
def _build_audit(p: argparse.ArgumentParser):
    from .reproduce import TOLERANCE

    p.add_argument("folders", nargs="+", help="stored-results folders (with provenance.json), e.g. results/cpu")
    p.add_argument("--tolerance", type=float, default=TOLERANCE,
                   help=f"smallest tolerance of a recomputed number, nats (default {TOLERANCE:g}); each number's own "
                        "is larger where rounding moves it more (see ibcore.reproduce.audit)")
    p.add_argument("--json", action="store_true", help="print one JSON object per folder instead of the table")
    return _run_audit


def _run_audit(args) -> int:
    from .reproduce import audit, format_checks

    failed = 0
    for folder in args.folders:
        checks = audit(folder, tolerance=args.tolerance)
        if args.json:
            print(json.dumps({"folder": str(folder), "checks": [dataclasses.asdict(c) for c in checks]}), flush=True)
        else:
            print(f"== {folder}")
            print(format_checks(checks), flush=True)
        failed += sum(not c.ok for c in checks)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ibcore", description="Information Bottleneck analysis via lossy compression.")
    parser.add_argument("--version", action="version", version=f"ibcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, build) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_run=build(p))
    return parser


def main(argv=None) -> int:
    """Entry point of the ``ibcore`` console script. Returns the exit status.

    Errors in the arguments or in the inputs (``ValueError``, ``TypeError``) are reported in one
    line on stderr with exit status 2, without a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        parser.exit(2, f"ibcore {args.command}: error: {exc}\n")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
