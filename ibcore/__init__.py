"""ibcore: Information Bottleneck analysis of deep networks via lossy compression.

Flat public API (all values in nats):

* :func:`entropy`, :func:`mutual_information` -> :class:`Estimate`
* estimator classes :class:`KLEntropy`, :class:`WKLEntropy`, :class:`KDEEntropy`, :class:`KSG`
* :func:`wkl_weights`, :func:`pointwise_mutual_information`
* compressors :class:`PCACompressor`, :class:`ConvAutoencoder`, :class:`DenseAutoencoder`
  and :func:`compression_bound`; the neural baseline :class:`MINE`
* submodules: :mod:`ibcore.synthetic` (samplers with known MI), :mod:`ibcore.images`
  (injective image generators), :mod:`ibcore.stochastic` (noise layers, layer hooks),
  :mod:`ibcore.mnist` (the paper's classifier and offline data), :mod:`ibcore.lossy` (MI on
  compressed codes with diagnostics), :mod:`ibcore.algorithm1` (the synthetic benchmark runner),
  :mod:`ibcore.information_plane` (Algorithm 2 tracker), :mod:`ibcore.phases`,
  :mod:`ibcore.plots`, :mod:`ibcore.plane_plots`, :mod:`ibcore.cli` (``ibcore synthetic``,
  ``ibcore plane``)
"""
from .entropy import KDEEntropy, KLEntropy, WKLEntropy, entropy, make_entropy_estimator, wkl_weights
from .mutual_information import KSG, mutual_information, pointwise_mutual_information
from .result import Estimate
from .compress import ConvAutoencoder, DenseAutoencoder, PCACompressor, compression_bound
from .lossy import LossyEstimate, lossy_mutual_information
from .mine import MINE
from .stochastic import GaussianNoise, LayerRecorder, collect, make_stochastic, noise_entropy

__version__ = "0.1.0"

ENTROPY_METHODS = ("wkl", "kl", "kde-ml", "kde-lse")
MI_METHODS = ENTROPY_METHODS + ("ksg", "mine")

__all__ = [
    "Estimate", "entropy", "mutual_information", "pointwise_mutual_information",
    "KLEntropy", "WKLEntropy", "KDEEntropy", "KSG", "make_entropy_estimator", "wkl_weights",
    "PCACompressor", "ConvAutoencoder", "DenseAutoencoder", "compression_bound", "MINE",
    "LossyEstimate", "lossy_mutual_information",
    "GaussianNoise", "make_stochastic", "LayerRecorder", "collect", "noise_entropy",
    "ENTROPY_METHODS", "MI_METHODS", "__version__",
]
