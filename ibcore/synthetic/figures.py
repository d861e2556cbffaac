"""The sweeps behind figures 3 and 4: every estimator at its own scale, on one dataset.

The kNN estimators are cheap; KDE costs ``O(n^2)`` per estimate and MINE trains a critic per
cell, so a figure runs them on fewer, smaller cells. :func:`run_figure_sweep` runs the
Algorithm 1 cells of one dataset with a sample size and MI grid per estimator, on autoencoder
codes and (for ``pca_estimators`` and ``flow_estimators``) on PCA codes and on the autoencoder
codes Gaussianized by a normalizing flow too, all into one resumable output folder, and
returns exactly the rows of those cells. The Synthetic chapter and the stored results of
``results/`` (:mod:`ibcore.reproduce`) both call it, so a stored figure is the chapter's figure at
another scale.
"""
from __future__ import annotations

from ..estimators import estimator_names, get_estimator
from .runner import run_algorithm1
from .settings import SweepSettings, check_names, parse_grid

__all__ = ["figure_scales", "figure_settings", "run_figure_sweep"]


def figure_scales(estimators, pca_estimators=(), flow_estimators=(), *, n: int, grid, kde_n: int | None = None, kde_grid=None,
                  mine_n: int | None = None, mine_grid=None) -> dict:
    """``{estimator: (n, grid)}``: ``kde_*`` for the estimators of the registry's ``"kde"`` family,
    ``mine_*`` for the ``"neural"`` family, ``n``/``grid`` for the others (each defaulting to
    ``n``/``grid``)."""
    names = check_names(list(estimators) + list(pca_estimators) + list(flow_estimators), estimator_names(),
                        "estimator")
    own = {"kde": (kde_n, kde_grid), "neural": (mine_n, mine_grid)}
    scale = {}
    for e in names:
        e_n, e_grid = own.get(get_estimator(e).family, (None, None))
        scale[e] = (e_n or n, e_grid or grid)
    return scale


def figure_settings(params: dict) -> tuple[SweepSettings, dict]:
    """``(common, scale)`` of figures 3 and 4 from the Synthetic chapter's parameter names.

    ``params`` uses the names of the chapter's ``parameters`` cell (``seed``, ``n``, ``grid``,
    ``kde_n``, ``kde_grid``, ``mine_n``, ``mine_grid``, ``sizes``, ``estimators``,
    ``pca_estimators``, ``flow_estimators``, ``train_size``, ``val_size``, ``ae_epochs``, ``ae_patience``,
    ``mine_epochs``, ``mine_batch``, ``device``, ``threads``); the chapter and the stored results
    (:func:`ibcore.reproduce.store`) both build their sweeps here, so the same parameters give the
    same cells. Missing names take the paper's values.
    """
    g = params.get
    common = SweepSettings(sizes=g("sizes", [16]), grid=g("grid", "0:10:41"), n=g("n", 5000), seed=g("seed", 0),
                           train_size=g("train_size", 6000), val_size=g("val_size", 1000), device=g("device", "auto"),
                           threads=g("threads", 1),
                           ae_options={"epochs": g("ae_epochs", 200), "patience": g("ae_patience", 20)},
                           mine_options={"epochs": g("mine_epochs", 1000), "batch_size": g("mine_batch", 512)})
    scale = figure_scales(g("estimators", ["kl", "wkl"]), g("pca_estimators", []), g("flow_estimators", []), n=common.n,
                          grid=g("grid", "0:10:41"), kde_n=g("kde_n"), kde_grid=g("kde_grid"), mine_n=g("mine_n"),
                          mine_grid=g("mine_grid"))
    return common, scale


def run_figure_sweep(out, common: SweepSettings, dataset: str, *, estimators, pca_estimators=(),
                     flow_estimators=(), scale: dict | None = None, progress: bool = False, scheduler=None) -> list[dict]:
    """Algorithm 1 on one dataset, each estimator at the sample size and grid of ``scale``.

    Parameters
    ----------
    out : path
        Output folder (one resumable table for every scale; see :func:`run_algorithm1`).
    common : SweepSettings
        The options every cell shares (sizes, seed, compressor training, autoencoder and MINE
        options, device); its ``datasets``, ``estimators``, ``compressors``, ``n`` and ``grid``
        are replaced per group of cells.
    dataset : str
    estimators : sequence of str
        Run on autoencoder codes (and MINE on its own inputs).
    pca_estimators : sequence of str
        Also run on PCA codes.
    flow_estimators : sequence of str
        Also run on the "flow" compressor's codes (the autoencoder's codes mapped onto N(0, I)
        by a normalizing flow, :class:`ibcore.compression.FlowCompressor`).
    scale : dict, optional
        ``{estimator: (n, grid)}`` (:func:`figure_scales`); default ``common.n`` and ``common.grid``.
    progress, scheduler
        As in :func:`run_algorithm1`.

    Returns
    -------
    list of dict
        The rows of these cells only (the folder may hold other sweeps too).
    """
    scale = dict(scale or {})
    for e in list(estimators) + list(pca_estimators) + list(flow_estimators):
        scale.setdefault(e, (common.n, common.grid))
    rows = []
    for compressor, names in (("ae", list(estimators)), ("pca", list(pca_estimators)),
                              ("flow", list(flow_estimators))):
        groups: dict = {}
        for e in names:
            cells_n, cells_grid = scale[e]
            groups.setdefault((cells_n, tuple(parse_grid(cells_grid))), []).append(e)
        for (cells_n, cells_grid), group in groups.items():
            rows = run_algorithm1(out, common.replace(datasets=[dataset], estimators=group, compressors=[compressor],
                                                      n=cells_n, grid=list(cells_grid)),
                                  progress=progress, scheduler=scheduler)
    wanted = {e: (cn, {round(float(g), 9) for g in parse_grid(cg)}) for e, (cn, cg) in scale.items()}
    return [r for r in rows if r["dataset"] == dataset and r["estimator"] in wanted
            and r["n"] == wanted[r["estimator"]][0] and round(r["true_mi"], 9) in wanted[r["estimator"]][1]]
