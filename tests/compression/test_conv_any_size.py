"""ConvAutoencoder on square images of any side (MNIST's 28x28): padding, round trips, caches."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ibcore.compression import ConvAutoencoder, InputEncoder, load_compressor


def digits(n, side, seed):
    """Blobs at random positions: a 2-parameter family of side x side images in [0, 1]."""
    rng = np.random.default_rng(seed)
    g = np.linspace(0, 1, side)
    c = 0.2 + 0.6 * rng.random((n, 2))
    return np.exp(-30 * ((g[None, :, None] - c[:, 0, None, None]) ** 2
                         + (g[None, None, :] - c[:, 1, None, None]) ** 2)).astype(np.float32)


FAST = dict(epochs=1, batch_size=8, progress=False, device="cpu", random_state=0, patience=None, validation_fraction=0.0)
TRAIN = dict(epochs=10, batch_size=16, lr=5e-3, channels=8, patience=None, random_state=0, progress=False,
             device="cpu", input_noise=0.0, latent_noise=0.0, validation_fraction=0.0)


@pytest.fixture(scope="module")
def ae28():
    torch.set_num_threads(1)
    imgs = digits(256, 28, 0)
    return ConvAutoencoder(2, **TRAIN).fit(imgs), imgs


def test_28x28_shapes_and_padding(ae28):
    ae, imgs = ae28
    assert (ae.image_size_, ae.padded_size_) == (28, 32) and ae.pad_value_ == float(imgs.min())
    codes = ae.transform(imgs[:5])
    assert codes.shape == (5, 2) and codes.dtype == np.float64
    assert ae.inverse_transform(codes).shape == (5, 28, 28)
    np.testing.assert_array_equal(ae.transform(imgs[:5, None]), codes)  # (n, 1, H, W) too
    with pytest.raises(ValueError, match="must be 28x28 like the training images"):
        ae.transform(digits(2, 32, 1))


def test_28x28_reconstruction_beats_the_mean_image(ae28):
    """Held-out squared error relative to predicting the mean training image: 0.27-0.44 over
    3 seeds with these settings (10 epochs on 256 images); an autoencoder that ignored its
    input would score >= 1, one whose crop were misplaced would be far above that."""
    ae, imgs = ae28
    test = digits(200, 28, 100)
    baseline = ((test - imgs.mean(0)) ** 2).sum((1, 2)).mean()
    assert ae.reconstruction_error(test) / baseline < 0.7
    # reconstruction_error counts the 28x28 original pixels only, in the images' units
    rec = ae.inverse_transform(ae.transform(test))
    assert ae.reconstruction_error(test) == pytest.approx(((test - rec) ** 2).sum((1, 2)).mean(), rel=1e-5)
    assert ae.reconstruction_error(test, per="coordinate") == pytest.approx(ae.reconstruction_error(test) / 784,
                                                                            rel=1e-9)


def test_save_load_round_trip(ae28, tmp_path):
    ae, imgs = ae28
    ae.save(tmp_path / "ae.pt")
    for loaded in (ConvAutoencoder.load(tmp_path / "ae.pt"), load_compressor(tmp_path / "ae.pt")):
        assert (loaded.image_size_, loaded.padded_size_, loaded.pad_value_) == (28, 32, ae.pad_value_)
        np.testing.assert_array_equal(loaded.transform(imgs[:20]), ae.transform(imgs[:20]))
        np.testing.assert_array_equal(loaded.inverse_transform(ae.transform(imgs[:3])),
                                      ae.inverse_transform(ae.transform(imgs[:3])))


@pytest.mark.parametrize("side, padded", [(4, 8), (5, 8), (16, 16), (20, 32), (33, 64), (100, 128), (128, 128)])
def test_any_side_from_4_to_128(side, padded):
    imgs = digits(8, side, 2)
    ae = ConvAutoencoder(3, **FAST).fit(imgs)
    assert ae.padded_size_ == padded
    assert ae.transform(imgs).shape == (8, 3) and ae.inverse_transform(np.zeros((2, 3))).shape == (2, side, side)


@pytest.mark.parametrize("side", [3, 129])
def test_sides_outside_4_to_128_are_refused(side):
    with pytest.raises(ValueError, match="from 4 to 128"):
        ConvAutoencoder(2, **FAST).fit(np.zeros((4, side, side), dtype=np.float32))
    with pytest.raises(ValueError, match="from 4 to 128"):
        ConvAutoencoder(2, image_size=side, **FAST).fit(digits(4, 16, 0))


def test_padding_equals_the_former_external_padding():
    """Training on 28x28 images equals training a 32x32 autoencoder on the images padded with
    their minimum (what InputEncoder used to do): same network inputs, same seed, same codes."""
    imgs = digits(64, 28, 3)
    x = torch.tensor(imgs)[:, None]
    padded = F.pad(x, (2, 2, 2, 2), value=float(x.min())).numpy()
    inner = ConvAutoencoder(2, **FAST).fit(imgs)
    outer = ConvAutoencoder(2, **FAST).fit(padded)
    np.testing.assert_array_equal(inner.transform(imgs), outer.transform(padded))


def test_input_encoder_delegates_and_reads_old_caches(tmp_path):
    imgs = digits(64, 28, 4)
    enc = InputEncoder(2, **FAST).fit(imgs)
    np.testing.assert_array_equal(enc.transform(imgs), ConvAutoencoder(2, **FAST).fit(imgs).transform(imgs))
    enc.save(tmp_path / "new.pt")
    np.testing.assert_array_equal(InputEncoder.load(tmp_path / "new.pt").transform(imgs), enc.transform(imgs))
    with pytest.raises(ValueError, match="must be 28x28"):
        enc.transform(digits(2, 24, 0))
    # the former cache: a 32x32 autoencoder of padded images, side 32 and no "padding" in the note
    x = torch.tensor(imgs)[:, None]
    old = ConvAutoencoder(2, **FAST).fit(F.pad(x, (2, 2, 2, 2), value=float(x.min())).numpy())
    old.save(tmp_path / "old.pt")
    (tmp_path / "old.json").write_text(json.dumps({"side": 32, "background": float(x.min()), "latent_dim": 2}))
    np.testing.assert_array_equal(InputEncoder.load(tmp_path / "old.pt").transform(imgs), enc.transform(imgs))


def test_files_saved_before_padding_existed_still_load(tmp_path):
    imgs = digits(16, 16, 5)
    ae = ConvAutoencoder(2, **FAST).fit(imgs)
    ae.save(tmp_path / "ae.pt")
    state = torch.load(tmp_path / "ae.pt", weights_only=True)
    for key in ("padded_size_", "pad_value_"):
        del state["learned"][key]
    torch.save(state, tmp_path / "old.pt")
    np.testing.assert_array_equal(ConvAutoencoder.load(tmp_path / "old.pt").transform(imgs), ae.transform(imgs))
