"""The shared part of the torch autoencoders: options, the training loop call, encoding in
batches, reconstruction error, and save/load through ``torch.load(weights_only=True)``.
Subclasses (:mod:`ibcore.compression.autoencoders`) build the encoder and decoder networks."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ..device import resolve_device
from ..nn import make_generator, seeded, split_indices, to_tensor, train_loop
from ..validation import check_choice, check_fitted, check_float, check_int, check_seed
from .base import as_flat, check_per, squared_error

__all__ = ["TorchAutoencoder"]


class TorchAutoencoder(TransformerMixin, BaseEstimator):
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
        check_seed(self.random_state, "random_state")
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
        tr, va = split_indices(len(data), float(self.validation_fraction), self.random_state)
        if len(tr) < 2:
            raise ValueError(f"training needs at least 2 samples, got {len(tr)}")
        with seeded(self.random_state):
            encoder, decoder = self._build()
        self.encoder_, self.decoder_ = encoder.to(device), decoder.to(device)
        self.device_ = device
        xt = to_tensor(data[tr], device)
        xv = to_tensor(data[va], device) if len(va) else None
        gen = make_generator(self.random_state, device)
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
        check_fitted(self, "encoder_")
        return self._run(self.encoder_, self._prepare(x))

    def inverse_transform(self, codes) -> np.ndarray:
        """Decoded samples (images as (n, H, W); vectors as (n, d)) in the data's units."""
        check_fitted(self, "decoder_")
        c, _ = as_flat(codes, "codes")
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
        check_per(per)
        check_fitted(self, "encoder_")
        net_in = self._prepare(x)
        rec = self._to_output(self._run(self.decoder_, self._run(self.encoder_, net_in).astype(np.float32)))
        x_flat = self._data_flat(x)
        return squared_error(x_flat, rec.reshape(len(rec), -1), per)

    # persistence --------------------------------------------------------------------------

    def save(self, path) -> None:
        """Save options, learned attributes and weights with ``torch.save`` (a plain dict).

        Load with :meth:`load` (``torch.load(..., weights_only=True)``: no pickled code runs).
        """
        import torch

        check_fitted(self, "encoder_")
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
        if "seed" in config:  # written before the option took scikit-learn's name
            config["random_state"] = config.pop("seed")
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
