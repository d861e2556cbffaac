"""Small torch utilities shared by the compressors and MINE.

Everything that trains a network in :mod:`ibcore.compression` and :mod:`ibcore.estimators.mine` goes through
the single loop :func:`train_loop` (shuffled mini-batches, per-epoch history, optional early
stopping with best-weight restore, a tqdm bar), so seeding, devices and stopping behave the
same everywhere.
"""
from __future__ import annotations

import contextlib
import copy
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["seeded", "limit_threads", "in_threads", "make_generator", "to_tensor", "split_indices", "TrainResult",
           "train_loop"]

# torch's global CPU generator is one per process: a seeded block holds this lock so that two
# threads building networks at once (:func:`in_threads`) cannot draw from each other's seed
_SEED_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed):
    """Run the block with torch's global CPU generator set to ``seed``, restoring it afterwards.

    Module constructors draw their initial weights from the global generator; forking it keeps
    a seeded fit reproducible without changing the caller's random stream. ``seed=None`` does
    nothing. (Weights are built on the CPU and moved afterwards, so CUDA state is not involved.)
    The block runs under a process-wide lock (threads that build networks take turns), so keep
    it to building modules.
    """
    if seed is None:
        yield
        return
    import torch

    with _SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def limit_threads(n: int | None = 1):
    """Run the block with at most ``n`` torch intra-op CPU threads, restoring the setting after.

    The compressors and critics here are small: extra threads barely help them, and on a CPU
    shared with other processes OpenMP's busy-waiting can make a 2-thread step ten times slower
    than a 1-thread one. ``n=None`` leaves the setting alone.
    """
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def in_threads(jobs: list[Callable]) -> list:
    """Run the callables ``jobs`` at once, one Python thread each with one torch CPU thread, and
    return their results in order (the first exception is raised).

    torch releases the GIL inside its kernels, so small networks trained side by side use one
    core each: ``auto``'s two canonical encoders (:mod:`ibcore.compression.auto_images`) train
    on 2 cores in about the time of one, with the weights they get one after the other
    (``benchmarks/README.md``, the accuracy section). Networks built inside :func:`seeded` stay
    reproducible; anything else drawing from torch's global generator while training (dropout)
    would not be.
    """
    if len(jobs) <= 1:
        with limit_threads(1):
            return [job() for job in jobs]

    def run(job):
        with limit_threads(1):
            return job()

    with limit_threads(1), ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return [f.result() for f in [pool.submit(run, job) for job in jobs]]


def make_generator(seed, device) -> "torch.Generator":  # noqa: F821
    """A ``torch.Generator`` on ``device`` for shuffles, permutations and noise.

    ``seed=None`` draws a fresh seed from the OS, so unseeded runs differ.
    """
    import torch

    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


def to_tensor(a, device, dtype=None) -> "torch.Tensor":  # noqa: F821
    """numpy array or tensor -> float32 tensor on ``device`` (no copy when already there)."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if isinstance(a, torch.Tensor):
        return a.detach().to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


def split_indices(n: int, val_fraction: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into (train, validation) index arrays.

    ``val_fraction = 0`` gives an empty validation part. Both parts must keep at least
    two samples, otherwise ``ValueError``.
    """
    if val_fraction == 0:
        return np.arange(n), np.arange(0)
    n_val = int(round(n * val_fraction))
    if n_val < 2 or n - n_val < 2:
        raise ValueError(
            f"validation_fraction={val_fraction} of {n} samples leaves {n - n_val} for training and "
            f"{n_val} for validation; each part needs at least 2. Use more samples or set it to 0."
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


@dataclass
class TrainResult:
    """What :func:`train_loop` records.

    Attributes
    ----------
    history : list of float
        Per epoch, the sample-weighted mean of the values returned by ``step`` (the training loss,
        or for MINE the Donsker-Varadhan value).
    monitor : list of float
        Per epoch, the value early stopping watched (``evaluate()`` if given, else ``history``).
    best_epoch : int
        0-based epoch with the best monitored value.
    epochs_run : int
        Number of epochs actually run (< ``epochs`` when stopped early).
    stopped_early : bool
    """

    history: list = field(default_factory=list)
    monitor: list = field(default_factory=list)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False


def train_loop(
    step: Callable,
    n_train: int,
    *,
    epochs: int,
    batch_size: int,
    generator,
    evaluate: Callable | None = None,
    mode: str = "min",
    patience: int | None = None,
    min_delta: float = 0.0,
    model=None,
    restore_best: bool = True,
    drop_last: bool = False,
    progress: bool = True,
    desc: str = "training",
    postfix: str = "loss",
) -> TrainResult:
    """The one training loop: shuffled mini-batches, history, early stopping, progress bar.

    Parameters
    ----------
    step : callable
        ``step(idx) -> float``: one optimisation step on the training rows ``idx`` (a 1-D
        ``torch.long`` tensor on the generator's device); returns the value to record.
    n_train : int
        Number of training rows.
    epochs, batch_size : int
        Step budget: ``epochs`` passes over a fresh permutation, in batches of ``batch_size``.
    generator : torch.Generator
        Drives the shuffles (seeded by the caller).
    evaluate : callable, optional
        ``evaluate() -> float``, called after every epoch; the monitored value for early
        stopping (e.g. the validation loss). Without it the epoch's training value is monitored
        (plateau detection).
    mode : {"min", "max"}
        Whether a lower or a higher monitored value is better.
    patience : int, optional
        Stop after this many epochs without an improvement larger than ``min_delta``.
        ``None`` runs the full budget.
    model : torch.nn.Module, optional
        With ``restore_best`` and early stopping on, its weights at the best epoch are kept and
        loaded back at the end.
    drop_last : bool
        Drop the last, smaller batch of an epoch (needs ``n_train >= batch_size``). Without it a
        final batch of a single row is still dropped, because batch normalisation and in-batch
        permutations need two rows.
    progress : bool
        Show a tqdm bar with the last recorded and monitored values.

    Returns
    -------
    TrainResult
    """
    import torch
    from tqdm.auto import tqdm

    if n_train < 2:
        raise ValueError(f"training needs at least 2 samples, got {n_train}")
    sign = 1.0 if mode == "min" else -1.0
    res = TrainResult()
    best = math.inf
    best_state = None
    since_best = 0
    track_best = patience is not None and model is not None and restore_best
    bsz = min(batch_size, n_train)
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for epoch in bar:
        perm = torch.randperm(n_train, generator=generator, device=generator.device)
        total, count = 0.0, 0
        for start in range(0, n_train, bsz):
            idx = perm[start:start + bsz]
            if len(idx) < 2 or (drop_last and len(idx) < bsz):
                continue
            total += float(step(idx)) * len(idx)
            count += len(idx)
        value = total / count
        monitored = float(evaluate()) if evaluate is not None else value
        if not (math.isfinite(value) and math.isfinite(monitored)):
            bar.close()
            raise FloatingPointError(
                f"{desc}: the training value became non-finite at epoch {epoch} "
                f"(value={value}, monitored={monitored}); lower the learning rate"
            )
        res.history.append(value)
        res.monitor.append(monitored)
        res.epochs_run = epoch + 1
        if sign * monitored < best - min_delta:
            best = sign * monitored
            res.best_epoch = epoch
            since_best = 0
            if track_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        if progress:
            text = f"{value:.4g}" if evaluate is None else f"{value:.4g} | monitor {monitored:.4g}"
            bar.set_postfix_str(f"{postfix} {text}", refresh=False)
        if patience is not None and since_best >= patience:
            res.stopped_early = True
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return res


def fit_likelihood(model, nll: Callable, train: tuple, val: tuple, *, lr: float, epochs: int, batch_size: int,
                   patience: int, seed: int, device, progress: bool, desc: str) -> TrainResult:
    """Fit a density model by Adam on its negative log-likelihood, early stopping on held-out data.

    Parameters
    ----------
    model : torch.nn.Module or object with ``parameters``, ``state_dict`` and ``load_state_dict``
        Trained in place; its best state (lowest held-out NLL) is restored at the end.
    nll : callable
        ``nll(*tensors) -> scalar tensor``: the mean negative log-likelihood (nats per sample)
        of the rows given, one tensor per variable (e.g. ``(z,)`` or ``(u, v)``).
    train, val : tuple of tensors
        The training and validation rows, one tensor per variable, same first dimension.
    lr, epochs, batch_size, patience, seed, device, progress, desc
        Adam's learning rate and :func:`train_loop`'s budget, shuffling seed, progress bar.
    """
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=float(lr))

    def step(idx):
        opt.zero_grad()
        loss = nll(*(t[idx] for t in train))
        loss.backward()
        opt.step()
        return loss.item()

    def evaluate():
        with torch.no_grad():
            return nll(*val).item()

    return train_loop(step, len(train[0]), epochs=int(epochs), batch_size=int(batch_size),
                      generator=make_generator(seed, device), evaluate=evaluate, mode="min",
                      patience=int(patience), model=model, progress=progress, desc=desc, postfix="NLL")
