"""Drop dvc.lock's entries for stages that dvc.yaml no longer has (a rate, seed or method taken
out of params.yaml leaves its cells' entries behind: DVC keeps them). DVC reads and rewrites the
whole lock file before and after every stage, so stale entries slow every stage down. A cell
added back later is restored from DVC's run cache, not retrained. `make study` runs this first.

    python scripts/prune_lock.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from ruamel.yaml import YAML

LOCK = Path("dvc.lock")


def current_stages() -> set[str]:
    from dvc.repo import Repo

    with Repo(".") as repo:
        return {stage.addressing for stage in repo.index.stages}


def prune(lock: Path = LOCK) -> list[str]:
    """Remove the stale entries in place (formatting kept); return their names."""
    if not lock.is_file():
        return []
    yaml = YAML()  # round-trip: the file stays as DVC wrote it, less the stale entries
    content = yaml.load(lock.read_text())
    stages = content.get("stages", {}) if content else {}
    keep = current_stages()
    stale = [name for name in stages if name not in keep]
    if stale:
        for name in stale:
            del stages[name]
        out = io.StringIO()
        yaml.dump(content, out)
        tmp = lock.with_suffix(".lock.tmp")
        tmp.write_text(out.getvalue())
        tmp.replace(lock)
    return stale


if __name__ == "__main__":
    removed = prune()
    entries = "entry" if len(removed) == 1 else "entries"
    print(f"prune_lock: {len(removed)} stale {entries} removed from {LOCK}", file=sys.stderr)
