"""The library's errors: a misuse the caller can fix, said in one line that names the fix."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (a value, a call, a path). The message is a single line that
    says what is wrong and how to fix it."""


class ConfigError(UserError):
    """An invalid option or setting: a method's options, or a study's params."""
