"""The tolerance rule shared by the estimator tests.

An estimate passes when ``truth - below - factor·std <= value <= truth + above + factor·std``:
``std`` is the estimator's own reported standard error and ``(below, above)`` a stated bias
allowance, measured over many seeds and justified next to each table of cases.
"""
from __future__ import annotations

FACTOR = 4.0


def check(est, truth, allow=(0.0, 0.0), factor=FACTOR):
    """Assert ``est`` (an :class:`ibcore.Estimate`) lies within the tolerance around ``truth``."""
    below, above = allow
    err = est.value - truth
    assert -below - factor * est.std <= err <= above + factor * est.std, (
        f"estimate {est.value:.4f} ± {est.std:.4f} vs truth {truth:.4f}: error {err:+.4f} outside "
        f"[-{below} - {factor}·std, +{above} + {factor}·std]"
    )
