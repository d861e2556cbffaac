"""Input checks shared by every estimator: bad input fails here, with a message that names it."""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_samples", "as_labels", "check_int", "check_same_length", "check_no_duplicates"]


def _to_numpy(a):
    # torch tensors (also on CUDA) and anything array-like
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def as_samples(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float64 array of shape (n_samples, n_features).

    A 1-D input is one feature. Raises ``TypeError`` for non-numeric data and
    ``ValueError`` for a wrong number of dimensions, no samples or non-finite values.
    """
    try:
        arr = _to_numpy(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers; got dtype {arr.dtype} "
            "(complex, string and object arrays are not supported)"
        )
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D (n_samples,) or 2-D (n_samples, n_features); got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) "
            f"(first in row {int(rows[0])}); remove or impute them first"
        )
    return arr


def as_labels(y, name: str = "y") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encode discrete labels.

    Returns ``(codes, classes, counts)``: ``codes`` of shape (n,) in ``0..n_classes-1``.
    A 2-D ``y`` is read as one label per row (a tuple of columns).
    """
    arr = _to_numpy(y)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name} (labels) must be 1-D or 2-D; got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} (labels) is empty")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} (labels) contains NaN or infinite values")
    if arr.dtype == object:
        try:
            arr = arr.astype(str)
        except Exception:
            raise TypeError(f"{name} (labels) could not be converted to comparable values") from None
    if arr.ndim == 1:
        classes, codes, counts = np.unique(arr, return_inverse=True, return_counts=True)
    else:
        classes, codes, counts = np.unique(arr, axis=0, return_inverse=True, return_counts=True)
    return codes.reshape(-1).astype(np.intp), classes, counts


def check_int(value, name: str, minimum: int) -> int:
    """An integer option >= ``minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_same_length(x: np.ndarray, y: np.ndarray, names=("x", "y")) -> None:
    if len(x) != len(y):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples; "
            f"got {len(x)} and {len(y)}"
        )


def check_no_duplicates(x: np.ndarray, name: str = "x") -> None:
    """Refuse repeated rows: they give zero neighbour distances and infinite log-densities."""
    n_unique = len(np.unique(x, axis=0))
    if n_unique < len(x):
        raise ValueError(
            f"{name} has {len(x) - n_unique} duplicate sample(s) (identical rows), so some "
            "nearest-neighbour distances are zero and the log-density is infinite. Remove them, or "
            "pass jitter=<relative scale> (for example jitter=1e-8) to add seeded Gaussian noise of "
            "that size times each column's standard deviation."
        )
