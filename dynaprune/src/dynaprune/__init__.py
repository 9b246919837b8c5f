"""dynaprune: dynamic data pruning for PyTorch training.

Each epoch a method chooses which training samples to train, from per-sample statistics recorded
by the forward pass that already happens (loss, and for EMP a memory term). In your own loop:

    from dynaprune import Pruner, WithIndex

    pruner = Pruner("emp", num_samples=len(train), rate=0.7, epochs=10, warmup_epochs=2)
    loader = DataLoader(WithIndex(train), batch_size=128, sampler=pruner.sampler)

and `pruner.loss(...)` per batch (dynaprune.pruner says more). The methods: dynaprune.pruning
(REGISTRY by name); the trainers people already use: dynaprune.integrations. Requires torch only.
"""

from .errors import ConfigError, UserError
from .pruner import Pruner
from .pruning import REGISTRY as METHODS
from .samplers import WithIndex

__all__ = ["METHODS", "ConfigError", "Pruner", "UserError", "WithIndex"]
