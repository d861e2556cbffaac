"""The options of ``ibcore synthetic`` and ``ibcore plane`` come from their settings classes."""
from __future__ import annotations

import argparse

import pytest

from ibcore.cli_options import add_plane_options, add_synthetic_options, argument_type, synthetic_fields
from ibcore.plane import PlaneSettings
from ibcore.synthetic import DATASETS, INPUTS, SweepSettings
from ibcore.validation import parse_int, parse_list


def _synthetic(defaults) -> argparse.ArgumentParser:
    return add_synthetic_options(argparse.ArgumentParser(), defaults, datasets=DATASETS,
                                 estimators=("kl", "wkl", "ksg"),
                                 compressors=("ae", "pca", "none"), inputs=INPUTS)


def test_synthetic_defaults_are_the_settings_defaults():
    args = _synthetic(SweepSettings()).parse_args(["--out", "d"])
    assert SweepSettings(**synthetic_fields(args)) == SweepSettings()
    other = SweepSettings(datasets=("rectangles",), sizes=(32,), estimators=("ksg",), n=300, seed=4, latent=False,
                          train_size=50, val_size=0, threads=2)
    args = _synthetic(other).parse_args(["--out", "d"])
    assert SweepSettings(**synthetic_fields(args)) == other
    assert (args.dataset, args.size, args.estimators, args.no_latent) == (["rectangles"], [32], ["ksg"], True)


def test_synthetic_values_become_settings_fields():
    args = _synthetic(SweepSettings()).parse_args(
        ["--out", "d", "--size", "16, 32", "--ae-epochs", "3", "--mine-epochs", "9", "--no-latent", "--grid", "0:1:3"])
    fields = synthetic_fields(args)
    assert fields["sizes"] == [16, 32] and fields["latent"] is False and fields["grid"] == "0:1:3"
    assert fields["ae_options"] == {"epochs": 3} and fields["mine_options"] == {"epochs": 9}


def test_plane_defaults_are_the_settings_defaults():
    def parser(defaults):
        return add_plane_options(argparse.ArgumentParser(), defaults, datasets=("mnist", "fashion-mnist"),
                                 sources=("auto", "embedded"), mi_modes=("joint", "noise"), compressors=("pca",),
                                 estimators=("wkl", "kl"))

    assert PlaneSettings.from_args(parser(PlaneSettings()).parse_args([])) == PlaneSettings()
    other = PlaneSettings(epochs=3, lr=1e-3, layers=("probs",), snapshots=(1, 3), estimator="kl")
    args = parser(other).parse_args([])
    assert PlaneSettings.from_args(args) == other and (args.seeds, args.scheduler) == (None, None)


def test_argument_type_turns_validator_errors_into_argparse_errors():
    count = argument_type(parse_int, "n", minimum=1)
    assert count("5") == 5
    with pytest.raises(argparse.ArgumentTypeError, match="n must be >= 1, got 0"):
        count("0")
    names = argument_type(parse_list, "part", choices=("synthetic", "mnist"))
    with pytest.raises(argparse.ArgumentTypeError, match="unknown part 'x'; choose from synthetic, mnist"):
        names("mnist,x")
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--n", type=count)
    with pytest.raises(argparse.ArgumentError, match="argument --n: n must be an integer, got 'x'"):
        parser.parse_args(["--n", "x"])
