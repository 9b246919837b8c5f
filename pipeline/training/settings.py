"""The settings a training run reads: where it runs (params.yaml's `runtime`, shared by every
task) and its schedule with the task's own settings (`train`, `pretrain`, `nlu`). Validated by
dynaprune.schema."""

from __future__ import annotations

from dataclasses import dataclass

from dynaprune.schema import in_range, non_negative, one_of, positive, spec

from ..core import text_models


@dataclass(frozen=True)
class ScheduleConfig:
    """What every training loop reads: epochs, batch size, the optimizer and its learning-rate schedule."""

    epochs: int = spec(10, **positive())  # E: total epochs, warm-up included
    warmup_epochs: int = spec(2, **positive())  # W: full-data epochs shared by every run
    batch_size: int = spec(128, **positive())
    lr: float = spec(0.05, **positive())
    lr_schedule: str = spec("cosine", **one_of("cosine", "constant"))
    lr_warmup_epochs: float = spec(0.0, **non_negative())  # linear ramp at the very start
    # SGD (momentum, nesterov), or AdamW (decoupled weight decay; momentum and nesterov unused),
    # the usual choice for fine-tuning a transformer.
    optimizer: str = spec("sgd", **one_of("sgd", "adamw"))
    momentum: float = spec(0.9, **in_range(0.0, 1.0, hi_open=True))
    nesterov: bool = True
    weight_decay: float = spec(5e-4, **non_negative())
    # The pruned phase's starting statistics: the last warm-up epoch's training-pass losses and
    # memory terms (train_pass), or an eval-mode scoring pass after the warm-up (eval_pass, an
    # ablation; docs/methods.md, "Starting statistics").
    init_stats: str = spec("train_pass", **one_of("train_pass", "eval_pass"))


@dataclass(frozen=True)
class RuntimeConfig:
    """Where and how every stage runs its model, whatever the task: no effect on what is trained
    (bf16 and compiling aside, which change the arithmetic, not the recipe)."""

    device: str = spec(
        "auto", check=lambda v: v in ("auto", "cpu") or v.startswith("cuda"), allowed="auto, cpu, cuda or cuda:N"
    )
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True  # NHWC memory layout (on CPU too: faster with oneDNN)
    compile: bool = False  # torch.compile the model: ~40 s of compiling per stage, pays off in long GPU runs
    eval_batch_size: int = spec(256, **positive())  # evaluation and scoring passes


@dataclass(frozen=True)
class TrainConfig(ScheduleConfig):
    """Supervised training (its grid: study.methods x rates x seeds)."""

    label_smoothing: float = spec(0.0, **in_range(0.0, 1.0, hi_open=True))
    crop_padding: int = spec(2, **non_negative())  # random-crop augmentation; 0 turns it off
    hflip: bool = True


@dataclass(frozen=True)
class PretrainConfig(ScheduleConfig):
    """SimCLR pre-training (its grid: study.ssl_methods x ssl_rates x ssl_seeds)."""

    batch_size: int = spec(256, **positive())
    lr: float = spec(0.3, **positive())
    nesterov: bool = False
    temperature: float = spec(0.5, **positive())  # NT-Xent's and the memory term's tau
    min_scale: float = spec(0.2, **in_range(0.0, 1.0, lo_open=True))  # smallest crop area
    jitter: float = spec(0.4, **in_range(0.0, 1.0))  # colour jitter strength; 0 turns it off
    hidden: int = spec(512, **positive())  # projection head widths
    projection_dim: int = spec(128, **positive())


def _text_model(name: str) -> bool:
    return name in text_models.REGISTRY or (name.startswith(text_models.HF_PREFIX) and len(name) > 3)


@dataclass(frozen=True)
class NLUConfig(ScheduleConfig):
    """Fine-tuning a text classifier (its grid: study.nlu_datasets x nlu_methods x nlu_rates x
    nlu_seeds). Defaults: all-MiniLM-L6-v2 with AdamW, the usual fine-tuning recipe."""

    model: str = spec(
        "minilm",
        check=_text_model,
        allowed="one of " + ", ".join(text_models.REGISTRY) + " or hf:<hub id or folder>",
    )
    max_length: int = spec(128, **positive())  # tokens per text (longer ones are cut)
    train_size: int | None = spec(None, **positive())  # seeded class-stratified subset of each dataset
    test_size: int | None = spec(None, **positive())
    subset_seed: int = 0  # also seeds rotten_tomatoes' split by movie
    epochs: int = spec(3, **positive())
    warmup_epochs: int = spec(1, **positive())
    batch_size: int = spec(32, **positive())
    optimizer: str = spec("adamw", **one_of("sgd", "adamw"))
    lr: float = spec(5e-5, **positive())
    lr_warmup_epochs: float = spec(0.1, **non_negative())
    nesterov: bool = False
    weight_decay: float = spec(0.01, **non_negative())
    label_smoothing: float = spec(0.0, **in_range(0.0, 1.0, hi_open=True))
