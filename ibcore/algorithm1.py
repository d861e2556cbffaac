"""Algorithm 1: the synthetic benchmark with predefined mutual information (spec §3).

For every dataset and image size, and every MI value ``I`` of a grid:

1. sample ``n`` latent pairs ``(xi, eta)`` with exactly ``I`` nats (fresh and seeded per value);
2. map them to shape parameters and render images ``X``, ``Y`` (injective maps, so
   ``I(X; Y) = I``; :mod:`ibcore.images`);
3. estimate the MI on the shape parameters (``input = "latent"``, the reference without
   compression loss), on the compressed images (``"compressed"``, once per compressor) and,
   for MINE (and for ``compressor="none"``), on the raw images (``"raw"``).

Each compressor is trained **once** per (dataset, size, compressor) on ``train_size +
val_size`` independent images of the marginal distribution (spec §3 step 4: the marginals do
not depend on ``I``, so one compressor serves every MI value and both ``X`` and ``Y``), and
cached in ``out/compressors/`` so a rerun does not retrain (autoencoders are saved with their
``save``/``load``; PCA is refitted, which is deterministic and takes a fraction of a second).

Results go to a tidy CSV, one row per *cell* (dataset, size, estimator, input, compressor,
true MI, n, seed) with the columns of :data:`COLUMNS`. A cell is appended and flushed to disk
as soon as it is finished; a rerun reads the CSV and skips finished cells, so a killed run
loses at most the cell in flight (a partly written last line is dropped on the next start).
All randomness derives from ``seed``: the sample of one MI value depends only on
``(seed, dataset, size, I)``, not on the rest of the grid, so an interrupted and a complete run
produce the same table.

Column units (:data:`COLUMNS`): ``true_mi``, ``estimate``, ``std``, ``ci_low``, ``ci_high`` and
``bound_upper`` in nats (CI at 95 %); ``reconstruction_error`` is the per-pixel mean squared
error ``E||x - D(E(x))||² / n_pixels`` of the compressor on the cell's images (mean of the X
and Y sides; empty when nothing was compressed); ``seconds`` is the wall time of compressing
and estimating (image sampling excluded); ``noise_std`` is the std of the isotropic Gaussian
noise added to the images (0 = none); ``bound_upper`` is the upper bound on the MI lost by
compression (:func:`ibcore.lossy.lossy_mutual_information`), only for PCA on noisy images.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import numbers
import os
import time
import zlib
from pathlib import Path

import numpy as np

from .compress import ConvAutoencoder, DenseAutoencoder, PCACompressor
from .images import AntiPCA, CovarianceBumps, GaussianBumps, Rectangles, image_pair
from .lossy import lossy_mutual_information
from .nn import limit_threads
from .validation import check_int

__all__ = [
    "COLUMNS", "DATASETS", "COMPRESSORS", "ESTIMATORS", "INPUTS", "run_algorithm1", "read_results",
    "parse_grid", "make_generator", "make_compressor", "train_compressor", "mean_absolute_error",
]

COLUMNS = (
    "dataset", "size", "estimator", "input", "compressor", "true_mi", "estimate", "std", "ci_low",
    "ci_high", "reconstruction_error", "n", "seed", "seconds", "noise_std", "bound_upper",
)
_KEY = ("dataset", "size", "estimator", "input", "compressor", "true_mi", "n", "seed", "noise_std")
_FLOAT_COLUMNS = ("true_mi", "estimate", "std", "ci_low", "ci_high", "reconstruction_error", "seconds",
                  "noise_std", "bound_upper")
_INT_COLUMNS = ("size", "n", "seed")

# name -> (generator factory, code dimension n' of the compressors, default MI range)
DATASETS = {
    "gaussians": (GaussianBumps, 2, 10.0),
    "covgaussians": (CovarianceBumps, 5, 10.0),
    "rectangles": (Rectangles, 4, 10.0),
    # the Anti-PCA manifold: 1 informative coordinate plus a nuisance, so codes of size 2;
    # "size" is the ambient dimension (32 in the paper)
    "antipca": (lambda size: AntiPCA(dim=size), 2, 4.0),
}
COMPRESSORS = ("ae", "pca", "none")
ESTIMATORS = ("kde-ml", "kde-lse", "kl", "wkl", "ksg", "mine")
INPUTS = ("latent", "compressed", "raw")
_IMAGE_SIZES = (8, 16, 32, 64, 128)


# ---------------------------------------------------------------------------------- checks
def _check_names(values, allowed, what):
    if isinstance(values, str):
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"at least one {what} is needed; choose from {list(allowed)}")
    for v in values:
        if v not in allowed:
            raise ValueError(f"unknown {what} {v!r}; choose from {list(allowed)}")
    return list(dict.fromkeys(values))


def check_size(dataset: str, size) -> int:
    """Validate the image side (or, for ``antipca``, the ambient dimension)."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral):
        raise TypeError(f"size must be an integer, got {size!r}")
    size = int(size)
    if dataset == "antipca":
        if size < 3:
            raise ValueError(f"unsupported size {size} for antipca: the ambient dimension must be >= 3")
    elif size not in _IMAGE_SIZES:
        raise ValueError(
            f"unsupported image size {size} for {dataset}: the convolutional autoencoder and the MINE "
            f"critic need a power of two in {list(_IMAGE_SIZES)} (the paper uses 16 and 32)"
        )
    return size


def parse_grid(text) -> np.ndarray:
    """MI grid (nats) from ``"start:stop:num"`` (``numpy.linspace``, ends included), a
    comma-separated list ``"0,1,2.5"``, or a sequence of numbers. Values must be >= 0."""
    if isinstance(text, str):
        s = text.strip()
        try:
            if ":" in s:
                parts = s.split(":")
                if len(parts) != 3:
                    raise ValueError
                start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
                if num < 1:
                    raise ValueError
                grid = np.linspace(start, stop, num)
            else:
                grid = np.array([float(p) for p in s.split(",") if p.strip()])
        except ValueError:
            raise ValueError(
                f"cannot read the MI grid {text!r}: use 'start:stop:num' (e.g. 0:10:41) or a "
                "comma-separated list (e.g. 0,2.5,5)"
            ) from None
    else:
        try:
            grid = np.asarray(list(text), dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"grid must be a string or a sequence of numbers, got {text!r}") from None
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"the MI grid is empty: {text!r}")
    if not np.isfinite(grid).all():
        raise ValueError(f"the MI grid must be finite, got {grid}")
    if (grid < 0).any():
        raise ValueError(f"mutual information must be >= 0 nats; the grid has {grid[grid < 0][0]:g}")
    return grid


# ------------------------------------------------------------------------------ factories
def make_generator(dataset: str, size: int):
    """The image generator of ``dataset`` at ``size``."""
    _check_names(dataset, DATASETS, "dataset")
    return DATASETS[dataset][0](check_size(dataset, size))


def _ae_defaults(dataset: str) -> dict:
    if dataset == "antipca":
        # spec §6.6: linear encoder 32 -> 2, decoder Linear(2, 32) -> LeakyReLU -> Linear(32, 32),
        # relative latent noise 0.01, MSE, batch 1,000
        return dict(hidden=(32,), linear_encoder=True, loss="mse", latent_noise=0.01, batch_size=1000,
                    epochs=2000, patience=100, lr=1e-3)
    return dict(epochs=200, batch_size=128, patience=20, lr=1e-3)


def make_compressor(name: str, dataset: str, size: int, *, seed=None, device="auto",
                    val_fraction: float = 1 / 7, ae_options: dict | None = None):
    """An unfitted compressor ``name`` ("ae", "pca") for ``dataset``; ``None`` for "none"."""
    _check_names(name, COMPRESSORS, "compressor")
    _check_names(dataset, DATASETS, "dataset")
    size = check_size(dataset, size)
    code_dim = DATASETS[dataset][1]
    if name == "none":
        return None
    if name == "pca":
        return PCACompressor(code_dim, random_state=seed)
    opts = _ae_defaults(dataset)
    opts.update(ae_options or {})
    opts.update(seed=seed, device=device, validation_fraction=val_fraction)
    opts.setdefault("progress", False)
    if dataset == "antipca":
        return DenseAutoencoder(code_dim, **opts)
    return ConvAutoencoder(code_dim, image_size=size, **opts)


def _seed_for(seed: int, *parts) -> np.random.SeedSequence:
    """A SeedSequence depending only on ``seed`` and the given labels (stable across runs)."""
    words = [int(seed)]
    for p in parts:
        if isinstance(p, str):
            words.append(zlib.crc32(p.encode()))
        elif isinstance(p, float):
            words.append(int(round(p * 1e9)) & 0xFFFFFFFFFFFF)
        else:
            words.append(int(p))
    return np.random.SeedSequence(words)


def _int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1)[0] & 0x7FFFFFFF)


def _add_noise(images, noise_std, rng):
    if noise_std == 0:
        return images
    return (images + noise_std * rng.standard_normal(images.shape)).astype(images.dtype)


def train_compressor(name: str, dataset: str, size: int, *, seed: int = 0, train_size: int = 6000,
                     val_size: int = 1000, noise_std: float = 0.0, device="auto", threads: int | None = 1,
                     ae_options: dict | None = None, cache_dir=None):
    """Train (or load from ``cache_dir``) the compressor of one (dataset, size, compressor).

    The training images are ``train_size + val_size`` independent draws from the marginal
    distribution (plus the same noise as the benchmark images when ``noise_std > 0``); the
    autoencoders hold out a seeded random ``val_size`` of them for early stopping, PCA fits on all.
    Autoencoders are cached in ``cache_dir`` under a name that hashes their options, the data
    sizes, the noise and the seed, so a changed budget trains a new one.

    Returns
    -------
    compressor or None
        Fitted; ``None`` for ``name="none"``.
    """
    train_size = check_int(train_size, "train_size", 2)
    val_size = check_int(val_size, "val_size", 0)
    comp = make_compressor(name, dataset, size, seed=_int_seed(_seed_for(seed, dataset, size, name, "init")),
                           device=device, val_fraction=val_size / (train_size + val_size),
                           ae_options=ae_options)
    if comp is None:
        return None
    path = None
    if cache_dir is not None and name == "ae":
        config = dict(comp.get_params(), dataset=dataset, size=size, train_size=train_size, val_size=val_size,
                      noise_std=noise_std, seed=seed)
        config = {k: str(v) for k, v in config.items() if k not in ("progress", "device")}
        digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
        path = Path(cache_dir) / f"{dataset}-{size}-{name}-{digest}.pt"
        if path.is_file():
            return type(comp).load(path, device=device)
    rng = np.random.default_rng(_seed_for(seed, dataset, size, "marginal"))
    gen = make_generator(dataset, size)
    images = _add_noise(gen.sample_marginal(train_size + val_size, seed=rng), noise_std, rng)
    with limit_threads(threads):
        comp.fit(images)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        comp.save(tmp)
        os.replace(tmp, path)
    return comp


# ------------------------------------------------------------------------------------ CSV
def _key(row) -> tuple:
    return (str(row["dataset"]), int(row["size"]), str(row["estimator"]), str(row["input"]),
            str(row["compressor"]), round(float(row["true_mi"]), 9), int(row["n"]), int(row["seed"]),
            round(float(row["noise_std"] or 0.0), 12))


def _parse_row(raw: dict) -> dict | None:
    """Typed row, or None for a malformed (e.g. partly written) one."""
    if raw is None or set(raw) != set(COLUMNS) or any(raw[c] is None for c in COLUMNS):
        return None
    row = dict(raw)
    try:
        for c in _INT_COLUMNS:
            row[c] = int(row[c])
        for c in _FLOAT_COLUMNS:
            row[c] = float(row[c]) if row[c] != "" else math.nan
    except ValueError:
        return None
    if any(row[c] == "" for c in ("dataset", "estimator", "input", "compressor")) or math.isnan(row["estimate"]):
        return None
    return row


def read_results(path) -> list[dict]:
    """Rows of a results CSV written by :func:`run_algorithm1`, typed (ints, floats; empty -> NaN).

    Malformed rows (a line cut by a killed run) are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is not None and tuple(reader.fieldnames) != COLUMNS:
            raise ValueError(
                f"{path} does not have the columns of an Algorithm 1 table ({', '.join(COLUMNS)}); "
                f"found {reader.fieldnames}"
            )
        rows = [_parse_row(r) for r in reader]
    return [r for r in rows if r is not None]


def _prepare_csv(path: Path) -> list[dict]:
    """Read the finished rows; drop a partly written last line (killed run) and duplicates."""
    if not path.is_file() or path.stat().st_size == 0:
        with path.open("w", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerow(COLUMNS)
        return []
    text = path.read_text()
    complete = text.endswith("\n")
    rows = read_results(path)
    if not complete:
        # the last line was cut mid-write: it may even parse (a truncated number), so drop it
        text = text[: text.rfind("\n") + 1]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        rows = read_results(tmp)
    n_lines = len([ln for ln in text.splitlines() if ln.strip()])
    seen, clean = set(), []
    for r in rows:
        if _key(r) not in seen:
            seen.add(_key(r))
            clean.append(r)
    if not complete or n_lines != len(clean) + 1:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
            w.writeheader()
            for r in clean:
                w.writerow(_format_row(r))
        os.replace(tmp, path)
    return clean


def _format_row(row: dict) -> dict:
    out = {}
    for c in COLUMNS:
        v = row[c]
        if isinstance(v, float):
            out[c] = "" if math.isnan(v) else repr(v)
        else:
            out[c] = v
    return out


def _append_row(path: Path, row: dict) -> None:
    with path.open("a", newline="") as fh:
        csv.DictWriter(fh, COLUMNS, lineterminator="\n").writerow(_format_row(row))
        fh.flush()
        os.fsync(fh.fileno())


def _check_config(path: Path, config: dict) -> None:
    """Record the options that change results but are not columns of the table; refuse to
    resume a table made with other ones (its rows would silently mix two configurations)."""
    text = json.dumps(config, sort_keys=True, default=str)
    if path.is_file():
        old = path.read_text()
        if old.strip() != text:
            raise ValueError(
                f"{path.parent} holds results made with other options ({old.strip()}); now "
                f"{text}. Use another output directory, or delete it to start over."
            )
        return
    path.write_text(text + "\n")


# ---------------------------------------------------------------------------------- runner
def _plan(estimators, compressors, latent, mine_inputs):
    """(estimator, input, compressor) triples of one (dataset, size, MI value)."""
    plan = []
    for est in estimators:
        if est == "mine":
            for inp in mine_inputs:
                if inp == "compressed":
                    plan += [(est, "compressed", c) for c in compressors if c != "none"]
                else:
                    plan.append((est, inp, "none"))
            continue
        if latent:
            plan.append((est, "latent", "none"))
        for c in compressors:
            plan.append((est, "raw", "none") if c == "none" else (est, "compressed", c))
    return list(dict.fromkeys(plan))


def run_algorithm1(out, *, datasets=("gaussians",), sizes=(16,), estimators=("kl", "wkl"),
                   compressors=("ae",), grid=None, n: int = 5000, seed: int = 0, latent: bool = True,
                   mine_inputs=("raw",), train_size: int = 6000, val_size: int = 1000,
                   noise_std: float = 0.0, ae_options: dict | None = None,
                   mine_options: dict | None = None, estimator_options: dict | None = None,
                   device="auto", threads: int | None = 1, progress: bool = True,
                   filename: str = "results.csv") -> list[dict]:
    """Run Algorithm 1 over a grid and write (or complete) the results CSV in ``out``.

    Parameters
    ----------
    out : path
        Output directory (created); holds ``filename`` and ``compressors/``.
    datasets : sequence of {"gaussians", "covgaussians", "rectangles", "antipca"}
    sizes : sequence of int
        Image sides (powers of two, 8 to 128; the paper: 16, 32). For ``antipca`` the size is the
        ambient dimension (32 in the paper).
    estimators : sequence of {"kde-ml", "kde-lse", "kl", "wkl", "ksg", "mine"}
    compressors : sequence of {"ae", "pca", "none"}
        ``"none"``: the non-neural estimators also run on the raw (flattened) images.
    grid : str or sequence of float
        True MI values, nats (see :func:`parse_grid`); default ``0:10:41`` (``0:4:41`` when
        every dataset is ``antipca``).
    n : int
        Sample pairs per MI value (the paper: 5,000).
    seed : int
        Master seed of everything (samples, compressor training, estimator randomness).
    latent : bool
        Also estimate on the latent shape parameters (the reference without compression loss).
    mine_inputs : sequence of {"raw", "latent", "compressed"}
        Inputs of MINE (the paper's baseline: raw images with the convolutional critic).
    train_size, val_size : int
        Marginal images for training / validating each compressor (the paper: 6,000 + 1,000).
    noise_std : float
        Std of isotropic Gaussian noise added to every image (0: noiseless, as in the paper).
        With PCA it gives ``bound_upper``, the bound on the MI lost by compression.
    ae_options, mine_options : dict, optional
        Overrides of the autoencoder (:func:`make_compressor`) and MINE options (e.g.
        ``{"epochs": 2000}``).
    estimator_options : dict, optional
        Per-method options of :func:`ibcore.mutual_information`, e.g. ``{"wkl": {"k": 5}}``.
    device : {"auto", "cpu", "cuda"}
    threads : int or None
        torch CPU threads while training autoencoders and MINE critics (1 is fastest for these
        small nets on a shared CPU); None leaves torch's setting.
    progress : bool
        tqdm progress bar over the cells.
    filename : str
        Name of the CSV inside ``out``.

    Returns
    -------
    list of dict
        All rows of the CSV after the run (see :data:`COLUMNS`), typed as by :func:`read_results`.
    """
    from tqdm.auto import tqdm

    datasets = _check_names(datasets, DATASETS, "dataset")
    estimators = _check_names(estimators, ESTIMATORS, "estimator")
    compressors = _check_names(compressors, COMPRESSORS, "compressor")
    mine_inputs = _check_names(mine_inputs, INPUTS, "MINE input")
    if isinstance(sizes, numbers.Integral):
        sizes = [sizes]
    sizes = list(dict.fromkeys(sizes))
    if not sizes:
        raise ValueError("at least one size is needed")
    for d in datasets:
        for s in sizes:
            check_size(d, s)
    if grid is None:
        grid = "0:4:41" if set(datasets) == {"antipca"} else "0:10:41"
    grid = parse_grid(grid)
    n = check_int(n, "n", 1)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(noise_std, bool) or not isinstance(noise_std, numbers.Real) or not noise_std >= 0:
        raise ValueError(f"noise_std must be a real number >= 0, got {noise_std!r}")
    noise_std = float(noise_std)
    for name, opts in (("ae_options", ae_options), ("mine_options", mine_options),
                       ("estimator_options", estimator_options)):
        if opts is not None and not isinstance(opts, dict):
            raise TypeError(f"{name} must be a dict or None, got {type(opts).__name__}")
    estimator_options = estimator_options or {}
    unknown = sorted(set(estimator_options) - set(ESTIMATORS))
    if unknown:
        raise ValueError(f"estimator_options names unknown estimator(s) {unknown}")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    _check_config(out / (Path(filename).stem + ".config.json"), dict(
        train_size=train_size, val_size=val_size, ae_options=ae_options or {},
        mine_options=mine_options or {}, estimator_options=estimator_options))
    done = {_key(r) for r in _prepare_csv(path)}
    plan = _plan(estimators, compressors, latent, mine_inputs)

    cells = []
    for d in datasets:
        for s in sizes:
            for mi in grid:
                for est, inp, comp in plan:
                    row_key = dict(dataset=d, size=s, estimator=est, input=inp, compressor=comp,
                                   true_mi=float(mi), n=n, seed=seed, noise_std=noise_std)
                    cells.append((row_key, _key(row_key) in done))
    bar = tqdm(total=len(cells), initial=sum(f for _, f in cells), desc="Algorithm 1", unit="cell",
               disable=not progress, dynamic_ncols=True)
    trained: dict = {}
    pair_cache: dict = {}
    try:
        for row_key, finished in cells:
            if finished:
                continue
            d, s, mi = row_key["dataset"], row_key["size"], row_key["true_mi"]
            bar.set_postfix_str(f"{d} {s} I={mi:.3g} {row_key['estimator']}/{row_key['input']}"
                                f"/{row_key['compressor']}", refresh=True)
            comp_name = row_key["compressor"] if row_key["input"] == "compressed" else "none"
            if (d, s, comp_name) not in trained:
                trained[(d, s, comp_name)] = train_compressor(
                    comp_name, d, s, seed=seed, train_size=train_size, val_size=val_size,
                    noise_std=noise_std, device=device, threads=threads, ae_options=ae_options,
                    cache_dir=out / "compressors")
            if pair_cache.get("key") != (d, s, mi):
                ss = _seed_for(seed, d, s, float(mi))
                rng = np.random.default_rng(ss)
                pair = image_pair(make_generator(d, s), float(mi), n, seed=rng)
                x = _add_noise(pair.x, noise_std, rng)
                y = _add_noise(pair.y, noise_std, rng)
                pair_cache = dict(key=(d, s, mi), pair=pair, x=x, y=y,
                                  est_seed=_int_seed(_seed_for(seed, d, s, float(mi), "estimator")))
            try:
                row = _run_cell(row_key, pair_cache, trained[(d, s, comp_name)], estimator_options,
                                mine_options, device, threads, noise_std)
            except ValueError as exc:
                cell = ", ".join(f"{k}={v}" for k, v in row_key.items())
                raise ValueError(f"Algorithm 1 cell ({cell}) failed: {exc}") from exc
            _append_row(path, row)
            bar.update(1)
    finally:
        bar.close()
    return read_results(path)


def _run_cell(key, cache, compressor, estimator_options, mine_options, device, threads, noise_std):
    est, inp = key["estimator"], key["input"]
    opts = dict(estimator_options.get(est, {}))
    if est == "mine":
        opts = {**(mine_options or {}), **opts}
        opts.setdefault("progress", False)
        opts.setdefault("device", device)
        opts.setdefault("seed", cache["est_seed"])
    elif est == "ksg" or "jitter" in opts:
        opts.setdefault("random_state", cache["est_seed"])
    if inp == "latent":
        x, y, comp = cache["pair"].latent_x, cache["pair"].latent_y, None
    elif inp == "raw":
        x, y, comp = cache["x"], cache["y"], None
        if est != "mine":
            x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    else:
        x, y, comp = cache["x"], cache["y"], compressor
    noise_var = noise_std ** 2 if (noise_std > 0 and isinstance(compressor, PCACompressor)
                                   and inp == "compressed") else None
    t0 = time.perf_counter()
    # torch runs the critics and the autoencoders' encoders: small nets, fastest on few threads
    torch_work = est == "mine" or (comp is not None and not isinstance(comp, PCACompressor))
    with limit_threads(threads if torch_work else None):
        res = lossy_mutual_information(x, y, est, compressor_x=comp, compressor_y=comp,
                                       noise_var_x=noise_var, noise_var_y=noise_var, **opts)
    seconds = time.perf_counter() - t0
    lo, hi = res.ci(0.95)
    if res.reconstruction_error_x is not None:
        rec = 0.5 * (res.reconstruction_error_x / res.n_features_x + res.reconstruction_error_y / res.n_features_y)
    else:
        rec = math.nan
    bound = res.loss_bound if noise_var is not None else None
    return dict(key, estimate=res.value, std=res.std, ci_low=lo, ci_high=hi, reconstruction_error=rec,
                seconds=seconds, bound_upper=math.nan if bound is None else float(bound))


# --------------------------------------------------------------------------------- summary
def mean_absolute_error(rows, *, max_mi: float | None = None, **filters) -> float:
    """Mean of ``|estimate - true_mi|`` (nats) over the rows matching ``filters`` (column=value)
    with ``true_mi <= max_mi``; NaN when no row matches."""
    sel = [r for r in rows if all(r[k] == v for k, v in filters.items())
           and (max_mi is None or r["true_mi"] <= max_mi + 1e-12)]
    if not sel:
        return math.nan
    return float(np.mean([abs(r["estimate"] - r["true_mi"]) for r in sel]))
