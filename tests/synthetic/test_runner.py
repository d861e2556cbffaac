"""The Algorithm 1 runner: table layout, resume after a kill, seeding, caching, bad inputs."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import ibcore.synthetic.runner as a1
import ibcore.synthetic.table as table
from ibcore.synthetic import COLUMNS, mean_absolute_error, parse_grid, read_results, run_algorithm1

SMALL = dict(datasets=["gaussians"], sizes=[16], estimators=["kl"], compressors=["pca"], grid="0:3:3",
             n=300, train_size=200, val_size=0, progress=False)


def _values(rows):
    """Cell key -> (estimate, std, reconstruction error): everything but the timing."""
    return {table.cell_key(r): (r["estimate"], r["std"], r["reconstruction_error"]) for r in rows}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    return out, run_algorithm1(out, **SMALL)


def test_table_columns_and_content(reference):
    out, rows = reference
    with (out / "results.csv").open() as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == COLUMNS
    # 3 MI values x (latent, compressed with PCA)
    assert len(rows) == 6
    assert {(r["input"], r["compressor"]) for r in rows} == {("latent", "none"), ("compressed", "pca")}
    assert sorted({r["true_mi"] for r in rows}) == [0.0, 1.5, 3.0]
    for r in rows:
        assert r["ci_low"] < r["estimate"] < r["ci_high"] and r["std"] > 0
        assert r["n"] == 300 and r["seed"] == 0 and r["seconds"] >= 0
        # per-pixel MSE of PCA-2 on bumps with values in (0, 1]: positive, far below 1
        if r["input"] == "compressed":
            assert 0 < r["reconstruction_error"] < 1
        else:
            assert math.isnan(r["reconstruction_error"])
    # the latent (2+2 Gaussian bump centres) estimate follows the truth: 1-NN KL at n = 300 has
    # a std ~0.1; 0.5 nats is 5 std (the uniform-latent bias is < 0.2 nats below 3 nats)
    for r in rows:
        if r["input"] == "latent":
            assert abs(r["estimate"] - r["true_mi"]) < 0.5


def test_resume_after_kill_and_partial_line(tmp_path, reference, monkeypatch):
    _, ref_rows = reference
    calls = {"n": 0}
    real = a1._run_cell

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # the process is killed while the 4th cell is in flight
        return real(*args, **kwargs)

    monkeypatch.setattr(a1, "_run_cell", dying)
    with pytest.raises(KeyboardInterrupt):
        run_algorithm1(tmp_path, **SMALL)
    assert len(read_results(tmp_path / "results.csv")) == 3      # only the cell in flight is lost
    # a line cut in the middle of a write (a kill during the flush)
    with (tmp_path / "results.csv").open("a") as fh:
        fh.write("gaussians,16,kl,compressed,pca,1.5,0.12")
    monkeypatch.setattr(a1, "_run_cell", real)
    rows = run_algorithm1(tmp_path, **SMALL)
    assert len(rows) == 6 and len({table.cell_key(r) for r in rows}) == 6   # no duplicates, nothing missing
    assert _values(rows) == _values(ref_rows)                         # identical to an unbroken run

    # a finished table: rerunning computes nothing
    monkeypatch.setattr(a1, "_run_cell", lambda *a, **k: pytest.fail("a finished cell was recomputed"))
    assert _values(run_algorithm1(tmp_path, **SMALL)) == _values(ref_rows)


def test_sample_depends_only_on_seed_and_mi(tmp_path, reference):
    _, ref_rows = reference
    rows = run_algorithm1(tmp_path, **{**SMALL, "grid": [1.5]})
    assert len(rows) == 2
    ref = _values(ref_rows)
    for key, value in _values(rows).items():
        assert ref[key] == value
    other = run_algorithm1(tmp_path / "s1", **{**SMALL, "grid": [1.5], "seed": 1})
    assert {r["estimate"] for r in other}.isdisjoint({r["estimate"] for r in rows})


def test_autoencoder_cached_not_retrained(tmp_path, monkeypatch):
    opts = dict(SMALL, grid=[0.5], compressors=["ae"], train_size=64, val_size=16,
                ae_options={"epochs": 1, "batch_size": 32, "patience": None})
    rows = run_algorithm1(tmp_path, **opts)
    assert len(list((tmp_path / "compressors").glob("gaussians-16-ae-*.pt"))) == 1
    (tmp_path / "results.csv").unlink()

    def no_fit(self, *a, **k):
        raise AssertionError("the cached autoencoder was retrained")

    from ibcore.compression import ConvAutoencoder

    monkeypatch.setattr(ConvAutoencoder, "fit", no_fit)
    again = run_algorithm1(tmp_path, **opts)
    assert _values(again) == _values(rows)


def test_mean_absolute_error():
    rows = [dict(true_mi=0.0, estimate=0.5, input="latent"), dict(true_mi=2.0, estimate=1.0, input="latent"),
            dict(true_mi=2.0, estimate=2.0, input="raw")]
    assert mean_absolute_error(rows, input="latent") == pytest.approx(0.75)
    assert mean_absolute_error(rows, input="latent", max_mi=1.0) == pytest.approx(0.5)
    assert math.isnan(mean_absolute_error(rows, input="compressed"))


def test_parse_grid():
    np.testing.assert_allclose(parse_grid("0:10:41"), np.linspace(0, 10, 41))
    np.testing.assert_allclose(parse_grid("0, 2.5,5"), [0, 2.5, 5])
    np.testing.assert_allclose(parse_grid([1, 2]), [1, 2])
    for bad in ("0:10", "a:b:c", "", "0:1:0"):
        with pytest.raises(ValueError, match="grid"):
            parse_grid(bad)
    with pytest.raises(ValueError, match=">= 0"):
        parse_grid("-1,2")


@pytest.mark.parametrize("change,exc,match", [
    ({"grid": "-1:2:3"}, ValueError, ">= 0"),
    ({"n": 0}, ValueError, "n"),
    ({"sizes": [20]}, ValueError, "unsupported image size 20"),
    ({"estimators": ["kl", "foo"]}, ValueError, "unknown estimator 'foo'"),
    ({"datasets": ["circles"]}, ValueError, "unknown dataset 'circles'"),
    ({"compressors": ["vae"]}, ValueError, "unknown compressor 'vae'"),
    ({"seed": -1}, TypeError, "seed"),
    ({"noise_std": -0.1}, ValueError, "noise_std"),
    ({"estimator_options": {"bogus": {}}}, ValueError, "unknown estimator"),
])
def test_bad_inputs(tmp_path, change, exc, match):
    with pytest.raises(exc, match=match):
        run_algorithm1(tmp_path, **{**SMALL, **change})
    assert not (tmp_path / "results.csv").exists()


def test_foreign_csv_refused(tmp_path):
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="columns"):
        run_algorithm1(tmp_path, **SMALL)


def test_plot_layout(reference):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ibcore.synthetic import PALETTE, plot_estimates

    out, rows = reference
    noisy = [dict(r, bound_upper=0.3) for r in rows]
    fig = plot_estimates(noisy)
    axes = fig.get_axes()
    assert len(axes) == 1
    ax = axes[0]
    assert ax.get_xlabel() == "I(X;Y), nats" and "Î(X;Y), nats" in ax.get_ylabel()
    colors = {matplotlib.colors.to_hex(line.get_color()) for line in ax.get_lines()}
    assert {PALETTE["truth"], PALETTE["latent"], PALETTE["pca"]} <= colors
    labels = fig.legends[0].get_texts()
    assert "compression bound" in [t.get_text() for t in labels]
    plt.close(fig)
    fig = plot_estimates(out / "results.csv", sizes=[16, 32], estimators=["kl", "wkl"])
    assert len(fig.get_axes()) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="no rows for dataset"):
        plot_estimates(rows, dataset="rectangles")


def test_other_options_refused_in_the_same_directory(reference, tmp_path):
    run_algorithm1(tmp_path, **{**SMALL, "grid": [0.0]})
    with pytest.raises(ValueError, match="other options"):
        run_algorithm1(tmp_path, **{**SMALL, "grid": [0.0], "train_size": 150})
