"""Values from YAML (a sweep file, --config, --set) checked against a config field's type hint: lists become
tuples (configs are frozen and hashable), ints become floats where a float is expected, anything else that
does not match is one ConfigError naming the key, the expected type and what it got."""

from __future__ import annotations

import types
import typing
from typing import Any, Mapping

from raycnn.errors import ConfigError


def coerce(value: Any, hint: Any, key: str) -> Any:
    """Check `value` against a type hint; convert lists to tuples and ints to floats."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:                     # model.kwargs: any YAML value, kept hashable
        return _hashable(value)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], key)
    if origin is tuple:
        return _coerce_tuple(value, args, key)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and type(value) is hint:
        return value
    expected = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, hint)
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def _coerce_tuple(value: Any, args: tuple, key: str) -> tuple:
    item_hint = args[0]
    if isinstance(value, Mapping) and typing.get_origin(item_hint) is tuple:
        value = list(value.items())     # oversample: {cat: 2.0} -> ((cat, 2.0),)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and typing.get_origin(item_hint) is not tuple:
        value = [value]                 # a single value where a list is expected
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key}: expected a list, got {value!r}")
    if typing.get_origin(item_hint) is tuple:
        return tuple(tuple(coerce(v, h, key) for v, h in zip(item, typing.get_args(item_hint)))
                     for item in value)
    return tuple(coerce(v, item_hint, key) for v in value)


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((k, _hashable(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
