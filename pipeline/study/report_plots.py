"""The reports' figures. Accuracy against achieved saving, a line per method; and forest plots of
what the verdicts test: at each budget, every method's seed-paired difference to the reference with
its 95% interval, a row per method, the verdicts that hold after Holm's correction filled and
coloured. The forest plots are drawn from a report's metrics (its "budgets" block, as
pipeline/study/report.py's dvc_metrics writes it), so the report stages and `make readme` draw the
same picture from the same numbers.

Kept apart from plots.py on purpose: the training stages import plots.py, and an edit here must
rerun only the reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D

from .plots import Figure, plt

CENTRAL = "emp"  # the study's central method: drawn in red, over the others


def accuracy_vs_saving(
    series: dict[str, list[tuple[float, float, float | None]]],
    title: str,
    budgets: list[tuple[float, float]] = (),
    ylabel: str = "test accuracy (%)",
    reference_label: str = "full data",
    reference: str = "random",
    floor: tuple[str, float] | None = None,
) -> Figure:
    """Per method, a line through (0, full data) and its per-rate means, with 95% interval bars over
    the seeds; the full-data run's interval as a band; `reference` drawn heavier, underneath, so the
    others read against it; the budgets (its savings, with its rates) as dotted verticals. Markers of
    methods at the same saving are spread sideways a little so that none hides another (the axis
    note says by how much). Saving is on the x axis because methods remove different shares of work
    at the same nominal rate. `floor`: a reference below the curves (label, accuracy), e.g. the
    encoder before any pre-training, as a dash-dotted line."""
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    if not series:  # an empty grid: its full-data reference alone, nothing to compare
        ax.text(0.5, 0.5, "no pruned runs: this grid's methods are empty", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title)
        return fig
    first = next(iter(series.values()))[0]
    _, full_mean, full_half = first
    full_half = full_half or 0.0
    ax.axhspan(100 * (full_mean - full_half), 100 * (full_mean + full_half), color="0.88", zorder=0)
    ax.axhline(100 * full_mean, color="0.4", linestyle="--", linewidth=1, label=reference_label, zorder=1)
    if floor is not None:
        ax.axhline(100 * floor[1], color="tab:brown", linestyle="-.", linewidth=1.2, label=floor[0], zorder=1)
    for saving, rate in budgets:
        ax.axvline(saving, color="0.6", linestyle=":", linewidth=1, zorder=1)
        ax.annotate(
            f"{reference} @ {rate:g}",
            (saving, 0),
            xycoords=("data", "axes fraction"),
            xytext=(2, 3),
            textcoords="offset points",
            fontsize=7,
            color="0.4",
            va="bottom",
            rotation=90,
        )
    span = max(p[0] for points in series.values() for p in points) or 1.0
    step = 0.01 * span  # the sideways spread between neighbouring methods' markers
    markers = "osD^v<>ph*XP"
    # grey is the reference's family and red is kept for the central method, so no other takes them
    palette = [c for i, c in enumerate(plt.get_cmap("tab20").colors[::2]) if i not in (3, 7)]
    others = [m for m in series if m != reference]
    for i, method in enumerate(([reference] if reference in series else []) + others):
        points = sorted(series[method])
        shift = 0.0 if method == reference else (others.index(method) - (len(others) - 1) / 2) * step
        x = np.array([p[0] + (shift if p[0] > 0 else 0.0) for p in points])
        y = np.array([100 * p[1] for p in points])
        err = np.array([100 * (p[2] or 0.0) for p in points])
        if method == reference:
            style = {"color": "black", "linewidth": 2.2, "marker": "o", "markersize": 6, "zorder": 2}
        else:
            central = method == CENTRAL
            style = {
                "color": "tab:red" if central else palette[others.index(method) % len(palette)],
                "linewidth": 2.0 if central else 1.2,
                "marker": markers[i % len(markers)],
                "markersize": 6 if central else 5,
                "markerfacecolor": "white",
                "zorder": 4 if central else 3,
            }
        ax.errorbar(x[1:], y[1:], yerr=err[1:], linestyle="none", capsize=2, elinewidth=0.8, color=style["color"])
        ax.plot(x, y, label=method, **style)
    ax.set_xlabel(
        "achieved saving (share of the full run's sample-steps not trained)"
        + (f"\nmarkers at one saving are spread by {step:.3f} so that none hides another" if len(others) > 1 else "")
    )
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower left")
    ax.set_title(title + "\nmeans over seeds with 95% intervals; grey band: full data's interval", fontsize=10)
    return fig


# A verdict's look: (marker, face colour) by the metrics' `holds` value; hollow grey: inconclusive.
LOOK = {1: ("^", "tab:green"), -1: ("v", "tab:red"), 0: ("o", "white")}


@dataclass(frozen=True)
class Mark:
    """One method at one budget: its difference to the reference in points with its 95% interval
    (low/high None without one), whether that holds after correction (1, -1, 0), or that it does
    not reach the budget (mean None)."""

    method: str
    mean: float | None
    low: float | None = None
    high: float | None = None
    holds: int = 0
    max_saving: float | None = None


@dataclass(frozen=True)
class Panel:
    title: str
    marks: list[Mark]


def panels(budgets: dict, reference: str, label: str = "") -> list[Panel]:
    """One panel per budget of a metrics "budgets" block (ascending saving), titled with the
    saving; the reference itself left out."""
    out = []
    for b in sorted(budgets.values(), key=lambda b: b["saving"]):
        marks = []
        for method, m in b["methods"].items():
            if method == reference:
                continue
            if not m["reaches"]:
                marks.append(Mark(method, None, max_saving=m["max_saving"]))
                continue
            vs = f"vs_{reference}"
            scaled = [None if m[k] is None else 100 * m[k] for k in (vs, f"{vs}_low", f"{vs}_high")]
            marks.append(Mark(method, *scaled, holds=m[f"{vs}_holds"] or 0))
        saving = f"{100 * b['saving']:.1f}".removesuffix(".0")
        out.append(Panel(f"{label}{saving}% skipped", marks))
    return out


def forest(rows: list[list[Panel]], title: str, reference: str, methods: list[str] | None = None) -> Figure:
    """The forest plot: a grid of panels (a list per row of the figure), every panel listing `methods` top to
    bottom in the same order (default: the order they first appear), so a method stays on its line."""
    if methods is None:
        methods = list(dict.fromkeys(m.method for row in rows for p in row for m in p.marks))
    if not methods:  # an empty grid, or no reference cells: nothing was compared
        fig, ax = plt.subplots(figsize=(6, 1.5), layout="constrained")
        ax.text(0.5, 0.5, f"nothing compared with {reference}: the grid has no such pairs", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title, fontsize=11)
        return fig
    ncols = max(len(row) for row in rows)
    height = 0.6 + 0.26 * len(methods)
    fig, axes = plt.subplots(
        len(rows),
        ncols,
        figsize=(4.2 * ncols + 1.2, height * len(rows) + 0.9),
        squeeze=False,
        layout="constrained",
    )
    for r, row in enumerate(rows):
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(row):
                ax.set_visible(False)
                continue
            _draw(ax, row[c], methods, reference, labels=c == 0)
    handles = [
        Line2D([], [], marker="^", color="tab:green", linestyle="", label=f"above {reference}, after correction"),
        Line2D([], [], marker="v", color="tab:red", linestyle="", label=f"below {reference}, after correction"),
        Line2D([], [], marker="o", color="0.35", markerfacecolor="white", linestyle="", label="inconclusive"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=11)
    return fig


def _draw(ax, panel: Panel, methods: list[str], reference: str, labels: bool) -> None:
    by_method = {m.method: m for m in panel.marks}
    spans = [abs(v) for m in panel.marks for v in (m.low, m.high, m.mean) if v is not None]
    reach = max(spans, default=1.0) * 1.15 or 1.0
    for y, method in enumerate(methods):
        m = by_method.get(method)
        if m is None:
            continue
        if m.mean is None:
            ax.text(0, y, f"does not reach (at most {100 * m.max_saving:.1f}%)", ha="center", va="center", fontsize=7)
            continue
        marker, face = LOOK[m.holds]
        edge = "0.35" if m.holds == 0 else face
        if m.low is not None:
            ax.plot([m.low, m.high], [y, y], color=edge, linewidth=1.4)
        ax.plot([m.mean], [y], marker=marker, markersize=7, markerfacecolor=face, markeredgecolor=edge, linestyle="")
    ax.axvline(0, color="0.5", linewidth=0.8)
    ax.set_xlim(-reach, reach)
    ax.set_ylim(len(methods) - 0.5, -0.5)
    ax.set_yticks(range(len(methods)), methods if labels else [""] * len(methods), fontsize=8)
    ax.set_title(panel.title, fontsize=9)
    ax.set_xlabel(f"points vs {reference} (95% interval)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
