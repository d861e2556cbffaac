"""ibcore: Information Bottleneck analysis of deep networks via lossy compression.

Flat public API (all values in nats):

* :func:`entropy`, :func:`mutual_information` -> :class:`Estimate`
* estimator classes :class:`KLEntropy`, :class:`WKLEntropy`, :class:`KDEEntropy`, :class:`KSG`
* :func:`wkl_weights`, :func:`pointwise_mutual_information`
"""
from .entropy import KDEEntropy, KLEntropy, WKLEntropy, entropy, make_entropy_estimator, wkl_weights
from .mutual_information import KSG, mutual_information, pointwise_mutual_information
from .result import Estimate

__version__ = "0.1.0"

ENTROPY_METHODS = ("wkl", "kl", "kde-ml", "kde-lse")
MI_METHODS = ENTROPY_METHODS + ("ksg",)

__all__ = [
    "Estimate", "entropy", "mutual_information", "pointwise_mutual_information",
    "KLEntropy", "WKLEntropy", "KDEEntropy", "KSG", "make_entropy_estimator", "wkl_weights",
    "ENTROPY_METHODS", "MI_METHODS", "__version__",
]
