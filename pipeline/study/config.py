"""params.yaml -> a typed, validated, frozen Config.

Every invalid value is reported as one line naming the key, the value and what is allowed;
unknown keys are errors with the closest valid key suggested.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from dynaprune import pruning
from dynaprune.pruning import MethodSpec
from dynaprune.schema import build, check_keys, flatten, in_range, one_of, positive, registered, spec

from ..core import data, models, selectors, text
from ..core.errors import ConfigError
from ..training.settings import NLUConfig, PretrainConfig, RuntimeConfig, TrainConfig


@dataclass(frozen=True)
class DataConfig:
    dataset: str = spec("fashion_mnist", **registered(data.REGISTRY))
    root: str = "data/raw"  # where datasets are looked for and downloaded to
    train_size: int | None = spec(None, **positive())  # seeded, class-stratified training subset
    test_size: int | None = spec(None, **positive())  # the same for the test set (cheaper evaluation)
    subset_seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    arch: str = spec("small_cnn", **registered(models.REGISTRY))


SELECTORS = tuple(selectors.SELECTORS)


@dataclass(frozen=True)
class DownstreamConfig:
    """DLC scoring of the labelled set with the full-data encoder, and FlexRand's split."""

    levels: int = spec(50, **positive())  # K masking levels
    delta: float = spec(0.02, **in_range(0.0, 1.0, lo_open=True, hi_open=True))  # r_k = 1 - (1 - delta)^k
    gamma: float = spec(0.5, **in_range(0.0, 1.0))  # FlexRand's easy/hard split point
    # static_random and DLC top-K keep round(b * n_c) of each class, as the DLC authors do; false: global.
    per_class: bool = True


@dataclass(frozen=True)
class LinearEvalConfig:
    """How every SimCLR encoder (pruned, full-data, untrained) is probed. With few labels the probe
    reads what pre-training adds where SimCLR is used for it; downstream pruning always starts from
    every label."""

    # labels per class the linear probe and the kNN vote are fitted on (a seeded class-stratified
    # draw, the same for every encoder of a seed); null = every training label
    labels_per_class: int | None = spec(None, **positive())


# Every registered method that prunes (all but the full-data reference), in registration order:
# the grids' default.
EVERY_METHOD = tuple(name for name, cls in pruning.REGISTRY.items() if cls.uses_rate)
# The methods entry of the full-data reference, which every grid runs once per seed.
REFERENCE = "full"


@dataclass(frozen=True)
class StudyConfig:
    """The grids (DVC matrices): supervised methods x rates x seeds; SimCLR pre-training methods x
    rates x seeds; downstream selectors x the supervised rates x the SimCLR seeds; NLU datasets x
    methods x rates x seeds. Names come from `methods`. A grid's methods (selectors, datasets) may
    be empty: then only its references run (the NLU part: nothing), and its report says there is no
    comparison. No SimCLR seeds: no SimCLR part, and no downstream part (it needs the encoders)."""

    # `full` is not listed: the full-data references run in their own stages.
    methods: list[str] = spec(list(EVERY_METHOD), empty_ok=True)
    rates: list[float] = spec([0.5, 0.7], **in_range(0.0, 1.0, hi_open=True))
    seeds: list[int] = spec([0, 1, 2])  # each runs its own warm-up and full-data reference
    ssl_methods: list[str] = spec(["random", "rs2", "infobatch", "orderdp", "emp"], empty_ok=True)
    ssl_rates: list[float] = spec([0.3, 0.7], **in_range(0.0, 1.0, hi_open=True))
    # each runs its own warm-up, full-data encoder and untrained reference; [] drops the SimCLR part
    ssl_seeds: list[int] = spec([0, 1, 2], empty_ok=True)
    selectors: list[str] = spec(list(SELECTORS), empty_ok=True, **one_of(*SELECTORS))
    # NLU fine-tuning (the nlu section): datasets x methods x rates x seeds; no datasets, no NLU part.
    nlu_datasets: list[str] = spec([], empty_ok=True, **registered(text.REGISTRY))
    nlu_methods: list[str] = spec(list(EVERY_METHOD), empty_ok=True)
    nlu_rates: list[float] = spec([0.3, 0.5, 0.7], **in_range(0.0, 1.0, hi_open=True))
    nlu_seeds: list[int] = spec([0, 1, 2])


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs are grouped in MLflow (the store itself: MLFLOW_TRACKING_URI or mlflow.db)."""

    experiment: str = spec("data-pruning", check=lambda v: bool(v.strip()), allowed="a non-empty name")
    # The SimCLR encoders and the full-data supervised models as MLflow models (mlflow.pytorch).
    log_models: bool = True


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    methods: dict[str, MethodSpec] = field(default_factory=lambda: _parse_methods(None))
    study: StudyConfig = field(default_factory=StudyConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    linear_eval: LinearEvalConfig = field(default_factory=LinearEvalConfig)
    downstream: DownstreamConfig = field(default_factory=DownstreamConfig)
    nlu: NLUConfig = field(default_factory=NLUConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @functools.cached_property
    def flat(self) -> dict[str, Any]:
        """Every param as {"section.key": value}, flattened once (what runs are logged and keyed by)."""
        return flatten(self)

    @property
    def reference(self) -> MethodSpec:
        """The full-data reference run: the `full` entry of methods (default options if absent)."""
        return self.methods.get(REFERENCE) or MethodSpec(
            REFERENCE, REFERENCE, pruning.method_class(REFERENCE).Options()
        )

    def method(self, name: str) -> MethodSpec:
        return method_entry(self.methods, name)


def method_entry(methods: dict[str, MethodSpec], name: str) -> MethodSpec:
    """The entry `name` of params.yaml's methods, or a one-line error listing them."""
    try:
        return methods[name]
    except KeyError:
        raise ConfigError(
            f"no method named '{name}' in params.yaml's methods: choose one of {', '.join(methods)}"
        ) from None


SECTIONS = {
    "data": DataConfig,
    "model": ModelConfig,
    "runtime": RuntimeConfig,
    "train": TrainConfig,
    "study": StudyConfig,
    "pretrain": PretrainConfig,
    "linear_eval": LinearEvalConfig,
    "downstream": DownstreamConfig,
    "nlu": NLUConfig,
    "tracking": TrackingConfig,
}


def _parse_methods(raw: Any) -> dict[str, MethodSpec]:
    """`methods:` maps a name to options; `method:` inside an entry names the registered method
    (default: the entry's own name), so variants such as `emp_beta0: {method: emp, beta: 0}` work."""
    if raw is None:  # no methods section: every registered method with its defaults
        raw = {name: {} for name in pruning.REGISTRY}
    if not isinstance(raw, dict):
        raise ConfigError(f"methods = {raw!r} is invalid: expected a mapping of method names to options")
    specs = {}
    for name, opts in raw.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", str(name)):
            raise ConfigError(
                f"methods: the name '{name}' is invalid: use letters, digits, '_' and '-' only "
                f"(it names DVC stages and folders, and DVC reads '.' as nesting), e.g. "
                f"'{re.sub(r'[^A-Za-z0-9_-]', '_', str(name))}'"
            )
        if not isinstance(opts or {}, dict):
            raise ConfigError(f"methods.{name} = {opts!r} is invalid: expected a mapping of options")
        opts = dict(opts or {})
        base = opts.pop("method", name)
        if base not in pruning.REGISTRY:
            raise ConfigError(
                f"methods.{name}: unknown pruning method '{base}': choose one of {', '.join(pruning.REGISTRY)}"
                + ("" if "method" in (raw[name] or {}) else f" (or set methods.{name}.method)")
            )
        specs[str(name)] = MethodSpec(str(name), base, pruning.parse_options(base, opts, f"methods.{name}."))
    return specs


def from_dict(raw: Any) -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            "params.yaml must be a mapping of sections "
            "(data, model, runtime, train, methods, study, pretrain, downstream, nlu, tracking)"
        )
    check_keys(raw, [*SECTIONS, "methods"], "")
    _check_moved_keys(raw)
    sections = {key: build(cls, raw.get(key), f"{key}.") for key, cls in SECTIONS.items()}
    cfg = Config(methods=_parse_methods(raw.get("methods")), **sections)
    _check_consistency(cfg)
    return cfg


RUNTIME_KEYS = tuple(f.name for f in fields(RuntimeConfig))


def _check_moved_keys(raw: dict) -> None:
    """Keys of older params files, each refused with where it went."""
    if isinstance(raw.get("train"), dict) and "seed" in raw["train"]:
        raise ConfigError(
            "train.seed is no longer a key: every seed in study.seeds runs its own warm-up; "
            "delete train.seed and list the seeds under study.seeds"
        )
    if isinstance(raw.get("pretrain"), dict) and "seed" in raw["pretrain"]:
        raise ConfigError(
            "pretrain.seed is no longer a key: every seed in study.ssl_seeds runs its own SimCLR "
            "warm-up; delete pretrain.seed and list the seeds under study.ssl_seeds"
        )
    for section in ("train", "pretrain", "nlu"):
        moved = [k for k in RUNTIME_KEYS if isinstance(raw.get(section), dict) and k in raw[section]]
        if moved:
            raise ConfigError(
                f"{section}.{moved[0]} has moved to runtime.{moved[0]}: move {', '.join(moved)} from "
                f"{section} to a `runtime:` section (it serves every stage)"
            )


def _check_consistency(cfg: Config) -> None:
    for section, sched in (("train", cfg.train), ("pretrain", cfg.pretrain), ("nlu", cfg.nlu)):
        if sched.warmup_epochs >= sched.epochs:
            raise ConfigError(
                f"{section}.warmup_epochs = {sched.warmup_epochs} is invalid: it must be less than "
                f"{section}.epochs = {sched.epochs}, so that pruned epochs remain"
            )
    grids = (
        ("study.methods", cfg.study.methods, cfg.study.rates),
        ("study.ssl_methods", cfg.study.ssl_methods, cfg.study.ssl_rates),
        # the NLU grid's names matter only where it runs
        ("study.nlu_methods", cfg.study.nlu_methods if cfg.study.nlu_datasets else [], cfg.study.nlu_rates),
    )
    for where, names, rates in grids:
        for name in names:
            if name in cfg.methods and not cfg.methods[name].uses_rate:
                raise ConfigError(
                    f"{where}: '{name}' is the full-data reference, which runs once per grid "
                    f"in its own stage: remove it from {where}"
                )
            if name not in cfg.methods:
                raise ConfigError(
                    f"{where}: '{name}' has no entry in methods: add `{name}: {{}}` under methods "
                    f"or choose one of {', '.join(cfg.methods)}"
                )
            entry = cfg.methods[name]
            for rate in rates:
                try:
                    pruning.method_class(entry.method).check(entry.options, rate)
                except ConfigError as err:
                    raise ConfigError(f"{where}: methods.{name}: {err}") from None


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading floats as YAML 1.2 does: `2e-05` is a number (YAML 1.1 wants
    a dot, 2.0e-05), which matters because DVC writes small floats that way (`dvc exp run -S`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def read_yaml(text: str) -> Any:
    """A params file's mapping (see _Loader)."""
    return yaml.load(text, Loader=_Loader)


def load(path: str | Path = "params.yaml") -> Config:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run from the repository root or pass the params file") from None
    try:
        raw = read_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path} is not valid YAML{where}: fix its syntax") from None
    try:
        return from_dict(raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
