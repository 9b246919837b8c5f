"""Build typed, frozen dataclasses from plain mappings, with one clear error per bad value.

A field declares its constraint with `spec(...)`; `build(cls, mapping, where)` checks types,
constraints and unknown keys (suggesting the closest valid key) and returns an instance.
Config sections and every pruning method's options use it, so all of params.yaml is validated
the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ConfigError

Check = Callable[[Any], bool]


def spec(
    default: Any,
    check: Check | None = None,
    allowed: str | None = None,
    choices: Callable[[], Sequence[str]] | None = None,
    empty_ok: bool = False,
    **kw,
) -> Any:
    """A dataclass field with a validity check and a description of what is allowed; `choices`
    (for names) lists the valid ones when an error is raised, for a typo hint; `empty_ok`: a list
    field may be empty (lists must have an item otherwise)."""
    if isinstance(default, (list, dict)):
        kw["default_factory"] = lambda d=default: type(d)(d)
    else:
        kw["default"] = default
    meta = {"check": check, "allowed": allowed, "choices": choices, "empty_ok": empty_ok}
    return dataclasses.field(metadata=meta, **kw)


# Reusable checks, each paired with the phrase that explains it.
def positive() -> dict:
    return {"check": lambda v: v > 0, "allowed": "a number > 0"}


def non_negative() -> dict:
    return {"check": lambda v: v >= 0, "allowed": "a number >= 0"}


def in_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> dict:
    left, right = ("(" if lo_open else "["), (")" if hi_open else "]")

    def check(v: float) -> bool:
        return (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)

    return {"check": check, "allowed": f"a number in {left}{lo}, {hi}{right}"}


def one_of(*choices: str) -> dict:
    return {"check": lambda v: v in choices, "allowed": "one of " + ", ".join(choices), "choices": lambda: choices}


def registered(registry: Mapping[str, Any]) -> dict:
    """A name registered in `registry` (read when checked, so later registrations count)."""
    return {"check": lambda v: v in registry, "allowed": "a registered name", "choices": lambda: list(registry)}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Return `value` as type `tp`, or raise ConfigError. Ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key} = {value!r} is invalid: expected {_type_name(tp)}")
    if origin is list:
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{key} = {value!r} is invalid: expected a non-empty list")
        (item,) = typing.get_args(tp)
        items = [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        if len(set(map(repr, items))) != len(items):
            raise ConfigError(f"{key} = {value!r} is invalid: the list has duplicates")
        return items
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp)
    if ok is None:
        raise TypeError(f"schema: unsupported field type {tp!r} for {key}")
    if not ok:
        raise ConfigError(f"{key} = {value!r} is invalid: expected {_type_name(tp)}")
    if tp is float:
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{key} = {value!r} is invalid: expected a finite number")
    return value


def check_keys(mapping: Mapping[str, Any], valid: list[str], where: str) -> None:
    """Unknown keys are errors, with the closest valid key suggested."""
    for key in mapping:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else "valid keys: " + ", ".join(valid)
            raise ConfigError(f"{where}{key} is not a known key: {hint}")


def build(cls: type, mapping: Any, where: str = "") -> Any:
    """Instantiate dataclass `cls` from `mapping`; `where` prefixes keys in messages ("train.")."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where.rstrip('.') or 'params'} = {mapping!r} is invalid: expected a mapping of keys")
    fields = [f for f in dataclasses.fields(cls) if f.init]
    check_keys(mapping, [f.name for f in fields], where)
    hints = typing.get_type_hints(cls)
    values = {}
    for f in fields:
        if f.name not in mapping:
            continue
        key = where + f.name
        if mapping[f.name] == [] and f.metadata.get("empty_ok"):
            values[f.name] = []
            continue
        value = _coerce(mapping[f.name], hints[f.name], key)
        check = f.metadata.get("check")
        if check is not None and value is not None:
            items = value if isinstance(value, list) else [value]
            bad = [v for v in items if not check(v)]
            if bad:
                raise ConfigError(f"{key} = {mapping[f.name]!r} is invalid: expected {_allowed(f, bad[0])}")
        values[f.name] = value
    return cls(**values)


def _allowed(f: dataclasses.Field, bad: Any) -> str:
    """What a field allows, with the closest valid name first when it takes names."""
    choices = f.metadata.get("choices")
    if choices is None:
        return f.metadata["allowed"]
    names = list(choices())
    close = difflib.get_close_matches(str(bad), names, n=1, cutoff=0.5)
    return "one of " + ", ".join(names) + (f" (did you mean '{close[0]}'?)" if close else "")


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dataclass (or nested mapping) to {"a.b.c": leaf} for logging as params."""
    if dataclasses.is_dataclass(obj):
        obj = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): obj}
