"""Shared torch utilities (:mod:`ibcore.nn`): running jobs in threads."""
import pytest
import torch

from ibcore.nn import in_threads, seeded


def _seeded_weights(seed):
    with seeded(seed):
        return torch.nn.Linear(64, 32).weight.detach().clone()


def test_in_threads_returns_results_in_order():
    assert in_threads([lambda k=k: k * k for k in range(5)]) == [0, 1, 4, 9, 16]
    assert in_threads([]) == []
    assert in_threads([lambda: "one"]) == ["one"]


def test_in_threads_runs_each_job_on_one_torch_thread():
    assert in_threads([torch.get_num_threads, torch.get_num_threads]) == [1, 1]


def test_networks_built_in_threads_match_the_sequential_ones():
    # seeded blocks take turns, so each network gets its own seed's weights however the threads interleave
    for _ in range(3):
        got = in_threads([lambda s=s: _seeded_weights(s) for s in (0, 1000, 2000, 3000)])
        for s, w in zip((0, 1000, 2000, 3000), got):
            assert torch.equal(w, _seeded_weights(s))
    assert not torch.equal(got[0], got[1])


def test_in_threads_raises_a_jobs_exception():
    def bad():
        raise ValueError("job failed")

    with pytest.raises(ValueError, match="job failed"):
        in_threads([lambda: 1, bad])
