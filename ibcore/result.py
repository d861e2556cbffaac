"""The value type every estimator returns."""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.special import ndtri

__all__ = ["Estimate"]


@dataclass(frozen=True)
class Estimate:
    """An estimate in nats with its standard error.

    Parameters
    ----------
    value : float
        The point estimate (nats for entropies and mutual information).
    std : float
        Standard error of ``value``: the sample standard deviation of the per-sample
        terms divided by ``sqrt(n)``.

    Examples
    --------
    >>> est = Estimate(1.2, 0.05)
    >>> float(est)
    1.2
    >>> lo, hi = est.ci(0.95)
    """

    value: float
    std: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", float(self.value))
        object.__setattr__(self, "std", float(self.std))
        if not math.isfinite(self.value):
            raise ValueError(f"Estimate.value must be finite, got {self.value!r}")
        if not (math.isfinite(self.std) and self.std >= 0):
            raise ValueError(f"Estimate.std must be finite and >= 0, got {self.std!r}")

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Asymptotic normal confidence interval ``value ± z_{(1+level)/2} · std``.

        This is the interval of the paper's figure 5 (95 % by default).
        """
        if not (0.0 < level < 1.0):
            raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
        z = float(ndtri(0.5 + level / 2.0))
        return (self.value - z * self.std, self.value + z * self.std)

    def __float__(self) -> float:
        return self.value

    def __format__(self, spec: str) -> str:
        spec = spec or ".4g"
        return f"{format(self.value, spec)} ± {format(self.std, spec)}"

    def __str__(self) -> str:
        return format(self, "")
