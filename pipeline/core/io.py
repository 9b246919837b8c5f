"""Atomic file writes (a kill never leaves a half file behind) and checked reads."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .errors import UserError


def check_writable(path: str | Path, what: str, folder: bool = False) -> None:
    """Refuse, before any work, a file (or with `folder`, a folder) that cannot be written: the
    nearest part of the path that exists must be a writable folder, or a file in one that the
    output replaces. Creates nothing."""
    path = Path(path).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if (existing != path or folder) and not existing.is_dir():
        raise UserError(f"cannot write {what} at {path}: {existing} is a file, not a folder: move it away")
    parent = existing if existing.is_dir() else existing.parent
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write {what} at {path}: {parent} is not writable: fix its permissions")


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> None:
    """Call write(tmp) on a temporary file beside path, then rename it over path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n"))


def write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def save_torch(path: str | Path, obj: Any) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_torch(path: str | Path, made_by: str) -> Any:
    """Load a file a stage wrote; a missing or corrupt one names the stage that makes it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run the {made_by} stage first (dvc repro {made_by})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{path} is corrupt ({type(err).__name__}): delete it and rerun the {made_by} stage") from None


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def file_md5(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
