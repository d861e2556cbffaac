"""Injective image generators for the synthetic benchmark with known MI (the paper's Algorithm 1).

How it works
------------
Algorithm 1 maps a latent pair ``(xi, eta)`` with closed-form ``I(xi; eta)`` through injective
maps ``f = f2 ∘ f1`` to high-dimensional ``X = f(xi)``, ``Y = f(eta)``; by Theorem 1 of
``book/theory.md`` the MI is kept exactly. Every generator here is such an ``f``, in two steps:

``latent_to_params`` (f1)
    a smooth bijection from the Gaussian latent ``xi`` in R^{n'} to the *shape parameters*
    (bump centre, rectangle edges, ...), through the standard normal CDF ``Phi``.
    ``params_from_uniform`` does the same from ``u = Phi(xi)`` in (0, 1)^{n'}.
``render`` (f2)
    the injective rasteriser from the parameters to images of shape ``generator.shape``.
    ``invert`` is a left inverse of ``render`` (images -> parameters), which shows
    injectivity constructively and lets tests recover the parameters.

``generator(xi)`` is ``render(latent_to_params(xi))``; ``generator.from_uniform(u)`` is
``render(params_from_uniform(u))``. All are vectorised numpy: the work is a handful of array
operations on ``(n, W)`` per-axis profiles or ``(n, W, W)`` grids, no loops over samples or pixels.

Generators (``latent_dim`` = n', ``shape``):

* :class:`GaussianBumps` ``(size)``: n' = 2, ``exp(-10 ((x - mu_0)² + (y - mu_1)²))`` on the grid
  ``linspace(0, 1, W)`` (endpoints included), ``mu = Phi(xi)``; array axis 0 is the coordinate of
  ``mu_0`` (separable, so the image is an outer product of two 1-D profiles).
* :class:`CovarianceBumps` ``(size)``: n' = 5, a bump with a random positive-definite
  quadratic form, ``p = Phi(xi)``.
* :class:`Rectangles` ``(size, min_side=2)``: n' = 4, anti-aliased axis-aligned rectangles; pixel
  value = exact area of the pixel inside the rectangle, the outer product of two per-axis
  coverage profiles. The edges are ``(x0, x1, y0, y1)`` in pixel units, array axis 0 = x.
* :class:`AntiPCA` ``(dim=32)``: n' = 1 plus an independent nuisance ``z ~ U(-1, 1)``; a curved
  2-D manifold in R^32 on which PCA is not injective.

:func:`ibcore.synthetic.image_pair` (:mod:`ibcore.synthetic.pairs`) samples a latent pair from a
sampler of :mod:`ibcore.synthetic` (or from an MI value) and returns the two image batches, their
parameters and the true MI. For compressor
training, :meth:`ImageGenerator.sample_marginal` draws images from the marginal (``xi ~ N(0, I)``),
which does not depend on the MI.

Supported sizes: any integer side ``W >= 4`` (rectangles also need ``W > min_side``); the paper
uses 16 and 32. Images are float32 by default (``dtype=`` to change).

Examples
--------
>>> from ibcore.synthetic import Rectangles, image_pair
>>> gen = Rectangles(32)
>>> pair = image_pair(gen, 2.0, n=500, random_state=0)     # 2 nats between the latents
>>> pair.x.shape, pair.latent_x.shape, pair.mutual_information
((500, 32, 32), (500, 4), 2.0)
"""
from __future__ import annotations

import numbers

import numpy as np
from scipy.special import ndtr

from ..validation import as_real_array, check_int

__all__ = ["ImageGenerator", "GaussianBumps", "CovarianceBumps", "Rectangles", "AntiPCA"]


def _check_size(size, minimum: int = 4) -> int:
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral):
        raise TypeError(f"image size must be an integer number of pixels, got {size!r}")
    if size < minimum:
        raise ValueError(
            f"unsupported image size {size}: the side must be an integer >= {minimum} pixels "
            "(the paper uses 16 and 32)"
        )
    return int(size)


def _check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating type, got {dtype}")
    return dtype


def _as_batch(a, width: int, name: str) -> np.ndarray:
    """A float64 (n, width) array; (n,) is accepted when width == 1."""
    arr = as_real_array(a, name).astype(np.float64, copy=False)
    if arr.ndim == 1 and width == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"{name} must have shape (n, {width}), got {arr.shape}")
    return arr


def _check_unit(u: np.ndarray, name: str = "u") -> None:
    if (u < 0).any() or (u > 1).any():
        raise ValueError(f"{name} must lie in [0, 1] (uniform coordinates)")


class ImageGenerator:
    """Base class: an injective map from a latent in R^{n'} to arrays of shape ``shape``.

    Subclasses set ``latent_dim`` and ``shape`` and implement ``_params(u, 1 - u)`` (the map from
    uniform coordinates to shape parameters, given both ``u`` and its complement so that the
    Gaussian path avoids cancellation), ``uniform_from_params``, ``render`` and ``invert``.

    Attributes
    ----------
    latent_dim : int
        Intrinsic dimension n' (the informative latent).
    nuisance_dim : int
        Independent nuisance coordinates drawn inside ``__call__`` (0 unless stated).
    shape : tuple of int
        Shape of one output, e.g. ``(W, W)``.
    dtype : numpy.dtype
        Output dtype.
    """

    latent_dim: int
    nuisance_dim: int = 0
    shape: tuple[int, ...]

    def __init__(self, dtype=np.float32):
        self.dtype = _check_dtype(dtype)

    # --- f1: latent -> parameters -------------------------------------------------------
    def latent_to_params(self, latent) -> np.ndarray:
        """Shape parameters from the Gaussian latent ``xi``, (n, latent_dim) -> (n, n_params)."""
        xi = _as_batch(latent, self.latent_dim, "latent")
        # ndtr(-xi) is 1 - Phi(xi) without cancellation in the upper tail
        return self._params(ndtr(xi), ndtr(-xi))

    def params_from_uniform(self, u) -> np.ndarray:
        """Shape parameters from ``u = Phi(xi)`` in [0, 1]^{latent_dim}."""
        u = _as_batch(u, self.latent_dim, "u")
        _check_unit(u)
        return self._params(u, 1.0 - u)

    def uniform_from_params(self, params) -> np.ndarray:
        """Inverse of :meth:`params_from_uniform`."""
        raise NotImplementedError

    def _params(self, u, one_minus_u):
        raise NotImplementedError

    # --- f2: parameters -> images ---------------------------------------------------------
    def render(self, params) -> np.ndarray:
        """Images, shape (n, *shape), from parameters (n, n_params)."""
        raise NotImplementedError

    def invert(self, images) -> np.ndarray:
        """Parameters recovered from noise-free images (a left inverse of :meth:`render`)."""
        raise NotImplementedError

    # --- compositions -----------------------------------------------------------------------
    def __call__(self, latent, random_state=None) -> np.ndarray:
        """Images from the Gaussian latent ``xi`` (n, latent_dim). ``random_state`` seeds the nuisance
        (ignored by generators without one)."""
        return self.render(self.latent_to_params(latent))

    def from_uniform(self, u, random_state=None) -> np.ndarray:
        """Images from uniform coordinates ``u`` in [0, 1]^{latent_dim}, shape (n, latent_dim)."""
        return self.render(self.params_from_uniform(u))

    def sample_marginal(self, n: int, random_state=None) -> np.ndarray:
        """``n`` images from the marginal distribution (``xi ~ N(0, I)``), e.g. to train a
        compressor; it is the marginal of both ``X`` and ``Y`` at every MI value."""
        n = check_int(n, "n", 1)
        rng = np.random.default_rng(random_state)
        return self(rng.standard_normal((n, self.latent_dim)), random_state=rng)

    def _out(self, a: np.ndarray) -> np.ndarray:
        return a.astype(self.dtype, copy=False)

    def _check_images(self, images) -> np.ndarray:
        arr = np.asarray(images, dtype=np.float64)
        if arr.ndim == len(self.shape):
            arr = arr[None]
        if arr.shape[1:] != self.shape:
            raise ValueError(f"images must have shape (n, {', '.join(map(str, self.shape))}), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("images contain NaN or infinite values")
        return arr


class _SquareImages(ImageGenerator):
    def __init__(self, size: int, dtype=np.float32, minimum_size: int = 4):
        super().__init__(dtype)
        self.size = _check_size(size, minimum_size)
        self.shape = (self.size, self.size)
        self.grid = np.linspace(0.0, 1.0, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, dtype={self.dtype.name})"

    def uniform_from_params(self, params) -> np.ndarray:
        return _as_batch(params, self.latent_dim, "params")

    def _params(self, u, one_minus_u):
        return u

    def _weighted_quadratic_fit(self, images, columns) -> np.ndarray:
        """Per image, least squares of ``log(image)`` on ``columns`` (P, k), weighted by the
        intensity (the log of a tiny or underflowed pixel carries no precision)."""
        images = self._check_images(images).reshape(-1, self.size ** 2)
        w = np.clip(images, 0.0, None)
        logs = np.where(w > 0, np.log(np.where(w > 0, w, 1.0)), 0.0)
        normal = np.einsum("np,pi,pj->nij", w, columns, columns)
        rhs = np.einsum("np,pi,np->ni", w, columns, logs)
        return np.linalg.solve(normal, rhs[..., None])[..., 0]


class GaussianBumps(_SquareImages):
    """Images of a round 2-D Gaussian bump (the paper's figure 3), n' = 2.

    Pixel ``(i, j)`` of the image for centre ``mu = Phi(xi)`` in (0, 1)² is
    ``exp(-scale · ((g_i - mu_0)² + (g_j - mu_1)²))`` with ``g = linspace(0, 1, W)`` and
    ``scale = 10`` (bump std ≈ 0.224 of the side). Values in (0, 1].

    Parameters
    ----------
    size : int
        Side ``W`` in pixels (>= 4; the paper uses 16 and 32).
    scale : float
        The coefficient in the exponent (default 10, the authors' value).
    dtype : floating dtype
        Output dtype (default float32).
    """

    latent_dim = 2

    def __init__(self, size: int, *, scale: float = 10.0, dtype=np.float32):
        super().__init__(size, dtype)
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        self.scale = float(scale)

    def render(self, params) -> np.ndarray:
        """Images (n, W, W) from centres (n, 2) (any real centre is accepted)."""
        mu = _as_batch(params, 2, "params (bump centres)")
        prof = np.exp(-self.scale * (self.grid[None, None, :] - mu[:, :, None]) ** 2)  # (n, 2, W)
        out = prof[:, 0, :, None].astype(self.dtype) * prof[:, 1, None, :].astype(self.dtype)
        return out

    def invert(self, images) -> np.ndarray:
        """Centres (n, 2) from images: ``log image`` is the quadratic
        ``-scale (g_i² + g_j²) + 2 scale (mu_0 g_i + mu_1 g_j) + c``."""
        gi, gj = np.meshgrid(self.grid, self.grid, indexing="ij")
        cols = np.stack([np.ones(gi.size), gi.ravel(), gj.ravel(), (gi ** 2 + gj ** 2).ravel()], axis=1)
        beta = self._weighted_quadratic_fit(images, cols)
        return -beta[:, 1:3] / (2.0 * beta[:, 3:4])


class CovarianceBumps(_SquareImages):
    """Images of a 2-D Gaussian bump with a random covariance (as in ``VanessB/Information-v3``), n' = 5.

    With ``p = Phi(xi)`` in (0, 1)^5, ``dx = g_i - p_1``, ``dy = g_j - p_2``:
    ``exp(-10 [(1+p_3)² dx² + (1+p_4)² dy² + (2 p_5 - 1)(1+p_3)(1+p_4) dx dy])``.
    The form is positive definite (cross coefficient in (-1, 1) times the scales), and the six
    coefficients of the quadratic ``log image`` determine ``p`` uniquely (:meth:`invert`).

    Parameters
    ----------
    size : int
        Side ``W`` (>= 4; the paper uses 32).
    dtype : floating dtype
        Output dtype (default float32; far pixels may underflow to 0 in float32).
    """

    latent_dim = 5

    def render(self, params) -> np.ndarray:
        """Images (n, W, W) from parameters (n, 5)."""
        p = _as_batch(params, 5, "params")
        dx = self.grid[None, :, None] - p[:, 0, None, None]
        dy = self.grid[None, None, :] - p[:, 1, None, None]
        a = (1.0 + p[:, 2])[:, None, None]
        b = (1.0 + p[:, 3])[:, None, None]
        c = (2.0 * p[:, 4] - 1.0)[:, None, None]
        ax, by = a * dx, b * dy
        return self._out(np.exp(-10.0 * (ax * ax + by * by + c * ax * by)))

    def invert(self, images) -> np.ndarray:
        """Parameters (n, 5) from images, through the quadratic fit of ``log image``."""
        gi, gj = np.meshgrid(self.grid, self.grid, indexing="ij")
        x, y = gi.ravel(), gj.ravel()
        cols = np.stack([np.ones(x.size), x, y, x * x, y * y, x * y], axis=1)
        beta = self._weighted_quadratic_fit(images, cols) / -10.0
        qa, qb, qc = beta[:, 3], beta[:, 4], beta[:, 5]  # (1+p3)², (1+p4)², (2p5-1)(1+p3)(1+p4)
        # linear terms: -(2 qa p1 + qc p2), -(2 qb p2 + qc p1)
        det = 4.0 * qa * qb - qc * qc
        r1, r2 = -beta[:, 1], -beta[:, 2]
        p1 = (2.0 * qb * r1 - qc * r2) / det
        p2 = (2.0 * qa * r2 - qc * r1) / det
        s3, s4 = np.sqrt(qa), np.sqrt(qb)
        return np.stack([p1, p2, s3 - 1.0, s4 - 1.0, (qc / (s3 * s4) + 1.0) / 2.0], axis=1)


class Rectangles(_SquareImages):
    """Anti-aliased axis-aligned rectangles (the paper's figure 4), n' = 4.

    Latent to edges, per axis from two uniform coordinates ``(u_1, u_2)`` and the minimum
    side ``m = min_side / W``::

        a = (1 - m)(1 - sqrt(1 - u_1)),   b = a + m + u_2 (1 - a - m)

    a smooth bijection of (0, 1)² onto ``{0 <= a, a + m <= b <= 1}`` that makes ``(a, b)``
    uniform there; edges ``(x0, x1) = W (a, b)`` from ``(u_1, u_2)`` and ``(y0, y1)`` from
    ``(u_3, u_4)``, in pixel units. Pixel ``(i, j)`` = area of ``[i, i+1] × [j, j+1]`` inside
    ``[x0, x1] × [y0, y1]`` = ``cov_x[i] · cov_y[j]`` with the per-axis coverage
    ``cov[i] = clip(min(e1, i+1) - max(e0, i), 0, 1)``. It is computed for every pixel at once,
    so an edge exactly at ``W`` is just zero coverage beyond the image (the authors' loop
    indexed pixel ``W`` there).

    Injective when both sides are >= 2 pixels: then each axis has a fully covered pixel, so
    ``cov = profile / max(profile)`` is recovered from the row (column) sums of the image,
    and the first and last partly covered pixels give the edges exactly (:meth:`invert`).

    Parameters
    ----------
    size : int
        Side ``W`` in pixels (>= 4 and > ``min_side``; the paper uses 16 and 32).
    min_side : float
        Minimum side in pixels, >= 2 (default 2, the authors' ``min_delta``).
    dtype : floating dtype
        Output dtype (default float32).
    """

    latent_dim = 4

    def __init__(self, size: int, min_side: float = 2.0, *, dtype=np.float32):
        super().__init__(size, dtype)
        if isinstance(min_side, bool) or not isinstance(min_side, numbers.Real) or not np.isfinite(min_side):
            raise TypeError(f"min_side must be a real number of pixels, got {min_side!r}")
        if min_side < 2:
            raise ValueError(
                f"min_side must be >= 2 pixels (below that the rasteriser is not injective: "
                f"no pixel need be fully covered), got {min_side}"
            )
        if min_side >= self.size:
            raise ValueError(
                f"unsupported image size {self.size} for min_side={min_side}: the side must exceed min_side"
            )
        self.min_side = float(min_side)

    def __repr__(self) -> str:
        return f"Rectangles(size={self.size}, min_side={self.min_side:g}, dtype={self.dtype.name})"

    def _params(self, u, one_minus_u):
        m = self.min_side / self.size
        a = (1.0 - m) * (1.0 - np.sqrt(one_minus_u[:, 0::2]))   # (n, 2): x and y lower edges
        b = a + m + u[:, 1::2] * (1.0 - a - m)
        edges = np.stack([a, b], axis=2).reshape(len(u), 4)     # x0, x1, y0, y1
        return edges * self.size

    def uniform_from_params(self, params) -> np.ndarray:
        """Inverse of :meth:`params_from_uniform`: edges (n, 4) -> u (n, 4)."""
        e = _as_batch(params, 4, "params (edges)") / self.size
        m = self.min_side / self.size
        a, b = e[:, 0::2], e[:, 1::2]
        u1 = 1.0 - (1.0 - a / (1.0 - m)) ** 2
        u2 = (b - a - m) / (1.0 - a - m)
        return np.stack([u1, u2], axis=2).reshape(len(e), 4)

    def coverage(self, lo, hi) -> np.ndarray:
        """Per-axis coverage profile (n, W) of the segments ``[lo, hi]`` (pixel units)."""
        i = np.arange(self.size, dtype=np.float64)
        lo = np.asarray(lo, dtype=np.float64)[:, None]
        hi = np.asarray(hi, dtype=np.float64)[:, None]
        return np.clip(np.minimum(hi, i + 1.0) - np.maximum(lo, i), 0.0, 1.0)

    def render(self, params) -> np.ndarray:
        """Images (n, W, W) from edges (n, 4) = (x0, x1, y0, y1) in pixel units, axis 0 = x."""
        e = _as_batch(params, 4, "params (edges x0, x1, y0, y1)")
        if (e[:, 1] < e[:, 0]).any() or (e[:, 3] < e[:, 2]).any():
            raise ValueError("params must satisfy x0 <= x1 and y0 <= y1")
        cx = self.coverage(e[:, 0], e[:, 1]).astype(self.dtype)
        cy = self.coverage(e[:, 2], e[:, 3]).astype(self.dtype)
        return cx[:, :, None] * cy[:, None, :]

    def _edges(self, profile):
        first = np.argmax(profile > 0, axis=1)
        last = self.size - 1 - np.argmax(profile[:, ::-1] > 0, axis=1)
        c_first = np.take_along_axis(profile, first[:, None], 1)[:, 0]
        c_last = np.take_along_axis(profile, last[:, None], 1)[:, 0]
        return first + 1.0 - c_first, last + c_last

    def invert(self, images) -> np.ndarray:
        """Edges (n, 4) from images of rectangles with sides >= 2 pixels."""
        img = self._check_images(images)
        rows, cols = img.sum(axis=2), img.sum(axis=1)   # cov_x · height, cov_y · width
        if (rows.max(axis=1) <= 0).any():
            raise ValueError("an image is blank: no rectangle to recover")
        x0, x1 = self._edges(rows / rows.max(axis=1, keepdims=True))
        y0, y1 = self._edges(cols / cols.max(axis=1, keepdims=True))
        return np.stack([x0, x1, y0, y1], axis=1)


class AntiPCA(ImageGenerator):
    """The "Anti-PCA" curved manifold in R^dim (``VanessB/Information-v3``), n' = 1 plus a nuisance.

    With ``x = 2 Phi(xi) - 1`` in (-1, 1) and an independent ``z ~ U(-1, 1)``:
    ``a_k = x + k z`` and ``out_k = max(a_k, 0.1 k a_k)`` for ``k = 0..dim-1``, then
    ``out_0 = x`` and ``out_1 = z``. Injective in ``(x, z)`` (they are read back from
    coordinates 0 and 1), so ``I(f(xi, z); g(eta, z')) = I(xi; eta)`` for independent nuisances;
    the kink of ``max`` at ``a_k = 0`` bends the 2-D sheet so that no 2-D linear projection is
    injective on it.

    Parameters
    ----------
    dim : int
        Output dimension (>= 2; default 32).
    dtype : floating dtype
        Output dtype (default float32).

    Notes
    -----
    ``latent_to_params`` and ``invert`` return the informative coordinate ``x`` only, shape
    (n, 1); :meth:`embed` takes ``x`` and ``z`` explicitly.
    """

    latent_dim = 1
    nuisance_dim = 1

    def __init__(self, dim: int = 32, *, dtype=np.float32):
        super().__init__(dtype)
        self.dim = check_int(dim, "dim", 2)
        self.shape = (self.dim,)

    def __repr__(self) -> str:
        return f"AntiPCA(dim={self.dim}, dtype={self.dtype.name})"

    def _params(self, u, one_minus_u):
        return u - one_minus_u   # 2u - 1, symmetric in the two tails

    def uniform_from_params(self, params) -> np.ndarray:
        return (_as_batch(params, 1, "params") + 1.0) / 2.0

    def embed(self, x, z) -> np.ndarray:
        """Points (n, dim) from ``x`` (n,) or (n, 1) and ``z`` (n,) or (n, 1), both in [-1, 1]."""
        x = _as_batch(x, 1, "x")
        z = _as_batch(z, 1, "z")
        if len(x) != len(z):
            raise ValueError(f"x and z must have the same length, got {len(x)} and {len(z)}")
        k = np.arange(self.dim, dtype=np.float64)
        a = x + z * k
        out = np.maximum(a, 0.1 * k * a)
        out[:, 0], out[:, 1] = x[:, 0], z[:, 0]
        return self._out(out)

    def render(self, params, random_state=None) -> np.ndarray:
        """Points (n, dim) from ``x`` (n, 1), drawing the nuisance ``z ~ U(-1, 1)`` from ``random_state``."""
        x = _as_batch(params, 1, "params (x)")
        z = np.random.default_rng(random_state).uniform(-1.0, 1.0, size=(len(x), 1))
        return self.embed(x, z)

    def __call__(self, latent, random_state=None) -> np.ndarray:
        return self.render(self.latent_to_params(latent), random_state=random_state)

    def from_uniform(self, u, random_state=None) -> np.ndarray:
        return self.render(self.params_from_uniform(u), random_state=random_state)

    def invert(self, images) -> np.ndarray:
        """``x`` (n, 1) from points (n, dim)."""
        return self._check_images(images)[:, :1].copy()
