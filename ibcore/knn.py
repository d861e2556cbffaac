"""Nearest-neighbour kernels: the one place where k-NN distances and radius counts are computed.

Two back ends give the same numbers (up to floating-point rounding):

* ``"tree"``: scipy's ``cKDTree`` with all CPU cores (``workers=-1``); fast in low dimension.
* ``"brute"``: chunked exact pairwise distances in torch (float64), on the GPU when asked;
  memory is bounded by the chunk size (never an n × n matrix), and it wins in high dimension.

``"auto"`` takes the tree on the CPU for ``d <= TREE_MAX_DIM`` and brute force otherwise.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .device import resolve_device

__all__ = ["knn_distances", "count_within", "joint_max_knn", "choose_backend", "BACKENDS"]

BACKENDS = ("auto", "tree", "brute")
TREE_MAX_DIM = 12
# Elements of one distance block; 2**25 float64 values = 256 MiB.
_BLOCK_ELEMENTS = 2**25


def choose_backend(backend: str, d: int, device) -> tuple[str, "torch.device | None"]:  # noqa: F821
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "tree":
        return "tree", None
    dev = resolve_device(device)
    if backend == "brute":
        return "brute", dev
    if dev.type == "cpu" and d <= TREE_MAX_DIM:
        return "tree", None
    return "brute", dev


def _row_blocks(n_rows: int, n_cols: int):
    step = max(1, min(n_rows, _BLOCK_ELEMENTS // max(n_cols, 1)))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


def _sq_dists(a, b, b_sq):
    """Squared Euclidean distances between rows of torch tensors a (m, d) and b (n, d)."""
    d2 = (a * a).sum(1, keepdim=True) + b_sq[None, :] - 2.0 * (a @ b.T)
    return d2.clamp_min_(0.0)


def knn_distances(ref: np.ndarray, k: int, queries: np.ndarray | None = None, *,
                  backend: str = "auto", device="auto") -> np.ndarray:
    """Distances to the 1st..k-th nearest neighbours in ``ref``.

    Parameters
    ----------
    ref : ndarray (n, d)
    k : int
    queries : ndarray (m, d), optional
        Points to query. ``None`` queries ``ref`` itself and leaves each point out of its
        own neighbour list (leave-one-out).

    Returns
    -------
    ndarray (m, k) of Euclidean distances, sorted along each row.
    """
    n, d = ref.shape
    kind, dev = choose_backend(backend, d, device)
    loo = queries is None
    q = ref if loo else queries
    if kind == "tree":
        tree = cKDTree(ref)
        dist, _ = tree.query(q, k=k + 1 if loo else k, workers=-1)
        dist = dist.reshape(len(q), -1)
        return np.ascontiguousarray(dist[:, 1:] if loo else dist)
    import torch

    with torch.no_grad():
        r = torch.as_tensor(ref, dtype=torch.float64, device=dev)
        r_sq = (r * r).sum(1)
        qt = r if loo else torch.as_tensor(q, dtype=torch.float64, device=dev)
        out = torch.empty((len(q), k), dtype=torch.float64, device=dev)
        for i0, i1 in _row_blocks(len(q), n):
            d2 = _sq_dists(qt[i0:i1], r, r_sq)
            if loo:
                idx = torch.arange(i0, i1, device=dev)
                d2[idx - i0, idx] = float("inf")
            out[i0:i1] = torch.topk(d2, k, dim=1, largest=False, sorted=True).values
        return out.sqrt_().cpu().numpy()


def count_within(points: np.ndarray, radii: np.ndarray, *, backend: str = "auto",
                 device="auto") -> np.ndarray:
    """For each point i, the number of *other* points strictly closer than ``radii[i]``."""
    n, d = points.shape
    kind, dev = choose_backend(backend, d, device)
    strict = np.nextafter(radii, 0.0)
    if kind == "tree":
        tree = cKDTree(points)
        counts = tree.query_ball_point(points, strict, return_length=True, workers=-1)
        return np.asarray(counts, dtype=np.int64) - 1  # the point itself is at distance 0
    import torch

    with torch.no_grad():
        p = torch.as_tensor(points, dtype=torch.float64, device=dev)
        p_sq = (p * p).sum(1)
        r2 = torch.as_tensor(strict, dtype=torch.float64, device=dev) ** 2
        out = torch.empty(n, dtype=torch.int64, device=dev)
        for i0, i1 in _row_blocks(n, n):
            d2 = _sq_dists(p[i0:i1], p, p_sq)
            out[i0:i1] = (d2 <= r2[i0:i1, None]).sum(1) - 1
        return out.cpu().numpy()


def joint_max_knn(x: np.ndarray, y: np.ndarray, k: int, *, device="auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KSG neighbour statistics in the joint space with metric ``max(|dx|_2, |dy|_2)``.

    Returns ``(eps, n_x, n_y)``: the distance to the k-th joint neighbour (leave-one-out) and,
    for each point, the number of other points strictly within ``eps`` in x alone and in y alone.
    Euclidean norms inside each marginal keep the estimate invariant to rotations of x or y
    (hence, after whitening, to any invertible affine map), which the usual max-norm is not.
    """
    import torch

    dev = resolve_device(device)
    n = len(x)
    with torch.no_grad():
        xt = torch.as_tensor(x, dtype=torch.float64, device=dev)
        yt = torch.as_tensor(y, dtype=torch.float64, device=dev)
        x_sq, y_sq = (xt * xt).sum(1), (yt * yt).sum(1)
        eps = torch.empty(n, dtype=torch.float64, device=dev)
        nx = torch.empty(n, dtype=torch.int64, device=dev)
        ny = torch.empty(n, dtype=torch.int64, device=dev)
        for i0, i1 in _row_blocks(n, 2 * n):
            idx = torch.arange(i0, i1, device=dev)
            dx2 = _sq_dists(xt[i0:i1], xt, x_sq)
            dy2 = _sq_dists(yt[i0:i1], yt, y_sq)
            dz2 = torch.maximum(dx2, dy2)
            dz2[idx - i0, idx] = float("inf")
            e2 = torch.topk(dz2, k, dim=1, largest=False, sorted=True).values[:, -1]
            del dz2
            dx2[idx - i0, idx] = float("inf")
            dy2[idx - i0, idx] = float("inf")
            nx[i0:i1] = (dx2 < e2[:, None]).sum(1)
            ny[i0:i1] = (dy2 < e2[:, None]).sum(1)
            eps[i0:i1] = e2
        return eps.sqrt_().cpu().numpy(), nx.cpu().numpy(), ny.cpu().numpy()
