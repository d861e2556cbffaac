"""Smoothing of information-plane trajectories and automatic fitting/compression phases.

Smoothing never replaces the raw estimates: it is drawn over them (the authors' Savitzky-Golay +
Butterworth cascade in ``VanessB/Information-v3`` can create apparent phases).

Phase rule (:func:`detect_phases`), applied to one layer's ``I(X;L)`` series:

1. smooth the series (:func:`smooth`, Savitzky-Golay by default);
2. split the epochs into maximal runs where the smoothed derivative (``numpy.gradient``) keeps
   its sign;
3. merge runs shorter than ``min_length`` epochs into a neighbour (the shortest run first, into
   the neighbour whose trend it least contradicts, i.e. the shorter neighbour), until every run is
   long enough or only one remains;
4. for each run ``[a, b]`` compute the change of the smoothed curve ``Delta = s(b) - s(a)`` and
   its standard error from the *raw* points' standard errors at both ends,
   ``se = sqrt(std_a^2 + std_b^2)`` (conservative: smoothing averages the noise down, which this
   ignores); the run is **significant** when ``|Delta| > z * se`` (``z = 1.96``: outside the two
   95 % intervals' combined half-width);
5. a significant run with ``Delta > 0`` is a **fitting** phase (``I(X;L)`` grows), with
   ``Delta < 0`` a **compression** phase; a run that is not significant is labelled ``"flat"``
   (no phase can be claimed at the confidence-interval scale). Adjacent runs with the same label
   are joined.

:func:`steepest_loss_drop` finds the epochs of the fastest loss decrease, to compare with the
first compression phase (the paper reports that the two coincide).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, filtfilt, savgol_filter

__all__ = ["smooth", "Segment", "detect_phases", "trusted_points", "steepest_loss_drop", "SMOOTHING_METHODS", "PHASE_KINDS"]

SMOOTHING_METHODS = ("savgol", "paper", "none")
PHASE_KINDS = ("fitting", "compression", "flat")


def _series(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _odd_window(window: int, n: int) -> int:
    w = min(int(window), n if n % 2 else n - 1)
    return w if w % 2 else w - 1


def smooth(values, method: str = "savgol", window: int | None = None, polyorder: int = 2) -> np.ndarray:
    """Smoothed copy of a per-epoch series (the input is not modified).

    Parameters
    ----------
    values : array (T,)
    method : {"savgol", "paper", "none"}
        ``"savgol"``: :func:`scipy.signal.savgol_filter` (local polynomial least squares),
        ``window`` odd, default ``max(5, T // 5)`` capped at ``T``; ``polyorder`` default 2.
        ``"paper"``: the authors' cascade (``VanessB/Information-v3``): Savitzky-Golay with window
        ``min(30, T)`` (made odd) and polyorder ``min(4, window - 1)``, then a zero-phase order-8
        Butterworth low-pass (normalised cutoff 0.125, :func:`scipy.signal.filtfilt`,
        ``padlen = min(5, T - 1)``). ``"none"``: a copy.
    window : int, optional
    polyorder : int, default 2

    Returns
    -------
    ndarray (T,)
        Series shorter than 4 points are returned unchanged (nothing to fit).
    """
    x = _series(values, "values")
    if method not in SMOOTHING_METHODS:
        raise ValueError(f"method must be one of {SMOOTHING_METHODS}, got {method!r}")
    n = len(x)
    if method == "none" or n < 4:
        return x.copy()
    if method == "paper":
        w = _odd_window(min(30, n), n)
        y = savgol_filter(x, w, min(4, w - 1))
        b, a = butter(8, 0.125)
        return filtfilt(b, a, y, padlen=min(5, n - 1))
    w = _odd_window(max(5, n // 5) if window is None else window, n)
    if w < 3:
        return x.copy()
    if isinstance(polyorder, bool) or not isinstance(polyorder, int) or polyorder < 0:
        raise ValueError(f"polyorder must be a non-negative integer, got {polyorder!r}")
    return savgol_filter(x, w, min(polyorder, w - 1))


@dataclass(frozen=True)
class Segment:
    """One detected phase of an ``I(X;L)`` trajectory.

    Attributes
    ----------
    kind : {"fitting", "compression", "flat"}
    start, end : float
        First and last epoch of the segment (inclusive; consecutive segments share no epoch).
    delta : float
        Change of the smoothed ``I(X;L)`` from ``start`` to ``end``, nats.
    delta_std : float
        Its standard error from the raw points' standard errors at both ends, nats.
    z : float
        ``|delta| / delta_std`` (inf when the std is 0).
    significant : bool
        ``z > z_threshold`` (the test of :func:`detect_phases`).
    """

    kind: str
    start: float
    end: float
    delta: float
    delta_std: float
    z: float
    significant: bool


def _runs(sign: np.ndarray) -> list[list[int]]:
    runs = [[0, 0]]
    for i in range(1, len(sign)):
        if sign[i] == sign[runs[-1][0]]:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def detect_phases(epochs, ixl, ixl_std=None, *, smoothing: str = "savgol", window: int | None = None,
                  polyorder: int = 2, min_length: int = 3, z_threshold: float = 1.96) -> list[Segment]:
    """Fitting and compression phases of one layer's ``I(X;L)`` series (rule in the module docstring).

    Parameters
    ----------
    epochs : array (T,)
        Increasing epoch numbers.
    ixl : array (T,)
        Raw ``I(X;L)`` estimates, nats.
    ixl_std : array (T,), optional
        Their standard errors; ``None`` treats them as 0 (every run is then significant).
    smoothing, window, polyorder
        As in :func:`smooth`.
    min_length : int, default 3
        Shortest run kept, in points.
    z_threshold : float, default 1.96

    Returns
    -------
    list of Segment
        Covering all epochs in order; empty for fewer than 2 points.
    """
    t = _series(epochs, "epochs")
    x = _series(ixl, "ixl")
    if len(t) != len(x):
        raise ValueError(f"epochs ({len(t)}) and ixl ({len(x)}) differ in length")
    if len(t) > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("epochs must be strictly increasing")
    s = np.zeros_like(x) if ixl_std is None else _series(ixl_std, "ixl_std")
    if len(s) != len(x) or (s < 0).any():
        raise ValueError("ixl_std must have the length of ixl and be >= 0")
    if isinstance(min_length, bool) or not isinstance(min_length, int) or min_length < 1:
        raise ValueError(f"min_length must be a positive integer, got {min_length!r}")
    if not (isinstance(z_threshold, (int, float)) and z_threshold >= 0):
        raise ValueError(f"z_threshold must be >= 0, got {z_threshold!r}")
    n = len(x)
    if n < 2:
        return []
    sm = smooth(x, smoothing, window, polyorder)
    sign = np.sign(np.gradient(sm, t))
    sign[sign == 0] = 1
    runs = _runs(sign)
    while len(runs) > 1:
        lengths = [b - a + 1 for a, b in runs]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_length:
            break
        if i == 0:
            j = 1
        elif i == len(runs) - 1:
            j = i - 1
        else:
            j = i - 1 if lengths[i - 1] <= lengths[i + 1] else i + 1
        lo, hi = min(i, j), max(i, j)
        runs[lo] = [runs[lo][0], runs[hi][1]]
        del runs[hi]
    segments: list[Segment] = []

    def make(a, b):
        # a segment's change is counted from the last point of the previous one, so that the
        # changes of consecutive segments add up to the total change
        a0 = a - 1 if a > 0 else a
        delta = float(sm[b] - sm[a0])
        se = float(math.hypot(s[a0], s[b]))
        z = abs(delta) / se if se > 0 else math.inf
        sig = bool(z > z_threshold)
        kind = ("fitting" if delta > 0 else "compression") if sig else "flat"
        return Segment(kind, float(t[a]), float(t[b]), delta, se, z, sig)

    starts: list[int] = []
    for a, b in runs:
        seg = make(a, b)
        if segments and segments[-1].kind == seg.kind:
            segments[-1] = make(starts[-1], b)
        else:
            segments.append(seg)
            starts.append(a)
    return segments


def trusted_points(series, which: str = "ixl") -> np.ndarray:
    """Which points of one layer's series may enter phase detection and claims.

    A point is left out when the tracker flagged its ``which`` estimate (column ``manifold``:
    codes near a lower-dimensional set, or an interval entirely below zero, which no mutual
    information has) or when the estimate is not finite. Such a point is an estimator failure,
    not a value: a phase drawn through it would be the estimator's.

    Parameters
    ----------
    series : mapping
        Columns of one layer (:meth:`ibcore.plane.PlaneResults.layer`): ``which``,
        ``{which}_high`` and ``manifold`` (the last two may be missing: nothing flagged).
    which : {"ixl", "ily"}

    Returns
    -------
    ndarray of bool
    """
    if which not in ("ixl", "ily"):
        raise ValueError(f"which must be 'ixl' or 'ily', got {which!r}")
    value = np.asarray(series[which], dtype=float)
    high = np.asarray(series.get(f"{which}_high", value), dtype=float)  # rows without it: not flagged
    flagged = np.array([which in str(v).split("+") for v in series.get("manifold", [""] * len(value))], dtype=bool)
    return np.isfinite(value) & ~flagged & ~(high < 0)


def steepest_loss_drop(epochs, loss, *, fraction: float = 0.5, smoothing: str = "savgol",
                       window: int | None = None) -> tuple[float, float]:
    """Epoch interval of the fastest loss decrease.

    The per-epoch decrease ``-d(smoothed loss)/dt`` is computed; the interval is the maximal
    run of epochs around its maximum where the decrease stays above ``fraction`` times the
    maximum.

    Returns
    -------
    (start, end) : tuple of float
        Epochs (inclusive). ``ValueError`` if the loss never decreases.
    """
    t = _series(epochs, "epochs")
    y = _series(loss, "loss")
    if len(t) != len(y) or len(t) < 2:
        raise ValueError("epochs and loss must have the same length >= 2")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction!r}")
    drop = -np.gradient(smooth(y, smoothing, window), t)
    i = int(np.argmax(drop))
    if drop[i] <= 0:
        raise ValueError("the loss never decreases: no loss-drop interval")
    keep = drop >= fraction * drop[i]
    a = i
    while a > 0 and keep[a - 1]:
        a -= 1
    b = i
    while b < len(t) - 1 and keep[b + 1]:
        b += 1
    return float(t[a]), float(t[b])
