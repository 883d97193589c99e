"""JSON to dataclasses and back, by reflection: one reader and one writer for every class.

The manifest's sections are frozen dataclasses; their fields (names, types and order) are
the only description of the JSON. :func:`decode` reads a parsed JSON value into a class,
checking every type on the way, and :func:`encode` writes an instance back as plain JSON
values (objects keep the fields' order, so the bytes of a document are stable).

Types understood: ``str``, ``bool``, ``int`` (a whole number; ``true`` is not one),
``float`` (any number but a bool; read as a float), ``X | None`` (the key may be absent or
null), ``tuple[X, ...]`` (a JSON list), ``dict[str, X]`` (a JSON object), ``Any``
(taken as it came) and nested dataclasses. A field with the :data:`REST` metadata receives
the keys its class does not type, and they are written back, unchanged, at that field's
place: an older reader keeps what a newer writer added.

Errors name the path of the value (``segments[2].limit_model.file is missing``,
``k must be a whole number, got 'x'``). Each class's reader is built once, on first use,
from its type hints and cached; importing this module builds nothing.

Standard library only (the Lambda package carries it; training imports the same file).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

Reader = Callable[[Any, str], Any]
"""Reads one JSON value found at a path (for messages) into its Python value."""

_REST = "codec.rest"
_OMIT = "codec.omit_none"


class DecodeError(ValueError):
    """A JSON value does not have the declared type; the message says where and why."""


REST: Mapping[str, bool] = {_REST: True}
"""The metadata of the field that keeps the keys its class does not type, e.g.
``extra: dict[str, Any] = field(default_factory=dict, metadata=REST)``."""
OMIT_NONE: Mapping[str, bool] = {_OMIT: True}
"""The metadata of an optional field written only when it has a value (other None fields
are written as null), e.g. a section older documents lack."""


class Record:
    """The base of the manifest's classes: equality, hash and repr from the fields in order.

    Declare them ``@dataclass(frozen=True, repr=False, eq=False)``: written once here rather
    than generated for every class, these three cost nothing at import, where generating
    them took about 0.13 ms per class (26 classes, on the cold path; docs/benchmarks.md,
    "Manifest reading"). They behave as the generated ones do.
    """

    __slots__ = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _layout(type(self)).names)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in _layout(type(self)).names)
        return f"{type(self).__qualname__}({fields})"


def decode[T](cls: type[T], body: Any, where: str = "") -> T:
    """``body`` (parsed JSON) as a ``cls``; :class:`DecodeError` names the first bad value."""
    value: T = _reader(cls)(body, where)
    return value


def encode(value: Any) -> Any:
    """A dataclass (or a tuple, dict or plain value holding them) as plain JSON values."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    layout = _layout(type(value))
    body: dict[str, Any] = {}
    for name in layout.names:
        item = getattr(value, name)
        if name == layout.rest:
            body.update((k, v) for k, v in item.items() if k not in layout.typed)
        elif item is not None or name not in layout.omit_none:
            body[name] = encode(item)
    return body


_READERS: dict[Any, Reader] = {}
_LAYOUTS: dict[type, _Layout] = {}


class _Layout:
    """How a dataclass is laid out in JSON: its fields in order (``names``, and as a set
    ``typed``), its :data:`REST` field and its :data:`OMIT_NONE` fields."""

    __slots__ = ("names", "omit_none", "rest", "typed")

    def __init__(self, fields: tuple[dataclasses.Field[Any], ...]) -> None:
        self.names = tuple(f.name for f in fields)
        self.typed = frozenset(self.names)
        rests = [f.name for f in fields if f.metadata.get(_REST)]
        self.rest = rests[0] if rests else None
        self.omit_none = frozenset(f.name for f in fields if f.metadata.get(_OMIT))


def _layout(cls: type) -> _Layout:
    """How dataclass ``cls`` is laid out in JSON (built once per class)."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        layout = _LAYOUTS[cls] = _Layout(dataclasses.fields(cls))
    return layout


# -- building readers ---------------------------------------------------------------------


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _fail(where: str, what: str, value: Any) -> DecodeError:
    return DecodeError(f"{where} must be {what}, got {value!r:.60}")


def _reader(hint: Any) -> Reader:
    """The reader of one type hint (built once per hint)."""
    reader = _READERS.get(hint)
    if reader is None:
        reader = _READERS[hint] = _reader_of(hint)
    return reader


def _reader_of(hint: Any) -> Reader:
    if dataclasses.is_dataclass(hint):
        return _dataclass_reader(typing.cast(type, hint))
    if hint in _SCALARS:
        return _SCALARS[hint]
    if hint is Any:
        return lambda value, where: value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if _is_optional(hint) and len(args) == 2:
        return _optional(_reader(args[0] if args[1] is type(None) else args[1]))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _list_reader(args[0])
    if origin is dict and args[0] is str:
        return _dict_reader(args[1])
    raise TypeError(f"codec cannot read {hint!r}")


def _is_optional(hint: Any) -> bool:
    """``X | None``: the key may be absent or null."""
    origin = typing.get_origin(hint)
    return origin in (types.UnionType, typing.Union) and type(None) in typing.get_args(hint)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, "a string", value)
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "true or false", value)
    return value


def _whole(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):  # true is not a number here
        raise _fail(where, "a whole number", value)
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, "a number", value)
    return float(value)


_SCALARS: dict[Any, Reader] = {str: _text, bool: _flag, int: _whole, float: _number}
_LISTS_OF: dict[Any, str] = {str: "strings", int: "whole numbers", float: "numbers"}


def _optional(inner: Reader) -> Reader:
    def read(value: Any, where: str) -> Any:
        return None if value is None else inner(value, where)

    return read


def _list_reader(item: Any) -> Reader:
    """``tuple[X, ...]``: a JSON list; a list of scalars is checked (and named) as a whole."""
    scalar = _SCALARS.get(item)
    what = f"a list of {_LISTS_OF[item]}" if item in _LISTS_OF else ""
    each = _reader(item)

    def read(value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        if scalar is None:
            return tuple([each(v, f"{where}[{i}]") for i, v in enumerate(value)])
        if item is float and all(v.__class__ is float for v in value):
            return tuple(value)  # the common case, checked at C speed
        try:
            return tuple([scalar(v, where) for v in value])
        except DecodeError:
            raise _fail(where, what, value) from None

    return read


def _dict_reader(item: Any) -> Reader:
    """``dict[str, X]``: a JSON object, each value read at ``path.key``."""
    each = _reader(item)
    passthrough = item is Any

    def read(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise DecodeError(f"{where} must be a JSON object")
        if passthrough:
            return dict(value)
        return {key: each(v, _at(where, key)) for key, v in value.items()}

    return read


def _hints(cls: type) -> dict[str, Any]:
    """The fields' types: as declared (the contract's modules evaluate their annotations at
    import, which is cheaper than ``typing.get_type_hints`` evaluating strings at the first
    read, on the cold path), or resolved from strings for a class that postpones them."""
    declared = {f.name: f.type for f in dataclasses.fields(cls)}
    if any(isinstance(hint, str) for hint in declared.values()):
        return typing.get_type_hints(cls)
    return declared


def _dataclass_reader(cls: type) -> Reader:
    """Every typed key (an optional one may be absent), then the rest into the rest field."""
    hints = _hints(cls)
    layout = _layout(cls)
    typed, rest_name = layout.typed, layout.rest
    fields = [(n, _reader(hints[n]), _is_optional(hints[n])) for n in typed if n != rest_name]

    def read(body: Any, where: str) -> Any:
        if not isinstance(body, dict):
            raise DecodeError(f"{where or 'the document'} must be a JSON object")
        values: dict[str, Any] = {}
        for name, reader, optional in fields:
            if name in body:
                values[name] = reader(body[name], _at(where, name))
            elif optional:
                values[name] = None
            else:
                raise DecodeError(f"{_at(where, name)} is missing")
        if rest_name is not None:
            values[rest_name] = {k: v for k, v in body.items() if k not in typed}
        return cls(**values)

    return read
