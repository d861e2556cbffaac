"""Stage 4, reproducing the paper: stored results with provenance, their audit, and the claims.

:func:`store` runs the book's experiments at a named scale (``params/<name>.yaml``) into
``results/<name>/`` with a ``provenance.json``; :func:`audit` recomputes a few of the stored
numbers with today's code (``ibcore audit``, ``nox -s audit``); :mod:`~ibcore.reproduce.evidence`
collects the stored and freshly built results of each scale and estimator, and
:mod:`~ibcore.reproduce.claims` turns them into the claims table of "Reproducing the paper".
This stage sits above both algorithms and may import them.
"""
from .audit import TOLERANCE, Check, audit, format_checks
from .evidence import (BUILD_SCALE, REMEASURED_TABLES, build_evidence, build_runs, estimator_evidence, estimator_rows,
                       plane_claims, provenance_notes, scale_evidence, seed_dirs, stored_evidence)
from .provenance import code_state, environment, params_hash, read_provenance, read_section
from .store import PARTS, plane_settings, store

__all__ = ["store", "audit", "Check", "format_checks", "TOLERANCE", "PARTS", "plane_settings",
           "params_hash", "read_section", "read_provenance", "code_state", "environment",
           "scale_evidence", "estimator_evidence", "estimator_rows", "plane_claims", "build_runs", "build_evidence",
           "stored_evidence", "provenance_notes", "seed_dirs", "BUILD_SCALE", "REMEASURED_TABLES"]
