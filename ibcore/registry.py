"""A name -> spec table with built-in entries and plug-ins from entry points.

The estimators (:mod:`ibcore.estimators.registry`) and the compressors
(:mod:`ibcore.compression.registry`) each keep one :class:`Registry`. Built-in entries are made
on first use (their specs may need modules that import the table's module); installed packages
add entries through an entry-point group (``[project.entry-points."<group>"]`` in their
``pyproject.toml``), whose objects are specs or callables returning one.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["Registry"]


class Registry:
    """An ordered table of specs by name.

    Parameters
    ----------
    what : str
        What an entry is ("estimator", "compressor"), for messages.
    spec_type : type
        The class every entry must be an instance of (with a ``name`` attribute).
    group : str
        The entry-point group of plug-ins.
    builtin : callable
        ``builtin() -> iterable of specs``, called once, on first use.
    """

    def __init__(self, what: str, spec_type: type, group: str, builtin: Callable):
        self.what, self.spec_type, self.group, self._builtin = what, spec_type, group, builtin
        self._specs: dict = {}
        self._loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # before loading: a plug-in's import may register through this table
        for spec in self._builtin():
            self._specs.setdefault(spec.name, spec)
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            obj = ep.load()
            spec = obj() if callable(obj) and not isinstance(obj, self.spec_type) else obj
            if not isinstance(spec, self.spec_type):
                raise TypeError(f"entry point {ep.name!r} of {self.group!r} gives {type(spec).__name__}, "
                                f"not a {self.spec_type.__name__}")
            self.register(spec)

    def register(self, spec, *, replace: bool = False):
        """Add ``spec`` (a ``ValueError`` when its name is taken, unless ``replace``); returns it."""
        if not isinstance(spec, self.spec_type):
            raise TypeError(f"register_{self.what} takes a {self.spec_type.__name__}, got {type(spec).__name__}")
        self._load()
        if spec.name in self._specs and not replace:
            raise ValueError(f"a {self.what} named {spec.name!r} is registered already; pass replace=True")
        self._specs[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        """Remove the entry ``name`` (a ``KeyError`` when there is none)."""
        self._load()
        del self._specs[name]

    def __iter__(self) -> Iterator:
        """The specs, in registration order."""
        self._load()
        return iter(list(self._specs.values()))

    def get(self, name: str, allowed=None, context: str | None = None):
        """The entry ``name``; a ``ValueError`` listing the choices (``allowed``: names to choose
        from, default all) when it is unknown or not allowed."""
        self._load()
        names = list(self._specs) if allowed is None else list(allowed)
        if not isinstance(name, str) or name not in names:
            prefix = f"{context}: unknown method" if context else f"unknown {self.what}"
            raise ValueError(f"{prefix} {name!r}; choose one of {sorted(names) if context else names}")
        return self._specs[name]
