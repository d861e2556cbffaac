"""Make the stored results of ``results/<params-name>/``: the book's experiments at a named scale.

``ibcore store --params params/cpu.yaml`` runs, with the ``synthetic`` and ``mnist`` sections of
that file (the chapters' parameter names, so the same file also runs the book at that scale):

* **synthetic**: figures 3 and 4 (:func:`ibcore.synthetic.run_figure_sweep` on Gaussian bumps and
  rectangles, every estimator at its own sample size and grid) into ``synthetic/``: the results
  CSV, its settings and the trained autoencoders (the checkpoints an audit reuses);
* **mnist**: the information-plane experiment over several seeds
  (:func:`ibcore.plane.run_plane_seeds`) into ``mnist/``: one run directory per seed with the
  model weights of the audited epochs, the aggregate over seeds and the phase frequencies.

Both runs resume (rerun the same command after an interruption), and ``provenance.json`` records
per part the commit, package versions, device, seconds, the parameters and their hash, and which
cells and epochs the audit (:mod:`ibcore.reproduce.audit`) recomputes.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..device import resolve_device
from ..validation import check_int
from .provenance import PROVENANCE_NAME, code_state, environment, params_hash, read_section

__all__ = ["store", "plane_settings", "snapshot_epochs", "PARTS", "FORMAT"]

PARTS = ("synthetic", "mnist")
FORMAT = "ibcore-stored-results/1"
#: the datasets of figures 3 and 4
FIGURE_DATASETS = ("gaussians", "rectangles")


_PLANE_KEYS = ("dataset", "source", "data_dir", "n_train", "n_test", "epochs", "eval_every", "lr", "batch_size",
               "noise", "sigma", "mi_mode", "estimator", "k", "x_ae_epochs", "device", "threads", "seed")


def plane_settings(section: dict):
    """The :class:`~ibcore.plane.PlaneSettings` of the MNIST chapter's parameters."""
    from ..plane import PlaneSettings

    return PlaneSettings(**{k: section[k] for k in _PLANE_KEYS if k in section})


def _audit_cells(rows, datasets, sizes) -> list[dict]:
    """Two cells for the audit: weighted KL on autoencoder codes of the first dataset at the
    smallest size, and 1-NN KL on PCA codes of the last dataset at the largest size (PCA is
    refitted, the autoencoder loaded), each at the MI value nearest 5 nats."""
    from ..synthetic.table import cell_key

    wanted = [(datasets[0], min(sizes), "wkl", "ae"), (datasets[-1], max(sizes), "kl", "pca")]
    cells = []
    for d, s, e, c in wanted:
        cands = [r for r in rows if (r["dataset"], r["size"], r["estimator"], r["input"], r["compressor"])
                 == (d, s, e, "compressed", c)]
        if cands:
            r = min(cands, key=lambda r: (abs(r["true_mi"] - 5.0), r["true_mi"]))
            key = cell_key(r)
            cells.append(dict(zip(("dataset", "size", "estimator", "input", "compressor", "true_mi", "n", "seed",
                                   "noise_std"), key)))
    return cells


def _store_synthetic(section, out: Path, scheduler, progress) -> dict:
    from ..synthetic import figure_settings, parse_grid, run_figure_sweep

    common, scale = figure_settings(section)
    estimators, pca_estimators = section.get("estimators", ["kl", "wkl"]), section.get("pca_estimators", [])
    rows = []
    for dataset in FIGURE_DATASETS:
        rows += run_figure_sweep(out, common, dataset, estimators=estimators, pca_estimators=pca_estimators,
                                 flow_estimators=section.get("flow_estimators", []), scale=scale,
                                 progress=progress, scheduler=scheduler)
    return {"settings": common.to_dict(), "scale": {e: [n, list(map(float, parse_grid(g)))] for e, (n, g) in scale.items()},
            "datasets": list(FIGURE_DATASETS), "cells": len(rows),
            "audit": _audit_cells(rows, FIGURE_DATASETS, common.sizes)}


def snapshot_epochs(epochs: int, eval_every: int, every: int | None = None) -> tuple:
    """Epochs whose model weights a stored run keeps: the first and the last estimated epoch (the
    audit's) and, with ``every``, each estimated epoch that is a multiple of ``every`` (so that
    other estimators can measure the same run later, :func:`ibcore.plane.remeasure`)."""
    first, last = eval_every, epochs - epochs % eval_every
    kept = {first, last}
    if every is not None:
        every = check_int(every, "snapshot_every", 1)
        kept |= {e for e in range(every, epochs + 1, every) if e % eval_every == 0}
    return tuple(sorted(kept))


def _store_mnist(section, out: Path, seeds, scheduler, progress, snapshot_every=None) -> dict:
    from ..plane import parse_seeds, run_plane_seeds

    s = plane_settings(section)
    snapshots = snapshot_epochs(s.epochs, s.eval_every, snapshot_every)
    s = s.replace(snapshots=snapshots)
    seeds = parse_seeds(seeds)
    res = run_plane_seeds(s, seeds=seeds, out=out, scheduler=scheduler, progress=progress, figures=False)
    return {"settings": s.to_dict(), "seeds": seeds, "snapshot_every": snapshot_every,
            "final_test_accuracy": {str(k): r.metrics[-1]["test_accuracy"] for k, r in res.runs.items()},
            "audit": [{"seed": seeds[0], "epoch": e} for e in (snapshots[0], snapshots[-1])]}


def store(params_file, parts=PARTS, *, out=None, seeds="0:3", scheduler=None, progress: bool = True,
          snapshot_every: int | None = None) -> Path:
    """Run the experiments of ``params_file`` into ``out`` (default ``results/<stem>``) and record
    their provenance; resumable.

    Parameters
    ----------
    params_file : path
        A parameters file of the book (``params/<name>.yaml``) with ``synthetic`` and ``mnist``
        sections.
    parts : sequence of {"synthetic", "mnist"}
    out : path, optional
        The stored-results folder (default ``results/<name>`` next to the working directory).
    seeds : str or sequence of int
        Seeds of the information-plane runs (:func:`ibcore.plane.parse_seeds`).
    scheduler
        Dask scheduler of both parts (:func:`ibcore.executor.dask_client`); ``None``: in process.
    progress : bool
    snapshot_every : int, optional
        Also keep the model weights of every ``snapshot_every``-th epoch of the information-plane
        runs (:func:`snapshot_epochs`); by default only those of the two audited epochs.

    Returns
    -------
    Path
        The folder.
    """
    params_file = Path(params_file)
    parts = [parts] if isinstance(parts, str) else list(parts)
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ValueError(f"parts must be among {PARTS}, got {parts}")
    out = Path(out) if out is not None else Path("results") / params_file.stem
    out.mkdir(parents=True, exist_ok=True)
    path = out / PROVENANCE_NAME

    def current() -> dict:  # read again before each write: the two parts may run in two processes
        return json.loads(path.read_text()) if path.is_file() else {"format": FORMAT, "parts": {}}

    for part in parts:
        section = read_section(params_file, part)
        before = current()["parts"].get(part, {})
        if before and before.get("params_hash") != params_hash(section):
            raise ValueError(f"{out / part} was made with other {part} parameters than {params_file} holds now; "
                             "delete that folder to remake it")
        code = code_state()  # the code that runs, before anything can change it
        t0 = time.perf_counter()
        if part == "synthetic":
            made = _store_synthetic(section, out / part, scheduler, progress)
        else:
            made = _store_mnist(section, out / part, seeds, scheduler, progress, snapshot_every)
        seconds = time.perf_counter() - t0
        entry = {"section": section, "params_hash": params_hash(section), **made, **code,
                 **environment(resolve_device(made["settings"]["device"]).type),
                 "seconds": round(before.get("seconds", 0.0) + seconds, 1),
                 "invocations": before.get("invocations", 0) + 1}
        prov = current()
        prov["params_file"] = params_file.as_posix()
        prov["parts"][part] = entry
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(prov, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    return out
