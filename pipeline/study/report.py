"""Collect the grid's results (enumerated from params, never globbed) into tables and plot data."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.io import read_json
from . import equal_cost, paths
from .config import Config


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
    return reference_and_grid(cfg, cfg.study.methods, cfg.study.rates, cfg.study.seeds)


def grid_cells(methods: list[str], rates: list[float], seeds: list[int]) -> list[Cell]:
    """methods x rates x seeds, in the order of the tables."""
    return [(m, r, s) for m in methods for r in rates for s in seeds]


def reference_and_grid(cfg: Config, methods: list[str], rates: list[float], seeds: list[int]) -> list[Cell]:
    """The full-data reference of every seed, then methods x rates x seeds."""
    return [(cfg.reference.name, 0.0, seed) for seed in seeds] + grid_cells(methods, rates, seeds)


def expected_ssl_cells(cfg: Config) -> list[Cell]:
    """Every pre-trained encoder the params ask for: the full-data ones first."""
    return reference_and_grid(cfg, cfg.study.ssl_methods, cfg.study.ssl_rates, cfg.study.ssl_seeds)


def expected_untrained_cells(cfg: Config) -> list[Cell]:
    """The no-pre-training reference of every SimCLR seed."""
    return [(paths.UNTRAINED, 0.0, seed) for seed in cfg.study.ssl_seeds]


def expected_downstream_cells(cfg: Config) -> list[Cell]:
    return grid_cells(cfg.study.selectors, cfg.study.rates, cfg.study.ssl_seeds)


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


def accuracy_columns(header: str, key: str) -> list[Column]:
    """An accuracy in percent and its difference to the reference (the first row)."""
    return [(f"{header} (%)", key, "pct"), ("vs full", key, "delta")]


SAVING: Column = ("achieved saving", "achieved_saving", "f3")
SUPERVISED_COLUMNS: list[Column] = [
    *accuracy_columns("test acc", "test_acc"),
    SAVING,
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
# An encoder's frozen features read both ways (pipeline/study/probing.py): the SSL and downstream tables.
PROBE_COLUMNS: list[Column] = [*accuracy_columns("linear acc", "linear_acc"), ("kNN acc (%)", "knn_acc", "pct")]
SSL_COLUMNS: list[Column] = [*PROBE_COLUMNS, SAVING, ("pre-training time (s)", "pretrain_wall_time_s", "f1")]
DOWNSTREAM_COLUMNS: list[Column] = [*PROBE_COLUMNS, ("kept", "kept", "f0"), SAVING]


def markdown_table(rows: list[Row], columns: list[Column] = SUPERVISED_COLUMNS, first: str = "method") -> str:
    """One line per (method, rate), the first row being the reference the "delta" columns compare to."""
    ref = rows[0]

    def cell(row: Row, key: str, kind: str) -> str:
        if kind == "pct":  # one seed has no spread to show: "1 seed", never "± 0.00"
            spread = f" ± {100 * row.std(key):.2f}" if len(row.runs) > 1 else " (1 seed)"
            return f"{100 * row.mean(key):.2f}{spread}"
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


def budgets(rows: list[Row], key: str = "test_acc", reference: str = equal_cost.REFERENCE) -> list[equal_cost.Budget]:
    """The equal-cost comparison of the grid's rows (rows[0]: the full-data reference) at the
    reference's budgets (see pipeline/study/equal_cost.py)."""
    cells = [
        equal_cost.Cell(row.method, row.rate, int(run["seed"]), run["achieved_saving"], run[key])
        for row in rows[1:]
        for run in row.runs
    ]
    full = {int(run["seed"]): run[key] for run in rows[0].runs}
    return equal_cost.compare(cells, full, reference)


def saving_series(rows: list[Row], key: str = "test_acc") -> dict[str, list[tuple[float, float, float | None]]]:
    """Per method: (achieved saving, mean accuracy, half-width of its 95% interval over the seeds, or
    None under 2 seeds) at each rate, the full-data row first as the saving-0 point of every curve."""
    full = (0.0, rows[0].mean(key), equal_cost.mean_interval([r[key] for r in rows[0].runs]))
    series: dict[str, list[tuple[float, float, float | None]]] = {}
    for row in rows[1:]:
        half = equal_cost.mean_interval([r[key] for r in row.runs])
        series.setdefault(row.method, [full]).append((row.mean("achieved_saving"), row.mean(key), half))
    return series


def setting(task: str, meta: dict, model: str, epochs: int, rows: list[Row], prefix: str = "") -> dict:
    """What a part of the study measured, for the README's answer and its scope: the task, data,
    model, epochs, seeds and the machines its cells ran on."""
    runs = [run for row in rows for run in row.runs]
    return {
        "task": task,
        "dataset": meta["name"],
        "train_size": meta["train_size"],
        "test_size": meta["test_size"],
        "model": model,
        "epochs": epochs,
        "seeds": len({int(run["seed"]) for run in runs}),
        "machine": " and ".join(sorted({run[f"{prefix}machine"] for run in runs if run.get(f"{prefix}machine")})),
        # PyTorch's threads: another count sums in another order, as another CPU does
        "threads": sorted({int(run[f"{prefix}torch_threads"]) for run in runs if f"{prefix}torch_threads" in run}),
    }


def rate_key(rate: float) -> str:
    """A rate as a metrics key without a dot (DVC nests metrics keys at dots): 0.7 -> pruned70."""
    return "pruned" + f"{100 * rate:g}".replace(".", "_")


def _difference(name: str, iv: equal_cost.Interval | None) -> dict:
    """A seed-paired difference and its 95% interval under fixed names (null where there is none)."""
    mean, low, high = (None, None, None) if iv is None else (iv.mean, iv.low, iv.high)
    return {name: mean, f"{name}_low": low, f"{name}_high": high}


def budget_key(saving: float) -> str:
    """A budget as a metrics key without a dot (DVC nests metrics keys at dots): 0.4667 -> saving46_7."""
    return "saving" + f"{100 * saving:.1f}".removesuffix(".0").replace(".", "_")


# A corrected verdict as a number: above 1, below -1, inconclusive (or no verdict) 0.
HOLDS = {"above": 1, "below": -1, "inconclusive": 0, None: 0}


def _vs_reference(b: equal_cost.Budget, s: equal_cost.Standing) -> equal_cost.Interval | None:
    """A method's difference to the reference at budget `b`; the reference's own is 0 (not null:
    `dvc metrics show` leaves nulls out, and a rerun that another method wins would change the
    keys), with an interval where the others have one (2 seeds or more)."""
    if s.method != b.reference:
        return s.vs_reference
    return equal_cost.Interval(0.0, 0.0 if b.seeds > 1 else None, b.seeds)


def dvc_metrics(rows: list[Row], budgets: list[equal_cost.Budget], key: str = "test_acc") -> dict:
    """Stable keys for `dvc metrics diff` and `dvc exp show`: the full-data row under "full"; under
    "rates", per nominal rate (pruned70, ...) and method the raw mean, std and achieved saving; under
    "budgets", per budget (saving46_7, ...) its saving, rate, best method and runner-up, and for every method the same
    fields: whether it reaches the budget, its accuracy there, its seed-paired differences to the
    reference (the reference's own: 0) and to the best other method with their 95% intervals, and
    whether each difference holds after Holm's correction (above: 1, below: -1, neither: 0). A
    method that does not reach a budget has nulls there, which `dvc metrics show` leaves out:
    `reaches` and `max_saving` say why."""
    ref = rows[0]
    out: dict = {ref.method.replace(" ", "_"): {key: ref.mean(key), f"{key}_std": ref.std(key)}}
    rates: dict = {}
    for row in rows[1:]:
        rates.setdefault(rate_key(row.rate), {})[row.method] = {
            key: row.mean(key),
            f"{key}_std": row.std(key),
            "achieved_saving": row.mean("achieved_saving"),
        }
    at_saving: dict = {}
    for b in budgets:
        methods = {}
        for s in b.standings:
            vs_ref = _vs_reference(b, s)
            methods[s.method] = {
                "reaches": s.reaches,
                "max_saving": s.max_saving,
                key: s.accuracy,
                **_difference(f"vs_{b.reference}", vs_ref),
                **_difference("vs_best_other", s.vs_best),
                f"vs_{b.reference}_holds": HOLDS[s.vs_reference_verdict] if s.reaches else None,
                "vs_best_other_holds": HOLDS[s.vs_best_verdict] if s.reaches else None,
            }
        runner = b.runner_up
        at_saving[budget_key(b.saving)] = {
            "saving": b.saving,
            "rate": b.rate,
            "best": b.best.method if b.reached else None,
            "runner_up": runner.method if runner else None,
            "methods": methods,
        }
    return {**out, "rates": rates, "budgets": at_saving}


def headline_metrics(budgets: list[equal_cost.Budget], key: str = "test_acc", central: str = "emp") -> dict:
    """The verdict's figures at the largest budget, under names that do not depend on the grid: the
    most accurate method and the central method (EMP), each against the reference and the best other."""
    if not budgets or not budgets[-1].reached:
        return {}
    b = budgets[-1]
    out: dict = {"saving": b.saving, "rate": b.rate, "best_method": b.best.method, f"best_{key}": b.best.accuracy}
    vs = f"vs_{b.reference}"
    out.update({f"best_{k}": v for k, v in _difference(vs, _vs_reference(b, b.best)).items()})
    c = next((s for s in b.reached if s.method == central), None)
    if c is not None:
        out[f"{central}_{key}"] = c.accuracy
        out.update({f"{central}_{k}": v for k, v in _difference(vs, c.vs_reference).items()})
        out.update({f"{central}_{k}": v for k, v in _difference("vs_best_other", c.vs_best).items()})
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


def per_seed_table(rows: list[Row], key: str, first: str = "method") -> str:
    """Every cell's `key` (in percent), a column per seed: the numbers behind each mean, and the
    seed-paired differences the verdicts test."""
    seeds = sorted({int(run["seed"]) for row in rows for run in row.runs})
    lines = [
        f"| {first} | rate | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|---:|" + "---:|" * len(seeds),
    ]
    for row in rows:
        by_seed = {int(run["seed"]): run[key] for run in row.runs}
        cells = " | ".join(f"{100 * by_seed[s]:.2f}" if s in by_seed else "" for s in seeds)
        lines.append(f"| {row.method} | {row.rate:g} | {cells} |")
    return "\n".join(lines) + "\n"
