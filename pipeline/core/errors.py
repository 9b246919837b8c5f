"""User-facing errors: one clear line, a non-zero exit, no traceback. UserError and ConfigError are
the pruning library's (dynaprune.errors); the study adds its data errors and the entry points' exit."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

from dynaprune.errors import ConfigError, UserError

__all__ = ["ConfigError", "DataError", "UserError", "exit_on_user_error"]

F = TypeVar("F", bound=Callable[..., object])


class DataError(UserError):
    """A dataset that is missing or corrupt."""


def exit_on_user_error(main: F) -> F:
    """Decorate a command-line entry point: a UserError prints one line and exits with 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapper  # type: ignore[return-value]
