"""Type, choice and range checks of the config dataclasses (:mod:`gliograde.config`), and YAML reading.

A config dataclass derives from :class:`Checked`: once built, each field is checked against its type
annotation (``int``, ``float``, ``bool``, ``str``, ``Literal[...]`` choices, tuples, ``X | None``, nested
config dataclasses), its :attr:`Checked.LIMITS` range and the class's own :meth:`Checked.check`. A wrong
value raises :class:`ConfigError`: one line naming the dotted key, what was given and what is allowed.

>>> from gliograde.config import TrainCfg
>>> TrainCfg(epochs="ten")
Traceback (most recent call last):
...
gliograde.schema.ConfigError: train.epochs: got 'ten'; expected a whole number
>>> Limit(0, 1, hi_open=True).text()
'in [0, 1)'
"""
from __future__ import annotations

import dataclasses
import difflib
import numbers
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, TypeVar, Union, get_args, get_origin

import yaml

from gliograde.errors import InputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


class ConfigError(InputError):
    """A config value or key is wrong; ``key`` is its dotted name (``train.epochs``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Limit(NamedTuple):
    """The allowed range of a number (of each element, for a tuple of numbers)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def allows(self, v: float) -> bool:
        above = self.lo is None or (v > self.lo if self.lo_open else v >= self.lo)
        below = self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)
        return above and below

    def text(self) -> str:
        """``>= 1``, ``> 0`` or ``in [0, 1)``."""
        if self.hi is None:
            return f"{'>' if self.lo_open else '>='} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '<='} {self.hi:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


POSITIVE = Limit(1)  # whole numbers >= 1
NON_NEGATIVE = Limit(0)
FRACTION = Limit(0, 1, hi_open=True)


class Checked:
    """Base of every config dataclass: checks (and normalises) each field once the dataclass is built.

    Lists become tuples and whole numbers become floats where a float is declared; anything else of the
    wrong type, outside :attr:`LIMITS` or against :meth:`check` raises :class:`ConfigError`.
    """

    #: Dotted name of this config in a :class:`RunConfig` (``train``, ``ingest.preprocess``), used in messages.
    SECTION: ClassVar[str] = ""
    #: Field name -> allowed range.
    LIMITS: ClassVar[Mapping[str, Limit]] = {}

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(typing.cast(Any, self)):
            key = _key(self.SECTION, f.name)
            value = _coerce(getattr(self, f.name), hints[f.name], key)
            limit = self.LIMITS.get(f.name)
            if limit is not None:
                for v in value if isinstance(value, tuple) else (value,):
                    if isinstance(v, (int, float)) and not limit.allows(v):
                        raise ConfigError(key, f"{key}: got {_show(value)}; expected {_in_range(hints[f.name], limit)}")
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Rules across fields (override); raise :class:`ConfigError`."""

    def fail(self, name: str, message: str) -> ConfigError:
        """A :class:`ConfigError` for field ``name``: ``<section>.<name>: <message>``."""
        key = _key(self.SECTION, name)
        return ConfigError(key, f"{key}: {message}")


def _key(section: str, name: str) -> str:
    return f"{section}.{name}" if section else name


def _hints(cls: type) -> dict[str, Any]:
    cached: dict[str, Any] | None = _HINTS.get(cls)
    if cached is None:
        cached = _HINTS[cls] = typing.get_type_hints(cls)
    return cached


_HINTS: dict[type, dict[str, Any]] = {}


def _show(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def _describe(hint: Any) -> str:
    """What a value of type ``hint`` looks like, for messages."""
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_plural(args[0])}"
        return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    if get_origin(hint) is Literal:
        return "values from " + ", ".join(repr(a) for a in get_args(hint))
    return {int: "whole numbers", float: "numbers", str: "strings", bool: "true/false values"}.get(hint, str(hint))


def _in_range(hint: Any, limit: Limit) -> str:
    """``a whole number >= 1``; ``... or null`` for an optional field; for a tuple, what each element must be."""
    args = get_args(hint)
    optional = get_origin(hint) in (Union, types.UnionType) and type(None) in args
    base = next(a for a in args if a is not type(None)) if optional else hint
    if get_origin(base) is tuple:
        return f"{_describe(base)}, each {limit.text()}"
    return f"{_describe(base)} {limit.text()}" + (" or null" if optional else "")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` as type ``hint`` (list -> tuple, int -> float, dict -> dataclass); ConfigError if it is not one."""
    origin, args = get_origin(hint), get_args(hint)
    wrong = ConfigError(key, f"{key}: got {_show(value)}; expected {_describe(hint)}")
    if origin is Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
        raise ConfigError(key, str(wrong) + (f" (did you mean {close[0]!r}?)" if close else ""))
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise wrong
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise wrong
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], key) for v in value)
        if len(value) != len(args):
            raise wrong
        return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, Mapping):
            return from_dict(typing.cast(Any, hint), value)
        if isinstance(value, hint):
            return value
        raise wrong
    return _scalar(value, hint, wrong)


def _scalar(value: Any, hint: Any, wrong: ConfigError) -> Any:
    is_bool = isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's bool too
    if hint is bool and is_bool:
        return bool(value)
    if hint is int and isinstance(value, numbers.Integral) and not is_bool:
        return int(value)
    if hint is float and isinstance(value, numbers.Real) and not is_bool:
        return float(value)
    if hint is str and isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if hint in (bool, int, float, str):
        raise wrong
    return value


def from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """Build a config dataclass from plain data (YAML, JSON), refusing unknown keys (no silent typos).

    Nested dataclass fields are built from nested mappings; lists become tuples; missing keys keep their
    defaults; every value is checked (:class:`Checked`).

    >>> from gliograde.config import IngestCfg
    >>> from_dict(IngestCfg, {"channels": ["flair", "t1ce"], "preprocess": {"size": 64}}).preprocess.size
    64
    >>> from_dict(IngestCfg, {"chanels": ["t1ce"]})
    Traceback (most recent call last):
    ...
    gliograde.schema.ConfigError: ingest.chanels: unknown key (did you mean 'channels'?); allowed: channels, \
layout, preprocess, roi_labels, series_map, skip_bad, slice_index, slices
    """
    data = dict(data or {})
    names = [f.name for f in dataclasses.fields(cls)]
    for name in sorted(set(data) - set(names)):
        raise unknown_key(_key(str(getattr(cls, "SECTION", cls.__name__)), str(name)), name, names)
    return cls(**data)


def unknown_key(key: str, name: object, allowed: list[str]) -> ConfigError:
    """The error for an unknown key ``name`` (dotted ``key``): names the closest allowed key, lists them all."""
    close = difflib.get_close_matches(str(name), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(key, f"{key}: unknown key{hint}; allowed: {', '.join(sorted(allowed))}")


def load_yaml(path: Path | None) -> dict[str, Any]:
    """Read a YAML config file into a dict (empty when ``path`` is None)."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found; check the --config path")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path}: not valid YAML ({first}); fix the file or drop --config") from err
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    return data
