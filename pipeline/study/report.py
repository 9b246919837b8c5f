"""Collect the grid's results (enumerated from params, never globbed) into tables and plot data."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.io import read_json
from . import verdict
from .config import Config

README_BEGIN = "<!-- results:begin (written by `make readme` from reports/results.md; do not edit by hand) -->"
README_END = "<!-- results:end -->"
NLU_PRESET_BEGIN = (
    "<!-- nlu-results:begin (written by `make readme` from reports/presets/nlu_cpu/; do not edit by hand) -->"
)
NLU_PRESET_END = "<!-- nlu-results:end -->"


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


Cell = tuple[str, float, int]


def expected_cells(cfg: Config) -> list[Cell]:
    """(method, rate, seed) of every supervised cell the params ask for: the reference first, then the grid."""
    cells = [("full", 0.0, seed) for seed in cfg.study.seeds]
    return cells + grid_cells(cfg.study.methods, cfg.study.rates, cfg.study.seeds)


def grid_cells(methods: list[str], rates: list[float], seeds: list[int]) -> list[Cell]:
    """methods x rates x seeds, in the order of the tables."""
    return [(m, r, s) for m in methods for r in rates for s in seeds]


def expected_ssl_cells(cfg: Config) -> list[Cell]:
    """Every pre-trained encoder the params ask for (one seed: pretrain.seed): full first."""
    seed = cfg.pretrain.seed
    return [("full", 0.0, seed)] + [(m, r, seed) for m in cfg.study.ssl_methods for r in cfg.study.ssl_rates]


def expected_downstream_cells(cfg: Config) -> list[Cell]:
    return [(s, r, cfg.pretrain.seed) for s in cfg.study.selectors for r in cfg.study.rates]


def collect(cells: list[Cell], path_of: Callable[[str, float, int], Path]) -> list[Row]:
    """Read each expected cell's metrics.json (a missing one is a clear error), grouped by (method, rate)."""
    rows: dict[tuple[str, float], list[dict]] = {}
    for method, rate, seed in cells:
        path = path_of(method, rate, seed)
        if not path.is_file():
            raise UserError(f"{path} is missing: run the study first (dvc repro)")
        rows.setdefault((method, rate), []).append(read_json(path))
    return [Row(m, r, runs) for (m, r), runs in rows.items()]


# A table column: header, metric key, and how to show it ("pct" = percent with std, "delta" =
# percentage points against the first row, "f1"/"f3" = decimals).
Column = tuple[str, str, str]
SUPERVISED_COLUMNS: list[Column] = [
    ("test acc (%)", "test_acc", "pct"),
    ("vs full", "test_acc", "delta"),
    ("achieved saving", "achieved_saving", "f3"),
    ("train time (s)", "train_time_s", "f1"),
    ("wall time (s)", "wall_time_s", "f1"),
    ("LFL Gini", "lfl_gini", "f3"),
    ("seen <= 1x", "lfl_seen_at_most_once", "f3"),
]
NLU_COLUMNS: list[Column] = [
    *SUPERVISED_COLUMNS[:3],
    ("token saving", "achieved_token_saving", "f3"),  # what a text's cost scales with
    *SUPERVISED_COLUMNS[3:],
]
SSL_COLUMNS: list[Column] = [
    ("linear acc (%)", "linear_acc", "pct"),
    ("vs full", "linear_acc", "delta"),
    ("kNN acc (%)", "knn_acc", "pct"),
    ("achieved saving", "achieved_saving", "f3"),
    ("pre-training time (s)", "pretrain_wall_time_s", "f1"),
]
DOWNSTREAM_COLUMNS: list[Column] = [
    ("linear acc (%)", "linear_acc", "pct"),
    ("vs full", "linear_acc", "delta"),
    ("kNN acc (%)", "knn_acc", "pct"),
    ("kept", "kept", "f0"),
    ("achieved saving", "achieved_saving", "f3"),
]


def markdown_table(rows: list[Row], columns: list[Column] = SUPERVISED_COLUMNS, first: str = "method") -> str:
    """One line per (method, rate), the first row being the reference the "delta" columns compare to."""
    ref = rows[0]

    def cell(row: Row, key: str, kind: str) -> str:
        if kind == "pct":
            return f"{100 * row.mean(key):.2f} ± {100 * row.std(key):.2f}"
        if kind == "delta":
            return "" if row is ref else f"{100 * (row.mean(key) - ref.mean(key)):+.2f}"
        return f"{row.mean(key):.{int(kind[1:])}f}"

    lines = [
        f"| {first} | rate | " + " | ".join(h for h, _, _ in columns) + " | seeds |",
        "|---|---:|" + "---:|" * len(columns) + "---:|",
    ]
    for row in rows:
        values = " | ".join(cell(row, key, kind) for _, key, kind in columns)
        lines.append(f"| {row.method} | {row.rate:g} | {values} | {len(row.runs)} |")
    return "\n".join(lines) + "\n"


def _interval(p: verdict.Paired | None) -> str:
    if p is None:
        return ""
    ci = "" if p.low is None else f" [{100 * p.low:+.2f}, {100 * p.high:+.2f}]"
    return f"{100 * p.mean:+.2f}{ci}" + (" ‡" if p.unequal_saving else "")


def comparisons(rows: list[Row], key: str = "test_acc") -> dict[float, list[verdict.Comparison]]:
    """Per rate, every method's seed-paired comparison (the reference row, rows[0], left out)."""
    by_rate: dict[float, dict[str, list[dict]]] = {}
    for row in rows[1:]:
        by_rate.setdefault(row.rate, {})[row.method] = row.runs
    return {rate: verdict.compare(runs, rate, key) for rate, runs in by_rate.items()}


def comparison_table(rows: list[Row], key: str = "test_acc") -> str:
    """Per rate and method: accuracy, achieved saving, and the seed-paired differences to random and
    to the best other method at that rate (points, 95% CI), with the verdict they support."""
    saving = {(r.method, r.rate): r.mean("achieved_saving") for r in rows}
    lines = [
        "| rate | method | acc (%) | achieved saving | vs random, 95% CI | best other | vs best other, 95% CI "
        "| verdict |",
        "|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for rate, comps in comparisons(rows, key).items():
        for c in sorted(comps, key=lambda c: -c.accuracy):
            lines.append(
                f"| {rate:g} | {c.method} | {100 * c.accuracy:.2f} | {saving[c.method, rate]:.3f} | "
                f"{_interval(c.vs_reference)} | {c.best_other} | {_interval(c.vs_best_other)} | "
                f"{c.verdict()} |"
            )
    return "\n".join(lines) + "\n"


def headline(rows: list[Row], seeds: int, key: str = "test_acc") -> str:
    """The one-sentence verdict at the highest rate (see verdict.headline)."""
    by_rate = comparisons(rows, key)
    if not by_rate:
        return verdict.headline([], {}, seeds)
    top = max(by_rate)
    saving = {r.method: r.mean("achieved_saving") for r in rows if r.rate == top}
    return verdict.headline(by_rate[top], saving, seeds)


def saving_series(rows: list[Row], key: str = "test_acc") -> dict[str, list[tuple[float, float, float]]]:
    """Per method: (achieved saving, mean accuracy, std) at each rate, the reference row left out."""
    series: dict[str, list[tuple[float, float, float]]] = {}
    for row in rows[1:]:
        series.setdefault(row.method, []).append((row.mean("achieved_saving"), row.mean(key), row.std(key)))
    return series


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


def rate_key(rate: float) -> str:
    """A rate as a metrics key without a dot (DVC nests metrics keys at dots): 0.7 -> pruned70."""
    return "pruned" + f"{100 * rate:g}".replace(".", "_")


def _paired(name: str, p: verdict.Paired | None) -> dict:
    """A seed-paired difference and its 95% interval (null where there is none: fewer than 2 seeds)."""
    if p is None or p.low is None:
        return {name: None if p is None else p.mean, f"{name}_low": None, f"{name}_high": None}
    return {name: p.mean, f"{name}_low": p.low, f"{name}_high": p.high}


def dvc_metrics(rows: list[Row], key: str = "test_acc") -> dict:
    """Stable keys for `dvc metrics diff` and `dvc exp show`: the reference row under "full", then
    per rate (pruned70, ...) and method the same fields for every method: mean and std of `key`,
    achieved saving, the seed-paired difference to random and to the best other method with their
    95% intervals (random's difference to itself is 0), and which method the best other is."""
    ref = rows[0]
    out: dict = {ref.method.replace(" ", "_"): {key: ref.mean(key), f"{key}_std": ref.std(key)}}
    row_of = {(r.method, r.rate): r for r in rows[1:]}
    for rate, comps in comparisons(rows, key).items():
        cells = {}
        for c in comps:
            r = row_of[c.method, rate]
            vs_random = c.vs_reference
            if c.method == verdict.REFERENCE:
                vs_random = verdict.Paired(0.0, 0.0, 0.0, len(r.runs), 0.0)
            cells[c.method] = {
                key: r.mean(key),
                f"{key}_std": r.std(key),
                "achieved_saving": r.mean("achieved_saving"),
                **_paired("vs_random", vs_random),
                **_paired("vs_best_other", c.vs_best_other),
                "best_other": c.best_other,
            }
        out[rate_key(rate)] = cells
    return out


def headline_metrics(rows: list[Row], key: str = "test_acc", central: str = "emp") -> dict:
    """The verdict's figures at the highest rate, under names that do not depend on the grid: the
    most accurate method and the central method (EMP), each against random and the best other."""
    by_rate = comparisons(rows, key)
    if not by_rate:
        return {}
    top = max(by_rate)
    comps = {c.method: c for c in by_rate[top]}
    best = max(comps.values(), key=lambda c: c.accuracy)
    out: dict = {"rate": top, "best_method": best.method, f"best_{key}": best.accuracy}
    out.update({f"best_{k}": v for k, v in _paired("vs_random", best.vs_reference).items()})
    if central in comps:
        c = comps[central]
        out[f"{central}_{key}"] = c.accuracy
        out.update({f"{central}_{k}": v for k, v in _paired("vs_random", c.vs_reference).items()})
        out.update({f"{central}_{k}": v for k, v in _paired("vs_best_other", c.vs_best_other).items()})
        out[f"{central}_best_other"] = c.best_other
    return out


def numeric_leaves(tree: dict, prefix: str = "") -> dict[str, float]:
    """Every number in a nested dict, under its dotted path (for MLflow metrics)."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(numeric_leaves(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def curves(rows: list[Row], histories: Callable[[str, float, int], list[dict]], keys: tuple[str, ...]) -> list[dict]:
    """Per cell (method@rate) and epoch, each `keys` value averaged over the seeds: the data of the
    per-epoch DVC plots (one line per cell)."""
    points = []
    for row in rows:
        per_seed = [histories(row.method, row.rate, run["seed"]) for run in row.runs]
        name = row.method if row.method == "full" else f"{row.method}@{row.rate:g}"
        for epoch_rows in zip(*per_seed):
            point = {"epoch": epoch_rows[0]["epoch"] + 1, "method": name}
            point.update({k: statistics.fmean(e[k] for e in epoch_rows) for k in keys})
            points.append(point)
    return points


def replace_block(text: str, block: str, begin: str = README_BEGIN, end: str = README_END) -> str:
    """Put `block` between the README's markers `begin` and `end` (the results block by default);
    the rest of the text stays as it is."""
    try:  # the begin marker is found by its start, so that a reworded comment still matches
        head, rest = text.split(begin.split(" (")[0], 1)
        _, tail = rest.split("-->", 1)[1].split(end, 1)
    except ValueError:
        raise UserError(
            f"README.md has no results markers: add the lines {begin} and {end} where the results belong"
        ) from None
    return f"{head}{begin}\n{block.strip()}\n{end}{tail}"
