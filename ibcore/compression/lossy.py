"""Mutual information estimated on compressed representations, with compression diagnostics.

The paper's method (Butakov et al., ICLR 2024; Theorems 1 and 4 of ``book/theory.md``): compress
each high-dimensional side to a few coordinates, then estimate the MI between the codes with a
low-dimensional estimator.
:func:`lossy_mutual_information` does both steps and reports, next to the estimate, what the
compression may have cost:

* the **reconstruction error** of each side, ``E||x - D(E(x))||²`` (mean over samples of the
  squared error summed over all coordinates, in the data's units squared), from the
  compressor's own ``reconstruction_error``;
* when the noise level is known, the **two-sided bound** of :func:`ibcore.compression.compression_bound`
  on the MI lost by each side, valid for isotropic additive Gaussian noise and an orthogonal
  linear compressor (:class:`~ibcore.compression.PCACompressor` without whitening).

Why the per-side bounds add up (stated and proved in the book, chapter "Synthetic validation").
Let ``X~ = X + Z_X`` and ``Y~ = Y + Z_Y`` with ``Z_X ~ N(0, s_x² I)``, ``Z_Y ~ N(0, s_y² I)``
independent of each other and of ``(X, Y)``, and let ``A = E_X(X~)``, ``B = E_Y(Y~)`` be the
kept blocks of orthogonal changes of basis. Then

    0 <= I(X~; Y~) - I(A; B) <= U_X + U_Y,

where ``U_X`` is the upper end of ``compression_bound(n_x, n'_x, s_x², Delta_x)`` (and likewise
for Y): the first step ``I(X~; Y~) - I(A; Y~) = I(X~; Y~ | A) <= I(X; X~) - I(X; A)`` uses that
``Y~ - X - X~`` is a Markov chain, the second step is the same argument on the Y side with ``A``
in place of ``Y~``. The bound is about the *population* MI; the estimator's own error (its
``std`` and bias) comes on top.
"""
from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..estimators import ManifoldWarning, estimate_mutual_information, get_estimator
from ..estimators.intrinsic import twonn_or_nan
from ..result import Estimate
from ..validation import check_choice, check_seed, is_discrete_labels
from .auto import MAX_CODE, AutoEstimate, code_dim, estimate_codes, prepare_sides, side_intrinsic_dimension, side_record, \
    widen_unstable
from .bound import CompressionBound, compression_bound
from .pca import PCACompressor
from .registry import NONE, compressor_names
from .registry import make_compressor as _make_named

__all__ = ["LossyEstimate", "lossy_mutual_information", "auto_mutual_information", "compress"]

_IDENTITY_BOUND = CompressionBound(0.0, 0.0)


@dataclass(frozen=True)
class LossyEstimate:
    """An MI estimate on compressed data with its compression diagnostics (all MI in nats).

    Attributes
    ----------
    estimate : Estimate
        ``Î(E_X(X); E_Y(Y))`` and its standard error, nats (as returned by
        :func:`ibcore.mutual_information` on the codes).
    method : str
        The estimator used on the codes.
    n : int
        Number of sample pairs.
    n_features_x, n_features_y : int
        Coordinates per sample before compression (pixels of an image); 0 for labels.
    code_dim_x, code_dim_y : int
        Coordinates per sample that the estimator saw (equal to ``n_features`` without a
        compressor).
    reconstruction_error_x, reconstruction_error_y : float or None
        ``Delta = E||x - D(E(x))||²`` on the estimation sample: mean over samples of the
        squared error *summed over coordinates*, in the data's units squared (divide by
        ``n_features`` for a per-coordinate MSE). ``None`` when that side was not compressed.
    bound_x, bound_y : CompressionBound or None
        ``(lower, upper)`` bounds, nats, on the MI lost by compressing that side,
        ``I(X; X~) - I(X; E(X~))``, for data with isotropic Gaussian noise of the stated
        variance and an unwhitened PCA compressor (see :func:`ibcore.compression.compression_bound`).
        ``(0, 0)`` for an uncompressed side (nothing is lost); ``None`` when the noise level is
        unknown.
    noise_var_x, noise_var_y : float or None
        The noise variances the bounds assume.
    details : dict
        Per side ``x``/``y`` what was done (``kind``, ``shape``, ``compressor``, ``code_dim``,
        and where computed ``intrinsic_dim``, ``code_intrinsic_dim``, ...), the ``method`` used
        and, with ``method="auto"``, its diagnostics and ``bias``; ``seconds``.
    manifold : bool
        The estimator met codes near a lower-dimensional set (a :class:`ibcore.ManifoldWarning`):
        an entropy-based value there is not to be trusted.
    unstable : bool
        ``method="auto"`` only: its bias diagnostic was large, and ``std`` includes it.
    """

    estimate: Estimate
    method: str
    n: int
    n_features_x: int
    n_features_y: int
    code_dim_x: int
    code_dim_y: int
    reconstruction_error_x: float | None = None
    reconstruction_error_y: float | None = None
    bound_x: CompressionBound | None = None
    bound_y: CompressionBound | None = None
    noise_var_x: float | None = None
    noise_var_y: float | None = None
    details: dict = field(default_factory=dict)
    manifold: bool = False
    unstable: bool = False

    @property
    def value(self) -> float:
        """The point estimate, nats."""
        return self.estimate.value

    @property
    def std(self) -> float:
        """Its standard error, nats."""
        return self.estimate.std

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Confidence interval of the estimate (see :meth:`ibcore.Estimate.ci`)."""
        return self.estimate.ci(level)

    @property
    def loss_bound(self) -> float | None:
        """Upper bound (nats) on ``I(X~; Y~) - I(E_X(X~); E_Y(Y~))``, the MI lost by compressing
        both sides (``U_X + U_Y``); ``None`` unless both sides have a bound."""
        if self.bound_x is None or self.bound_y is None:
            return None
        return self.bound_x.upper + self.bound_y.upper

    @property
    def upper(self) -> float | None:
        """``value + loss_bound``: with ``value`` this brackets the MI of the uncompressed noisy
        pair, up to the estimator's own error; ``None`` without both bounds."""
        bound = self.loss_bound
        return None if bound is None else self.value + bound

    def __format__(self, spec: str) -> str:
        text = format(self.estimate, spec)
        if self.loss_bound is not None:
            text += f" (compression loss <= {format(self.loss_bound, spec or '.4g')})"
        return text

    def __str__(self) -> str:
        return format(self, "")


def _check_compressor(comp, side: str):
    """``None``, ``"auto"``, a registered name, or a transformer with ``fit`` and ``transform``."""
    if comp is None or comp == NONE:
        return None
    if isinstance(comp, str):
        if comp != "auto" and comp not in compressor_names():
            raise ValueError(f"compressor_{side}: unknown compressor {comp!r}; choose one of "
                             f"{['auto', *compressor_names(), NONE]}")
        return comp
    for attr in ("fit", "transform"):
        if not callable(getattr(comp, attr, None)):
            raise TypeError(
                f"compressor_{side} must be None, 'auto', a compressor's name or a compressor with fit and "
                f"transform (e.g. ibcore.PCACompressor), got {type(comp).__name__}"
            )
    return comp


def _check_noise_var(v, side: str):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"noise_var_{side} must be a finite positive variance (data units²), got {v!r}")
    return float(v)


def _n_features(a) -> int:
    shape = np.shape(a)
    return int(np.prod(shape[1:])) if len(shape) > 1 else 1


def compress(compressor, x, flatten: bool = True) -> np.ndarray:
    """Codes ``compressor.transform(x)``; without a compressor, ``x`` itself, flattened to (n, d)
    when ``flatten`` (images kept as they are otherwise, e.g. for MINE's convolutional critic)."""
    if compressor is None:
        arr = np.asarray(x)
        return arr.reshape(len(arr), -1) if (flatten and arr.ndim > 1) else arr
    return compressor.transform(x)


def _check_bound_applies(comp, noise_var, side):
    if comp is None or noise_var is None:
        return
    if not isinstance(comp, PCACompressor) or comp.whiten:
        raise ValueError(
            f"noise_var_{side} was given, but the compression bound holds only for an orthogonal "
            "linear compressor (PCACompressor with whiten=False); got "
            f"{type(comp).__name__}{' with whiten=True' if isinstance(comp, PCACompressor) else ''}. "
            "Leave noise_var unset for other compressors (the reconstruction error is still reported)."
        )


def _bound(comp, n_features, code_dim, noise_var, delta, side):
    if comp is None:
        return _IDENTITY_BOUND
    if noise_var is None:
        return None
    return compression_bound(n_features, code_dim, noise_var, delta)


def lossy_mutual_information(x, y, method: str = "wkl", *, compressor_x=None, compressor_y=None,
                             n_components=None, fit: bool = False, noise_var_x: float | None = None,
                             noise_var_y: float | None = None, discrete_y: bool | None = None,
                             random_state=None, device="auto", progress: bool = False, manifold: str = "warn",
                             code_dimension: bool = False, **options) -> LossyEstimate:
    """Estimate I(X; Y) in nats on compressed representations, with compression diagnostics.

    The one compress-then-estimate path of ibcore: ``method="auto"``
    (:func:`ibcore.compression.auto_mutual_information`), the Algorithm 1 cells
    (:func:`ibcore.synthetic.run_algorithm1`) and the information-plane tracker
    (:class:`ibcore.plane.InformationPlaneTracker`) all estimate through it.

    Parameters
    ----------
    x : array (n, ...)
        Samples of X: vectors (n, d) or images (n, H, W), whatever ``compressor_x`` takes.
    y : array (n, ...) or labels (n,)
        Samples of Y, or class labels (then ``compressor_y`` must be None).
    method : str
        ``"auto"`` (the estimator rule of :mod:`ibcore.compression.auto`, with its bias
        diagnostic) or any method of the registry (:func:`ibcore.estimators.estimator_names`),
        applied to the codes.
    compressor_x, compressor_y : None, str or compressor
        ``None`` or ``"none"`` (identity: the data is used as is, flattened to vectors except
        for methods that take images, such as MINE's convolutional critic); ``"auto"`` (the side
        rule of :mod:`ibcore.compression.auto`: images to one encoder for both sides sized by
        their intrinsic dimension, a dense autoencoder, or, where the codes go to the flow, a
        canonical encoder fitted on half the pairs and the MI estimated on the other half;
        degenerate vectors to PCA or a dense autoencoder); the name of a registered compressor
        (:func:`ibcore.compression.compressor_names`), made here with ``n_components`` outputs
        and fitted on this sample (one compressor fitted on both sides stacked when both name
        the same compressor and have one shape, as in the paper's Algorithm 1); or a fitted
        compressor (e.g. :class:`~ibcore.compression.PCACompressor`,
        :class:`~ibcore.compression.ConvAutoencoder`), or an unfitted one with ``fit=True``. The
        same object may serve both sides.
    n_components : int or (int, int), optional
        Code sizes of named compressors (one for both sides, or per side); ``None``: the
        rounded intrinsic dimension of the side (TwoNN), between 1 and 16.
    fit : bool, default False
        Fit compressor objects here, on the estimation sample itself (a shared compressor is
        fitted once on ``x`` and ``y`` stacked). Convenient, but the codes then depend on the
        sample; the synthetic benchmark (:mod:`ibcore.synthetic.runner`) instead trains each
        compressor once, on independent samples of the marginal distribution, and passes it
        fitted.
    noise_var_x, noise_var_y : float, optional
        Variance ``s²`` (data units²) of the isotropic additive Gaussian noise in ``x`` (``y``),
        when known. With an unwhitened :class:`~ibcore.compression.PCACompressor` this gives the
        two-sided bound on the MI lost by that side (``bound_x``); with any other compressor
        it is refused (the bound does not hold).
    discrete_y : bool, optional
        As in :func:`ibcore.mutual_information`.
    random_state : int, optional
        Seeds the compressors made here and ``"auto"`` (default 0 there), and the estimator
        where it takes a ``random_state`` (unless ``options`` has its own).
    device : {"auto", "cpu", "cuda"}
        Of the compressors made here, of ``"auto"`` and of the estimator where it takes a
        ``device`` (unless ``options`` has its own).
    progress : bool
        Training progress of the compressors made here.
    manifold : {"warn", "record"}
        A :class:`ibcore.ManifoldWarning` of the estimator is shown (``"warn"``) or only
        recorded in the result's ``manifold`` (``"record"``, for callers that collect them).
    code_dimension : bool
        Also record the TwoNN intrinsic dimension of each side's codes
        (``details[side]["code_intrinsic_dim"]``, NaN where rows repeat).
    **options
        Passed to the estimator (``k``, MINE options, ...; not with ``method="auto"``).

    Returns
    -------
    LossyEstimate
        The estimate with reconstruction errors, bounds and ``details``; see its attributes.

    Notes
    -----
    The reconstruction errors are measured on the same samples the estimate uses (for
    compressors that have ``reconstruction_error``). For the bound they should be those of the
    *noisy* data, which is what ``x`` is assumed to be.
    """
    t0 = time.perf_counter()
    if not isinstance(fit, (bool, np.bool_)):
        raise TypeError(f"fit must be True or False, got {fit!r}")
    check_choice(manifold, "manifold", ("warn", "record"))
    if method != "auto":
        spec = get_estimator(method)  # an unknown method fails before any compressor is trained
        # the seed and device serve the estimator too, where it takes them (an explicit option wins)
        for name, value in (("random_state", random_state), ("device", device)):
            if value is not None and name in spec.options + spec.mi_options:
                options.setdefault(name, value)
    elif options:
        raise TypeError(f"method='auto' takes no estimator options, got {sorted(options)}")
    comps = {"x": _check_compressor(compressor_x, "x"), "y": _check_compressor(compressor_y, "y")}
    noise_var_x = _check_noise_var(noise_var_x, "x")
    noise_var_y = _check_noise_var(noise_var_y, "y")
    discrete = is_discrete_labels(y, discrete_y)
    if discrete and comps["y"] is not None:
        raise ValueError("y holds class labels (discrete_y); compressor_y must be None")
    if discrete and noise_var_y is not None:
        raise ValueError("y holds class labels (discrete_y); noise_var_y does not apply")
    seed = 0 if random_state is None else random_state
    data, details, codes = {"x": x, "y": y}, {}, {}
    sides = ("x",) if discrete else ("x", "y")
    auto = [s for s in sides if comps[s] == "auto"]
    rows = leading = None
    if auto:
        arrays, recs = zip(*(side_record(data[s], s) for s in auto))
        if len(arrays) == 2 and len(arrays[0]) != len(arrays[1]):
            raise ValueError(f"x and y must have the same number of samples, got {len(arrays[0])} and {len(arrays[1])}")
        prepared, rows, leading = prepare_sides(list(arrays), list(recs), seed, device, progress,
                                                paired=len(auto) == 2)
        for s, c, r in zip(auto, prepared, recs):
            codes[s], details[s] = c, r
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same number of samples; got {n} and {len(y)}")
    if rows is not None:  # the codes are of the held-out pairs only (both sides are auto's)
        details["held_out_pairs"] = int(len(rows))
    named = _make_named_compressors(comps, data, sides, n_components, seed, device, progress, details)
    for side, nv in (("x", noise_var_x), ("y", noise_var_y)):
        if not isinstance(comps[side], str):
            _check_bound_applies(comps[side], nv, side)
    if fit:
        _fit_objects({s: c for s, c in comps.items() if s not in named and s not in auto}, data)
    # methods that take images (MINE's convolutional critic) get uncompressed images as they are
    flatten = method == "auto" or not get_estimator(method).images
    for s in sides:
        if s not in codes:
            codes[s] = compress(comps[s], data[s], flatten)
            details.setdefault(s, _side_details(data[s], comps[s]))["code_dim"] = _n_features(codes[s])
    if discrete:
        details["y"] = {"kind": "labels", "classes": int(len(np.unique(np.asarray(y), axis=0)))}
    cx, cy = codes["x"], (y if discrete else codes["y"])
    unstable = on_manifold = False
    if method == "auto":
        value, std, bias = estimate_codes(cx, cy, labels=discrete, seed=seed, device=device, progress=progress,
                                          details=details, leading=leading)
        std, unstable = widen_unstable(std, bias)
        est = Estimate(value, std)
        details["bias"] = bias
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est = estimate_mutual_information(cx, cy, method, discrete_y=discrete_y if not discrete else True, **options)
        for w in caught:  # every warning reaches the caller, but recorded manifold warnings
            is_manifold = issubclass(w.category, ManifoldWarning)
            on_manifold |= is_manifold
            if not (is_manifold and manifold == "record"):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        details["method"] = method
    if code_dimension:
        for s in sides:
            details[s]["code_intrinsic_dim"] = twonn_or_nan(codes[s])

    objects = {s: (None if isinstance(comps[s], str) else comps[s]) for s in ("x", "y")}
    nfx, nfy = _n_features(x), (0 if discrete else _n_features(y))
    dx = _n_features(cx)
    dy = 0 if discrete else _n_features(cy)
    rex, rey = _reconstruction_error(objects["x"], x), _reconstruction_error(objects["y"], y)
    bx = _bound(objects["x"], nfx, dx, noise_var_x, rex, "x") if "x" not in auto else None
    by = _IDENTITY_BOUND if discrete else (_bound(objects["y"], nfy, dy, noise_var_y, rey, "y")
                                            if "y" not in auto else None)
    details["seconds"] = time.perf_counter() - t0
    return LossyEstimate(
        estimate=est, method=method, n=n, n_features_x=nfx, n_features_y=nfy, code_dim_x=dx,
        code_dim_y=dy, reconstruction_error_x=rex, reconstruction_error_y=rey, bound_x=bx,
        bound_y=by, noise_var_x=noise_var_x, noise_var_y=noise_var_y, details=details,
        manifold=on_manifold, unstable=unstable,
    )


def _is_images(a) -> bool:
    shape = np.shape(a)
    return len(shape) == 3 or (len(shape) == 4 and shape[1] == 1)


def _side_details(a, comp) -> dict:
    name = NONE if comp is None else type(comp).__name__
    return {"kind": "image" if _is_images(a) else "vector", "shape": list(np.shape(a)[1:]), "compressor": name}


def _make_named_compressors(comps, data, sides, n_components, seed, device, progress, details) -> list:
    """Replace each registered compressor's name in ``comps`` by a compressor made from the
    registry and fitted on its side (one for both sides when they name the same one and share a
    shape); returns the sides so made."""
    named = [s for s in sides if isinstance(comps[s], str) and comps[s] != "auto"]
    if not named:
        return named
    sizes = n_components if isinstance(n_components, (tuple, list)) else (n_components, n_components)
    if len(sizes) != 2:
        raise ValueError(f"n_components must be an int, None or a pair, got {n_components!r}")
    shared = (len(named) == 2 and comps["x"] == comps["y"] and np.shape(data["x"])[1:] == np.shape(data["y"])[1:])
    made = {}
    for i, s in enumerate(named):
        details[s] = rec = _side_details(data[s], None)
        rec["compressor"] = comps[s]
        size = sizes[("x", "y").index(s)]
        if size is None:
            flat = np.asarray(data[s], dtype=np.float64).reshape(len(data[s]), -1)
            rec["intrinsic_dim"] = side_intrinsic_dimension(flat, seed + i)
            size = code_dim(rec["intrinsic_dim"], min(MAX_CODE, max(flat.shape[1] - 1, 1)))
        if shared and made:
            comps[s] = next(iter(made.values()))
            continue
        comp = _make_named(comps[s], int(size), kind="images" if _is_images(data[s]) else "vectors",
                           image_size=np.shape(data[s])[-1], random_state=seed, device=device, progress=progress)
        train = np.concatenate([np.asarray(data["x"]), np.asarray(data["y"])]) if shared else data[s]
        made[s] = comps[s] = comp.fit(train)
    return named


def _fit_objects(comps, data) -> None:
    """Fit the compressor objects the caller passed unfitted (``fit=True``)."""
    objects = {s: c for s, c in comps.items() if c is not None}
    if "x" in objects and objects.get("y") is objects["x"]:
        if np.shape(data["x"])[1:] != np.shape(data["y"])[1:]:
            raise ValueError(
                "one compressor shared by x and y needs samples of the same shape; got "
                f"{np.shape(data['x'])[1:]} and {np.shape(data['y'])[1:]}"
            )
        objects["x"].fit(np.concatenate([np.asarray(data["x"]), np.asarray(data["y"])]))
        return
    for s, comp in objects.items():
        comp.fit(data[s])


def _reconstruction_error(comp, data) -> float | None:
    if comp is None or not callable(getattr(comp, "reconstruction_error", None)):
        return None
    return float(comp.reconstruction_error(data, per="sample"))


def auto_mutual_information(x, y, *, discrete_y: bool | None = None, random_state: int = 0, device="cpu",
                            progress: bool = False) -> AutoEstimate:
    """Mutual information in nats on vectors, images or labels, by the rule of the module docstring.

    This is :func:`lossy_mutual_information` with ``"auto"`` for both compressors and for the
    method (the rule of :mod:`ibcore.compression.auto`).

    Parameters
    ----------
    x : array_like (n, d), (n, H, W) or (n, C, H, W)
    y : array_like, the same kinds, or labels (a 1-D integer array, or ``discrete_y=True``)
    discrete_y : bool, optional
        As :func:`ibcore.mutual_information`.
    random_state : int, default 0
        Seeds the compressors, the flows and every subsample: the result is reproducible.
    device : {"cpu", "auto", "cuda"}, default "cpu"
    progress : bool, default False

    Returns
    -------
    AutoEstimate
        An :class:`ibcore.Estimate` with ``details`` and ``unstable``.
    """
    check_seed(random_state, "random_state")
    labels = is_discrete_labels(y, discrete_y)
    res = lossy_mutual_information(x, y, "auto", compressor_x="auto", compressor_y=None if labels else "auto",
                                   discrete_y=labels, random_state=random_state, device=device, progress=progress)
    return AutoEstimate(res.value, res.std, details=res.details, unstable=res.unstable)
