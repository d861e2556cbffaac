"""ibcore: Information Bottleneck analysis of deep networks via lossy compression.

The package follows the method's stages (Butakov et al., ICLR 2024); imports only run downward::

    ibcore/
      estimators/    stage 1: entropy and MI (KL, weighted KL, KDE, KSG), kNN and KDE kernels,
                     whitening, MINE, normalizing-flow MI, intrinsic dimension, the registry
      compression/   stage 2: lossy MI (the one compress-then-estimate path), auto (the rule of
                     ``method="auto"``), the registry of compressors, PCA, autoencoders, flow
                     codes, the two-sided compression bound
      synthetic/     stage 3a, Algorithm 1: samplers with known MI, image generators, sweeps,
                     the results table, figures
      plane/         stage 3b, Algorithm 2: noise layers, recording, tracker, runs, phases,
                     seeds, the MNIST classifier, data and experiment
      reproduce/     stage 4: stored results with provenance, their audit, the paper's claims
      result.py validation.py device.py nn.py settings.py executor.py report.py registry.py
                     shared ground: Estimate, input checks and seeds, device choice, torch
                     training, the settings base, Dask scheduling and folder locks, the book's
                     tables and figures, the name -> spec tables of the registries
      api.py         the default calls :func:`mutual_information` and :func:`entropy`
      consistency.py self-consistency checks of an MI estimator on data without ground truth
      cli.py __main__.py    the ``ibcore`` command line, above every stage

Flat public API (all values in nats): :func:`entropy`, :func:`mutual_information` (``method="auto"``
by default: it compresses images and degenerate samples itself and says what it did, see
:mod:`ibcore.compression.auto`; the estimators of one method are ``ibcore.estimators.estimate_entropy`` and
``ibcore.estimators.estimate_mutual_information``; methods and compressors are registered in
:mod:`ibcore.estimators.registry` and :mod:`ibcore.compression.registry`), :func:`pointwise_mutual_information` -> :class:`Estimate`; the estimator classes
:class:`KLEntropy`, :class:`WKLEntropy`, :class:`KDEEntropy`, :class:`KSG`, :class:`MINE`; the
compressors :class:`PCACompressor`, :class:`ConvAutoencoder`, :class:`DenseAutoencoder`,
:func:`compression_bound` and :func:`lossy_mutual_information`; :func:`intrinsic_dimension`
(-> :class:`IntrinsicDimension`) and the :class:`ManifoldWarning` of the entropy-based estimators;
:func:`consistency_checks` (-> :class:`ConsistencyReport` of :class:`ConsistencyCheck`) tests an
estimator on data without a known answer (independence, data processing, additivity).
The algorithms are imported from
their stage: ``ibcore.synthetic`` (``CorrelatedNormal``, ``GaussianBumps``, ``run_algorithm1``,
...) and ``ibcore.plane`` (``InformationPlaneTracker``, ``PlaneRun``, ``make_stochastic``, ...).
"""
import importlib

from .compression import (AutoEstimate, CanonicalEncoder, ConvAutoencoder, DenseAutoencoder, LossyEstimate,
                          PCACompressor, compression_bound, lossy_mutual_information)
from .api import entropy, mutual_information
from .consistency import ConsistencyCheck, ConsistencyReport, consistency_checks
from .estimators import (EstimatorSpec, FlowMI, KDEEntropy, KLEntropy, KSG, MINE, WKLEntropy, estimator_names,
                         make_entropy_estimator, pointwise_mutual_information, register_estimator, wkl_weights)
from .estimators import IntrinsicDimension, ManifoldWarning, intrinsic_dimension
from .result import Estimate

__version__ = "0.1.0"

_STAGES = ("estimators", "compression", "synthetic", "plane")

__all__ = [
    "Estimate", "entropy", "mutual_information", "pointwise_mutual_information",
    "KLEntropy", "WKLEntropy", "KDEEntropy", "KSG", "make_entropy_estimator", "wkl_weights",
    "PCACompressor", "ConvAutoencoder", "DenseAutoencoder", "CanonicalEncoder", "compression_bound", "MINE", "FlowMI",
    "LossyEstimate", "lossy_mutual_information", "ENTROPY_METHODS", "MI_METHODS", "__version__",
    "intrinsic_dimension", "IntrinsicDimension", "ManifoldWarning", "AutoEstimate",
    "EstimatorSpec", "register_estimator", "estimator_names",
    "consistency_checks", "ConsistencyReport", "ConsistencyCheck",
    *_STAGES,
]


def __getattr__(name):
    if name in ("ENTROPY_METHODS", "MI_METHODS"):  # read from the registry when asked
        from . import estimators

        return getattr(estimators, name)
    # the algorithm stages load on first use: `import ibcore` stays light
    if name in _STAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ibcore' has no attribute {name!r}")
