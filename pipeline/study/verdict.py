"""Which method wins, by how much, with what certainty: seed-paired differences with 95% intervals.

docs/methods.md, "Reporting a comparison": every method is compared with `random` and with the best
other method at the same rate, by the differences of runs that share a seed (so the warm-up's
variance, common to both, cancels); the interval is Student's t over those differences. A method
"beats" another only where the interval excludes 0, and with fewer than MIN_SEEDS seeds no verdict
is given at all.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy.stats import t as student_t

MIN_SEEDS = 3
REFERENCE = "random"
SAVING_TOLERANCE = 0.02  # savings further apart than this are not an equal-budget comparison


@dataclass(frozen=True)
class Paired:
    """Mean difference a - b over the seeds both ran, with its 95% interval (None under 2 seeds)."""

    mean: float
    low: float | None
    high: float | None
    seeds: int
    saving_gap: float  # achieved saving of a minus that of b (mean over the shared seeds)

    @property
    def decided(self) -> bool:
        """Enough seeds for a verdict, and an interval that excludes 0."""
        return self.seeds >= MIN_SEEDS and self.low is not None and (self.low > 0 or self.high < 0)

    @property
    def unequal_saving(self) -> bool:
        return abs(self.saving_gap) > SAVING_TOLERANCE


def by_seed(runs: list[dict]) -> dict[int, dict]:
    return {int(r["seed"]): r for r in runs}


def paired(a: list[dict], b: list[dict], key: str, level: float = 0.95) -> Paired | None:
    """a - b on `key` over the seeds present in both (None when they share none)."""
    ra, rb = by_seed(a), by_seed(b)
    shared = sorted(ra.keys() & rb.keys())
    if not shared:
        return None
    diffs = [ra[s][key] - rb[s][key] for s in shared]
    gap = statistics.fmean(ra[s]["achieved_saving"] - rb[s]["achieved_saving"] for s in shared)
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return Paired(mean, None, None, 1, gap)
    half = student_t.ppf(0.5 + level / 2, len(diffs) - 1) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return Paired(mean, mean - half, mean + half, len(diffs), gap)


@dataclass(frozen=True)
class Comparison:
    """One method at one rate, against random and against the best other method at that rate."""

    method: str
    rate: float
    accuracy: float  # mean over seeds
    vs_reference: Paired | None  # None for the reference itself
    best_other: str
    vs_best_other: Paired | None

    def verdict(self) -> str:
        """A few words: whether it beats (or loses to) random and the best other method."""
        if self.vs_best_other is None or self.vs_best_other.seeds < MIN_SEEDS:
            return f"no verdict (< {MIN_SEEDS} seeds)"
        words = []
        ref = self.vs_reference
        if ref is not None:
            words.append(("beats" if ref.mean > 0 else "below") + f" {REFERENCE}" if ref.decided else f"≈ {REFERENCE}")
        other = self.vs_best_other
        if self.best_other == REFERENCE and ref is not None:
            pass  # already said
        elif other.decided:
            words.append(f"beats {self.best_other}" if other.mean > 0 else f"below {self.best_other}")
        else:
            words.append(f"≈ {self.best_other}")
        return ", ".join(words)


def compare(runs: dict[str, list[dict]], rate: float, key: str) -> list[Comparison]:
    """Every method's comparison at one rate; `runs` maps method -> its seeds' final metrics."""
    means = {m: statistics.fmean(r[key] for r in rs) for m, rs in runs.items()}
    out = []
    for method, rs in runs.items():
        others = {m: v for m, v in means.items() if m != method}
        best = max(others, key=others.get) if others else method
        ref = None if method == REFERENCE or REFERENCE not in runs else paired(rs, runs[REFERENCE], key)
        out.append(Comparison(method, rate, means[method], ref, best, paired(rs, runs[best], key) if others else None))
    return out


def _points(p: Paired) -> str:
    return f"{100 * p.mean:+.2f} points (95% CI {100 * p.low:+.2f} to {100 * p.high:+.2f})"


def _saving_note(p: Paired, name: str) -> str:
    return f", at {p.saving_gap:+.3f} achieved saving against {name}" if p.unequal_saving else ""


def headline(comparisons: list[Comparison], saving: dict[str, float], seeds: int) -> str:
    """One sentence for the README: at this rate, which method is best and by how much, with its
    interval, or that no method is distinguishable from random."""
    if not comparisons:
        return "No supervised results yet."
    rate = comparisons[0].rate
    if seeds < MIN_SEEDS:
        return (
            f"No verdict: the study ran {seeds} seed{'s' if seeds != 1 else ''}, and a comparison needs at "
            f"least {MIN_SEEDS} (set study.seeds)."
        )
    best = max(comparisons, key=lambda c: c.accuracy)
    start = f"At pruning rate {rate:g}, over {seeds} seeds, "
    winners = [
        c for c in comparisons if c.vs_reference is not None and c.vs_reference.decided and c.vs_reference.mean > 0
    ]
    if best.method == REFERENCE or best.vs_reference is None:
        runner = best.vs_best_other
        return (
            start + f"{REFERENCE} is the most accurate method ({100 * best.accuracy:.2f}%, achieved saving "
            f"{saving[best.method]:.3f}); the runner-up, {best.best_other}, is "
            f"{_points(_negate(runner))} against it"
            + ("." if runner.decided else ", not distinguishable.")
            + ("" if winners else " No method is distinguishable from random.")
        )
    ref, runner = best.vs_reference, best.vs_best_other
    if not ref.decided:
        return (
            start + f"no method is distinguishable from {REFERENCE}: the most accurate, {best.method} "
            f"({100 * best.accuracy:.2f}%), is {_points(ref)} against it{_saving_note(ref, REFERENCE)}."
        )
    return (
        start + f"{best.method} is the most accurate method ({100 * best.accuracy:.2f}%, achieved saving "
        f"{saving[best.method]:.3f}): {_points(ref)} over {REFERENCE}{_saving_note(ref, REFERENCE)}, and "
        f"{_points(runner)} over the runner-up {best.best_other}{_saving_note(runner, best.best_other)}"
        + (" (it beats it)." if runner.decided else " (not distinguishable).")
    )


def _negate(p: Paired) -> Paired:
    return Paired(-p.mean, -p.high, -p.low, p.seeds, -p.saving_gap)
