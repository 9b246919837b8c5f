"""The study's grids as data: supervised training, SimCLR pre-training, and NLU fine-tuning per
dataset. A grid names its task, its params section (the schedule), where its data and outputs
live, and how dvc.yaml names its stages; pipeline/study/cells.py runs any of them the same way.

Adding a task: a Task class (pipeline/training/tasks.py), a Grid record here, a stage script and
its dvc.yaml block (tests/test_extending.py adds a toy one end to end).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dynaprune.pruning import MethodSpec

from ..core import data, text
from ..core.errors import UserError
from ..training import resume, runs
from ..training.loop import EpochCallback
from ..training.runtime import Runtime
from ..training.settings import RuntimeConfig, ScheduleConfig
from ..training.tasks import SimCLRTask, SupervisedTask, Task, TextTask
from . import identity, paths
from .config import Config, method_entry

Dataset = data.ImageDataset | text.TextDataset


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Where a grid's runs live and what they are called: dvc.yaml's stage names and MLflow's run
    names are templates formatted with the run's coordinates (seed, method, rate, cell =
    method-rate-seed, and the grid's own coordinates)."""

    warmups_dir: Path  # one warm-up per seed, in a folder named by the seed
    cells_dir: Path
    warmup_stage: str
    cell_stage: str
    full_stage: str  # the full-data reference's stage
    run_name: str

    @classmethod
    def in_outputs(cls, *, warmup: str, cell: str, full: str, run_name: str) -> Layout:
        """Stages `warmup@{seed}`, `cell@{cell}` and `full@{seed}`, whose outputs are in the
        folders outputs/<warmup> and outputs/<cell>."""
        return cls(
            warmups_dir=paths.OUTPUTS_DIR / warmup,
            cells_dir=paths.OUTPUTS_DIR / cell,
            warmup_stage=f"{warmup}@{{seed}}",
            cell_stage=f"{cell}@{{cell}}",
            full_stage=f"{full}@{{seed}}",
            run_name=run_name,
        )


@dataclass(frozen=True, kw_only=True)
class Grid:
    section: str  # the params section of its schedule and task settings
    tag: str  # its runs' `task` tag in MLflow
    task_class: type[Task]
    arch_key: str  # the param naming its model
    sections: tuple[str, ...]  # the other params sections its runs read
    load: Callable[[Path, str], Dataset]  # the prepared dataset (file, the stage that writes it)
    layout: Layout
    keep_encoder: bool = False  # pre-trained encoders are the product: linear_eval and dlc read them
    log_reference_model: bool = False  # the full-data model as an MLflow model
    data_file: Path = paths.DATASET_FILE  # the prepared dataset, its metadata, and their stage
    meta_file: Path = paths.DATASET_META
    prepare_stage: str = "prepare"
    coordinates: dict[str, Any] = field(default_factory=dict)  # NLU: the dataset

    @property
    def metric(self) -> str:
        return self.task_class.metrics[0]

    def load_data(self) -> Dataset:
        return self.load(self.data_file, self.prepare_stage)

    def meta(self) -> dict:
        return paths.prepared_meta(self.meta_file, self.prepare_stage)

    def names(self, **coords: Any) -> dict[str, Any]:
        """The format fields of its stage and run names for a run at `coords`."""
        cell = {"cell": paths.cell_name(coords["method"], coords["rate"], coords["seed"])} if "method" in coords else {}
        return {**self.coordinates, **coords, **cell}

    def warmup_stage_name(self, seed: int) -> str:
        return self.layout.warmup_stage.format(**self.names(seed=seed))

    def cell_stage_name(self, entry: MethodSpec, rate: float, seed: int) -> str:
        """The DVC stage a cell of the method entry `entry` is, as dvc.yaml's matrices name it
        (DVC_STAGE says so when DVC runs it; this is the fallback)."""
        template = self.layout.cell_stage if entry.uses_rate else self.layout.full_stage
        return template.format(**self.names(method=entry.name, rate=rate, seed=seed))

    def cell_run_name(self, method: str, rate: float, seed: int) -> str:
        return self.layout.run_name.format(**self.names(method=method, rate=rate, seed=seed))

    def warmup_dir(self, seed: int) -> Path:
        return self.layout.warmups_dir / str(seed)

    def checkpoint(self, seed: int) -> Path:
        return self.warmup_dir(seed) / "checkpoint.pt"

    def cell_dir(self, method: str, rate: float, seed: int) -> Path:
        return self.layout.cells_dir / paths.cell_name(method, rate, seed)

    def setup(self, cfg: Config) -> GridSetup:
        """What a run of this grid reads from params, resolved once."""
        sections = (*self.sections, self.section)
        return GridSetup(
            grid=self,
            runtime=cfg.runtime,
            schedule=getattr(cfg, self.section),
            arch=cfg.flat[self.arch_key],
            methods=cfg.methods,
            params=identity.section_params(cfg, *sections),
        )


@dataclass(frozen=True, kw_only=True)
class GridSetup:
    """One grid's runs as params make them: where they run, their schedule, their model, the
    method entries, and every param they depend on, flat (what MLflow logs and resume keys)."""

    grid: Grid
    runtime: RuntimeConfig
    schedule: ScheduleConfig
    arch: str
    methods: dict[str, MethodSpec]
    params: dict[str, Any]

    def task(self, ds: Dataset, *, seed: int, device: torch.device | None = None) -> Task:
        """The grid's task for a run of seed `seed`, on the device runtime.device names (or `device`)."""
        runtime = Runtime(self.runtime, device)
        return self.grid.task_class(ds, runtime=runtime, arch=self.arch, settings=self.schedule, seed=seed)

    def warmup(
        self,
        ds: Dataset,
        *,
        seed: int = 0,
        device: torch.device | None = None,
        on_epoch: EpochCallback | None = None,
        res: resume.Resume | None = None,
    ) -> dict:
        """The warm-up of seed `seed` (pipeline.training.runs.warmup)."""
        t0 = time.perf_counter()
        task = self.task(ds, seed=seed, device=device)
        return runs.warmup(
            task,
            self.schedule,
            seed=seed,
            label=self.grid.warmup_stage_name(seed),
            schedule_name=self.grid.section,
            on_epoch=on_epoch,
            res=res,
            t0=t0,
        )

    def pruned_run(
        self,
        ds: Dataset,
        checkpoint: dict,
        *,
        method: str,
        rate: float,
        seed: int,
        device: torch.device | None = None,
        keep_selections: bool = False,
        on_epoch: EpochCallback | None = None,
        res: resume.Resume | None = None,
    ) -> runs.RunResult:
        """The pruned run of the method entry `method` (pipeline.training.runs.pruned_run), forked
        from `checkpoint`, the warm-up of its seed."""
        t0 = time.perf_counter()
        self.check_warmup(checkpoint, seed=seed)
        return runs.pruned_run(
            self.task(ds, seed=seed, device=device),
            self.schedule,
            checkpoint=checkpoint,
            entry=self.method_entry(method),
            rate=rate,
            seed=seed,
            schedule_name=self.grid.section,
            keep_selections=keep_selections,
            on_epoch=on_epoch,
            res=res,
            t0=t0,
        )

    def check_warmup(self, checkpoint: dict, *, seed: int) -> None:
        """Refuse a warm-up checkpoint that is not the one a run of seed `seed` forks from."""
        stage, W = self.grid.warmup_stage_name(seed), self.schedule.warmup_epochs
        if checkpoint.get("seed", seed) != seed:
            raise UserError(
                f"the warm-up checkpoint is seed {checkpoint['seed']}'s but this run is seed {seed}: "
                f"every run forks from its own seed's warm-up (rerun the {stage} stage)"
            )
        if checkpoint["epoch"] != W:
            raise UserError(
                f"the warm-up checkpoint ran {checkpoint['epoch']} epochs but {self.grid.section}.warmup_epochs = "
                f"{W}: rerun the {stage} stage"
            )

    def method_entry(self, name: str) -> MethodSpec:
        return method_entry(self.methods, name)


# What the two image grids share: the prepared images and the image model's params.
IMAGE_DATA = {
    "arch_key": "model.arch",
    "sections": identity.IMAGE_SECTIONS,
    "load": lambda file, stage: data.load_prepared(file),
}
SUPERVISED = Grid(
    section="train",
    tag="supervised",
    task_class=SupervisedTask,
    **IMAGE_DATA,
    layout=Layout.in_outputs(warmup="warmup", cell="train", full="full", run_name="{cell}"),
    log_reference_model=True,
)
SSL = Grid(
    section="pretrain",
    tag="ssl",
    task_class=SimCLRTask,
    **IMAGE_DATA,
    layout=Layout.in_outputs(
        warmup="pretrain_warmup", cell="pretrain", full="pretrain_full", run_name="pretrain {cell}"
    ),
    keep_encoder=True,
)


def nlu_grid(dataset: str) -> Grid:
    """The NLU grid of one dataset: its own prepared tokens, warm-ups and cells."""
    folder = paths.NLU_OUTPUTS_DIR / dataset
    return Grid(
        section="nlu",
        tag="nlu",
        task_class=TextTask,
        arch_key="nlu.model",
        sections=identity.TEXT_SECTIONS,
        load=text.load_prepared,
        layout=Layout(
            warmups_dir=folder / "warmup",
            cells_dir=folder / "train",
            warmup_stage="nlu_warmup@{dataset}-{seed}",
            cell_stage="nlu_train@{dataset}-{cell}",
            full_stage="nlu_full@{dataset}-{seed}",
            run_name="nlu {dataset} {cell}",
        ),
        data_file=paths.nlu_dataset_file(dataset),
        meta_file=paths.nlu_meta_file(dataset),
        prepare_stage=f"nlu_prepare@{dataset}",
        coordinates={"dataset": dataset},
    )
