"""Algorithm 1 of the paper: the synthetic benchmark with predefined mutual information.

For every dataset and image size, and every MI value ``I`` of a grid:

1. sample ``n`` latent pairs ``(xi, eta)`` with exactly ``I`` nats (fresh and seeded per value);
2. map them to shape parameters and render images ``X``, ``Y`` (injective maps, so
   ``I(X; Y) = I``; :mod:`ibcore.synthetic.images`);
3. estimate the MI on the shape parameters (``input = "latent"``, the reference without
   compression loss), on the compressed images (``"compressed"``, once per compressor) and,
   for MINE (and for ``compressor="none"``), on the raw images (``"raw"``).

Each compressor is trained **once** per (dataset, size, compressor) on ``train_size +
val_size`` independent images of the marginal distribution (as in the paper's Algorithm 1 and
the authors' notebooks: the marginals do not depend on ``I``, so one compressor serves every MI
value and both ``X`` and ``Y``), and cached in ``out/compressors/`` so a rerun does not retrain
(autoencoders are saved with their ``save``/``load``; PCA is refitted, which is deterministic
and takes a fraction of a second).

Results go to a tidy CSV, one row per *cell* (dataset, size, estimator, input, compressor,
true MI, n, seed) with the columns of :data:`COLUMNS`. A cell is appended and flushed to disk
as soon as it is finished; a rerun reads the CSV and skips finished cells, so a killed run
loses at most the cell in flight (a partly written last line is dropped on the next start).
All randomness derives from ``seed``: the sample of one MI value depends only on
``(seed, dataset, size, I)``, not on the rest of the grid, so an interrupted and a complete run
produce the same table.

The work is three kinds of pure tasks: train a compressor (once per dataset, size and
compressor), sample the images of one MI value, and estimate one cell from those two. With
``scheduler=None`` they run here, in order; with a Dask scheduler (:mod:`ibcore.executor`) they
run on its workers, each cell as soon as its images and compressor exist, and the client appends
each row when its cell finishes. Every task runs with ``threads`` torch and BLAS threads wherever
it runs, so a distributed sweep writes the same numbers as a serial one. The output folder is
locked while a run writes into it (:class:`~ibcore.executor.FolderLock`).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from ..compression import FlowCompressor, PCACompressor, compressor_names, load_compressor, lossy_mutual_information
from ..compression import make_compressor as registry_compressor
from ..compression.registry import NONE
from ..executor import FolderLock, as_finished, dask_client, submit
from ..nn import limit_threads
from ..validation import check_int, derived_seed, seed_sequence
from .pairs import image_pair
from .settings import DATASETS, RUN_FIELDS, SweepSettings, check_names, check_size
from .table import append_row, cell_key, prepare_table, read_results

__all__ = ["run_algorithm1", "run_cell", "plan_cells", "make_generator", "make_compressor", "train_compressor"]


def make_generator(dataset: str, size: int):
    """The image generator of ``dataset`` at ``size``."""
    check_names(dataset, DATASETS, "dataset")
    return DATASETS[dataset][0](check_size(dataset, size))


def _ae_defaults(dataset: str) -> dict:
    if dataset == "antipca":
        # the authors' Anti-PCA notebook (VanessB/Information-v3): linear encoder 32 -> 2, decoder
        # Linear(2, 32) -> LeakyReLU -> Linear(32, 32), relative latent noise 0.01, MSE, batch 1,000
        return dict(hidden=(32,), linear_encoder=True, loss="mse", latent_noise=0.01, batch_size=1000,
                    epochs=2000, patience=100, lr=1e-3)
    return dict(epochs=200, batch_size=128, patience=20, lr=1e-3)


def make_compressor(name: str, dataset: str, size: int, *, random_state=None, device="auto",
                    val_fraction: float = 1 / 7, ae_options: dict | None = None):
    """An unfitted compressor of the registry (:func:`ibcore.compression.compressor_names`) for
    ``dataset``, with the dataset's code size; ``None`` for ``"none"``. The autoencoder ("ae",
    also the base of "flow": the autoencoder followed by a normalizing flow onto N(0, I),
    :class:`ibcore.compression.FlowCompressor`) gets the dataset's training defaults updated
    by ``ae_options``."""
    check_names(name, compressor_names(none=True), "compressor")
    check_names(dataset, DATASETS, "dataset")
    size = check_size(dataset, size)
    if name == NONE:
        return None
    ae = {**_ae_defaults(dataset), **(ae_options or {}), "validation_fraction": val_fraction}
    for key in ("seed", "random_state", "device"):  # the sweep's own
        ae.pop(key, None)
    options = {"ae": ae, "flow": {"base_options": ae}}.get(name, {})
    return registry_compressor(name, DATASETS[dataset][1], kind="vectors" if dataset == "antipca" else "images",
                               image_size=size, random_state=random_state, device=device, **options)


def _add_noise(images, noise_std, rng):
    if noise_std == 0:
        return images
    return (images + noise_std * rng.standard_normal(images.shape)).astype(images.dtype)


def train_compressor(name: str, dataset: str, size: int, *, random_state: int = 0, train_size: int = 6000,
                     val_size: int = 1000, noise_std: float = 0.0, device="auto", threads: int | None = 1,
                     ae_options: dict | None = None, cache_dir=None):
    """Train (or load from ``cache_dir``) the compressor of one (dataset, size, compressor).

    The training images are ``train_size + val_size`` independent draws from the marginal
    distribution (plus the same noise as the benchmark images when ``noise_std > 0``); the
    autoencoders hold out a seeded random ``val_size`` of them for early stopping, PCA fits on all.
    Autoencoders are cached in ``cache_dir`` under a name that hashes their options, the data
    sizes, the noise and ``random_state`` (the sweep's seed), so a changed budget trains a new one.

    Returns
    -------
    compressor or None
        Fitted; ``None`` for ``name="none"``.
    """
    return _fit_or_load(name, dataset, size, seed=random_state, train_size=train_size, val_size=val_size,
                        noise_std=noise_std, device=device, threads=threads, ae_options=ae_options,
                        cache_dir=cache_dir)[0]


def _fit_or_load(name, dataset, size, *, seed, train_size, val_size, noise_std, device, threads, ae_options,
                 cache_dir):
    """:func:`train_compressor`, returning ``(compressor, path of its cache file or None)``."""
    train_size = check_int(train_size, "train_size", 2)
    val_size = check_int(val_size, "val_size", 0)
    if name == "flow":
        return _fit_flow(dataset, size, seed=seed, train_size=train_size, val_size=val_size, noise_std=noise_std,
                         device=device, threads=threads, ae_options=ae_options, cache_dir=cache_dir)
    comp = make_compressor(name, dataset, size, random_state=derived_seed(seed, dataset, size, name, "init"),
                           device=device, val_fraction=val_size / (train_size + val_size),
                           ae_options=ae_options)
    if comp is None:
        return None, None
    path = None
    if cache_dir is not None and name == "ae":
        config = dict(comp.get_params(), dataset=dataset, size=size, train_size=train_size, val_size=val_size,
                      noise_std=noise_std, seed=seed)
        # the compressor's random_state is derived from the keys below (dataset, size, seed), so
        # it is left out: the names of cached files stay those written before it was renamed
        config = {k: str(v) for k, v in config.items() if k not in ("progress", "device", "random_state")}
        digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:10]
        path = Path(cache_dir) / f"{dataset}-{size}-{name}-{digest}.pt"
        if path.is_file():
            return type(comp).load(path, device=device), path
    images = _marginal_images(dataset, size, seed, train_size + val_size, noise_std)
    with limit_threads(threads):
        comp.fit(images)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        comp.save(tmp)
        os.replace(tmp, path)
    return comp, path




def _marginal_images(dataset, size, seed, count, noise_std):
    """The compressors' training images: independent marginal draws, seeded by the sweep's seed."""
    rng = np.random.default_rng(seed_sequence(seed, dataset, size, "marginal"))
    return _add_noise(make_generator(dataset, size).sample_marginal(count, random_state=rng), noise_std, rng)


def _fit_flow(dataset, size, *, seed, train_size, val_size, noise_std, device, threads, ae_options, cache_dir):
    """The "flow" compressor: the sweep's own "ae" autoencoder (loaded from its cache file when
    there is one, so both compressors share it bit for bit), then a flow fitted on its codes of
    the same training images. Returns ``(compressor, None)``: the flow travels as an object."""
    ae, _ = _fit_or_load("ae", dataset, size, seed=seed, train_size=train_size, val_size=val_size,
                         noise_std=noise_std, device=device, threads=threads, ae_options=ae_options,
                         cache_dir=cache_dir)
    comp = FlowCompressor(ae, fit_base=False, random_state=derived_seed(seed, dataset, size, "flow", "init"),
                          device=device, threads=threads)
    comp.fit(_marginal_images(dataset, size, seed, train_size + val_size, noise_std))
    return comp, None


def _plan(settings: SweepSettings):
    """(estimator, input, compressor) triples of one (dataset, size, MI value)."""
    plan = []
    for est in settings.estimators:
        if est == "mine":
            for inp in settings.mine_inputs:
                if inp == "compressed":
                    plan += [(est, "compressed", c) for c in settings.compressors if c != "none"]
                else:
                    plan.append((est, inp, "none"))
            continue
        if settings.latent:
            plan.append((est, "latent", "none"))
        for c in settings.compressors:
            plan.append((est, "raw", "none") if c == "none" else (est, "compressed", c))
    return list(dict.fromkeys(plan))


def plan_cells(settings: SweepSettings) -> list[dict]:
    """The cell keys of a sweep (the key columns of its rows), in the order they run."""
    plan = _plan(settings)
    return [dict(dataset=d, size=s, estimator=est, input=inp, compressor=comp, true_mi=float(mi),
                 n=settings.n, seed=settings.seed, noise_std=settings.noise_std)
            for d in settings.datasets for s in settings.sizes for mi in settings.grid
            for est, inp, comp in plan]


def _check_run_fields(path: Path, settings: SweepSettings) -> None:
    """Store the sweep's settings; refuse a directory whose table was made with other run fields
    (:data:`~ibcore.synthetic.settings.RUN_FIELDS`, not columns: its rows would silently mix two
    configurations)."""
    if path.is_file():
        try:
            stored = SweepSettings.from_dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not a readable sweep settings file ({exc}); delete it or use "
                             "another output directory") from None
        diff = stored.differences(settings, fields=RUN_FIELDS)
        if diff:
            raise ValueError(
                f"{path.parent} holds results made with other options ({'; '.join(diff)}; stored vs "
                "now). Use another output directory, or delete it to start over."
            )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def run_algorithm1(out, settings: SweepSettings | dict | None = None, *, progress: bool = True,
                   filename: str = "results.csv", scheduler=None, retries: int = 2, **options) -> list[dict]:
    """Run Algorithm 1 over a grid and write (or complete) the results CSV in ``out``.

    Parameters
    ----------
    out : path
        Output directory (created); holds ``filename``, the sweep's settings
        (``<stem>.settings.json``) and ``compressors/``. It is locked while the run writes: a
        second run into it at the same time raises :class:`~ibcore.executor.FolderInUseError`
        (a ``ValueError``) naming the first run's process.
    settings : SweepSettings or dict, optional
        The sweep (see :class:`~ibcore.synthetic.SweepSettings` for every option).
    progress : bool
        tqdm progress bar over the cells (and, on a cluster, the dashboard's address).
    filename : str
        Name of the CSV inside ``out``.
    scheduler : None, int, str or distributed.Client
        Where the cells run: ``None`` in this process, one after another; an ``int`` ``n`` on a
        local Dask cluster of ``n`` single-threaded worker processes; a ``distributed.Client``
        or a scheduler's address or scheduler file (see :func:`ibcore.executor.dask_client`).
        Each compressor is trained once, by one task, and shared with the cells that need it
        (an autoencoder through its file in ``out/compressors``, so the workers must see
        ``out``). Only this process writes the CSV, one row per finished cell (in the order
        they finish); the rows equal those of a serial run but for ``seconds``.
    retries : int
        Times a cell whose worker died is run again (local clusters started here; see
        :func:`ibcore.executor.dask_client`).
    **options
        Fields of :class:`~ibcore.synthetic.SweepSettings`, replacing those of ``settings``
        (``run_algorithm1(out, datasets=["rectangles"], n=2000)``).

    Returns
    -------
    list of dict
        All rows of the CSV after the run (see :data:`~ibcore.synthetic.COLUMNS`), typed as by
        :func:`~ibcore.synthetic.read_results`.
    """
    from tqdm.auto import tqdm

    settings = SweepSettings.resolve(settings, **options)
    out = Path(out)
    path = out / filename
    with FolderLock(out, "ibcore synthetic"):
        _check_run_fields(out / (Path(filename).stem + ".settings.json"), settings)
        done = {cell_key(r) for r in prepare_table(path)}
        cells = list({cell_key(k): k for k in plan_cells(settings)}.values())  # a grid may repeat a value
        pending = [k for k in cells if cell_key(k) not in done]
        bar = tqdm(total=len(cells), initial=len(cells) - len(pending), desc="Algorithm 1", unit="cell",
                   disable=not progress, dynamic_ncols=True)
        try:
            if scheduler is None:
                _run_here(pending, settings, out, path, bar)
            elif pending:
                _run_on_cluster(pending, settings, out, path, bar, scheduler, retries, progress)
        finally:
            bar.close()
    return read_results(path)


def run_cell(settings: SweepSettings, cell: dict, cache_dir, *, perturb=None) -> dict:
    """One Algorithm 1 cell on its own, exactly as :func:`run_algorithm1` computes its row.

    Parameters
    ----------
    settings : SweepSettings
        The sweep; its ``n``, ``seed`` and ``noise_std`` must be the cell's.
    cell : dict
        The cell's key columns (a row of :func:`plan_cells`).
    cache_dir : path
        Folder of the autoencoders' cache files (trained there when missing).
    perturb : callable, optional
        ``perturb(array) -> array`` applied to the cell's two inputs (images or latent vectors)
        before compression: how the audit (:mod:`ibcore.reproduce.audit`) measures how far
        rounding differences upstream of the estimator move the row.

    Returns
    -------
    dict
        The row (:data:`~ibcore.synthetic.COLUMNS`).
    """
    handle = _train_task(settings, cell["dataset"], cell["size"], _compressor_of(cell), str(cache_dir))
    pair = _pair_task(settings, cell["dataset"], cell["size"], cell["true_mi"])
    if perturb is not None:
        p = pair["pair"]
        pair = dict(pair, x=perturb(pair["x"]), y=perturb(pair["y"]),
                    pair=p._replace(latent_x=perturb(p.latent_x), latent_y=perturb(p.latent_y)))
    return _cell_task(settings, cell, pair, handle)


def _compressor_of(key) -> str:
    return key["compressor"] if key["input"] == "compressed" else "none"


def _run_here(pending, settings, out, path, bar) -> None:
    """The cells one after another in this process (each compressor trained once, each MI value's
    images sampled once: the cells of one value are consecutive)."""
    handles: dict = {}
    pair = None
    for key in pending:
        d, s, mi = key["dataset"], key["size"], key["true_mi"]
        bar.set_postfix_str(f"{d} {s} I={mi:.3g} {key['estimator']}/{key['input']}/{key['compressor']}",
                            refresh=True)
        comp = (d, s, _compressor_of(key))
        if comp not in handles:
            handles[comp] = _train_task(settings, *comp, str(out / "compressors"))
        if pair is None or pair["key"] != (d, s, mi):
            pair = _pair_task(settings, d, s, mi)
        append_row(path, _cell_task(settings, key, pair, handles[comp]))
        bar.update(1)


def _run_on_cluster(pending, settings, out, path, bar, scheduler, retries, progress) -> None:
    """The same tasks on Dask: the cells depend on their images' and compressor's futures."""
    cache_dir = str(out / "compressors")
    with dask_client(scheduler, retries=retries, progress=progress, what="Algorithm 1") as client:
        trained, pairs, cells = {}, {}, {}
        for key in pending:
            d, s, mi = key["dataset"], key["size"], key["true_mi"]
            comp = (d, s, _compressor_of(key))
            if comp[2] == "none":
                trained[comp] = None
            elif comp not in trained:
                trained[comp] = submit(client, _train_task, settings, *comp, cache_dir, name="a1-train")
            if (d, s, mi) not in pairs:
                pairs[(d, s, mi)] = submit(client, _pair_task, settings, d, s, mi, name="a1-pair")
            cells[submit(client, _cell_task, settings, key, pairs[(d, s, mi)], trained[comp], name="a1-cell")] = key
        # the cells keep their inputs alive on the cluster; once the last one is done they are freed
        trained.clear()
        pairs.clear()
        for _, row in as_finished(cells, bar=bar):
            append_row(path, row)


@contextlib.contextmanager
def _task_threads(threads):
    """torch and BLAS (OpenMP) threads of one task: the same wherever it runs, so are its numbers."""
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    if threads is None:
        yield
        return
    with limit_threads(threads), threadpool_limits(limits=threads):
        yield


def _contiguous(obj, depth: int = 2):
    """``obj`` with every numpy array in it (attributes of its attributes, dict values, tuple
    fields) C-contiguous: the form it has after a trip between Dask workers. BLAS products take
    another path on strided arrays: scikit-learn's PCA keeps a strided ``components_``, and a
    cell whose PCA had been sent to another worker differed from the serial run in the last bit."""
    if isinstance(obj, np.ndarray):
        return np.ascontiguousarray(obj)
    if depth < 0:
        return obj
    if isinstance(obj, dict):
        return {k: _contiguous(v, depth - 1) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple such as ImagePair
        return type(obj)(*(_contiguous(v, depth - 1) for v in obj))
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        for name, value in vars(obj).items():
            setattr(obj, name, _contiguous(value, depth - 1))
    return obj


def _train_task(settings: SweepSettings, dataset: str, size: int, name: str, cache_dir):
    """Train (or load) one compressor: the path of an autoencoder's cache file, a fitted PCA, or
    ``None`` for ``"none"`` (what :func:`_cell_task` takes)."""
    with _task_threads(settings.threads):
        comp, path = _fit_or_load(name, dataset, size, seed=settings.seed, train_size=settings.train_size,
                                  val_size=settings.val_size, noise_std=settings.noise_std, device=settings.device,
                                  threads=settings.threads, ae_options=settings.ae_options, cache_dir=cache_dir)
    return str(path) if path is not None else _contiguous(comp)


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, device: str, mtime_ns: int):
    return load_compressor(path, device=device)


def _compressor(handle, device):
    if isinstance(handle, str):  # an autoencoder's file: loaded once per process
        return _load_cached(handle, device, os.stat(handle).st_mtime_ns)
    return handle


def _pair_task(settings: SweepSettings, dataset: str, size: int, mi: float) -> dict:
    with _task_threads(settings.threads):
        return _contiguous(_sample_pair(settings, dataset, size, mi))


def _cell_task(settings: SweepSettings, key: dict, pair: dict, handle) -> dict:
    """One row of the table: a pure function of the settings, the cell, its images and compressor."""
    with _task_threads(settings.threads):
        try:
            return _run_cell(key, pair, _compressor(handle, settings.device), settings)
        except ValueError as exc:
            cell = ", ".join(f"{k}={v}" for k, v in key.items())
            raise ValueError(f"Algorithm 1 cell ({cell}) failed: {exc}") from exc


def _sample_pair(settings: SweepSettings, dataset: str, size: int, mi: float) -> dict:
    """The images of one (dataset, size, MI value): they depend on nothing else of the sweep."""
    seed, noise_std = settings.seed, settings.noise_std
    rng = np.random.default_rng(seed_sequence(seed, dataset, size, float(mi)))
    pair = image_pair(make_generator(dataset, size), float(mi), settings.n, random_state=rng)
    x = _add_noise(pair.x, noise_std, rng)
    y = _add_noise(pair.y, noise_std, rng)
    return dict(key=(dataset, size, mi), pair=pair, x=x, y=y,
                est_seed=derived_seed(seed, dataset, size, float(mi), "estimator"))


def _run_cell(key, cache, compressor, settings: SweepSettings):
    estimator_options, mine_options = settings.estimator_options, settings.mine_options
    device, noise_std = settings.device, settings.noise_std
    est, inp = key["estimator"], key["input"]
    opts = dict(estimator_options.get(est, {}))
    if est == "mine":
        opts = {**(mine_options or {}), **opts}
        opts.setdefault("progress", False)
        opts.setdefault("device", device)
        opts.setdefault("random_state", cache["est_seed"])
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
    # the caller (_cell_task) limits the threads: small nets, fastest on few; and the same
    # number wherever the cell runs
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


