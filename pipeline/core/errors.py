"""User-facing errors: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


class UserError(Exception):
    """Something the user can fix (a params value, a missing dataset, a path).

    The message is a single line that says what is wrong and how to fix it.
    """


class ConfigError(UserError):
    """An invalid value or key in params.yaml."""


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
