"""A reproducible study of dynamic data pruning (EMP and its competitors), in three layers over
the pruning library `dynaprune` (its methods, statistics table, Pruner and trainer integrations):

- pipeline.core: the science around the methods, framework-free (datasets, models, augmentation,
  SimCLR losses, DLC, evaluation);
- pipeline.training: the training runtime (device, DDP, AMP, compile, resume), the tasks
  (supervised, SimCLR, NLU) and the epoch loop;
- pipeline.study: the DVC/MLflow study around them (config, grid cells, tracking, reports).

Imports go downwards only, and dynaprune imports nothing of the study (pyproject.toml's
import-linter contracts). The DVC stages' scripts and their warm launcher live outside the
package, in stages/.
"""
