"""A reproducible study of dynamic data pruning (EMP and its competitors), in three layers:

- pipeline.core: the science, framework-free (datasets, models, augmentation, pruning methods,
  the per-sample statistics table, SimCLR losses, DLC, evaluation);
- pipeline.training: the training runtime (device, DDP, AMP, compile, resume), the tasks
  (supervised, SimCLR), the epoch loop, and `Pruner` for one's own PyTorch loop;
- pipeline.study: the DVC/MLflow study around them (config, grid cells, tracking, reports).

Imports go downwards only (pyproject.toml's import-linter contracts).
"""

__all__ = ["Pruner", "WithIndex"]


def __getattr__(name: str):
    # Imported on first use, so that `import pipeline.launch` (a stage's first step) stays light.
    if name in __all__:
        from .training import pruner

        return getattr(pruner, name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
