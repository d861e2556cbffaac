"""The two-sided bound on the mutual information lost by compressing noisy data.

Theorem 4 of ``book/theory.md``: a provable form of the paper's lossy-compression bound (its figure 1).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..validation import check_float, check_int

__all__ = ["CompressionBound", "compression_bound"]


class CompressionBound(NamedTuple):
    """Bounds (nats) on ``I(X; X~) - I(X; A)``, the MI lost by compressing ``X~`` to ``A``."""

    lower: float
    upper: float


def compression_bound(n: int, n_kept: int, noise_var: float, reconstruction_error: float) -> CompressionBound:
    """Two-sided bound on the MI lost by an orthogonal linear compression of noisy data.

    Setting (Theorem 4 of ``book/theory.md``): ``X~ = X + Z`` in ``R^n`` with ``Z ~ N(0, noise_var * I)``
    independent of ``X``; an orthogonal ``Q`` splits ``Q X~ = (A, B)`` into the kept
    ``A in R^{n_kept}`` (e.g. :class:`PCACompressor` without whitening) and the discarded
    ``B in R^{m}``, ``m = n - n_kept``; a decoder ``D`` predicts ``B`` from ``A`` with
    ``Delta = E||B - D(A)||^2`` (squared error summed over coordinates, mean over samples,
    which for an orthogonal ``Q`` equals the reconstruction error of ``X~`` summed over all
    ``n`` coordinates, ``reconstruction_error(x_noisy, per="sample")``). Then

    .. math:: 0 \\le I(X; \\tilde X) - I(X; A) \\le \\frac{m}{2} \\log\\frac{\\Delta}{m \\sigma^2}.

    Proof: ``I(X; X~) - I(X; A) = I(X; B | A) = h(B | A) - h(B | A, X)``. Given ``X``, ``B`` is
    ``QX``'s block plus the block of ``QZ ~ N(0, sigma^2 I)`` (independent of ``A``'s noise), so
    ``h(B | A, X) = (m/2) log(2 pi e sigma^2)``; conditioning reduces entropy, so
    ``h(B | A) >= h(B | A, X)`` (lower bound), and ``h(B | A) = h(B - D(A) | A) <= h(B - D(A))
    <= (m/2) log(2 pi e Delta / m)`` (the Gaussian has maximal entropy for a given second
    moment), giving the upper bound.

    Parameters
    ----------
    n : int
        Ambient dimension of ``X~``.
    n_kept : int
        Kept dimension ``n'`` (``1 <= n_kept <= n``).
    noise_var : float
        ``sigma^2``, the variance of each noise coordinate (data units squared), > 0.
    reconstruction_error : float
        ``Delta`` (data units squared), > 0 when ``n_kept < n``.

    Returns
    -------
    CompressionBound
        ``(lower, upper)`` in nats; ``lower`` is 0. For the true ``Delta``, ``Delta >= m sigma^2``
        always holds; an estimated ``Delta`` slightly below it (sampling noise) gives a negative
        logarithm, which is clipped so that ``upper = 0``. With ``n_kept == n`` both are 0.

    Examples
    --------
    >>> compression_bound(10, 4, 0.01, 0.12)       # Delta twice the noise floor 6 * 0.01
    CompressionBound(lower=0.0, upper=2.0794415416798357)
    """
    n = check_int(n, "n", 1)
    n_kept = check_int(n_kept, "n_kept", 1)
    if n_kept > n:
        raise ValueError(f"n_kept={n_kept} cannot exceed the ambient dimension n={n}")
    noise_var = check_float(noise_var, "noise_var", low=0.0, low_open=True)
    delta = check_float(reconstruction_error, "reconstruction_error", low=0.0)
    m = n - n_kept
    if m == 0:
        return CompressionBound(0.0, 0.0)
    if delta == 0:
        raise ValueError(
            "reconstruction_error is 0 while coordinates are discarded; with noise of variance "
            f"{noise_var} it is at least {m * noise_var} (= (n - n_kept) * noise_var)"
        )
    return CompressionBound(0.0, max(0.0, 0.5 * m * math.log(delta / (m * noise_var))))
