"""Command line of ibcore: ``ibcore SUBCOMMAND ...``.

Subcommands register themselves in :data:`SUBCOMMANDS` with the :func:`subcommand` decorator:
each is a function ``build(parser)`` that adds its arguments to its own sub-parser and returns
the function that runs it (``run(args) -> int``). A new subcommand (e.g. ``ibcore plane`` for the
information plane) is one more decorated builder; nothing else changes.

Example::

    ibcore synthetic --dataset gaussians --size 16 --estimators kde-ml,kde-lse,kl,wkl,mine \\
        --compressor ae --grid 0:10:41 --n 5000 --out runs/gaussians16
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

__all__ = ["main", "build_parser", "subcommand", "SUBCOMMANDS"]

#: name -> (help text, builder); a builder adds arguments to its sub-parser and returns the runner
SUBCOMMANDS: dict[str, tuple[str, Callable]] = {}


def subcommand(name: str, help: str):
    """Register ``build(parser) -> run(args) -> int`` as the subcommand ``name``."""
    def register(build):
        SUBCOMMANDS[name] = (help, build)
        return build
    return register


def _csv_list(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def _int_list(text: str) -> list[int]:
    try:
        return [int(t) for t in _csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _choices(allowed, what):
    def parse(text):
        items = _csv_list(text)
        bad = [t for t in items if t not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {what} {bad[0]!r}; choose from {', '.join(allowed)}")
        return items
    return parse


@subcommand("synthetic", "Algorithm 1: estimators vs the true MI on synthetic images (figures 3 and 4)")
def _build_synthetic(p: argparse.ArgumentParser):
    from .synthetic import COMPRESSORS, DATASETS, ESTIMATORS, INPUTS

    p.add_argument("--dataset", type=_choices(tuple(DATASETS), "dataset"), default=["gaussians"],
                   help=f"comma-separated datasets: {', '.join(DATASETS)} (default gaussians)")
    p.add_argument("--size", type=_int_list, default=[16],
                   help="comma-separated image sides, e.g. 16,32 (antipca: ambient dimension, 32)")
    p.add_argument("--estimators", type=_choices(ESTIMATORS, "estimator"), default=["kl", "wkl"],
                   help=f"comma-separated: {', '.join(ESTIMATORS)} (default kl,wkl)")
    p.add_argument("--compressor", type=_choices(COMPRESSORS, "compressor"), default=["ae"],
                   help="comma-separated: ae, pca, none (none = estimators on raw images); default ae")
    p.add_argument("--grid", default=None,
                   help="true MI values, nats: start:stop:num or a list (default 0:10:41; antipca 0:4:41)")
    p.add_argument("--n", type=_positive_int, default=5000, help="sample pairs per MI value (default 5000)")
    p.add_argument("--out", required=True, help="output directory (CSV, figure, cached compressors)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="master seed (default 0)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--ae-epochs", type=_positive_int, default=None, help="autoencoder epoch budget")
    p.add_argument("--ae-patience", type=_positive_int, default=None, help="autoencoder early-stopping patience")
    p.add_argument("--mine-epochs", type=_positive_int, default=None, help="MINE epoch budget (default 1000)")
    p.add_argument("--mine-inputs", type=_choices(INPUTS, "MINE input"), default=["raw"],
                   help="inputs of MINE: raw, latent, compressed (default raw)")
    p.add_argument("--train-size", type=_positive_int, default=6000,
                   help="marginal images to train each compressor (default 6000)")
    p.add_argument("--val-size", type=_nonneg_int, default=1000, help="validation images (default 1000)")
    p.add_argument("--noise-std", type=float, default=0.0,
                   help="std of Gaussian noise added to the images (default 0; >0 gives PCA bounds)")
    p.add_argument("--no-latent", action="store_true", help="skip the estimates on the latent parameters")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="torch CPU threads while training networks (default 1)")
    p.add_argument("--no-figure", action="store_true", help="do not draw the PNG figure")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return _run_synthetic


def _run_synthetic(args) -> int:
    from pathlib import Path

    from .synthetic import SweepSettings, plot_estimates, run_algorithm1

    ae = {}
    if args.ae_epochs is not None:
        ae["epochs"] = args.ae_epochs
    if args.ae_patience is not None:
        ae["patience"] = args.ae_patience
    mine = {"epochs": args.mine_epochs} if args.mine_epochs is not None else {}
    settings = SweepSettings(
        datasets=args.dataset, sizes=args.size, estimators=args.estimators, compressors=args.compressor,
        grid=args.grid, n=args.n, seed=args.seed, latent=not args.no_latent, mine_inputs=args.mine_inputs,
        train_size=args.train_size, val_size=args.val_size, noise_std=args.noise_std, ae_options=ae,
        mine_options=mine, device=args.device, threads=args.threads)
    rows = run_algorithm1(args.out, settings, progress=not args.quiet)
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
def _plane(parser: argparse.ArgumentParser):
    from .plane.experiment import add_plane_arguments, run_plane_command

    add_plane_arguments(parser)
    return run_plane_command


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
