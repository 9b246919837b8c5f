"""Imported first by every stage script, before anything heavy.

1. This checkout's packages, `pipeline` and the library `dynaprune` (dynaprune/src), ahead of any
   installed copy: the editable installs point at the workspace, but a DVC experiment in a
   temporary copy (`dvc exp run --temp`, the queue) must run the code of its own copy.
2. The warm launcher (_launch.py beside it, its server in _launch_server.py): a stage hands its
   command to a server that has torch, MLflow and matplotlib imported already, and `run(main)`
   ends the process without the interpreter's slow teardown.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
OWN = [ROOT, str(Path(ROOT) / "dynaprune" / "src")]
if sys.path[:2] != OWN:
    sys.path[:0] = OWN

from _launch import handoff, run  # noqa: E402  (beside this file: the script's folder is on sys.path)

handoff()

__all__ = ["run"]
