"""Random vectors with a prescribed mutual information (nats), for the synthetic benchmark.

How it works (as ``multivariate_normal_from_MI`` in ``VanessB/Information-v3``)
-----------------------------------------------------------------------------
A pair of standard normal scalars with correlation ``rho`` has ``I = -½ log(1 - rho²)``.
Independent pairs add up (the paper's Corollary 1, ``book/theory.md``), so a target ``mi``
split evenly over ``m = min(dim_x, dim_y)`` pairs needs ``1 - rho² = exp(-2 mi / m)`` for each
pair. The remaining ``|dim_x - dim_y|`` coordinates are independent standard normals. A random
orthogonal matrix (Haar, :data:`scipy.stats.ortho_group`) is then applied within ``x`` and
within ``y``: it spreads the information over all coordinates, keeps the marginals
``N(0, I)`` and leaves the MI unchanged (an invertible linear map, Theorem 1 of
``book/theory.md``).

``1 - rho²`` is computed as ``exp(-2 mi / m)`` and ``rho`` as ``sqrt(-expm1(-2 mi / m))``,
never as ``1 - rho**2``, so large MI (rho rounding to 1) and tiny MI stay exact.

The uniform variant applies the standard normal CDF ``Phi`` to every coordinate *after*
the mixing: ``Qx`` is still ``N(0, I)``, so ``Phi(Qx)`` is uniform on ``(0, 1)^d`` and, ``Phi``
being a coordinate-wise bijection, the MI is unchanged.

Two interfaces:

* sampler objects :class:`CorrelatedNormal` and :class:`CorrelatedUniform` fix the mixing
  matrices at construction (from ``random_state``), so repeated ``sample`` calls come from one
  distribution; they carry ``mutual_information`` and the closed-form entropies;
* one-shot functions :func:`correlated_normal` and :func:`correlated_uniform`.

:class:`StudentT` is a multivariate Student-t pair: a Gaussian pair divided by one shared random
scale ``sqrt(chi²_nu / nu)``. The shared scale carries information of its own, so ``x`` and ``y``
are dependent even when every correlation is 0, a dependence that no per-side change of
coordinates makes Gaussian (the blind spot of Gaussian-copula and flow estimators).

Examples
--------
>>> from ibcore.synthetic import CorrelatedNormal
>>> dist = CorrelatedNormal(2, 3, mi=1.5, random_state=0)
>>> x, y = dist.sample(1000, random_state=1)
>>> x.shape, y.shape, dist.mutual_information
((1000, 2), (1000, 3), 1.5)
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
from scipy.special import digamma, gammaln, ndtr
from scipy.stats import ortho_group

from ..estimators.gaussian import gaussian_mutual_information
from ..validation import check_float, check_int

__all__ = [
    "CorrelatedNormal", "CorrelatedUniform", "StudentT", "correlated_normal", "correlated_uniform",
    "pair_correlation", "gaussian_mutual_information",
]

# Below this noise scale exp(-mi/m) the float64 samples y = rho x + s e cannot resolve the
# noise next to |x| ~ 1 (machine epsilon 2.2e-16), so y is a rounded copy of x.
_MIN_NOISE_SCALE = 1e-12


def _check_mi(mi) -> float:
    if isinstance(mi, (bool, np.bool_)) or not isinstance(mi, numbers.Real):
        raise TypeError(f"mi (mutual information, nats) must be a real number, got {mi!r}")
    mi = float(mi)
    if not math.isfinite(mi):
        raise ValueError(f"mi (mutual information, nats) must be finite, got {mi!r}")
    if mi < 0:
        raise ValueError(f"mi (mutual information, nats) must be >= 0, got {mi!r}")
    return mi


def pair_correlation(mi, m: int = 1) -> tuple[float, float]:
    """Correlation of each of ``m`` Gaussian pairs sharing ``mi`` nats evenly.

    Parameters
    ----------
    mi : float
        Total mutual information, nats (>= 0).
    m : int
        Number of independent correlated pairs.

    Returns
    -------
    rho : float
        ``sqrt(1 - exp(-2 mi / m))``.
    noise : float
        ``sqrt(1 - rho²) = exp(-mi / m)``, computed directly (exact for rho close to 1).
    """
    mi = _check_mi(mi)
    m = check_int(m, "m", 1)
    return math.sqrt(-math.expm1(-2.0 * mi / m)), math.exp(-mi / m)


def _mixing(dim: int, rng: np.random.Generator) -> np.ndarray:
    return np.asarray(ortho_group.rvs(dim=dim, random_state=rng), dtype=np.float64).reshape(dim, dim)


class CorrelatedNormal:
    """Jointly Gaussian ``(x, y)`` with ``N(0, I)`` marginals and exactly ``mi`` nats.

    Parameters
    ----------
    dim_x, dim_y : int
        Dimensions of ``x`` and ``y`` (>= 1).
    mi : float
        Mutual information ``I(x; y)`` in nats, >= 0 and finite. Split evenly over
        ``m = min(dim_x, dim_y)`` correlated pairs.
    mixing : bool
        Apply a random orthogonal matrix within ``x`` and within ``y`` (default True).
    random_state : None, int, numpy.random.SeedSequence or numpy.random.Generator, default 0
        Seed of the mixing matrices only; ``sample`` takes its own random_state. The default is fixed,
        so that ``CorrelatedNormal(dx, dy, mi).sample(n, random_state=s)`` is the same draw in every
        process (with ``None`` each sampler drew fresh matrices: the same ``random_state=s`` then gave
        other samples, and two runs of a benchmark did not see the same data). ``None`` still
        draws fresh matrices on purpose.

    Attributes
    ----------
    mutual_information : float
        ``I(x; y)``, nats.
    rho : float
        Correlation of each pair, ``sqrt(1 - exp(-2 mi / m))``.
    mixing_x, mixing_y : ndarray (dim_x, dim_x), (dim_y, dim_y)
        The orthogonal matrices (identity when ``mixing=False``); ``x = Qx x0``.
    """

    marginal = "normal"

    def __init__(self, dim_x: int, dim_y: int, mi: float, *, mixing: bool = True, random_state=0):
        self.dim_x = check_int(dim_x, "dim_x", 1)
        self.dim_y = check_int(dim_y, "dim_y", 1)
        self.mutual_information = _check_mi(mi)
        if not isinstance(mixing, (bool, np.bool_)):
            raise TypeError(f"mixing must be True or False, got {mixing!r}")
        self.mixing = bool(mixing)
        self.n_pairs = min(self.dim_x, self.dim_y)
        self.rho, self.noise_scale = pair_correlation(self.mutual_information, self.n_pairs)
        if self.noise_scale < _MIN_NOISE_SCALE:
            warnings.warn(
                f"mi={self.mutual_information} nats over {self.n_pairs} pair(s) needs a noise scale "
                f"exp(-mi/m) = {self.noise_scale:.3g}, below float64 resolution: the samples of y "
                "are rounded copies of (a rotation of) x and estimators will see duplicates. "
                "Use more dimensions or a smaller mi.",
                RuntimeWarning, stacklevel=2,
            )
        if self.mixing:
            rng = np.random.default_rng(random_state)
            self.mixing_x = _mixing(self.dim_x, rng)
            self.mixing_y = _mixing(self.dim_y, rng)
        else:
            self.mixing_x = np.eye(self.dim_x)
            self.mixing_y = np.eye(self.dim_y)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(dim_x={self.dim_x}, dim_y={self.dim_y}, "
                f"mi={self.mutual_information!r}, mixing={self.mixing})")

    @property
    def covariance(self) -> np.ndarray:
        """Joint covariance of the Gaussian ``(x, y)``, shape (dim_x + dim_y, dim_x + dim_y)."""
        m = self.n_pairs
        cross = np.zeros((self.dim_x, self.dim_y))
        cross[np.arange(m), np.arange(m)] = self.rho
        cross = self.mixing_x @ cross @ self.mixing_y.T
        return np.block([[np.eye(self.dim_x), cross], [cross.T, np.eye(self.dim_y)]])

    @property
    def entropy_x(self) -> float:
        """Differential entropy of ``x``, nats: ``(dim_x / 2) log(2 pi e)``."""
        return 0.5 * self.dim_x * math.log(2 * math.pi * math.e)

    @property
    def entropy_y(self) -> float:
        """Differential entropy of ``y``, nats."""
        return 0.5 * self.dim_y * math.log(2 * math.pi * math.e)

    @property
    def joint_entropy(self) -> float:
        """Differential entropy of ``(x, y)``, nats: ``h(x) + h(y) - I(x; y)``."""
        return self.entropy_x + self.entropy_y - self.mutual_information

    def _sample_normal(self, n, random_state):
        n = check_int(n, "n", 1)
        rng = np.random.default_rng(random_state)
        m = self.n_pairs
        x = rng.standard_normal((n, self.dim_x))
        y = rng.standard_normal((n, self.dim_y))
        # y_i = rho x_i + sqrt(1 - rho²) e_i on the first m coordinates
        y[:, :m] = self.rho * x[:, :m] + self.noise_scale * y[:, :m]
        if self.mixing:
            x = x @ self.mixing_x.T
            y = y @ self.mixing_y.T
        return x, y

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs.

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        random_state : None, int, SeedSequence or Generator
            Seed of this draw.

        Returns
        -------
        x : ndarray (n, dim_x), float64
        y : ndarray (n, dim_y), float64
        """
        return self._sample_normal(n, random_state)


class CorrelatedUniform(CorrelatedNormal):
    """``(Phi(x), Phi(y))`` for ``(x, y)`` from :class:`CorrelatedNormal`: marginals uniform on
    ``(0, 1)^d``, same ``mi`` nats (``Phi`` is applied after the mixing).

    Parameters are those of :class:`CorrelatedNormal`. ``entropy_x = entropy_y = 0`` and
    ``joint_entropy = -mi``. ``covariance`` is that of the underlying Gaussian.
    """

    marginal = "uniform"

    @property
    def entropy_x(self) -> float:
        return 0.0

    @property
    def entropy_y(self) -> float:
        return 0.0

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs: ``x`` (n, dim_x) and ``y`` (n, dim_y), values in (0, 1), float64."""
        x, y = self._sample_normal(n, random_state)
        return ndtr(x), ndtr(y)


def correlated_normal(n: int, dim_x: int, dim_y: int, mi: float, random_state=None, *, mixing: bool = True):
    """``n`` samples of a Gaussian ``(x, y)`` with ``N(0, I)`` marginals and exactly ``mi`` nats.

    One generator seeded by ``random_state`` draws the mixing matrices, then the samples. See
    :class:`CorrelatedNormal`.

    Returns
    -------
    x : ndarray (n, dim_x)
    y : ndarray (n, dim_y)
    """
    rng = np.random.default_rng(random_state)
    return CorrelatedNormal(dim_x, dim_y, mi, mixing=mixing, random_state=rng).sample(n, random_state=rng)


def correlated_uniform(n: int, dim_x: int, dim_y: int, mi: float, random_state=None, *, mixing: bool = True):
    """As :func:`correlated_normal` with ``Phi`` applied coordinate-wise: marginals uniform on
    ``(0, 1)^d``, same ``mi`` nats. See :class:`CorrelatedUniform`."""
    rng = np.random.default_rng(random_state)
    return CorrelatedUniform(dim_x, dim_y, mi, mixing=mixing, random_state=rng).sample(n, random_state=rng)


def _student_scale_term(nu: float, k: int) -> float:
    """The term of a ``k``-dimensional Student-t entropy that its ``nu`` adds to the Gaussian
    one (Arellano-Valle, Contreras-Reyes & Genton, Scand. J. Stat. 2013), nats."""
    return (gammaln(nu / 2) - gammaln((nu + k) / 2) + k / 2 * math.log(nu * math.pi)
            + (nu + k) / 2 * (digamma((nu + k) / 2) - digamma(nu / 2)))


class StudentT:
    """A multivariate Student-t pair ``(x, y) = z / sqrt(s)`` with ``z`` Gaussian and one shared
    ``s ~ chi²_nu / nu`` per sample.

    Its mutual information in closed form (Arellano-Valle, Contreras-Reyes & Genton, Scand. J.
    Stat. 2013) is that of the Gaussian ``z`` plus what the shared scale adds,
    ``c(nu, dim_x) + c(nu, dim_y) - c(nu, dim_x + dim_y)`` with ``c`` the dof term of the
    Student-t entropy: positive for any finite ``nu``, even with ``rho = 0`` (every correlation
    0), and 0 in the Gaussian limit ``nu -> inf``.

    Parameters
    ----------
    dim_x, dim_y : int
        Dimensions (>= 1).
    nu : float
        Degrees of freedom (> 0); heavier tails and more shared-scale information when small.
    rho : float, default 0
        Correlation of each of the ``min(dim_x, dim_y)`` coordinate pairs of ``z``, in (-1, 1).

    Attributes
    ----------
    mutual_information : float
        ``I(x; y)``, nats.
    dispersion : ndarray (dim_x + dim_y, dim_x + dim_y)
        The dispersion (shape) matrix of the joint Student-t, that of ``z``.

    Examples
    --------
    >>> from ibcore.synthetic import StudentT
    >>> dist = StudentT(4, 4, nu=3)
    >>> round(dist.mutual_information, 3)
    0.241
    >>> x, y = dist.sample(1000, random_state=0)
    >>> x.shape, y.shape
    ((1000, 4), (1000, 4))
    """

    def __init__(self, dim_x: int, dim_y: int, nu: float, rho: float = 0.0):
        self.dim_x = check_int(dim_x, "dim_x", 1)
        self.dim_y = check_int(dim_y, "dim_y", 1)
        self.nu = check_float(nu, "nu", low=0.0, low_open=True)
        self.rho = check_float(rho, "rho", low=-1.0, high=1.0, low_open=True, high_open=True)
        d = self.dim_x + self.dim_y
        self.dispersion = np.eye(d)
        for i in range(min(self.dim_x, self.dim_y)):
            self.dispersion[i, self.dim_x + i] = self.dispersion[self.dim_x + i, i] = self.rho
        self.mutual_information = float(
            gaussian_mutual_information(self.dispersion, self.dim_x) + _student_scale_term(self.nu, self.dim_x)
            + _student_scale_term(self.nu, self.dim_y) - _student_scale_term(self.nu, d))

    def __repr__(self) -> str:
        return f"StudentT(dim_x={self.dim_x}, dim_y={self.dim_y}, nu={self.nu!r}, rho={self.rho!r})"

    def sample(self, n: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` pairs: ``x`` (n, dim_x) and ``y`` (n, dim_y), float64 (the Gaussian part
        first, then the scales, from one generator seeded by ``random_state``)."""
        n = check_int(n, "n", 1)
        rng = np.random.default_rng(random_state)
        z = rng.multivariate_normal(np.zeros(len(self.dispersion)), self.dispersion, size=n)
        w = z / np.sqrt(rng.chisquare(self.nu, size=n) / self.nu)[:, None]
        return w[:, :self.dim_x], w[:, self.dim_x:]
