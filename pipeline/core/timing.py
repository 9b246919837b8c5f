"""Where a stage's wall time goes: named phases and marks, written as one JSON line per process.

Off (each call a no-op check) unless PRUNING_TIMINGS names a file; benchmarks/overhead.py sets it
for every stage of a `dvc repro` and adds the lines up. A phase is timed exclusively: time spent
in a phase opened inside another counts for the inner one only, so the phases of a process add
up to at most its wall time. Marks are instants: the first and the last training step, the end
of the last epoch (its evaluation included).

Phases used by the study: config, data, mlflow, model_export, checkpoints, outputs, plots,
selection, train, eval, scoring; the time before the stage's own code starts is `imports`.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ENV = "PRUNING_TIMINGS"
# Set for every stage process by stages/_launch.py's handoff, the first thing a stage script runs
# (and passed on to the warm child it forks): the epoch time at which the stage's own process (the
# one DVC started) began.
START_ENV = "PRUNING_STAGE_STARTED"

_totals: dict[str, float] = defaultdict(float)
_marks: dict[str, float] = {}
_stack: list[list[float]] = []  # [start, time of the phases opened inside]
_file: str | None = None


def process_start() -> float:
    """When the stage's process started, in epoch seconds; outside a stage: now."""
    return float(os.environ.get(START_ENV) or time.time())


def enabled() -> bool:
    return _file is not None


def enable(path: str | os.PathLike) -> None:
    """Record this process's phases and append them to `path` at exit (as PRUNING_TIMINGS does)."""
    global _file
    if _file is None:
        atexit.register(_write)
    _file = os.fspath(path)
    _marks.setdefault("start", process_start())


@contextmanager
def phase(name: str) -> Iterator[None]:
    if _file is None:
        yield
        return
    entry = [time.perf_counter(), 0.0]
    _stack.append(entry)
    try:
        yield
    finally:
        _stack.pop()
        spent = time.perf_counter() - entry[0]
        _totals[name] += spent - entry[1]
        if _stack:
            _stack[-1][1] += spent


def timed(name: str) -> Callable:
    """A decorator: every call of the function is phase `name`."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(*args, **kwargs):
            with phase(name):
                return fn(*args, **kwargs)

        return call

    return wrap


def mark(name: str, first: bool = False) -> None:
    """Record the instant `name` (with first=True only its first occurrence)."""
    if _file is not None and not (first and name in _marks):
        _marks[name] = time.time()


def record() -> dict:
    """This process's figures so far: its stage, marks (epoch seconds) and phase totals (seconds)."""
    return {
        "stage": os.environ.get("DVC_STAGE") or " ".join(sys.argv),
        "marks": {**_marks, "exit": time.time()},
        "phases": dict(_totals),
    }


def _write() -> None:
    if _file is None:
        return
    line = json.dumps(record()) + "\n"
    # One write of a short line in append mode: stages running in parallel do not interleave.
    fd = os.open(_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


if os.environ.get(ENV):
    enable(os.environ[ENV])
