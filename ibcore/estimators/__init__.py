"""Stage 1, estimators: entropy and mutual information of samples, in nats.

kNN (Kozachenko-Leonenko, weighted KL, KSG) and KDE (ML and LSE bandwidths) estimators on
whitened samples, their kNN and kernel-sum kernels, the normalizing-flow estimator, the held-out
classifier bound for labels, and the neural baseline MINE.
"""
from .entropy import (EntropyEstimator, KDEEntropy, KLEntropy, WKLEntropy, estimate_entropy,
                      make_entropy_estimator, wkl_weights)
from .registry import (EstimatorSpec, estimator_names, get_estimator, register_estimator,
                       unregister_estimator)
from .intrinsic import IntrinsicDimension, ManifoldWarning, intrinsic_dimension
from .wkl import choose_wkl_k
from .classifier import ClassifierBound, classifier_bound, label_entropy
from .flow import FlowMI
from .gaussian import canonical_mutual_information, gaussian_mutual_information
from .mine import MINE
from .mutual_information import KSG, estimate_mutual_information, pointwise_mutual_information
from .whitening import Whitening, fit_whitening

__all__ = [
    "estimate_entropy", "estimate_mutual_information", "pointwise_mutual_information", "EntropyEstimator", "KLEntropy",
    "WKLEntropy", "KDEEntropy", "KSG", "MINE", "FlowMI", "make_entropy_estimator", "wkl_weights", "Whitening",
    "fit_whitening", "ENTROPY_METHODS", "MI_METHODS",
    "intrinsic_dimension", "IntrinsicDimension", "ManifoldWarning", "choose_wkl_k",
    "EstimatorSpec", "register_estimator", "unregister_estimator", "get_estimator", "estimator_names",
    "gaussian_mutual_information", "canonical_mutual_information",
    "classifier_bound", "ClassifierBound", "label_entropy",
]


def __getattr__(name):
    # the method names as tuples, read from the registry when asked (plug-ins may add methods)
    if name == "ENTROPY_METHODS":
        return estimator_names("entropy")
    if name == "MI_METHODS":
        return estimator_names("mi")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
