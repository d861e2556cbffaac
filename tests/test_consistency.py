"""``ibcore.consistency_checks``: the self-consistency tests of Song & Ermon (ICLR 2020) on data
without ground truth: pass on a consistent estimator, catch a biased one, take labels and images,
refuse bad arguments; ``ibcore mi --check`` runs them.

The seeds are fixed, so every outcome below is deterministic; the margins quoted in the comments
are those of these seeds and of the measurements in the Notes of ``consistency_checks`` (false
failures of "wkl" on Gaussian 2+2 pairs: 4 reports in 450 over five cells).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import ndtri

import ibcore
from ibcore.cli import main
from ibcore.consistency import CHECKS, FLOOR, STD_SCALE, ConsistencyCheck, ConsistencyReport, consistency_checks
from ibcore.estimators import EstimatorSpec, register_estimator, unregister_estimator
from ibcore.synthetic import correlated_normal


@pytest.fixture(scope="module")
def gauss_1nat():
    return correlated_normal(2000, 2, 2, 1.0, random_state=0)


@pytest.fixture(scope="module")
def gauss_8nat():
    return correlated_normal(2000, 2, 2, 8.0, random_state=0)


def _constant_mi(x, y, *, discrete_y=None, **options):
    return ibcore.Estimate(1.0, 0.01)


class Recorder:
    """A toy estimator that records what each call received and returns 0 ± 0.1 nats."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, y, *, discrete_y=None, **options):
        self.calls.append(dict(x=np.array(x), y=np.array(y), discrete_y=discrete_y, options=options))
        return ibcore.Estimate(0.0, 0.1)


@pytest.fixture
def constant_method():
    register_estimator(EstimatorSpec("const-mi", "constant (toy)", mi=_constant_mi))
    yield "const-mi"
    unregister_estimator("const-mi")


@pytest.fixture
def recorder():
    rec = Recorder()
    register_estimator(EstimatorSpec("record-mi", "recorder (toy)", mi=rec, options=("random_state",)))
    yield rec
    unregister_estimator("record-mi")


def test_weighted_kl_passes_every_check_on_gaussians(gauss_1nat):
    x, y = gauss_1nat
    report = consistency_checks(x, y, "wkl")
    assert isinstance(report, ConsistencyReport) and report.passed and not report.labels
    assert [c.name for c in report.checks] == list(CHECKS) and report.n == 2000 and report.method == "wkl"
    z_two, z_one = ndtri(1 - 0.05 / 6), ndtri(1 - 0.05 / 3)  # Bonferroni over 3 checks at level 0.95
    for c in report.checks:
        assert isinstance(c, ConsistencyCheck) and c.passed
        assert c.difference == pytest.approx(c.estimate.value - c.reference.value)
        assert c.std == pytest.approx(math.hypot(c.estimate.std, c.reference.std))
        assert c.z == pytest.approx(z_one if c.name == "data_processing" else z_two)
        assert c.tolerance == pytest.approx(c.z * STD_SCALE * c.std + FLOOR)
    assert report["independence"].reference == ibcore.Estimate(0.0, 0.0)
    # noise of the same size as y removes about 0.6 nats of the 1 (mean over 100 seeds: -0.63)
    assert report["data_processing"].difference < -0.3 and report["data_processing"].relation == "<="
    # the halves' estimates add up to about 2 nats (truth 2)
    assert abs(report["additivity"].reference.value - 2.0) < 4 * report["additivity"].reference.std + 0.1


def test_ksg_fails_additivity_at_high_mi(gauss_8nat):
    """KSG saturates at large MI: on the 4+4-dimensional concatenation (16 nats) it estimates
    5.5 nats against 10.7 for the two halves, a difference 70 times the tolerance."""
    x, y = gauss_8nat
    report = consistency_checks(x, y, "ksg")
    assert not report.passed
    assert report["independence"].passed and report["data_processing"].passed
    add = report["additivity"]
    assert not add.passed and add.difference < -4.0 and add.tolerance < 0.2
    # weighted KL on the same sample passes (difference -0.18 within ±0.64)
    assert consistency_checks(x, y, "wkl", checks="additivity").passed


def test_a_constant_estimator_fails_independence_and_additivity(gauss_1nat, constant_method):
    x, y = gauss_1nat
    report = consistency_checks(x, y, constant_method)
    assert not report.passed
    assert not report["independence"].passed and report["independence"].difference == pytest.approx(1.0)
    assert not report["additivity"].passed and report["additivity"].difference == pytest.approx(-1.0)
    assert report["data_processing"].passed  # 1 <= 1: a constant never contradicts data processing


def test_labels_take_independence_and_additivity_and_degrade_x():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 2000)
    x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])[labels] + rng.standard_normal((2000, 2))
    report = consistency_checks(x, labels, "wkl")
    assert report.labels and report.passed  # 0 failed reports in 20 seeds for wkl, kl and ksg
    dp = report["data_processing"]
    assert "g(X)" in dp.claim and dp.note.startswith("x degraded") and dp.difference < -0.1


def test_label_pairs_and_image_sides_reach_the_estimator(recorder):
    rng = np.random.default_rng(1)
    n = 40
    x, images, labels = rng.standard_normal((n, 3)), rng.standard_normal((n, 4, 4)), rng.integers(0, 2, n)
    report = consistency_checks(x, images, "record-mi", random_state=7)
    assert report.passed and len(recorder.calls) == 6
    indep, full, degraded, half1, half2, cat = recorder.calls
    assert all(c["options"] == {"random_state": 7} and c["discrete_y"] is False for c in recorder.calls)
    # independence: the rows of y permuted, x untouched
    assert np.array_equal(indep["x"], x) and not np.array_equal(indep["y"], images)
    assert sorted(map(bytes, indep["y"])) == sorted(map(bytes, images))
    # data processing: the same 8 of the 16 pixels set to their mean in every image, the rest kept
    assert np.array_equal(full["y"], images)
    constant = np.all(degraded["y"] == degraded["y"][:1], axis=0)
    assert constant.sum() == 8 and np.array_equal(degraded["y"][:, ~constant], images[:, ~constant])
    # additivity: halves of n/2 pairs; vectors side by side, images along their width
    assert half1["x"].shape == (20, 3) and cat["x"].shape == (20, 6) and cat["y"].shape == (20, 4, 8)
    assert np.array_equal(cat["y"][:, :, :4], half1["y"]) and np.array_equal(cat["x"][:, 3:], half2["x"])

    recorder.calls.clear()
    report = consistency_checks(x, labels, "record-mi", checks="additivity", random_state=7)
    assert report.labels and [c["discrete_y"] for c in recorder.calls] == [True] * 3
    assert recorder.calls[2]["y"].shape == (20, 2)  # label pairs: one label per row of two columns


def test_checks_choose_what_runs_and_estimate_is_reused(gauss_1nat):
    x, y = gauss_1nat
    given = ibcore.Estimate(5.0, 0.1)
    report = consistency_checks(x, y, "kl", checks="data_processing", estimate=given)
    (dp,) = report.checks
    assert dp.reference == given and dp.z == pytest.approx(ndtri(0.95))  # one one-sided test at level 0.95
    report = consistency_checks(x, y, "kl", checks=["additivity", "independence"], level=0.9)
    assert [c.name for c in report.checks] == ["independence", "additivity"]
    assert report.checks[0].z == pytest.approx(ndtri(1 - 0.1 / 4))


def test_auto_runs_the_checks_on_a_small_sample():
    x, y = correlated_normal(600, 2, 2, 1.0, random_state=3)
    report = consistency_checks(x, y, checks="independence")
    assert report.method == "auto" and report.passed and report["independence"].estimate.std > 0


def test_report_text_markdown_and_dict(gauss_1nat, constant_method):
    x, y = gauss_1nat
    report = consistency_checks(x, y, constant_method)
    text = str(report)
    assert text.startswith("consistency checks of method 'const-mi' on n = 2000 pairs")
    assert "1 of 3 passed" in text and "additivity" in text and " NO" in text
    md = report.to_markdown()
    assert "| check | claim | estimate | reference | difference | tolerance | passed |" in md
    assert md == report._repr_markdown_() and md.count("\n|") == 5
    out = json.loads(json.dumps(report.to_dict()))
    assert out["passed"] is False and out["n"] == 2000 and out["level"] == 0.95
    assert out["checks"][0]["estimate"] == {"value": 1.0, "std": 0.01} and out["checks"][0]["passed"] is False
    with pytest.raises(KeyError, match="no 'nope' check"):
        report["nope"]


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(checks="bogus"), ValueError, "unknown check 'bogus'"),
    (dict(checks=[]), ValueError, "checks is empty"),
    (dict(checks=["additivity", "additivity"]), ValueError, "names a check twice"),
    (dict(checks=3), TypeError, "checks must be"),
    (dict(level=1.5), ValueError, "level must be < 1"),
    (dict(level=True), TypeError, "level must be a finite real number"),
    (dict(floor=-0.1), ValueError, "floor must be >= 0"),
    (dict(std_scale=0.5), ValueError, "std_scale must be >= 1"),
    (dict(method="nope"), ValueError, "nope"),
    (dict(method=3), TypeError, "method must be a string"),
    (dict(random_state=-1), TypeError, "random_state"),
    (dict(estimate=1.0), TypeError, "estimate must be an ibcore.Estimate"),
    (dict(bogus=1), TypeError, "independence check: .*unknown option"),
])
def test_bad_arguments_name_the_problem(kwargs, error, message):
    x, y = correlated_normal(50, 1, 1, 0.5, random_state=0)
    kwargs = {"method": "kl", **kwargs}
    with pytest.raises(error, match=message):
        consistency_checks(x, y, **kwargs)


def test_bad_samples_name_the_problem():
    x, y = correlated_normal(50, 1, 1, 0.5, random_state=0)
    with pytest.raises(ValueError, match="same number of samples"):
        consistency_checks(x, y[:40], "kl")
    with pytest.raises(ValueError, match="at least 10 pairs"):
        consistency_checks(x[:8], y[:8], "kl")
    x[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        consistency_checks(x, y, "kl")
    # label pairs too rare for the estimator: the error names the check that met it
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="^additivity check: class"):
        consistency_checks(rng.standard_normal((200, 2)), rng.integers(0, 30, 200), "ksg", checks="additivity")


def test_cli_check_exit_status_and_report(tmp_path, gauss_8nat, capsys):
    x, y = gauss_8nat
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    files = [str(tmp_path / "x.npy"), str(tmp_path / "y.npy")]
    assert main(["mi", *files, "--method", "ksg", "--check"]) == 1  # additivity fails (see above)
    text = capsys.readouterr().out
    assert text.startswith("I(X;Y) = ") and "consistency checks of method 'ksg'" in text
    assert "2 of 3 passed" in text and "additivity" in text
    assert main(["mi", *files, "--method", "wkl", "--checks", "independence,additivity", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["checks"]["passed"] is True and [c["name"] for c in out["checks"]["checks"]] == \
        ["independence", "additivity"]
    with pytest.raises(SystemExit) as exit_info:
        main(["mi", *files, "--checks", "bogus"])
    assert exit_info.value.code == 2 and "unknown check 'bogus'" in capsys.readouterr().err


def test_cli_lists_the_same_checks():
    from ibcore import cli

    assert cli._CHECKS == CHECKS
