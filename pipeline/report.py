"""Collect the grid's results (enumerated from params, never globbed) into tables."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .config import Config
from .errors import UserError
from .outputs import cell_dir, read_json


@dataclass(frozen=True)
class Row:
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
    lines = [
        "| method | rate | test acc (%) | achieved saving | train time (s) | LFL Gini | seen <= 1x | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        acc = f"{100 * row.mean('test_acc'):.2f} ± {100 * row.std('test_acc'):.2f}"
        lines.append(
            f"| {row.method} | {row.rate:g} | {acc} | {row.mean('achieved_saving'):.3f} | "
            f"{row.mean('train_time_s'):.1f} | {row.mean('lfl_gini'):.3f} | "
            f"{row.mean('lfl_seen_at_most_once'):.3f} | {len(row.runs)} |"
        )
    return "\n".join(lines) + "\n"
