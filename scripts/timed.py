"""Run a command and keep how long it took: `python scripts/timed.py <name> [<path>] -- <command...>`.

The Makefile wraps its targets in this, so that reports/footprint.json (scripts/footprint.py) can say
what `make setup`, `make demo`, `make study` and `make test` cost on the machine that ran them,
measured, not remembered. Each record is .timings/<name>.json (not in git): the seconds, the date,
the load average over the last minute when it ended (above the core count: the cores were shared).
A run that started without <path> (the set-up without .venv/, the study without outputs/: from
scratch) is <name>-fresh.json. Standard library only: it runs before the environment exists."""

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
    if "--" not in sys.argv[2:4]:
        print("usage: python scripts/timed.py <name> [<path>] -- <command...>", file=sys.stderr)
        return 2
    split = sys.argv.index("--")
    name, marker, command = sys.argv[1], sys.argv[2:split], sys.argv[split + 1 :]
    fresh = bool(marker) and not Path(marker[0]).exists()
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
