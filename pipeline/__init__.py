"""A reproducible study of dynamic data pruning (EMP and its competitors), in three layers:

- pipeline.core: the science, framework-free (datasets, models, augmentation, pruning methods,
  the per-sample statistics table, SimCLR losses, DLC, evaluation);
- pipeline.training: the training runtime (device, DDP, AMP, compile, resume), the tasks
  (supervised, SimCLR), the epoch loop, and `Pruner` for one's own PyTorch loop;
- pipeline.study: the DVC/MLflow study around them (config, grid cells, tracking, reports).

Imports go downwards only (pyproject.toml's import-linter contracts). The DVC stages' scripts and
their warm launcher live outside the package, in stages/.
"""

from .training.pruner import Pruner, WithIndex

__all__ = ["Pruner", "WithIndex"]
