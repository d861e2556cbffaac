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
       a dense autoencoder on the pixels with tanh codes (``_encode_images``);
     - ``2c > LOW_DIM`` (the flow, whose model is a Gaussian copula), two image sides of one shape
       and at least ``_PAIR_MIN`` pairs: a :class:`~ibcore.compression.CanonicalEncoder` fitted on
       a seeded half of the pairs, whose codes are trained to be linearly related across the
       sides; the MI is estimated on the codes of the other half (``_encode_image_pair``;
       ``details["held_out_pairs"]``).

     The codes of several latents at high MI keep only part of it (10 nats over five latent
     pairs: 4.4-7.4 nats with the canonical encoder, 4.2-4.6 with the autoencoder), so there the
     result is a lower bound (``benchmarks/image_codes.md``, ``benchmarks/accuracy.md``). Images
     with several channels are flattened and take the vector path.
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

import numpy as np

from ..estimators import FlowMI, classifier_bound, intrinsic_dimension
from ..estimators import estimate_entropy, estimate_mutual_information
from ..estimators.flow import whitener
from ..estimators.intrinsic import ManifoldWarning, manifold_suspected
from ..nn import limit_threads
from ..result import Estimate
from ..validation import as_labels, as_real_array
from .autoencoders import DenseAutoencoder
from .canonical import CanonicalEncoder
from .pca import PCACompressor

__all__ = ["AutoEstimate", "auto_entropy",
           "side_record", "side_intrinsic_dimension", "code_dim", "image_intrinsic_dimensions", "image_code_size",
           "image_training_set", "image_autoencoder", "image_canonical_encoder", "canonical_split", "prepare_sides",
           "estimate_codes", "widen_unstable", "MAX_FLOW_DIM", "MAX_CODE", "LOW_DIM"]

#: widest vector side the flow takes as it is (its 50+50-dimensional task: benchmarks/accuracy.md)
MAX_FLOW_DIM = 64
#: largest code an autoencoder gets from the intrinsic-dimension estimate
MAX_CODE = 16
#: joint code dimension up to which weighted KL (k = 5, weight norm <= 2.5) gives the estimate,
#: with the flow as its cross-check
LOW_DIM = 7
WKL_K = 5
_ID_SAMPLE = 3000  # points used for the intrinsic dimension of a side (TwoNN is O(n log n) anyway)
_LINEAR_SHARE = 1e-9
_AE_TRAIN = 6000  # images the shared image autoencoder trains on (the paper: 6,000 + 1,000)
#: the image autoencoder: dense on the pixels, tanh codes (benchmarks/image_codes.md)
_AE_HIDDEN = (512, 256)
_AE_EPOCHS = 100  # with early stopping; bounds the cost of an image task (times: benchmarks/accuracy.md)
#: TwoNN reads bounded latent sets low (a uniform 8-D cube: 7.2 at n = 5,000); image code sizes
#: undo that share before rounding
_TWONN_LOW = 0.9
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


def side_intrinsic_dimension(flat: np.ndarray, seed: int) -> float:
    """TwoNN intrinsic dimension of a flattened side (on at most 3,000 seeded rows, constant
    coordinates dropped, standardised; a tiny seeded jitter separates repeated rows)."""
    rng = np.random.default_rng(seed)
    sample = flat if len(flat) <= _ID_SAMPLE else flat[rng.choice(len(flat), _ID_SAMPLE, replace=False)]
    scale = sample.std(axis=0)
    keep = scale > 0
    z = (sample[:, keep] - sample[:, keep].mean(axis=0)) / scale[keep]
    return float(intrinsic_dimension(z, jitter=1e-9 if len(np.unique(z, axis=0)) < len(z) else None,
                                     random_state=seed).value)


def _degenerate(d: int, d_id: float, n: int) -> bool:
    """Whether a vector side is treated as lying on a lower-dimensional set, to be compressed.

    The manifold check of the entropy estimators (:func:`manifold_suspected`) was calibrated for
    d <= 8; above that TwoNN reads full-dimensional Gaussians low (25-D: 20, 50-D: 33, 100-D: 50 at
    n = 3,000), and a saturating noisy layer (10-D tanh) reads 6.0. Compressing those would throw
    MI away, so ``auto`` compresses only when the estimate is also at most about half of d.
    """
    return d > 1 and manifold_suspected(d, d_id, n) and d_id < 0.5 * d + 0.5


def code_dim(d_id: float, cap: int) -> int:
    """A code size for a side of intrinsic dimension ``d_id``: its rounding, between 1 and ``cap``."""
    return int(min(max(1, round(d_id)), cap))


def side_record(a, name: str) -> tuple[np.ndarray, dict]:
    """``(array, record)`` of one continuous side: the checked array and ``{"kind", "shape"}``."""
    arr = as_real_array(a, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    return arr, {"kind": _side_kind(arr), "shape": list(arr.shape[1:])}


def image_intrinsic_dimensions(sides: list[np.ndarray], seed: int) -> list[float]:
    """TwoNN intrinsic dimension of each image side (flattened; side ``i`` seeded ``seed + i``)."""
    return [side_intrinsic_dimension(s.reshape(len(s), -1).astype(np.float64), seed + i) for i, s in enumerate(sides)]


def image_code_size(ids: list[float]) -> int:
    """Code size of the shared image autoencoder: the largest reading over TwoNN's low share, rounded."""
    return code_dim(max(ids) / _TWONN_LOW, MAX_CODE)


def image_training_set(sides: list[np.ndarray], seed: int) -> np.ndarray:
    """The images of all sides, a seeded subsample of ``_AE_TRAIN`` of them when there are more."""
    train = np.concatenate(sides)
    if len(train) > _AE_TRAIN:
        train = train[np.random.default_rng(seed).choice(len(train), _AE_TRAIN, replace=False)]
    return train


def image_autoencoder(c: int, seed: int, device, progress: bool, **changes) -> DenseAutoencoder:
    """The unfitted image autoencoder of ``auto`` with ``c`` units (``changes`` override its
    options, for ``benchmarks/image_codes.py``)."""
    options = dict(hidden=_AE_HIDDEN, latent_activation="tanh", standardize=False, loss="l1", epochs=_AE_EPOCHS,
                   patience=10, batch_size=128)
    return DenseAutoencoder(c, **{**options, **changes}, random_state=seed, device=device, progress=progress)


def image_canonical_encoder(c: int, seed: int, device, progress: bool, **changes) -> CanonicalEncoder:
    """The unfitted canonical encoder of ``auto`` for two image sides, ``c`` units (``changes``
    override its options, for ``benchmarks/image_codes.py``)."""
    return CanonicalEncoder(c, **changes, random_state=seed, device=device, progress=progress)


def canonical_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_rows, held_out_rows)``: a seeded half of ``range(n)`` that fits the canonical
    encoder and the other half, on which the MI is estimated (both sorted)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def _encode_images(sides: list[np.ndarray], seed: int, device, progress: bool,
                   ids: list[float] | None = None) -> tuple[list, dict]:
    """One image autoencoder for the image sides (same shape): codes per side and its record.

    One encoder serves both sides, as in the paper's Algorithm 1: it only has to be injective on
    each side's images, and training it once halves the cost. Its code size is the larger of the
    sides' intrinsic dimensions, divided by TwoNN's low reading on bounded sets
    (``_TWONN_LOW``) and rounded: a code one unit short drops a latent. The network is a dense
    autoencoder on the pixels with tanh codes (:class:`DenseAutoencoder`, widths ``_AE_HIDDEN``,
    L1 loss, no training noise): on a CPU it keeps far more of the MI of high-MI images than the
    convolutional autoencoder of the paper within the same time (measurements and the settings
    tried: ``benchmarks/image_codes.md``). The bounded codes keep the flow's cross-check working:
    with linear codes it found 0.65 nats on the 2-nat bumps, where weighted KL found 1.96.
    """
    ids = image_intrinsic_dimensions(sides, seed) if ids is None else ids
    c = image_code_size(ids)
    with limit_threads(1):
        ae = image_autoencoder(c, seed, device, progress).fit(image_training_set(sides, seed))
        codes = [ae.transform(s) for s in sides]
        errors = [float(ae.reconstruction_error(s, per="coordinate")) for s in sides]
    return codes, [dict(intrinsic_dim=d, compressor="dense-autoencoder", code_dim=c, lossless=None,
                        reconstruction_error=e, autoencoder_epochs=int(ae.n_epochs_)) for d, e in zip(ids, errors)]


def _encode_image_pair(sides: list[np.ndarray], ids: list[float], c: int, seed: int, device,
                       progress: bool) -> tuple[list, list, np.ndarray]:
    """Codes of the held-out half of two paired image sides from a :class:`CanonicalEncoder`
    fitted on the other half: ``(codes, records, held_out_rows)``.

    Used where the codes go to the flow (``2 c > LOW_DIM``): an autoencoder's codes are some
    warp of the latents, which the flow's Gaussian-copula model sees only in part, while the
    canonical encoder's codes are trained to be linearly related across the sides. On covariance
    bumps at 10 nats (16x16) the flow found 7.4 nats on them where it found 4.6 on the
    autoencoder's, on rectangles at 4 nats 3.1 where it found 2.5 (``benchmarks/image_codes.md``;
    both seeds: ``benchmarks/accuracy.md``). Where the codes go to weighted KL the autoencoder
    stays: the canonical objective is the Gaussian MI of the codes, and on t-copula bumps it lost
    0.47 nats on one of two seeds (``benchmarks/README.md``). The MI of codes of pairs the
    encoder never saw is a lower bound on the images' by data processing, with no fitted-on-itself
    optimism.
    """
    fit_rows, rows = canonical_split(len(sides[0]), seed)
    with limit_threads(1):
        enc = image_canonical_encoder(c, seed, device, progress).fit(sides[0][fit_rows], sides[1][fit_rows])
        codes = [enc.transform(s[rows]) for s in sides]
    rec = dict(compressor="canonical-encoder", code_dim=c, lossless=None, fitted_on_pairs=int(len(fit_rows)),
               estimated_on_pairs=int(len(rows)), validation_canonical_mi=float(enc.val_history_[enc.best_epoch_]),
               encoder_epochs=int(enc.n_epochs_))
    return codes, [dict(rec, intrinsic_dim=d) for d in ids], rows


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


def prepare_sides(arrays: list[np.ndarray], recs: list[dict], seed: int, device, progress: bool,
                  *, paired: bool = False) -> tuple[list, np.ndarray | None]:
    """Codes of continuous sides by step 1 of the module docstring; fills each side's record
    with what was done. Returns ``(codes, rows)``: ``rows`` is ``None`` when the codes are of
    every sample, or the sample rows they are of (``paired`` two image sides of one shape
    whose codes go to the flow: the held-out half of the pairs, see ``_encode_image_pair``)."""
    codes = [None] * len(arrays)
    rows = None
    images = [i for i, r in enumerate(recs) if r["kind"] == "image"]
    same_shape = len({arrays[i].shape[1:] for i in images}) == 1
    if images and same_shape:
        sides = [arrays[i] for i in images]
        ids = image_intrinsic_dimensions(sides, seed)
        c = image_code_size(ids)
        if paired and len(arrays) == 2 and len(images) == 2 and 2 * c > LOW_DIM and len(sides[0]) >= _PAIR_MIN:
            enc, info, rows = _encode_image_pair(sides, ids, c, seed, device, progress)
        else:
            enc, info = _encode_images(sides, seed, device, progress, ids)
    elif images:  # images of different shapes: one autoencoder each
        enc, info = [], []
        for i in images:
            e, r = _encode_images([arrays[i]], seed + i, device, progress)
            enc += e
            info += r
    for j, i in enumerate(images):
        codes[i] = enc[j]
        recs[i].update(info[j])
    for i, r in enumerate(recs):
        if codes[i] is None:
            codes[i] = _prepare_vectors(arrays[i], r, seed + i, device, progress)
    return codes, rows


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
                   details: dict) -> tuple[float, float, float]:
    """``(value, std, bias)`` on prepared codes ``xs (n, c)`` and prepared codes or labels ``y``
    by step 2 of the module docstring; fills ``details`` (``method``, the estimators' own)."""
    if not labels:
        return _continuous(xs, y, seed, device, progress, details)
    return _labels(xs, np.asarray(y), seed, details)


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
