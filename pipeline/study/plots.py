"""Figures of one run: its training curves and how often it visited each sample (the reports'
figures: report_plots.py)."""

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


def training_curves(history: Sequence[dict], *, warmup_epochs: int, title: str, metric: str = "test_acc") -> Figure:
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


def save(fig: Figure, path) -> None:
    """Write the figure as a PNG (atomically) and release it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
