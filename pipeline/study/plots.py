"""Figures: one run's training curves and visit counts; the study's accuracy against saving."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only: stages run headless

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..core.io import atomic_write  # noqa: E402


def training_curves(history: Sequence[dict], warmup_epochs: int, title: str, metric: str = "test_acc") -> Figure:
    """The evaluation metric (test or kNN accuracy), training loss and samples kept per epoch;
    the shared warm-up shaded."""
    epochs = [row["epoch"] + 1 for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    panels = [
        (metric, {"test_acc": "test accuracy (%)", "knn_acc": "kNN accuracy (%)"}.get(metric, metric), 100.0),
        ("train_loss", "training loss (per sample)", 1.0),
        ("kept", "samples trained", 1.0),
    ]
    for ax, (key, label, scale) in zip(axes, panels):
        ax.plot(epochs, [scale * row[key] for row in history], marker="o", markersize=3)
        ax.axvspan(0.5, warmup_epochs + 0.5, color="0.9", zorder=0, label="shared warm-up")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return fig


def visit_histograms(visits: dict[str, np.ndarray], epochs: int, title: str) -> Figure:
    """How many epochs each sample was trained, one panel per run (warm-up epochs included)."""
    cols = min(len(visits), 3)
    rows = math.ceil(len(visits) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False, layout="constrained")
    bins = np.arange(epochs + 2) - 0.5  # one bar per visit count 0..E
    for ax, (label, counts) in zip(axes.flat, visits.items()):
        counts = np.asarray(counts)
        ax.hist(counts, bins=bins, color="tab:blue")
        ax.set_title(f"{label} (mean {counts.mean():.2f})", fontsize=10)
        ax.set_xlabel("epochs trained")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("samples")
    for ax in list(axes.flat)[len(visits) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


CENTRAL = "emp"  # the study's central method: drawn in red, over the others


def accuracy_vs_saving(
    series: dict[str, list[tuple[float, float, float | None]]],
    title: str,
    budgets: list[tuple[float, float]] = (),
    ylabel: str = "test accuracy (%)",
    reference_label: str = "full data",
    reference: str = "random",
) -> Figure:
    """Per method, a line through (0, full data) and its per-rate means, with 95% interval bars over
    the seeds; the full-data run's interval as a band; `reference` drawn heavier, underneath, so the
    others read against it; the budgets (its savings, with its rates) as dotted verticals. Markers of
    methods at the same saving are spread sideways a little so that none hides another (the axis
    note says by how much). Saving is on the x axis because methods remove different shares of work
    at the same nominal rate."""
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


def save(fig: Figure, path) -> None:
    """Write the figure as a PNG (atomically) and release it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
