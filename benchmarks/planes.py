"""Information-plane estimators against planes whose values are known, on real training runs.

Three families of networks are trained on synthetic data, and after every epoch every plane
estimator measures the same evaluation pass as the truth:

* ``linear``: deep linear networks 6 -> 6 -> 4 -> 3 with absolute Gaussian noise (sigma = 0.7)
  before every Linear, on Gaussian inputs. ``I(X;L)`` of every layer in closed form
  (:func:`ibcore.plane.gaussian_information`); ``I(L;Y)`` has none.
* ``tanh`` and ``leaky``: 8 -> 8 -> 4 networks with noise (sigma = 0.5) before the first Linear and a
  tanh or leaky-ReLU after it: the first layer's ``I(X;L)`` in closed form (an invertible
  activation keeps it).
* ``observed``: a deterministic 10 -> 16 -> 8 -> 3 tanh network whose layers are observed through
  Gaussian noise of the layer's per-unit scale at that epoch, ``T = L + sigma Z``, with
  ``X`` uniform over the evaluation rows: ``I(X;T)`` and ``I(T;Y)`` computed exactly by
  :func:`ibcore.plane.mixture_information` (Monte Carlo standard error below 0.01 nats).

Estimators (all through :class:`ibcore.plane.InformationPlaneTracker`):

* ``paper``: PCA of the inputs and of each layer to 4 coordinates, weighted KL (the paper's route);
* ``paper-kl``: the same with the Kozachenko-Leonenko estimator;
* ``default``: the tracker's default (``auto`` coding of both sides, ``auto`` estimate);
* ``flow``: PCA to 8 coordinates and the flow estimator;
* ``ksg``: KSG on the full width (an orthonormal PCA rotation that keeps every coordinate);
* ``noise``: the tracker's noise mode at its defaults, ``h(P T) - h(P sigma Z)`` by weighted KL on
  the PCA projection ``P`` to 4 coordinates of the layer observed through Gaussian noise,
  ``T = L + sigma Z`` (a projection can only lose information: ``I(X;PT) <= I(X;T)``). Its
  quantity is ``I(X;T)``, not ``I(X;L)``, so it runs on the two families where that has a known
  value, and its rows carry that truth: ``linear``, observed through the network's own noise
  (sigma = 0.7, added by the tracker; the closed form of ``T`` comes from
  :func:`ibcore.plane.gaussian_information` with that noise after the layer; there the noise
  upstream makes the mode's value an upper bound of ``I(X;T)``), and ``observed``, through the
  same channel as the truth (``sigma_scale="layer"``, the tracker's own noise draws).

Reported per estimator and family: mean and worst absolute error of ``I(X;L)`` and ``I(L;Y)``
(where the truth is known), the share of epoch-to-epoch changes of the truth larger than
0.05 nats whose sign the estimator gets right, and whether the phases it detects
(:func:`ibcore.plane.detect_phases`, significant fitting/compression segments) are the true
ones, per layer. Results stream to a CSV (one row per point) and a rerun resumes.

Run::

    python benchmarks/planes.py --out benchmarks/planes.md              # about 40 min on 2 cores
    python benchmarks/planes.py --quick --out /tmp/planes.md              # a few minutes
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

ESTIMATORS = {
    "paper": {"compressor": "pca", "method": "wkl", "x_compressor": "pca", "n_components": 4},
    "paper-kl": {"compressor": "pca", "method": "kl", "x_compressor": "pca", "n_components": 4},
    "default": {},
    "flow": {"compressor": "pca", "method": "flow", "n_components": 8},
    "ksg": {"compressor": "pca", "method": "ksg", "n_components": 64},
    "noise": {"mi_mode": "noise"},  # its defaults: PCA to 4 coordinates, weighted KL
}
#: families on which the noise mode's own quantity, I(X; L + sigma Z), has a known value
NOISE_FAMILIES = ("linear", "observed")
COLUMNS = ("family", "seed", "epoch", "layer", "estimator", "ixl", "ixl_std", "ily", "ily_std",
           "true_ixl", "true_ily", "seconds")


def build(family: str, seed: int):
    """``(net, layers, x, y, train_x, train_y, cov_x)`` of one family."""
    import torch
    from torch import nn

    from ibcore.plane import GaussianNoise, make_stochastic

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 100)
    if family == "linear":
        net = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 4), nn.Linear(4, 3))
        make_stochastic(net, sigma=0.7, mode="absolute", where="inputs")
        d, layers = 6, ["0", "1", "2"]
    elif family in ("tanh", "leaky"):
        act = nn.Tanh() if family == "tanh" else nn.LeakyReLU(0.2)
        net = nn.Sequential(GaussianNoise(0.5), nn.Linear(8, 8), act, nn.Linear(8, 4))
        d, layers = 8, ["2", "3"]
    else:
        net = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))
        d, layers = 10, ["1", "3", "4"]
    x = torch.randn(4000, d, generator=g)
    w = torch.randn(d, 3, generator=g)
    y = (x @ w + 0.5 * torch.randn(4000, 3, generator=g)).argmax(1)
    return net, layers, x[2000:], y[2000:], x[:2000], y[:2000], np.eye(d)


def truths(family, net, layers, cov_x, outputs, sigmas, labels, seed):
    """``{layer: (I(X;L), I(L;Y))}`` (NaN where unknown) of this epoch."""
    from ibcore.plane import gaussian_information, mixture_information

    if family == "observed":
        out = {}
        for i, name in enumerate(layers):
            res = mixture_information(outputs[name], sigmas[name], labels, samples=20_000, random_state=seed + i)
            out[name] = (res.ixt.value, res.ity.value)
        return out
    closed = gaussian_information(net, layers, cov_x)
    return {name: (closed[name], math.nan) for name in layers}


def observed_truths(net, layers, cov_x, sigma) -> dict:
    """``{layer: (I(X; L + sigma Z), NaN)}`` of a linear-family network, in closed form: the
    layer observed through absolute noise ``sigma`` (what the noise mode measures)."""
    import copy

    from ibcore.plane import gaussian_information, make_stochastic

    out = {}
    for name in layers:
        observed = make_stochastic(copy.deepcopy(net), sigma=sigma, mode="absolute", where="outputs", layers=[name])
        out[name] = (gaussian_information(observed, [name], cov_x)[name], math.nan)
    return out


def run_family(family: str, seed: int, epochs: int, steps: int, estimators, writer, done) -> None:
    import torch
    from torch import nn

    from ibcore.plane import InformationPlaneTracker, collect
    from ibcore.validation import derived_seed

    net, layers, x, y, tx, ty, cov_x = build(family, seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    sigmas = {}
    trackers = {}
    if family not in NOISE_FAMILIES:
        estimators = [e for e in estimators if e != "noise"]
    for name in estimators:
        if not (name == "noise" and family == "observed"):  # that one is built per epoch (its sigma)
            trackers[name] = InformationPlaneTracker(net, layers, x, y, random_state=seed, **ESTIMATORS[name])
    for epoch in range(epochs + 1):
        if epoch > 0:
            for _ in range(steps):
                opt.zero_grad()
                nn.functional.cross_entropy(net(tx), ty).backward()
                opt.step()
        outputs = collect(net, x, layers, labels=y, random_state=derived_seed(seed, epoch, 1)).outputs
        perturb = None
        if family == "observed":  # observed through noise of the layer's per-unit scale at this epoch
            sigmas = {n: float(np.sqrt(outputs[n].var(axis=0).mean())) for n in layers}
            rng = np.random.default_rng(derived_seed(seed, epoch, 9))
            noise = {n: sigmas[n] * rng.standard_normal(outputs[n].shape) for n in layers}
            by_width = {outputs[n].shape[1]: n for n in layers}
            assert len(by_width) == len(layers), "the observed family needs layers of distinct widths"

            def observe(out, _noise=noise, _by=by_width):  # the same observation for every estimator
                return out + _noise[_by[out.shape[1]]]
            perturb = observe
        truth = truths(family, net, layers, cov_x, outputs, sigmas, y.numpy(), derived_seed(seed, epoch, 8))
        for name in estimators:
            if (family, seed, epoch, name) in done:
                continue
            t0 = time.perf_counter()
            own, observation = truth, perturb
            if name == "noise":
                if family == "observed":  # the layer scale of this epoch, the truth's channel
                    trackers[name] = InformationPlaneTracker(net, layers, x, y, random_state=seed, noise_sigma=1.0,
                                                             sigma_scale="layer", **ESTIMATORS[name])
                    own, observation = truth, None  # the tracker draws its own observation noise
                else:
                    own = observed_truths(net, layers, cov_x, trackers[name].noise_sigma)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                points = trackers[name].measure(epoch, perturb=observation)
            seconds = time.perf_counter() - t0
            for p in points:
                writer({"family": family, "seed": seed, "epoch": epoch, "layer": p.layer, "estimator": name,
                        "ixl": p.ixl.value, "ixl_std": p.ixl.std, "ily": p.ily.value, "ily_std": p.ily.std,
                        "true_ixl": own[p.layer][0], "true_ily": own[p.layer][1], "seconds": seconds / len(points)})


def _phases(epochs, values, stds):
    from ibcore.plane import detect_phases

    if len(epochs) < 4:
        return ()
    segs = detect_phases(np.asarray(epochs, float), np.asarray(values, float), np.asarray(stds, float))
    return tuple(s.kind for s in segs if s.significant and s.kind != "flat")


def summarize(rows) -> list[dict]:
    """One row per (family, estimator): the metrics of the module docstring."""
    out = []
    keys = sorted({(r["family"], r["estimator"]) for r in rows}, key=lambda k: (k[0], list(ESTIMATORS).index(k[1])))
    for family, est in keys:
        sel = [r for r in rows if r["family"] == family and r["estimator"] == est]
        err_x = np.array([r["ixl"] - r["true_ixl"] for r in sel if math.isfinite(r["true_ixl"])])
        err_y = np.array([r["ily"] - r["true_ily"] for r in sel if math.isfinite(r["true_ily"])])
        signs, phase_ok, phase_n = [], 0, 0
        for seed in sorted({r["seed"] for r in sel}):
            for layer in sorted({r["layer"] for r in sel}):
                ser = sorted((r for r in sel if r["seed"] == seed and r["layer"] == layer), key=lambda r: r["epoch"])
                if not ser or not math.isfinite(ser[0]["true_ixl"]):
                    continue
                t = np.array([r["true_ixl"] for r in ser])
                e = np.array([r["ixl"] for r in ser])
                dt, de = np.diff(t), np.diff(e)
                big = np.abs(dt) > 0.05
                signs += list(np.sign(dt[big]) == np.sign(de[big]))
                ep = [r["epoch"] for r in ser]
                true_ph = _phases(ep, t, np.full(len(t), 1e-3))
                est_ph = _phases(ep, e, [r["ixl_std"] for r in ser])
                phase_n += 1
                phase_ok += int(true_ph == est_ph)
        out.append({
            "family": family, "estimator": est, "points": len(sel),
            "ixl_mae": float(np.mean(np.abs(err_x))) if err_x.size else math.nan,
            "ixl_worst": float(np.max(np.abs(err_x))) if err_x.size else math.nan,
            "ixl_within": float(np.mean(np.abs(err_x) <= np.maximum(0.15, 0.15 * np.abs(
                [r["true_ixl"] for r in sel if math.isfinite(r["true_ixl"])])))) if err_x.size else math.nan,
            "ily_mae": float(np.mean(np.abs(err_y))) if err_y.size else math.nan,
            "ily_worst": float(np.max(np.abs(err_y))) if err_y.size else math.nan,
            "sign_share": float(np.mean(signs)) if signs else math.nan, "sign_n": len(signs),
            "phases": f"{phase_ok}/{phase_n}",
            "seconds": float(np.mean([r["seconds"] for r in sel])),
        })
    return out


def _read(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for c in COLUMNS:
            if c in ("family", "layer", "estimator"):
                continue
            r[c] = int(r[c]) if c in ("seed", "epoch") else float(r[c])
    return rows


def figure(rows, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({r["family"] for r in rows})
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.4), squeeze=False)
    colors = {"paper": "tab:orange", "paper-kl": "tab:brown", "default": "tab:blue", "flow": "tab:green",
              "ksg": "tab:purple", "noise": "tab:gray"}
    for ax, family in zip(axes[0], families):
        sel = [r for r in rows if r["family"] == family and r["seed"] == 0]
        layers = sorted({r["layer"] for r in sel if math.isfinite(r["true_ixl"])})
        for j, layer in enumerate(layers):
            ser = sorted((r for r in sel if r["layer"] == layer and r["estimator"] == "default"), key=lambda r: r["epoch"])
            ax.plot([r["epoch"] for r in ser], [r["true_ixl"] for r in ser], "k-", lw=2, alpha=0.6,
                    label="truth" if j == 0 else None)
            noise = sorted((r for r in sel if r["layer"] == layer and r["estimator"] == "noise"), key=lambda r: r["epoch"])
            if noise and any(abs(a["true_ixl"] - b["true_ixl"]) > 1e-9 for a, b in zip(noise, ser)):
                ax.plot([r["epoch"] for r in noise], [r["true_ixl"] for r in noise], "k:", lw=1.5, alpha=0.6,
                        label="truth of L + Z (noise mode)" if j == 0 else None)
            for est, c in colors.items():
                s2 = sorted((r for r in sel if r["layer"] == layer and r["estimator"] == est), key=lambda r: r["epoch"])
                ax.plot([r["epoch"] for r in s2], [r["ixl"] for r in s2], "-", color=c, lw=1, marker=".",
                        label=est if j == 0 else None)
        ax.set(title=f"{family} (seed 0)", xlabel="epoch", ylabel="I(X;L) [nats]")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", default=["linear", "tanh", "leaky", "observed"])
    p.add_argument("--estimators", nargs="+", default=list(ESTIMATORS))
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--steps", type=int, default=30, help="Adam steps per epoch")
    p.add_argument("--quick", action="store_true", help="1 seed, 4 epochs")
    p.add_argument("--csv", default=os.path.join(HERE, "planes.csv"), help="point table (resumable)")
    p.add_argument("--out", help="Markdown summary")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs = 1, 4
    import torch

    torch.set_num_threads(1)
    rows = _read(args.csv)
    done = {(r["family"], r["seed"], r["epoch"], r["estimator"]) for r in rows}
    new_file = not os.path.exists(args.csv)
    with open(args.csv, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new_file:
            w.writeheader()

        def writer(row):
            w.writerow(row)
            fh.flush()
            rows.append(row)

        for family in args.families:
            for seed in range(args.seeds):
                t0 = time.time()
                run_family(family, seed, args.epochs, args.steps, args.estimators, writer, done)
                print(f"{family} seed {seed}: {time.time() - t0:.0f} s", flush=True)
    rows = _read(args.csv)
    summary = summarize(rows)
    lines = ["| family | estimator | points | I(X;L) mean abs. error | worst | within max(0.15, 15 %) | "
             "I(L;Y) mean abs. error | worst | right sign of changes > 0.05 | phases right | s per layer and epoch |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    f = lambda v: "–" if not math.isfinite(v) else f"{v:.3f}"  # noqa: E731
    for s in summary:
        pct = lambda v: "–" if not math.isfinite(v) else f"{100 * v:.0f} %"  # noqa: E731
        lines.append(f"| {s['family']} | {s['estimator']} | {s['points']} | {f(s['ixl_mae'])} | {f(s['ixl_worst'])} | "
                     f"{pct(s['ixl_within'])} | {f(s['ily_mae'])} | {f(s['ily_worst'])} | "
                     f"{pct(s['sign_share'])} of {s['sign_n']} | {s['phases']} | {s['seconds']:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        import platform

        import torch

        fig_path = os.path.splitext(args.out)[0] + ".png"
        figure(rows, fig_path)
        seeds = sorted({r["seed"] for r in rows})
        epochs = max(r["epoch"] for r in rows)
        head = [
            "# Plane estimators against known planes",
            "",
            f"Output of `python benchmarks/planes.py --out {os.path.relpath(args.out)}` "
            f"({time.strftime('%Y-%m-%d')}); points in `{os.path.relpath(args.csv)}`.",
            "",
            f"- machine: {platform.machine()}, os.cpu_count() = {os.cpu_count()}, one torch thread; "
            f"python {platform.python_version()}, torch {torch.__version__}",
            f"- seeds {seeds}, epochs 0 to {epochs} ({args.steps} Adam steps each, lr 1e-2), 2,000 evaluation "
            "inputs; the families and estimators of the module docstring of `benchmarks/planes.py`",
            "- an error is estimate - truth of I(X;L) (and of I(L;Y) where the truth is known); for the noise mode "
            "the truth is that of the layer observed through its noise, I(X; L + Z) (module docstring); a sign is "
            "counted for epoch-to-epoch changes of the truth larger than 0.05 nats; phases are right when the "
            "significant fitting/compression segments of the estimate are those of the truth, per (seed, layer)",
            "",
        ]
        with open(args.out, "w") as fh:
            fh.write("\n".join(head) + "\n" + table + "\n\n" + f"![I(X;L) per epoch, truth and estimators]({os.path.basename(fig_path)})\n")
        print("wrote", args.out, fig_path)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(HERE))
    main()
