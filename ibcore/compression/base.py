"""Input handling shared by the compressors: flattening, image batches, fitted-state checks and
the reconstruction-error rule (per sample or per coordinate)."""
from __future__ import annotations

import numbers

import numpy as np

from ..validation import as_real_array, check_choice, check_int

_PER = ("sample", "coordinate")


def as_flat(x, name: str = "x") -> tuple[np.ndarray, tuple]:
    """(n, ...) -> (n, prod(...)) float64, plus the per-sample shape."""
    arr = as_real_array(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    shape = arr.shape[1:]
    return np.ascontiguousarray(arr.reshape(len(arr), -1), dtype=np.float64), shape


def as_images(x, name: str = "x") -> np.ndarray:
    """(n, H, W) or (n, 1, H, W) -> float32 (n, 1, H, W)."""
    arr = as_real_array(x, name)
    if arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"{name} must be single-channel images (n, 1, H, W); got shape {arr.shape}")
    elif arr.ndim == 3:
        arr = arr[:, None]
    else:
        raise ValueError(f"{name} must be images of shape (n, H, W) or (n, 1, H, W); got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_per(per: str) -> str:
    return check_choice(per, "per", _PER)


def squared_error(x: np.ndarray, x_hat: np.ndarray, per: str) -> float:
    sq = ((x - x_hat) ** 2).sum(axis=1).mean()
    return float(sq if per == "sample" else sq / x.shape[1])


def as_widths(hidden, name: str = "hidden") -> tuple:
    """Hidden-layer widths: an int or an iterable of positive ints, as a tuple of ints."""
    h = hidden
    if isinstance(h, numbers.Integral) and not isinstance(h, bool):
        h = (h,)
    try:
        h = tuple(h)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of positive integers, got {hidden!r}") from None
    for w in h:
        check_int(w, f"each {name} width", 1)
    return tuple(int(w) for w in h)
