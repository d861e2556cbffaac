"""``method="auto"``: mutual information on any input, compressing only where it must.

:func:`ibcore.mutual_information` (:mod:`ibcore.api`) runs
:func:`ibcore.compression.auto_mutual_information` (``"auto"`` for both compressors and the
method of :func:`ibcore.compression.lossy_mutual_information`) with ``method="auto"``, its
default. This module holds the rule; the path that applies it is
:mod:`ibcore.compression.lossy`.

The decision rule of ``auto`` (measured in ``benchmarks/accuracy.py``, results in
``benchmarks/accuracy.md``; the reasons are the measurements quoted there):

1. **Each continuous side** is prepared on its own (an injective map of a side leaves the MI
   unchanged, so each side may be re-coded independently):

   * *images* ``(n, H, W)`` or ``(n, 1, H, W)``: the intrinsic dimension ``d_id`` of the flattened
     images is estimated (TwoNN, :func:`ibcore.intrinsic_dimension`) and the images of both sides
     are coded by one encoder with ``c = round(d_id / 0.9)`` units (1 to :data:`MAX_CODE`). Codes of
     that size are full-dimensional, so a density-based estimator sees no manifold. Which encoder
     depends on the estimator its codes go to (step 2):

     - joint code dimension ``2c <= LOW_DIM`` (weighted KL, consistent for any smooth density):
       a dense autoencoder on the pixels with tanh codes (``encode_images``);
     - ``2c > LOW_DIM`` (the flow, whose model is a Gaussian copula), two image sides of one shape
       and at least ``_PAIR_MIN`` pairs: a :class:`~ibcore.compression.CanonicalEncoder` fitted on
       a seeded half of the pairs, whose codes are trained to be linearly related across the
       sides; the MI is estimated on the codes of the other half (``encode_image_pair``;
       ``details["held_out_pairs"]``).

     From 1,000 fitting pairs on, two canonical encoders with ``2c`` units each, from different
     initial weights, train side by side
     (:func:`~ibcore.compression.auto_images.image_canonical_code_size`); the codes are the
     ``2c`` leading canonical pairs of their codes put side by side, and the MI is estimated
     both on them and on their ``c`` leading pairs; the one where the flow finds more on pairs
     it was not trained on gives the result (:func:`estimate_codes`,
     ``details["canonical_codes"]``). The image side of this step lives in
     :mod:`ibcore.compression.auto_images`.

     The codes of several latents at high MI keep only part of it (10 nats over five latent
     pairs: 7.4-8.9 nats with the pooled canonical encoders, 4.2-4.6 with the autoencoder), so
     there the result is a lower bound (``benchmarks/image_codes.md``, ``benchmarks/accuracy.md``).
     Images with several channels are flattened and take the vector path.
   * *vectors* ``(n, d)``: unless the sample lies near a set of at most about half its dimension
     (:func:`ibcore.estimators.intrinsic.manifold_suspected` and ``d_id < d/2 + 1/2``; see
     ``_degenerate`` for why the second condition), a side with ``d <= MAX_FLOW_DIM`` is used
     as it is. If it lies on a *linear* subspace (PCA keeps all but a ``1e-9`` share of the
     variance in ``round(d_id)`` components) PCA to those components is lossless; on a curved
     set a dense autoencoder to ``round(d_id)`` units replaces it. Wider full-dimensional
     vectors are first reduced by PCA to ``MAX_FLOW_DIM`` components (recorded as lossy).
2. **The estimator** on the prepared codes, with a continuous partner:

   * joint code dimension ``<= LOW_DIM`` (7, where weighted KL runs with k = 5 and weight norm
     <= 2.5): **weighted KL** (``"wkl"``, k = 5), with the normalizing-flow estimator
     (``"flow"``, :class:`ibcore.FlowMI`) run beside it as a cross-check. Measured at n = 5,000
     (``benchmarks/accuracy.md``, mean error over 2 seeds, flow against weighted KL): the flow
     is better on Gaussians and on Gaussians through monotone maps (+0.00 / -0.01, -0.01 / -0.03,
     half-cube -0.01 / -0.13, normal CDF -0.01 / -0.06), but it has no model of a non-Gaussian
     dependence and falls short on Student-t (-0.11 / -0.02, -0.10 / +0.01), the spiral map
     (-1.11 / -0.11) and 10 nats over 3 + 3 dimensions (-0.56 / +0.07). Weighted KL is
     consistent for any smooth density and stayed within 10 % of the truth on all eight tasks;
     the flow is consistent only for Gaussian copulas. So weighted KL gives the number, and the
     flow's disagreement widens its interval.
   * above ``LOW_DIM``: the **flow** alone; near-exact on Gaussians through any per-side
     diffeomorphism up to 50 + 50 dimensions and noisy layers of 10 nats, where weighted KL
     refuses (its weights explode) and KSG loses 0.9-7.7 nats.
   * codes that weighted KL flags as degenerate (:class:`ibcore.ManifoldWarning`): the flow.

   Wherever the flow gives the number, estimators that assume nothing of the dependence check it
   on the same codes (``_checked_flow``): KSG (k = 3), and KSG on the norms of the whitened sides,
   a lower bound by data processing aimed at the flow's blind spot, dependence through a shared
   scale (a Student-t pair with every correlation 0, where the flow finds about 0 nats). Both err
   low at finite n, so only a check that finds *more* than the flow contradicts it; then the
   check gives the number and half the gap is the bias diagnostic (step 3), which flags the
   result and widens its interval toward the flow (``details["checked_flow"]`` says why).

   With discrete labels: KSG (Ross's continuous-discrete variant, k = 3) on the prepared side,
   checked against a held-out classifier bound ``H(Y) - CE`` (:mod:`ibcore.estimators.classifier`,
   a lower bound at any n, tight where the labels are nearly a function of the codes). Where KSG
   lies below the bound beyond their noise (KSG is biased low near ``I = H(Y)``: 1.5 nats of 2.30
   for ten classes at n = 2,000), the result is the interval from the bound to ``H(Y)``, each with
   1.96 standard errors: its midpoint, with half its width as the standard error.
   The standard error of weighted KL and of KSG is the larger of their per-sample error and a
   delete-a-group jackknife (10 groups; ``_jackknifed_std``): the per-sample error ignores the
   neighbours the terms share and ran about 1.2 times too small on bounded and heavy-tailed
   samples.
3. **A bias diagnostic** goes with the number (``details["bias"]``): for weighted KL, half the
   larger of its change from k = 5 to k = 10 and its gap to the flow (a gap within the noise of
   the two stays below the threshold below); for the flow alone, half the gap between its
   in-sample and held-out means (the optimism it corrected); for KSG, half the spread of the
   estimate over k = 3, 5, 10; for a check that overrules the flow, half its gap to the flow.
   When it exceeds ``max(2 std, 0.05 nats)`` the result is flagged
   ``unstable`` and its interval is widened by the diagnostic (``std`` becomes
   ``sqrt(std² + bias²)``), rather than printed tight.

Coverage of its 95 % interval (``benchmarks/coverage.md``, 30 seeds, n = 1,000) is at least 90 %
on every family there (Gaussian, uniform and Student-t pairs, noisy labels, and the shared-scale
Student-t, where the flow alone covers 0 % and the radius check flags and widens the result). The
jackknife makes the intervals of weighted KL conservative (calibration below 1 in that table);
before it, the per-sample errors of weighted KL and Ross's KSG gave 87 % on the uniform, the
Student-t and the labels.

Everything ``auto`` did is reported in :attr:`AutoEstimate.details`.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..estimators import FlowMI, classifier_bound
from ..estimators import estimate_entropy, estimate_mutual_information
from ..estimators.flow import whitener
from ..estimators.intrinsic import ManifoldWarning, manifold_suspected
from ..nn import limit_threads
from ..result import Estimate
from ..validation import as_labels, as_real_array
from .auto_images import (MAX_CODE, canonical_split, code_dim, encode_image_pair, encode_images,
                          image_autoencoder, image_canonical_code_size, image_canonical_encoder, image_code_size,
                          image_intrinsic_dimensions, image_training_set, side_intrinsic_dimension)
from .autoencoders import DenseAutoencoder
from .pca import PCACompressor

__all__ = ["AutoEstimate", "auto_entropy",
           "side_record", "side_intrinsic_dimension", "code_dim", "image_intrinsic_dimensions", "image_code_size",
           "image_training_set", "image_autoencoder", "image_canonical_code_size", "image_canonical_encoder",
           "canonical_split", "PreparedSides", "prepare_sides", "estimate_codes", "widen_unstable", "MAX_FLOW_DIM",
           "MAX_CODE", "LOW_DIM"]

#: widest vector side the flow takes as it is (its 50+50-dimensional task: benchmarks/accuracy.md)
MAX_FLOW_DIM = 64
#: joint code dimension up to which weighted KL (k = 5, weight norm <= 2.5) gives the estimate,
#: with the flow as its cross-check
LOW_DIM = 7
WKL_K = 5
_LINEAR_SHARE = 1e-9
#: fewest pairs for which two image sides are coded by the canonical encoder (half of them fit it,
#: the other half are coded and estimated); fewer go to the shared autoencoder
_PAIR_MIN = 200
_BOUND_FOLDS = 5  # cross-fitting folds of the classifier bound on labels
_JACKKNIFE_GROUPS = 10  # groups of the delete-a-group jackknife of the kNN standard errors


@dataclass(frozen=True)
class AutoEstimate(Estimate):
    """An :class:`ibcore.Estimate` that also says what ``auto`` did.

    Attributes
    ----------
    details : dict
        ``method`` (the estimator used), per side ``x``/``y`` a dict (``kind``, ``shape``,
        ``intrinsic_dim``, ``compressor``, ``code_dim``, ``lossless``, ...), ``bias`` (the
        diagnostic, nats), ``seconds`` and the estimator's own diagnostics.
    unstable : bool
        The bias diagnostic was large next to the standard error; ``std`` then includes it.
    lower_bound : bool
        A side went through a compressor not known to be lossless (an autoencoder, the
        canonical encoder, PCA to ``MAX_FLOW_DIM``): by data processing the MI of its codes,
        which the interval is about, can lie below that of the data (for high-MI images far
        below: ``benchmarks/image_codes.md``).
    """

    details: dict = field(default_factory=dict)
    unstable: bool = False

    @property
    def lower_bound(self) -> bool:
        return any(isinstance(self.details.get(s), dict) and self.details[s].get("compressor", "none") != "none"
                   and self.details[s].get("lossless") is not True for s in ("x", "y"))

    def __str__(self) -> str:
        text = f"{format(self, '')} nats by {self.details.get('method', '?')}"
        if self.lower_bound:
            text += " on lossy codes (a lower bound)"
        return text + (" (unstable: see details['bias'])" if self.unstable else "")


def _side_kind(a: np.ndarray) -> str:
    # single-channel images go to the image encoders; several channels are flattened vectors
    return "image" if a.ndim == 3 or (a.ndim == 4 and a.shape[1] == 1) else "vector"


def _degenerate(d: int, d_id: float, n: int) -> bool:
    """Whether a vector side is treated as lying on a lower-dimensional set, to be compressed.

    The manifold check of the entropy estimators (:func:`manifold_suspected`) was calibrated for
    d <= 8; above that TwoNN reads full-dimensional Gaussians low (25-D: 20, 50-D: 33, 100-D: 50 at
    n = 3,000), and a saturating noisy layer (10-D tanh) reads 6.0. Compressing those would throw
    MI away, so ``auto`` compresses only when the estimate is also at most about half of d.
    """
    return d > 1 and manifold_suspected(d, d_id, n) and d_id < 0.5 * d + 0.5


def side_record(a, name: str) -> tuple[np.ndarray, dict]:
    """``(array, record)`` of one continuous side: the checked array and ``{"kind", "shape"}``."""
    arr = as_real_array(a, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    return arr, {"kind": _side_kind(arr), "shape": list(arr.shape[1:])}


def _prepare_vectors(arr: np.ndarray, rec: dict, seed: int, device, progress: bool) -> np.ndarray:
    """Codes (n, c) of one continuous vector side; fills ``rec`` with what was done."""
    flat = arr.reshape(len(arr), -1).astype(np.float64)
    d = flat.shape[1]
    d_id = side_intrinsic_dimension(flat, seed)
    rec["intrinsic_dim"] = d_id
    if not _degenerate(d, d_id, len(flat)):
        if d <= MAX_FLOW_DIM:
            rec.update(compressor="none", code_dim=d, lossless=True)
            return flat
        pca = PCACompressor(MAX_FLOW_DIM, random_state=seed).fit(flat)
        kept = float(pca.pca_.explained_variance_ratio_.sum())
        rec.update(compressor="pca", code_dim=MAX_FLOW_DIM, lossless=False, variance_kept=kept)
        return pca.transform(flat)
    c = code_dim(d_id, min(MAX_CODE, d - 1))
    pca = PCACompressor(c, random_state=seed).fit(flat)
    lost = 1.0 - float(pca.pca_.explained_variance_ratio_.sum())
    if lost <= _LINEAR_SHARE:
        rec.update(compressor="pca", code_dim=c, lossless=True, variance_lost=lost)
        return pca.transform(flat)
    with limit_threads(1):
        ae = DenseAutoencoder(c, epochs=200, patience=15, random_state=seed, device=device, progress=progress).fit(flat)
    rec.update(compressor="dense-autoencoder", code_dim=c, lossless=None,
               reconstruction_error=float(ae.reconstruction_error(flat, per="coordinate")))
    return ae.transform(flat)


class PreparedSides(NamedTuple):
    """What :func:`prepare_sides` returns."""

    #: codes (n or len(rows), c) per side
    codes: list
    #: ``None`` when the codes are of every sample, else the sample rows they are of (two image
    #: sides coded by the canonical encoder: the held-out half of the pairs)
    rows: np.ndarray | None
    #: ``None``, or where the canonical encoders have ``2c`` units the ``c`` leading canonical
    #: pairs ``(u, v)`` of their codes, a second candidate for :func:`estimate_codes`
    leading: tuple | None


def prepare_sides(arrays: list[np.ndarray], recs: list[dict], seed: int, device, progress: bool,
                  *, paired: bool = False) -> PreparedSides:
    """Codes of continuous sides by step 1 of the module docstring; fills each side's record
    with what was done (see :class:`PreparedSides`; ``paired``: the arrays are the two sides of
    one paired sample, which lets two image sides of one shape go to the canonical encoder)."""
    codes = [None] * len(arrays)
    rows = leading = None
    images = [i for i, r in enumerate(recs) if r["kind"] == "image"]
    same_shape = len({arrays[i].shape[1:] for i in images}) == 1
    if images and same_shape:
        sides = [arrays[i] for i in images]
        ids = image_intrinsic_dimensions(sides, seed)
        c = image_code_size(ids)
        if paired and len(arrays) == 2 and len(images) == 2 and 2 * c > LOW_DIM and len(sides[0]) >= _PAIR_MIN:
            enc, info, rows, leading = encode_image_pair(sides, ids, c, seed, device, progress)
        else:
            enc, info = encode_images(sides, seed, device, progress, ids)
    elif images:  # images of different shapes: one autoencoder each
        enc, info = [], []
        for i in images:
            e, r = encode_images([arrays[i]], seed + i, device, progress)
            enc += e
            info += r
    for j, i in enumerate(images):
        codes[i] = enc[j]
        recs[i].update(info[j])
    for i, r in enumerate(recs):
        if codes[i] is None:
            codes[i] = _prepare_vectors(arrays[i], r, seed + i, device, progress)
    return PreparedSides(codes, rows, leading)


def _continuous(xs, ys, seed, device, progress, details) -> tuple[float, float, float]:
    """``(value, std, bias)`` on prepared continuous codes by step 2 of the module docstring;
    fills ``details``."""
    flow = FlowMI(random_state=seed, device=device, progress=progress).fit(xs, ys)
    est = flow.estimate()
    held_out = float(flow.pointwise_.mean())
    details.update(method="flow", held_out=held_out, in_sample=flow.in_sample_,
                   closed_form=flow.closed_form_, epochs_run=flow.epochs_run_, flow=est.value,
                   flow_std=est.std)
    if xs.shape[1] + ys.shape[1] > LOW_DIM:
        return _checked_flow(xs, ys, est, abs(flow.in_sample_ - held_out) / 2.0, details)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        w = estimate_mutual_information(xs, ys, "wkl", k=WKL_K)
        w2 = estimate_mutual_information(xs, ys, "wkl", k=2 * WKL_K)
    if any(issubclass(c.category, ManifoldWarning) for c in caught):
        # auto never reports an entropy-based number on degenerate codes
        details["wkl"] = "skipped: the codes look degenerate (ManifoldWarning)"
        return _checked_flow(xs, ys, est, abs(flow.in_sample_ - held_out) / 2.0, details)
    for c in caught:  # anything else weighted KL had to say reaches the caller
        warnings.warn(c.message, c.category, stacklevel=3)
    gap = abs(w.value - est.value)
    details.update(method="wkl", k=WKL_K, wkl_by_k={WKL_K: w.value, 2 * WKL_K: w2.value}, flow_wkl_gap=gap)
    std = _jackknifed_std(w.std, len(xs), seed, details,
                          lambda keep: estimate_mutual_information(xs[keep], ys[keep], "wkl", k=WKL_K).value)
    # the flow is the cross-check: where the two disagree beyond their noise, half the gap is
    # the bias diagnostic (a gap within the noise stays below the unstable threshold)
    return w.value, std, max(abs(w.value - w2.value), gap) / 2.0


def _jackknifed_std(pointwise: float, n: int, seed: int, details: dict, estimate) -> float:
    """The larger of a kNN estimate's per-sample standard error and its delete-a-group jackknife.

    The per-sample error treats the estimate's terms as independent; a kNN estimate's terms
    share neighbours, and on bounded or heavy-tailed samples its spread over fresh samples
    exceeds that error (``benchmarks/coverage.md``, calibration of weighted KL and KSG). The
    jackknife over :data:`_JACKKNIFE_GROUPS` random groups (``estimate(keep)`` on the sample
    without one group) sees that dependence; by the Efron-Stein inequality it errs large, so
    the larger of the two is a conservative standard error.
    """
    groups = np.array_split(np.random.default_rng(seed).permutation(n), _JACKKNIFE_GROUPS)
    keep = np.ones(n, dtype=bool)
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the whole sample's warnings were reported already
        for g in groups:
            keep[g] = False
            try:
                values.append(estimate(keep))
            except ValueError as exc:  # a reduced sample the estimator refuses: no jackknife
                details.update(std_pointwise=pointwise, std_jackknife=f"skipped: {exc}")
                return pointwise
            keep[g] = True
    values = np.asarray(values)
    m = len(values)
    jack = float(math.sqrt((m - 1) / m * ((values - values.mean()) ** 2).sum()))
    details.update(std_pointwise=pointwise, std_jackknife=jack)
    return max(pointwise, jack)


def _radius(a: np.ndarray) -> np.ndarray:
    """The norm of each whitened row of ``a`` (n, d): ``|| Sigma^{-1/2} (a - mean) ||``."""
    mean, inv_root, _ = whitener(a)
    return np.linalg.norm((a - mean) @ inv_root, axis=1)


def _checked_flow(xs, ys, flow: Estimate, bias: float, details: dict) -> tuple[float, float, float]:
    """The flow's ``(value, std, bias)`` unless a consistent check finds more dependence.

    The checks: KSG (k = 3) on the codes, and KSG on the radii of the whitened sides, a
    data-processing lower bound (``I(X;Y) >= I(||X~||; ||Y~||)``) aimed at the flow's blind spot,
    dependence through a shared scale (a Student-t pair with uncorrelated coordinates). Both err
    low at finite n, as the flow does outside its model, so only a check *above* the flow
    contradicts it: where the larger check exceeds the flow by more than the unstable threshold
    (half the gap above ``max(2 std, 0.05)``), the check gives the number and half the gap is the
    bias diagnostic, which flags the result and widens its interval toward the flow.
    """
    checks, skipped = {}, {}
    for name, run in (("ksg", lambda: estimate_mutual_information(xs, ys, "ksg", k=3)),
                      ("ksg on radii", lambda: estimate_mutual_information(_radius(xs), _radius(ys), "ksg", k=3))):
        try:
            checks[name] = run()
        except ValueError as exc:  # codes a check refuses (ties, a singular side) leave the flow unchecked there
            skipped[name] = f"skipped: {str(exc).splitlines()[0][:160]}"
    details["checks"] = {**{name: e.value for name, e in checks.items()}, **skipped}
    if not checks:
        return flow.value, flow.std, bias
    name, top = max(checks.items(), key=lambda item: item[1].value)
    half_gap = (top.value - flow.value) / 2.0
    if half_gap > max(2.0 * math.hypot(top.std, flow.std), 0.05):
        details.update(method=name, checked_flow=(f"{name} found {top.value:.3g} nats where the flow, whose "
                                                  f"model sees only Gaussian-copula dependence, found "
                                                  f"{flow.value:.3g}: the check gives the number"))
        return top.value, top.std, half_gap
    return flow.value, flow.std, bias


def _labels(xs: np.ndarray, y: np.ndarray, seed: int, details: dict) -> tuple[float, float, float]:
    """``(value, std, bias)`` with labels: Ross's KSG checked against a held-out classifier bound.

    The bound ``H(Y) - CE`` (:func:`ibcore.estimators.classifier.classifier_bound`) is below
    ``I(X;Y)`` at any sample size, and ``H(Y)`` is above it. KSG that falls below the bound
    beyond their noise is biased low (labels that are nearly a function of the codes); the
    result is then the interval between the bound and ``H(Y)`` (each with 1.96 standard errors):
    its midpoint and half-width.
    """
    est = estimate_mutual_information(xs, y, "ksg", discrete_y=True, k=3)
    others = [estimate_mutual_information(xs, y, "ksg", discrete_y=True, k=k).value for k in (5, 10)]
    details.update(method="ksg", k=3, ksg_by_k={3: est.value, 5: others[0], 10: others[1]})
    bias = float(np.ptp([est.value, *others]) / 2.0)
    counts = as_labels(y)[2]
    if counts.min() <= _JACKKNIFE_GROUPS:
        std = est.std  # a group could hold a whole class: the jackknife would not be of this sample
    else:
        std = _jackknifed_std(est.std, len(xs), seed, details,
                              lambda keep: estimate_mutual_information(xs[keep], y[keep], "ksg", discrete_y=True,
                                                                       k=3).value)
    est = Estimate(est.value, std)
    if counts.min() < _BOUND_FOLDS:
        details["classifier_bound"] = f"skipped: a class has fewer than {_BOUND_FOLDS} samples"
        return est.value, est.std, bias
    cb = classifier_bound(xs, y, folds=_BOUND_FOLDS, random_state=seed)
    details.update(classifier_bound=cb.bound.value, classifier=cb.classifier, entropy_y=cb.entropy.value)
    if cb.bound.value - est.value > 2.0 * math.hypot(cb.bound.std, est.std):
        low = cb.bound.value - 1.96 * cb.bound.std
        high = max(cb.entropy.value + 1.96 * cb.entropy.std, low)
        details["method"] = f"classifier bound to H(Y) (KSG {est.value:.3g} is below the bound)"
        return (low + high) / 2.0, (high - low) / (2.0 * 1.96), 0.0
    return est.value, est.std, bias


def estimate_codes(xs: np.ndarray, y, *, labels: bool, seed: int, device, progress: bool,
                   details: dict, leading: tuple | None = None) -> tuple[float, float, float]:
    """``(value, std, bias)`` on prepared codes ``xs (n, c)`` and prepared codes or labels ``y``
    by step 2 of the module docstring; fills ``details`` (``method``, the estimators' own).

    ``leading`` (:attr:`PreparedSides.leading`): a second pair of codes of the same held-out
    pairs. Both are fixed maps of them, so the MI of either is a lower bound on the data's; the
    one whose flow finds more on the pairs it was not trained on (its cross-fitted mean, free of
    the in-sample optimism that half of the flow's estimate carries) gives the result, with its
    own details; ``details["canonical_codes"]`` gives both.
    """
    if labels:
        return _labels(xs, np.asarray(y), seed, details)
    if leading is None:
        return _continuous(xs, y, seed, device, progress, details)
    runs = {}
    for name, (u, v) in (("all", (xs, y)), ("leading", leading)):
        det = {}
        runs[name] = (_continuous(u, v, seed, device, progress, det), det, u.shape[1])
    used = max(runs, key=lambda name: runs[name][1]["held_out"])
    result, det, _ = runs[used]
    details.update(det)
    details["canonical_codes"] = dict(used=used, **{
        name: dict(code_dim=c, value=r[0], std=r[1], held_out=d["held_out"]) for name, (r, d, c) in runs.items()})
    return result


def widen_unstable(std: float, bias: float) -> tuple[float, bool]:
    """``(std, unstable)`` by step 3 of the module docstring: a bias diagnostic above
    ``max(2 std, 0.05 nats)`` flags the result and widens ``std`` to ``sqrt(std² + bias²)``."""
    unstable = bias > max(2.0 * std, 0.05)
    return (math.sqrt(std * std + bias * bias) if unstable else std), unstable


def auto_entropy(x, *, random_state: int = 0, **options) -> Estimate:
    """Differential entropy in nats, ``method="auto"``: weighted KL with its k rule, refusing a
    sample that lies near a lower-dimensional set (its differential entropy is not finite)."""
    flat = as_real_array(x, "x")
    flat = flat[:, None] if flat.ndim == 1 else flat.reshape(len(flat), -1)
    d = flat.shape[1]
    d_id = side_intrinsic_dimension(flat.astype(np.float64), random_state)
    if d > 1 and manifold_suspected(d, d_id, len(flat)):
        raise ValueError(
            f"x lies near a {d_id:.2g}-dimensional set inside {d} dimensions (TwoNN): its differential "
            "entropy is -inf and no estimate of it means anything; estimate mutual information instead "
            "(ibcore.mutual_information(x, y), which compresses such data), or the entropy of a "
            f"{round(d_id)}-dimensional code")
    return estimate_entropy(flat, "wkl", **options)
