"""Figures of an information-plane run (figure 5 of the paper and the training curves).

Every function takes the :class:`ibcore.plane.PlaneResults` of a run (or of
:func:`ibcore.plane.read_results`) and returns a :class:`matplotlib.figure.Figure`;
nothing is shown or saved here. All information values are in nats.
"""
from __future__ import annotations

import math

import numpy as np

from .phases import detect_phases, smooth, steepest_loss_drop, trusted_points

__all__ = ["plot_information_planes", "plot_training_curves", "plot_mi_over_epochs", "loss_differences"]

_PHASE_COLORS = {"fitting": "tab:green", "compression": "tab:purple", "flat": "0.6"}


def loss_differences(results, column: str = "train_loss") -> dict:
    """``{epoch: loss(epoch - 1) - loss(epoch)}`` from the per-epoch metrics (first epoch: NaN).

    Positive values mean the loss dropped during that epoch (nats per epoch).
    """
    m = results.metric_columns()
    if column not in m:
        raise ValueError(f"unknown metrics column {column!r}")
    loss = m[column]
    diff = np.concatenate([[math.nan], loss[:-1] - loss[1:]])
    return dict(zip(m["epoch"].astype(int).tolist(), diff.tolist()))


def panel_grid(n: int, ncols: int):
    """``(figure, axes)``: ``n`` panels in rows of ``ncols``, the unused axes hidden."""
    import matplotlib.pyplot as plt

    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def plot_information_planes(results, *, layers=None, smoothing: str | None = "savgol", window: int | None = None,
                            phases: bool = True, color_by: str = "train_loss", ncols: int = 3,
                            cmap: str = "viridis"):
    """Per-layer information planes in the form of the paper's figure 5.

    One panel per layer: ``I(X;L)`` (x) against ``I(L;Y)`` (y), one point per estimated epoch,
    coloured by the loss decrease of that epoch (``loss(t-1) - loss(t)``, a shared colour bar),
    with the stored confidence intervals as error bars in both directions. The first epoch is
    ringed in black (trajectories usually start at the bottom left). With ``smoothing`` a
    smoothed trajectory (:func:`ibcore.plane.smooth` of both coordinates) is drawn over the
    raw points; with ``phases`` its pieces are coloured by the detected phase of ``I(X;L)``
    (:func:`ibcore.plane.detect_phases`: green fitting, purple compression, grey flat).

    Parameters
    ----------
    results : PlaneResults
    layers : list of str, optional
        Default: every layer of the run.
    smoothing : {"savgol", "paper", None}
    window : int, optional
        Smoothing window (see :func:`ibcore.plane.smooth`).
    phases : bool
    color_by : str
        Metrics column whose per-epoch decrease colours the points.
    ncols : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    layers = results.layers if layers is None else list(layers)
    if not layers:
        raise ValueError("the results hold no information-plane rows yet")
    dloss = loss_differences(results, color_by)
    vals = np.array([v for v in dloss.values() if math.isfinite(v)])
    vmax = float(np.max(np.abs(vals))) if vals.size else 1.0
    norm = mpl.colors.Normalize(vmin=min(0.0, float(vals.min())) if vals.size else 0.0, vmax=vmax or 1.0)
    fig, axes = panel_grid(len(layers), ncols)
    sc = None
    flagged_any = False
    for ax, name in zip(axes, layers):
        d = results.layer(name)
        keep = trusted_points(d) & trusted_points(d, "ily")
        if not keep.all():  # estimator failures (flagged by the tracker): marked, not drawn as values
            flagged_any = True
            ax.scatter(d["ixl"][~keep].astype(float), d["ily"][~keep].astype(float), marker="x", color="tab:red",
                       s=14, zorder=2, lw=0.8)
            d = {k: v[keep] for k, v in d.items()}
        if not keep.any():
            ax.set(title=f"{name}: no trusted point", xlabel="I(X;L) [nats]", ylabel="I(L;Y) [nats]")
            continue
        ep, x, y = d["epoch"].astype(float), d["ixl"].astype(float), d["ily"].astype(float)
        xerr = [x - d["ixl_low"].astype(float), d["ixl_high"].astype(float) - x]
        yerr = [y - d["ily_low"].astype(float), d["ily_high"].astype(float) - y]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor="tab:blue", alpha=0.25, lw=0.8, zorder=1)
        c = np.array([dloss.get(int(e), math.nan) for e in ep])
        ok = np.isfinite(c)  # the first epoch has no previous loss: drawn grey
        ax.scatter(x[~ok], y[~ok], color="0.6", s=14, zorder=3, edgecolors="none")
        sc = ax.scatter(x[ok], y[ok], c=c[ok], cmap=cmap, norm=norm, s=14, zorder=3, edgecolors="none")
        ax.scatter(x[:1], y[:1], s=60, facecolors="none", edgecolors="k", zorder=4, label=f"epoch {int(ep[0])}")
        if smoothing and len(ep) >= 4:
            xs, ys = smooth(x, smoothing, window), smooth(y, smoothing, window)
            if phases:
                segs = detect_phases(ep, x, d["ixl_std"].astype(float), smoothing=smoothing, window=window)
                for seg in segs:
                    sel = (ep >= seg.start) & (ep <= seg.end)
                    idx = np.flatnonzero(sel)
                    if idx[0] > 0:  # join to the previous piece
                        idx = np.concatenate([[idx[0] - 1], idx])
                    ax.plot(xs[idx], ys[idx], color=_PHASE_COLORS[seg.kind], lw=2, zorder=5)
            else:
                ax.plot(xs, ys, color="tab:red", lw=1.5, zorder=5)
        kind = d["ixl_kind"][0]
        note = "" if kind == "estimate" else f" ({kind})"
        ax.set(title=f"{name}: dim {int(d['dim'][0])} -> {int(d['n_components'][0])}",
               xlabel=f"I(X;L) [nats]{note}", ylabel="I(L;Y) [nats]")
        ax.grid(alpha=0.3)
    handles = [mpl.lines.Line2D([], [], color=c, lw=2, label=k) for k, c in _PHASE_COLORS.items()] if (
        smoothing and phases) else []
    handles.append(mpl.lines.Line2D([], [], marker="o", mfc="none", mec="k", ls="none", label="first epoch"))
    if flagged_any:
        handles.append(mpl.lines.Line2D([], [], marker="x", color="tab:red", ls="none",
                                        label="flagged (no estimate: manifold or interval < 0)"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 0.92, 1))
    cax = fig.add_axes((0.93, 0.15, 0.015, 0.7))
    cb = fig.colorbar(sc, cax=cax) if sc is not None else None
    if cb is None:
        return fig
    cb.set_label(f"{color_by.replace('_', ' ')} decrease per epoch [nats]")
    return fig


def plot_training_curves(results):
    """Train/test loss (nats), test accuracy and one-vs-one ROC-AUC per epoch.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    m = results.metric_columns()
    if not len(m["epoch"]):
        raise ValueError("the results hold no epochs yet")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    a1.plot(m["epoch"], m["train_loss"], label="train (running mean, training mode)")
    a1.plot(m["epoch"], m["test_loss"], label="test")
    a1.set(xlabel="epoch", ylabel="NLL loss [nats]", title="loss")
    a1.legend(fontsize=8)
    a2.plot(m["epoch"], m["test_accuracy"], label="test accuracy")
    a2.plot(m["epoch"], m["roc_auc"], label="test ROC-AUC (one-vs-one)")
    a2.set(xlabel="epoch", ylabel="score", title="accuracy and ROC-AUC", ylim=(0, 1.01))
    a2.legend(fontsize=8)
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_mi_over_epochs(results, *, layers=None, smoothing: str = "savgol", window: int | None = None,
                        loss_column: str = "train_loss", ncols: int = 3):
    """``I(X;L)`` against the epoch per layer: raw points with CI band, smoothed curve, phases.

    Detected phases are shaded (green fitting, purple compression; flat segments unshaded) and
    the epochs of the steepest loss drop (:func:`ibcore.plane.steepest_loss_drop`) are marked by
    dashed lines, so the claimed link between the first compression phase and the loss drop can
    be checked by eye.

    Returns
    -------
    matplotlib.figure.Figure
    """
    layers = results.layers if layers is None else list(layers)
    m = results.metric_columns()
    try:
        drop = steepest_loss_drop(m["epoch"], m[loss_column], smoothing=smoothing, window=window)
    except ValueError:
        drop = None
    fig, axes = panel_grid(len(layers), ncols)
    for ax, name in zip(axes, layers):
        d = results.layer(name)
        keep = trusted_points(d)
        if not keep.all():  # estimator failures (flagged by the tracker): marked, left out of the phases
            ax.plot(d["epoch"][~keep].astype(float), d["ixl"][~keep].astype(float), "x", ms=3, color="tab:red",
                    label="flagged")
            d = {k: v[keep] for k, v in d.items()}
        ep, x = d["epoch"].astype(float), d["ixl"].astype(float)
        ax.fill_between(ep, d["ixl_low"].astype(float), d["ixl_high"].astype(float), color="tab:blue", alpha=0.2,
                        lw=0, label="95 % CI")
        ax.plot(ep, x, "o", ms=3, color="tab:blue", label="raw")
        if len(ep) >= 4:
            ax.plot(ep, smooth(x, smoothing, window), color="tab:red", lw=1.5, label="smoothed")
            for seg in detect_phases(ep, x, d["ixl_std"].astype(float), smoothing=smoothing, window=window):
                if seg.kind != "flat":
                    ax.axvspan(seg.start - 0.5, seg.end + 0.5, color=_PHASE_COLORS[seg.kind], alpha=0.12, lw=0)
        if drop is not None:
            for e in drop:
                ax.axvline(e, color="k", ls="--", lw=0.8)
        ax.set(title=name, xlabel="epoch", ylabel="I(X;L) [nats]")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
