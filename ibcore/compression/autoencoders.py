"""Torch autoencoders as compressors (scikit-learn style).

* :class:`ConvAutoencoder` - convolutional autoencoder for single-channel square images of any
  side from 4 to 128 pixels (e.g. MNIST's 28x28 digits; padded inside to a power of two).
* :class:`DenseAutoencoder` - fully connected autoencoder for vectors (optionally with a linear
  encoder, as in the paper's "Anti-PCA" example).
* :class:`InputEncoder` - the codes ``C_X`` of an information plane's input images from a
  :class:`ConvAutoencoder` (kept for its cache format).
* :func:`load_compressor` - load either from a file written by ``save``.

Both follow scikit-learn's conventions: ``__init__`` only stores options, ``fit`` returns
``self``, learned state ends in ``_``; using one before ``fit`` raises
:class:`sklearn.exceptions.NotFittedError` (a ``ValueError``). Codes are returned as numpy
``float64`` arrays of shape ``(n_samples, latent_dim)``.
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy as np

from ..settings import store_arguments
from ..validation import check_choice, check_fitted, check_float, check_int
from .base import as_flat, as_images, as_widths
from .torch_base import TorchAutoencoder

__all__ = ["ConvAutoencoder", "DenseAutoencoder", "InputEncoder", "load_compressor"]


def load_compressor(path, device=None):
    """Load a :class:`ConvAutoencoder` or :class:`DenseAutoencoder` saved with ``save``."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    classes = {c.__name__: c for c in (ConvAutoencoder, DenseAutoencoder)}
    name = state.get("class") if isinstance(state, dict) else None
    if name not in classes:
        raise ValueError(f"{path} is not a compressor saved by ibcore.compression")
    return classes[name].load(path, device=device)


class ConvAutoencoder(TorchAutoencoder):
    """Convolutional autoencoder for single-channel square images (after ``VanessB/Information-v3``).

    An ``S x S`` image is first padded to ``P x P``, ``P`` the next power of two (at least 8),
    with the background value (the smallest pixel of the training images), centred (MNIST's
    28x28 digits become 32x32 with 2 pixels on every side); reconstructions are cropped back, and
    ``reconstruction_error`` counts the original pixels only. For a power-of-two side nothing
    changes. Encoder: ``log2(P)`` blocks of [Conv 3x3 'same' -> BatchNorm -> LeakyReLU(0.2) ->
    MaxPool 2] taking the image down to ``1 x 1`` (channels ``channels // 2`` in the first block,
    ``channels`` after), then Linear(channels -> latent_dim) -> tanh. Decoder, mirrored:
    Linear(latent_dim -> channels) -> BatchNorm -> LeakyReLU, ``log2(P)`` blocks of
    [Upsample 2 -> Conv 3x3 -> BatchNorm -> LeakyReLU], Conv 3x3 -> 1 channel, then a sigmoid
    (pixels in [0, 1]) or no activation.

    Parameters
    ----------
    latent_dim : int
        Code size ``n'`` (the paper uses the intrinsic dimension: 2 Gaussians, 4 rectangles).
    image_size : int, optional
        Side ``S`` of the images, any integer from 4 to 128 (the paper: 16 or 32; MNIST 28).
        ``None`` takes it from the data at ``fit``.
    channels : int, default 8
        Width of the convolutional blocks.
    epochs : int, default 100
        Maximum number of passes over the training part.
    batch_size : int, default 128
    lr : float, default 1e-3
        Adam learning rate.
    loss : {"l1", "mse"}, default "l1"
        Training loss (the paper trains with L1).
    input_noise : float, default 0.1
        Std of Gaussian noise added to the input pixels during training only (paper: 0.1).
    latent_noise : float, default 0.02
        Std of Gaussian noise added to the code during training only, relative to each code
        coordinate's batch std.
    output_activation : {"auto", "sigmoid", "linear"}, default "auto"
        ``"auto"`` uses a sigmoid when the training pixels lie in [0, 1], else no activation.
    validation_fraction : float, default 0.1
        Held-out share of the rows for the validation loss; 0 disables it.
    patience : int or None, default 20
        Early stopping on the validation loss (best weights restored); ``None`` runs all epochs.
    random_state : int, optional
        Seeds weights, the split, shuffles and noise (bit-reproducible on CPU).
    device : {"auto", "cpu", "cuda"} or torch.device, default "auto"
    progress : bool, default True
        tqdm progress bar.

    Attributes
    ----------
    encoder_, decoder_ : torch.nn.Module
    image_size_ : int
        Side ``S`` of the images.
    padded_size_ : int
        Side ``P`` the networks see.
    pad_value_ : float
        Pixel value of the padding.
    output_activation_ : str
    history_ : ndarray of shape (n_epochs_,)
        Training loss per epoch (mean over the epoch's batches, with training noise).
    val_history_ : ndarray of shape (n_epochs_,) or None
        Validation loss per epoch (no noise).
    n_epochs_, best_epoch_ : int
    """

    _STATE_ATTRS = ("image_size_", "output_activation_", "padded_size_", "pad_value_")

    def __init__(self, latent_dim: int, image_size: int | None = None, *, channels: int = 8,
                 epochs: int = 100, batch_size: int = 128, lr: float = 1e-3, loss: str = "l1",
                 input_noise: float = 0.1, latent_noise: float = 0.02, output_activation: str = "auto",
                 validation_fraction: float = 0.1, patience: int | None = 20, random_state=None,
                 device="auto", progress: bool = True):
        store_arguments(self, locals())

    @staticmethod
    def _check_size(s, name):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 4 or s > 128:
            raise ValueError(f"{name} must be an integer number of pixels from 4 to 128 (e.g. 16, 28 or 32), "
                             f"got {s!r}")
        return int(s)

    def _padding(self) -> tuple[int, int]:
        """(padded side, offset of the image inside it); files saved before padding existed
        hold power-of-two images only, hence the fallback."""
        p = getattr(self, "padded_size_", self.image_size_)
        return p, (p - self.image_size_) // 2

    def _pad(self, imgs: np.ndarray) -> np.ndarray:
        p, left = self._padding()
        s = self.image_size_
        if p == s:
            return imgs
        out = np.full((len(imgs), 1, p, p), getattr(self, "pad_value_", 0.0), dtype=np.float32)
        out[:, :, left:left + s, left:left + s] = imgs
        return out

    def _prepare_fit(self, x):
        check_int(self.channels, "channels", 2)
        check_choice(self.output_activation, "output_activation", ("auto", "sigmoid", "linear"))
        imgs = as_images(x)
        h, w = imgs.shape[2:]
        if h != w:
            raise ValueError(f"images must be square; got {h}x{w}")
        self._check_size(h, "the image side")
        if self.image_size is not None and self._check_size(self.image_size, "image_size") != h:
            raise ValueError(f"image_size={self.image_size} but the images are {h}x{w}")
        self.image_size_ = int(h)
        self.padded_size_ = max(8, 1 << (int(h) - 1).bit_length())
        self.pad_value_ = float(imgs.min())
        if self.output_activation == "auto":
            inside = imgs.min() >= 0.0 and imgs.max() <= 1.0
            self.output_activation_ = "sigmoid" if inside else "linear"
        else:
            self.output_activation_ = self.output_activation
        return self._pad(imgs)

    def _prepare(self, x):
        check_fitted(self, "encoder_")
        imgs = as_images(x)
        s = self.image_size_
        if imgs.shape[2:] != (s, s):
            raise ValueError(f"images must be {s}x{s} like the training images; got shape {imgs.shape[1:]}")
        return self._pad(imgs)

    def _data_flat(self, x):
        check_fitted(self, "encoder_")
        imgs = as_images(x)
        return imgs.reshape(len(imgs), -1).astype(np.float64)

    def _to_output(self, out):
        _, left = self._padding()
        s = self.image_size_
        return out[:, 0, left:left + s, left:left + s]

    def _build(self):
        from torch import nn

        s, c, k = self._padding()[0], int(self.channels), int(self.latent_dim)
        n_blocks = int(math.log2(s))
        widths = [max(c // 2, 1)] + [c] * (n_blocks - 1)
        enc, cin = [], 1
        for cout in widths:
            enc += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2), nn.MaxPool2d(2)]
            cin = cout
        enc += [nn.Flatten(), nn.Linear(c, k), nn.Tanh()]
        dec = [nn.Linear(k, c), nn.Unflatten(1, (c, 1, 1)), nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]
        cin = c
        for cout in reversed(widths):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1),
                    nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
            cin = cout
        dec += [nn.Conv2d(cin, 1, 3, padding=1)]
        if self.output_activation_ == "sigmoid":
            dec.append(nn.Sigmoid())
        return nn.Sequential(*enc), nn.Sequential(*dec)


class DenseAutoencoder(TorchAutoencoder):
    """Fully connected autoencoder for vectors (layer outputs, the Anti-PCA manifold).

    Inputs are standardised per coordinate (``standardize=True``) before the network and
    reconstructions are mapped back, so ``inverse_transform`` and ``reconstruction_error`` are in
    the data's units. Encoder: [Dropout -> Linear(h) -> LeakyReLU(0.2)] for each ``h`` in
    ``hidden``, then Linear(latent_dim) and ``latent_activation``; with ``linear_encoder=True``
    the encoder is a single Linear(d -> latent_dim). Decoder: Linear(latent_dim -> hidden[-1]) ->
    LeakyReLU, ... , Linear(hidden[0] -> d) (linear output).

    Parameters
    ----------
    latent_dim : int
    hidden : tuple of int, default (64, 32)
        Widths from the input side; the decoder uses them reversed. ``()`` gives a linear AE.
    linear_encoder : bool, default False
        Encoder = one Linear layer (the authors' Anti-PCA autoencoder: Linear(32 -> 2), decoder
        hidden=(32,)).
    latent_activation : {None, "tanh", "sigmoid"}, default None
        Ignored when ``linear_encoder``.
    dropout : float, default 0.0
        Dropout before each hidden layer of the encoder (the authors' layer autoencoders use 0.1).
    standardize : bool, default True
    epochs, batch_size, lr, loss, input_noise, latent_noise, validation_fraction, patience, random_state,
    device, progress
        As in :class:`ConvAutoencoder`; here ``loss`` defaults to ``"mse"``, ``input_noise`` (in
        standardised units) to 0 and ``latent_noise`` (relative) to 0.

    Attributes
    ----------
    encoder_, decoder_ : torch.nn.Module
    mean_, scale_ : ndarray of shape (d,)
    n_features_in_ : int
    input_shape_ : tuple
    history_, val_history_, n_epochs_, best_epoch_
        As in :class:`ConvAutoencoder`.
    """

    _STATE_ATTRS = ("mean_", "scale_", "n_features_in_", "input_shape_")

    def __init__(self, latent_dim: int, hidden=(64, 32), *, linear_encoder: bool = False,
                 latent_activation: str | None = None, dropout: float = 0.0, standardize: bool = True,
                 epochs: int = 200, batch_size: int = 256, lr: float = 1e-3, loss: str = "mse",
                 input_noise: float = 0.0, latent_noise: float = 0.0,
                 validation_fraction: float = 0.1, patience: int | None = 20, random_state=None,
                 device="auto", progress: bool = True):
        store_arguments(self, locals())

    def _hidden(self):
        return as_widths(self.hidden)

    def _prepare_fit(self, x):
        self._hidden()
        check_float(self.dropout, "dropout", low=0.0, high=1.0, high_open=True)
        if self.latent_activation not in (None, "tanh", "sigmoid"):
            raise ValueError(f"latent_activation must be None, 'tanh' or 'sigmoid', got {self.latent_activation!r}")
        for flag in ("linear_encoder", "standardize"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        flat, shape = as_flat(x)
        self.n_features_in_ = flat.shape[1]
        self.input_shape_ = shape
        if self.standardize:
            self.mean_ = flat.mean(axis=0)
            sd = flat.std(axis=0)
            self.scale_ = np.where(sd > 0, sd, 1.0)  # constant coordinates: leave as they are
        else:
            self.mean_ = np.zeros(flat.shape[1])
            self.scale_ = np.ones(flat.shape[1])
        return ((flat - self.mean_) / self.scale_).astype(np.float32)

    def _data_flat(self, x):
        check_fitted(self, "encoder_")
        flat, _ = as_flat(x)
        if flat.shape[1] != self.n_features_in_:
            raise ValueError(
                f"x has {flat.shape[1]} features per sample, but the autoencoder was fitted on "
                f"{self.n_features_in_} (input shape {self.input_shape_})"
            )
        return flat

    def _prepare(self, x):
        return ((self._data_flat(x) - self.mean_) / self.scale_).astype(np.float32)

    def _to_output(self, out):
        return (out * self.scale_ + self.mean_).reshape((len(out),) + tuple(self.input_shape_))

    def _build(self):
        from torch import nn

        d, k, hidden = self.n_features_in_, int(self.latent_dim), self._hidden()
        if self.linear_encoder:
            enc = [nn.Linear(d, k)]
        else:
            enc, cin = [], d
            for h in hidden:
                if self.dropout > 0:
                    enc.append(nn.Dropout(float(self.dropout)))
                enc += [nn.Linear(cin, h), nn.LeakyReLU(0.2)]
                cin = h
            enc.append(nn.Linear(cin, k))
            if self.latent_activation == "tanh":
                enc.append(nn.Tanh())
            elif self.latent_activation == "sigmoid":
                enc.append(nn.Sigmoid())
        dec, cin = [], k
        for h in reversed(hidden):
            dec += [nn.Linear(cin, h), nn.LeakyReLU(0.2)]
            cin = h
        dec.append(nn.Linear(cin, d))
        return nn.Sequential(*enc), nn.Sequential(*dec)


class InputEncoder:
    """Codes ``C_X`` of square single-channel images from a :class:`ConvAutoencoder`.

    The autoencoder pads any side to a power of two itself (MNIST's 28x28 digits to 32x32 with
    the background value, the smallest pixel of the training images); this wrapper keeps the
    cache format of the information-plane runs (the weights plus a ``.json`` note) and reads
    caches written before the autoencoder padded by itself (a 32x32 autoencoder fed padded
    images).

    Parameters
    ----------
    latent_dim : int, default 4
        Code size (the paper: 4 for MNIST).
    **options
        Passed to :class:`ConvAutoencoder` (epochs, lr, random_state, device, progress, ...).
    """

    def __init__(self, latent_dim: int = 4, **options):
        self.latent_dim = latent_dim
        self.options = options

    @staticmethod
    def _images(x):
        import torch

        x = torch.as_tensor(x).detach().cpu().float()
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != x.shape[3]:
            raise ValueError(f"InputEncoder needs square single-channel images (n, 1, S, S), got {tuple(x.shape)}")
        return x

    def _pad(self, x):
        # only caches of the old format ("padding" missing from the note) want padded images;
        # otherwise the autoencoder pads (and checks the side) itself
        pad = self.side_ - x.shape[-1]
        if pad <= 0 or not getattr(self, "external_padding_", False):
            return x
        left = pad // 2
        from torch.nn import functional as F

        return F.pad(x, (left, pad - left, left, pad - left), value=self.background_)

    def fit(self, x) -> "InputEncoder":
        x = self._images(x)
        self.autoencoder_ = ConvAutoencoder(self.latent_dim, **self.options).fit(x.numpy())
        self.side_ = self.autoencoder_.image_size_
        self.background_ = self.autoencoder_.pad_value_
        self.external_padding_ = False
        return self

    def transform(self, x) -> np.ndarray:
        """Codes ``(n, latent_dim)`` float64."""
        check_fitted(self, "autoencoder_", "fit(images)")
        return self.autoencoder_.transform(self._pad(self._images(x)).numpy())

    def save(self, path) -> None:
        path = Path(path)
        self.autoencoder_.save(path)
        path.with_suffix(".json").write_text(json.dumps({"side": self.side_, "background": self.background_,
                                                         "latent_dim": self.latent_dim,
                                                         "padding": "external" if self.external_padding_ else "autoencoder"}))

    @classmethod
    def load(cls, path, device=None) -> "InputEncoder":
        path = Path(path)
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            ae = ConvAutoencoder.load(path, device=device)
        except Exception as exc:
            raise ValueError(f"the cached input autoencoder {path} is unreadable ({exc}); delete it to retrain") from None
        enc = cls(int(meta["latent_dim"]))
        enc.side_, enc.background_, enc.autoencoder_ = int(meta["side"]), float(meta["background"]), ae
        enc.external_padding_ = meta.get("padding", "external") == "external"
        return enc
