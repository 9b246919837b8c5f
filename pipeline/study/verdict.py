"""The equal-cost comparison in words: per budget, which method is most accurate, by how much, and
how sure that is, in sentences a non-statistician reads correctly; and the table behind them.

One reading everywhere (docs/methods.md, "Reporting a comparison"): a difference is "above" or
"below" only where it holds after Holm's correction over the methods compared beside it (every
method against the reference; every method against the best), otherwise "inconclusive", with its
95% interval; an interval that excludes 0 alone but not after the correction is marked
*uncorrected*. No verdict under MIN_SEEDS seeds; one seed is "1 seed". Sentences and tables read
the same verdicts (equal_cost.Standing), so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .equal_cost import MIN_SEEDS, Budget, Interval, Standing, Verdict


def percent(share: float) -> str:
    """0.4667 -> "46.7%", 0.2 -> "20%"."""
    return f"{100 * share:.1f}".removesuffix(".0") + "%"


def seeds_words(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _span(iv: Interval) -> str:
    return f"{100 * iv.low:+.2f} to {100 * iv.high:+.2f}"


def _detail(iv: Interval, word: Verdict) -> str:
    """What to show beside a verdict: the interval, its half-width, or why there is no verdict."""
    if iv.half is None:
        return f"{seeds_words(iv.seeds)}, no interval"
    if word is None:
        return f"±{100 * iv.half:.2f}, {seeds_words(iv.seeds)}: no verdict"
    if word != "inconclusive":
        return f"95% interval {_span(iv)}"
    if iv.excludes_zero:  # significant alone, not once corrected for the comparisons beside it
        return f"uncorrected 95% interval {_span(iv)}, not after correction"
    return f"±{100 * iv.half:.2f}"


def difference(iv: Interval, word: Verdict) -> str:
    """A seed-paired difference in accuracy points with its corrected verdict, for a sentence."""
    return f"{100 * iv.mean:+.2f} points" + (f", {word}" if word else "") + f" ({_detail(iv, word)})"


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
        text += f"; against the runner-up {b.runner_up.method}: {difference(best.vs_best, best.vs_best_verdict)}"
    if best.vs_reference is not None and b.runner_up.method != b.reference:
        text += f"; against {b.reference}: {difference(best.vs_reference, best.vs_reference_verdict)}"
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


def cell(iv: Interval | None, word: Verdict) -> str:
    """A difference in a table cell: "above: +1.94 (95% interval +0.87 to +3.01)", "inconclusive: +0.07 (±1.37)"."""
    if iv is None:
        return ""
    return (f"{word}: " if word else "") + f"{100 * iv.mean:+.2f} ({_detail(iv, word)})"


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
                f"{cell(s.vs_reference, s.vs_reference_verdict)} | {other.method if other else ''} | "
                f"{cell(s.vs_best, s.vs_best_verdict)} |"
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
        f"with 95% intervals over {seeds_words(b0.seeds)}. *above*/*below*: the difference holds after "
        f"correcting for the number of methods compared in its column at that saving (Holm); "
        f"*inconclusive (±h)*: it does not. Of the table's {intervals(budgets)} intervals about 1 in 20 "
        f"would exclude 0 by chance alone: one that does but not after the correction is shown as an "
        f"*uncorrected* interval, and is no verdict."
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
