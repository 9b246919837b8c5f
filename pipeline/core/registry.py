"""Registries by name (datasets, text corpora): the `@register("name")` decorator that fills one,
and the look-up whose error names every choice."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .errors import DataError, UserError

T = TypeVar("T")


def registrar(registry: dict[str, T]) -> Callable[[str], Callable[[T], T]]:
    """`register` for `registry`: `@register("name")` adds the function it decorates as `name`."""

    def register(name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            registry[name] = entry
            return entry

        return add

    return register


def lookup(registry: dict[str, T], name: str, what: str, error: type[UserError] = DataError) -> T:
    """The entry `name` of `registry`; an unknown name is an `error` that lists the `what`s there are."""
    if name not in registry:
        raise error(f"unknown {what} '{name}': choose one of {', '.join(registry)}")
    return registry[name]
