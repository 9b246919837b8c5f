"""Pruning methods behind one interface, registered by name.

Adding a method: write a module with a PruningMethod subclass (and, if it has options, a
MethodOptions subclass) and add it to REGISTRY. The training loops never change.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..schema import build
from .base import MethodOptions, PruningMethod, Selection, keep_count
from .emp import EMP
from .epsilon_greedy import EpsilonGreedy
from .full import Full
from .infobatch import InfoBatch
from .orderdp import OrderDP
from .plan import EpochPlan, weighted_mean
from .random import Random
from .rs2 import RS2
from .seta import SeTa
from .static_random import StaticRandom
from .ucb import UCB


@dataclass(frozen=True)
class MethodSpec:
    """A named method configuration (an entry of params.yaml's `methods`): the registered method
    it runs and its options."""

    name: str
    method: str
    options: MethodOptions

    @property
    def uses_rate(self) -> bool:
        """False for the full-data reference, which trains every sample whatever the rate."""
        return method_class(self.method).uses_rate


REGISTRY: dict[str, type[PruningMethod]] = {
    cls.name: cls for cls in (Full, Random, RS2, StaticRandom, EpsilonGreedy, UCB, InfoBatch, SeTa, OrderDP, EMP)
}


def method_class(name: str) -> type[PruningMethod]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown pruning method '{name}': choose one of {', '.join(REGISTRY)}") from None


def parse_options(name: str, mapping, where: str) -> MethodOptions:
    """Validate one method's options from params.yaml (unknown keys and bad values are errors)."""
    return build(method_class(name).Options, mapping, where)


def create(
    name: str,
    options: MethodOptions | None,
    rate: float,
    num_samples: int,
    seed: int,
    labels=None,
    signals: tuple[str, ...] | None = None,
) -> PruningMethod:
    """A method instance; `labels` (the training labels, None where the task has none) serve
    class-stratified selection; `signals`, when given, are those the task produces: a method
    reading any other is refused."""
    cls = method_class(name)
    missing = [s for s in cls.reads if signals is not None and s not in signals]
    if missing:
        raise ConfigError(
            f"method '{name}' reads the per-sample signal(s) {', '.join(missing)}, which this task "
            f"does not produce (it produces: {', '.join(signals) or 'the loss only'})"
        )
    return cls(options if options is not None else cls.Options(), rate, num_samples, seed, labels)


__all__ = [
    "REGISTRY",
    "EpochPlan",
    "MethodOptions",
    "MethodSpec",
    "PruningMethod",
    "Selection",
    "create",
    "weighted_mean",
    "keep_count",
    "method_class",
    "parse_options",
]
