"""The one table of compressors: name -> how to make one, what it takes, how figures show it.

The synthetic benchmark (``SweepSettings.compressors``, ``ibcore synthetic --compressor``), the
plane tracker (``compressor=``), :func:`ibcore.compression.lossy_mutual_information` (a name in
place of a compressor object) and the figures' colours read compressors from here. A new one is
added with :func:`register_compressor`, or from a separate package with an entry point in the
group ``"ibcore.compressors"`` whose object is a :class:`CompressorSpec` (or a callable returning
one)::

    [project.entry-points."ibcore.compressors"]
    randproj = "my_package.compressors:RANDPROJ_SPEC"

A compressor is a scikit-learn transformer: ``fit(x) -> self``, ``transform(x) -> codes
(n, n_components)``, with learned state in attributes ending in ``_``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..registry import Registry

__all__ = ["CompressorSpec", "register_compressor", "unregister_compressor", "get_compressor",
           "compressor_names", "make_compressor", "ENTRY_POINT_GROUP", "NONE"]

ENTRY_POINT_GROUP = "ibcore.compressors"
#: the name of "no compression" (the data is estimated on as it is)
NONE = "none"
KINDS = ("vectors", "images")


@dataclasses.dataclass(frozen=True)
class CompressorSpec:
    """One compressor.

    Parameters
    ----------
    name : str
        What ``compressor=`` takes, e.g. ``"pca"``.
    label : str
        How figures and tables name it.
    make : callable
        ``make(n_components, *, kind, image_size, random_state, device, progress, **options)``
        returns an unfitted transformer for samples of ``kind`` (``"vectors"`` ``(n, d)`` or
        ``"images"`` ``(n, S, S)`` with ``image_size = S``); ``progress``: whether its training
        may show a progress bar.
    kinds : tuple of str
        The kinds it takes.
    color : str, optional
        Matplotlib colour of the curves of estimates on its codes.
    """

    name: str
    label: str
    make: Callable
    kinds: tuple = KINDS
    color: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or self.name in (NONE, "auto"):
            raise ValueError(f"a compressor needs a name other than {NONE!r} and 'auto', got {self.name!r}")
        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        if not kinds or any(k not in KINDS for k in kinds):
            raise ValueError(f"kinds must be among {KINDS}, got {self.kinds!r}")
        object.__setattr__(self, "kinds", kinds)


def _pca(n_components, *, kind, image_size=None, random_state=None, device="auto", progress=False, **options):
    from .pca import PCACompressor

    return PCACompressor(n_components, random_state=random_state, **options)


def _autoencoder(n_components, *, kind, image_size=None, random_state=None, device="auto", progress=False,
                 **options):
    from .autoencoders import ConvAutoencoder, DenseAutoencoder

    options.setdefault("progress", progress)
    if kind == "images":
        return ConvAutoencoder(n_components, image_size=image_size, random_state=random_state, device=device, **options)
    return DenseAutoencoder(n_components, random_state=random_state, device=device, **options)


def _flow(n_components, *, kind, image_size=None, random_state=None, device="auto", progress=False,
          base_options=None, **options):
    from .flow import FlowCompressor

    base = _autoencoder(n_components, kind=kind, image_size=image_size, random_state=random_state, device=device,
                        progress=progress, **(base_options or {}))
    return FlowCompressor(base, random_state=random_state, device=device, progress=base.progress, **options)


def _builtin() -> tuple:
    return (
        CompressorSpec("ae", "autoencoder", _autoencoder, color="#2ca02c"),
        CompressorSpec("pca", "PCA", _pca, color="#ff7f0e"),
        CompressorSpec("flow", "autoencoder + flow", _flow, color="#8c564b"),
    )


_TABLE = Registry("compressor", CompressorSpec, ENTRY_POINT_GROUP, _builtin)


def register_compressor(spec: CompressorSpec, *, replace: bool = False) -> CompressorSpec:
    """Add a compressor to the table (a ``ValueError`` for a taken name unless ``replace``);
    returns ``spec``."""
    return _TABLE.register(spec, replace=replace)


def unregister_compressor(name: str) -> None:
    """Remove a compressor (a ``KeyError`` when there is none of that name)."""
    _TABLE.unregister(name)


def compressor_names(kind: str | None = None, *, none: bool = False) -> tuple:
    """Names of the registered compressors (for samples of ``kind`` only, when given), in
    registration order; ``none=True`` appends :data:`NONE`."""
    names = tuple(s.name for s in _TABLE if kind is None or kind in s.kinds)
    return names + ((NONE,) if none else ())


def get_compressor(name: str) -> CompressorSpec:
    """The spec of ``name``; a ``ValueError`` listing the compressors when it is unknown."""
    return _TABLE.get(name)


def make_compressor(name: str, n_components: int, *, kind: str = "vectors", image_size: int | None = None,
                    random_state=None, device="auto", progress: bool = False, **options):
    """An unfitted compressor ``name`` with ``n_components`` outputs for samples of ``kind``;
    ``None`` for :data:`NONE`."""
    if name == NONE:
        return None
    spec = get_compressor(name)
    if kind not in spec.kinds:
        raise ValueError(f"compressor {name!r} takes {' or '.join(spec.kinds)}, not {kind}")
    return spec.make(n_components, kind=kind, image_size=image_size, random_state=random_state, device=device,
                     progress=progress, **options)
