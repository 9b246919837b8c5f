"""Progress for long work: a live bar on a terminal, and always one line per epoch."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class EpochProgress:
    """Wraps an epoch's batches in a bar (only on a terminal) and prints a summary line per epoch."""

    def __init__(self, label: str, total_epochs: int | None, stream=None, quiet: bool = False):
        """total_epochs None: an open-ended run (a benchmark), shown without a total or an ETA."""
        self.label = label
        self.total = total_epochs
        self.stream = sys.stderr if stream is None else stream  # the current one (tests capture it)
        self.elapsed = 0.0
        self.done = 0
        self.quiet = quiet  # the other ranks of a torchrun job: rank 0 reports
        self.live = self.stream.isatty() and not quiet

    def batches(self, items: Iterable[T], epoch: int, count: int) -> Iterator[T]:
        if not self.live:
            return iter(items)
        return iter(
            tqdm(items, total=count, leave=False, file=self.stream, dynamic_ncols=True, desc=self._epoch(epoch))
        )

    def _epoch(self, epoch: int) -> str:
        return f"{self.label} epoch {epoch + 1}" + ("" if self.total is None else f"/{self.total}")

    def epoch_done(self, epoch: int, seconds: float, **metrics: float) -> None:
        self.elapsed += seconds
        self.done += 1
        if self.quiet:
            return
        parts = [self._epoch(epoch)]
        for key, value in metrics.items():
            parts.append(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}")
        parts.append(f"time {seconds:.1f}s")
        if self.total is not None:
            parts.append(f"ETA {_fmt_seconds((self.total - epoch - 1) * self.elapsed / self.done)}")
        print(" | ".join(parts), file=self.stream, flush=True)
