"""Stage 3b, the information plane (Algorithm 2): I(X;L) and I(L;Y) of a network during training.

Noise layers make the network stochastic, forward hooks record its layers on a fixed evaluation
set, the tracker compresses and estimates per epoch, :class:`PlaneRun` streams a resumable run
directory, and phase detection and plots read the planes. ``experiment`` holds the paper's MNIST run.
"""
from .classifier import ANALYSED_LAYERS, MNISTClassifier, evaluate, train_epoch
from .data import MNISTData, load_fashion_mnist, load_mnist
from .experiment import PlaneSettings, load_run_data, measure_snapshots, remeasure, remeasure_each, run_mnist_plane
from .mixture import MixtureInformation, mixture_information, mixture_profile
from .noise import GaussianNoise, make_stochastic, noise_entropy, noise_modules, noise_seed
from .phases import Segment, detect_phases, smooth, steepest_loss_drop, trusted_points
from .plots import plot_information_planes, plot_mi_over_epochs, plot_training_curves
from .recording import Collected, LayerRecorder, collect
from .run import METRIC_COLUMNS, PLANE_COLUMNS, PlaneResults, PlaneRun, read_remeasured, read_results
from .aggregate import aggregate_seeds, phase_frequencies
from .seed_plots import plot_seed_planes
from .seeds import SeedResults, parse_seeds, read_seed_results, run_plane_seeds
from .truth import gaussian_information
from .points import LayerPoint
from .tracker import InformationPlaneTracker

__all__ = [
    "gaussian_information", "mixture_information", "mixture_profile", "MixtureInformation",
    "GaussianNoise", "make_stochastic", "noise_entropy", "noise_modules", "noise_seed",
    "LayerRecorder", "Collected", "collect", "InformationPlaneTracker", "LayerPoint",
    "PlaneRun", "PlaneResults", "read_results", "read_remeasured", "PLANE_COLUMNS", "METRIC_COLUMNS",
    "PlaneSettings", "run_mnist_plane", "measure_snapshots", "remeasure", "remeasure_each", "load_run_data", "MNISTClassifier", "ANALYSED_LAYERS", "train_epoch", "evaluate",
    "MNISTData", "load_mnist", "load_fashion_mnist", "detect_phases", "trusted_points", "steepest_loss_drop", "smooth", "Segment",
    "plot_information_planes", "plot_training_curves", "plot_mi_over_epochs",
    "run_plane_seeds", "read_seed_results", "SeedResults", "parse_seeds", "aggregate_seeds", "phase_frequencies", "plot_seed_planes",
]
