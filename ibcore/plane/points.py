"""One point of one layer's information plane, as the tracker returns it and a run stores it."""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..result import Estimate

__all__ = ["LayerPoint"]


@dataclass(frozen=True)
class LayerPoint:
    """One point of one layer's information plane.

    Attributes
    ----------
    layer : str
    dim : int
        Flattened output dimension of the layer.
    n_components : int
        Dimension ``n'`` of the compressed code ``C_L``.
    ixl, ily : Estimate
        ``I(X;L)`` and ``I(L;Y)`` in nats with their standard errors.
    ixl_kind : str
        ``"estimate"`` (joint mode), ``"exact"`` or ``"upper bound"`` (noise mode, see the
        module docstring).
    id_layer, id_code : float
        TwoNN intrinsic dimension (:func:`ibcore.intrinsic_dimension`) of the layer output ``L``
        (on a fixed subsample of the evaluation set, see ``id_samples``) and of its code ``C_L``;
        NaN where it could not be computed (repeated rows).
    manifold : str
        Which estimates are not to be trusted: they raised a :class:`ibcore.ManifoldWarning` (a
        sample near a manifold of lower dimension than its coordinates) or their interval lies
        entirely below zero. ``""``, ``"ixl"``, ``"ily"`` or ``"ixl+ily"``; such points are left
        out of phase detection (:func:`ibcore.plane.trusted_points`). The tracker collects the
        warnings here instead of printing one per layer and epoch.
    """

    layer: str
    dim: int
    n_components: int
    ixl: Estimate
    ily: Estimate
    ixl_kind: str
    id_layer: float = math.nan
    id_code: float = math.nan
    manifold: str = ""

    def row(self, level: float = 0.95) -> dict:
        ixl_lo, ixl_hi = self.ixl.ci(level)
        ily_lo, ily_hi = self.ily.ci(level)
        return {"layer": self.layer, "dim": self.dim, "n_components": self.n_components,
                "ixl": self.ixl.value, "ixl_std": self.ixl.std, "ixl_low": ixl_lo, "ixl_high": ixl_hi,
                "ixl_kind": self.ixl_kind, "ily": self.ily.value, "ily_std": self.ily.std,
                "ily_low": ily_lo, "ily_high": ily_hi, "id_layer": self.id_layer, "id_code": self.id_code,
                "manifold": self.manifold}
