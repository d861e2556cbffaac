"""A training run with information-plane tracking, streamed to a directory and resumable.

:class:`PlaneRun` trains and tracks, writing ``information_plane.csv`` (one row per estimated
epoch and layer, :data:`PLANE_COLUMNS`), ``metrics.csv`` (one row per epoch,
:data:`METRIC_COLUMNS`), ``checkpoint.pt`` (model, optimizer, RNG states) and ``settings.json``
after every epoch. Re-running with the same settings resumes after the last finished epoch; on
the CPU with the same seed (and the same number of torch threads) the tables are identical to
those of an uninterrupted run. :func:`read_results` loads a run directory as :class:`PlaneResults`.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..executor import LOCK_NAME
from ..settings import Settings
from ..tables import read_rows, write_table
from ..validation import check_int, derived_seed
from .noise import noise_seed
from .tracker import InformationPlaneTracker

__all__ = ["PlaneRun", "PlaneResults", "read_results", "read_remeasured", "snapshot_path", "PLANE_COLUMNS", "METRIC_COLUMNS", "TIME_COLUMNS"]

#: columns of information_plane.csv (one row per estimated epoch and layer)
PLANE_COLUMNS = (
    "epoch", "layer", "dim", "n_components", "ixl", "ixl_std", "ixl_low", "ixl_high", "ixl_kind",
    "ily", "ily_std", "ily_low", "ily_high", "id_layer", "id_code", "manifold", "train_loss", "test_loss",
    "test_accuracy", "roc_auc", "seconds_train", "seconds_estimate",
)
#: columns of metrics.csv (one row per epoch)
METRIC_COLUMNS = (
    "epoch", "train_loss", "test_loss", "test_accuracy", "roc_auc", "seconds_train", "seconds_metrics",
    "seconds_estimate",
)
#: columns that hold wall-clock times (the only ones that differ between identical runs)
TIME_COLUMNS = ("seconds_train", "seconds_metrics", "seconds_estimate")
_TEXT_COLUMNS = ("layer", "ixl_kind", "manifold")
_INT_COLUMNS = ("epoch", "dim", "n_components")
_FORMAT = "ibcore-information-plane/2"  # 2: intrinsic-dimension and manifold columns


def read_table(path: Path, columns) -> list[dict]:
    """Rows (dicts, typed) of a run table written with these ``columns`` (by
    :func:`ibcore.tables.write_table`); a ``ValueError`` naming the file when it is truncated or
    another table."""
    try:
        return read_rows(path, columns, ints=[c for c in columns if c in _INT_COLUMNS],
                         floats=[c for c in columns if c not in _INT_COLUMNS + _TEXT_COLUMNS])
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is truncated or not an ibcore results table ({exc}); "
                         "delete the run directory or choose another one") from None


class PlaneResults:
    """The tables of a run: ``rows`` of information_plane.csv and ``metrics`` rows of metrics.csv.

    ``layer(name)`` and ``metric_columns()`` return dicts of numpy arrays, one per column.
    """

    def __init__(self, rows: list[dict], metrics: list[dict], settings: dict | None = None):
        self.rows = list(rows)
        self.metrics = list(metrics)
        self.settings = dict(settings or {})

    @property
    def layers(self) -> list[str]:
        seen = []
        for r in self.rows:
            if r["layer"] not in seen:
                seen.append(r["layer"])
        return seen

    def layer(self, name: str) -> dict:
        sel = [r for r in self.rows if r["layer"] == name]
        if not sel:
            raise ValueError(f"no results for layer {name!r}; layers: {self.layers}")
        return {c: np.array([r[c] for r in sel]) for c in PLANE_COLUMNS}

    def metric_columns(self) -> dict:
        return {c: np.array([r[c] for r in self.metrics], dtype=float) for c in METRIC_COLUMNS}


def snapshot_path(out_dir, epoch: int) -> Path:
    """The file of the model weights kept after ``epoch`` in a run directory."""
    return Path(out_dir) / "snapshots" / f"model-epoch-{int(epoch)}.pt"


def read_results(out_dir) -> PlaneResults:
    """Load the tables (and settings) of a run directory written by :class:`PlaneRun`."""
    out = Path(out_dir)
    settings = read_run_settings(out / "settings.json") if (out / "settings.json").exists() else {}
    return PlaneResults(read_table(out / "information_plane.csv", PLANE_COLUMNS),
                        read_table(out / "metrics.csv", METRIC_COLUMNS), settings.get("settings"))


def read_remeasured(out_dir, name: str) -> PlaneResults:
    """A run's snapshots measured another way (:func:`ibcore.plane.measure_snapshots`, table
    ``<name>.csv``) as :class:`PlaneResults`, with the run's own training metrics."""
    out = Path(out_dir)
    table = out / f"{name}.csv"
    if not table.is_file():
        raise ValueError(f"{out} has no table {name}.csv (ibcore.plane.measure_snapshots writes it)")
    base = read_results(out)
    return PlaneResults(read_table(table, PLANE_COLUMNS), base.metrics, base.settings)


def read_run_settings(path: Path) -> dict:
    """The ``settings.json`` of a run directory; a ``ValueError`` when it is not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is truncated or not JSON ({exc}); delete the run directory or choose another") from None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise ValueError(f"{path} was not written by ibcore's information-plane runner (format {_FORMAT!r})")
    return data


def _jsonable(settings) -> dict:
    if isinstance(settings, Settings):
        return settings.to_dict()
    try:
        return json.loads(json.dumps(dict(settings), sort_keys=True))
    except TypeError as exc:
        raise TypeError(f"settings must be JSON-serialisable ({exc})") from None


def _dict_differences(stored: dict, now: dict) -> list[str]:
    return [f"{k}: {stored.get(k)!r} vs {now.get(k)!r}" for k in sorted(set(stored) | set(now))
            if stored.get(k) != now.get(k)]


def _differences(stored: dict, settings, context: dict) -> list[str]:
    """What differs between a run directory's ``settings.json`` and this run (stored vs now)."""
    old = stored.get("settings")
    old = old if isinstance(old, dict) else {}
    if isinstance(settings, Settings):
        try:
            diff = type(settings).from_dict(old).differences(settings)
        except (TypeError, ValueError) as exc:
            diff = [f"settings unreadable as {type(settings).__name__} ({exc})"]
    else:
        diff = _dict_differences(old, _jsonable(settings))
    stored_context = stored.get("context")
    return diff + _dict_differences(stored_context if isinstance(stored_context, dict) else {}, context)


def _check_run_dir(out: Path, settings, context: dict) -> bool:
    """``True`` if ``out`` holds a run with these settings, ``False`` if it is new or empty.

    ``ValueError`` for a file, a non-empty directory without settings.json, unreadable settings
    or different settings (or context).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory")
    settings_path = out / "settings.json"
    entries = [p.name for p in out.iterdir() if p.name != LOCK_NAME] if out.is_dir() else []  # a run's lock
    if not settings_path.exists():
        if entries:
            raise ValueError(
                f"{out} is not empty ({sorted(entries)[:5]}) but holds no settings.json: it is not an "
                "ibcore information-plane run; choose an empty or new directory"
            )
        return False
    diff = _differences(read_run_settings(settings_path), settings, context)
    if diff:
        raise ValueError(f"{out} holds a run with other settings ({'; '.join(diff[:8])}; stored vs now); "
                         "resume it with its own settings or choose another directory")
    return True


def _init_run_dir(out: Path, settings, context: dict) -> bool:
    """Check ``out`` (:func:`_check_run_dir`) and write settings.json to a new one; ``True`` if it existed."""
    if _check_run_dir(out, settings, context):
        return True
    out.mkdir(parents=True, exist_ok=True)
    path = out / "settings.json"
    tmp = path.with_name("settings.json.tmp")
    tmp.write_text(json.dumps({"format": _FORMAT, "settings": _jsonable(settings), "context": context},
                              indent=2, sort_keys=True))
    os.replace(tmp, path)
    return False


class PlaneRun:
    """Train a model and track its information planes, streaming everything to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Run directory. Missing or empty: a new run. Holding a run with the same ``settings``:
        resumed after its last finished epoch. Anything else (other settings, files of another
        program, truncated tables or checkpoint): ``ValueError``.
    settings : Settings or dict
        JSON-serialisable description of everything that determines the results (the run is
        refused when a resumed directory has different settings); stored in settings.json.
    model, optimizer
        Their ``state_dict`` are checkpointed after every epoch.
    tracker : InformationPlaneTracker
    train_epoch : callable
        ``train_epoch() -> float``: one epoch of training, returning the training loss (nats).
    evaluate : callable, optional
        ``evaluate() -> dict`` with ``loss``, ``accuracy``, ``roc_auc`` on held-out data (e.g. a
        partial of :func:`ibcore.plane.evaluate`); it runs with the model's noise seeded per
        epoch, so it never touches the training random stream.
    context : dict, optional
        JSON-serialisable facts about the data the run uses (e.g. its description and size);
        stored beside the settings and compared on resume like them.
    generators : dict of torch.Generator, optional
        Extra generators the training uses (e.g. the shuffle); their states are checkpointed
        along with torch's global CPU (and CUDA) generator.
    eval_every : int, default 1
        Estimate after epochs ``k, 2k, ...``; the metrics are logged every epoch.
    progress : bool, default True
        tqdm bar with epoch, loss, accuracy and ETA.
    snapshots : sequence of int, optional
        Epochs after which the model's weights are also kept, in ``snapshots/model-epoch-<e>.pt``
        (:meth:`snapshot_path`): what an audit needs to recompute those epochs' estimates
        (:func:`ibcore.plane.remeasure`). The checkpoint itself keeps only the last epoch.
    """

    def __init__(self, out_dir, settings, *, model: nn.Module, optimizer, tracker: InformationPlaneTracker,
                 train_epoch: Callable[[], float], evaluate: Callable[[], dict] | None = None,
                 generators: dict | None = None, eval_every: int = 1, progress: bool = True,
                 context: dict | None = None, snapshots=()):
        self.out = Path(out_dir)
        self.settings = settings if isinstance(settings, Settings) else _jsonable(settings)
        self.context = _jsonable(context or {})
        self.model, self.optimizer, self.tracker = model, optimizer, tracker
        self.train_epoch, self.evaluate = train_epoch, evaluate
        self.generators = dict(generators or {})
        for k, g in self.generators.items():
            if not isinstance(g, torch.Generator):
                raise TypeError(f"generators[{k!r}] must be a torch.Generator")
        self.eval_every = check_int(eval_every, "eval_every", 1)
        self.progress = bool(progress)
        self.snapshots = {check_int(e, "snapshot epoch", 1) for e in snapshots}
        self.rows: list[dict] = []
        self.metrics: list[dict] = []
        self.epoch = 0
        self._open()

    # -- directory ------------------------------------------------------------------------------

    @staticmethod
    def check_directory(out_dir, settings, context: dict | None = None) -> bool:
        """Refuse ``out_dir`` unless it is new, empty or a run with these settings (and context);
        a new directory gets its settings.json. ``True`` when it already held the run."""
        return _init_run_dir(Path(out_dir), settings, _jsonable(context or {}))

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def snapshot_path(self, epoch: int) -> Path:
        """Where the model's weights after ``epoch`` are kept (when ``epoch`` is in ``snapshots``)."""
        return snapshot_path(self.out, epoch)

    def _open(self) -> None:
        if _init_run_dir(self.out, self.settings, self.context) and self.checkpoint_path.exists():
            self._resume()

    def _resume(self) -> None:
        try:
            state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("format") != _FORMAT:
                raise ValueError("not an ibcore checkpoint")
            epoch = int(state["epoch"])
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            if state.get("cuda_rng") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda_rng"])
            if set(state["generators"]) != set(self.generators):
                raise ValueError(f"checkpoint generators {sorted(state['generators'])} != {sorted(self.generators)}")
            for k, g in self.generators.items():
                g.set_state(state["generators"][k])
        except Exception as exc:  # unpickling errors, truncated zip, missing keys, shape mismatches
            raise ValueError(f"{self.checkpoint_path} is corrupt, truncated or from another model ({exc}); "
                             "delete the run directory or choose another one") from None
        rows = read_table(self.out / "information_plane.csv", PLANE_COLUMNS)
        metrics = read_table(self.out / "metrics.csv", METRIC_COLUMNS)
        # tables are written before the checkpoint: rows past the checkpoint's epoch are dropped
        metrics = [m for m in metrics if m["epoch"] <= epoch]
        rows = [r for r in rows if r["epoch"] <= epoch]
        expected_rows = len(self.tracker.layers) * (epoch // self.eval_every)
        if [m["epoch"] for m in metrics] != list(range(1, epoch + 1)) or len(rows) != expected_rows:
            raise ValueError(f"the tables in {self.out} do not cover epochs 1..{epoch} of the checkpoint "
                             "(truncated or edited); delete the run directory or choose another one")
        self.rows, self.metrics, self.epoch = rows, metrics, epoch

    def _checkpoint(self) -> None:
        state = {
            "format": _FORMAT, "epoch": self.epoch, "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "generators": {k: g.get_state() for k, g in self.generators.items()},
        }
        tmp = self.checkpoint_path.with_name("checkpoint.pt.tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.checkpoint_path)

    # -- the loop -------------------------------------------------------------------------------

    def results(self) -> PlaneResults:
        return PlaneResults(self.rows, self.metrics, _jsonable(self.settings))

    def run(self, epochs: int) -> PlaneResults:
        """Train up to epoch ``epochs`` (counting the epochs already in the directory).

        Returns
        -------
        PlaneResults
        """
        from tqdm.auto import tqdm

        epochs = check_int(epochs, "epochs", 1)
        if self.epoch >= epochs:
            return self.results()
        bar = tqdm(total=epochs, initial=self.epoch, desc="information plane", unit="epoch",
                   disable=not self.progress, dynamic_ncols=True)
        try:
            while self.epoch < epochs:
                self._one_epoch(bar)
        finally:
            bar.close()
        return self.results()

    def _one_epoch(self, bar) -> None:
        epoch = self.epoch + 1
        t0 = time.perf_counter()
        train_loss = float(self.train_epoch())
        t1 = time.perf_counter()
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"the training loss is not finite at epoch {epoch}; lower the learning rate")
        m = {"loss": math.nan, "accuracy": math.nan, "roc_auc": math.nan}
        if self.evaluate is not None:
            with noise_seed(self.model, derived_seed(self.tracker.random_state, epoch, 4)):
                m.update(self.evaluate())
        t2 = time.perf_counter()
        points = self.tracker.measure(epoch) if epoch % self.eval_every == 0 else []
        t3 = time.perf_counter()
        metric = {"epoch": epoch, "train_loss": train_loss, "test_loss": m["loss"], "test_accuracy": m["accuracy"],
                  "roc_auc": m["roc_auc"], "seconds_train": t1 - t0, "seconds_metrics": t2 - t1,
                  "seconds_estimate": t3 - t2}
        for p in points:
            row = {"epoch": epoch, **p.row(self.tracker.level)}
            row.update({k: metric[k] for k in ("train_loss", "test_loss", "test_accuracy", "roc_auc",
                                                "seconds_train", "seconds_estimate")})
            self.rows.append(row)
        self.metrics.append(metric)
        self.epoch = epoch
        write_table(self.out / "information_plane.csv", PLANE_COLUMNS, self.rows)
        write_table(self.out / "metrics.csv", METRIC_COLUMNS, self.metrics)
        if epoch in self.snapshots:
            path = self.snapshot_path(epoch)
            path.parent.mkdir(exist_ok=True)
            torch.save(self.model.state_dict(), path.with_suffix(".tmp"))
            os.replace(path.with_suffix(".tmp"), path)
        self._checkpoint()
        bar.update(1)
        acc = m.get("accuracy", math.nan)
        shown = f"epoch {epoch} loss {train_loss:.4g}" + (f" acc {acc:.3f}" if math.isfinite(acc) else "")
        bar.set_postfix_str(shown, refresh=False)
