"""Compressors (scikit-learn style) and the lossy-compression bound.

* :class:`PCACompressor` - orthonormal linear projection (scikit-learn PCA).
* :class:`ConvAutoencoder` - convolutional autoencoder for single-channel square images.
* :class:`DenseAutoencoder` - fully connected autoencoder for vectors (optionally with a linear
  encoder, as in the paper's "Anti-PCA" example).
* :func:`compression_bound` - the two-sided bound on the MI lost by an orthogonal linear
  compressor of noisy data (spec section 2, T4).

All compressors follow scikit-learn's conventions: ``__init__`` only stores options, ``fit``
returns ``self``, learned state ends in ``_``; using one before ``fit`` raises
:class:`sklearn.exceptions.NotFittedError` (a ``ValueError``). Codes are returned as numpy
``float64`` arrays of shape ``(n_samples, latent_dim)``.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError

from .nn import (
    as_real_array, check_choice, check_float, check_seed, make_generator, resolve_device, seeded, split_indices,
    to_tensor, train_loop,
)
from .validation import check_int

__all__ = [
    "PCACompressor", "ConvAutoencoder", "DenseAutoencoder", "CompressionBound", "compression_bound",
    "load_compressor",
]

_PER = ("sample", "coordinate")


# ----------------------------------------------------------------------------------------------
# input handling

def _as_flat(x, name: str = "x") -> tuple[np.ndarray, tuple]:
    """(n, ...) -> (n, prod(...)) float64, plus the per-sample shape."""
    arr = as_real_array(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    shape = arr.shape[1:]
    return np.ascontiguousarray(arr.reshape(len(arr), -1), dtype=np.float64), shape


def _as_images(x, name: str = "x") -> np.ndarray:
    """(n, H, W) or (n, 1, H, W) -> float32 (n, 1, H, W)."""
    arr = as_real_array(x, name)
    if arr.ndim == 4:
        if arr.shape[1] != 1:
            raise ValueError(f"{name} must be single-channel images (n, 1, H, W); got shape {arr.shape}")
    elif arr.ndim == 3:
        arr = arr[:, None]
    else:
        raise ValueError(f"{name} must be images of shape (n, H, W) or (n, 1, H, W); got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_fitted(est, attr: str) -> None:
    if not hasattr(est, attr):
        raise NotFittedError(
            f"This {type(est).__name__} instance is not fitted yet; call fit(x) before using it"
        )


def _check_per(per: str) -> str:
    return check_choice(per, "per", _PER)


def _squared_error(x: np.ndarray, x_hat: np.ndarray, per: str) -> float:
    sq = ((x - x_hat) ** 2).sum(axis=1).mean()
    return float(sq if per == "sample" else sq / x.shape[1])


# ----------------------------------------------------------------------------------------------
# PCA

class PCACompressor(TransformerMixin, BaseEstimator):
    """Principal-component projection, a thin wrapper of :class:`sklearn.decomposition.PCA`.

    Without whitening the projection ``A = W (x - mean)`` has orthonormal rows ``W``: it is the
    kept block of an orthogonal change of basis, which is what the exact noise-entropy identity
    of :func:`compression_bound` needs (isotropic noise stays isotropic with the same variance).

    Parameters
    ----------
    n_components : int
        Number of kept coordinates ``n'``.
    whiten : bool, default False
        Scale each component to unit variance (breaks the orthonormality above).
    random_state : int, optional
        Passed to scikit-learn (only the randomized SVD solver uses it).

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    n_features_in_ : int
    input_shape_ : tuple
        Per-sample shape seen by ``fit`` (images are flattened, ``inverse_transform`` restores it).
    """

    def __init__(self, n_components: int, whiten: bool = False, random_state=None):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    def fit(self, x, y=None) -> "PCACompressor":
        """Fit on ``x`` of shape (n, d) (or (n, ...) which is flattened)."""
        from sklearn.decomposition import PCA

        k = check_int(self.n_components, "n_components", 1)
        if not isinstance(self.whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be True or False, got {self.whiten!r}")
        flat, shape = _as_flat(x)
        if k > min(flat.shape):
            raise ValueError(
                f"n_components={k} exceeds min(n_samples, n_features) = {min(flat.shape)} "
                f"for x of shape {flat.shape}"
            )
        self.pca_ = PCA(n_components=k, whiten=bool(self.whiten), random_state=self.random_state).fit(flat)
        self.n_features_in_ = flat.shape[1]
        self.input_shape_ = shape
        return self

    def _flat_checked(self, x, name="x") -> np.ndarray:
        _check_fitted(self, "pca_")
        flat, _ = _as_flat(x, name)
        if flat.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {flat.shape[1]} features per sample, but the compressor was fitted "
                f"on {self.n_features_in_} (input shape {self.input_shape_})"
            )
        return flat

    def transform(self, x) -> np.ndarray:
        """Codes of shape (n, n_components)."""
        flat = self._flat_checked(x)
        return self.pca_.transform(flat)

    def inverse_transform(self, codes) -> np.ndarray:
        """Reconstructions with the per-sample shape seen by ``fit``."""
        _check_fitted(self, "pca_")
        c, _ = _as_flat(codes, "codes")
        if c.shape[1] != self.pca_.n_components_:
            raise ValueError(f"codes must have {self.pca_.n_components_} columns, got {c.shape[1]}")
        return self.pca_.inverse_transform(c).reshape((len(c),) + self.input_shape_)

    def reconstruction_error(self, x, per: str = "sample") -> float:
        """Mean squared reconstruction error of ``x``, in the data's units squared.

        ``per="sample"``: mean over samples of the squared error summed over all coordinates,
        ``E||x - x_hat||^2`` (the ``Delta`` of :func:`compression_bound`).
        ``per="coordinate"``: the same divided by the number of coordinates.
        """
        _check_per(per)
        flat = self._flat_checked(x)
        rec = self.pca_.inverse_transform(self.pca_.transform(flat))
        return _squared_error(flat, rec, per)


# ----------------------------------------------------------------------------------------------
# torch autoencoders

class _TorchAutoencoder(TransformerMixin, BaseEstimator):
    """Shared fit/transform/save/load of the torch autoencoders (subclasses build the nets)."""

    _LOSSES = ("l1", "mse")
    _STATE_ATTRS: tuple = ()  # learned non-weight attributes saved with the weights

    # subclasses: _prepare_fit(x) -> float32 array of network inputs; _prepare(x) (fitted);
    # _build() -> (encoder, decoder); _to_output(np array of net outputs) -> data layout

    def _check_common(self):
        check_int(self.latent_dim, "latent_dim", 1)
        check_int(self.epochs, "epochs", 1)
        check_int(self.batch_size, "batch_size", 2)
        check_float(self.lr, "lr", low=0.0, low_open=True)
        check_float(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, high_open=True)
        if self.patience is not None:
            check_int(self.patience, "patience", 1)
            if self.validation_fraction == 0:
                raise ValueError("patience (early stopping) needs validation_fraction > 0")
        check_float(self.input_noise, "input_noise", low=0.0)
        check_float(self.latent_noise, "latent_noise", low=0.0)
        check_choice(self.loss, "loss", self._LOSSES)
        check_seed(self.seed)
        if not isinstance(self.progress, (bool, np.bool_)):
            raise TypeError(f"progress must be True or False, got {self.progress!r}")

    def _encode_train(self, xb, gen):
        import torch

        if self.input_noise > 0:
            xb = xb + self.input_noise * torch.randn(xb.shape, generator=gen, device=xb.device)
        z = self.encoder_(xb)
        if self.latent_noise > 0:
            # relative noise: scale-free, so a linear encoder cannot shrink it away
            scale = z.detach().std(dim=0, keepdim=True)
            z = z + self.latent_noise * scale * torch.randn(z.shape, generator=gen, device=z.device)
        return z

    def fit(self, x, y=None):
        """Train on ``x`` (``y`` is ignored). Returns ``self``.

        A seeded random ``validation_fraction`` of the rows is held out; with ``patience`` set,
        training stops when the validation loss has not improved for ``patience`` epochs and
        the best weights are restored.
        """
        import torch

        self._check_common()
        device = resolve_device(self.device)
        data = self._prepare_fit(x)
        tr, va = split_indices(len(data), float(self.validation_fraction), self.seed)
        if len(tr) < 2:
            raise ValueError(f"training needs at least 2 samples, got {len(tr)}")
        with seeded(self.seed):
            encoder, decoder = self._build()
        self.encoder_, self.decoder_ = encoder.to(device), decoder.to(device)
        self.device_ = device
        xt = to_tensor(data[tr], device)
        xv = to_tensor(data[va], device) if len(va) else None
        gen = make_generator(self.seed, device)
        params = list(self.encoder_.parameters()) + list(self.decoder_.parameters())
        opt = torch.optim.Adam(params, lr=float(self.lr))
        loss_fn = torch.nn.functional.l1_loss if self.loss == "l1" else torch.nn.functional.mse_loss
        both = torch.nn.ModuleDict({"encoder": self.encoder_, "decoder": self.decoder_})

        def step(idx):
            both.train()
            xb = xt[idx]
            loss = loss_fn(self.decoder_(self._encode_train(xb, gen)), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        def evaluate():
            return self._eval_loss(xv, loss_fn)

        res = train_loop(
            step, len(tr), epochs=int(self.epochs), batch_size=int(self.batch_size), generator=gen,
            evaluate=evaluate if xv is not None else None, mode="min",
            patience=self.patience, model=both, progress=bool(self.progress),
            desc=type(self).__name__, postfix=self.loss,
        )
        both.eval()
        self.history_ = np.asarray(res.history)
        self.val_history_ = np.asarray(res.monitor) if xv is not None else None
        self.n_epochs_ = res.epochs_run
        self.best_epoch_ = res.best_epoch
        return self

    def _eval_loss(self, xv, loss_fn, chunk: int = 4096) -> float:
        import torch

        self.encoder_.eval()
        self.decoder_.eval()
        total = 0.0
        with torch.no_grad():
            for s in range(0, len(xv), chunk):
                xb = xv[s:s + chunk]
                total += loss_fn(self.decoder_(self.encoder_(xb)), xb).item() * len(xb)
        return total / len(xv)

    def _run(self, module, data, chunk: int = 4096) -> np.ndarray:
        import torch

        module.eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(data), chunk):
                out.append(module(to_tensor(data[s:s + chunk], self.device_)).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    def transform(self, x) -> np.ndarray:
        """Codes of shape (n, latent_dim), float64 numpy."""
        _check_fitted(self, "encoder_")
        return self._run(self.encoder_, self._prepare(x))

    def inverse_transform(self, codes) -> np.ndarray:
        """Decoded samples (images as (n, H, W); vectors as (n, d)) in the data's units."""
        _check_fitted(self, "decoder_")
        c, _ = _as_flat(codes, "codes")
        if c.shape[1] != self.latent_dim:
            raise ValueError(f"codes must have latent_dim={self.latent_dim} columns, got {c.shape[1]}")
        return self._to_output(self._run(self.decoder_, c.astype(np.float32)))

    def reconstruction_error(self, x, per: str = "sample") -> float:
        """Mean squared reconstruction error of ``x`` in the data's units squared.

        ``per="sample"``: mean over samples of the squared error summed over all coordinates
        (pixels), ``E||x - D(E(x))||^2`` - the ``Delta`` of :func:`compression_bound`.
        ``per="coordinate"``: the same divided by the number of coordinates.
        (The training loss may be L1 and computed on standardised data; this is always the
        squared error in the input's own units.)
        """
        _check_per(per)
        _check_fitted(self, "encoder_")
        net_in = self._prepare(x)
        rec = self._to_output(self._run(self.decoder_, self._run(self.encoder_, net_in).astype(np.float32)))
        x_flat = self._data_flat(x)
        return _squared_error(x_flat, rec.reshape(len(rec), -1), per)

    # persistence --------------------------------------------------------------------------

    def save(self, path) -> None:
        """Save options, learned attributes and weights with ``torch.save`` (a plain dict).

        Load with :meth:`load` (``torch.load(..., weights_only=True)``: no pickled code runs).
        """
        import torch

        _check_fitted(self, "encoder_")
        state = {
            "class": type(self).__name__,
            "config": {k: (str(v) if k == "device" else v) for k, v in self.get_params().items()},
            "learned": {a: _plain(getattr(self, a)) for a in self._STATE_ATTRS + (
                "history_", "val_history_", "n_epochs_", "best_epoch_")},
            "encoder": {k: v.cpu() for k, v in self.encoder_.state_dict().items()},
            "decoder": {k: v.cpu() for k, v in self.decoder_.state_dict().items()},
        }
        torch.save(state, path)

    @classmethod
    def load(cls, path, device=None):
        """Rebuild a fitted compressor saved by :meth:`save`.

        ``device`` overrides the saved ``device`` option (e.g. load a GPU-trained model on CPU).
        """
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "class" not in state:
            raise ValueError(f"{path} is not a compressor saved by ibcore.compress")
        if state["class"] != cls.__name__:
            raise ValueError(f"{path} holds a {state['class']}, not a {cls.__name__}")
        config = dict(state["config"])
        if device is not None:
            config["device"] = device
        est = cls(**config)
        for k, v in state["learned"].items():
            setattr(est, k, _unplain(k, v))
        dev = resolve_device(est.device)
        enc, dec = est._build()
        enc.load_state_dict(state["encoder"])
        dec.load_state_dict(state["decoder"])
        est.encoder_, est.decoder_ = enc.to(dev).eval(), dec.to(dev).eval()
        est.device_ = dev
        return est


def _plain(v):
    # torch.load(weights_only=True) accepts tensors, containers and primitives only
    import torch

    if isinstance(v, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(v))
    return v


def _unplain(name, v):
    if hasattr(v, "numpy") and hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    if name == "input_shape_" and isinstance(v, list):
        return tuple(v)
    return v


def load_compressor(path, device=None):
    """Load a :class:`ConvAutoencoder` or :class:`DenseAutoencoder` saved with ``save``."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    classes = {c.__name__: c for c in (ConvAutoencoder, DenseAutoencoder)}
    name = state.get("class") if isinstance(state, dict) else None
    if name not in classes:
        raise ValueError(f"{path} is not a compressor saved by ibcore.compress")
    return classes[name].load(path, device=device)


class ConvAutoencoder(_TorchAutoencoder):
    """Convolutional autoencoder for single-channel square images (spec section 6.5).

    Encoder: ``log2(S)`` blocks of [Conv 3x3 'same' -> BatchNorm -> LeakyReLU(0.2) -> MaxPool 2]
    taking an ``S x S`` image down to ``1 x 1`` (channels ``channels // 2`` in the first block,
    ``channels`` after), then Linear(channels -> latent_dim) -> tanh. Decoder, mirrored:
    Linear(latent_dim -> channels) -> BatchNorm -> LeakyReLU, ``log2(S)`` blocks of
    [Upsample 2 -> Conv 3x3 -> BatchNorm -> LeakyReLU], Conv 3x3 -> 1 channel, then a sigmoid
    (pixels in [0, 1]) or no activation.

    Parameters
    ----------
    latent_dim : int
        Code size ``n'`` (the paper uses the intrinsic dimension: 2 Gaussians, 4 rectangles).
    image_size : int, optional
        Side ``S`` of the images; a power of two from 8 to 128 (the paper: 16 or 32). ``None``
        takes it from the data at ``fit``.
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
    seed : int, optional
        Seeds weights, the split, shuffles and noise (bit-reproducible on CPU).
    device : {"auto", "cpu", "cuda"} or torch.device, default "auto"
    progress : bool, default True
        tqdm progress bar.

    Attributes
    ----------
    encoder_, decoder_ : torch.nn.Module
    image_size_ : int
    output_activation_ : str
    history_ : ndarray of shape (n_epochs_,)
        Training loss per epoch (mean over the epoch's batches, with training noise).
    val_history_ : ndarray of shape (n_epochs_,) or None
        Validation loss per epoch (no noise).
    n_epochs_, best_epoch_ : int
    """

    _STATE_ATTRS = ("image_size_", "output_activation_")

    def __init__(self, latent_dim: int, image_size: int | None = None, *, channels: int = 8,
                 epochs: int = 100, batch_size: int = 128, lr: float = 1e-3, loss: str = "l1",
                 input_noise: float = 0.1, latent_noise: float = 0.02, output_activation: str = "auto",
                 validation_fraction: float = 0.1, patience: int | None = 20, seed=None,
                 device="auto", progress: bool = True):
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.channels = channels
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.input_noise = input_noise
        self.latent_noise = latent_noise
        self.output_activation = output_activation
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.progress = progress

    @staticmethod
    def _check_size(s, name):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 8 or s > 128 or s & (s - 1):
            raise ValueError(f"{name} must be a power of two from 8 to 128 (e.g. 16 or 32), got {s!r}")
        return int(s)

    def _prepare_fit(self, x):
        check_int(self.channels, "channels", 2)
        check_choice(self.output_activation, "output_activation", ("auto", "sigmoid", "linear"))
        imgs = _as_images(x)
        h, w = imgs.shape[2:]
        if h != w:
            raise ValueError(f"images must be square; got {h}x{w}")
        self._check_size(h, "the image side")
        if self.image_size is not None and self._check_size(self.image_size, "image_size") != h:
            raise ValueError(f"image_size={self.image_size} but the images are {h}x{w}")
        self.image_size_ = int(h)
        if self.output_activation == "auto":
            inside = imgs.min() >= 0.0 and imgs.max() <= 1.0
            self.output_activation_ = "sigmoid" if inside else "linear"
        else:
            self.output_activation_ = self.output_activation
        return imgs

    def _prepare(self, x):
        _check_fitted(self, "encoder_")
        imgs = _as_images(x)
        s = self.image_size_
        if imgs.shape[2:] != (s, s):
            raise ValueError(f"images must be {s}x{s} like the training images; got shape {imgs.shape[1:]}")
        return imgs

    def _data_flat(self, x):
        imgs = self._prepare(x)
        return imgs.reshape(len(imgs), -1).astype(np.float64)

    def _to_output(self, out):
        return out[:, 0]

    def _build(self):
        from torch import nn

        s, c, k = self.image_size_, int(self.channels), int(self.latent_dim)
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


class DenseAutoencoder(_TorchAutoencoder):
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
        Encoder = one Linear layer (spec 6.6 Anti-PCA: Linear(32 -> 2), decoder hidden=(32,)).
    latent_activation : {None, "tanh", "sigmoid"}, default None
        Ignored when ``linear_encoder``.
    dropout : float, default 0.0
        Dropout before each hidden layer of the encoder (spec 7.5 uses 0.1).
    standardize : bool, default True
    epochs, batch_size, lr, loss, input_noise, latent_noise, validation_fraction, patience, seed,
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
                 validation_fraction: float = 0.1, patience: int | None = 20, seed=None,
                 device="auto", progress: bool = True):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.linear_encoder = linear_encoder
        self.latent_activation = latent_activation
        self.dropout = dropout
        self.standardize = standardize
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.loss = loss
        self.input_noise = input_noise
        self.latent_noise = latent_noise
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.seed = seed
        self.device = device
        self.progress = progress

    def _hidden(self):
        h = self.hidden
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            h = (h,)
        try:
            h = tuple(h)
        except TypeError:
            raise TypeError(f"hidden must be a tuple of positive integers, got {self.hidden!r}") from None
        for w in h:
            check_int(w, "each hidden width", 1)
        return tuple(int(w) for w in h)

    def _prepare_fit(self, x):
        self._hidden()
        check_float(self.dropout, "dropout", low=0.0, high=1.0, high_open=True)
        if self.latent_activation not in (None, "tanh", "sigmoid"):
            raise ValueError(f"latent_activation must be None, 'tanh' or 'sigmoid', got {self.latent_activation!r}")
        for flag in ("linear_encoder", "standardize"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        flat, shape = _as_flat(x)
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
        _check_fitted(self, "encoder_")
        flat, _ = _as_flat(x)
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


# ----------------------------------------------------------------------------------------------
# the bound

class CompressionBound(NamedTuple):
    """Bounds (nats) on ``I(X; X~) - I(X; A)``, the MI lost by compressing ``X~`` to ``A``."""

    lower: float
    upper: float


def compression_bound(n: int, n_kept: int, noise_var: float, reconstruction_error: float) -> CompressionBound:
    """Two-sided bound on the MI lost by an orthogonal linear compression of noisy data.

    Setting (spec section 2, T4): ``X~ = X + Z`` in ``R^n`` with ``Z ~ N(0, noise_var * I)``
    independent of ``X``; an orthogonal ``Q`` splits ``Q X~ = (A, B)`` into the kept
    ``A in R^{n_kept}`` (e.g. :class:`PCACompressor` without whitening) and the discarded
    ``B in R^{m}``, ``m = n - n_kept``; a decoder ``D`` predicts ``B`` from ``A`` with
    ``Delta = E||B - D(A)||^2`` (squared error summed over coordinates, mean over samples,
    which for an orthogonal ``Q`` equals the reconstruction error of ``X~`` summed over all
    ``n`` coordinates, ``reconstruction_error(x_noisy, per="sample")``). Then

    .. math:: 0 \\le I(X; \\tilde X) - I(X; A) \\le \\frac{m}{2} \\log\\frac{\\Delta}{m \\sigma^2}.

    Proof: ``I(X; X~) - I(X; A) = I(X; B | A) = h(B | A) - h(B | A, X)``. Given ``X``, ``B`` is
    ``QX``'s block plus the block of ``QZ ~ N(0, sigma^2 I)`` (independent of ``A``'s noise), so
    ``h(B | A, X) = (m/2) log(2 pi e sigma^2)``; conditioning reduces entropy, so
    ``h(B | A) >= h(B | A, X)`` (lower bound), and ``h(B | A) = h(B - D(A) | A) <= h(B - D(A))
    <= (m/2) log(2 pi e Delta / m)`` (the Gaussian has maximal entropy for a given second
    moment), giving the upper bound.

    Parameters
    ----------
    n : int
        Ambient dimension of ``X~``.
    n_kept : int
        Kept dimension ``n'`` (``1 <= n_kept <= n``).
    noise_var : float
        ``sigma^2``, the variance of each noise coordinate (data units squared), > 0.
    reconstruction_error : float
        ``Delta`` (data units squared), > 0 when ``n_kept < n``.

    Returns
    -------
    CompressionBound
        ``(lower, upper)`` in nats; ``lower`` is 0. For the true ``Delta``, ``Delta >= m sigma^2``
        always holds; an estimated ``Delta`` slightly below it (sampling noise) gives a negative
        logarithm, which is clipped so that ``upper = 0``. With ``n_kept == n`` both are 0.

    Examples
    --------
    >>> compression_bound(10, 4, 0.01, 0.12)       # Delta twice the noise floor 6 * 0.01
    CompressionBound(lower=0.0, upper=2.0794415416798357)
    """
    n = check_int(n, "n", 1)
    n_kept = check_int(n_kept, "n_kept", 1)
    if n_kept > n:
        raise ValueError(f"n_kept={n_kept} cannot exceed the ambient dimension n={n}")
    noise_var = check_float(noise_var, "noise_var", low=0.0, low_open=True)
    delta = check_float(reconstruction_error, "reconstruction_error", low=0.0)
    m = n - n_kept
    if m == 0:
        return CompressionBound(0.0, 0.0)
    if delta == 0:
        raise ValueError(
            "reconstruction_error is 0 while coordinates are discarded; with noise of variance "
            f"{noise_var} it is at least {m * noise_var} (= (n - n_kept) * noise_var)"
        )
    return CompressionBound(0.0, max(0.0, 0.5 * m * math.log(delta / (m * noise_var))))
