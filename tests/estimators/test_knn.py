"""ibcore.estimators.knn: k-NN distances, strict radius counts and the KSG joint statistics."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from ibcore.estimators import knn


def _pairwise(x):
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    return d


@pytest.mark.parametrize("d", [1, 3, 7])
def test_tree_and_brute_agree_and_match_numpy(d):
    rng = np.random.default_rng(d)
    ref, q = rng.standard_normal((400, d)), rng.standard_normal((50, d))
    k = 4
    tree = knn.knn_distances(ref, k, backend="tree")
    brute = knn.knn_distances(ref, k, backend="brute", device="cpu")
    direct = np.sort(_pairwise(ref), axis=1)[:, :k]
    assert tree.shape == brute.shape == (400, k)
    np.testing.assert_allclose(tree, direct, rtol=1e-12)
    np.testing.assert_allclose(brute, direct, rtol=1e-6, atol=1e-7)  # expanded ‖a‖²+‖b‖²-2ab
    qt = knn.knn_distances(ref, k, q, backend="tree")
    qb = knn.knn_distances(ref, k, q, backend="brute", device="cpu")
    np.testing.assert_allclose(qt, np.sort(cdist(q, ref), axis=1)[:, :k], rtol=1e-12)
    np.testing.assert_allclose(qb, qt, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("backend", ["tree", "brute"])
def test_leave_one_out_excludes_self(backend):
    x = np.random.default_rng(0).standard_normal((300, 2))
    loo = knn.knn_distances(x, 3, backend=backend, device="cpu")
    assert (loo > 0).all()
    # querying the sample as *external* points finds each point itself at distance 0 first
    ext = knn.knn_distances(x, 4, x.copy(), backend=backend, device="cpu")
    np.testing.assert_allclose(ext[:, 0], 0.0, atol=1e-7)
    np.testing.assert_allclose(ext[:, 1:], loo, rtol=1e-6, atol=1e-7)


def test_brute_force_blocks_give_the_same_answer(monkeypatch):
    x = np.random.default_rng(3).standard_normal((301, 5))
    whole = knn.knn_distances(x, 3, backend="brute", device="cpu")
    monkeypatch.setattr(knn, "_BLOCK_ELEMENTS", 7 * 301)  # 7 rows per block, a ragged last block
    assert len(list(knn.row_blocks(301, 301))) == 43
    # BLAS rounding depends on the block shape: equal to ~1e-15, not bit for bit
    np.testing.assert_allclose(knn.knn_distances(x, 3, backend="brute", device="cpu"), whole, rtol=1e-12)
    eps, nx, ny = knn.joint_max_knn(x[:, :2], x[:, 2:], 3, device="cpu")
    monkeypatch.undo()
    eps2, nx2, ny2 = knn.joint_max_knn(x[:, :2], x[:, 2:], 3, device="cpu")
    np.testing.assert_allclose(eps, eps2, rtol=1e-12)
    np.testing.assert_array_equal(nx, nx2)
    np.testing.assert_array_equal(ny, ny2)


@pytest.mark.parametrize("backend", ["tree", "brute"])
def test_count_within_is_strict(backend):
    # integer points: every distance is exact, so ties at the radius are real ties
    line = np.array([[0.0], [1.0], [2.0], [3.0], [5.0]])
    counts = knn.count_within(line, np.ones(5), backend=backend, device="cpu")
    assert counts.tolist() == [0, 0, 0, 0, 0]  # neighbours at exactly 1 are not counted
    counts = knn.count_within(line, np.full(5, 1.0 + 1e-9), backend=backend, device="cpu")
    assert counts.tolist() == [1, 2, 2, 1, 0]

    rng = np.random.default_rng(5)
    pts = np.unique(rng.integers(0, 15, size=(400, 2)), axis=0).astype(float)
    r2 = rng.integers(1, 30, size=len(pts)).astype(float)  # many radii equal actual distances
    got = knn.count_within(pts, np.sqrt(r2), backend=backend, device="cpu")
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)  # exact integers
    np.fill_diagonal(d2, np.inf)
    assert np.array_equal(got, (d2 < r2[:, None]).sum(1))


def test_count_within_at_the_knn_radius():
    x = np.random.default_rng(2).standard_normal((500, 3))
    r = knn.knn_distances(x, 5, backend="tree")[:, -1]
    # strictly inside the 5th-neighbour radius lie exactly the 4 nearer neighbours
    assert (knn.count_within(x, r, backend="tree") == 4).all()


def test_joint_max_knn_matches_numpy():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((200, 2)), rng.standard_normal((200, 3))
    x[:, 0] += y[:, 0]
    k = 3
    eps, nx, ny = knn.joint_max_knn(x, y, k, device="cpu")
    dx, dy = _pairwise(x), _pairwise(y)
    e = np.sort(np.maximum(dx, dy), axis=1)[:, k - 1]
    np.testing.assert_allclose(eps, e, rtol=1e-9)
    assert np.array_equal(nx, (dx < e[:, None]).sum(1))
    assert np.array_equal(ny, (dy < e[:, None]).sum(1))
    # the max-norm ball of radius eps holds k-1 points strictly, so each marginal holds >= k-1
    assert (nx >= k - 1).all() and (ny >= k - 1).all()


def test_choose_backend():
    assert knn.choose_backend("auto", 3, "cpu") == ("tree", None)
    kind, dev = knn.choose_backend("auto", knn.TREE_MAX_DIM + 1, "cpu")
    assert kind == "brute" and dev.type == "cpu"
    assert knn.choose_backend("tree", 50, "cpu") == ("tree", None)
    with pytest.raises(ValueError, match="backend must be one of"):
        knn.choose_backend("kd", 2, "cpu")
    with pytest.raises(ValueError, match="device must be one of"):
        knn.choose_backend("brute", 2, "tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_an_error():
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        knn.knn_distances(np.zeros((5, 1)) + np.arange(5)[:, None], 1, backend="brute", device="cuda")
