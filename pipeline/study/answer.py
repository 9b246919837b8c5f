"""The answer the README opens with, from the committed reports: a row per method, a column per
study, each cell the method's seed-paired difference to random at the study's lowest and highest
budget with its verdict after correction; the plain sentences under it (which methods are above
random where, which never are, what was measured and what was not); and the forest plot of the
same numbers. `make readme` writes it (scripts/readme.py); nothing here trains or reads a cell.

A study may have a rerun with another thread count (rerun/metrics.json beside its metrics): a
verdict that differs there is marked as flipped and is not counted as decided, because another
CPU changes floating-point order the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import UserError
from ..core.io import read_json
from . import report_plots
from .equal_cost import MIN_SEEDS, REFERENCE
from .verdict import percent, seeds_words

# The corrected verdicts a report's metrics hold per method and budget (1 above, -1 below, 0 neither).
VS_REFERENCE = f"vs_{REFERENCE}_holds"
VERDICTS = (VS_REFERENCE, "vs_best_other_holds")
# A corrected verdict (metrics' `holds`) as a mark in a table cell.
MARKS = {1: "▲", -1: "▼", 0: "○"}
FLIPPED = "†"
UNREACHED = "✗"
LEGEND = (
    f"{MARKS[1]} above random after correcting for the methods compared, {MARKS[-1]} below it, "
    f"{MARKS[0]} inconclusive; {UNREACHED} does not reach that saving; {FLIPPED} the verdict changed when the "
    f"study was rerun with another thread count, so it is not counted as decided; blank: not in that study's grid."
)


@dataclass(frozen=True)
class Source:
    """A study whose comparison the answer shows: its column header, its report (a link from the
    README), its metrics.json and the block in it holding the comparison (None: the top level)."""

    label: str
    link: str
    metrics: Path
    block: str | None

    @property
    def rerun(self) -> Path:
        return self.metrics.parent / "rerun" / "metrics.json"


@dataclass(frozen=True)
class Column:
    source: Source
    setting: dict
    budgets: list[dict]  # ascending saving; the lowest and the highest are shown
    # (budget key, method, verdict field) of every verdict the rerun changed
    flipped: frozenset[tuple[str, str, str]] = frozenset()
    rerun: bool = False
    untrained: dict | None = None  # SimCLR: the no-pre-training reference and what pre-training adds
    missing: str | None = None  # why there is nothing to show yet

    @property
    def shown(self) -> list[dict]:
        return [self.budgets[0], self.budgets[-1]] if len(self.budgets) > 1 else self.budgets

    @property
    def seeds(self) -> int:
        return self.setting.get("seeds", 0)


def _block(path: Path, block: str | None) -> dict | None:
    if not path.is_file():
        return None
    metrics = read_json(path)
    return metrics if block is None else metrics.get(block)


def load(source: Source) -> Column:
    """The study's comparison; where it has no committed report at equal cost, an empty column
    that says so."""
    found = _block(source.metrics, source.block)
    if not found:
        return Column(source, {}, [], missing="not run yet")
    if not found.get("budgets"):
        return Column(source, {}, [], missing="its committed run predates the equal-cost comparison")
    if "setting" not in found:  # no seed count, no verdict against the best: not read as an answer
        return Column(source, {}, [], missing="its committed run predates the seed count this answer reads")
    budgets = sorted(({"key": k, **b} for k, b in found["budgets"].items()), key=lambda b: b["saving"])
    again = _block(source.rerun, source.block)
    flipped = set()
    if again:
        for b in budgets:
            other = again.get("budgets", {}).get(b["key"], {}).get("methods", {})
            for method, m in b["methods"].items():
                for field in VERDICTS:
                    if other.get(method, {}).get(field) != m.get(field):
                        flipped.add((b["key"], method, field))
    return Column(source, found.get("setting", {}), budgets, frozenset(flipped), bool(again), found.get("untrained"))


def holds(col: Column, budget: dict, method: str, field: str = VS_REFERENCE) -> int:
    """The decided verdict of `field` (against random, or against the best other method): 1 above,
    -1 below, 0 otherwise (inconclusive, no verdict, or changed by the rerun)."""
    m = budget["methods"].get(method)
    if m is None or not m["reaches"] or col.seeds < MIN_SEEDS or (budget["key"], method, field) in col.flipped:
        return 0
    return m.get(field) or 0  # reports from before a verdict was recorded: none


def _cell(col: Column, budget: dict, method: str) -> str:
    m = budget["methods"].get(method)
    if m is None:
        return ""
    if not m["reaches"]:
        return UNREACHED
    mark = MARKS[m[f"vs_{REFERENCE}_holds"] or 0] if col.seeds >= MIN_SEEDS else ""
    flip = FLIPPED if (budget["key"], method, VS_REFERENCE) in col.flipped else ""
    return f"{100 * m[f'vs_{REFERENCE}']:+.2f} {mark}{flip}".strip()


def methods(columns: list[Column]) -> list[str]:
    """Every method of any column but the reference, in the order they first appear."""
    names = [m for col in columns for b in col.shown for m in b["methods"]]
    return [m for m in dict.fromkeys(names) if m != REFERENCE]


def _name(source: Source) -> str:
    """The study's label, linked to its report where that exists (paths from the repository root)."""
    return f"[{source.label}]({source.link})" if Path(source.link).is_file() else source.label


def _header(col: Column) -> str:
    if col.missing:
        return f"{_name(col.source)}<br>{col.missing}"
    savings = " / ".join(percent(b["saving"]) for b in col.shown)
    seeds = seeds_words(col.seeds) + ("" if col.seeds >= MIN_SEEDS else ": no verdict")
    return f"{_name(col.source)}<br>{savings} skipped, {seeds}"


def table(columns: list[Column]) -> str:
    head = "| method | " + " | ".join(_header(c) for c in columns) + " |"
    lines = [head, "|---|" + "---|" * len(columns)]
    for method in methods(columns):
        cells = [" / ".join(_cell(c, b, method) for b in c.shown) if _present(c, method) else "" for c in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _present(col: Column, method: str) -> bool:
    return any(method in b["methods"] for b in col.shown)


def _where(hits: list[tuple[Column, dict]]) -> str:
    return ", ".join(f"{col.source.label} at {percent(b['saving'])}" for col, b in hits)


def sentences(columns: list[Column], not_run: list[str]) -> list[str]:
    """Plain statements that agree with the table: per method, where it is above or below random
    (decided verdicts only); which methods never are; what was not checked; the scope."""
    missing = [c for c in columns if c.missing]
    columns = [c for c in columns if not c.missing]
    judged = [c for c in columns if c.seeds >= MIN_SEEDS]
    lines = []
    above, never = [], []
    for method in methods(columns):
        hits = {s: [(c, b) for c in judged for b in c.shown if holds(c, b, method) == s] for s in (1, -1)}
        studies = [c for c in judged if _present(c, method)]
        if hits[1]:
            n = len({id(c) for c, _ in hits[1]})
            of = f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'}"
            above.append(f"**{method}** in {n} of {of} ({_where(hits[1])})")
        elif studies:
            never.append(method)
        if hits[-1]:
            lines.append(f"**{method}** is below random after correction: {_where(hits[-1])}.")
    if above:
        lines.insert(0, "Above random after correction: " + "; ".join(above) + ".")
    else:
        lines.insert(0, "No method is above random after correction in any study.")
    lines[1:1] = [line for line in (_level(judged, -1, "highest"), _level(judged, 0, "lowest")) if line]
    if never:
        lines.append(f"Never above random in any study shown: {', '.join(never)}.")
    unreached = {
        m: [(c, b) for c in columns for b in c.shown if m in b["methods"] and not b["methods"][m]["reaches"]]
        for m in methods(columns)
    }
    for method, misses in unreached.items():
        if misses:
            lines.append(f"**{method}** does not reach {_where(misses)}: it skips less than its rate says.")
    checked = [c.source.label for c in columns if c.rerun]
    unchecked = [c.source.label for c in judged if not c.rerun]
    if checked:
        flips = sum(1 for c in columns for _, _, field in c.flipped if field == VS_REFERENCE)
        changed = f"{flips} verdict changed and is" if flips == 1 else f"{flips} verdicts changed and are"
        lines.append(
            f"Rerun with another thread count (another floating-point order, as another CPU gives): "
            f"{', '.join(checked)}; {changed} marked {FLIPPED}, not counted above."
        )
    if unchecked:
        lines.append(
            f"Not yet rerun with another thread count, so not checked for verdicts that change with the "
            f"floating-point order: {', '.join(unchecked)}."
        )
    for col in columns:
        if col.untrained:
            gain = 100 * col.untrained["pretraining_gain"]
            lines.append(
                f"In {col.source.label}, full-data pre-training adds {gain:+.2f} points of linear-probe accuracy "
                f"over the same encoder untrained: the differences between pruning methods read against that."
            )
    if missing:
        lines.append("No verdict yet from " + "; ".join(f"{c.source.label} ({c.missing})" for c in missing) + ".")
    lines.append(scope(columns, not_run))
    return lines


def _level(columns: list[Column], index: int, which: str) -> str:
    """Who to use at the studies' lowest or highest saving: the most accurate method of each study,
    the methods as good as it (not distinguishable after correction) in every study that ran
    them, and those below it in some study."""
    if not columns:
        return ""
    at = [(c, c.shown[index]) for c in columns]
    savings = sorted(b["saving"] for _, b in at)
    span = percent(savings[0]) if savings[0] == savings[-1] else f"{percent(savings[0])} to {percent(savings[-1])}"
    best = ", ".join(f"{b['best']} in {c.source.label}" for c, b in at)
    text = f"At the {which} saving of each study ({span} of the training skipped) the most accurate is {best}"
    names = [*methods(columns), REFERENCE]
    others = [m for m in names if any(m in b["methods"] and m != b["best"] for _, b in at)]
    # where the method ran, reached the saving and is not the best; reports from before the verdict
    # against the best was recorded say nothing about it
    ran = lambda m: [
        (c, b)
        for c, b in at
        if m in b["methods"] and b["methods"][m]["reaches"] and m != b["best"] and VERDICTS[1] in b["methods"][m]
    ]
    good = [m for m in others if ran(m) and all(holds(c, b, m, "vs_best_other_holds") == 0 for c, b in ran(m))]
    below = [m for m in others if any(holds(c, b, m, "vs_best_other_holds") == -1 for c, b in ran(m))]
    if good:
        text += f"; as good as it after correction, wherever they ran: {', '.join(good)}"
    if below:
        text += f"; below it in at least one study: {', '.join(below)}"
    return text + "."


def scope(columns: list[Column], not_run: list[str]) -> str:
    parts = []
    for col in columns:
        s = col.setting
        threads = s.get("threads") or []
        parts.append(
            f"{col.source.label}: {s.get('dataset')} ({s.get('train_size')} training samples), `{s.get('model')}`, "
            f"{s.get('epochs')} epochs, {seeds_words(col.seeds)}, on {s.get('machine') or 'an unrecorded machine'}"
            + (f" with {' and '.join(map(str, threads))} thread{'s' if threads != [1] else ''}" if threads else "")
        )
    text = "**Scope.** " + "; ".join(parts) + "."
    if not_run:
        text += f" Not run, so not part of this answer: {', '.join(not_run)}."
    return text


def forest(columns: list[Column]):
    """The figure: a row per study, its lowest and highest budget side by side."""
    rows = [
        report_plots.panels({b["key"]: b for b in col.shown}, REFERENCE, f"{col.source.label}: ")
        for col in columns
        if not col.missing
    ]
    return report_plots.forest(rows, f"Seed-paired difference to {REFERENCE} at each study's budgets", REFERENCE)


# README.md's blocks that `make readme` writes (scripts/readme.py), between their markers.
FINDINGS_BEGIN = (
    "<!-- findings:begin (written by `make readme` from every study's committed metrics: reports/answer/; "
    "do not edit by hand) -->"
)
FINDINGS_END = "<!-- findings:end -->"


def replace_block(text: str, block: str, begin: str, end: str) -> str:
    """Put `block` between the README's markers `begin` and `end`; the rest of the text stays as it is."""
    try:  # the begin marker is found by its start, so that a reworded comment still matches
        head, rest = text.split(begin.split(" (")[0], 1)
        _, tail = rest.split("-->", 1)[1].split(end, 1)
    except ValueError:
        raise UserError(
            f"README.md has no block markers: add the lines {begin} and {end} where the block belongs"
        ) from None
    return f"{head}{begin}\n{block.strip()}\n{end}{tail}"
