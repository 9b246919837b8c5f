"""What the DataLoader sees of a Pruner: items that lead with their dataset index (WithIndex),
the sampler of one's own loop (PrunedSampler) and the sampler of a trainer that announces its
epochs itself (AnnouncedSampler, the integrations')."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from torch.utils.data import Dataset, Sampler

if TYPE_CHECKING:
    from .pruner import Pruner


class WithIndex(Dataset):
    """A dataset whose items lead with their index: (index, *item) for a tuple item, else (index,
    item); with unpack=False always (index, item), as the Trainer integration's collator takes them."""

    def __init__(self, dataset: Dataset, unpack: bool = True):
        self.dataset = dataset
        self.unpack = unpack

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple:
        try:
            item = self.dataset[index]
        except IndexError:
            raise IndexError(
                f"sample {index} is beyond this dataset's {len(self)} samples: the Pruner's num_samples must be "
                f"len(dataset) (pruner.loader(dataset, ...) checks it)"
            ) from None
        return (index, *item) if self.unpack and isinstance(item, tuple) else (index, item)


class PrunedSampler(Sampler[int]):
    """The DataLoader's sampler: this epoch's selection, in the epoch's random order."""

    def __init__(self, pruner: Pruner):
        self.pruner = pruner

    def set_epoch(self, epoch: int) -> None:
        self.pruner.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(self.pruner.begin_iteration().tolist())

    def __len__(self) -> int:
        return self.pruner.epoch_indices().numel()


class AnnouncedSampler(Sampler[int]):
    """The Pruner's selection for a trainer that announces each epoch itself (set_epoch) and may ask
    for the loader's length, or look at a batch, before or after. `draw(epoch)` draws that epoch
    unless it is drawn already; `draw(None)`, the epoch the trainer is at, where it knows it. Each
    integration passes its own `draw`; an epoch is drawn once."""

    def __init__(self, pruner: Pruner, draw: Callable[[int | None], None]):
        self.pruner, self.draw = pruner, draw

    def set_epoch(self, epoch: int) -> None:
        self.draw(epoch)

    def __iter__(self) -> Iterator[int]:
        self.draw(None)
        return iter(self.pruner.epoch_indices().tolist())

    def __len__(self) -> int:
        self.draw(None)
        return self.pruner.epoch_indices().numel()
