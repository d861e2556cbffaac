"""The ``ibcore`` command line: argument parsing, errors, and a tiny end-to-end run."""
from __future__ import annotations

import pytest

from ibcore.synthetic import COLUMNS, read_results
from ibcore.cli import SUBCOMMANDS, build_parser, main


def test_parser_reads_the_documented_command():
    args = build_parser().parse_args([
        "synthetic", "--dataset", "gaussians", "--size", "16,32", "--estimators", "kde-ml,kde-lse,kl,wkl,mine",
        "--compressor", "ae", "--grid", "0:10:41", "--n", "5000", "--out", "DIR", "--mine-epochs", "50",
        "--ae-epochs", "7", "--seed", "3", "--device", "cpu", "--train-size", "600"])
    assert args.command == "synthetic" and "synthetic" in SUBCOMMANDS
    assert args.dataset == ["gaussians"] and args.size == [16, 32]
    assert args.estimators == ["kde-ml", "kde-lse", "kl", "wkl", "mine"]
    assert (args.compressor, args.grid, args.n, args.out) == (["ae"], "0:10:41", 5000, "DIR")
    assert (args.mine_epochs, args.ae_epochs, args.seed, args.device, args.train_size) == (50, 7, 3, "cpu", 600)


@pytest.mark.parametrize("argv,message", [
    (["synthetic", "--out", "d", "--estimators", "kl,foo"], "unknown estimator 'foo'"),
    (["synthetic", "--out", "d", "--dataset", "circles"], "unknown dataset 'circles'"),
    (["synthetic", "--out", "d", "--compressor", "vae"], "unknown compressor 'vae'"),
    (["synthetic", "--out", "d", "--n", "0"], "must be >= 1"),
    (["synthetic", "--dataset", "gaussians"], "--out"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_exit_with_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--size", "20"], "unsupported image size 20"),
    (["--grid=-1,2"], ">= 0"),
    (["--grid", "0:1"], "cannot read the MI grid"),
])
def test_bad_values_reported_in_one_line(tmp_path, extra, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["synthetic", "--out", str(tmp_path), "--quiet", *extra])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_tiny_end_to_end_run_and_resume(tmp_path, capsys):
    argv = ["synthetic", "--dataset", "gaussians", "--size", "16", "--estimators", "kl", "--compressor", "pca",
            "--grid", "0:2:2", "--n", "150", "--train-size", "100", "--val-size", "0", "--out", str(tmp_path),
            "--quiet"]
    assert main(argv) == 0
    rows = read_results(tmp_path / "results.csv")
    assert len(rows) == 4 and set(rows[0]) == set(COLUMNS)
    assert (tmp_path / "gaussians.png").stat().st_size > 0
    assert "4 rows" in capsys.readouterr().out
    assert main(argv + ["--no-figure"]) == 0            # resumes: nothing left to do
    assert len(read_results(tmp_path / "results.csv")) == 4


def test_the_flow_compressor_from_the_command_line(tmp_path):
    argv = ["synthetic", "--dataset", "gaussians", "--size", "16", "--estimators", "kl", "--compressor", "flow",
            "--grid", "0:2:2", "--n", "150", "--train-size", "100", "--val-size", "20", "--ae-epochs", "1",
            "--out", str(tmp_path), "--quiet", "--no-figure"]
    assert main(argv) == 0
    rows = read_results(tmp_path / "results.csv")
    assert {(r["input"], r["compressor"]) for r in rows} == {("latent", "none"), ("compressed", "flow")}
    assert all(r["reconstruction_error"] >= 0 for r in rows if r["compressor"] == "flow")


def test_plane_subcommand_has_the_paper_defaults():
    from ibcore.cli import build_parser

    args = build_parser().parse_args(["plane", "--out", "runs/x"])
    # the paper's MNIST settings (VanessB/Information-v3): Adam lr 1e-5, 300 epochs, batch 1,024, relative noise 1e-3, PCA-4, weighted KL k = 5
    assert (args.lr, args.epochs, args.batch_size) == (1e-5, 300, 1024)
    assert (args.noise, args.sigma, args.compressor, args.n_components) == ("relative", 1e-3, "pca", 4)
    assert (args.estimator, args.k, args.mi_mode) == ("wkl", 5, "joint")
    assert args.layers == ["layer1", "layer2", "layer3", "layer4", "layer5", "probs"]


def test_plane_subcommand_reports_bad_input_without_traceback(tmp_path, capsys):
    from ibcore.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["plane", "--out", str(tmp_path / "run"), "--layers", "nosuchlayer", "--epochs", "1",
              "--source", "embedded", "--no-progress", "--no-figures", "--x-ae-epochs", "1"])
    assert exc.value.code == 2
    assert "nosuchlayer" in capsys.readouterr().err


def test_python_dash_m_ibcore_runs():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ibcore", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("ibcore ")
