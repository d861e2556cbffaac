"""Fashion-MNIST and IDX files: the reader, the loader's options and errors, and ``ibcore plane``.

Small IDX files (gzipped like Debian's, or plain like torchvision's) are generated in a temporary
folder, so every exact property is checked without the package; the real 60,000 + 10,000 images
are checked too when ``dataset-fashion-mnist`` is installed.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ibcore.plane import PlaneSettings, load_fashion_mnist, load_mnist
from ibcore.plane.data import FASHION_MNIST_DIR, FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_MEAN, MNIST_STD, read_idx

DEBIAN = Path(FASHION_MNIST_DIR) / "train-images-idx3-ubyte.gz"


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file: two zero bytes, type 0x08, the rank, big-endian sizes, the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_folder(folder: Path, n_train=60, n_test=40, seed=0, gz=True, prefix=""):
    """Four IDX files in ``folder`` with balanced labels; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8)[rng.permutation(n_train)],
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8)[rng.permutation(n_test)],
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, a in arrays.items():
        if gz:
            with gzip.open(folder / f"{prefix}{stem}.gz", "wb") as f:
                f.write(idx_bytes(a))
        else:
            (folder / f"{prefix}{stem}").write_bytes(idx_bytes(a))
    return arrays


# --- the IDX reader ---------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_returns_the_stored_array(tmp_path, gz):
    a = np.random.default_rng(1).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    path = tmp_path / ("x-idx3-ubyte.gz" if gz else "x-idx3-ubyte")
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(idx_bytes(a))
    else:
        path.write_bytes(idx_bytes(a))
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == (7, 28, 28)
    np.testing.assert_array_equal(back, a)


def test_read_idx_rejects_broken_files(tmp_path):
    good = idx_bytes(np.zeros((3, 2), dtype=np.uint8))
    cases = {
        "magic": (b"\x01" + good[1:], "not an IDX file"),
        "type": (good[:2] + b"\x0d" + good[3:], "is not unsigned bytes"),
        "short": (good[:-1], "announces shape \\(3, 2\\)"),
        "header": (good[:6], "truncated IDX header"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=message):
            read_idx(tmp_path / name)
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="cannot read the IDX file .*bad.gz"):
        read_idx(tmp_path / "bad.gz")


# --- the loader on generated files ------------------------------------------------------------

def test_fashion_mnist_from_idx_files(tmp_path, capsys):
    arrays = write_idx_folder(tmp_path)
    data = load_fashion_mnist(tmp_path)
    assert f"Fashion-MNIST from the IDX files in {str(tmp_path)!r}: 60 train / 40 test" in capsys.readouterr().out
    assert (data.source, data.dataset) == ("idx", "fashion-mnist")
    assert data.x_train.shape == (60, 1, 28, 28) and data.x_test.shape == (40, 1, 28, 28)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    # normalised with Fashion-MNIST's own pixel statistics, in the files' order
    want = (arrays["train-images-idx3-ubyte"] / 255.0 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
    np.testing.assert_allclose(data.x_train[:, 0].numpy(), want, atol=1e-5)
    assert data.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    raw = load_mnist("auto", tmp_path, dataset="fashion-mnist", normalize=False, verbose=False)
    np.testing.assert_allclose(raw.x_test[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"] / 255.0, atol=1e-7)


def test_evaluation_subset_is_stratified_seeded_and_in_file_order(tmp_path):
    arrays = write_idx_folder(tmp_path)
    full = load_fashion_mnist(tmp_path, normalize=False, verbose=False)
    sub = load_fashion_mnist(tmp_path, normalize=False, n_test=20, random_state=3, verbose=False)
    assert "a stratified subset of 20, seed 3" in sub.description
    assert torch.bincount(sub.y_test, minlength=10).tolist() == [2] * 10  # 4 per class -> 2 per class
    # each subset image is one of the test images, with its label, and the order is the files'
    images = arrays["t10k-images-idx3-ubyte"].reshape(40, -1)
    rows = [int(np.flatnonzero((images == (x.numpy().reshape(-1) * 255).round()).all(1))[0]) for x in sub.x_test]
    assert rows == sorted(rows) and len(set(rows)) == 20
    assert sub.y_test.tolist() == full.y_test[rows].tolist()
    assert torch.equal(sub.x_train, full.x_train)  # the training images are untouched
    again = load_fashion_mnist(tmp_path, normalize=False, n_test=20, random_state=3, verbose=False)
    other = load_fashion_mnist(tmp_path, normalize=False, n_test=20, random_state=4, verbose=False)
    assert torch.equal(again.x_test, sub.x_test) and not torch.equal(other.x_test, sub.x_test)
    assert load_fashion_mnist(tmp_path, n_test=40, verbose=False).description == full.description
    for bad in (5, 41, 2.5, True):
        with pytest.raises(ValueError, match="n_test must be None or an integer in \\[10, 40\\]"):
            load_fashion_mnist(tmp_path, n_test=bad, verbose=False)


def test_mnist_idx_files_and_torchvision_fashion_folder(tmp_path):
    arrays = write_idx_folder(tmp_path / "mnist", seed=5, gz=False)
    data = load_mnist("idx", tmp_path / "mnist", verbose=False)
    assert (data.source, data.dataset) == ("idx", "mnist") and data.description.startswith("MNIST from")
    want = (arrays["train-images-idx3-ubyte"] / 255.0 - MNIST_MEAN) / MNIST_STD
    np.testing.assert_allclose(data.x_train[:, 0].numpy(), want, atol=1e-5)
    with pytest.raises(ValueError, match="source='idx' for MNIST needs data_dir"):
        load_mnist("idx", verbose=False)
    pytest.importorskip("torchvision")
    arrays = write_idx_folder(tmp_path / "tv" / "FashionMNIST" / "raw", seed=6, gz=False)
    data = load_mnist("torchvision", tmp_path / "tv", dataset="fashion-mnist", n_test=20, verbose=False)
    assert (data.source, data.dataset) == ("torchvision", "fashion-mnist")
    assert data.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist() and len(data.y_test) == 20


def test_missing_files_and_impossible_choices_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as exc:
        load_fashion_mnist(tmp_path / "nowhere", verbose=False)
    assert "train-images-idx3-ubyte[.gz]" in str(exc.value) and "data_dir=" in str(exc.value)
    write_idx_folder(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte\\[.gz\\]\\)"):
        load_fashion_mnist(tmp_path / "partial", verbose=False)
    with pytest.raises(ValueError, match="no Fashion-MNIST images are embedded"):
        load_mnist("embedded", dataset="fashion-mnist")
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_mnist(dataset="cifar")
    with pytest.raises(ValueError, match="source='embedded' holds MNIST digits only"):
        PlaneSettings(dataset="fashion-mnist", source="embedded")
    with pytest.raises(ValueError, match="n_test must be >= 10"):
        PlaneSettings(n_test=5)


def test_plane_command_trains_on_fashion_idx_files(tmp_path, capsys):
    from ibcore.cli import main

    # 7 evaluation images per class: weighted KL with k = 5 needs 6 per class for I(L;Y)
    write_idx_folder(tmp_path / "data", n_train=120, n_test=100)
    out = tmp_path / "run"
    assert main(["plane", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "data"), "--out", str(out),
                 "--epochs", "1", "--x-ae-epochs", "1", "--batch-size", "60", "--n-test", "70",
                 "--layers", "layer4", "probs", "--no-progress", "--no-figures"]) == 0
    printed = capsys.readouterr().out
    assert "1 epochs in" in printed
    stored = json.loads((out / "settings.json").read_text())
    assert (stored["settings"]["dataset"], stored["settings"]["source"]) == ("fashion-mnist", "idx")
    assert stored["settings"]["n_test"] == 70 and stored["context"]["n_eval"] == 70
    assert "Fashion-MNIST from the IDX files" in stored["context"]["data"]


# --- the real files, when Debian's package is installed ----------------------------------------

@pytest.mark.skipif(not DEBIAN.is_file(), reason="apt-get install dataset-fashion-mnist")
def test_debian_fashion_mnist_is_the_full_balanced_dataset():
    data = load_fashion_mnist(normalize=False, n_test=5000, verbose=False)
    assert data.x_train.shape == (60000, 1, 28, 28) and data.x_test.shape == (5000, 1, 28, 28)
    assert torch.bincount(data.y_train).tolist() == [6000] * 10
    assert torch.bincount(data.y_test).tolist() == [500] * 10
    assert FASHION_MNIST_DIR in data.description
    # the normalisation constants are the training set's pixel mean and std (to their 4 digits)
    x = data.x_train.double()
    assert float(x.mean()) == pytest.approx(FASHION_MNIST_MEAN, abs=5e-5)
    assert float(x.std()) == pytest.approx(FASHION_MNIST_STD, abs=5e-5)
