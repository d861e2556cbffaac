"""Step 1 of ``method="auto"`` for images: code sizes from the intrinsic dimension and the encoders.

The decision rule itself, and the reasons, are in :mod:`ibcore.compression.auto`; this module
holds its image side: TwoNN readings of each side (:func:`side_intrinsic_dimension`), the code
size rule (:func:`code_dim`, :func:`image_code_size`), the shared dense autoencoder
(:func:`encode_images`) and the canonical encoder of two paired image sides fitted on half of
the pairs (:func:`encode_image_pair`, :func:`image_canonical_code_size`).
``benchmarks/image_codes.py`` builds its settings from the same functions.
"""
from __future__ import annotations

import numpy as np

from ..estimators import intrinsic_dimension
from ..estimators.flow import CanonicalPair
from ..nn import in_threads, limit_threads
from .autoencoders import DenseAutoencoder
from .canonical import CanonicalEncoder

__all__ = ["MAX_CODE", "side_intrinsic_dimension", "code_dim", "image_intrinsic_dimensions", "image_code_size",
           "image_training_set", "image_autoencoder", "image_canonical_code_size", "image_canonical_encoder",
           "canonical_split", "encoder_seeds", "joint_canonical_codes", "encode_images", "encode_image_pair"]

#: largest code an autoencoder gets from the intrinsic-dimension estimate
MAX_CODE = 16
_ID_SAMPLE = 3000  # points used for the intrinsic dimension of a side (TwoNN is O(n log n) anyway)
_AE_TRAIN = 6000  # images the shared image autoencoder trains on (the paper: 6,000 + 1,000)
#: the image autoencoder: dense on the pixels, tanh codes (benchmarks/image_codes.md)
_AE_HIDDEN = (512, 256)
_AE_EPOCHS = 100  # with early stopping; bounds the cost of an image task (times: benchmarks/accuracy.md)
#: TwoNN reads bounded latent sets low (a uniform 8-D cube: 7.2 at n = 5,000); image code sizes
#: undo that share before rounding
_TWONN_LOW = 0.9
#: fewest pairs fitting the canonical encoder for which it gets twice the units (image_canonical_code_size)
_DOUBLE_PAIRS = 1000
#: canonical encoders (different initial weights) whose codes are pooled where the encoder gets
#: twice the units (encode_image_pair); they train side by side, one thread each
_ENCODERS = 2


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


def code_dim(d_id: float, cap: int) -> int:
    """A code size for a side of intrinsic dimension ``d_id``: its rounding, between 1 and ``cap``."""
    return int(min(max(1, round(d_id)), cap))


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


def image_canonical_code_size(c: int, pairs: int) -> int:
    """Units of the canonical encoder for two image sides whose autoencoder would get ``c``,
    fitted on ``pairs`` pairs: ``2 c`` from :data:`_DOUBLE_PAIRS` pairs on, else ``c``.

    With ``c`` units the canonical objective can settle where some latents are left out: on
    covariance bumps (10 nats over 5 + 5 latents) two of the five latents were recovered from
    the codes at R² 0.2-0.3 on one sample; twice the units recovered more of them and raised
    what the flow finds on both samples at n = 2,000 and 5,000. The price is codes of twice the
    intrinsic dimension, in which the flow is less sure: rectangles at 4 nats lost 0.1-0.5 nats,
    which is why ``auto`` also estimates the MI on their ``c`` leading canonical pairs
    (:func:`ibcore.compression.auto.estimate_codes`), and with 500 fitting pairs (n = 1,000)
    they lost more than the leading pairs win back. Measurements: ``benchmarks/README.md``
    (the accuracy section, on ``image_codes.py``).
    """
    return 2 * c if pairs >= _DOUBLE_PAIRS else c


def image_canonical_encoder(c: int, seed: int, device, progress: bool, **changes) -> CanonicalEncoder:
    """The unfitted canonical encoder of ``auto`` for two image sides, ``c`` units (``changes``
    override its options, for ``benchmarks/image_codes.py``)."""
    return CanonicalEncoder(c, **changes, random_state=seed, device=device, progress=progress)


def canonical_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit_rows, held_out_rows)``: a seeded half of ``range(n)`` that fits the canonical
    encoder and the other half, on which the MI is estimated (both sorted)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def encode_images(sides: list[np.ndarray], seed: int, device, progress: bool,
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


def encoder_seeds(seed: int, count: int) -> list[int]:
    """Seeds of the ``count`` canonical encoders of :func:`encode_image_pair`: ``seed``, then
    ``seed + 1000``, ``seed + 2000``, ... (the first is the single encoder's seed)."""
    return [seed + 1000 * k for k in range(count)]


def joint_canonical_codes(fit_codes: list[tuple], codes: list[tuple], sizes: tuple[int, ...]) -> list[tuple]:
    """Leading canonical pairs of several encoders' codes side by side.

    ``fit_codes`` and ``codes``: per encoder, the ``(x, y)`` codes of the fitting and of the
    held-out pairs. The codes of all encoders are put side by side, the canonical directions of
    that joint code are fitted on the fitting pairs (:class:`~ibcore.estimators.flow.CanonicalPair`),
    and for each size ``k`` in ``sizes`` the held-out pairs' ``k`` leading canonical pairs are
    returned, as ``(u, v)`` with ``k`` columns each. Every result is a fixed map of the held-out
    pairs, so its MI is a lower bound on theirs.
    """
    side = [[np.hstack([pair[i] for pair in group]) for i in (0, 1)] for group in (fit_codes, codes)]
    u, v = CanonicalPair().fit(*side[0]).transform(*side[1])
    return [(u[:, :k], v[:, :k]) for k in sizes]


def encode_image_pair(sides: list[np.ndarray], ids: list[float], c: int, seed: int, device,
                      progress: bool) -> tuple[list, list, np.ndarray, tuple | None]:
    """Codes of the held-out half of two paired image sides from canonical encoders fitted on
    the other half: ``(codes, records, held_out_rows, leading)``.

    Below :data:`_DOUBLE_PAIRS` fitting pairs one :class:`CanonicalEncoder` with ``c`` units
    codes both sides, and ``leading`` is ``None``. From there on (:func:`image_canonical_code_size`)
    :data:`_ENCODERS` encoders with ``2 c`` units each, from different initial weights
    (:func:`encoder_seeds`), train side by side (:func:`ibcore.nn.in_threads`), and their codes
    are pooled (:func:`joint_canonical_codes`): ``codes`` are the ``2 c`` leading canonical pairs
    of the encoders' codes side by side, ``leading`` their ``c`` leading pairs, the directions
    fitted on the fitting pairs. One encoder's result depends on its initial weights: on covariance
    bumps at 10 nats (16x16) one initialisation recovered two of the five latents poorly and the
    flow found 5.1 nats, where others found 7.0-8.2; pooled with a second one the flow found 8.9
    (``benchmarks/README.md``, the accuracy section).

    Used where the codes go to the flow (``2 c > LOW_DIM``): an autoencoder's codes are some
    warp of the latents, which the flow's Gaussian-copula model sees only in part, while the
    canonical encoder's codes are trained to be linearly related across the sides. On covariance
    bumps at 10 nats (16x16) the flow found 7.4 nats on its ``c``-unit codes where it found 4.6
    on the autoencoder's, on rectangles at 4 nats 3.1 where it found 2.5
    (``benchmarks/image_codes.md``; the pooled encoders at n = 5,000: ``benchmarks/accuracy.md``).
    Where the codes go to weighted KL the autoencoder stays: the canonical objective is the
    Gaussian MI of the codes, and on t-copula bumps it lost 0.47 nats on one of two seeds
    (``benchmarks/README.md``). The MI of codes of pairs the encoders never saw is a lower bound
    on the images' by data processing, with no fitted-on-itself optimism.
    """
    fit_rows, rows = canonical_split(len(sides[0]), seed)
    units = image_canonical_code_size(c, len(fit_rows))
    seeds = encoder_seeds(seed, _ENCODERS if units > c else 1)
    fits = in_threads([lambda s=s: image_canonical_encoder(units, s, device, progress).fit(
        sides[0][fit_rows], sides[1][fit_rows]) for s in seeds])
    with limit_threads(1):
        codes = [tuple(enc.transform(s[rows]) for s in sides) for enc in fits]
        leading = None
        if units > c:
            # the leading canonical pairs of the pooled codes, directions fitted on the encoders'
            # own pairs: fixed maps of the held-out codes (see image_canonical_code_size)
            fit_codes = [tuple(enc.transform(s[fit_rows]) for s in sides) for enc in fits]
            codes, leading = joint_canonical_codes(fit_codes, codes, (units, c))
        else:
            codes = codes[0]
    rec = dict(compressor="canonical-encoder", code_dim=units, lossless=None, fitted_on_pairs=int(len(fit_rows)),
               estimated_on_pairs=int(len(rows)), encoders=len(fits),
               validation_canonical_mi=[float(enc.val_history_[enc.best_epoch_]) for enc in fits],
               encoder_epochs=[int(enc.n_epochs_) for enc in fits])
    if leading is not None:
        rec["leading_canonical_pairs"] = c
    return list(codes), [dict(rec, intrinsic_dim=d) for d in ids], rows, leading
