"""Atomic file writes (a kill never leaves a half file behind), checked reads, file digests, and
the prepared dataset file (images.py's and tokens.py's) the stages share."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch

from .errors import DataError, UserError

T = TypeVar("T")


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


def load_torch(
    path: str | Path, made_by: str, build: Callable[[Any], Any] | None = None, error: type[UserError] = UserError
) -> Any:
    """Load a file a stage wrote; a missing or corrupt one names the stage that makes it (as an
    `error`). With `build`, what it makes of the loaded object: one it cannot make counts as corrupt."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path} not found: run the {made_by} stage first (dvc repro {made_by})")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return blob if build is None else build(blob)
    except Exception as err:
        raise error(f"{path} is corrupt ({type(err).__name__}): delete it and rerun the {made_by} stage") from None


# The prepared dataset file: a dataset dataclass laid out as (name, *tensors, classes, *settings)
# (ImageDataset, TextDataset), stored as one dict: name, classes, settings, tensors, in that order.


def save_prepared(ds: Any, path: str | Path, tensors: Sequence[str], settings: Sequence[str] = ()) -> str:
    """Write the dataset `ds` atomically as one torch file; return its md5 (the dataset's digest)."""
    blob = {"name": ds.name, "classes": list(ds.classes), **{f: getattr(ds, f) for f in (*settings, *tensors)}}
    save_torch(path, blob)
    return file_md5(path)


def load_prepared(
    path: str | Path, made_by: str, make: Callable[..., T], tensors: Sequence[str], settings: Sequence[str] = ()
) -> T:
    """The dataset the stage `made_by` wrote with save_prepared (named in the error when missing or corrupt)."""
    build = lambda blob: make(
        blob["name"], *(blob[f] for f in tensors), tuple(blob["classes"]), *(blob[f] for f in settings)
    )
    return load_torch(path, made_by, build, DataError)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes by hashlib's `algorithm` (md5, sha256, ...), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_md5(path: str | Path) -> str:
    return file_digest(path, "md5")
