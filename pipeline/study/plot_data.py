"""The data behind DVC's plots (`dvc plots show`, dvc.yaml's plots): every cell as a point of the
accuracy-against-saving plot, and every cell's per-epoch curves averaged over its seeds."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from .report import Row


def plot_points(rows: list[Row]) -> list[dict]:
    """Every cell as one point, the data behind `dvc plots show`'s accuracy-against-saving plot."""
    return [
        {
            "method": row.method,
            "rate": row.rate,
            "seed": run["seed"],
            "achieved_saving": run["achieved_saving"],
            "test_acc": run["test_acc"],
        }
        for row in rows
        for run in row.runs
    ]


def curves(rows: list[Row], histories: Callable[[str, float, int], list[dict]], keys: tuple[str, ...]) -> list[dict]:
    """Per cell (method@rate) and epoch, each `keys` value averaged over the seeds: the data of the
    per-epoch DVC plots (one line per cell)."""
    points = []
    for row in rows:
        per_seed = [histories(row.method, row.rate, run["seed"]) for run in row.runs]
        name = row.method if row is rows[0] else f"{row.method}@{row.rate:g}"  # rows[0]: the reference
        for epoch_rows in zip(*per_seed):
            point = {"epoch": epoch_rows[0]["epoch"] + 1, "method": name}
            point.update({k: statistics.fmean(e[k] for e in epoch_rows) for k in keys})
            points.append(point)
    return points
