"""Pruning inside the trainers people already use, with no patching: each module wraps
`dynaprune.Pruner` for one framework and imports that framework only when it is itself imported
(`import dynaprune.integrations` loads none of them).

    dynaprune.integrations.huggingface   transformers.Trainer   (pip install "dynaprune[hf]")
    dynaprune.integrations.lightning     lightning.Trainer      (pip install "dynaprune[lightning]")

The science (pipeline.core) and the study never import this package (pyproject.toml's
import-linter contracts).
"""
