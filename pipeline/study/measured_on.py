"""One sentence under each timed table: the machine its cells ran on and whether their cores were
shared at the time (each cell records the 1-minute load average when it ends, pipeline/training/
machine.py). Times from a shared machine do not compare, so the report says so rather than let a
reader take a busy minute for a slow method."""

from __future__ import annotations

import statistics

from .report import Row

# A cell's own threads keep the load near the core count; beyond this margin, other work shared them.
SHARED_MARGIN = 0.5


def sentence(rows: list[Row], prefix: str = "") -> str:
    """e.g. "Times measured on <CPU>, 2 cores; the load average at the end of the 30 cells was
    1.62 to 2.10 (median 1.90): no more than the 2 cores the cells kept busy themselves, so the
    times compare." `prefix`: the recorded keys' prefix (pretrain_ for the SimCLR encoders)."""
    runs = [run for row in rows for run in row.runs]
    loads = [run[f"{prefix}load_avg_1m"] for run in runs if f"{prefix}load_avg_1m" in run]
    if not loads:
        return "*Times*: the machine and its load were not recorded for these cells (made before they were)."
    machines = sorted({run[f"{prefix}machine"] for run in runs if run.get(f"{prefix}machine")}) or ["a machine"]
    cores = max(run[f"{prefix}cpu_cores"] for run in runs if f"{prefix}cpu_cores" in run)
    shared = [x for x in loads if x > cores + SHARED_MARGIN]
    measured = (
        f"*Times* measured on {' and '.join(machines)}; the load average at the end of the {len(loads)} cells "
        f"was {min(loads):.2f} to {max(loads):.2f} (median {statistics.median(loads):.2f})"
    )
    if not shared:
        return measured + f": no more than the {cores:g} cores the cells kept busy themselves, so the times compare."
    return (
        measured + f": above its {cores:g} cores for {len(shared)} of {len(loads)} cells, so other work shared "
        "the cores: those times are inflated and do not compare."
    )
