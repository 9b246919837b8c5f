"""The equal-cost comparison in words: per budget, which method is most accurate, by how much, and
how sure that is, in sentences a non-statistician reads correctly; and the table behind them.

Wording rules (docs/methods.md, "Reporting a comparison"): a difference is "above"/"below" only
where its 95% interval excludes 0, otherwise "inconclusive (±h)" with h the interval's half-width;
no verdict under MIN_SEEDS seeds; one seed is "1 seed". The sentence about random corrects for
the number of methods compared with it (Holm); the table's intervals are each at 95%.
"""

from __future__ import annotations

from dataclasses import dataclass

from .equal_cost import MIN_SEEDS, Budget, Interval, Standing


def percent(share: float) -> str:
    """0.4667 -> "46.7%", 0.2 -> "20%"."""
    return f"{100 * share:.1f}".removesuffix(".0") + "%"


def seeds_words(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _reading(iv: Interval) -> tuple[str | None, str]:
    """What an interval supports ("above", "below", "inconclusive", or None: no verdict) and the
    detail to show beside it (the interval, its half-width, or why there is none)."""
    if iv.half is None:
        return None, f"{seeds_words(iv.seeds)}, no interval"
    if iv.seeds < MIN_SEEDS:
        return None, f"±{100 * iv.half:.2f}, {seeds_words(iv.seeds)}: no verdict"
    if not iv.excludes_zero:
        return "inconclusive", f"±{100 * iv.half:.2f}"
    return ("above" if iv.mean > 0 else "below"), f"95% interval {100 * iv.low:+.2f} to {100 * iv.high:+.2f}"


def difference(iv: Interval) -> str:
    """A seed-paired difference in accuracy points with what it supports, for a sentence."""
    word, detail = _reading(iv)
    return f"{100 * iv.mean:+.2f} points" + (f", {word}" if word else "") + f" ({detail})"


def _names(standings: list[Standing]) -> str:
    return ", ".join(f"{s.method} (at most {percent(s.max_saving)})" for s in standings)


@dataclass(frozen=True)
class Terms:
    """What a task's sentences call its metric, the work a method saves, and its full-data point."""

    metric: str = "test accuracy"
    work: str = "the training"
    full: str = "full data"


SUPERVISED = Terms()
PROBE = Terms("linear-probe accuracy")
DOWNSTREAM = Terms("linear-probe accuracy", "the labelled set", "all labels")


def sentence(b: Budget, terms: Terms = SUPERVISED) -> str:
    """The verdict at one budget, in plain words."""
    head = f"Skipping {percent(b.saving)} of {terms.work} ({b.reference}'s saving at rate {b.rate:g})"
    missing = f" Not reaching this saving: {_names(b.unreached)}." if b.unreached else ""
    if not b.reached:
        return f"{head}: no method reaches this saving.{missing}"
    best = b.best
    gap = 100 * (best.accuracy - b.full)
    text = (
        f"{head}: {best.method} is the most accurate, {100 * best.accuracy:.2f}% "
        f"({abs(gap):.2f} points {'below' if gap < 0 else 'above'} {terms.full})"
    )
    if b.seeds < MIN_SEEDS:
        return (
            f"{text}. With {seeds_words(b.seeds)} there is no verdict: a comparison needs at least {MIN_SEEDS} "
            f"seeds (add seeds to the grid).{missing}"
        )
    if b.runner_up is not None and best.vs_best is not None:
        text += f"; against the runner-up {b.runner_up.method}: {difference(best.vs_best)}"
    if best.vs_reference is not None and b.runner_up.method != b.reference:
        text += f"; against {b.reference}: {difference(best.vs_reference)}"
    return f"{text}. {_against_reference(b)}{missing}"


def _against_reference(b: Budget) -> str:
    """Which methods differ from the reference, decided from every method's interval with Holm's
    correction over the methods compared with it."""
    compared = [s for s in b.reached if s.vs_reference is not None]
    if not compared:
        return ""
    if not b.above and not b.below:
        reach = max(max(abs(s.vs_reference.low), abs(s.vs_reference.high)) for s in compared)
        within = f"every interval against it lies within ±{100 * reach:.2f} points"
        chance = [s.method for s in compared if s.vs_reference.excludes_zero]
        if not chance:
            return f"No method is distinguishable from {b.reference}: {within}."
        return (
            f"No method is distinguishable from {b.reference} once corrected for {len(compared)} comparisons "
            f"({within}): taken alone, the interval of {', '.join(chance)} excludes 0, which chance alone "
            f"does about once in 20 intervals."
        )
    parts = []
    for side, names in (("above", b.above), ("below", b.below)):
        listed = [s for s in compared if s.method in names]
        if listed:
            points = ", ".join(f"{s.method} ({100 * s.vs_reference.mean:+.2f} points)" for s in listed)
            parts.append(f"{side} {b.reference}, {points}")
    rest = len(compared) - len(b.above) - len(b.below)
    if rest:
        parts.append(f"the other {rest} {'is' if rest == 1 else 'are'} inconclusive")
    family = f"{len(compared)} comparison" + ("" if len(compared) == 1 else "s")
    return f"After correcting for {family}: " + "; ".join(parts) + "."


def cell(iv: Interval | None) -> str:
    """A difference in a table cell: "above: +1.94 (95% interval +0.87 to +3.01)", "inconclusive: +0.07 (±1.37)"."""
    if iv is None:
        return ""
    word, detail = _reading(iv)
    return (f"{word}: " if word else "") + f"{100 * iv.mean:+.2f} ({detail})"


def table(budgets: list[Budget]) -> str:
    """Per budget, every method: its accuracy there, and its seed-paired differences to the reference
    and to the most accurate other method (for the best: the runner-up); then those not reaching it."""
    if not budgets:
        return ""
    ref = budgets[0].reference
    lines = [
        f"| saving | method | accuracy (%) | vs full | vs {ref}, points | best other | vs best other, points |",
        "|---:|---|---:|---:|---|---|---|",
    ]
    for b in budgets:
        for s in b.reached:
            other = b.runner_up if s is b.best else b.best
            lines.append(
                f"| {percent(b.saving)} | {s.method} | {100 * s.accuracy:.2f} | {100 * (s.accuracy - b.full):+.2f} | "
                f"{cell(s.vs_reference)} | {other.method if other else ''} | {cell(s.vs_best)} |"
            )
        for s in b.unreached:
            lines.append(
                f"| {percent(b.saving)} | {s.method} | does not reach (at most {percent(s.max_saving)}) | | | | |"
            )
    return "\n".join(lines) + "\n"


def intervals(budgets: list[Budget]) -> int:
    """How many intervals the table holds."""
    return sum((s.vs_reference is not None) + (s.vs_best is not None) for b in budgets for s in b.reached)


def section(budgets: list[Budget], terms: Terms = SUPERVISED) -> str:
    """The verdict lines, then the table with what it holds and how to read it."""
    if not budgets:
        return "No equal-cost comparison: the grid has no cells of the reference method to take budgets from.\n"
    b0 = budgets[0]
    lines = "\n".join(f"- {sentence(b, terms)}" for b in budgets)
    spread = (
        f"with 95% intervals over {seeds_words(b0.seeds)}: *above*/*below* where the interval excludes 0, "
        f"*inconclusive (±h)* where it does not. The table holds {intervals(budgets)} intervals; about 1 in 20 "
        f"excludes 0 by chance alone, which is why the sentences above correct for the number of methods "
        f"compared (Holm)."
        if b0.seeds >= MIN_SEEDS
        else f"over {seeds_words(b0.seeds)}: too few for intervals to support a verdict."
    )
    return (
        f"{lines}\n\n"
        f"Each method at the savings `{b0.reference}` achieves at the grid's rates (*saving*: the share of "
        f"{terms.work} skipped, warm-up included, against the run on {terms.full}): its {terms.metric} there, "
        f"interpolated along its own accuracy-against-saving curve (from the point of {terms.full} through its "
        f"rates), seed by seed, "
        f"never beyond the largest saving it reached. Differences are between runs of the same seed, in "
        f"accuracy points, {spread}\n\n" + table(budgets)
    )


def findings(budgets: list[Budget], setting: str) -> str:
    """The verdict lines alone, for the README's opening: one per budget."""
    if not budgets:
        return f"{setting}: no equal-cost comparison (the grid has no `random` cells).\n"
    return f"{setting}:\n\n" + "\n".join(f"- {sentence(b)}" for b in budgets) + "\n"
