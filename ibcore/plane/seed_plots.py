"""The figure of many seeds' information planes (``aggregate.png`` of :func:`~ibcore.plane.run_plane_seeds`)."""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from .aggregate import layer_order, layer_series

__all__ = ["plot_seed_planes", "save_figure"]


def plot_seed_planes(results, *, ncols: int = 3):
    """Per-layer information planes over seeds: each seed's trajectory (thin line), the mean
    trajectory with ±1 std bars across seeds in both directions, the first epoch ringed.

    Parameters
    ----------
    results : SeedResults
        The seeds' runs and aggregate (:func:`~ibcore.plane.run_plane_seeds`).
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib as mpl

    from .plots import panel_grid

    layers = layer_order(results.runs)
    if not layers:
        raise ValueError("the seeds hold no information-plane rows yet")
    fig, axes = panel_grid(len(layers), ncols)
    colors = mpl.colormaps["tab10"]
    for ax, name in zip(axes, layers):
        for i, (seed, res) in enumerate(sorted(results.runs.items())):
            if name in res.layers:
                ixl, ily = layer_series(res, name, "ixl", "ily")
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


def save_figure(fig, path: Path) -> None:
    """Save ``fig`` as a PNG (130 dpi) to a temporary file renamed to ``path``, and close it."""
    import matplotlib

    with contextlib.suppress(Exception):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    tmp = path.with_name("tmp-" + path.name)
    fig.savefig(tmp, dpi=130, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
