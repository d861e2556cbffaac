"""Differential-entropy estimators (nats) in scikit-learn style, and :func:`entropy`.

``fit(x)`` stores the (whitened) sample and everything learned from it (weights, bandwidth);
``score_samples(x=None)`` returns per-sample log-densities (leave-one-out on the fitted sample
when ``x`` is omitted); ``estimate(x=None)`` returns an :class:`~ibcore.Estimate` of the
entropy: the mean of ``-score_samples`` with its standard error.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
from scipy.special import digamma, gammaln

from . import kde, knn
from ..device import resolve_device
from ..result import Estimate
from ..validation import as_samples, check_fitted, check_float, check_int, check_no_duplicates
from .wkl import WKL_MIN_K, choose_wkl_k, wkl_weights
from .intrinsic import IntrinsicDimension, manifold_record, manifold_suspected, twonn_dimension, warn_manifold
from .registry import get_estimator
from .whitening import Whitening, fit_whitening, jitter_samples

__all__ = [
    "EntropyEstimator", "KLEntropy", "WKLEntropy", "KDEEntropy",
    "estimate_entropy", "make_entropy_estimator", "wkl_weights", "choose_wkl_k", "kde_ml", "kde_lse",
]


def log_unit_ball_volume(d: int) -> float:
    """log V_d, the volume of the unit Euclidean ball in d dimensions."""
    return 0.5 * d * math.log(math.pi) - gammaln(0.5 * d + 1.0)


class EntropyEstimator:
    """Base class: input checks, optional jitter, whitening, and the estimate assembly."""

    method: str = ""

    def __init__(self, *, rescale: bool = True, jitter: float | None = None,
                 random_state=None, device="auto", check_manifold: bool = True):
        self.rescale = rescale
        self.jitter = jitter
        self.random_state = random_state
        self.device = device
        self.check_manifold = check_manifold

    # -- hooks for subclasses -----------------------------------------------------------
    def _min_samples(self) -> int:
        return 2

    def _fit_reference(self) -> None:
        raise NotImplementedError

    def _loo_log_density(self) -> np.ndarray:
        raise NotImplementedError

    def _log_density(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _two_neighbour_distances(self) -> np.ndarray:
        """(n, 2) leave-one-out distances of the fitted sample to its two nearest neighbours."""
        return knn.knn_distances(self.reference_, 2, device=self.device)

    # -- public API -----------------------------------------------------------------------
    def get_params(self) -> dict:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _check_params(self) -> None:
        for flag in ("rescale", "check_manifold"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.jitter is not None:
            check_float(self.jitter, "jitter", low=0.0, low_open=True)
        resolve_device(self.device)

    def fit(self, x, *, name: str = "x") -> "EntropyEstimator":
        """Fit on samples ``x`` of shape (n_samples, n_features) (1-D: one feature).

        With ``check_manifold`` (the default) the TwoNN intrinsic dimension of the fitted
        (whitened) sample is stored in ``intrinsic_dimension_``, and a
        :class:`~ibcore.ManifoldWarning` is issued when it is clearly below the number of
        coordinates (:func:`ibcore.estimators.intrinsic.manifold_suspected`; ``on_manifold_``).
        """
        self._fit(x, name)
        if self.on_manifold_:
            warn_manifold([manifold_record(name, self.intrinsic_dimension_)], self.method)
        return self

    def _fit(self, x, name: str) -> "EntropyEstimator":
        # fit without warning: mutual_information gathers the checks of its terms in one warning
        self._check_params()
        x = as_samples(x, name)
        n, d = x.shape
        need = self._min_samples()
        if n < need:
            raise ValueError(f"{name} has {n} samples; {self.method} with these options needs at least {need}")
        if self.jitter is not None:
            x = jitter_samples(x, self.jitter, np.random.default_rng(self.random_state))
        check_no_duplicates(x, name)
        self.whitening_ = fit_whitening(x, name) if self.rescale else Whitening.identity(d)
        self.reference_ = self.whitening_.transform(x)
        self.n_samples_, self.n_features_ = n, d
        self._fit_reference()
        self.intrinsic_dimension_, self.on_manifold_ = None, False
        if self.check_manifold and n >= 3:
            r = self._two_neighbour_distances()
            if (r[:, 0] > 0).all():  # else the log-density is infinite somewhere and scoring says so
                value = twonn_dimension(r[:, 0], r[:, 1])
                self.intrinsic_dimension_ = IntrinsicDimension(value, "twonn", n, d)
                self.on_manifold_ = manifold_suspected(d, value, n)
        return self

    def _check_fitted(self) -> None:
        check_fitted(self, "reference_")

    def score_samples(self, x=None) -> np.ndarray:
        """Log-density estimates (nats) of shape (n,) in the original coordinates.

        With ``x=None``, leave-one-out values at the fitted samples; otherwise the density
        built from the fitted samples, evaluated at ``x`` of shape (m, n_features_).
        """
        self._check_fitted()
        if x is None:
            logf = self._loo_log_density()
        else:
            xq = as_samples(x, "x")
            if xq.shape[1] != self.n_features_:
                raise ValueError(f"x has {xq.shape[1]} features but the estimator was fitted on {self.n_features_}")
            logf = self._log_density(self.whitening_.transform(xq))
        return logf - self.whitening_.half_log_det

    def estimate(self, x=None) -> Estimate:
        """Entropy estimate in nats: ``-mean(score_samples(x))`` with standard error ``std/√n``.

        With ``x=None`` this is the leave-one-out (resubstitution) estimate on the fitted
        sample; with held-out samples ``x`` from the same distribution it is the
        cross-entropy estimate.
        """
        return estimate_from_terms(-self.score_samples(x))


def estimate_from_terms(terms: np.ndarray) -> Estimate:
    """Mean of per-sample terms with the standard error ``std(ddof=1) / sqrt(n)``."""
    n = len(terms)
    std = float(np.std(terms, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return Estimate(float(np.mean(terms)), std)


class _KNNEntropy(EntropyEstimator):
    def __init__(self, k: int = 5, *, rescale: bool = True, backend: str = "auto", device="auto",
                 jitter: float | None = None, random_state=None, check_manifold: bool = True):
        super().__init__(rescale=rescale, jitter=jitter, random_state=random_state, device=device,
                         check_manifold=check_manifold)
        self.k = k
        self.backend = backend

    def _check_params(self) -> None:
        super()._check_params()
        check_int(self.k, "k", 1)
        knn.choose_backend(self.backend, 1, self.device)

    def _min_samples(self) -> int:
        return self.k + 1

    def _choose_k(self, n: int, d: int) -> int:
        return self.k

    def _weights(self, d: int) -> np.ndarray:
        raise NotImplementedError

    def _fit_reference(self) -> None:
        self.k_ = self._choose_k(self.n_samples_, self.n_features_)
        self.weights_ = self._weights(self.n_features_)
        self._loo_r = None
        if self.check_manifold and self.n_samples_ >= 3:
            # one leave-one-out query serves the estimate and the manifold check (its first two columns)
            self._loo_r = self._loo_distances(max(self.k_, 2))

    def _loo_distances(self, k: int) -> np.ndarray:
        return knn.knn_distances(self.reference_, k, backend=self.backend, device=self.device)

    def _two_neighbour_distances(self) -> np.ndarray:
        return self._loo_r[:, :2]

    def _terms(self, r: np.ndarray, n_ref: int) -> np.ndarray:
        # The mass of the ball reaching the j-th of N neighbours is Beta(j, N - j + 1), so
        # E log(f V_d r_j^d) ≈ ψ(j) - ψ(N + 1): log f̂_j = ψ(j) - ψ(N + 1) - log V_d - d log r_j,
        # combined with the weights (Σw = 1).
        d = self.n_features_
        j = np.arange(1, self.k_ + 1)
        const = float(self.weights_ @ digamma(j)) - digamma(n_ref + 1) - log_unit_ball_volume(d)
        with np.errstate(divide="ignore"):
            logr = np.log(r)
        if not np.isfinite(logr).all():
            raise ValueError(
                "zero nearest-neighbour distance between a query point and the fitted sample; "
                "the log-density is infinite there (pass jitter=... or remove repeated points)"
            )
        return const - d * (logr @ self.weights_)

    def _loo_log_density(self) -> np.ndarray:
        r = self._loo_distances(self.k_) if self._loo_r is None else self._loo_r[:, :self.k_]
        return self._terms(r, self.n_samples_ - 1)

    def _log_density(self, z: np.ndarray) -> np.ndarray:
        r = knn.knn_distances(self.reference_, self.k_, z, backend=self.backend, device=self.device)
        return self._terms(r, self.n_samples_)


class KLEntropy(_KNNEntropy):
    """Kozachenko–Leonenko entropy estimator with the k-th nearest neighbour.

    ``ĥ = ψ(n) - ψ(k) + log V_d + (d/n) Σ_i log r_{i,k}`` (leave-one-out: ``n - 1`` neighbours),
    ``r_{i,k}`` the Euclidean distance from sample i to its k-th nearest neighbour and
    ``V_d`` the unit-ball volume. Nearly unbiased in low dimension; its bias grows with d.

    Parameters
    ----------
    k : int, default 1
        Neighbour order (the paper's "non-weighted KL" is k = 1).
    rescale : bool, default True
        Whiten the samples first (entropy corrected by ½ log det Σ; exact).
    backend : {"auto", "tree", "brute"}
        k-NN back end (see :mod:`ibcore.estimators.knn`).
    device : {"auto", "cpu", "cuda"}
        Where the brute-force back end runs.
    jitter : float, optional
        Add seeded Gaussian noise of ``jitter × column std`` before fitting, to break
        repeated points (otherwise repeated points are an error).
    random_state : int or Generator, optional
        Seed for ``jitter``.
    check_manifold : bool, default True
        Estimate the intrinsic dimension of the fitted (whitened) sample by TwoNN (from the
        neighbour distances the estimator computes anyway) and issue a
        :class:`~ibcore.ManifoldWarning` when the sample clearly lies near a manifold of lower
        dimension (rule: :func:`ibcore.estimators.intrinsic.manifold_suspected`), where the
        entropy is -inf and the estimate meaningless.

    Attributes
    ----------
    k_ : int
        The neighbour order used (``k``).
    weights_ : ndarray (k,)
        ``e_k``: only the k-th neighbour enters.
    whitening_ : Whitening
    reference_ : ndarray (n, d)
        The fitted (whitened) sample.
    intrinsic_dimension_ : IntrinsicDimension or None
        TwoNN estimate of the fitted sample (``None`` with ``check_manifold=False``).
    on_manifold_ : bool
        Whether the manifold rule fired.
    """

    method = "kl"

    def __init__(self, k: int = 1, *, rescale: bool = True, backend: str = "auto", device="auto",
                 jitter: float | None = None, random_state=None, check_manifold: bool = True):
        super().__init__(k, rescale=rescale, backend=backend, device=device, jitter=jitter,
                         random_state=random_state, check_manifold=check_manifold)

    def _weights(self, d: int) -> np.ndarray:
        w = np.zeros(self.k_)
        w[-1] = 1.0
        return w


class WKLEntropy(_KNNEntropy):
    """Weighted Kozachenko–Leonenko entropy estimator (Berrett, Samworth & Yuan, 2019).

    A weighted average of the 1…k-th-neighbour KL estimators with the weights of
    :func:`wkl_weights`, which remove the leading bias terms in dimension ``d >= 4`` and
    average out variance below. Parameters as :class:`KLEntropy`, except ``k``:

    k : int, optional
        ``None`` (default) chooses k from n and d by :func:`choose_wkl_k`: 5 (the paper's K)
        for d <= 7, more where the weights of k = 5 would explode (d >= 8). An integer (at
        least ``⌊d/4⌋ + 1``) fixes it; ``k=5`` is the paper's setting in every dimension.

    Attributes
    ----------
    k_ : int
        The neighbour order used.
    weights_, whitening_, reference_
        As :class:`KLEntropy`.
    """

    method = "wkl"

    def __init__(self, k: int | None = None, *, rescale: bool = True, backend: str = "auto", device="auto",
                 jitter: float | None = None, random_state=None, check_manifold: bool = True):
        super().__init__(k, rescale=rescale, backend=backend, device=device, jitter=jitter,
                         random_state=random_state, check_manifold=check_manifold)

    def _check_params(self) -> None:
        if self.k is None:
            EntropyEstimator._check_params(self)
            knn.choose_backend(self.backend, 1, self.device)
        else:
            super()._check_params()

    def _min_samples(self) -> int:
        return (WKL_MIN_K if self.k is None else self.k) + 1

    def _choose_k(self, n: int, d: int) -> int:
        return choose_wkl_k(n, d) if self.k is None else self.k

    def _weights(self, d: int) -> np.ndarray:
        return wkl_weights(d, self.k_)


class KDEEntropy(EntropyEstimator):
    """Gaussian kernel-density entropy estimator with a cross-validated bandwidth.

    ``ĥ = -(1/n) Σ_i log f̂_{-i}(z_i)`` with the leave-one-out Gaussian KDE
    ``f̂_{-i}(z) = (n-1)^{-1} Σ_{j≠i} (2π b²)^{-d/2} exp(-‖z - z_j‖² / (2b²))``.

    Parameters
    ----------
    bandwidth : {"ml", "lse"} or float, default "ml"
        ``"ml"``: maximise the leave-one-out log-likelihood (the paper's "KDE ML");
        ``"lse"``: least-squares cross-validation (the paper's "KDE LSE"); a float fixes ``b``
        (in whitened units when ``rescale``).
    rescale, device, jitter, random_state, check_manifold
        As :class:`KLEntropy` (the manifold check queries the two nearest neighbours once).

    Attributes
    ----------
    intrinsic_dimension_, on_manifold_
        As :class:`KLEntropy`.
    bandwidth_ : float
        The selected bandwidth (whitened units when ``rescale``).
    n_passes_ : int
        Passes over all pairs spent on the bandwidth search.
    """

    method = "kde"

    def __init__(self, bandwidth="ml", *, rescale: bool = True, device="auto",
                 jitter: float | None = None, random_state=None, check_manifold: bool = True):
        super().__init__(rescale=rescale, jitter=jitter, random_state=random_state, device=device,
                         check_manifold=check_manifold)
        self.bandwidth = bandwidth

    def _check_params(self) -> None:
        super()._check_params()
        b = self.bandwidth
        if isinstance(b, str):
            if b not in ("ml", "lse"):
                raise ValueError(f"bandwidth must be 'ml', 'lse' or a positive float, got {b!r}")
        else:
            check_float(b, "bandwidth", low=0.0, low_open=True)

    def _fit_reference(self) -> None:
        z = self.reference_
        if isinstance(self.bandwidth, str):
            t, logf, passes = kde.select_bandwidth(z, self.bandwidth, device=self.device)
        else:
            t = math.log(self.bandwidth)
            res = kde.kernel_pass(z, [0.5 * math.exp(-2 * t)], device=self.device)
            logf, passes = kde.loo_log_density(res.log_sum[:, 0], *z.shape, t), 1
        self.bandwidth_ = math.exp(t)
        self.n_passes_ = passes
        self._loo = logf

    def _loo_log_density(self) -> np.ndarray:
        return self._loo.copy()

    def _log_density(self, z: np.ndarray) -> np.ndarray:
        return kde.log_density(self.reference_, z, math.log(self.bandwidth_), device=self.device)


def kde_ml(**options) -> KDEEntropy:
    """An unfitted Gaussian-KDE entropy estimator with the leave-one-out maximum-likelihood
    bandwidth (method ``"kde-ml"``)."""
    return KDEEntropy("ml", **options)


def kde_lse(**options) -> KDEEntropy:
    """An unfitted Gaussian-KDE entropy estimator with the least-squares cross-validated
    bandwidth (method ``"kde-lse"``)."""
    return KDEEntropy("lse", **options)


def check_options(spec, options: dict, func: str, extra: tuple = ()) -> None:
    """A ``TypeError`` naming the options of ``options`` that method ``spec`` does not take."""
    valid = spec.options + tuple(extra)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(
            f"{func}: unknown option(s) {unknown} for method {spec.name!r}; valid options are {list(valid)}"
        )


def make_entropy_estimator(method: str = "wkl", **options) -> EntropyEstimator:
    """An unfitted estimator of an entropy method of :mod:`ibcore.estimators.registry` with
    ``options`` (its defaults filled in)."""
    spec = get_estimator(method, purpose="entropy")
    check_options(spec, options, "entropy")
    return spec.entropy(**{**spec.defaults, **options})


def estimate_entropy(x, method: str = "wkl", **options) -> Estimate:
    """Differential entropy of samples ``x`` in nats.

    Parameters
    ----------
    x : array_like (n_samples, n_features) or (n_samples,)
        Samples of a continuous random vector (a 1-D array is one dimension).
    method : {"wkl", "kl", "kde-ml", "kde-lse"}
        Weighted Kozachenko–Leonenko (default), k-th-neighbour Kozachenko–Leonenko,
        Gaussian KDE with maximum-likelihood or least-squares cross-validated bandwidth.
    **options
        ``k`` (kNN methods; "kl" default 1, "wkl" default :func:`choose_wkl_k`: 5 up to
        d = 7, more above), ``rescale`` (whitening with exact log-det correction, default
        True), ``device`` ("auto", "cpu", "cuda"), ``backend`` (kNN: "auto", "tree",
        "brute"), ``jitter`` and ``random_state``, ``check_manifold`` (default True).

    Returns
    -------
    Estimate
        ``value`` in nats and its standard error ``std`` (from the per-sample terms).

    Warns
    -----
    ManifoldWarning
        When the sample lies near a manifold of lower dimension than its coordinates (TwoNN
        intrinsic dimension below ``d · (0.7 - 2.5/√n)``); the warning's ``checks`` carry the
        numbers. ``check_manifold=False`` skips the check.

    Examples
    --------
    >>> import numpy as np, ibcore
    >>> x = np.random.default_rng(0).standard_normal((5000, 2))
    >>> est = ibcore.entropy(x)      # truth: log(2πe) ≈ 2.838 nats
    """
    return make_entropy_estimator(method, **options).fit(x).estimate()
