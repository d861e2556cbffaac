"""Exact information of a layer observed through Gaussian noise (a Gaussian-mixture computation).

Take ``X`` uniform over the ``m`` rows of an evaluation set and observe a layer through isotropic
Gaussian noise, ``T = f(X) + sigma Z`` with ``Z ~ N(0, I_d)``. Given ``X = x_i``, ``T`` is
``N(f_i, sigma^2 I)``; ``T`` itself is the ``m``-component mixture of these Gaussians, and

    I(X;T) = E[ log p(T | X) - log p(T) ]
           = log m - E[ log sum_j exp(-(|T - f_j|^2 - |T - f_I|^2) / (2 sigma^2)) ],

the expectation over ``I`` uniform and ``T = f_I + sigma Z``. Every term lies in
``(-inf, log m]`` and the mean is in ``[0, log m]``; it is computed by Monte Carlo to any
precision (Goldfeld et al., ICML 2019, "Estimating Information Flow in Deep Neural Networks",
call it sample propagation). With labels ``Y = y(X)``, ``T`` given ``Y = c`` is the mixture of
the rows of class ``c`` and ``I(T;Y) = E[ log p(T | Y) - log p(T) ]`` the same way. Nothing is
compressed: the layer keeps its full width.

Where the network is noisy upstream of the layer, ``T`` given ``x_i`` is itself a mixture over
the upstream noise. Pass ``outputs`` of shape ``(m, r, d)``: ``r`` noisy passes of the same rows.
The conditional of row ``i`` is then the mixture of its ``r`` draws (the "nested" form) and the
value is the exact information of that model, which tends to the network's as ``r`` grows.

The kernel is a chunked log-sum-exp in torch (float64 by default, on the GPU when there is one):
a block of Monte Carlo points against all ``m r`` centres at a time, so memory stays at
``memory_mb`` whatever ``m``. Its speed and memory against a direct scipy evaluation:
``benchmarks/mixture_kernel.md``.

Because the value depends on ``sigma`` (it falls from ``log m`` when the components are
separated to 0 when they all overlap), :func:`mixture_profile` computes it over a grid of
``sigma`` with common random numbers, so that the profile is smooth in ``sigma``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..device import resolve_device
from ..result import Estimate
from ..validation import as_labels, as_real_array, check_float, check_int, check_seed

__all__ = ["MixtureInformation", "mixture_information", "mixture_profile"]


@dataclass(frozen=True)
class MixtureInformation:
    """``I(X;T)`` and ``I(T;Y)`` of a noise-observed layer, nats, with Monte Carlo standard errors.

    Attributes
    ----------
    ixt : Estimate
        ``I(X;T)``, in ``[0, log m]``; its standard error combines the Monte Carlo one, the
        resolution of one term (``log m / samples``) and the kernel's rounding
        (:data:`ROUNDING`).
    ity : Estimate or None
        ``I(T;Y)`` (``None`` without labels), in ``[0, H(Y)]``.
    sigma : float
        Standard deviation of the observation noise, in the units of the outputs.
    m : int
        Number of rows (inputs ``X`` is uniform over).
    draws : int
        Noisy passes per row (1: the outputs are a deterministic function of ``X``).
    samples : int
        Monte Carlo points.
    """

    ixt: Estimate
    ity: Estimate | None
    sigma: float
    m: int
    draws: int
    samples: int

    @property
    def log_m(self) -> float:
        """``log m``, the largest possible ``I(X;T)``, nats."""
        return math.log(self.m)


def _as_outputs(outputs) -> np.ndarray:
    """``(m, r, d)`` float64 outputs from ``(m, d)`` or ``(m, r, d)`` (conversion and finiteness as
    :func:`ibcore.validation.as_real_array`)."""
    arr = as_real_array(outputs, "outputs")
    if arr.ndim == 2:
        arr = arr[:, None, :]
    elif arr.ndim != 3:
        raise ValueError(f"outputs must have shape (m, d) or (m, r, d) (r noisy passes per row), got {arr.shape}")
    return np.asarray(arr, dtype=np.float64)


def _check_sigmas(sigma) -> np.ndarray:
    values = np.atleast_1d(np.asarray(sigma, dtype=object))
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"sigma must be a positive number or a 1-D sequence of them, got {sigma!r}")
    return np.asarray([check_float(s, "sigma", low=0.0, low_open=True) for s in values])


def _rows(m: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` row indices, every row ``floor`` or ``ceil(samples / m)`` times (stratified:
    the average over ``X`` is exact when ``samples`` is a multiple of ``m``)."""
    reps = -(-samples // m)
    return np.concatenate([rng.permutation(m) for _ in range(reps)])[:samples]


def mixture_profile(outputs, sigmas, labels=None, *, samples: int = 10_000, memory_mb: float = 32.0,
                    random_state: int | None = 0, device="auto", dtype: str = "float64",
                    progress: bool = False) -> list[MixtureInformation]:
    """:func:`mixture_information` at every ``sigma`` of a grid, with common random numbers.

    The same rows, draws and standard normals ``Z`` are used at every ``sigma`` (``T = f_I +
    sigma Z``), so differences along the profile are not Monte Carlo noise.

    Parameters
    ----------
    outputs : array or tensor, shape (m, d) or (m, r, d)
        The layer's outputs for the ``m`` rows (``r`` noisy passes of each where the network is
        noisy upstream; see the module docstring).
    sigmas : float or sequence of float
        Noise standard deviations (> 0), in the units of ``outputs``.
    labels, samples, memory_mb, random_state, device, dtype, progress
        As in :func:`mixture_information`.

    Returns
    -------
    list of MixtureInformation
        One per ``sigma``, in the order given.
    """
    f = _as_outputs(outputs)
    m, r, d = f.shape
    sig = _check_sigmas(sigmas)
    samples = check_int(samples, "samples", 2)
    random_state = check_seed(random_state, "random_state")
    check_float(memory_mb, "memory_mb", low=0.0, low_open=True)
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    codes = None
    if labels is not None:
        if hasattr(labels, "detach"):
            labels = labels.detach().cpu().numpy()
        codes, _, _ = as_labels(labels, "labels")
        if len(codes) != m:
            raise ValueError(f"labels must have one entry per row of outputs: got {len(codes)} labels and {m} rows")

    import torch
    from tqdm.auto import tqdm

    dev = resolve_device(device)
    tdt = torch.float64 if dtype == "float64" else torch.float32
    # Centring leaves every distance unchanged and keeps the expanded |t|^2 - 2 t.f + |f|^2
    # small, so that its rounding stays far below sigma^2 (float64 by default for the same reason).
    f = f - f.reshape(-1, d).mean(axis=0)
    order = np.argsort(codes, kind="stable") if codes is not None else np.arange(m)
    centres = torch.as_tensor(f[order].reshape(m * r, d), dtype=tdt, device=dev)  # rows grouped by class
    sq = (centres * centres).sum(1)
    position = np.empty(m, dtype=np.int64)
    position[order] = np.arange(m)  # where row i's draws start (in units of r) among the centres
    if codes is not None:  # as_labels codes the classes 0..K-1, all present: class k is slice k
        counts = np.bincount(codes)
        bounds = (np.concatenate([[0], np.cumsum(counts)]) * r).tolist()
        log_class = torch.as_tensor(np.log(counts * r), dtype=tdt, device=dev)

    rng = np.random.default_rng(random_state)
    rows = _rows(m, samples, rng)
    draw = rng.integers(r, size=samples) if r > 1 else np.zeros(samples, dtype=np.int64)
    # working memory per point: one float64 row of exponents and one float32 row of exponentials
    chunk = max(1, min(samples, int(memory_mb * 2 ** 20 // (12 * m * r))))
    ixt_terms = np.empty((len(sig), samples))
    ity_terms = np.empty((len(sig), samples)) if codes is not None else None
    own_index = torch.as_tensor(position[rows] * r + draw, device=dev)
    a_buf = torch.empty((chunk, m * r), dtype=tdt, device=dev)  # reused: fresh pages cost more than the matmul
    e_buf = torch.empty((chunk, m * r), dtype=torch.float32, device=dev)
    bar = tqdm(total=samples * len(sig), desc="mixture information", unit="pt", disable=not progress,
               leave=False, dynamic_ncols=True)
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        b = stop - start
        z = torch.as_tensor(rng.standard_normal((b, d)), dtype=tdt, device=dev)
        zz = (z * z).sum(1)
        own = own_index[start:stop]
        base = centres[own]  # (b, d)
        a, e = a_buf[:b], e_buf[:b]
        for s_i, s in enumerate(sig):
            t = base + s * z
            # a[k, j] = (2 t_k.c_j - |c_j|^2) / (2 s^2) = -|t_k - c_j|^2 / (2 s^2) + |t_k|^2 / (2 s^2):
            # the row's constant cancels against the row's maximum below. The own centre's entry
            # is set to its exact value.
            torch.addmm(sq[None, :], t, centres.T, beta=-0.5 / s ** 2, alpha=1.0 / s ** 2, out=a)
            row = 0.5 * (t * t).sum(1) / s ** 2
            a.scatter_(1, own[:, None], (row - 0.5 * zz)[:, None])
            # One exponential per entry, in float32 (the exponentials dominate the cost): shifted by
            # the row's maximum they lie in (0, 1] and each has a relative error of 6e-8, so the
            # log of their sum is within ~1e-7 nats; the exponents themselves stay in float64.
            top = a.amax(1)
            a.sub_(top[:, None])
            e.copy_(a).exp_()
            shift = top - row  # log-densities = shifted exponents + shift
            log_pt = shift + torch.log(e.sum(1).to(tdt)) - math.log(m * r)
            if r == 1:
                log_cond = -0.5 * zz
            else:
                first = (own - own % r)[:, None] + torch.arange(r, device=dev)[None, :]
                log_cond = shift + torch.logsumexp(a.gather(1, first), 1) - math.log(r)
            ixt_terms[s_i, start:stop] = (log_cond - log_pt).cpu().numpy()
            if codes is not None:
                cls = torch.as_tensor(codes[rows[start:stop]], device=dev)
                sums = torch.stack([e[:, lo:hi].sum(1) for lo, hi in zip(bounds[:-1], bounds[1:])], 1).to(tdt)
                log_own = torch.log(sums.gather(1, cls[:, None])[:, 0])
                for k in torch.nonzero(~torch.isfinite(log_own))[:, 0].tolist():
                    # the own class lies > 100 nats below the row's top (float32 underflow): exact here
                    lo, hi = bounds[int(cls[k])], bounds[int(cls[k]) + 1]
                    log_own[k] = torch.logsumexp(a[k, lo:hi], 0)
                log_py = shift + log_own - log_class[cls]
                ity_terms[s_i, start:stop] = (log_py - log_pt).cpu().numpy()
            bar.update(b)
    bar.close()
    out = []
    for s_i, s in enumerate(sig):
        ixt = _mean(ixt_terms[s_i], math.log(m))
        ity = None if ity_terms is None else _mean(ity_terms[s_i], math.log(m))
        out.append(MixtureInformation(ixt, ity, float(s), m, r, samples))
    return out


#: nats: the kernel's own rounding (float32 exponentials, about 1e-7 per term, with room to spare)
ROUNDING = 1e-6


def _mean(terms: np.ndarray, log_m: float) -> Estimate:
    """Mean and a standard error that is honest at the ceiling.

    Near ``log m`` almost every term equals ``log m`` and the rare smaller ones (points that fall
    near another row's centre) may not occur in a sample at all: the sample standard deviation
    then says 0 although an unseen rare term would move the mean by up to ``log m / N``. The
    error combines the Monte Carlo one with that one-term resolution and the kernel's rounding
    (:data:`ROUNDING`), so that changes of that size never look significant."""
    n = len(terms)
    mc = float(terms.std(ddof=1) / math.sqrt(n))
    return Estimate(float(terms.mean()), math.hypot(mc, log_m / n, ROUNDING))


def mixture_information(outputs, sigma: float, labels=None, *, samples: int = 10_000, memory_mb: float = 32.0,
                        random_state: int | None = 0, device="auto", dtype: str = "float64",
                        progress: bool = False) -> MixtureInformation:
    """``I(X;T)`` and ``I(T;Y)`` for ``T = outputs + sigma Z``, ``X`` uniform over the rows.

    The exact information of a layer observed through isotropic Gaussian noise (module
    docstring), by Monte Carlo over the mixture; no compression, no density estimate.

    Parameters
    ----------
    outputs : array or tensor, shape (m, d) or (m, r, d)
        The layer's outputs ``f(x_i)`` for the ``m`` evaluation rows. With ``r`` noisy passes per
        row (a network noisy upstream of the layer) each row's conditional is the mixture of its
        draws.
    sigma : float
        Standard deviation of the observation noise (> 0), in the units of ``outputs``.
    labels : array (m,), optional
        Class of each row: ``I(T;Y)`` with ``Y = labels[X]``.
    samples : int, default 10000
        Monte Carlo points ``T`` (each row used ``samples / m`` times, rounded; stratified).
        The standard error falls as ``1 / sqrt(samples)``.
    memory_mb : float, default 32
        Working memory of one block of points against all ``m r`` centres (blocks that stay in
        the CPU's caches are faster than large ones: ``benchmarks/mixture_kernel.md``).
    random_state : int or None, default 0
    device : {"auto", "cpu", "cuda"} or torch.device, default "auto"
    dtype : {"float64", "float32"}, default "float64"
        float32 is faster on GPUs; its rounding of ``|t - f|^2`` is about ``1e-7 |f|^2``,
        which must stay far below ``sigma^2`` (else use float64).
    progress : bool, default False
        A tqdm bar over the Monte Carlo points.

    Returns
    -------
    MixtureInformation
        ``ixt`` and ``ity`` as :class:`ibcore.Estimate` (nats, Monte Carlo standard error).

    Examples
    --------
    Two inputs two noise deviations apart carry about half of the ``log 2`` nats that tell
    them apart (the quadrature value is 0.337):

    >>> import numpy as np
    >>> res = mixture_information(np.array([[0.0], [2.0]]), 1.0, samples=20000)
    >>> round(res.ixt.value, 2)
    0.34
    """
    return mixture_profile(outputs, [sigma], labels, samples=samples, memory_mb=memory_mb,
                           random_state=random_state, device=device, dtype=dtype, progress=progress)[0]
