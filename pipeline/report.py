"""Collect the grid's results (enumerated from params, never globbed) into tables and plot data."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .config import Config
from .errors import UserError
from .outputs import cell_dir, read_json

README_BEGIN = "<!-- results:begin (written by the aggregate stage; do not edit by hand) -->"
README_END = "<!-- results:end -->"


@dataclass(frozen=True)
class Row:
    """Every seed's final metrics of one (method, rate)."""

    method: str
    rate: float
    runs: list[dict]

    def mean(self, key: str) -> float:
        return statistics.fmean(r[key] for r in self.runs)

    def std(self, key: str) -> float:
        return statistics.stdev(r[key] for r in self.runs) if len(self.runs) > 1 else 0.0


def expected_cells(cfg: Config) -> list[tuple[str, float, int]]:
    """(method, rate, seed) of every cell the params ask for: the reference first, then the grid."""
    cells = [("full", 0.0, seed) for seed in cfg.study.seeds]
    cells += [(m, r, s) for m in cfg.study.methods for r in cfg.study.rates for s in cfg.study.seeds]
    return cells


def collect(cfg: Config) -> list[Row]:
    rows: dict[tuple[str, float], list[dict]] = {}
    for method, rate, seed in expected_cells(cfg):
        path = cell_dir(method, rate, seed) / "metrics.json"
        if not path.is_file():
            raise UserError(f"{path} is missing: run the study first (dvc repro)")
        rows.setdefault((method, rate), []).append(read_json(path))
    return [Row(m, r, runs) for (m, r), runs in rows.items()]


def markdown_table(rows: list[Row]) -> str:
    """One line per (method, rate); accuracy also as the difference to the full-data reference."""
    ref = rows[0]
    lines = [
        "| method | rate | test acc (%) | vs full | achieved saving | train time (s) | wall time (s) "
        "| LFL Gini | seen <= 1x | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        acc = f"{100 * row.mean('test_acc'):.2f} ± {100 * row.std('test_acc'):.2f}"
        delta = "" if row is ref else f"{100 * (row.mean('test_acc') - ref.mean('test_acc')):+.2f}"
        lines.append(
            f"| {row.method} | {row.rate:g} | {acc} | {delta} | {row.mean('achieved_saving'):.3f} | "
            f"{row.mean('train_time_s'):.1f} | {row.mean('wall_time_s'):.1f} | {row.mean('lfl_gini'):.3f} | "
            f"{row.mean('lfl_seen_at_most_once'):.3f} | {len(row.runs)} |"
        )
    return "\n".join(lines) + "\n"


def saving_series(rows: list[Row]) -> dict[str, list[tuple[float, float, float]]]:
    """Per method: (achieved saving, mean test accuracy, std) at each rate, for the main plot."""
    series: dict[str, list[tuple[float, float, float]]] = {}
    for row in rows[1:]:
        series.setdefault(row.method, []).append(
            (row.mean("achieved_saving"), row.mean("test_acc"), row.std("test_acc")))
    return series


def plot_points(rows: list[Row]) -> list[dict]:
    """Every cell as one point, the data behind `dvc plots show`'s accuracy-against-saving plot."""
    return [{"method": row.method, "rate": row.rate, "seed": run["seed"],
             "achieved_saving": run["achieved_saving"], "test_acc": run["test_acc"]}
            for row in rows for run in row.runs]


def dvc_metrics(rows: list[Row]) -> dict:
    return {f"{r.method}-{r.rate:g}": {"test_acc": r.mean("test_acc"), "test_acc_std": r.std("test_acc"),
                                       "achieved_saving": r.mean("achieved_saving")} for r in rows}


def replace_block(text: str, block: str) -> str:
    """Put `block` between the README's results markers; the rest of the text stays as it is."""
    try:
        head, rest = text.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
    except ValueError:
        raise UserError(f"README.md has no results markers: add the lines {README_BEGIN} and {README_END} "
                        "where the results belong") from None
    return f"{head}{README_BEGIN}\n{block.strip()}\n{README_END}{tail}"
