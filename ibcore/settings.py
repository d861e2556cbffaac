"""One settings object per experiment: defaults, validation, and a plain-dict form.

An experiment (an Algorithm 1 sweep, an information-plane run) is described by a frozen
dataclass deriving from :class:`Settings`. The command line builds it from argparse, a chapter
from its parameters cell, and a run directory stores its :meth:`Settings.to_dict` form. Resuming
compares two such objects with :meth:`Settings.differences`.

A field may carry ``metadata={"resume": False}``: it does not decide the stored results (the
number of epochs to train up to, CPU threads, a data folder), so it may change between the runs
that fill one directory.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["Settings", "RESUMABLE", "store_arguments"]

#: field metadata of an option that may change between runs into one directory
RESUMABLE = {"resume": False}


def _plain(value: Any) -> Any:
    """JSON-compatible form: tuples become lists, mappings get string keys."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of the experiment settings (subclasses are frozen dataclasses).

    Subclasses validate and normalise their fields in ``_validate`` (called by ``__post_init__``),
    raising ``ValueError``/``TypeError`` that name the field; normalised values are stored with
    :meth:`_set`.
    """

    def __post_init__(self):
        self._validate()

    def _validate(self) -> None:  # pragma: no cover - overridden
        pass

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    # -- dict form ------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Every field as plain JSON-compatible values (lists instead of tuples)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data) -> "Settings":
        """Build from a mapping; missing fields take their defaults, unknown ones are an error."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}.from_dict needs a dict, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} option(s) {unknown}; known: {names}")
        return cls(**data)

    @classmethod
    def resolve(cls, settings=None, **options) -> "Settings":
        """``settings`` (an instance, a mapping for :meth:`from_dict`, or ``None`` for the
        defaults) with the fields in ``options`` replaced: what a runner taking
        ``(settings=None, **options)`` works with."""
        base = cls() if settings is None else cls.from_dict(settings)
        return base.replace(**options) if options else base

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    # -- comparison -----------------------------------------------------------------------------

    @classmethod
    def result_fields(cls) -> tuple[str, ...]:
        """Names of the fields that decide the results (all but the ``RESUMABLE`` ones)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("resume", True))

    def differences(self, other: "Settings", fields=None) -> list[str]:
        """``"name: mine vs other"`` for every differing field among ``fields``
        (default :meth:`result_fields`); empty when the two describe the same results."""
        if type(other) is not type(self):
            raise TypeError(f"cannot compare {type(self).__name__} with {type(other).__name__}")
        names = self.result_fields() if fields is None else tuple(fields)
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{n}: {mine[n]!r} vs {theirs[n]!r}" for n in names if mine[n] != theirs[n]]


def store_arguments(obj, arguments: dict) -> None:
    """Store each parameter of ``type(obj).__init__`` as the attribute of the same name.

    scikit-learn's convention: a constructor only stores its parameters, unchanged, and
    ``get_params`` reads them back by the names of the signature; validation waits for ``fit``.
    ``arguments`` is the constructor's ``locals()``.
    """
    import inspect

    for name, p in inspect.signature(type(obj).__init__).parameters.items():
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            setattr(obj, name, arguments[name])
