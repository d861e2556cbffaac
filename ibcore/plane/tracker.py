"""Information-plane tracking of a network during training (the paper's Algorithm 2).

After every ``eval_every``-th epoch the tracker runs one unshuffled evaluation pass (eval mode,
noise on, seeded per epoch), codes every analysed layer's output ``L`` as ``C_L`` (by default
the side rule of ``auto``, :mod:`ibcore.compression.auto`, refitted per epoch: the layer as it is
where it is full-dimensional, its intrinsic dimension where it lies on a lower-dimensional set;
the paper's route is PCA to 4 coordinates), and estimates, with 95 % asymptotic confidence
intervals (:meth:`ibcore.Estimate.ci`):

* ``I(L;Y) = I(C_L; Y)`` with the labels of the same pass
  (:func:`ibcore.mutual_information` with discrete ``y``);
* ``I(X;L)`` in one of three modes:

  ``"joint"`` (the authors' code)
      ``h(C_X) + h(C_L) - h(C_X, C_L)`` = ``mutual_information(C_X, C_L)``, where ``C_X`` are
      codes of the evaluation inputs computed once (a conv autoencoder for images).
  ``"noise"`` (Proposition 3 of ``book/theory.md``)
      ``h(C_L~) - h(Z)`` with ``L~ = L + Z``, ``Z ~ N(0, sigma^2 I)`` absolute isotropic noise
      and ``h(Z) = (n'/2) log(2 pi e sigma^2)`` (:func:`ibcore.plane.noise_entropy`) for the
      ``n'`` PCA coordinates. An orthonormal PCA keeps ``P Z ~ N(0, sigma^2 I_n')``, so
      ``I(X; P L~) = h(P L~) - h(P Z)`` exactly **when L is a deterministic function of X**.
      When noise is also injected upstream of the layer (every layer after the first noisy
      one), ``h(L~ | X) >= h(Z)`` and the value is an **upper bound** on ``I(X; P L~)``; each
      row says which (column ``ixl_kind``: ``"exact"`` or ``"upper bound"``; ``"estimate"``
      in joint mode). Relative noise (std ``sigma |x|``) has no constant ``h(Z)``: noise mode
      refuses models with relative noise. By default the tracker adds ``Z`` itself to the
      recorded outputs (``observation_noise=True``, a fresh seeded copy of the channel the next
      layer sees); with ``observation_noise=False`` the recorded outputs must already end with
      the model's own absolute noise (``make_stochastic(..., where="outputs")``).
  ``"exact"`` (:func:`ibcore.plane.mixture_information`)
      No compression and no density estimate: the layer is observed through Gaussian noise,
      ``T = L + sigma Z`` on its full width, ``X`` is uniform over the evaluation rows (a fixed
      seeded subset of ``exact_rows`` of them), and ``I(X;T)`` and ``I(T;Y)`` are computed by
      Monte Carlo over the mixture, with a standard error that ``exact_samples`` sets. ``sigma``
      is ``noise_sigma`` in the layer's units (``sigma_scale="absolute"``) or times the layer's
      per-unit scale at the first pass (``"layer"``, in the noise mode too), fixed for the run;
      a dict gives one per layer. Where the network is noisy upstream of the layer, ``noise_draws`` passes give each
      row's conditional as a mixture of its draws (``ixl_kind`` ``"nested (r draws)"``); without
      upstream noise the value is exact (``"exact"``). Both columns are then this channel's
      information, not an estimate of the paper's.

Each point also carries the TwoNN intrinsic dimension (:func:`ibcore.intrinsic_dimension`) of
the layer output ``L`` and of its code ``C_L`` (columns ``id_layer``, ``id_code``), and in
``manifold`` which of the two estimates met a code near a manifold of lower dimension than its
coordinates (a :class:`ibcore.ManifoldWarning`, collected there instead of printed per layer
and epoch): such an estimate is not to be trusted.

Both values are in nats. The X/L pairing is exact: inputs, labels and every layer output come
from the same pass of :func:`ibcore.plane.collect` (the authors' CIFAR10 notebook in
``VanessB/Information-v3`` paired a shuffled ``C_X`` with unshuffled outputs).

:class:`~ibcore.plane.PlaneRun` (:mod:`ibcore.plane.run`) trains a model and calls the tracker
after every epoch, streaming the results to a resumable run directory.

Your own model
--------------
Any ``nn.Module`` with named layers works through the Python API::

    import torch
    from torch import nn
    from ibcore.plane import InformationPlaneTracker, PlaneRun, make_stochastic

    torch.manual_seed(0)
    x = torch.randn(2000, 10)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()          # 3 classes
    net = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3),
                        nn.LogSoftmax(dim=1))
    make_stochastic(net, sigma=0.05, mode="absolute", where="inputs")  # noise before every Linear
    tracker = InformationPlaneTracker(net, ["1", "3", "5"], x[1000:], y[1000:])  # names from named_modules()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def train_one_epoch():
        opt.zero_grad()
        loss = nn.functional.nll_loss(net(x[:1000]), y[:1000])
        loss.backward()
        opt.step()
        return loss.item()

    run = PlaneRun("runs/toy", {"example": "toy"}, model=net, optimizer=opt, tracker=tracker,
                   train_epoch=train_one_epoch)
    results = run.run(epochs=20)           # re-running the script resumes
    print(results.layer("5")["ily"])       # I(L;Y) of the log-probabilities per epoch, nats

    from ibcore.plane import plot_information_planes
    plot_information_planes(results).savefig("toy_planes.png")

The defaults (``compressor="auto"``, ``method="auto"``, inputs coded once by ``auto``'s side
rule) are the most faithful plane estimator measured against planes whose values are known
(``benchmarks/planes.md``; the decision and its numbers: ``benchmarks/results.md``). The paper's route, ``compressor="pca"``, ``method="wkl"``,
``x_compressor="pca"`` (or a fitted :class:`ibcore.compression.InputEncoder` for images), stays
available by name: :class:`~ibcore.plane.PlaneSettings` uses it.

The ``ibcore plane`` command (:mod:`ibcore.plane.experiment`) runs the paper's MNIST experiment
(its figure 5) with this machinery.
"""
from __future__ import annotations

import warnings

import numpy as np
from torch import nn

from ..compression import DenseAutoencoder, PCACompressor, compressor_names, lossy_mutual_information
from ..compression import make_compressor as registry_compressor
from ..compression.auto import prepare_sides, side_record
from ..device import model_device
from ..estimators import ManifoldWarning, estimate_entropy, get_estimator
from ..estimators.intrinsic import twonn_or_nan
from ..result import Estimate
from ..validation import check_choice, check_int, derived_seed
from .mixture import mixture_information
from .channels import SIGMA_SCALES, check_output_noise, layer_sigmas, noise_mode_sigma, upstream_noise
from .noise import noise_entropy
from .points import LayerPoint
from .recording import LayerRecorder, collect

__all__ = ["InformationPlaneTracker", "LayerPoint", "MI_MODES", "tracker_compressors"]

MI_MODES = ("joint", "noise", "exact")


def tracker_compressors() -> tuple:
    """Layer compressors of the tracker: ``"auto"`` and the registry's compressors of vectors
    (:func:`ibcore.compression.compressor_names`)."""
    return ("auto",) + compressor_names("vectors")


# ----------------------------------------------------------------------------------------------
# per-epoch estimates

class InformationPlaneTracker:
    """Estimate ``I(X;L)`` and ``I(L;Y)`` of chosen layers on a fixed evaluation set.

    Parameters
    ----------
    model : torch.nn.Module
        Any model; it stays where it is (its device is used for the passes).
    layers : str or list of str
        Names from ``model.named_modules()``; an unknown name raises ``ValueError`` listing them.
    data : tensor, array, ``(inputs, labels)`` pair, Dataset or DataLoader
        The evaluation set (read in a fixed order, see :func:`ibcore.plane.collect`).
    labels : tensor or array, optional
        ``(n,)`` integer labels for tensor/array ``data``. The evaluation set must have labels.
    x_codes : array (n, d'), optional
        Precomputed codes ``C_X`` of the evaluation inputs, in the order of ``data``.
    x_compressor : "auto", "pca" or object with ``transform(inputs) -> (n, d')``, default "auto"
        Codes ``C_X``, computed once on the inputs of the first pass: ``"auto"`` codes them by
        the side rule of :mod:`ibcore.compression.auto` (vectors as they are up to its flow
        dimension, images by a dense autoencoder to about their intrinsic dimension); ``"pca"`` is the
        paper's route for vectors, PCA of the flattened inputs to ``min(n_components, d_x)``
        coordinates; an object is a fitted compressor (e.g. :class:`InputEncoder` or
        :class:`ibcore.ConvAutoencoder`). Ignored when ``x_codes`` are given.
    mi_mode : {"joint", "noise", "exact"}, default "joint"
        How ``I(X;L)`` is computed (module docstring); ``"exact"`` computes ``I(L;Y)`` from the
        mixture too.
    noise_sigma : float or dict, optional
        Std of the observation noise of the noise and exact modes, one value or
        ``{layer: value}`` (read per ``sigma_scale``; resolved values in the attribute
        ``sigmas``). Required in exact mode; in noise mode the default is the common ``sigma``
        of the model's absolute :class:`~ibcore.plane.GaussianNoise` modules.
    sigma_scale : {"absolute", "layer"}, default "absolute"
        Noise and exact modes: ``noise_sigma`` in the layer's units, or times the
        root-mean-square per-unit standard deviation of the layer on the first pass (on the
        rows the mode measures; the same channel at every epoch).
    exact_rows : int or None, default 2000
        Exact mode: ``X`` is uniform over this many evaluation rows (a fixed seeded subset;
        ``None``: all). The cost grows as ``exact_rows * exact_samples * width``.
    exact_samples : int, default 10000
        Exact mode: Monte Carlo points per layer and epoch.
    eval_rows : int or None, default None
        Joint and noise modes: estimate on this many evaluation rows (a fixed seeded subset, the
        same at every epoch; ``None``: all). The estimators' cost grows with the rows (the flow
        of ``auto`` about linearly); the passes still run on the whole set.
    noise_draws : int, default 1
        Exact mode: evaluation passes per epoch (differently seeded noise); with noise upstream
        of a layer, each row's conditional is the mixture of its draws.
    observation_noise : bool, default True
        Noise mode only: add ``N(0, noise_sigma^2 I)`` (seeded per epoch and layer) to the
        recorded outputs; ``False`` when the recorded outputs already end with the model's own
        absolute noise.
    compressor : str, optional
        Layer compression, refitted every epoch. Default ``"auto"`` (``"pca"`` in noise mode),
        the most faithful of the plane estimators measured against known planes
        (``benchmarks/planes.md``). ``"pca"`` (orthonormal, no whitening; the paper's), ``"ae"`` (a :class:`ibcore.DenseAutoencoder` with the architecture of the
        authors' layer autoencoders in ``VanessB/Information-v3``; joint mode only), ``"auto"``
        (the side rule of :mod:`ibcore.compression.auto`) or any compressor of the registry
        (:func:`tracker_compressors`).
    n_components : int, default 4
        Code size ``n' = min(n_components, layer dim)``.
    method : str, optional
        Default ``"auto"`` (``"wkl"`` in noise mode, which needs an entropy estimator; ``"wkl"``
        with ``compressor="pca"`` and ``n_components=4`` is the paper's route). ``"auto"`` or any
        method of the registry (:func:`ibcore.estimators.estimator_names`;
        noise mode: an entropy method). Every estimate goes through
        :func:`ibcore.compression.lossy_mutual_information`. A method that cannot take labels
        (``"flow"``) leaves ``I(L;Y)`` to ``"ksg"`` (attribute ``label_method``), as ``auto`` does.
    estimator_options : dict, optional
        Passed to the estimator (e.g. ``{"k": 5}``).
    level : float, default 0.95
        Confidence level of the stored intervals.
    random_state : int, default 0
        Seeds the evaluation noise (per epoch), observation noise, PCA and autoencoders.
    batch_size : int, default 2048
    ae_epochs : int, default 50
        Training epochs of each layer autoencoder (``compressor="ae"``).
    id_samples : int or None, default 1000
        The intrinsic dimension of each layer output is TwoNN on this many evaluation points
        (a fixed seeded subset; ``None``: all). Its cost is one exact 2-NN query in the layer's
        full dimension (cost: ``benchmarks/results.md``, "Notes from development"), its sd
        about ``1.3 d / √id_samples``.
    """

    def __init__(self, model: nn.Module, layers, data, labels=None, *, x_codes=None, x_compressor="auto",
                 mi_mode: str = "joint", noise_sigma: float | None = None, observation_noise: bool = True,
                 compressor: str | None = None, n_components: int = 4, method: str | None = None,
                 estimator_options: dict | None = None, level: float = 0.95, random_state: int = 0,
                 batch_size: int = 2048, ae_epochs: int = 50, id_samples: int | None = 1000,
                 sigma_scale: str = "absolute", exact_rows: int | None = 2000, exact_samples: int = 10_000,
                 noise_draws: int = 1, eval_rows: int | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.layers = list(LayerRecorder(model, layers).layers)  # validates names (lists the known ones)
        if mi_mode not in MI_MODES:
            raise ValueError(f"mi_mode must be one of {MI_MODES}, got {mi_mode!r}")
        if compressor is None:
            compressor = "pca" if mi_mode == "noise" else "auto"
        if method is None:
            method = "wkl" if mi_mode == "noise" else "auto"
        if compressor not in tracker_compressors():
            raise ValueError(f"compressor must be one of {tracker_compressors()}, got {compressor!r}")
        self.mi_mode, self.compressor = mi_mode, compressor
        self.n_components = check_int(n_components, "n_components", 1)
        self.random_state = check_int(random_state, "random_state", 0)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.ae_epochs = check_int(ae_epochs, "ae_epochs", 1)
        self.id_samples = None if id_samples is None else check_int(id_samples, "id_samples", 3)
        if method != "auto":
            get_estimator(method)  # an unknown method fails here, not after the first epoch
        self.method = method
        # a method that cannot take labels (the flow) leaves I(L;Y) to KSG, as auto does
        self.label_method = method if method == "auto" or get_estimator(method).labels else "ksg"
        self.options = dict(estimator_options or {})
        if not 0 < level < 1:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
        self.level = float(level)
        self.data, self.labels_in = data, labels
        self.observation_noise = bool(observation_noise)

        first = collect(model, data, self.layers, labels=labels, random_state=derived_seed(self.random_state, 0),
                        batch_size=self.batch_size)
        if first.labels is None:
            raise ValueError(
                "the evaluation set has no labels: I(L;Y) needs them. Pass labels=..., an "
                "(inputs, labels) pair, or a Dataset/DataLoader yielding (input, label) batches"
            )
        y = first.labels
        if y.ndim != 1 or y.is_floating_point():
            raise ValueError(f"evaluation labels must be a 1-D integer array, got shape {tuple(y.shape)}, dtype {y.dtype}")
        self.labels = y.numpy().astype(np.int64)
        self.n = len(self.labels)
        self.dims = {k: v.shape[1] for k, v in first.outputs.items()}
        m = self.n if self.id_samples is None else min(self.id_samples, self.n)
        self._id_rows = np.sort(np.random.default_rng(derived_seed(self.random_state, 5)).choice(self.n, m, replace=False))
        self.x_codes = self._input_codes(first.inputs, x_codes, x_compressor)
        self.noise_sigma = None
        self.kinds = {name: "estimate" for name in self.layers}
        self.sigma_scale = check_choice(sigma_scale, "sigma_scale", SIGMA_SCALES)
        self.exact_rows = None if exact_rows is None else check_int(exact_rows, "exact_rows", 1)
        self.exact_samples = check_int(exact_samples, "exact_samples", 2)
        self.eval_rows = None if eval_rows is None else check_int(eval_rows, "eval_rows", 10)
        self._eval_index = None
        if self.eval_rows is not None and self.eval_rows < self.n and mi_mode != "exact":
            self._eval_index = np.sort(np.random.default_rng(derived_seed(self.random_state, 10)).choice(
                self.n, self.eval_rows, replace=False))
        self.noise_draws = check_int(noise_draws, "noise_draws", 1)
        self.sigmas: dict[str, float] = {}
        if mi_mode != "joint":
            self._setup_channels(noise_sigma, first)

    # -- setup ----------------------------------------------------------------------------------

    def _input_codes(self, inputs, x_codes, x_compressor) -> np.ndarray | None:
        if self.mi_mode != "joint":  # noise and exact modes do not use codes of the inputs
            return None if x_codes is None else np.asarray(x_codes, dtype=np.float64)
        self.x_record = {"kind": "given"}
        if x_codes is None:
            if isinstance(x_compressor, str):
                if x_compressor not in ("auto", "pca"):
                    raise ValueError(f"x_compressor must be 'auto', 'pca' or a fitted compressor, got {x_compressor!r}")
                if x_compressor == "pca":
                    x_codes = _pca_codes(inputs.reshape(len(inputs), -1).double().numpy(), self.n_components, self.random_state)
                else:
                    arr, self.x_record = side_record(inputs.double().numpy(), "inputs")
                    x_codes = prepare_sides([arr], [self.x_record], derived_seed(self.random_state, 7),
                                            model_device(self.model), False).codes[0]
            elif not hasattr(x_compressor, "transform"):
                raise TypeError("x_compressor must be 'auto', 'pca' or have a transform(inputs) method (a fitted compressor)")
            else:
                x_codes = x_compressor.transform(inputs)
        codes = np.asarray(x_codes.detach().cpu() if hasattr(x_codes, "detach") else x_codes, dtype=np.float64)
        if codes.ndim == 1:
            codes = codes[:, None]
        if codes.ndim != 2 or len(codes) != self.n:
            raise ValueError(f"x_codes must have shape ({self.n}, d') like the evaluation set, got {codes.shape}")
        if not np.isfinite(codes).all():
            raise ValueError("x_codes contain NaN or infinite values")
        return codes

    def _setup_channels(self, noise_sigma, first) -> None:
        """``sigmas`` and ``kinds`` of the noise and exact modes (:mod:`ibcore.plane.channels`)."""
        if self.mi_mode == "noise":
            if self.compressor != "pca":
                raise ValueError("mi_mode='noise' needs compressor='pca': h(Z) is known only after an orthonormal projection")
            if self.method == "auto" or not get_estimator(self.method).estimates_entropy:
                raise ValueError(f"mi_mode='noise' needs an entropy estimator; {self.method!r} estimates MI only")
            self.noise_sigma = noise_mode_sigma(self.model, noise_sigma)
            rows = self._eval_index
        else:
            if noise_sigma is None:
                raise ValueError(
                    "mi_mode='exact' needs noise_sigma: the standard deviation of the Gaussian noise the layers "
                    "are observed through (one value or {layer: value}; sigma_scale='layer' reads it in units "
                    "of each layer's scale)"
                )
            self.noise_sigma = noise_sigma
            rows = np.arange(self.n)
            if self.exact_rows is not None and self.exact_rows < self.n:
                rows = np.sort(np.random.default_rng(derived_seed(self.random_state, 6)).choice(self.n, self.exact_rows,
                                                                                          replace=False))
            self._exact_rows_index = rows
        self.sigmas = layer_sigmas(self.noise_sigma, self.layers, first.outputs, self.sigma_scale, rows)
        # with observation noise the layer's own output noise is upstream of what is observed
        own_counts = self.mi_mode == "exact" or self.observation_noise
        if self.mi_mode == "noise" and not self.observation_noise:
            check_output_noise(self.model, self.sigmas)
        upstream = upstream_noise(self.model, self.layers, first.inputs, model_device(self.model), own_counts)
        draws = f"nested ({self.noise_draws} draw{'s' if self.noise_draws != 1 else ''})"
        nested = "upper bound" if self.mi_mode == "noise" else draws
        self.kinds = {name: nested if upstream[name] else "exact" for name in self.layers}

    # -- one measurement ------------------------------------------------------------------------

    def _layer_compressor(self, out: np.ndarray, epoch: int, index: int):
        """The layer's compressor of this epoch, fitted on its outputs (``"auto"``: left to
        :func:`~ibcore.compression.lossy_mutual_information`)."""
        if self.compressor == "auto":
            return "auto"
        k = min(self.n_components, out.shape[1], self.n - 1)
        if self.compressor == "pca":  # the paper's route, refitted per epoch; constant components dropped
            return PCACompressor(k, random_state=self.random_state, drop_degenerate=True).fit(out)
        seed = derived_seed(self.random_state, epoch, index, 2)
        if self.compressor == "ae":  # the paper's layer autoencoder (its authors' code, VanessB/Information-v3)
            comp = DenseAutoencoder(k, hidden=(24, 16), dropout=0.1, latent_activation="sigmoid",
                                    epochs=self.ae_epochs, random_state=seed, device=model_device(self.model), progress=False)
        else:
            comp = registry_compressor(self.compressor, k, kind="vectors", random_state=seed,
                                       device=model_device(self.model))
        return comp.fit(out)

    def measure(self, epoch: int, *, perturb=None) -> list[LayerPoint]:
        """One evaluation pass and the estimates for every layer (the pass is seeded by ``epoch``).

        Parameters
        ----------
        epoch : int
        perturb : callable, optional
            ``perturb(outputs) -> outputs`` applied to each layer's recorded outputs ``(n, dim)``
            before they are compressed: how the audit (:mod:`ibcore.reproduce.audit`) measures
            how far rounding differences of the forward pass move each estimate.

        Returns
        -------
        list of LayerPoint
            In the order of ``layers``.
        """
        epoch = check_int(epoch, "epoch", 0)
        if self.mi_mode == "exact":
            return self._measure_exact(epoch, perturb)
        outputs = self._passes(epoch, 1)[0]
        points = []
        for i, name in enumerate(self.layers):
            out = outputs[name]
            if perturb is not None:
                out = perturb(out)
            if self.mi_mode == "noise" and self.observation_noise:
                rng = np.random.default_rng(derived_seed(self.random_state, epoch, i, 3))
                out = out + self.sigmas[name] * rng.standard_normal(out.shape)
            full = out
            labels, x_codes = self.labels, self.x_codes
            if self._eval_index is not None:  # the estimates on a fixed subset of the evaluation rows
                out, labels = out[self._eval_index], labels[self._eval_index]
                x_codes = None if x_codes is None else x_codes[self._eval_index]
            try:
                comp = self._layer_compressor(out, epoch, i)
                common = {"random_state": self.random_state, "device": model_device(self.model), **self.options,
                          "manifold": "record"}
                label_options = common if self.label_method == self.method else {
                    k: v for k, v in common.items() if k not in self.options}
                ily = lossy_mutual_information(out, labels, self.label_method, compressor_x=comp,
                                               discrete_y=True, code_dimension=True, **label_options)
                flagged = ["ily"] if ily.manifold else []
                if self.mi_mode == "joint":
                    ixl = lossy_mutual_information(x_codes, out, self.method, compressor_y=comp, **common)
                    flagged += ["ixl"] if ixl.manifold else []
                    ixl = ixl.estimate
                else:
                    codes = comp.transform(out)
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        h = estimate_entropy(codes, self.method, **self.options)
                    for w in caught:  # a manifold warning is recorded in the point, any other shown
                        if issubclass(w.category, ManifoldWarning):
                            flagged.append("ixl")
                        else:
                            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
                    ixl = Estimate(h.value - noise_entropy(codes.shape[1], self.sigmas[name]), h.std)
            except ValueError as exc:
                raise ValueError(f"layer {name!r}, epoch {epoch}: {exc}") from exc
            # an interval entirely below zero is no mutual information: flagged like a manifold
            flagged += [k for k, e in (("ixl", ixl), ("ily", ily.estimate)) if e.ci(self.level)[1] < 0]
            points.append(LayerPoint(name, self.dims[name], ily.code_dim_x, ixl, ily.estimate, self.kinds[name],
                                     id_layer=twonn_or_nan(full[self._id_rows]),
                                     id_code=ily.details["x"]["code_intrinsic_dim"],
                                     manifold="+".join(sorted(set(flagged), reverse=True))))
        return points

    def _passes(self, epoch: int, draws: int) -> list[dict]:
        """``draws`` evaluation passes of this epoch (the first is the pass of the other modes)."""
        passes = []
        for k in range(draws):
            seed = derived_seed(self.random_state, epoch, 1) if k == 0 else derived_seed(self.random_state, epoch, 1, k)
            col = collect(self.model, self.data, self.layers, labels=self.labels_in, random_state=seed,
                          batch_size=self.batch_size, keep_inputs=False)
            if col.labels is None or not np.array_equal(col.labels.numpy(), self.labels):
                raise RuntimeError("the evaluation set changed order or labels between passes; use a fixed, "
                                   "map-style dataset or tensors")
            passes.append(col.outputs)
        return passes

    def _measure_exact(self, epoch: int, perturb) -> list[LayerPoint]:
        passes = self._passes(epoch, self.noise_draws)
        rows = self._exact_rows_index
        labels = self.labels[rows]
        points = []
        for i, name in enumerate(self.layers):
            draws = []
            for outputs in passes:
                out = outputs[name]
                if perturb is not None:
                    out = perturb(out)
                draws.append(out[rows])
            res = mixture_information(np.stack(draws, axis=1), self.sigmas[name], labels,
                                      samples=self.exact_samples, random_state=derived_seed(self.random_state, epoch, i, 4),
                                      device=model_device(self.model))
            points.append(LayerPoint(name, self.dims[name], self.dims[name], res.ixt, res.ity, self.kinds[name],
                                     id_layer=twonn_or_nan(passes[0][name][self._id_rows])))
        return points


def _pca_codes(data: np.ndarray, k: int, seed: int) -> np.ndarray:
    """PCA codes (orthonormal projection, no whitening) with at most ``k`` coordinates, the
    components without variance dropped (:class:`~ibcore.compression.PCACompressor`)."""
    k = min(int(k), data.shape[1], len(data) - 1)
    return PCACompressor(k, random_state=seed, drop_degenerate=True).fit(data).transform(data)
