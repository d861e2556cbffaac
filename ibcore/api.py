"""The default calls above the stages: ``ibcore.mutual_information`` and ``ibcore.entropy``.

``method="auto"`` (the default) compresses only where it must and says what it did
(:func:`ibcore.compression.auto_mutual_information`, :func:`ibcore.compression.auto_entropy`);
any other method of the registry (:func:`ibcore.estimators.estimator_names`) goes straight to
the estimators of :mod:`ibcore.estimators`.
"""
from __future__ import annotations

from .compression import auto_entropy, auto_mutual_information
from .estimators import estimate_entropy, estimate_mutual_information
from .result import Estimate

__all__ = ["mutual_information", "entropy"]


def mutual_information(x, y, method: str = "auto", *, discrete_y: bool | None = None, **options) -> Estimate:
    """Mutual information I(X;Y) in nats: ``"auto"`` (default, :func:`auto_mutual_information`)
    or any method of :func:`ibcore.estimators.estimate_mutual_information` (whose docstring lists them)."""
    if method == "auto":
        return auto_mutual_information(x, y, discrete_y=discrete_y, **options)
    return estimate_mutual_information(x, y, method, discrete_y=discrete_y, **options)


def entropy(x, method: str = "auto", **options) -> Estimate:
    """Differential entropy in nats: ``"auto"`` (default, :func:`auto_entropy`) or any method of
    :func:`ibcore.estimators.estimate_entropy`."""
    if method == "auto":
        return auto_entropy(x, **options)
    return estimate_entropy(x, method, **options)
