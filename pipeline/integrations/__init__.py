"""Pruning inside the trainers people already use, with no patching: each module wraps
`pipeline.Pruner` for one framework and imports that framework only when it is itself imported
(`import pipeline.integrations` loads none of them).

    pipeline.integrations.huggingface   transformers.Trainer   (pip install -e ".[hf]")
    pipeline.integrations.lightning     lightning.Trainer      (pip install -e ".[lightning]")

The science (pipeline.core) and the study never import this package (pyproject.toml's
import-linter contracts).
"""
