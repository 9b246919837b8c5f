"""The per-sample statistics table shared by every pruning method, and the LFL diagnostics."""

from __future__ import annotations

import torch

# InfoBatch's score for a sample it has not seen yet; every method's "last loss" starts here.
INITIAL_LOSS = 3.0


class SampleStats:
    """One row per training sample, indexed by dataset index, on the training device.

    loss: last loss; mean, var: exponentially weighted mean and variance of the loss with weight
    `momentum` on the new value (momentum 1 makes `mean` the last loss), updated as the reference
    UCB implementation does (see `observe`); last_epoch: the epoch the sample was last observed
    (-1: never); visits: how many times it was trained (scoring passes observe without training).

    Besides the loss, a table holds the last value of each named per-sample *signal* a task
    produces (`memory`, EMP's memory term, for both tasks): a task declares the signals it
    computes in each forward pass, a method the signals it reads (`PruningMethod.reads`), and
    `signal(name)` hands them over. A new signal needs no change here.
    """

    _FIELDS = ("loss", "mean", "var", "last_epoch", "visits")

    def __init__(
        self, num_samples: int, momentum: float = 1.0, device: str | torch.device = "cpu", signals: tuple[str, ...] = ()
    ):
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        clash = set(signals) & {*self._FIELDS, "momentum"}
        if clash:
            raise ValueError(f"signal names {sorted(clash)} are taken by the table's own fields")
        self.momentum = momentum
        self.loss = torch.full((num_samples,), INITIAL_LOSS, device=device)
        self.mean = torch.zeros(num_samples, device=device)
        self.var = torch.zeros(num_samples, device=device)
        self.last_epoch = torch.full((num_samples,), -1, dtype=torch.long, device=device)
        self.visits = torch.zeros(num_samples, dtype=torch.long, device=device)
        self.signals = {name: torch.zeros(num_samples, device=device) for name in signals}

    def __len__(self) -> int:
        return self.loss.numel()

    def signal(self, name: str) -> torch.Tensor:
        """The last observed value of signal `name` for every sample."""
        try:
            return self.signals[name]
        except KeyError:
            raise KeyError(
                f"this table records no signal {name!r} (it has: {', '.join(self.signals) or 'none'})"
            ) from None

    def observe(
        self, indices: torch.Tensor, loss: torch.Tensor, epoch: int, trained: bool = True, **signals: torch.Tensor
    ) -> None:
        """Record a batch's per-sample loss and signals (indices are unique within a batch).
        Every signal of the table must be given, and only those."""
        if signals.keys() != self.signals.keys():
            raise ValueError(f"observe() got signals {sorted(signals)} but the table records {sorted(self.signals)}")
        loss = loss.detach().float()
        first = self.last_epoch[indices] < 0
        old_mean, old_var = self.mean[indices], self.var[indices]
        m = self.momentum
        diff = loss - old_mean
        # The reference UCB update (InfoBatch authors' infobatch_ucb.py, after Raju et al.):
        # v <- (1 - m) v + m d^2 with d taken against the mean before the update. Not the textbook
        # exponentially weighted variance (1 - m)(v + m d^2), which weights d^2 by (1 - m) m instead
        # of m: 5x less at m = 0.8 (docs/methods.md, `ucb`).
        self.mean[indices] = torch.where(first, loss, old_mean + m * diff)
        self.var[indices] = torch.where(first, torch.zeros_like(loss), (1 - m) * old_var + m * diff * diff)
        self.loss[indices] = loss
        for name, value in signals.items():
            self.signals[name][indices] = value.detach().float()
        self.last_epoch[indices] = epoch
        if trained:
            self.visits[indices] += 1

    def begin_pruning(self, momentum: float) -> None:
        """The switch from the warm-up to the pruned phase: each sample's last loss becomes its
        mean, with no variance yet, and the method's own EMA weight applies from here on. Every
        method forks from the same values (docs/methods.md, "Starting statistics")."""
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        self.momentum = momentum
        self.mean.copy_(self.loss)
        self.var.zero_()

    def state_dict(self) -> dict:
        return {
            "momentum": self.momentum,
            **{f: getattr(self, f).cpu() for f in self._FIELDS},
            **{name: value.cpu() for name, value in self.signals.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        """Take over a table's values (keeping this table's momentum and device)."""
        for f in self._FIELDS:
            getattr(self, f).copy_(state[f])
        for name, value in self.signals.items():
            value.copy_(state[name])

    @classmethod
    def starting_table(cls, warmup_state: dict, momentum: float, device="cpu") -> SampleStats:
        """The table every pruned run starts from: the warm-up's table, switched to the pruned phase
        with the method's EMA weight (`begin_pruning`)."""
        table = cls.from_state_dict(warmup_state, device=device)
        table.begin_pruning(momentum)
        return table

    @classmethod
    def from_state_dict(cls, state: dict, momentum: float | None = None, device="cpu") -> SampleStats:
        """Rebuild a table with the signals it recorded; `momentum` overrides the saved EMA weight."""
        signals = tuple(k for k in state if k not in (*cls._FIELDS, "momentum"))
        table = cls(state["loss"].numel(), state["momentum"] if momentum is None else momentum, device, signals)
        table.load_state_dict(state)
        return table


def gini(values: torch.Tensor) -> float:
    """Gini coefficient of non-negative values: 0 when all equal, (n-1)/n when one holds everything."""
    x = values.double().flatten().sort().values
    n, total = x.numel(), x.sum()
    if n == 0 or total == 0:
        return 0.0
    ranks = torch.arange(1, n + 1, dtype=torch.float64, device=x.device)
    return float(2.0 * (ranks * x).sum() / (n * total) - (n + 1) / n)


def lfl_diagnostics(visits: torch.Tensor, warmup_epochs: int) -> dict:
    """Low-frequency-learning diagnostics of the pruned phase (warm-up visits removed)."""
    pruned = (visits - warmup_epochs).clamp_min(0).cpu()
    return {
        "lfl_gini": gini(pruned),
        "lfl_seen_at_most_once": float((pruned <= 1).double().mean()),
        "visit_histogram": torch.bincount(pruned).tolist(),
    }


def achieved_saving(trained_sample_steps: int, num_samples: int, epochs: int) -> float:
    """1 - (sample-steps trained) / (sample-steps of the full-data run with the same epochs)."""
    return 1.0 - trained_sample_steps / (num_samples * epochs)


def cost_saving(visits: torch.Tensor, costs: torch.Tensor, epochs: int) -> float:
    """achieved_saving with each sample weighted by its cost (a text's tokens): 1 - the cost of
    the samples trained / the cost of the full-data run with the same epochs."""
    costs = costs.double()
    return 1.0 - float((visits.double() * costs).sum() / (epochs * costs.sum()))
