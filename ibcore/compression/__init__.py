"""Stage 2, compression: map high-dimensional samples to low-dimensional codes, then estimate.

PCA, torch autoencoders and a normalizing-flow compressor (scikit-learn style), the two-sided bound on the MI lost by a
linear compressor of noisy data, :func:`lossy_mutual_information` (compress, estimate, report),
and ``method="auto"`` (:func:`auto_mutual_information`: compress only where it must, then estimate).
"""
from .auto import AutoEstimate, auto_entropy
from .autoencoders import ConvAutoencoder, DenseAutoencoder, InputEncoder, load_compressor
from .bound import CompressionBound, compression_bound
from .canonical import CanonicalEncoder
from .flow import FlowCompressor
from .lossy import LossyEstimate, auto_mutual_information, compress, lossy_mutual_information
from .pca import PCACompressor
from .registry import (CompressorSpec, compressor_names, get_compressor, make_compressor, register_compressor,
                       unregister_compressor)

__all__ = [
    "PCACompressor", "FlowCompressor", "ConvAutoencoder", "DenseAutoencoder", "InputEncoder", "load_compressor",
    "CanonicalEncoder", "CompressionBound", "compression_bound", "LossyEstimate", "lossy_mutual_information", "compress",
    "AutoEstimate", "auto_mutual_information", "auto_entropy",
    "CompressorSpec", "register_compressor", "unregister_compressor", "get_compressor", "compressor_names",
    "make_compressor",
]
