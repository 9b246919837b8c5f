"""reports/footprint.json: what the study costs on the machine that ran it, measured. The times are
the last runs that the Makefile's targets recorded (scripts/timed.py, .timings/), the disk what
each part of the workspace takes now. `make readme` quotes it in the README's quickstart.

    python scripts/footprint.py    # after `make study` and `make test` on a clean checkout"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from pipeline.training import machine

TIMINGS = Path(".timings")
OUT = Path("reports/footprint.json")
# (what the README calls it, the records it may come from: the newest is taken)
TIMES = [
    ("set-up on a clean checkout", ("setup-fresh",)),
    ("`make demo`", ("demo", "demo-fresh")),
    ("`make study` on a clean checkout, set-up apart", ("study-fresh",)),
    ("`make test`, set-up apart", ("test", "test-fresh")),
]
DISK = [
    (".venv/ (Python, PyTorch, DVC, MLflow)", ".venv"),
    (".dvc/cache/ (every stage's outputs, as DVC keeps them)", ".dvc/cache"),
    ("mlartifacts/ and mlflow.db (the MLflow store)", "mlartifacts", "mlflow.db"),
]


def size(*paths: str) -> int:
    total = 0
    for path in map(Path, paths):
        if path.is_file():
            total += path.stat().st_size
        for folder, _, files in os.walk(path):
            total += sum((Path(folder) / f).lstat().st_size for f in files)
    return total


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def main() -> None:
    times = {}
    for label, names in TIMES:
        records = [TIMINGS / f"{name}.json" for name in names if (TIMINGS / f"{name}.json").is_file()]
        if records:
            r = json.loads(max(records, key=lambda f: f.stat().st_mtime).read_text())
            # The load average as the run ended, its own work included: near the core count for a
            # run alone on the machine, well above it where other work shared the cores.
            times[label] = f"{minutes(r['seconds'])} (load {r['load_1min']:.1f})"
    disk = {label: human(size(*paths)) for label, *paths in DISK}
    footprint = {
        "machine": machine.describe("cpu"),  # what the cells record too
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "times": times,
        "disk": disk,
    }
    OUT.write_text(json.dumps(footprint, indent=2) + "\n")
    print(f"footprint: wrote {OUT}: {footprint}")


if __name__ == "__main__":
    main()
