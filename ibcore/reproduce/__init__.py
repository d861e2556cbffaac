"""Stage 4, reproducing the paper: stored results with provenance, their audit, and the claims.

:func:`store` runs the book's experiments at a named scale (``params/<name>.yaml``) into
``results/<name>/`` with a ``provenance.json``; :func:`audit` recomputes a few of the stored
numbers with today's code (``ibcore audit``, ``nox -s audit``); :mod:`~ibcore.reproduce.claims`
turns stored and freshly built results into the claims table of "Reproducing the paper".
This stage sits above both algorithms and may import them.
"""
from .audit import TOLERANCE, Check, audit, format_checks
from .provenance import code_state, environment, params_hash, read_provenance, read_section
from .store import PARTS, plane_settings, store

__all__ = ["store", "audit", "Check", "format_checks", "TOLERANCE", "PARTS", "plane_settings",
           "params_hash", "read_section", "read_provenance", "code_state", "environment"]
