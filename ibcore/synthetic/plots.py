"""Figures of the synthetic benchmark: estimate against the true MI (layout of figures 3 and 4).

:func:`plot_estimates` draws one panel per (image size, estimator): rows are sizes, columns
are estimators. Each panel has the truth line ``Î = I``, the estimate on the latent shape
parameters, the estimate on the compressed images (one curve per compressor) and, where
present, the estimate on the raw images (MINE's baseline), each with a confidence band. Where
the table has a compression bound (``bound_upper``, PCA on noisy data) a hatched band shows
``[Î, Î + bound]``.

The colours of :data:`PALETTE` are meant to be reused by other figures of the book.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..compression import compressor_names, get_compressor
from ..estimators import estimator_names, get_estimator

__all__ = ["PALETTE", "INPUT_LABELS", "plot_estimates", "as_rows"]

#: Colours shared by the book's figures (truth red, latent blue, autoencoder green, as in the
#: authors' plots; raw images purple, bounds grey); each compressor's colour comes from the
#: registry (:mod:`ibcore.compression.registry`: PCA orange, autoencoder + flow brown).
PALETTE = {
    "truth": "#d62728",
    "latent": "#1f77b4",
    **{name: get_compressor(name).color for name in compressor_names()},
    "raw": "#9467bd",
    "none": "#9467bd",
    "bound": "#7f7f7f",
}

INPUT_LABELS = {"latent": "latent parameters", "raw": "raw images"}
_IMAGE_DATASETS = ("gaussians", "covgaussians", "rectangles")


def as_rows(table) -> list[dict]:
    """Rows (list of dicts) from a results CSV path, a pandas DataFrame or a list of dicts."""
    if isinstance(table, (str, Path)):
        from .table import read_results

        return read_results(table)
    if hasattr(table, "to_dict"):
        return list(table.to_dict("records"))
    try:
        rows = list(table)
    except TypeError:
        raise TypeError(f"table must be a CSV path, a DataFrame or a list of dict rows, got {type(table).__name__}") \
            from None
    if rows and not isinstance(rows[0], dict):
        raise TypeError("table rows must be dicts with the columns of ibcore.synthetic.COLUMNS")
    return rows


def _curves(rows):
    """{(input, compressor): sorted arrays} for the rows of one panel."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["input"], r["compressor"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        rs = sorted(rs, key=lambda r: r["true_mi"])
        col = {c: np.array([float(r.get(c, math.nan)) for r in rs])
               for c in ("true_mi", "estimate", "ci_low", "ci_high", "bound_upper")}
        out[key] = col
    return out


def _label(inp, comp):
    if inp == "compressed":
        return f"compressed ({get_compressor(comp).label if comp in compressor_names() else comp})"
    return INPUT_LABELS.get(inp, inp)


def _color(inp, comp):
    if inp == "compressed":
        color = get_compressor(comp).color if comp in compressor_names() else None
        return color or "#17becf"
    return PALETTE.get(inp, "#8c564b")


def plot_estimates(table, *, dataset: str | None = None, sizes=None, estimators=None, compressors=None,
                   inputs=("latent", "compressed", "raw"), band: bool = True, show_bound: bool = True,
                   panel_size=(2.8, 2.6), title: str | None = None, sharey: bool = False):
    """Estimate-vs-truth panels: rows = image sizes, columns = estimators.

    Parameters
    ----------
    table : path, DataFrame or list of dict
        Results of :func:`ibcore.synthetic.run_algorithm1` (columns of
        :data:`ibcore.synthetic.COLUMNS`).
    dataset : str, optional
        Which dataset to draw; required when the table holds several.
    sizes, estimators, compressors : sequences, optional
        Subsets (and order) of rows, columns and compressed curves; default: all in the table.
    inputs : sequence of {"latent", "compressed", "raw"}
        Which kinds of estimate to draw.
    band : bool
        Shade each curve's confidence interval (``ci_low`` to ``ci_high``).
    show_bound : bool
        Where ``bound_upper`` is present, hatch ``[estimate, estimate + bound_upper]``.
    panel_size : (float, float)
        Inches per panel.
    title : str, optional
        Figure title.
    sharey : bool
        Share the y axis between panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rows = as_rows(table)
    if not rows:
        raise ValueError("the table is empty: nothing to plot")
    present = sorted({r["dataset"] for r in rows})
    if dataset is None:
        if len(present) > 1:
            raise ValueError(f"the table holds several datasets {present}; pass dataset=")
        dataset = present[0]
    rows = [r for r in rows if r["dataset"] == dataset]
    if not rows:
        raise ValueError(f"no rows for dataset {dataset!r}; the table has {present}")
    sizes = sorted({int(r["size"]) for r in rows}) if sizes is None else list(sizes)
    if estimators is None:
        order = list(estimator_names())  # the registry's order: the paper's figures' for its methods
        found = {r["estimator"] for r in rows}
        estimators = [e for e in order if e in found] + sorted(found - set(order))
    rows = [r for r in rows if r["input"] in inputs
            and (compressors is None or r["input"] != "compressed" or r["compressor"] in compressors)]
    nr, nc = len(sizes), len(estimators)
    fig, axes = plt.subplots(nr, nc, figsize=(panel_size[0] * nc, panel_size[1] * nr), squeeze=False,
                             sharey=sharey)
    handles = {}
    for i, size in enumerate(sizes):
        for j, est in enumerate(estimators):
            ax = axes[i, j]
            sel = [r for r in rows if int(r["size"]) == size and r["estimator"] == est]
            if not sel:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            curves = _curves(sel)
            lo = min([c["true_mi"].min() for c in curves.values()], default=0.0)
            hi = max([c["true_mi"].max() for c in curves.values()], default=1.0)
            h = ax.plot([lo, hi], [lo, hi], color=PALETTE["truth"], lw=1.5, label="truth")[0]
            handles.setdefault("truth", h)
            keys = sorted(curves, key=lambda k: (("latent", "compressed", "raw").index(k[0])
                                                 if k[0] in INPUTS_ORDER else 9, k[1]))
            for inp, comp in keys:
                c = curves[(inp, comp)]
                color = _color(inp, comp)
                label = _label(inp, comp)
                h = ax.plot(c["true_mi"], c["estimate"], "o-", ms=2.5, lw=1.2, color=color, label=label)[0]
                handles.setdefault(label, h)
                if band and np.isfinite(c["ci_low"]).all():
                    ax.fill_between(c["true_mi"], c["ci_low"], c["ci_high"], color=color, alpha=0.2, lw=0)
                if show_bound and np.isfinite(c["bound_upper"]).any():
                    ok = np.isfinite(c["bound_upper"])
                    hb = ax.fill_between(c["true_mi"][ok], c["estimate"][ok],
                                         c["estimate"][ok] + c["bound_upper"][ok], facecolor="none",
                                         edgecolor=PALETTE["bound"], hatch="///", lw=0.0,
                                         label="compression bound")
                    handles.setdefault("compression bound", hb)
            ax.set_xlim(lo, hi)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(get_estimator(est).label if est in estimator_names() else est, fontsize=10)
            if i == nr - 1:
                ax.set_xlabel("I(X;Y), nats")
            if j == 0:
                ax.set_ylabel(f"{size}×{size}\nÎ(X;Y), nats" if dataset in _IMAGE_DATASETS else
                              f"dimension {size}\nÎ(X;Y), nats")
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 5),
               frameon=False, bbox_to_anchor=(0.5, -0.01))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


INPUTS_ORDER = ("latent", "compressed", "raw")
