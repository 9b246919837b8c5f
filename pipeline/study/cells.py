"""The warm-up and grid-cell stages of both grids: supervised training (`train`) and SimCLR
pre-training (`pretrain`) differ only in their task, folders and evaluation metric. Here params
become a runtime, a task and a schedule (pipeline/training), and a run becomes an MLflow run and
DVC outputs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core import data, text, timing
from ..core.errors import UserError
from ..core.io import file_md5, load_torch, save_torch, write_json
from ..core.models import build_encoder, build_model
from ..core.schema import flatten
from ..training import distributed, loop, resume
from ..training.runtime import Runtime
from ..training.tasks import SimCLRTask, SupervisedTask, Task, TextTask
from . import paths, plots, tracking
from .config import Config


@dataclass(frozen=True)
class Grid:
    name: str  # the params section and the DVC stage of its grid cells
    tag: str  # its runs' `task` tag in MLflow
    task_class: type[Task]
    warmups_dir: Path  # one warm-up per seed, in a folder named by the seed
    cells_dir: Path
    keep_encoder: bool  # pre-trained encoders are the product: linear_eval and dlc read them
    arch_of: Callable[[Config], str] = lambda cfg: cfg.model.arch  # the model params name
    data_file: Path = paths.DATASET_FILE  # the prepared dataset, its metadata, and their stage
    meta_file: Path = paths.DATASET_META
    prepare_stage: str = "prepare"
    dataset: str | None = None  # NLU: the dataset the grid's stages are a matrix over

    @property
    def warmup_stage(self) -> str:
        return self.task_class.warmup_stage

    def load_data(self) -> data.ImageDataset | text.TextDataset:
        if self.task_class is TextTask:
            return text.load_prepared(self.data_file, self.prepare_stage)
        return data.load_prepared(self.data_file)

    def meta(self) -> dict:
        return paths.prepared_meta(self.meta_file, self.prepare_stage)

    def task(
        self, cfg: Config, ds: data.ImageDataset | text.TextDataset, seed: int, device: torch.device | None = None
    ) -> Task:
        """This grid's task for a run of seed `seed`, on the device train.device names (or `device`)."""
        return self.task_class(ds, Runtime(cfg.train, device), self.arch_of(cfg), getattr(cfg, self.name), seed)

    def warmup(
        self,
        cfg: Config,
        ds: data.ImageDataset | text.TextDataset,
        seed: int = 0,
        device: torch.device | None = None,
        on_epoch: loop.EpochCallback | None = None,
        res: resume.Resume | None = None,
    ) -> dict:
        """The warm-up of seed `seed` as params say (pipeline.training.loop.warmup)."""
        t0 = time.perf_counter()
        return loop.warmup(self.task(cfg, ds, seed, device), getattr(cfg, self.name), seed, on_epoch, res, t0)

    def pruned_run(
        self,
        cfg: Config,
        ds: data.ImageDataset | text.TextDataset,
        checkpoint: dict,
        method: str,
        rate: float,
        seed: int,
        device: torch.device | None = None,
        keep_selections: bool = False,
        on_epoch: loop.EpochCallback | None = None,
        res: resume.Resume | None = None,
    ) -> loop.RunResult:
        """The pruned run of params' method entry `method` (pipeline.training.loop.pruned_run)."""
        t0 = time.perf_counter()
        spec = cfg.method(method)
        return loop.pruned_run(
            self.task(cfg, ds, seed, device),
            getattr(cfg, self.name),
            checkpoint,
            spec,
            rate,
            seed,
            keep_selections,
            on_epoch,
            res,
            t0,
        )

    def warmup_dir(self, seed: int) -> Path:
        return self.warmups_dir / str(seed)

    def checkpoint(self, seed: int) -> Path:
        return self.warmup_dir(seed) / "checkpoint.pt"

    def warmup_stage_name(self, seed: int) -> str:
        """As dvc.yaml names it: a matrix over seeds for supervised training (warmup@0) and over
        dataset x seed for NLU (nlu_warmup@trec6-0); one stage for pre-training, whose grid has one
        seed (pretrain_warmup)."""
        if self.dataset is not None:
            return f"{self.warmup_stage}@{self.dataset}-{seed}"
        return f"{self.warmup_stage}@{seed}" if self is SUPERVISED else self.warmup_stage

    def cell_stage_name(self, method: str, base_method: str, rate: float, seed: int) -> str:
        """The DVC stage a cell is, as dvc.yaml's matrices name them (DVC_STAGE says so when DVC
        runs it; this is the fallback): train@m-r-s, full@s, pretrain@m-r, pretrain_full,
        nlu_train@d-m-r-s, nlu_full@d-s."""
        cell = paths.cell_name(method, rate, seed)
        if self.dataset is not None:
            return f"nlu_full@{self.dataset}-{seed}" if base_method == "full" else f"nlu_train@{self.dataset}-{cell}"
        if self is SUPERVISED:
            return f"full@{seed}" if base_method == "full" else f"train@{cell}"
        return "pretrain_full" if base_method == "full" else f"pretrain@{method}-{rate}"

    def run_name(self, cell: str) -> str:
        if self.dataset is not None:
            return f"nlu {self.dataset} {cell}"
        return cell if self is SUPERVISED else f"{self.name} {cell}"

    @property
    def metric(self) -> str:
        return self.task_class.metrics[0]

    def cell_dir(self, method: str, rate: float, seed: int) -> Path:
        return self.cells_dir / paths.cell_name(method, rate, seed)


SUPERVISED = Grid("train", "supervised", SupervisedTask, paths.WARMUP_DIR, paths.TRAIN_DIR, keep_encoder=False)
SSL = Grid("pretrain", "ssl", SimCLRTask, paths.PRETRAIN_WARMUP_DIR, paths.PRETRAIN_DIR, keep_encoder=True)


def nlu_grid(dataset: str) -> Grid:
    """The NLU grid of one dataset: its own prepared tokens, warm-ups and cells."""
    folder = paths.NLU_OUTPUTS_DIR / dataset
    return Grid(
        "nlu",
        "nlu",
        TextTask,
        folder / "warmup",
        folder / "train",
        keep_encoder=False,
        arch_of=lambda cfg: cfg.nlu.model,
        data_file=paths.nlu_dataset_file(dataset),
        meta_file=paths.nlu_meta_file(dataset),
        prepare_stage=f"nlu_prepare@{dataset}",
        dataset=dataset,
    )


def _run_params(cfg: Config, grid: Grid) -> dict:
    """The params a run of `grid` depends on (its resume checkpoints are keyed by them)."""
    shared = tracking.config_params(cfg, images=grid.dataset is None)
    return {**shared, **flatten(getattr(cfg, grid.name), f"{grid.name}.")}


@contextlib.contextmanager
def _resumable_run(
    cfg: Config, grid: Grid, meta: dict, stage: str, run_name: str, params: dict | None = None, **inputs: str
) -> Iterator[tuple[resume.Resume, tracking.StageRun | None]]:
    """A training stage's resume checkpoints (keyed by its params, the dataset and `inputs`) and
    its MLflow run, continued after an interruption. The run is None on the other ranks of a
    torchrun job, which train their shards while rank 0 logs and writes. The checkpoints are
    removed once the block completes."""
    world = distributed.setup(cfg.train.device)
    key = resume.fingerprint(params={**_run_params(cfg, grid), **(params or {})}, dataset=meta["md5"], **inputs)
    res = resume.Resume(stage, key, paths.RESUME_DIR, main=world.is_main)
    if world.is_main:
        tags = {
            "task": grid.tag,
            **{k: params[k] for k in ("dataset", "method", "rate", "seed") if k in (params or {})},
        }
        logged = {**flatten(getattr(cfg, grid.name), f"{grid.name}."), **(params or {})}  # the schedule too
        with tracking.stage_run(cfg, meta, stage, run_name, logged, res.run_id, res.stale_run_id, tags) as run:
            res.run_id = run.run_id
            yield res, run
    else:
        yield res, None
    res.clear()


def run_warmup(cfg: Config, grid: Grid, seed: int) -> None:
    """The warm-up of seed `seed`: W full-data epochs that every pruned run of that seed forks from."""
    ds = grid.load_data()
    meta = grid.meta()
    stage = grid.warmup_stage_name(seed)
    out = grid.warmup_dir(seed)
    params = {"seed": seed} if grid.dataset is None else {"dataset": grid.dataset, "seed": seed}
    with _resumable_run(cfg, grid, meta, stage, stage, params) as (res, run):
        checkpoint = grid.warmup(cfg, ds, seed, on_epoch=run.log_epoch if run else None, res=res)
        if run is None:
            return
        W = checkpoint["epoch"]
        run.log_metrics({"wall_time_s": checkpoint["wall_time_s"]}, step=W)
        curves = out / "curves.png"
        with timing.phase("plots"):
            title = f"{stage}: {meta['name']}, {grid.arch_of(cfg)}"
            plots.save(plots.training_curves(checkpoint["history"], W, title, grid.metric), curves)
        run.log_artifact(curves)
        with timing.phase("outputs"):
            save_torch(grid.checkpoint(seed), checkpoint)
            write_json(
                out / "metrics.json",
                {
                    grid.metric: checkpoint["history"][-1][grid.metric],
                    "wall_time_s": checkpoint["wall_time_s"],
                    "epochs": W,
                },
            )


def _loaded(module: torch.nn.Module, state: dict) -> torch.nn.Module:
    module.load_state_dict(state)
    return module.eval()


def run_cell(cfg: Config, grid: Grid, method: str, rate: float, seed: int) -> None:
    """One pruned run (method, rate, seed) forked from the warm-up checkpoint of its seed."""
    spec = cfg.method(method)
    if not 0.0 <= rate < 1.0:
        raise UserError(f"--rate {rate} is invalid: expected a number in [0, 1)")
    ds = grid.load_data()
    meta = grid.meta()
    with timing.phase("checkpoints"):
        checkpoint = load_torch(grid.checkpoint(seed), grid.warmup_stage_name(seed))
    out = grid.cell_dir(method, rate, seed)
    epochs = getattr(cfg, grid.name).epochs
    stage = grid.cell_stage_name(method, spec.method, rate, seed)
    params = {
        **({} if grid.dataset is None else {"dataset": grid.dataset}),
        "method": method,
        "base_method": spec.method,
        "rate": rate,
        "seed": seed,
        **flatten(spec.options, "options."),
    }
    run_name = grid.run_name(out.name)
    with _resumable_run(cfg, grid, meta, stage, run_name, params, warmup=file_md5(grid.checkpoint(seed))) as (res, run):
        result = grid.pruned_run(
            cfg, ds, checkpoint, method, rate, seed, on_epoch=run.log_epoch if run else None, res=res
        )
        if run is None:
            return
        final = result.final_metrics()
        # The evaluation metric's last per-epoch value (step E) already is the final one.
        run.log_metrics({k: v for k, v in final.items() if k != grid.metric}, step=epochs)
        with timing.phase("outputs"):
            write_json(out / "history.json", result.history)
            save_torch(out / "visits.pt", result.visits)
            write_json(out / "lfl.json", result.lfl)
        if grid.keep_encoder:
            prefix = "encoder."
            encoder = {k[len(prefix) :]: v for k, v in result.model_state.items() if k.startswith(prefix)}
            with timing.phase("outputs"):
                save_torch(out / "encoder.pt", encoder)
            run.log_model(
                _loaded(build_encoder(cfg.model.arch, ds.in_channels)[0], encoder), "encoder", meta["image_shape"]
            )
        elif grid is SUPERVISED and spec.method == "full":  # the full-data reference model of its seed
            model = build_model(cfg.model.arch, ds.in_channels, ds.num_classes)
            run.log_model(_loaded(model, result.model_state), "model", meta["image_shape"])
        title = f"{grid.run_name(out.name)}: {meta['name']}, {grid.arch_of(cfg)}"
        with timing.phase("plots"):
            figures = {
                "curves.png": plots.training_curves(
                    checkpoint["history"] + result.history, checkpoint["epoch"], title, grid.metric
                ),
                "visits.png": plots.visit_histograms(
                    {out.name: result.visits.numpy()}, epochs, "epochs each sample was trained"
                ),
            }
            for name, fig in figures.items():
                plots.save(fig, out / name)
        for name in figures:
            run.log_artifact(out / name)
        # Written last: its presence marks a finished cell.
        write_json(
            out / "metrics.json", {"method": method, "base_method": spec.method, "rate": rate, "seed": seed, **final}
        )
    print(
        f"{grid.name} {out.name}: {grid.metric} {final[grid.metric]:.4f}, "
        f"achieved saving {result.achieved_saving:.3f}, train time {result.train_time_s:.1f}s"
    )
