"""Stage 3a, the synthetic benchmark (Algorithm 1): images whose mutual information is known.

Samplers carry their true MI; injective image generators render latent pairs to images (so the
images' MI equals the latents'); :func:`run_algorithm1` sweeps estimators and compressors over
an MI grid into a resumable table, and :func:`plot_estimates` draws figures 3 and 4.
"""
from .images import AntiPCA, CovarianceBumps, GaussianBumps, ImageGenerator, Rectangles
from .pairs import ImagePair, image_pair
from .figures import figure_scales, figure_settings, run_figure_sweep
from .plots import PALETTE, plot_estimates
from .runner import make_compressor, make_generator, plan_cells, run_algorithm1, run_cell, train_compressor
from .samplers import (CorrelatedNormal, CorrelatedUniform, StudentT, correlated_normal, correlated_uniform,
                       gaussian_mutual_information, pair_correlation)
from .settings import DATASETS, INPUTS, SweepSettings, parse_grid
from .table import COLUMNS, mean_absolute_error, read_results

__all__ = [
    "CorrelatedNormal", "CorrelatedUniform", "StudentT", "correlated_normal", "correlated_uniform",
    "gaussian_mutual_information", "pair_correlation",
    "ImageGenerator", "GaussianBumps", "CovarianceBumps", "Rectangles", "AntiPCA", "ImagePair", "image_pair",
    "SweepSettings", "run_algorithm1", "run_cell", "run_figure_sweep", "figure_scales", "figure_settings", "plan_cells", "make_generator", "make_compressor", "train_compressor",
    "read_results", "mean_absolute_error", "parse_grid", "plot_estimates", "PALETTE",
    "COLUMNS", "DATASETS", "INPUTS",
]
