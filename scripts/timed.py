"""Run a command and keep how long it took: `python scripts/timed.py <name> -- <command...>`.

The Makefile wraps its targets in this, so that reports/footprint.json (scripts/footprint.py) can say
what `make setup`, `make demo`, `make study` and `make test` cost on the machine that ran them,
measured, not remembered. Each record is .timings/<name>.json (not in git): the seconds, the date,
the load average over the last minute when it ended (above the core count: the cores were shared).
A run on a clean checkout (no .venv/ or outputs/ yet) is <name>-fresh.json. Standard library only:
it runs before the environment exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

FOLDER = Path(".timings")


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print("usage: python scripts/timed.py <name> -- <command...>", file=sys.stderr)
        return 2
    name, command = sys.argv[1], sys.argv[3:]
    fresh = not Path(".venv").exists() or not Path("outputs").exists()  # a clean checkout
    start = time.monotonic()
    code = subprocess.call(command)
    seconds = time.monotonic() - start
    if code == 0:  # a failed run's time says nothing about the work
        FOLDER.mkdir(exist_ok=True)
        record = {
            "seconds": round(seconds, 1),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "load_1min": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(),
            "fresh": fresh,
        }
        # From scratch and again are different costs: each keeps its own record.
        (FOLDER / f"{name}{'-fresh' if fresh else ''}.json").write_text(json.dumps(record))
    return code


if __name__ == "__main__":
    sys.exit(main())
