"""ibcore: Information Bottleneck analysis of deep networks via lossy compression.

The package follows the method's stages; imports only run downward::

    ibcore/
      estimators/    entropy, MI, kNN and KDE kernels, whitening, MINE        (stage 1)
      compression/   PCA, autoencoders, the compression bound, lossy MI       (stage 2)
      synthetic/     samplers with known MI, image generators, Algorithm 1    (stage 3a)
      plane/         noise layers, recording, tracker, runs, phases, MNIST    (stage 3b)
      result.py, validation.py, device.py, nn.py, settings.py, cli.py         (shared ground)

Flat public API (all values in nats): :func:`entropy`, :func:`mutual_information` (``method="auto"``
by default: it compresses images and degenerate samples itself and says what it did, see
:mod:`ibcore.compression.auto`; the raw estimators are ``ibcore.estimators.entropy`` and
``ibcore.estimators.mutual_information``), :func:`pointwise_mutual_information` -> :class:`Estimate`; the estimator classes
:class:`KLEntropy`, :class:`WKLEntropy`, :class:`KDEEntropy`, :class:`KSG`, :class:`MINE`; the
compressors :class:`PCACompressor`, :class:`ConvAutoencoder`, :class:`DenseAutoencoder`,
:func:`compression_bound` and :func:`lossy_mutual_information`; :func:`intrinsic_dimension`
(-> :class:`IntrinsicDimension`) and the :class:`ManifoldWarning` of the entropy-based estimators.
The algorithms are imported from
their stage: ``ibcore.synthetic`` (``CorrelatedNormal``, ``GaussianBumps``, ``run_algorithm1``,
...) and ``ibcore.plane`` (``InformationPlaneTracker``, ``PlaneRun``, ``make_stochastic``, ...).
"""
import importlib

from .compression import (AutoEstimate, ConvAutoencoder, DenseAutoencoder, LossyEstimate, PCACompressor,
                          compression_bound, lossy_mutual_information)
from .compression.auto import entropy, mutual_information
from .estimators import (ENTROPY_METHODS, FlowMI, KDEEntropy, KLEntropy, KSG, MI_METHODS, MINE, WKLEntropy,
                         make_entropy_estimator, pointwise_mutual_information, wkl_weights)
from .estimators import IntrinsicDimension, ManifoldWarning, intrinsic_dimension
from .result import Estimate

__version__ = "0.1.0"

_STAGES = ("estimators", "compression", "synthetic", "plane")

__all__ = [
    "Estimate", "entropy", "mutual_information", "pointwise_mutual_information",
    "KLEntropy", "WKLEntropy", "KDEEntropy", "KSG", "make_entropy_estimator", "wkl_weights",
    "PCACompressor", "ConvAutoencoder", "DenseAutoencoder", "compression_bound", "MINE", "FlowMI",
    "LossyEstimate", "lossy_mutual_information", "ENTROPY_METHODS", "MI_METHODS", "__version__",
    "intrinsic_dimension", "IntrinsicDimension", "ManifoldWarning", "AutoEstimate",
    *_STAGES,
]


def __getattr__(name):
    # the algorithm stages load on first use: `import ibcore` stays light
    if name in _STAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ibcore' has no attribute {name!r}")
