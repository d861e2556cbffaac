"""Information-plane tracker: closed forms, label copies, exact resume, bad inputs."""
import argparse
import csv
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from ibcore.plane import InformationPlaneTracker, PlaneRun, read_results, run_mnist_plane
from ibcore.plane.experiment import add_plane_arguments, run_plane_command
from ibcore.plane.run import TIME_COLUMNS
from ibcore.plane import MNISTClassifier
from ibcore.plane import make_stochastic


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny nets: one torch thread avoids OpenMP spinning on a shared 2-core CPU (15-30x slower)."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):  # BLAS too (PCA's SVD): 2 OpenBLAS threads crawl under load
        yield
    torch.set_num_threads(before)


def _gaussian_inputs(n=3000, d=3, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    cov = a @ a.T + 0.5 * np.eye(d)
    x = rng.standard_normal((n, d)) @ np.linalg.cholesky(cov).T
    return torch.tensor(x, dtype=torch.float32), cov


def _linear_net(d_in=3, d_out=2, seed=1):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d_in, d_out))
    return net, net[0].weight.detach().double().numpy()


def _closed_form(w, cov, sigma):
    """I(X; WX + Z) = ½ log det(I + W Σ Wᵀ / σ²) for Gaussian X and Z ~ N(0, σ² I)."""
    m = np.eye(w.shape[0]) + w @ cov @ w.T / sigma ** 2
    return 0.5 * np.linalg.slogdet(m)[1]


# ------------------------------------------------------------------------------------------------
# closed forms

@pytest.mark.parametrize("observation_noise", [True, False])
def test_noise_mode_matches_linear_gaussian_closed_form(observation_noise):
    x, cov = _gaussian_inputs()
    net, w = _linear_net()
    sigma = 0.5
    if not observation_noise:
        make_stochastic(net, sigma, "absolute", where="outputs", layers=["0"])
    y = (x[:, 0] > 0).long()
    tracker = InformationPlaneTracker(net, ["0"], x, y, mi_mode="noise", noise_sigma=sigma,
                                      observation_noise=observation_noise, random_state=3)
    (pt,) = tracker.measure(1)
    truth = _closed_form(w, cov, sigma)
    assert pt.ixl_kind == "exact" and pt.n_components == 2  # full-rank orthonormal PCA: no loss
    # WKL (k = 5) in 2-D at n = 3000: reported std ≈ 0.02 nats; 4 standard errors plus 0.03 nats
    # for the estimator's finite-sample bias in 2-D (below 0.02 in the estimator tests).
    assert abs(pt.ixl.value - truth) < 4 * pt.ixl.std + 0.03, (pt.ixl, truth)
    assert pt.ixl.std < 0.05


def test_noise_mode_upstream_noise_is_flagged_and_an_upper_bound():
    x, cov = _gaussian_inputs(seed=5)
    net, w = _linear_net()
    sigma_in, sigma = 0.7, 0.5
    make_stochastic(net, sigma_in, "absolute", where="inputs", layers=["0"])
    make_stochastic(net, sigma, "absolute", where="outputs", layers=["0"])
    y = (x[:, 1] > 0).long()
    tracker = InformationPlaneTracker(net, ["0"], x, y, mi_mode="noise", noise_sigma=sigma,
                                      observation_noise=False, random_state=0)
    (pt,) = tracker.measure(1)
    assert pt.ixl_kind == "upper bound"
    # L = W(X + Z_in) + Z: the true I(X;L) = ½ log det(Σ_L) - ½ log det(σ_in² W Wᵀ + σ² I)
    s_noise = sigma_in ** 2 * w @ w.T + sigma ** 2 * np.eye(2)
    truth = 0.5 * (np.linalg.slogdet(w @ cov @ w.T + s_noise)[1] - np.linalg.slogdet(s_noise)[1])
    bound = _closed_form(w, cov + sigma_in ** 2 * np.eye(3), sigma)  # h(L) - h(Z) in closed form
    assert bound > truth + 0.1
    assert abs(pt.ixl.value - bound) < 4 * pt.ixl.std + 0.03  # same tolerance as above


def test_label_copy_gives_log_classes():
    n_classes, per_class = 4, 500
    y = torch.arange(n_classes).repeat_interleave(per_class)
    onehot = nn.functional.one_hot(y, n_classes).float()
    net = nn.Sequential(nn.Identity())
    make_stochastic(net, 0.05, "absolute", where="outputs", layers=["0"])
    # X is discrete here (C_X would have duplicate rows), so I(X;L) uses the noise mode
    tracker = InformationPlaneTracker(net, ["0"], onehot, y, mi_mode="noise", observation_noise=False, random_state=0)
    (pt,) = tracker.measure(1)
    # well-separated clusters: I(L;Y) = H(Y) = log 4. Reported std ≈ 0.01; 4 standard errors plus
    # 0.05 nats for the kNN bias of the per-class entropies at 500 samples per class.
    assert abs(pt.ily.value - math.log(n_classes)) < 4 * pt.ily.std + 0.05, pt.ily
    # L is a function of Y here, so I(X;L~) = I(Y;L~) = log 4 as well (exact mode, same tolerance)
    assert pt.ixl_kind == "exact"
    assert abs(pt.ixl.value - math.log(n_classes)) < 4 * pt.ixl.std + 0.05, pt.ixl


def test_joint_mode_pairs_inputs_and_layers():
    """In joint mode I(X;L) of a near-copy of X is large; shuffling C_X would destroy it."""
    x, _ = _gaussian_inputs(n=2000, d=2, seed=7)
    net = nn.Sequential(nn.Identity())
    make_stochastic(net, 0.1, "absolute", where="outputs", layers=["0"])
    y = (x[:, 0] > 0).long()
    tracker = InformationPlaneTracker(net, ["0"], x, y, x_codes=x.numpy(), random_state=0)
    (pt,) = tracker.measure(2)
    assert pt.ixl_kind == "estimate"
    assert pt.ixl.value > 3.0  # X + N(0, 0.01 I) with unit-scale X carries several nats
    shuffled = InformationPlaneTracker(net, ["0"], x, y, x_codes=x.numpy()[::-1].copy(), random_state=0)
    assert abs(shuffled.measure(2)[0].ixl.value) < 4 * shuffled.measure(2)[0].ixl.std + 0.1


def test_measure_is_reproducible_per_epoch():
    torch.manual_seed(0)
    net = MNISTClassifier()
    x = torch.randn(120, 1, 28, 28)
    y = torch.arange(120) % 3
    tracker = InformationPlaneTracker(net, ["layer3", "probs"], x, y, random_state=4)
    a, b, c = tracker.measure(5), tracker.measure(5), tracker.measure(6)
    assert [p.ixl for p in a] == [p.ixl for p in b] and [p.ily for p in a] == [p.ily for p in b]
    assert [p.ixl for p in a] != [p.ixl for p in c]  # another epoch: other evaluation noise


# ------------------------------------------------------------------------------------------------
# runs on disk and resume

def _tables(out):
    rows = {}
    for name in ("information_plane.csv", "metrics.csv"):
        with open(out / name, newline="") as fh:
            reader = csv.DictReader(fh)
            rows[name] = [{k: v for k, v in r.items() if k not in TIME_COLUMNS} for r in reader]
    return rows


def _run(out, small_mnist, epochs, **kw):
    opts = dict(out=out, epochs=epochs, lr=1e-3, batch_size=128, x_ae_epochs=2, seed=0, progress=False,
                figures=False, data=small_mnist, n_train=300, layers=["layer2", "layer4", "probs"])
    opts.update(kw)
    return run_mnist_plane(**opts)


def test_resume_after_interruption_is_identical(tmp_path, small_mnist):
    straight = _run(tmp_path / "a", small_mnist, 3)
    _run(tmp_path / "b", small_mnist, 2)
    # a kill after the tables of epoch 3 were written but before its checkpoint: a stray row
    with open(tmp_path / "b" / "metrics.csv", "a") as fh:
        fh.write("3,9.0,9.0,0.1,0.5,1.0,1.0,1.0\n")
    resumed = _run(tmp_path / "b", small_mnist, 3)
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")
    assert len(straight.rows) == len(resumed.rows) == 9
    assert [r["epoch"] for r in resumed.metrics] == [1, 2, 3]
    again = read_results(tmp_path / "b")
    assert again.layer("probs")["ily"].tolist() == straight.layer("probs")["ily"].tolist()


def test_run_plane_command_from_parsed_args(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_plane_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "cli"), "--epochs", "1", "--lr", "1e-3",
                              "--x-ae-epochs", "1", "--source", "embedded", "--n-test", "200", "--n-train", "300",
                              "--layers", "layer3", "probs", "--no-progress"])
    assert args.sigma == 1e-3 and args.noise == "relative" and args.batch_size == 1024  # paper defaults
    assert run_plane_command(args) == 0
    out = capsys.readouterr().out
    assert "per epoch: training" in out
    res = read_results(tmp_path / "cli")
    assert res.layers == ["layer3", "probs"]
    assert (tmp_path / "cli" / "information_planes.png").exists()
    row = res.layer("probs")
    assert 0 <= row["ixl_low"][0] or row["ixl_low"][0] < row["ixl"][0] < row["ixl_high"][0]
    assert json.loads((tmp_path / "cli" / "settings.json").read_text())["context"]["n_eval"] == 200


# ------------------------------------------------------------------------------------------------
# bad inputs

def test_unknown_layer_lists_names():
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh())
    with pytest.raises(ValueError, match="unknown layer.*available names.*'0'"):
        InformationPlaneTracker(net, ["conv9"], torch.randn(50, 3), torch.zeros(50, dtype=torch.long))


def test_evaluation_set_without_labels():
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="no labels"):
        InformationPlaneTracker(net, ["0"], torch.randn(50, 3))


def test_sigma_not_positive_with_absolute_noise(tmp_path, small_mnist):
    net = nn.Sequential(nn.Linear(3, 2))
    x, y = torch.randn(50, 3), torch.zeros(50, dtype=torch.long)
    with pytest.raises(ValueError, match="noise_sigma must be > 0"):
        InformationPlaneTracker(net, ["0"], x, y, mi_mode="noise", noise_sigma=0.0)
    with pytest.raises(ValueError, match="sigma must be > 0 with absolute noise"):
        _run(tmp_path / "s", small_mnist, 1, noise="absolute", sigma=0.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        make_stochastic(nn.Sequential(nn.Linear(3, 2)), 0.0, "absolute")


def test_noise_mode_refuses_relative_noise(tmp_path, small_mnist):
    torch.manual_seed(0)
    net = MNISTClassifier(noise="relative")
    x, y = torch.randn(40, 1, 28, 28), torch.arange(40) % 2
    with pytest.raises(ValueError, match="needs absolute noise"):
        InformationPlaneTracker(net, ["layer1"], x, y, mi_mode="noise", noise_sigma=1e-3)
    with pytest.raises(ValueError, match="needs --noise absolute"):
        _run(tmp_path / "r", small_mnist, 1, mi_mode="noise", noise="relative")


def test_noise_mode_flags_every_mnist_layer_as_upper_bound():
    torch.manual_seed(0)
    net = MNISTClassifier(noise="absolute", sigma=0.1)
    x, y = torch.randn(60, 1, 28, 28), torch.arange(60) % 2
    tracker = InformationPlaneTracker(net, ["layer1", "probs"], x, y, mi_mode="noise")
    assert tracker.noise_sigma == 0.1  # taken from the model's noise modules
    assert set(tracker.kinds.values()) == {"upper bound"}  # the input image itself is noisy


def test_foreign_mismatched_or_corrupt_directory(tmp_path, small_mnist):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    with pytest.raises(ValueError, match="not an ibcore information-plane run"):
        _run(foreign, small_mnist, 1)

    _run(tmp_path / "ok", small_mnist, 1)
    with pytest.raises(ValueError, match="other settings.*lr"):
        _run(tmp_path / "ok", small_mnist, 2, lr=1e-2)

    bad_json = tmp_path / "badjson"
    bad_json.mkdir()
    (bad_json / "settings.json").write_text('{"format": "ibcore-inform')
    with pytest.raises(ValueError, match="truncated or not JSON"):
        _run(bad_json, small_mnist, 1)

    ckpt = tmp_path / "ok" / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt, truncated"):
        _run(tmp_path / "ok", small_mnist, 2)
    ckpt.write_bytes(data)
    table = tmp_path / "ok" / "information_plane.csv"
    table.write_text(table.read_text()[:40])
    with pytest.raises(ValueError, match="truncated|do not cover"):
        _run(tmp_path / "ok", small_mnist, 2)


def test_plane_run_needs_matching_generators(tmp_path):
    net = nn.Sequential(nn.Linear(3, 2), nn.LogSoftmax(dim=1))
    make_stochastic(net, 0.1, "absolute", where="outputs", layers=["0"])
    x, y = torch.randn(60, 3), torch.arange(60) % 2
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        loss = nn.functional.nll_loss(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    tracker = InformationPlaneTracker(net, ["0"], x, y)
    PlaneRun(tmp_path / "g", {"a": 1}, model=net, optimizer=opt, tracker=tracker, train_epoch=step,
             progress=False).run(1)
    with pytest.raises(ValueError, match="corrupt, truncated or from another model"):
        PlaneRun(tmp_path / "g", {"a": 1}, model=net, optimizer=opt, tracker=tracker, train_epoch=step,
                 generators={"shuffle": torch.Generator()}, progress=False)
