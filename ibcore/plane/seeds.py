"""Information planes over many seeds: one run per seed, as tasks.

A claim about compression phases needs many seeds. :func:`run_plane_seeds` runs the MNIST
experiment (:func:`~ibcore.plane.run_mnist_plane`) once per seed, each into its own resumable run
directory ``out/seed-<k>/`` (exactly what ``ibcore plane --seed k --out out/seed-<k>`` writes),
in this process or as tasks on a Dask cluster (``scheduler=``, see :mod:`ibcore.executor`), and
then writes into ``out``:

* ``aggregate.csv`` (:data:`~ibcore.plane.aggregate.AGGREGATE_COLUMNS`): per estimated epoch
  and layer, the mean, the standard deviation across seeds (``ddof=1``; empty for one seed),
  the minimum and maximum of ``I(X;L)`` and ``I(L;Y)`` in nats, and the mean and std of the
  test accuracy;
* ``phases.csv`` (:data:`~ibcore.plane.aggregate.PHASE_COLUMNS`): per layer and phase kind
  (fitting, compression, flat, from :func:`~ibcore.plane.detect_phases` on each seed's raw
  ``I(X;L)`` series), in how many seeds the phase appears, that fraction, and the mean number
  of such segments per seed;
* ``phase_segments.csv`` (:data:`~ibcore.plane.aggregate.SEGMENT_COLUMNS`): every detected
  segment of every seed;
* ``aggregate.png`` (:func:`~ibcore.plane.seed_plots.plot_seed_planes`): the per-seed
  trajectories and their mean with ±1 std bars, one panel per layer.

Only the client writes these files, after the seeds' tasks have returned their tables; each run
directory is written by the process that runs its seed. ``out`` is locked during the run; a
re-run resumes every unfinished seed and rewrites the aggregate. What the seeds agree on is
computed by :mod:`ibcore.plane.aggregate` and drawn by :mod:`ibcore.plane.seed_plots`.
"""
from __future__ import annotations

import dataclasses
import numbers
from pathlib import Path

import numpy as np

from ..executor import FolderLock, run_tasks
from ..tables import write_table
from .aggregate import AGGREGATE_COLUMNS, PHASE_COLUMNS, SEGMENT_COLUMNS, aggregate_seeds, phase_frequencies
from .experiment import run_mnist_plane
from .run import PlaneResults
from .seed_plots import plot_seed_planes, save_figure
from .settings import PlaneSettings

__all__ = ["run_plane_seeds", "run_plane_task", "read_seed_results", "parse_seeds", "SeedResults"]


def parse_seeds(text) -> list[int]:
    """Seeds from ``"a:b"`` (``a, ..., b - 1``, as Python's ``range``), a comma list ``"0,3,7"``, one
    integer, or a sequence of integers. Seeds are integers >= 0, each once."""
    if isinstance(text, str):
        s = text.strip()
        try:
            if ":" in s:
                lo, hi = (int(p) for p in s.split(":"))
                seeds = list(range(lo, hi))
            else:
                seeds = [int(p) for p in s.split(",") if p.strip()]
        except ValueError:
            raise ValueError(f"cannot read the seeds {text!r}: use 'start:stop' (0:10 is seeds 0 to 9) "
                             "or a comma-separated list (0,3,7)") from None
    elif isinstance(text, numbers.Integral) and not isinstance(text, bool):
        seeds = [int(text)]
    else:
        try:
            seeds = list(text)
        except TypeError:
            raise TypeError(f"seeds must be a string, an integer or a sequence of integers, got {text!r}") from None
        if not all(isinstance(k, numbers.Integral) and not isinstance(k, bool) for k in seeds):
            raise TypeError(f"seeds must be integers, got {seeds!r}")
        seeds = [int(k) for k in seeds]
    if not seeds:
        raise ValueError(f"no seeds in {text!r}" + (" (start:stop needs stop > start)" if ":" in str(text) else ""))
    if min(seeds) < 0:
        raise ValueError(f"seeds must be >= 0, got {min(seeds)}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat: {seeds}")
    return seeds


@dataclasses.dataclass
class SeedResults:
    """The runs of :func:`run_plane_seeds` and their summaries.

    Attributes
    ----------
    seeds : list of int
    runs : dict of int -> PlaneResults
        The tables of each seed's run directory ``out / f"seed-{k}"``.
    aggregate, phases, segments : list of dict
        The rows of aggregate.csv, phases.csv and phase_segments.csv.
    out : Path
    """

    seeds: list
    runs: dict
    aggregate: list
    phases: list
    segments: list
    out: Path

    def layer(self, name: str) -> dict:
        """The aggregate rows of one layer as numpy arrays, one per column of :data:`AGGREGATE_COLUMNS`."""
        sel = [r for r in self.aggregate if r["layer"] == name]
        if not sel:
            raise ValueError(f"no aggregate rows for layer {name!r}")
        return {c: np.array([r[c] for r in sel]) for c in AGGREGATE_COLUMNS}


def _seed_task(settings: PlaneSettings, out: str, progress: bool, figures: bool, data=None) -> PlaneResults:
    """One seed's run (a task: its run directory depends only on its settings and data)."""
    return run_mnist_plane(settings, out=out, progress=progress, figures=figures, data=data)


def run_plane_task(settings: PlaneSettings, *, out, scheduler, progress: bool = True,
                   figures: bool = True) -> PlaneResults:
    """One run of :func:`~ibcore.plane.run_mnist_plane` as a task on ``scheduler`` (see
    :func:`ibcore.executor.run_tasks`; the worker writes the run directory ``out``, which it
    must see); ``progress``: a bar over the task. Returns its tables."""
    [(_, res)] = list(run_tasks(_seed_task, [(settings, str(out), False, figures)], scheduler=scheduler,
                                progress=progress, desc="runs", unit="run", name="plane-run"))
    return res


def run_plane_seeds(settings: PlaneSettings | dict | None = None, *, seeds, out="runs/mnist-seeds",
                    scheduler=None, retries: int = 2, progress: bool = True, figures: bool = True, data=None,
                    **options) -> SeedResults:
    """Run the MNIST information-plane experiment once per seed and aggregate the seeds.

    Parameters
    ----------
    settings : PlaneSettings or dict, optional
        The runs' options (their ``seed`` is replaced by each of ``seeds``).
    seeds : str, int or sequence of int
        See :func:`parse_seeds` (``"0:10"``: seeds 0 to 9).
    out : path
        Folder of the seed directories ``seed-<k>/`` and the aggregate files (module docstring);
        locked while the run writes. Not a single run's directory.
    scheduler : None, int, str or distributed.Client
        ``None``: the seeds one after another in this process; otherwise one task per seed on Dask
        (:func:`ibcore.executor.dask_client`; the workers must see ``out``).
    retries : int
        Times a seed whose worker died is run again (it resumes from its last checkpoint).
    progress, figures : bool
        tqdm bar over the seeds (in-process: also each run's bar); each run's PNG figures and
        ``aggregate.png``.
    data : MNISTData, optional
        The same data for every seed (sent to the cluster once); by default each run loads the
        data of its settings (the embedded split depends on the seed).
    **options
        Fields of :class:`~ibcore.plane.PlaneSettings` replacing those of ``settings``.

    Returns
    -------
    SeedResults
    """
    s = PlaneSettings.resolve(settings, **options)
    seeds = parse_seeds(seeds)
    out = Path(out)
    with FolderLock(out, "ibcore plane --seeds"):
        if (out / "settings.json").exists():
            raise ValueError(f"{out} holds a single information-plane run (settings.json); give the seeds "
                             "another folder")
        tasks = [(s.replace(seed=k), str(out / f"seed-{k}"), progress and scheduler is None, figures) for k in seeds]
        runs = {}
        for i, res in run_tasks(_seed_task, tasks, scheduler=scheduler, retries=retries, progress=progress,
                                desc="seeds", unit="seed", name="plane-seed",
                                shared=None if data is None else {"data": data}):
            runs[seeds[i]] = res
        runs = {k: runs[k] for k in seeds}
        aggregate = aggregate_seeds(runs)
        phases, segments = phase_frequencies(runs)
        write_table(out / "aggregate.csv", AGGREGATE_COLUMNS, aggregate)
        write_table(out / "phases.csv", PHASE_COLUMNS, phases)
        write_table(out / "phase_segments.csv", SEGMENT_COLUMNS, segments)
        results = SeedResults(seeds, runs, aggregate, phases, segments, out)
        if figures and aggregate:
            save_figure(plot_seed_planes(results), out / "aggregate.png")
    return results


def read_seed_results(out) -> SeedResults:
    """The :class:`SeedResults` of a finished :func:`run_plane_seeds` folder: every ``seed-<k>/``
    run, with the aggregate and the phases recomputed from their tables (as the run wrote them)."""
    from .run import read_results

    out = Path(out)
    dirs = sorted((p for p in out.glob("seed-*") if p.is_dir() and p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
    if not dirs:
        raise ValueError(f"{out} holds no seed-<k> run directories of `ibcore plane --seeds`")
    runs = {int(p.name[5:]): read_results(p) for p in dirs}
    phases, segments = phase_frequencies(runs)
    return SeedResults(list(runs), runs, aggregate_seeds(runs), phases, segments, out)
