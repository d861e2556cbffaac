"""Self-consistency checks of an MI estimator on data without a known answer.

Song & Ermon (ICLR 2020, "Understanding the Limitations of Variational Mutual Information
Estimators") list properties that every mutual-information estimate must have on any data, whatever
the true value: shuffled pairs carry no information, processing cannot create information, and two
independent copies of a pair carry twice its information. :func:`consistency_checks` runs the three
tests with one method and its options and tells, for each, whether the estimates agree within their
standard errors.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy.special import ndtri

from .api import mutual_information
from .estimators import get_estimator
from .report import markdown_table
from .result import Estimate
from .validation import (as_real_array, check_float, check_same_length, check_seed, is_discrete_labels,
                         seed_sequence)

__all__ = ["consistency_checks", "ConsistencyCheck", "ConsistencyReport", "CHECKS"]

#: the checks :func:`consistency_checks` knows, in the order it runs them
CHECKS = ("independence", "data_processing", "additivity")
MIN_SAMPLES = 10
#: default allowance (nats) added to every tolerance, on top of the z-test (see consistency_checks)
FLOOR = 0.03
#: default factor on the estimators' standard errors, whose spread over samples exceeds their
#: reported std (benchmarks/consistency.md, column "spread / std")
STD_SCALE = 1.25


@dataclasses.dataclass(frozen=True)
class ConsistencyCheck:
    """The outcome of one check.

    Attributes
    ----------
    name : {"independence", "data_processing", "additivity"}
    claim : str
        What must hold, e.g. ``"I(X; shuffled Y) = 0"``.
    estimate : Estimate
        The estimate under test (nats): I(X; shuffled Y), the MI of the degraded pair, or the MI of
        the concatenated halves.
    reference : Estimate
        What it is compared with (nats): 0 (with std 0), I(X;Y) on the whole sample, or the sum of
        the estimates on the two halves.
    relation : {"=", "<="}
        ``"="``: passes when ``|difference| <= tolerance``; ``"<="``: passes when
        ``difference <= tolerance`` (the estimate may lie below its reference by any amount).
    difference : float
        ``estimate.value - reference.value``, nats.
    std : float
        ``sqrt(estimate.std² + reference.std²)``, nats: the standard error of the difference were
        the two estimates independent (they are computed from overlapping samples and are positively
        correlated, so this overstates it and the test errs on the side of passing).
    z : float
        The normal quantile of the test (two-sided for ``"="``, one-sided for ``"<="``).
    std_scale : float
        Factor on ``std`` (the reported standard errors run small, see :func:`consistency_checks`).
    floor : float
        Allowance added to ``z · std_scale · std``, nats.
    tolerance : float
        ``z · std_scale · std + floor``, nats.
    passed : bool
    note : str
        How the sample was transformed (which side was degraded and how, the half size, ...).
    """

    name: str
    claim: str
    estimate: Estimate
    reference: Estimate
    relation: str
    difference: float
    std: float
    z: float
    std_scale: float
    floor: float
    tolerance: float
    passed: bool
    note: str

    def to_dict(self) -> dict:
        """Plain JSON-ready values (estimates as ``{"value", "std"}``; nats)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("estimate", "reference"):
            out[key] = {"value": self.estimate.value if key == "estimate" else self.reference.value,
                        "std": self.estimate.std if key == "estimate" else self.reference.std}
        out["passed"] = bool(self.passed)
        return out


@dataclasses.dataclass(frozen=True)
class ConsistencyReport:
    """The checks of :func:`consistency_checks`.

    Attributes
    ----------
    checks : list of ConsistencyCheck
        In the order of :data:`CHECKS`.
    method : str
        The estimation method.
    n : int
        Number of pairs of the sample.
    level : float
        Family-wise confidence level: an estimator that has no bias and honest standard errors
        passes all the checks with at least this probability.
    labels : bool
        Whether ``y`` was read as discrete labels.
    """

    checks: list
    method: str
    n: int
    level: float
    labels: bool = False

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> ConsistencyCheck:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no {name!r} check in this report; it has {[c.name for c in self.checks]}")

    def rows(self) -> list:
        """One row of text cells per check (the columns of :meth:`to_markdown`)."""
        return [[c.name, c.claim, f"{c.estimate.value:.3f} ± {c.estimate.std:.3f}",
                 f"{c.reference.value:.3f} ± {c.reference.std:.3f}", f"{c.difference:+.3f}",
                 f"{'±' if c.relation == '=' else '≤ '}{c.tolerance:.3f}", "yes" if c.passed else "NO"]
                for c in self.checks]

    HEADER = ("check", "claim", "estimate", "reference", "difference", "tolerance", "passed")

    def summary(self) -> str:
        """One line: method, sample size, level and how many checks passed."""
        ok = sum(c.passed for c in self.checks)
        return (f"consistency checks of method {self.method!r} on n = {self.n} pairs"
                f"{' (y: labels)' if self.labels else ''}, {100 * self.level:g} % family-wise level: "
                f"{ok} of {len(self.checks)} passed (nats)")

    def to_markdown(self) -> str:
        """A Markdown table of the checks, under :meth:`summary`."""
        return self.summary() + "\n\n" + markdown_table(self.HEADER, self.rows())

    def _repr_markdown_(self) -> str:  # Jupyter shows the table
        return self.to_markdown()

    def __str__(self) -> str:
        table = [list(self.HEADER)] + self.rows()
        widths = [max(len(r[j]) for r in table) for j in range(len(self.HEADER))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        notes = [f"  {c.name}: {c.note}" for c in self.checks]
        return "\n".join([self.summary(), *lines, *notes])

    def to_dict(self) -> dict:
        """Plain JSON-ready values: ``passed``, ``method``, ``n``, ``level``, ``labels`` and
        ``checks`` (each :meth:`ConsistencyCheck.to_dict`)."""
        return {"passed": self.passed, "method": self.method, "n": self.n, "level": self.level,
                "labels": self.labels, "checks": [c.to_dict() for c in self.checks]}


def _check_names(checks) -> tuple:
    if isinstance(checks, str):
        checks = (checks,)
    if not isinstance(checks, Sequence) or isinstance(checks, (bytes, bytearray)):
        raise TypeError(f"checks must be a name or a sequence of names from {CHECKS}, got {checks!r}")
    names = list(checks)
    if not names:
        raise ValueError(f"checks is empty; choose from {CHECKS}")
    for c in names:
        if not isinstance(c, str) or c not in CHECKS:
            raise ValueError(f"unknown check {c!r}; choose from {', '.join(CHECKS)}")
    if len(set(names)) < len(names):
        raise ValueError(f"checks names a check twice: {names}")
    return tuple(c for c in CHECKS if c in names)


def _rng(random_state, name: str) -> np.random.Generator:
    return np.random.default_rng(None if random_state is None else seed_sequence(random_state, name))


def _concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two samples side by side: vectors (and labels) by columns, images along their width."""
    if a.ndim == 1:
        return np.column_stack([a, b])
    return np.concatenate([a, b], axis=-1 if a.ndim >= 3 else 1)


def _degrade(a: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A processed copy of ``a``: images with a random half of their pixels masked (set to the
    pixel's mean), vectors with Gaussian noise of each column's own standard deviation added."""
    if a.ndim >= 3:
        mask = np.zeros(int(np.prod(a.shape[1:])), dtype=bool)
        mask[rng.permutation(mask.size)[: mask.size // 2]] = True
        mask = mask.reshape(a.shape[1:])
        out = np.array(a, dtype=np.float64)
        out[:, mask] = out[:, mask].mean(axis=0)
        return out, f"{int(mask.sum())} of {mask.size} pixels masked (set to their mean)"
    a = np.asarray(a, dtype=np.float64)
    scale = a.std(axis=0)
    return a + rng.standard_normal(a.shape) * scale, "Gaussian noise of each column's std added (SNR 1)"


def _check(name, claim, estimate, reference, relation, z, scale, floor, note) -> ConsistencyCheck:
    diff = estimate.value - reference.value
    std = math.hypot(estimate.std, reference.std)
    tol = z * scale * std + floor
    passed = abs(diff) <= tol if relation == "=" else diff <= tol
    return ConsistencyCheck(name, claim, Estimate(estimate.value, estimate.std), reference, relation, diff, std,
                            z, scale, floor, tol, bool(passed), note)


def consistency_checks(x, y, method: str = "auto", *, checks=CHECKS, random_state=0, level: float = 0.95,
                       floor: float = FLOOR, std_scale: float = STD_SCALE, discrete_y: bool | None = None,
                       estimate: Estimate | None = None, **options) -> ConsistencyReport:
    """Tests that any mutual-information estimator must pass on any data (Song & Ermon, ICLR 2020).

    Parameters
    ----------
    x : array_like (n, d_x), (n,), (n, H, W) or (n, C, H, W)
        Samples of X: vectors or images (for the methods that take them, e.g. ``"auto"``).
    y : array_like, the same kinds, or labels
        Samples of Y paired row by row with ``x``; a 1-D integer array (or ``discrete_y=True``) is
        read as discrete labels, as in :func:`ibcore.mutual_information`.
    method : str, default "auto"
        ``"auto"`` or a registered method (:func:`ibcore.estimators.estimator_names`). Note that
        ``"auto"`` can take tens of seconds per estimate on a CPU.
    checks : str or sequence of str, default all of :data:`CHECKS`
        Which checks to run (each costs the estimates listed below):

        ``"independence"`` (1 estimate)
            ``I(X; Y[π]) = 0`` with the rows of y permuted by a random π.
        ``"data_processing"`` (2 estimates, 1 with ``estimate`` given)
            ``I(X; g(Y)) <= I(X; Y)``. Vectors are degraded by adding Gaussian noise with each
            column's own standard deviation, images by masking a random half of their pixels (the
            same pixels in every image, set to their mean). When y are labels, x is degraded
            instead: ``I(g(X); Y) <= I(X; Y)`` holds just the same.
        ``"additivity"`` (3 estimates)
            The sample is split at random into halves ``(X1, Y1)``, ``(X2, Y2)`` of ``n // 2``
            pairs, independent copies of the pair, so
            ``I([X1, X2]; [Y1, Y2]) = I(X1; Y1) + I(X2; Y2)``: the estimate on the concatenated
            halves (vectors side by side, images along their width, labels as label pairs) is
            compared with the sum of the estimates on each half, all on ``n // 2`` pairs so that
            their finite-sample biases are comparable.
    random_state : int or None, default 0
        Seeds the permutation, the split and the degradation; also passed to the estimator when it
        takes a ``random_state`` (``"auto"``, ``"flow"``, ``"mine"``, the kNN jitter).
    level : float, default 0.95
        Family-wise confidence level: each of the ``m`` checks is a z-test at level
        ``1 - (1 - level) / m`` (Bonferroni), so that an unbiased estimator with honest standard
        errors fails one or more with probability at most ``1 - level``.
    floor : float, default 0.03
        Allowance in nats added to every tolerance (finite-sample bias, rounding).
    std_scale : float, default 1.25
        Factor (>= 1) on the standard error of each difference: the reported standard errors of
        the kNN estimators run small against the spread of the estimates over fresh samples (see
        Notes, and the calibration column of ``benchmarks/coverage.md``). ``1`` is the plain z-test.
    discrete_y : bool, optional
        As :func:`ibcore.mutual_information`.
    estimate : Estimate, optional
        I(X;Y) of the whole sample by the same method and options, when the caller has it already
        (the data-processing check then needs one estimate fewer).
    **options
        Passed to :func:`ibcore.mutual_information` (``k``, ``device``, ...).

    Returns
    -------
    ConsistencyReport
        ``.checks`` (each with its estimates, difference, tolerance and ``passed``), ``.passed``
        (all of them), ``str()`` a text table, ``to_markdown()``, ``to_dict()``.

    Raises
    ------
    ValueError, TypeError
        Bad arguments (unknown check or method, level outside (0, 1), fewer than 10 pairs, rows of
        x and y that differ in number, ...); an estimator's own error is raised with the name of the
        check that met it (e.g. additivity with labels: label pairs with too few samples per class).

    Notes
    -----
    Each check is a z-test on the difference of two estimates, ``d = Î_test - Î_ref`` with
    ``σ_d = sqrt(σ_test² + σ_ref²)`` from the estimators' own standard errors (:class:`Estimate`):
    it passes when ``|d| <= z · std_scale · σ_d + floor`` (``d <= ...`` for data processing, a
    one-sided claim), with ``z`` the normal quantile of the Bonferroni level. ``σ_d`` treats the
    two estimates as independent; they share samples, which mostly correlates them positively
    and makes ``σ_d`` too large (towards passing).

    How often the defaults fail an estimator that is right (weighted KL and KL on Gaussian pairs:
    about 1 % of the reports, against the 5 % that ``level`` allows; the plain z-test,
    ``std_scale=1`` and ``floor=0``, fails several times more often, because the spread of the
    estimates over samples exceeds their reported std) and how reliably they catch one that is
    wrong (KSG saturating at large MI fails additivity) is measured in ``benchmarks/consistency.md``
    (``benchmarks/consistency.py``).

    What the checks catch is bias that depends on the dimension or on the size of the MI, which
    additivity doubles: KSG on 2+2 Gaussian dimensions at 8 nats estimates far less on the
    concatenated halves (4+4 dimensions, 16 nats) than the sum over the halves, where weighted KL
    passes. An estimator that returns a constant fails independence and additivity.

    Examples
    --------
    >>> import ibcore
    >>> from ibcore.synthetic import correlated_normal
    >>> x, y = correlated_normal(2000, 2, 2, 1.0, random_state=0)
    >>> report = ibcore.consistency_checks(x, y, "wkl")   # 6 estimates; "auto" takes longer
    >>> report.passed
    True
    >>> print(report)                                      # doctest: +SKIP
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {method!r}")
    if method != "auto":
        spec = get_estimator(method)  # a ValueError listing the methods when unknown
        seeded = "random_state" in spec.options
    else:
        seeded = True
    names = _check_names(checks)
    random_state = check_seed(random_state, "random_state")
    level = check_float(level, "level", low=0.0, high=1.0, low_open=True, high_open=True)
    floor = check_float(floor, "floor", low=0.0)
    std_scale = check_float(std_scale, "std_scale", low=1.0)
    if estimate is not None and not isinstance(estimate, Estimate):
        raise TypeError(f"estimate must be an ibcore.Estimate (or None), got {type(estimate).__name__}")
    labels = is_discrete_labels(y, discrete_y)
    xa = as_real_array(x, "x")
    if labels:
        ya = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
        if ya.ndim == 0 or ya.size == 0:
            raise ValueError(f"y (labels) is empty or a scalar: shape {ya.shape}")
    else:
        ya = as_real_array(y, "y")
    check_same_length(xa, ya)
    n = len(xa)
    if n < MIN_SAMPLES:
        raise ValueError(f"consistency checks need at least {MIN_SAMPLES} pairs, got {n}")

    opts = dict(options)
    if seeded:
        opts["random_state"] = random_state

    def mi(name, a, b, discrete=labels):
        try:
            return mutual_information(a, b, method, discrete_y=discrete, **opts)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{name} check: {exc}") from exc

    m = len(names)
    alpha = (1.0 - level) / m
    z_two, z_one = float(ndtri(1.0 - alpha / 2.0)), float(ndtri(1.0 - alpha))
    out = []
    if "independence" in names:
        perm = _rng(random_state, "independence").permutation(n)
        est = mi("independence", xa, ya[perm])
        out.append(_check("independence", "I(X; shuffled Y) = 0", est, Estimate(0.0, 0.0), "=", z_two, std_scale,
                          floor, "rows of y permuted at random"))
    if "data_processing" in names:
        full = estimate if estimate is not None else mi("data_processing", xa, ya)
        rng = _rng(random_state, "data_processing")
        if labels:
            xd, how = _degrade(xa, rng)
            est, claim, note = mi("data_processing", xd, ya), "I(g(X); Y) ≤ I(X; Y)", f"x degraded (y are labels): {how}"
        else:
            yd, how = _degrade(ya, rng)
            est, claim, note = mi("data_processing", xa, yd), "I(X; g(Y)) ≤ I(X; Y)", f"y degraded: {how}"
        out.append(_check("data_processing", claim, est, Estimate(full.value, full.std), "<=", z_one, std_scale,
                          floor, note))
    if "additivity" in names:
        half = n // 2
        perm = _rng(random_state, "additivity").permutation(n)
        i1, i2 = perm[:half], perm[half:2 * half]
        x1, x2, y1, y2 = xa[i1], xa[i2], ya[i1], ya[i2]
        e1, e2 = mi("additivity", x1, y1), mi("additivity", x2, y2)
        cat = mi("additivity", _concat(x1, x2), _concat(y1, y2))
        ref = Estimate(e1.value + e2.value, math.hypot(e1.std, e2.std))
        out.append(_check("additivity", "I([X1,X2]; [Y1,Y2]) = I(X1;Y1) + I(X2;Y2)", cat, ref, "=", z_two,
                          std_scale, floor, f"two random halves of {half} pairs, concatenated side by side"))
    return ConsistencyReport(out, method, n, level, labels)
