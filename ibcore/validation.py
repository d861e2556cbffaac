"""Input checks shared by every estimator: bad input fails here, with a message that names it."""
from __future__ import annotations

import math
import numbers
import zlib

import numpy as np

__all__ = [
    "as_real_array", "as_samples", "check_fitted", "seed_sequence", "derived_seed", "as_labels", "is_discrete_labels", "check_int", "check_float", "check_choice", "check_seed",
    "check_same_length", "check_no_duplicates", "parse_int", "parse_list",
]


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
    arr = _to_numpy_checked(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D (n_samples,) or 2-D (n_samples, n_features); got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    _check_finite(arr, name)
    return arr


def as_real_array(x, name: str = "x") -> np.ndarray:
    """A numpy array of real numbers of any shape (images, batches) from an array, tensor or list.

    ``TypeError`` for non-numeric data; ``ValueError`` for a scalar, no samples or NaN/inf.
    """
    arr = _to_numpy_checked(x, name)
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(f"{name} is empty or a scalar: shape {arr.shape}")
    _check_finite(arr, name)
    return arr


def _to_numpy_checked(x, name):
    try:
        arr = _to_numpy(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers; got dtype {arr.dtype} "
            "(complex, string and object arrays are not supported)"
        )
    return arr


def _check_finite(arr, name):
    bad = ~np.isfinite(arr)
    if bad.any():
        first = np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape)
        where = f"row {int(first[0])}" if arr.ndim == 2 else f"index {tuple(int(i) for i in first)}"
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s) (first at {where}); "
            "remove or impute them first"
        )


def is_discrete_labels(y, discrete_y=None) -> bool:
    """Whether ``y`` is read as labels: ``discrete_y`` when given (True/False), else a 1-D
    integer, boolean or string array."""
    if discrete_y is not None:
        if not isinstance(discrete_y, (bool, np.bool_)):
            raise TypeError(f"discrete_y must be None, True or False, got {discrete_y!r}")
        return bool(discrete_y)
    arr = _to_numpy(y)
    return arr.ndim == 1 and arr.dtype.kind in "biuU"


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


def parse_int(text, name: str, minimum: int | None = None) -> int:
    """An integer written as text (a command-line value such as ``"12"``, ``" 12 "`` or
    ``"1_000"``), ``>= minimum`` when given.

    ``TypeError`` unless ``text`` is a string; ``ValueError`` naming ``name`` when it is not an
    integer (``"1.5"``, ``"x"``) or is below ``minimum`` (:func:`check_int`).
    """
    if not isinstance(text, str):
        raise TypeError(f"{name} must be given as text, got {text!r}")
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    return value if minimum is None else check_int(value, name, minimum)


def parse_list(text, name: str, *, item=None, choices=None) -> list:
    """The items of a comma-separated list written as text (``"16, 32"``; blank items dropped).

    Parameters
    ----------
    text : str
    name : str
        What one item is, in the error messages (``"size"``, ``"estimator"``).
    item : callable, optional
        ``item(text, name) -> value`` reads each item (e.g. :func:`parse_int`); default: the
        stripped text.
    choices : sequence, optional
        The values an item may take.

    Returns
    -------
    list

    Raises
    ------
    TypeError
        ``text`` is not a string.
    ValueError
        The list is empty, an item does not read (the message of ``item``) or is not one of
        ``choices`` (``unknown <name> 'x'; choose from a, b``).
    """
    if not isinstance(text, str):
        raise TypeError(f"a list of {name} values must be given as text, got {text!r}")
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"no {name} in {text!r}: expected a comma-separated list")
    if item is not None:
        items = [item(t, name) for t in items]
    if choices is not None:
        bad = [v for v in items if v not in choices]
        if bad:
            raise ValueError(f"unknown {name} {bad[0]!r}; choose from {', '.join(str(c) for c in choices)}")
    return items


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


def check_seed(seed, name: str = "seed"):
    """``None`` or a non-negative integer (bools refused)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"{name} must be None or a non-negative integer, got {seed!r}")
    return int(seed)


def check_float(value, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A real option inside ``[low, high]`` (ends open when asked); bools refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_fitted(obj, attr: str, call: str = "fit(x)") -> None:
    """scikit-learn's :class:`~sklearn.exceptions.NotFittedError` (a ``ValueError``) unless ``obj``
    has the learned attribute ``attr``; the message says to call ``call`` first."""
    if not hasattr(obj, attr):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"This {type(obj).__name__} instance is not fitted yet; call {call} before using it")


def seed_sequence(*parts) -> np.random.SeedSequence:
    """A :class:`numpy.random.SeedSequence` that depends only on ``parts``: integers, strings
    (by their CRC-32) and floats (to 1e-9), so one run's streams are the same in every process
    and never overlap for different parts."""
    words = []
    for p in parts:
        if isinstance(p, str):
            words.append(zlib.crc32(p.encode()))
        elif isinstance(p, float):
            words.append(int(round(p * 1e9)) & 0xFFFFFFFFFFFF)
        else:
            words.append(int(p))
    return np.random.SeedSequence(words)


def derived_seed(*parts) -> int:
    """A 31-bit integer seed from :func:`seed_sequence` of ``parts`` (e.g. a run's seed, an
    epoch and a layer index)."""
    return int(seed_sequence(*parts).generate_state(1)[0] & 0x7FFFFFFF)
