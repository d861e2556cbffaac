"""The settings base: defaults, validation, the dict form, and what a resume compares."""
from __future__ import annotations

import dataclasses
import json

import pytest

from ibcore.settings import RESUMABLE, Settings


@dataclasses.dataclass(frozen=True)
class Toy(Settings):
    size: int = 3
    names: tuple = ("a", "b")
    options: dict = dataclasses.field(default_factory=dict)
    threads: int = dataclasses.field(default=1, metadata=RESUMABLE)

    def _validate(self):
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"size must be an integer >= 1, got {self.size!r}")
        self._set("names", tuple(self.names))


def test_round_trip_through_json():
    s = Toy(size=5, names=["x"], options={"k": 2}, threads=2)
    d = s.to_dict()
    assert d == {"size": 5, "names": ["x"], "options": {"k": 2}, "threads": 2}
    assert Toy.from_dict(json.loads(json.dumps(d))) == s
    assert Toy.from_dict(s) is s
    assert Toy.from_dict({}) == Toy()  # missing fields take the defaults


def test_validation_runs_on_construction_and_replace():
    with pytest.raises(ValueError, match="size must be an integer >= 1"):
        Toy(size=0)
    with pytest.raises(ValueError, match="size"):
        Toy().replace(size=-1)
    assert Toy(names=["p", "q"]).names == ("p", "q")  # normalised
    with pytest.raises(dataclasses.FrozenInstanceError):
        Toy().size = 4


def test_unknown_and_wrong_type_are_named():
    with pytest.raises(ValueError, match=r"unknown Toy option\(s\) \['colour'\]; known: \['size'"):
        Toy.from_dict({"colour": 1})
    with pytest.raises(TypeError, match="needs a dict"):
        Toy.from_dict([("size", 2)])


def test_differences_skip_resumable_fields():
    a, b = Toy(size=3, threads=1), Toy(size=4, threads=8)
    assert Toy.result_fields() == ("size", "names", "options")
    assert a.differences(b) == ["size: 3 vs 4"]
    assert a.differences(a.replace(threads=8)) == []          # threads may change between runs
    assert a.differences(b, fields=["threads"]) == ["threads: 1 vs 8"]
    with pytest.raises(TypeError, match="cannot compare"):
        a.differences(object())


def test_resolve_takes_defaults_mappings_or_instances_and_replaces_options():
    assert Toy.resolve() == Toy()
    assert Toy.resolve({"size": 4}) == Toy(size=4)
    s = Toy(size=5, names=["x"])
    assert Toy.resolve(s) is s
    assert Toy.resolve(s, size=7) == Toy(size=7, names=("x",))
    assert Toy.resolve(None, threads=2) == Toy(threads=2)
    with pytest.raises(ValueError, match="size must be"):
        Toy.resolve(s, size=0)
