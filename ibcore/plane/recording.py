"""Capturing layer outputs for the paper's Algorithm 2: hooks and one exactly paired evaluation pass.

:class:`LayerRecorder`
    forward hooks capturing named layers' outputs, flattened to ``(n, features)``.
:func:`collect`
    one unshuffled, gradient-free evaluation pass returning layer outputs together with the
    inputs and labels *of the same pass*, so the X/L pairing is exact by construction (the
    authors' CIFAR10 notebook in ``VanessB/Information-v3`` paired a shuffled ``C_X`` with
    unshuffled layer outputs).
"""
from __future__ import annotations

import contextlib
import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..device import model_device
from .noise import noise_seed, resolve_layers

__all__ = ["LayerRecorder", "Collected", "collect"]

class LayerRecorder:
    """Capture the outputs of named layers with forward hooks.

    Use as a context manager; the hooks exist only inside the block::

        with LayerRecorder(model, ["features.2", "classifier.1"]) as rec:
            for xb in batches:
                model(xb)
        outputs = rec.outputs()   # {"features.2": array (n, d1), "classifier.1": array (n, d2)}

    Parameters
    ----------
    model : torch.nn.Module
    layers : str or list of str
        Qualified names from ``model.named_modules()`` (conv, linear, containers, activations:
        any module). Unknown names raise ``ValueError`` listing the available ones.
    as_numpy : bool, default True
        ``outputs()`` returns float64 numpy arrays; ``False`` returns float64 CPU tensors.

    Notes
    -----
    Each call of a hooked module appends its output, detached, flattened to ``(batch, -1)`` and
    copied to the CPU in float64. Outputs are concatenated in call order, so the rows follow the
    order in which the batches were fed. A module called several times per forward (weight
    sharing) records every call. A tuple output records its first element.
    """

    def __init__(self, model: nn.Module, layers, as_numpy: bool = True):
        self._modules = resolve_layers(model, layers)
        self.model = model
        self.layers = list(self._modules)
        self.as_numpy = bool(as_numpy)
        self._handles: list = []
        self._store: dict[str, list] = {n: [] for n in self.layers}

    def _hook(self, name):
        def hook(module, args, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layer {name!r} returned {type(output).__name__}, not a tensor")
            out = output.detach()
            out = out.reshape(out.shape[0], -1) if out.ndim > 1 else out.reshape(-1, 1)
            self._store[name].append(out.to(device="cpu", dtype=torch.float64))
        return hook

    @property
    def active(self) -> bool:
        """Whether the hooks are installed."""
        return bool(self._handles)

    def __enter__(self):
        if self._handles:
            raise RuntimeError("LayerRecorder is already active; it cannot be entered twice")
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self._modules.items()]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles = []
        return False

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self._store = {n: [] for n in self.layers}

    def outputs(self) -> dict:
        """``{name: (n, d_layer)}`` float64 arrays (or tensors), rows in call order.

        A layer that was never called raises ``RuntimeError`` (it is not on the model's forward
        path, or nothing was run yet).
        """
        missing = [n for n in self.layers if not self._store[n]]
        if missing:
            raise RuntimeError(
                f"no outputs recorded for layer(s) {missing}: nothing was run inside the block, or "
                "these modules are not used by the model's forward"
            )
        out = {}
        for n in self.layers:
            t = torch.cat(self._store[n], dim=0)
            out[n] = t.numpy() if self.as_numpy else t
        return out


class Collected(NamedTuple):
    """Result of :func:`collect`; rows of every field are aligned (same sample, same row).

    Attributes
    ----------
    outputs : dict
        ``{layer name: float64 array (n, d_layer)}``.
    inputs : torch.Tensor or None
        ``(n, ...)`` inputs in the order they were fed (CPU), ``None`` if not kept.
    labels : torch.Tensor or None
        ``(n,)`` labels of the same rows (CPU), ``None`` when the data had none.
    """

    outputs: dict
    inputs: torch.Tensor | None
    labels: torch.Tensor | None


def _batches(data, labels, batch_size):
    """Yield ``(x, y_or_None)`` CPU/any-device batches in a fixed order."""
    from torch.utils.data import DataLoader, Dataset, IterableDataset

    if isinstance(data, DataLoader):
        if labels is not None:
            raise ValueError("labels must not be given with a DataLoader; they come from its batches")
        ds = data.dataset
        if isinstance(ds, IterableDataset):
            # no index order to restore: the stream's own order is the pass order
            loader = data
        else:
            # the loader may shuffle; rebuild it over the same dataset in index order
            loader = DataLoader(ds, batch_size=data.batch_size or batch_size, shuffle=False,
                                collate_fn=data.collate_fn, num_workers=data.num_workers)
        for batch in loader:
            yield _split_batch(batch)
        return
    if isinstance(data, Dataset):
        if labels is not None:
            raise ValueError("labels must not be given with a Dataset; they come from its items")
        for batch in DataLoader(data, batch_size=batch_size, shuffle=False):
            yield _split_batch(batch)
        return
    if isinstance(data, tuple):
        if len(data) != 2 or labels is not None:
            raise ValueError("a tuple must be (inputs, labels); do not pass labels= as well")
        data, labels = data
    if isinstance(data, torch.Tensor):
        x = data
    else:
        x = torch.as_tensor(np.asarray(data))
        if x.is_floating_point():  # numpy defaults to float64; torch models to float32
            x = x.float()
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"inputs are empty or a scalar: shape {tuple(x.shape)}")
    y = None
    if labels is not None:
        y = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"inputs have {x.shape[0]} rows but labels have {y.shape[0]}")
    for start in range(0, x.shape[0], batch_size):
        yield x[start:start + batch_size], (None if y is None else y[start:start + batch_size])


def _split_batch(batch):
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) >= 1:
        return batch[0], (batch[1] if len(batch) > 1 else None)
    raise TypeError(f"batches must be tensors or (inputs, labels) pairs, got {type(batch).__name__}")


def collect(
    model: nn.Module,
    data,
    layers,
    *,
    labels=None,
    device=None,
    batch_size: int = 2048,
    random_state: int | None = None,
    keep_inputs: bool = True,
) -> Collected:
    """One evaluation pass: layer outputs, inputs and labels in one fixed order.

    The model runs in eval mode (dropout off, batch-norm frozen) under ``torch.no_grad``;
    :class:`GaussianNoise` stays on. Every module's ``training`` flag is restored afterwards.
    Inputs, labels and layer outputs come from the same batches of the same pass, so row ``i``
    of every result is the same sample: this is what keeps ``C_X`` and ``C_L`` paired.

    Parameters
    ----------
    model : torch.nn.Module
    data : tensor, array, ``(inputs, labels)`` pair, Dataset or DataLoader
        A DataLoader over a map-style dataset is re-read in index order, whatever its sampler
        (a shuffling loader gives the same rows every call); an iterable dataset is read once
        in its own order and the returned inputs/labels record that order.
    layers : str or list of str
        Names from ``model.named_modules()``.
    labels : tensor or array, optional
        ``(n,)`` labels for tensor/array ``data``.
    device : torch.device or str, optional
        Where the batches go; default the model's device. The model is not moved: it must
        already be there.
    batch_size : int, default 2048
        Used for tensors, arrays and Datasets.
    random_state : int, optional
        Seeds the evaluation noise (:func:`noise_seed`) for a reproducible pass.
    keep_inputs : bool, default True
        Return the inputs (CPU); ``False`` saves memory.

    Returns
    -------
    Collected
        ``(outputs, inputs, labels)``; ``outputs[name]`` is float64 ``(n, d_layer)``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    recorder = LayerRecorder(model, layers)
    model_dev = model_device(model)
    dev = model_dev if device is None else torch.device(device)
    if dev.type != model_dev.type or (dev.index is not None and model_dev.index is not None
                                      and dev.index != model_dev.index):
        raise ValueError(f"device={dev} but the model's parameters are on {model_dev}; move the model first")
    flags = {m: m.training for m in model.modules()}
    xs, ys = [], []
    seeding = noise_seed(model, random_state) if random_state is not None else contextlib.nullcontext()
    try:
        model.eval()
        with torch.no_grad(), seeding, recorder:
            for xb, yb in _batches(data, labels, int(batch_size)):
                model(xb.to(dev))
                if keep_inputs:
                    xs.append(xb.detach().cpu())
                if yb is not None:
                    ys.append(torch.as_tensor(yb).detach().cpu())
    finally:
        for m, flag in flags.items():
            m.training = flag
    outputs = recorder.outputs()
    n = next(iter(outputs.values())).shape[0]
    inputs = torch.cat(xs, dim=0) if keep_inputs else None
    y = torch.cat(ys, dim=0) if ys else None
    bad = {k: v.shape[0] for k, v in outputs.items() if v.shape[0] != n}
    if bad or (y is not None and y.shape[0] != n):
        raise RuntimeError(
            f"recorded row counts differ ({ {k: v.shape[0] for k, v in outputs.items()} }, labels "
            f"{None if y is None else y.shape[0]}): a layer is called more than once per forward "
            "or some batches had no labels"
        )
    return Collected(outputs, inputs, y)
