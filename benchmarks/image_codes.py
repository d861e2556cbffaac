"""What limits ``auto`` on images at high MI: the codes, or the estimate on the codes?

    python benchmarks/image_codes.py            # the tasks and autoencoder settings below (about 45 min, 1 core)
    python benchmarks/image_codes.py --tasks bumps16-2 --settings 0,6,8,9   # the bumps rows of the table
    python benchmarks/image_codes.py --seed 1 --settings 9,10,11   # the canonical rows of seed 1

For image tasks of ``benchmarks/accuracy.py`` (n = 5,000, seed 0 unless ``--seed``, the same
samples), this script measures, next to the truth:

* the ceiling: ``auto``'s estimator (``ibcore.compression.auto.estimate_codes``) on the true
  latent parameters, which carry the MI exactly;
* for each setting of the shared encoder (an autoencoder, convolutional as in the paper or dense
  on the pixels as ``auto`` uses where its codes go to weighted KL; code size, epochs, training
  noise, width, loss; or the canonical encoder ``auto`` uses where its codes go to the flow,
  fitted on half the pairs and measured on the other half): how precisely its codes of X
  determine each latent parameter of X (held-out R² of a gradient-boosting regressor, 3 folds;
  a latent pair with 2 nats needs R² near 1 - e^-4 = 0.98 to keep them), and the same estimator
  on the codes.

Rows go to ``benchmarks/image_codes.csv`` as they finish and a rerun skips finished rows;
``benchmarks/image_codes.md`` is rewritten at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from accuracy import TASKS  # noqa: E402  (the same samplers and seeds)
from ibcore.compression import ConvAutoencoder  # noqa: E402
from ibcore.compression.auto import (canonical_split, estimate_codes, image_autoencoder,  # noqa: E402
                                     image_canonical_code_size, image_canonical_encoder, image_code_size,
                                     image_intrinsic_dimensions, image_training_set)
from ibcore.compression.auto_images import encode_image_pair  # noqa: E402
from ibcore.synthetic import image_pair  # noqa: E402
from ibcore.tables import append_row, read_rows  # noqa: E402

COLUMNS = ("task", "setting", "code_dim", "epochs_run", "r2", "estimate", "method", "flow", "ksg", "truth",
           "seconds")
TASK_NAMES = ("covbumps16-10", "rect16-4")
# name -> autoencoder options ("c": code size, None: the rounded intrinsic dimension, "rule": auto's
# round(d_id / 0.9), "rule2": auto's canonical code size from that, "latent": the number of latents;
# "dense": auto's image autoencoder, dense on the pixels, with these changes to its options,
# instead of the ConvAutoencoder; "canonical": auto's canonical encoder with these changes,
# fitted on half the pairs, its codes and R² of the other half; "pooled": auto's own
# encode_image_pair, which from 1,000 fitting pairs on pools two canonical encoders)
SETTINGS = {
    "conv, c = round(d_id), 20 epochs (auto before)": dict(c=None, epochs=20, patience=5),
    "conv, c = latents, 60 epochs": dict(c="latent", epochs=60, patience=10),
    "conv, c = latents, 60 epochs, no training noise": dict(c="latent", epochs=60, patience=10, input_noise=0.0,
                                                            latent_noise=0.0),
    "conv, c = latents, 100 epochs, no noise, 32 channels": dict(c="latent", epochs=100, patience=10,
                                                                 input_noise=0.0, latent_noise=0.0, channels=32),
    "conv, c = latents, 100 epochs, no noise, MSE": dict(c="latent", epochs=100, patience=10, input_noise=0.0,
                                                         latent_noise=0.0, loss="mse"),
    "conv, c = round(d_id), 100 epochs, no noise, 32 channels": dict(c=None, epochs=100, patience=10,
                                                                     input_noise=0.0, latent_noise=0.0, channels=32),
    "dense 512-256, tanh codes, c = round(d_id / 0.9), 100 epochs (auto where 2c <= 7)": dict(c="rule", dense={}),
    "dense 256-128, tanh codes, c = round(d_id / 0.9), 100 epochs": dict(c="rule", dense={"hidden": (256, 128)}),
    "dense 512-256, linear codes, c = round(d_id / 0.9), 100 epochs": dict(c="rule", dense={"latent_activation": None}),
    "canonical encoder 512-256, c = round(d_id / 0.9), fitted on half the pairs, estimated on the other half "
    "(auto's earlier canonical path, c units)": dict(c="rule", canonical={}),
    "canonical encoder 512-256, 2c units, fitted on half the pairs, estimated on the other half "
    "(auto's earlier canonical path, 2c units; the estimate on all 2c units)": dict(c="rule2", canonical={}),
    "two canonical encoders 512-256, 2c units each, pooled: the 2c leading canonical pairs of their codes "
    "(auto where 2c > 7; the estimate on those 2c pairs)": dict(c="rule2", pooled=True),
}


def _draw(task: str, n: int, seed: int):
    """The task's image pair with its latent parameters: the draw of accuracy.py, replayed."""
    draw = TASKS[task][2]
    rng = np.random.default_rng([seed, zlib.crc32(task.encode())])
    return image_pair(draw.generator, draw.latents, n, random_state=rng)


def _r2(codes: np.ndarray, latents: np.ndarray) -> list:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import cross_val_predict

    out = []
    for j in range(latents.shape[1]):
        pred = cross_val_predict(HistGradientBoostingRegressor(max_iter=300), codes, latents[:, j], cv=3)
        out.append(float(1.0 - np.var(pred - latents[:, j]) / np.var(latents[:, j])))
    return out


def _estimate(cx, cy, seed):
    det = {}
    value, _, _ = estimate_codes(cx, cy, labels=False, seed=seed, device="cpu", progress=False, details=det)
    ksg = det.get("checks", {}).get("ksg")
    return value, det["method"], det.get("flow", float("nan")), ksg if isinstance(ksg, float) else float("nan")


def _num(v) -> str:
    return "—" if v in ("", None) or math.isnan(float(v)) else f"{float(v):.2f}"


def write_markdown(rows, path: Path, n: int) -> None:
    lines = ["# Image codes at high MI: where the information is lost", "",
             f"`python benchmarks/image_codes.py` (n = {n}, seed 0 where the task names no other, "
             "the samples of `benchmarks/accuracy.py`). "
             "*R²*: held-out share of each latent parameter of X that its codes determine (gradient boosting, "
             "3 folds); a latent pair keeps 2 nats only with R² near 0.98. *estimate*: `auto`'s estimator on the "
             "codes (the row *true latents* is the ceiling, the estimator on the parameters themselves). The canonical "
             "encoder's R² and estimate are of the half of the pairs it was not fitted on.", "",
             "| task | truth | codes | code size | epochs | R² per latent | estimate | by | flow | KSG | s |",
             "|---|---:|---|---:|---:|---|---:|---|---:|---:|---:|"]
    order = list(dict.fromkeys(r["task"] for r in rows))
    for r in sorted(rows, key=lambda r: order.index(r["task"])):  # stable: settings keep their order
        r2 = json.loads(r["r2"]) if r["r2"] else []
        lines.append(f"| {r['task']} | {float(r['truth']):.2f} | {r['setting']} | {r['code_dim']} | "
                     f"{r['epochs_run']} | "
                     f"{', '.join(f'{v:.3f}' for v in r2) or '—'} | {float(r['estimate']):.2f} | {r['method']} | "
                     f"{_num(r['flow'])} | {_num(r['ksg'])} | {float(r['seconds']):.0f} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default=",".join(TASK_NAMES))
    p.add_argument("--settings", default=None, help="comma-separated indices into SETTINGS (default: all)")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0, help="the sample of accuracy.py's seed; rows of a seed other "
                   "than 0 are labelled 'task, seed s'")
    p.add_argument("--out", default=str(HERE / "image_codes.csv"))
    p.add_argument("--md", default=str(HERE / "image_codes.md"))
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    done = {(r["task"], r["setting"]) for r in read_rows(out, COLUMNS)} if out.exists() else set()
    names = list(SETTINGS)
    chosen = [names[int(i)] for i in args.settings.split(",")] if args.settings else names
    seed = args.seed
    for base in args.tasks.split(","):
        pair = _draw(base, args.n, seed)
        task = base if seed == 0 else f"{base}, seed {seed}"
        truth = pair.mutual_information
        if (task, "true latents") not in done:
            t0 = time.perf_counter()
            v, m, f, k = _estimate(pair.latent_x, pair.latent_y, seed)
            append_row(out, COLUMNS, dict(task=task, setting="true latents", code_dim=pair.latent_x.shape[1],
                                          epochs_run="", r2="", estimate=v, method=m, flow=f, ksg=k, truth=truth,
                                          seconds=time.perf_counter() - t0))
        ids = image_intrinsic_dimensions([pair.x, pair.y], seed)
        d_id = max(ids)
        train = image_training_set([pair.x, pair.y], seed)  # as auto's shared autoencoder
        fit_rows, held_rows = canonical_split(len(pair.x), seed)  # as auto's canonical encoder
        for name in chosen:
            if (task, name) in done:
                continue
            opts = dict(SETTINGS[name])
            c, dense, canonical = opts.pop("c"), opts.pop("dense", None), opts.pop("canonical", None)
            pooled = opts.pop("pooled", False)
            c = {None: max(1, round(d_id)), "rule": image_code_size(ids),
                 "rule2": image_canonical_code_size(image_code_size(ids), len(fit_rows))}.get(
                c, pair.latent_x.shape[1])
            rows = np.arange(len(pair.x))
            t0 = time.perf_counter()
            if pooled:  # auto's own path: its codes are the 2c leading pairs of two pooled encoders
                (cx, cy), recs, rows, _ = encode_image_pair([pair.x, pair.y], ids, image_code_size(ids), seed,
                                                            "cpu", False)
                c = recs[0]["code_dim"]
                epochs = "/".join(str(e) for e in recs[0]["encoder_epochs"])
            else:
                if canonical is not None:
                    rows = held_rows
                    ae = image_canonical_encoder(c, seed, "cpu", False, **canonical).fit(pair.x[fit_rows],
                                                                                       pair.y[fit_rows])
                elif dense is not None:
                    ae = image_autoencoder(c, seed, "cpu", False, **dense).fit(train)
                else:
                    ae = ConvAutoencoder(c, batch_size=128, random_state=seed, progress=False, **opts).fit(train)
                cx, cy = ae.transform(pair.x[rows]), ae.transform(pair.y[rows])
                epochs = ae.n_epochs_
            v, m, f, k = _estimate(cx, cy, seed)
            secs = time.perf_counter() - t0
            r2 = json.dumps([round(x, 4) for x in _r2(cx, pair.latent_x[rows])])
            append_row(out, COLUMNS, dict(task=task, setting=name, code_dim=c, epochs_run=epochs, r2=r2,
                                          estimate=v, method=m, flow=f, ksg=k, truth=truth, seconds=secs))
            print(f"{task} {name}: {v:.3f} ({m})", flush=True)
    write_markdown(read_rows(out, COLUMNS), Path(args.md), args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
