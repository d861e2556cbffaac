"""Nearest-neighbour kernels: the one place where k-NN distances and radius counts are computed.

Two back ends give the same numbers (up to floating-point rounding):

* ``"tree"``: scipy's ``cKDTree`` with all CPU cores (``workers=-1``); fast in low dimension.
* ``"brute"``: chunked exact pairwise distances in torch (float64), on the GPU when asked;
  memory is bounded by the chunk size (never an n × n matrix), and it wins in high dimension.

``"auto"`` takes the tree on the CPU for ``d <= TREE_MAX_DIM`` (32) and brute force otherwise (and always on a GPU).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..device import resolve_device

__all__ = ["knn_distances", "count_within", "joint_max_knn", "choose_backend", "BACKENDS"]

BACKENDS = ("auto", "tree", "brute")
TREE_MAX_DIM = 32  # the leaf-ordered tree beats CPU brute force at n = 50k up to d = 24 at least
# (benchmarks/results.md: the d = 16 rows and "Notes from development")
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


def row_blocks(n_rows: int, n_cols: int, elements: int | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges so that one block of the pair matrix holds about ``elements``
    values (default: this module's ``_BLOCK_ELEMENTS``, read at call time)."""
    step = max(1, min(n_rows, (elements or _BLOCK_ELEMENTS) // max(n_cols, 1)))
    return [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def sq_dists(a, b, b_sq):
    """Squared Euclidean distances (m, n) between rows of torch tensors a (m, d) and b (n, d),
    given ``b_sq = (b * b).sum(1)``: one fused matrix product, clamped at 0 against rounding."""
    import torch

    return torch.addmm((a * a).sum(1, keepdim=True) + b_sq[None, :], a, b.T, alpha=-2.0).clamp_min_(0.0)


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
        if loo:
            # Query the points in the tree's leaf order: consecutive queries then walk the same
            # nodes, which is markedly more cache-friendly than the data's own order.
            order = tree.indices
            dist = np.empty((n, k))
            dist[order] = tree.query(ref[order], k=k + 1, workers=-1)[0].reshape(n, -1)[:, 1:]
            return dist
        dist, _ = tree.query(q, k=k, workers=-1)
        return np.ascontiguousarray(dist.reshape(len(q), -1))
    import torch

    with torch.no_grad():
        r = torch.as_tensor(ref, dtype=torch.float64, device=dev)
        r_sq = (r * r).sum(1)
        qt = r if loo else torch.as_tensor(q, dtype=torch.float64, device=dev)
        out = torch.empty((len(q), k), dtype=torch.float64, device=dev)
        for i0, i1 in row_blocks(len(q), n):
            d2 = sq_dists(qt[i0:i1], r, r_sq)
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
        order = tree.indices  # leaf order, as in knn_distances
        counts = np.empty(n, dtype=np.int64)
        counts[order] = tree.query_ball_point(points[order], strict[order], return_length=True, workers=-1)
        return counts - 1  # the point itself is at distance 0
    import torch

    with torch.no_grad():
        p = torch.as_tensor(points, dtype=torch.float64, device=dev)
        p_sq = (p * p).sum(1)
        r2 = torch.as_tensor(strict, dtype=torch.float64, device=dev) ** 2
        out = torch.empty(n, dtype=torch.int64, device=dev)
        for i0, i1 in row_blocks(n, n):
            d2 = sq_dists(p[i0:i1], p, p_sq)
            out[i0:i1] = (d2 <= r2[i0:i1, None]).sum(1) - 1
        return out.cpu().numpy()


KSG_TREE_MAX_DIM = 8  # candidate sets grow like 2^(d/2): beyond this, brute force


def joint_max_knn(x: np.ndarray, y: np.ndarray, k: int, *, backend: str = "auto",
                  device="auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KSG neighbour statistics in the joint space with metric ``max(‖dx‖₂, ‖dy‖₂)``.

    Returns ``(eps, n_x, n_y)``: the distance to the k-th joint neighbour (leave-one-out) and,
    for each point, the number of other points strictly within ``eps`` in x alone and in y alone.
    Euclidean norms inside each marginal keep the estimate invariant to rotations of x or y
    (hence, after whitening, to any invertible affine map), which the usual max-norm is not.

    Back ends: ``"tree"`` is exact and uses ``max(‖dx‖, ‖dy‖) <= ‖dz‖₂ <= √2 · max(‖dx‖, ‖dy‖)``:
    the k-th joint neighbour lies within ``√2 r_k`` of the point, ``r_k`` being its Euclidean
    k-th-neighbour distance, so a k-d tree's ball query gives a complete candidate set. ``"brute"``
    streams over blocks of all pairs (torch, GPU when asked). ``"auto"`` takes the tree on the
    CPU up to ``d_x + d_y = 8``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    d = x.shape[1] + y.shape[1]
    use_tree = backend == "tree" or (
        backend == "auto" and d <= KSG_TREE_MAX_DIM and resolve_device(device).type == "cpu")
    eps = _joint_max_eps_tree(x, y, k) if use_tree else _joint_max_eps_brute(x, y, k, device)
    # Strict counts; the k-th neighbour itself sits exactly at eps in one marginal, and a relative
    # margin of 1e-10 keeps it out whatever the rounding of the tree's squared distances.
    inner = eps * (1.0 - 1e-10)
    return eps, count_within(x, inner, backend=backend, device=device), \
        count_within(y, inner, backend=backend, device=device)


def _joint_max_eps_tree(x, y, k):
    z = np.hstack([x, y])
    tree = cKDTree(z)
    r_k = tree.query(z, k=k + 1, workers=-1)[0][:, -1]
    eps = np.empty(len(z))
    step = 4096  # bounds the candidate arrays' memory
    for i0 in range(0, len(z), step):
        i1 = min(i0 + step, len(z))
        lists = tree.query_ball_point(z[i0:i1], np.sqrt(2.0) * r_k[i0:i1] * (1 + 1e-9), workers=-1)
        lengths = np.fromiter((len(c) for c in lists), dtype=np.int64, count=i1 - i0)
        cand = np.concatenate(lists).astype(np.int64)
        row = np.repeat(np.arange(i0, i1), lengths)
        dist = np.maximum(np.linalg.norm(x[cand] - x[row], axis=1), np.linalg.norm(y[cand] - y[row], axis=1))
        dist[cand == row] = np.inf
        order = np.lexsort((dist, row))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        eps[i0:i1] = dist[order][starts + k - 1]
    return eps


def _joint_max_eps_brute(x, y, k, device):
    import torch

    dev = resolve_device(device)
    n = len(x)
    with torch.no_grad():
        xt = torch.as_tensor(x, dtype=torch.float64, device=dev)
        yt = torch.as_tensor(y, dtype=torch.float64, device=dev)
        x_sq, y_sq = (xt * xt).sum(1), (yt * yt).sum(1)
        eps = torch.empty(n, dtype=torch.float64, device=dev)
        for i0, i1 in row_blocks(n, 2 * n):
            idx = torch.arange(i0, i1, device=dev)
            dz2 = torch.maximum(sq_dists(xt[i0:i1], xt, x_sq), sq_dists(yt[i0:i1], yt, y_sq))
            dz2[idx - i0, idx] = float("inf")
            eps[i0:i1] = torch.topk(dz2, k, dim=1, largest=False, sorted=True).values[:, -1]
        return eps.sqrt_().cpu().numpy()
