"""The one table of estimation methods: name -> what it estimates, what it takes, its options.

Every other part of ibcore (the estimator functions, the settings of both algorithms, the
tracker, the command line, the plots' labels, the claims and the book) reads method names and
their properties from here, so a method is added in one place: :func:`register_estimator`, or,
for a separate package, an entry point in the group ``"ibcore.estimators"`` whose object is an
:class:`EstimatorSpec` (or a callable returning one)::

    # pyproject.toml of a plug-in package
    [project.entry-points."ibcore.estimators"]
    gauss = "my_package.estimators:GAUSS_SPEC"

An entropy method (``entropy`` set) gives mutual information too, from the pointwise terms of
its entropies (``ĥ(X) + ĥ(Y) - ĥ(X,Y)``, or ``ĥ(X) - Σ_y p̂(y) ĥ(X|Y=y)`` for labels); a method
with only ``pointwise`` or ``mi`` estimates mutual information alone.
"""
from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from types import MappingProxyType

from ..registry import Registry

__all__ = ["EstimatorSpec", "register_estimator", "unregister_estimator", "get_estimator", "estimator_names",
           "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "ibcore.estimators"
FAMILIES = ("knn", "kde", "neural", "flow", "other")


def _lazy(module: str, name: str) -> Callable:
    """A callable that imports ``module.name`` on first call (the built-in methods live in
    modules that import this one)."""
    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)
    call.__qualname__ = call.__name__ = f"{module}.{name}"
    return call


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
    """One estimation method.

    Parameters
    ----------
    name : str
        The method's name, e.g. ``"wkl"`` (what ``method=`` takes everywhere).
    label : str
        How figures and tables name it.
    family : {"knn", "kde", "neural", "flow", "other"}
        Kind of estimator (the claims compare families).
    entropy : callable, optional
        ``entropy(**options)`` returns an unfitted entropy estimator: a subclass of
        :class:`ibcore.estimators.EntropyEstimator` (``fit(x) -> self``, ``score_samples()``,
        ``estimate() -> Estimate``). Makes this an entropy method.
    pointwise : callable, optional
        ``pointwise(x, y, codes, classes, counts, **options)`` returns the ``(n,)`` pointwise MI
        terms (nats) of whitened-or-raw float arrays ``x (n, d_x)``, ``y (n, d_y)`` or labels
        ``codes (n,)`` with ``classes`` and ``counts``. Entropy methods need none.
    mi : callable, optional
        ``mi(x, y, *, discrete_y=None, **options) -> Estimate``: for methods without pointwise
        terms (neural bounds, held-out scores).
    labels : bool
        Whether the partner ``y`` may be discrete labels.
    options : tuple of str
        Option names the method accepts (``rescale``, ``k``, ...).
    mi_options : tuple of str
        Further options of its mutual information only (e.g. KDE's ``share_bandwidth``).
    defaults : mapping
        Defaults that differ from the estimator's own (e.g. ``{"k": 1}``).
    color : str, optional
        Matplotlib colour of its curves.
    images : bool
        Takes images ``(n, H, W)`` as they are (a convolutional critic); others get vectors.
    in_paper : bool
        One of the five estimators of Butakov et al. (ICLR 2024), whose claims
        :mod:`ibcore.reproduce.claims` checks.
    """

    name: str
    label: str
    family: str = "other"
    entropy: Callable | None = None
    pointwise: Callable | None = None
    mi: Callable | None = None
    labels: bool = True
    options: tuple = ()
    mi_options: tuple = ()
    defaults: Mapping = dataclasses.field(default_factory=dict)
    color: str | None = None
    images: bool = False
    in_paper: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or self.name == "auto":
            raise ValueError(f"an estimator needs a name other than 'auto', got {self.name!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.entropy is None and self.pointwise is None and self.mi is None:
            raise ValueError(f"estimator {self.name!r} needs entropy, pointwise or mi")
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "mi_options", tuple(self.mi_options))
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    @property
    def estimates_entropy(self) -> bool:
        return self.entropy is not None

    @property
    def has_pointwise(self) -> bool:
        """Whether it has per-sample MI terms (entropy methods and ``pointwise``)."""
        return self.mi is None


_KNN = ("rescale", "backend", "device", "jitter", "random_state", "check_manifold")
_KDE = ("rescale", "device", "jitter", "random_state", "check_manifold")
_E = "ibcore.estimators.entropy"
_M = "ibcore.estimators.mutual_information"

def _builtin() -> tuple:
    from .flow import FLOW_OPTIONS
    from .mine import MINE_OPTIONS

    return (
        EstimatorSpec("kde-ml", "KDE, ML bandwidth", "kde", entropy=_lazy(_E, "kde_ml"), options=_KDE,
                      mi_options=("share_bandwidth",), color="#1f77b4", in_paper=True),
        EstimatorSpec("kde-lse", "KDE, LSE bandwidth", "kde", entropy=_lazy(_E, "kde_lse"), options=_KDE,
                      mi_options=("share_bandwidth",), color="#9467bd", in_paper=True),
        EstimatorSpec("kl", "KL (1-NN)", "knn", entropy=_lazy(_E, "KLEntropy"),
                      options=("k",) + _KNN, defaults={"k": 1}, color="#2ca02c", in_paper=True),
        EstimatorSpec("wkl", "weighted KL", "knn", entropy=_lazy(_E, "WKLEntropy"), options=("k",) + _KNN,
                      defaults={"k": None}, color="#d62728", in_paper=True),
        EstimatorSpec("ksg", "KSG", "knn", pointwise=_lazy(_M, "ksg_terms"),
                      options=("k", "rescale", "device", "backend", "jitter", "random_state"), defaults={"k": 3},
                      color="#ff7f0e"),
        EstimatorSpec("mine", "MINE", "neural", mi=_lazy("ibcore.estimators.mine", "mine_mutual_information"),
                      options=tuple(MINE_OPTIONS), color="#8c564b", images=True,
                      in_paper=True),
        EstimatorSpec("flow", "normalizing flows", "flow",
                      mi=_lazy("ibcore.estimators.flow", "flow_mutual_information"), labels=False,
                      options=tuple(FLOW_OPTIONS), color="#e377c2"),
    )


_TABLE = Registry("estimator", EstimatorSpec, ENTRY_POINT_GROUP, _builtin)


def register_estimator(spec: EstimatorSpec, *, replace: bool = False) -> EstimatorSpec:
    """Add a method to the table; every part of ibcore offers it from then on.

    Parameters
    ----------
    spec : EstimatorSpec
    replace : bool
        Allow replacing a method of the same name (otherwise a ``ValueError``).

    Returns
    -------
    EstimatorSpec
        ``spec``.
    """
    return _TABLE.register(spec, replace=replace)


def unregister_estimator(name: str) -> None:
    """Remove a method (a ``KeyError`` when there is none of that name)."""
    _TABLE.unregister(name)


def get_estimator(name: str, *, purpose: str = "mutual_information") -> EstimatorSpec:
    """The spec of ``name``; a ``ValueError`` that lists the methods when it is unknown.

    ``purpose`` (``"entropy"`` or ``"mutual_information"``) restricts the choice and names the
    caller in the message."""
    return _TABLE.get(name, estimator_names("entropy" if purpose == "entropy" else "mi"), context=purpose)


def estimator_names(estimates: str = "mi", *, labels: bool | None = None, family: str | None = None,
                    pointwise: bool | None = None, in_paper: bool | None = None) -> tuple:
    """Names of the registered methods, in registration order.

    Parameters
    ----------
    estimates : {"mi", "entropy"}
        Methods that estimate mutual information (all of them) or entropy.
    labels : bool, optional
        Only methods that take (``True``) or do not take (``False``) discrete partners.
    family : str, optional
        Only this family (``"knn"``, ``"kde"``, ...).
    pointwise : bool, optional
        Only methods with (``True``) or without (``False``) per-sample MI terms.
    in_paper : bool, optional
        Only the paper's estimators (``True``) or the others (``False``).
    """
    if estimates not in ("mi", "entropy"):
        raise ValueError(f"estimates must be 'mi' or 'entropy', got {estimates!r}")
    return tuple(s.name for s in _TABLE
                 if (estimates == "mi" or s.estimates_entropy)
                 and (labels is None or s.labels == labels)
                 and (family is None or s.family == family)
                 and (pointwise is None or s.has_pointwise == pointwise)
                 and (in_paper is None or s.in_paper == in_paper))
