"""The paper's MNIST information-plane experiment (its figure 5) and the ``ibcore plane`` command.

:class:`~ibcore.plane.PlaneSettings` holds every option of one run (defaults at the paper's
scale); the command line, the MNIST chapter and the run directory's ``settings.json`` all go
through it. :func:`run_mnist_plane` trains the classifier, tracks its layers and writes the run
directory.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..cli_options import add_plane_options
from ..compression import InputEncoder
from ..device import resolve_device
from ..executor import locks_folder
from ..nn import limit_threads
from ..validation import derived_seed
from .classifier import MNISTClassifier, evaluate, train_epoch
from .data import SOURCES, load_mnist
from .run import PlaneResults, PlaneRun
from .settings import DATASETS, PlaneSettings, plane_estimators
from .tracker import MI_MODES, InformationPlaneTracker, tracker_compressors

__all__ = ["add_plane_arguments", "run_mnist_plane", "run_plane_command", "remeasure", "remeasure_each",
           "load_run_data"]


def add_plane_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``ibcore plane`` (:func:`ibcore.cli_options.add_plane_options`): the fields of
    :class:`PlaneSettings` with its defaults, ``--out``, the display switches, ``--seeds`` and
    ``--scheduler``. Returns ``parser``."""
    return add_plane_options(parser, PlaneSettings(), datasets=DATASETS, sources=SOURCES, mi_modes=MI_MODES,
                             compressors=tracker_compressors(), estimators=plane_estimators())


@locks_folder("out", "ibcore plane")  # a second run into the same directory is refused
def run_mnist_plane(settings: PlaneSettings | dict | None = None, *, out="runs/mnist", progress: bool = True,
                    figures: bool = True, data=None, **options) -> PlaneResults:
    """The paper's MNIST information-plane experiment (its figure 5), resumable, in ``out``.

    Parameters
    ----------
    settings : PlaneSettings or dict, optional
        Every option of the run (:class:`~ibcore.plane.PlaneSettings`; default: the paper's).
    out : path
        Run directory; re-running with the same settings resumes it. It is locked while the run
        writes: a concurrent second run into it raises :class:`~ibcore.executor.FolderInUseError`
        (a ``ValueError``) naming the first run's process.
    progress, figures : bool
        tqdm bar and messages; PNG figures in ``out`` at the end.
    data : MNISTData, optional
        Already loaded data (otherwise :func:`~ibcore.plane.load_mnist` with the settings' source).
    **options
        Fields of :class:`~ibcore.plane.PlaneSettings` replacing those of ``settings``.

    Returns
    -------
    PlaneResults
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    s = PlaneSettings.resolve(settings, **options)
    dev = resolve_device(s.device)
    # BLAS threads too: on a loaded CPU a multi-threaded OpenBLAS SVD of a small layer output is
    # many times slower than a 1-thread one (benchmarks/results.md, notes)
    with limit_threads(s.threads if dev.type == "cpu" else None), threadpool_limits(limits=s.threads):
        if data is None:
            data = load_mnist(s.source, s.data_dir, s.download, n_test=s.n_test, random_state=s.seed, verbose=progress,
                              dataset=s.dataset)
        x_train, y_train, x_test, y_test = data
        if s.n_train is not None:
            x_train, y_train = x_train[:s.n_train], y_train[:s.n_train]
        # what the run actually used is what the directory stores and compares on resume
        s = s.replace(dataset=data.dataset, source=data.source, device=dev.type, n_train=len(y_train))
        context = {"data": data.description, "n_eval": len(y_test)}
        out = Path(out)
        PlaneRun.check_directory(out, s, context)  # refuse a foreign or mismatched directory before any work
        seed = s.seed
        torch.manual_seed(seed)
        model = MNISTClassifier(sigma=s.sigma, noise=s.noise).to(dev)
        optimizer = torch.optim.Adam(model.parameters(), lr=s.lr)
        shuffle = torch.Generator().manual_seed(derived_seed(seed, 5))
        x_codes = None
        if s.mi_mode == "joint":
            x_codes = _mnist_input_codes(out, x_train, x_test, s.x_ae_epochs, seed, dev, progress, data.description)
        tracker = _tracker(s, model, x_test, y_test, x_codes)
        run = PlaneRun(out, s, context=context, model=model, optimizer=optimizer, tracker=tracker,
                       train_epoch=lambda: train_epoch(model, optimizer, x_train, y_train, s.batch_size, shuffle),
                       evaluate=partial(evaluate, model, x_test, y_test),
                       generators={"shuffle": shuffle}, eval_every=s.eval_every, progress=progress,
                       snapshots=s.snapshots)
        if run.epoch and progress:
            print(f"[ibcore] resuming {out} after epoch {run.epoch}")
        results = run.run(s.epochs)
    if figures and results.rows:
        _save_figures(results, out)
    return results


def _tracker(s: PlaneSettings, model, x_test, y_test, x_codes, **overrides) -> InformationPlaneTracker:
    options = dict(x_codes=x_codes, mi_mode=s.mi_mode, noise_sigma=s.sigma if s.mi_mode == "noise" else None,
                   compressor=s.compressor, n_components=s.n_components, method=s.estimator,
                   estimator_options=s.estimator_options, random_state=s.seed)
    if "method" in overrides and "estimator_options" not in overrides:
        options["estimator_options"] = None  # the run's options (k) belong to the run's estimator
    options.update(overrides)
    if options["mi_mode"] != "joint":
        options["x_codes"] = None
    with torch.random.fork_rng(devices=[]):  # the tracker's probe pass must not move the training stream
        return InformationPlaneTracker(model, list(s.layers), x_test, y_test, **options)


def load_run_data(out):
    """The data of a run directory of :func:`run_mnist_plane`, loaded again offline, checked
    against the description the run stored (a ``ValueError`` when it is other data)."""
    from .run import read_run_settings

    stored = read_run_settings(Path(out) / "settings.json")
    s = PlaneSettings.from_dict(stored["settings"])
    data = load_mnist(s.source, s.data_dir, False, n_test=stored["context"]["n_eval"], random_state=s.seed,
                      verbose=False, dataset=s.dataset)
    if data.description != stored["context"]["data"]:
        raise ValueError(f"the data loaded now ({data.description}) is not the run's ({stored['context']['data']})")
    return data


def remeasure_each(out, epoch: int, perturbations, *, data=None, threads: int = 1,
                   tracker_options: dict | None = None) -> list[list[dict]]:
    """Recompute the information-plane rows of one stored epoch of a run directory, once per
    entry of ``perturbations``, with one model and one tracker.

    The model's weights after ``epoch`` come from the run's snapshot (``snapshots`` in its
    settings), the input codes from its ``x_codes.npy``, the evaluation images from the data it
    names (loaded again, offline); then the tracker measures that epoch as the run did. On the
    same kind of CPU the rows equal the stored ones to the last bit; on another instruction set
    the forward pass rounds differently, and each estimate moves by as much as its conditioning
    amplifies that (``perturbations`` measure it). This is what ``ibcore audit`` compares.

    Parameters
    ----------
    out : path
        A run directory of :func:`run_mnist_plane`.
    epoch : int
        An estimated epoch with a snapshot.
    data : MNISTData, optional
        The run's data, already loaded (:func:`load_run_data`).
    threads : int
        torch and BLAS threads.
    perturbations : sequence of callable or None
        Each is applied to every layer's outputs before compression
        (:meth:`InformationPlaneTracker.measure`); ``None``: the epoch as the run measured it.
    tracker_options : dict, optional
        Measure the snapshot another way: these arguments of
        :class:`~ibcore.plane.InformationPlaneTracker` replace the run's (for example
        ``{"mi_mode": "exact", "noise_sigma": 0.5, "sigma_scale": "layer"}``, or another
        ``compressor`` and ``method``).

    Returns
    -------
    list of list of dict
        Per perturbation, one row per layer with ``epoch``, ``layer`` and the estimate columns of
        :data:`~ibcore.plane.PLANE_COLUMNS` (``ixl``, ``ixl_std``, ``ily``, ``ily_std``, ...), nats.
    """
    from threadpoolctl import threadpool_limits

    from .run import read_run_settings, snapshot_path

    out = Path(out)
    stored = read_run_settings(out / "settings.json")
    s = PlaneSettings.from_dict(stored["settings"])
    path = snapshot_path(out, epoch)
    if not path.is_file():
        raise ValueError(f"{out} keeps no model weights for epoch {epoch} (snapshots: {list(s.snapshots)}); "
                         f"rerun with snapshots including {epoch}")
    with limit_threads(threads), threadpool_limits(limits=threads):
        if data is None:
            data = load_run_data(out)
        _, _, x_test, y_test = data
        model = MNISTClassifier(sigma=s.sigma, noise=s.noise)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        x_codes = np.load(out / "x_codes.npy") if s.mi_mode == "joint" else None
        tracker = _tracker(s.replace(device="cpu"), model, x_test, y_test, x_codes, **(tracker_options or {}))
        return [[{"epoch": int(epoch), **p.row(tracker.level)} for p in tracker.measure(epoch, perturb=f)]
                for f in perturbations]


def remeasure(out, epoch: int, *, data=None, threads: int = 1, perturb=None,
              tracker_options: dict | None = None) -> list[dict]:
    """The rows of :func:`remeasure_each` for one measurement (``perturb``: applied to every
    layer's outputs before compression, or ``None``; ``tracker_options``: as there)."""
    return remeasure_each(out, epoch, [perturb], data=data, threads=threads, tracker_options=tracker_options)[0]


def measure_snapshots(out, name: str, tracker_options: dict, *, epochs=None, threads: int = 1,
                      progress: bool = True) -> list[dict]:
    """Measure every kept snapshot of a run directory another way, into ``<out>/<name>.csv``.

    Training and measurement are decoupled: a run that kept its model weights (``snapshots``)
    can be measured later by any tracker setting, for example the exact information of each
    layer observed through noise (``{"mi_mode": "exact", "noise_sigma": {...}}``) or the default
    estimator (``{"compressor": "auto", "method": "auto", "x_codes": None}``). Rows have the
    columns of :data:`~ibcore.plane.PLANE_COLUMNS` (training columns empty) plus
    ``seconds_estimate``; the table is rewritten after every epoch, and a rerun skips the epochs
    it holds (resumable). The options are stored beside it in ``<name>.json``; a rerun with other
    options is refused.

    Parameters
    ----------
    out : path
        A run directory of :func:`run_mnist_plane` with snapshots.
    name : str
        Name of the table (letters, digits, ``-`` and ``_``).
    tracker_options : dict
        Arguments of :class:`~ibcore.plane.InformationPlaneTracker` replacing the run's (as in
        :func:`remeasure_each`); must be JSON-serialisable.
    epochs : iterable of int, optional
        Default: every snapshot the run kept.
    threads : int
    progress : bool

    Returns
    -------
    list of dict
        All rows of the table.
    """
    import re
    import time

    from tqdm.auto import tqdm

    from ..tables import write_table
    from .run import PLANE_COLUMNS, read_run_settings, read_table

    out = Path(out)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"name must be letters, digits, '-' or '_', got {name!r}")
    stored = read_run_settings(out / "settings.json")
    s = PlaneSettings.from_dict(stored["settings"])
    kept = sorted(int(e) for e in s.snapshots)
    wanted = kept if epochs is None else sorted({int(e) for e in epochs})
    missing = [e for e in wanted if e not in kept]
    if missing:
        raise ValueError(f"{out} keeps no weights for epochs {missing[:5]}; kept: {kept[:5]}...")
    meta_path, table = out / f"{name}.json", out / f"{name}.csv"
    meta = {"tracker_options": tracker_options, "format": "ibcore-remeasured/1"}
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old != meta:
            raise ValueError(f"{meta_path} holds other options ({old['tracker_options']}); use another name")
    else:
        meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    rows = read_table(table, PLANE_COLUMNS) if table.exists() else []
    done = {int(r["epoch"]) for r in rows}
    data = load_run_data(out)
    for epoch in tqdm([e for e in wanted if e not in done], desc=f"{out.name}: {name}", disable=not progress,
                      leave=False):
        t0 = time.perf_counter()
        new = remeasure(out, epoch, data=data, threads=threads, tracker_options=tracker_options)
        seconds = time.perf_counter() - t0
        blank = {"train_loss": math.nan, "test_loss": math.nan, "test_accuracy": math.nan, "roc_auc": math.nan,
                 "seconds_train": math.nan}
        rows += [{**blank, **r, "seconds_estimate": seconds / len(new)} for r in new]
        rows.sort(key=lambda r: int(r["epoch"]))
        write_table(table, PLANE_COLUMNS, rows)
    return rows


def _mnist_input_codes(out: Path, x_train, x_test, epochs, seed, dev, progress, description) -> np.ndarray:
    """C_X of the evaluation images from a conv AE trained once on the training images (cached)."""
    out.mkdir(parents=True, exist_ok=True)
    codes_path = out / "x_codes.npy"
    meta_path = out / "x_codes.json"
    meta = {"data": description, "epochs": epochs, "seed": seed, "n_eval": len(x_test)}
    if codes_path.exists() and meta_path.exists():
        try:
            if json.loads(meta_path.read_text()) == meta:
                codes = np.load(codes_path)
                if codes.shape[0] == len(x_test) and np.isfinite(codes).all():
                    return codes
        except (OSError, ValueError):
            pass
        raise ValueError(f"the cached input codes in {out} are corrupt or belong to other settings; "
                         "delete x_codes.npy / x_codes.json or the run directory")
    if progress:
        print(f"[ibcore] training the input conv autoencoder (latent 4, up to {epochs} epochs) on "
              f"{len(x_train)} images; cached in {out}")
    enc = InputEncoder(4, epochs=epochs, batch_size=128, lr=1e-3, random_state=seed, device=dev, progress=progress,
                       input_noise=0.0).fit(x_train)
    enc.save(out / "x_encoder.pt")
    codes = enc.transform(x_test)
    np.save(codes_path.with_name("x_codes.tmp.npy"), codes)
    os.replace(codes_path.with_name("x_codes.tmp.npy"), codes_path)
    meta_path.write_text(json.dumps(meta))
    return codes


def _save_figures(results: PlaneResults, out: Path) -> None:
    import matplotlib

    from .plots import plot_information_planes, plot_training_curves

    with contextlib.suppress(Exception):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = plot_information_planes(results)
    fig.savefig(out / "information_planes.png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    fig = plot_training_curves(results)
    fig.savefig(out / "training_curves.png", dpi=130, bbox_inches="tight")
    plt.close(fig)


def run_plane_command(args: argparse.Namespace) -> int:
    """Run ``ibcore plane`` from parsed :func:`add_plane_arguments` options; returns 0.

    Prints which data is in use, the timing split per epoch and where the tables and figures are.
    Bad options raise ``ValueError`` with a message.
    """
    res = run_mnist_plane(PlaneSettings.from_args(args), out=args.out, progress=not args.no_progress,
                          figures=not args.no_figures)
    m = res.metric_columns()
    est = m["seconds_estimate"][m["seconds_estimate"] > 0]
    last = res.metrics[-1]
    print(f"[ibcore] {len(res.metrics)} epochs in {args.out}: test accuracy {last['test_accuracy']:.4f}, "
          f"test loss {last['test_loss']:.4f} nats, ROC-AUC {last['roc_auc']:.4f}")
    print(f"[ibcore] per epoch: training {np.mean(m['seconds_train']):.2f} s, metrics {np.mean(m['seconds_metrics']):.2f} s, "
          f"estimation {np.mean(est) if est.size else float('nan'):.2f} s (mean over the epochs of this directory)")
    print(f"[ibcore] tables: {Path(args.out) / 'information_plane.csv'}, {Path(args.out) / 'metrics.csv'}")
    return 0
