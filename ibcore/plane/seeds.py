"""Information planes over many seeds: one run per seed, as tasks, and what the seeds agree on.

A claim about compression phases needs many seeds. :func:`run_plane_seeds` runs the MNIST
experiment (:func:`~ibcore.plane.run_mnist_plane`) once per seed, each into its own resumable run
directory ``out/seed-<k>/`` (exactly what ``ibcore plane --seed k --out out/seed-<k>`` writes),
in this process or as tasks on a Dask cluster (``scheduler=``, see :mod:`ibcore.executor`), and
then writes into ``out``:

* ``aggregate.csv`` (:data:`AGGREGATE_COLUMNS`): per estimated epoch and layer, the mean, the
  standard deviation across seeds (``ddof=1``; empty for one seed), the minimum and maximum of
  ``I(X;L)`` and ``I(L;Y)`` in nats, and the mean and std of the test accuracy;
* ``phases.csv`` (:data:`PHASE_COLUMNS`): per layer and phase kind (fitting, compression, flat,
  from :func:`~ibcore.plane.detect_phases` on each seed's raw ``I(X;L)`` series), in how many
  seeds the phase appears, that fraction, and the mean number of such segments per seed;
* ``phase_segments.csv`` (:data:`SEGMENT_COLUMNS`): every detected segment of every seed;
* ``aggregate.png`` (:func:`plot_seed_planes`): the per-seed trajectories and their mean with
  ±1 std bars, one panel per layer.

Only the client writes these files, after the seeds' tasks have returned their tables; each run
directory is written by the process that runs its seed. ``out`` is locked during the run; a
re-run resumes every unfinished seed and rewrites the aggregate.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import numbers
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..executor import SCHEDULER_HELP, FolderLock, parse_scheduler, run_tasks
from .experiment import run_mnist_plane, run_plane_command
from .phases import PHASE_KINDS, detect_phases, trusted_points
from .run import PlaneResults, write_table
from .settings import PlaneSettings

__all__ = ["run_plane_seeds", "read_seed_results", "parse_seeds", "aggregate_seeds", "phase_frequencies", "plot_seed_planes",
           "SeedResults", "AGGREGATE_COLUMNS", "PHASE_COLUMNS", "SEGMENT_COLUMNS", "add_seed_arguments",
           "run_plane_cli"]

#: columns of aggregate.csv (information in nats)
AGGREGATE_COLUMNS = (
    "epoch", "layer", "n_seeds", "ixl_mean", "ixl_std", "ixl_min", "ixl_max", "ily_mean", "ily_std", "ily_min",
    "ily_max", "test_accuracy_mean", "test_accuracy_std",
)
#: columns of phases.csv
PHASE_COLUMNS = ("layer", "phase", "seeds_with_phase", "n_seeds", "fraction", "mean_segments")
#: columns of phase_segments.csv (start/end: epochs; delta, delta_std: nats)
SEGMENT_COLUMNS = ("seed", "layer", "phase", "start", "end", "delta", "delta_std", "z")


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


def _spread(values) -> tuple[float, float, float, float]:
    a = np.asarray(values, dtype=float)
    std = float(np.std(a, ddof=1)) if len(a) > 1 else math.nan
    return float(np.mean(a)), std, float(np.min(a)), float(np.max(a))


def _columns(res: PlaneResults, layer: str, *columns) -> list[np.ndarray]:
    sel = [r for r in res.rows if r["layer"] == layer]
    return [np.array([r[c] for r in sel], dtype=float) for c in columns]


def _layer_order(runs: dict) -> list[str]:
    order = []
    for res in runs.values():
        order += [name for name in res.layers if name not in order]
    return order


def aggregate_seeds(runs: dict) -> list[dict]:
    """Per (layer, epoch) the mean, std across seeds, min and max of ``I(X;L)`` and ``I(L;Y)`` (nats)
    and the mean and std of the test accuracy, over the seeds that estimated that epoch.

    Parameters
    ----------
    runs : dict of int -> PlaneResults

    Returns
    -------
    list of dict
        Rows with the columns of :data:`AGGREGATE_COLUMNS`, by layer then epoch.
    """
    cells = defaultdict(list)
    for res in runs.values():
        for r in res.rows:
            cells[(r["layer"], int(r["epoch"]))].append(r)
    rows = []
    for layer in _layer_order(runs):
        for epoch in sorted(e for name, e in cells if name == layer):
            sel = cells[(layer, epoch)]
            row = {"epoch": epoch, "layer": layer, "n_seeds": len(sel)}
            for col in ("ixl", "ily"):
                row.update(zip((f"{col}_mean", f"{col}_std", f"{col}_min", f"{col}_max"),
                               _spread([r[col] for r in sel])))
            acc = _spread([r["test_accuracy"] for r in sel])
            row["test_accuracy_mean"], row["test_accuracy_std"] = acc[0], acc[1]
            rows.append(row)
    return rows


def phase_frequencies(runs: dict, **detect_options) -> tuple[list[dict], list[dict]]:
    """How often each phase kind appears per layer across seeds, and every detected segment.

    Each seed's raw ``I(X;L)`` series of a layer (with its standard errors) goes through
    :func:`~ibcore.plane.detect_phases` (``detect_options`` are passed on); a series with fewer
    than 2 estimated epochs has no segments, and one with non-finite values is skipped.

    Returns
    -------
    phases : list of dict
        :data:`PHASE_COLUMNS` rows, one per layer and kind (``n_seeds``: the seeds with a usable
        series of that layer).
    segments : list of dict
        :data:`SEGMENT_COLUMNS` rows.
    """
    segments, usable = [], defaultdict(int)
    for seed, res in runs.items():
        for layer in res.layers:
            epochs, ixl, std = _columns(res, layer, "epoch", "ixl", "ixl_std")
            # flagged points (estimator failures, :func:`trusted_points`) are left out of the phases
            sel = [r for r in res.rows if r["layer"] == layer]
            series = {c: [r[c] for r in sel] for c in ("ixl", "ixl_high", "manifold") if all(c in r for r in sel)}
            keep = trusted_points(series) & np.isfinite(std)
            epochs, ixl, std = epochs[keep], ixl[keep], std[keep]
            if len(epochs) < 2:
                continue
            usable[layer] += 1
            for seg in detect_phases(epochs, ixl, std, **detect_options):
                segments.append({"seed": int(seed), "layer": layer, "phase": seg.kind, "start": seg.start,
                                 "end": seg.end, "delta": seg.delta, "delta_std": seg.delta_std, "z": seg.z})
    phases = []
    for layer in _layer_order(runs):
        n = usable.get(layer, 0)
        for kind in PHASE_KINDS:
            sel = [s for s in segments if s["layer"] == layer and s["phase"] == kind]
            seen = len({s["seed"] for s in sel})
            phases.append({"layer": layer, "phase": kind, "seeds_with_phase": seen, "n_seeds": n,
                           "fraction": seen / n if n else math.nan, "mean_segments": len(sel) / n if n else math.nan})
    return phases, segments


def plot_seed_planes(results: SeedResults, *, ncols: int = 3):
    """Per-layer information planes over seeds: each seed's trajectory (thin line), the mean
    trajectory with ±1 std bars across seeds in both directions, the first epoch ringed.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    from .plots import panel_grid

    layers = _layer_order(results.runs)
    if not layers:
        raise ValueError("the seeds hold no information-plane rows yet")
    fig, axes = panel_grid(len(layers), ncols)
    colors = mpl.colormaps["tab10"]
    for ax, name in zip(axes, layers):
        for i, (seed, res) in enumerate(sorted(results.runs.items())):
            if name in res.layers:
                ixl, ily = _columns(res, name, "ixl", "ily")
                ax.plot(ixl, ily, "-", lw=0.8, alpha=0.45, color=colors(i % 10),
                        label=f"seed {seed}" if len(results.runs) <= 10 else None)
        a = results.layer(name)
        err = [np.nan_to_num(a["ixl_std"].astype(float)), np.nan_to_num(a["ily_std"].astype(float))]
        ax.errorbar(a["ixl_mean"], a["ily_mean"], xerr=err[0], yerr=err[1], fmt="o-", ms=3, lw=1.5, color="k",
                    ecolor="0.4", elinewidth=0.8, capsize=0, label="mean ± std")
        ax.scatter(a["ixl_mean"][:1], a["ily_mean"][:1], s=70, facecolors="none", edgecolors="tab:red", zorder=5,
                   label=f"epoch {int(a['epoch'][0])} (mean)")
        ax.set(title=f"{name}: {int(a['n_seeds'].max())} seeds", xlabel="I(X;L) [nats]", ylabel="I(L;Y) [nats]")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


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
            _save(plot_seed_planes(results), out / "aggregate.png")
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


def _save(fig, path: Path) -> None:
    import matplotlib

    with contextlib.suppress(Exception):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tmp = path.with_name("tmp-" + path.name)
    fig.savefig(tmp, dpi=130, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


# -- command line -------------------------------------------------------------------------------

def add_seed_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--seeds`` and ``--scheduler`` of ``ibcore plane`` (beside :func:`~ibcore.plane.experiment.add_plane_arguments`)."""
    parser.add_argument("--seeds", default=None,
                        help="run several seeds, e.g. 0:10 (seeds 0 to 9) or 0,3,7: one run directory per seed "
                             "(--out/seed-<k>) and their aggregate (aggregate.csv, phases.csv, aggregate.png)")
    parser.add_argument("--scheduler", default=None, help=SCHEDULER_HELP + " (one task per seed)")
    return parser


def run_plane_cli(args: argparse.Namespace) -> int:
    """``ibcore plane``: one run (:func:`~ibcore.plane.experiment.run_plane_command`), the seeds of
    ``--seeds``, or one run as a task on ``--scheduler``. Returns 0."""
    scheduler = parse_scheduler(args.scheduler)
    if args.seeds is None and scheduler is None:
        return run_plane_command(args)
    settings = PlaneSettings.from_args(args)
    progress, figures = not args.no_progress, not args.no_figures
    if args.seeds is None:
        task = (settings, args.out, False, figures)
        [(_, res)] = list(run_tasks(_seed_task, [task], scheduler=scheduler, progress=progress, desc="runs",
                                    unit="run", name="plane-run"))
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
