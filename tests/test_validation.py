"""ibcore.validation: the input checks behind every public function.

The public-API side of the same bad inputs (issue 2, item 5) is tested in
test_entropy.py and test_mutual_information.py; here the checks themselves.
"""
import numpy as np
import pytest
import torch

from ibcore.validation import (as_labels, as_samples, check_int, check_no_duplicates, check_same_length, parse_int,
                               parse_list)


def test_as_samples_shapes_and_dtype():
    x = as_samples(np.arange(5))
    assert x.shape == (5, 1) and x.dtype == np.float64 and x.flags.c_contiguous
    x2 = as_samples(np.ones((4, 3), dtype=np.float32).T)  # non-contiguous float32
    assert x2.shape == (3, 4) and x2.dtype == np.float64 and x2.flags.c_contiguous
    assert as_samples([[1, 2], [3, 4]]).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert as_samples(np.array([True, False])).tolist() == [[1.0], [0.0]]


def test_as_samples_accepts_torch_tensors():
    t = torch.arange(6, dtype=torch.float32, requires_grad=True).reshape(3, 2)
    assert np.array_equal(as_samples(t), np.arange(6.0).reshape(3, 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_as_samples_refuses_non_finite(bad):
    x = np.zeros((10, 2))
    x[7, 1] = bad
    with pytest.raises(ValueError, match=r"x contains 1 NaN or infinite value\(s\) \(first (in|at) row 7\)"):
        as_samples(x, "x")


@pytest.mark.parametrize("shape", [(), (2, 3, 4), (1, 1, 1, 1)])
def test_as_samples_refuses_wrong_ndim(shape):
    with pytest.raises(ValueError, match=r"must be 1-D \(n_samples,\) or 2-D"):
        as_samples(np.zeros(shape), "z")


@pytest.mark.parametrize("shape", [(0,), (0, 3), (5, 0)])
def test_as_samples_refuses_empty(shape):
    with pytest.raises(ValueError, match="is empty"):
        as_samples(np.zeros(shape))


@pytest.mark.parametrize("bad", [
    np.array(["a", "b", "c"]),
    np.array([1 + 2j, 3j]),
    np.array([1.0, None, 2.0], dtype=object),
    np.array(["2020-01-01"], dtype="datetime64[D]"),
])
def test_as_samples_refuses_non_numeric(bad):
    with pytest.raises(TypeError, match="must hold real numbers"):
        as_samples(bad)


def test_as_samples_refuses_ragged_lists():
    with pytest.raises(TypeError, match="could not be converted to a numeric array"):
        as_samples([[1.0, 2.0], [3.0]])


def test_as_labels_encodes():
    codes, classes, counts = as_labels(np.array(["b", "a", "b", "c"]))
    assert classes.tolist() == ["a", "b", "c"]
    assert codes.tolist() == [1, 0, 1, 2] and counts.tolist() == [1, 2, 1]
    # a 2-D y is one label per row (a tuple of columns)
    codes, classes, counts = as_labels(np.array([[0, 1], [0, 1], [1, 0]]))
    assert codes.tolist() == [0, 0, 1] and counts.tolist() == [2, 1]


def test_as_labels_refuses_bad_input():
    with pytest.raises(ValueError, match="contains NaN or infinite"):
        as_labels(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="must be 1-D or 2-D"):
        as_labels(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="must be 1-D or 2-D"):
        as_labels(np.int64(3))
    with pytest.raises(ValueError, match="is empty"):
        as_labels(np.array([], dtype=int))


def test_check_int():
    assert check_int(np.int32(4), "k", 1) == 4
    with pytest.raises(TypeError, match="k must be an integer"):
        check_int(True, "k", 1)
    with pytest.raises(TypeError, match="k must be an integer"):
        check_int(2.0, "k", 1)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        check_int(0, "k", 1)


def test_parse_int_reads_command_line_integers():
    assert parse_int("12", "n") == 12 and parse_int(" 12 ", "n") == 12 and parse_int("1_000", "n", 1) == 1000
    assert parse_int("-3", "shift") == -3
    for bad in ("1.5", "x", ""):
        with pytest.raises(ValueError, match=f"n must be an integer, got {bad!r}"):
            parse_int(bad, "n")
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        parse_int("-1", "seed", minimum=0)
    with pytest.raises(TypeError, match="n must be given as text"):
        parse_int(5, "n")


def test_parse_list_reads_comma_lists():
    assert parse_list("a, b,,c ", "name") == ["a", "b", "c"]
    assert parse_list("16,32", "size", item=parse_int) == [16, 32]
    assert parse_list("kl", "estimator", choices=("kl", "wkl")) == ["kl"]
    with pytest.raises(ValueError, match="no size in ' , ': expected a comma-separated list"):
        parse_list(" , ", "size")
    with pytest.raises(ValueError, match="size must be an integer, got 'a'"):
        parse_list("16,a", "size", item=parse_int)
    with pytest.raises(ValueError, match="unknown estimator 'foo'; choose from kl, wkl"):
        parse_list("kl,foo", "estimator", choices=("kl", "wkl"))
    with pytest.raises(TypeError, match="must be given as text"):
        parse_list(["a"], "name")


def test_check_same_length():
    check_same_length(np.zeros((3, 1)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="same number of samples; got 3 and 4"):
        check_same_length(np.zeros((3, 1)), np.zeros((4, 1)))


def test_check_no_duplicates_suggests_jitter():
    x = np.random.default_rng(0).standard_normal((20, 2))
    check_no_duplicates(x)
    x[5] = x[11]
    x[6] = x[11]
    with pytest.raises(ValueError, match=r"2 duplicate sample\(s\).*jitter="):
        check_no_duplicates(x)
