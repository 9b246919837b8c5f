"""Methods compared at equal cost, across rates (docs/methods.md, "Reporting a comparison").

A method's nominal rate is not what it saves (InfoBatch skips about half what random skips at the
same rate), so methods are compared at *budgets*: the achieved savings of the reference (`random`)
at the grid's rates. Per seed, a method's accuracy-cost curve runs through (0, full-data accuracy)
and its cells, ordered by achieved saving; its accuracy at a budget is that curve's linear
interpolation, and only inside the savings it reached (beyond them it "does not reach" the
budget: no extrapolation). Differences are seed-paired, so the warm-up's variance, common to both
runs of a seed, cancels; intervals are Student t over the paired differences. This is the one
comparison every task's report calls (`compare`).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scipy.stats import t as student_t

REFERENCE = "random"  # budgets are the savings it achieves; every method is compared with it
MIN_SEEDS = 3  # fewer seeds: intervals may be shown, but no verdict is drawn from them
LEVEL = 0.95
ALPHA = 1 - LEVEL
REACH_TOLERANCE = 1e-6  # savings are ratios of integer counts: equal budgets may differ in the last bits

Point = tuple[float, float]  # (achieved saving, accuracy)


def curve(cells: Iterable[Point], full: float) -> list[Point]:
    """One seed's accuracy-cost curve: (0, full) and the cells, ordered by saving. Cells of equal
    saving are averaged (a curve is a function of the saving); accuracy need not fall monotonically."""
    by_saving: dict[float, list[float]] = {0.0: [full]}
    for saving, acc in cells:
        by_saving.setdefault(float(saving), []).append(float(acc))
    return [(s, statistics.fmean(a)) for s, a in sorted(by_saving.items())]


def at(points: list[Point], budget: float) -> float | None:
    """The curve's accuracy at `budget`, interpolated linearly between its neighbours; None where the
    budget lies beyond the largest saving the curve reached."""
    top = points[-1][0]
    if budget > top + REACH_TOLERANCE:
        return None
    budget = min(max(budget, 0.0), top)
    savings = [s for s, _ in points]
    i = bisect.bisect_left(savings, budget)
    if savings[i] == budget:
        return points[i][1]
    (s0, a0), (s1, a1) = points[i - 1], points[i]
    return a0 + (a1 - a0) * (budget - s0) / (s1 - s0)


@dataclass(frozen=True)
class Interval:
    """The mean of seed-paired differences a - b with its 95% Student-t half-width (None under 2 seeds)."""

    mean: float
    half: float | None
    seeds: int

    @property
    def low(self) -> float | None:
        return None if self.half is None else self.mean - self.half

    @property
    def high(self) -> float | None:
        return None if self.half is None else self.mean + self.half

    @property
    def excludes_zero(self) -> bool:
        return self.half is not None and abs(self.mean) > self.half

    @property
    def decided(self) -> bool:
        """Enough seeds for a verdict, and an interval that excludes 0."""
        return self.seeds >= MIN_SEEDS and self.excludes_zero

    @property
    def p_value(self) -> float:
        """Two-sided p-value of the paired t-test of mean 0 (1 where there is no interval)."""
        if self.half is None:
            return 1.0
        if self.half == 0.0:
            return 0.0 if self.mean != 0.0 else 1.0
        t = self.mean / (self.half / student_t.ppf(1 - ALPHA / 2, self.seeds - 1))
        return float(2 * student_t.sf(abs(t), self.seeds - 1))


def mean_interval(values: list[float]) -> float | None:
    """Half-width of the 95% Student-t interval of the values' mean (None under 2 values)."""
    if len(values) < 2:
        return None
    return float(student_t.ppf(1 - ALPHA / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)))


def paired(a: Mapping[int, float], b: Mapping[int, float]) -> Interval | None:
    """a - b over the seeds both have (None when they share none)."""
    seeds = sorted(a.keys() & b.keys())
    if not seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    return Interval(statistics.fmean(diffs), mean_interval(diffs), len(diffs))


def holm(p_values: Mapping[str, float], alpha: float = ALPHA) -> set[str]:
    """The names whose null hypothesis Holm's step-down procedure rejects at family-wise level alpha:
    the i-th smallest of m p-values (i from 1) is compared with alpha / (m - i + 1), stopping at the
    first that fails."""
    rejected = set()
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    for i, (name, p) in enumerate(ordered):
        if p > alpha / (len(ordered) - i):
            break
        rejected.add(name)
    return rejected


# What a difference supports once corrected for the comparisons made beside it (Holm): "above",
# "below" or "inconclusive"; None where there is no verdict (fewer than MIN_SEEDS seeds).
Verdict = str | None


@dataclass(frozen=True)
class Standing:
    """One method at one budget: its accuracy per seed where it reaches the budget (in every seed),
    else the largest saving it reached; its paired difference to the reference and to the best,
    each with its verdict after Holm's correction over its family (every method compared with the
    reference; every method compared with the best)."""

    method: str
    per_seed: dict[int, float] | None  # None: does not reach the budget
    max_saving: float  # the smallest, over seeds, of the largest saving its curve reached
    vs_reference: Interval | None = None
    vs_best: Interval | None = None  # for the best method itself: against the runner-up
    vs_reference_verdict: Verdict = None
    vs_best_verdict: Verdict = None

    @property
    def reaches(self) -> bool:
        return self.per_seed is not None

    @property
    def accuracy(self) -> float | None:
        return statistics.fmean(self.per_seed.values()) if self.per_seed else None


@dataclass(frozen=True)
class Budget:
    """The comparison at one saving: every method, the most accurate first, then those that do not
    reach it; `above`/`below`: the methods whose difference to the reference holds after Holm's
    correction over the methods compared with it (only with MIN_SEEDS seeds or more)."""

    saving: float
    rate: float  # the reference's nominal rate that achieves this saving
    reference: str
    full: float  # full-data accuracy, mean over seeds
    seeds: int
    standings: list[Standing]
    above: frozenset[str]
    below: frozenset[str]

    @property
    def reached(self) -> list[Standing]:
        return [s for s in self.standings if s.reaches]

    @property
    def unreached(self) -> list[Standing]:
        return [s for s in self.standings if not s.reaches]

    @property
    def best(self) -> Standing:
        return self.reached[0]

    @property
    def runner_up(self) -> Standing | None:
        return self.reached[1] if len(self.reached) > 1 else None

    def of(self, method: str) -> Standing:
        return next(s for s in self.standings if s.method == method)

    @property
    def compared(self) -> int:
        """How many methods were compared with the reference here (Holm's family)."""
        return sum(1 for s in self.reached if s.method != self.reference)


@dataclass(frozen=True)
class Cell:
    """One run of the grid: a method at a nominal rate for one seed, what it saved and its accuracy."""

    method: str
    rate: float
    seed: int
    saving: float
    accuracy: float


def budgets_of(cells: Iterable[Cell], reference: str) -> list[tuple[float, float]]:
    """(budget, rate) ascending: the reference's achieved saving at each of its rates, mean over seeds."""
    by_rate: dict[float, list[float]] = {}
    for c in cells:
        if c.method == reference:
            by_rate.setdefault(c.rate, []).append(c.saving)
    return sorted((statistics.fmean(s), r) for r, s in by_rate.items())


def compare(cells: list[Cell], full: Mapping[int, float], reference: str) -> list[Budget]:
    """Every method at every budget of the reference (see the module's docstring). `full` maps each
    seed to its full-data accuracy; cells of a seed without one are left out."""
    points: dict[str, dict[int, list[Point]]] = {}
    for c in cells:
        if c.seed in full:
            points.setdefault(c.method, {}).setdefault(c.seed, []).append((c.saving, c.accuracy))
    curves = {m: {s: curve(p, full[s]) for s, p in by_seed.items()} for m, by_seed in points.items()}
    full_mean = statistics.fmean(full.values()) if full else math.nan
    return [
        _at_budget(curves, budget, rate, reference, full_mean, len(full))
        for budget, rate in budgets_of(cells, reference)
    ]


def _at_budget(
    curves: dict[str, dict[int, list[Point]]], budget: float, rate: float, reference: str, full: float, seeds: int
) -> Budget:
    standings = []
    for method, by_seed in curves.items():
        values = {s: at(c, budget) for s, c in by_seed.items()}
        reaches = all(v is not None for v in values.values())
        top = min(c[-1][0] for c in by_seed.values())
        standings.append(Standing(method, values if reaches else None, top))
    reached = sorted((s for s in standings if s.reaches), key=lambda s: -s.accuracy)
    ref = next((s for s in reached if s.method == reference), None)
    vs_ref, vs_best = {}, {}
    for s in reached:
        if s is not ref and ref is not None:
            vs_ref[s.method] = paired(s.per_seed, ref.per_seed)
        other = reached[1] if s is reached[0] and len(reached) > 1 else reached[0]
        if other is not s:
            vs_best[s.method] = paired(s.per_seed, other.per_seed)
    ref_verdicts = corrected(vs_ref)
    # The best against the runner-up is the runner-up against the best, mirrored: one comparison.
    best_verdicts = corrected({m: iv for m, iv in vs_best.items() if m != reached[0].method})
    if len(reached) > 1:
        best_verdicts[reached[0].method] = MIRROR[best_verdicts[reached[1].method]]
    ranked = [
        Standing(
            s.method,
            s.per_seed,
            s.max_saving,
            vs_ref.get(s.method),
            vs_best.get(s.method),
            ref_verdicts.get(s.method),
            best_verdicts.get(s.method),
        )
        for s in reached
    ]
    above = frozenset(m for m, v in ref_verdicts.items() if v == "above")
    below = frozenset(m for m, v in ref_verdicts.items() if v == "below")
    unreached = sorted((s for s in standings if not s.reaches), key=lambda s: s.method)
    return Budget(budget, rate, reference, full, seeds, ranked + unreached, above, below)


MIRROR: dict[Verdict, Verdict] = {"above": "below", "below": "above", "inconclusive": "inconclusive", None: None}


def corrected(family: Mapping[str, Interval]) -> dict[str, Verdict]:
    """Each difference's verdict after Holm's correction over the family (the differences of at
    least MIN_SEEDS seeds): above or below where the corrected test rejects 0, inconclusive where it
    does not; None, no verdict, for a difference of fewer seeds."""
    tested = {m: iv for m, iv in family.items() if iv.seeds >= MIN_SEEDS and iv.half is not None}
    rejected = holm({m: iv.p_value for m, iv in tested.items()})
    verdict = lambda m, iv: ("above" if iv.mean > 0 else "below") if m in rejected else "inconclusive"
    return {m: verdict(m, iv) if m in tested else None for m, iv in family.items()}
