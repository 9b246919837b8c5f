"""What the warm-up and grid-cell stages of both tasks share: supervised training (`train`) and
SimCLR pre-training (`pretrain`) differ only in their loop, folders and evaluation metric."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import data, distributed, outputs, plots, resume, tracking, train
from .config import Config
from .errors import UserError
from .pretrain import SimCLRTrainer
from .schema import flatten


@dataclass(frozen=True)
class Task:
    name: str  # the params section and the DVC stage of its grid cells
    trainer_class: type[train.Trainer]
    warmups_dir: Path  # one warm-up per seed, in a folder named by the seed
    cells_dir: Path
    keep_encoder: bool  # pre-trained encoders are the product: linear_eval and dlc read them

    @property
    def warmup_stage(self) -> str:
        return self.trainer_class.warmup_stage

    def warmup_dir(self, seed: int) -> Path:
        return self.warmups_dir / str(seed)

    def checkpoint(self, seed: int) -> Path:
        return self.warmup_dir(seed) / "checkpoint.pt"

    def warmup_stage_name(self, seed: int) -> str:
        """As dvc.yaml names it: a matrix over seeds for supervised training (warmup@0), one stage
        for pre-training, whose grid has one seed (pretrain_warmup)."""
        return f"{self.warmup_stage}@{seed}" if self is SUPERVISED else self.warmup_stage

    @property
    def metric(self) -> str:
        return self.trainer_class.evaluate_keys[0]

    def cell_dir(self, method: str, rate: float, seed: int) -> Path:
        return self.cells_dir / outputs.cell_name(method, rate, seed)


SUPERVISED = Task("train", train.Trainer, outputs.WARMUP_DIR, outputs.TRAIN_DIR, keep_encoder=False)
SSL = Task("pretrain", SimCLRTrainer, outputs.PRETRAIN_WARMUP_DIR, outputs.PRETRAIN_DIR, keep_encoder=True)


def _run_params(cfg: Config, task: Task) -> dict:
    """The params a run of `task` depends on (its resume checkpoints are keyed by them)."""
    return {**tracking.config_params(cfg), **flatten(getattr(cfg, task.name), f"{task.name}.")}


@contextlib.contextmanager
def _resumable_run(cfg: Config, task: Task, meta: dict, stage: str, run_name: str, params: dict | None = None,
                   **inputs: str) -> Iterator[tuple[resume.Resume, tracking.StageRun | None]]:
    """A training stage's resume checkpoints (keyed by its params, the dataset and `inputs`) and
    its MLflow run, continued after an interruption. The run is None on the other ranks of a
    torchrun job, which train their shards while rank 0 logs and writes. The checkpoints are
    removed once the block completes."""
    world = distributed.setup(cfg.train.device)
    key = resume.fingerprint(params={**_run_params(cfg, task), **(params or {})}, dataset=meta["md5"], **inputs)
    res = resume.Resume(stage, key, main=world.is_main)
    if world.is_main:
        with tracking.stage_run(cfg, meta, stage, run_name, params, res.run_id, res.stale_run_id) as run:
            res.run_id = run.run_id
            yield res, run
    else:
        yield res, None
    res.clear()


def run_warmup(cfg: Config, task: Task, seed: int) -> None:
    """The warm-up of seed `seed`: W full-data epochs that every pruned run of that seed forks from."""
    ds = data.load_prepared(outputs.DATASET_FILE)
    meta = outputs.prepared_meta()
    stage = task.warmup_stage_name(seed)
    out = task.warmup_dir(seed)
    with _resumable_run(cfg, task, meta, stage, stage, {"seed": seed}) as (res, run):
        checkpoint = train.warmup(cfg, ds, seed, on_epoch=run.log_epoch if run else None,
                                  trainer_class=task.trainer_class, res=res)
        if run is None:
            return
        W = checkpoint["epoch"]
        run.log_metrics({"wall_time_s": checkpoint["wall_time_s"]}, step=W)
        curves = out / "curves.png"
        plots.save(plots.training_curves(checkpoint["history"], W, f"{stage}: {meta['name']}, "
                                         f"{cfg.model.arch}", task.metric), curves)
        run.log_artifact(curves)
        outputs.save_torch(task.checkpoint(seed), checkpoint)
        outputs.write_json(out / "metrics.json",
                           {task.metric: checkpoint["history"][-1][task.metric],
                            "wall_time_s": checkpoint["wall_time_s"], "epochs": W})


def run_cell(cfg: Config, task: Task, method: str, rate: float, seed: int) -> None:
    """One pruned run (method, rate, seed) forked from the warm-up checkpoint of its seed."""
    spec = cfg.method(method)
    if not 0.0 <= rate < 1.0:
        raise UserError(f"--rate {rate} is invalid: expected a number in [0, 1)")
    ds = data.load_prepared(outputs.DATASET_FILE)
    meta = outputs.prepared_meta()
    checkpoint = outputs.load_torch(task.checkpoint(seed), task.warmup_stage_name(seed))
    out = task.cell_dir(method, rate, seed)
    epochs = getattr(cfg, task.name).epochs
    # The DVC stage this cell is (DVC_STAGE says so when DVC runs it; this is the fallback, named
    # as dvc.yaml's matrices name them: train@m-r-s, full@s, pretrain@m-r, pretrain_full).
    if task is SUPERVISED:
        stage = f"full@{seed}" if spec.method == "full" else f"train@{out.name}"
    else:
        stage = "pretrain_full" if spec.method == "full" else f"pretrain@{method}-{rate}"
    params = {"method": method, "base_method": spec.method, "rate": rate, "seed": seed,
              **flatten(spec.options, "options.")}
    if task is SSL:
        params.update(flatten(cfg.pretrain, "pretrain."))
    run_name = out.name if task is SUPERVISED else f"{task.name} {out.name}"
    with _resumable_run(cfg, task, meta, stage, run_name, params,
                        warmup=data.file_md5(task.checkpoint(seed))) as (res, run):
        result = train.pruned_run(cfg, ds, checkpoint, spec, rate, seed, on_epoch=run.log_epoch if run else None,
                                  trainer_class=task.trainer_class, res=res)
        if run is None:
            return
        final = result.final_metrics()
        # The evaluation metric's last per-epoch value (step E) already is the final one.
        run.log_metrics({k: v for k, v in final.items() if k != task.metric}, step=epochs)
        outputs.write_json(out / "history.json", result.history)
        outputs.save_torch(out / "visits.pt", result.visits)
        outputs.write_json(out / "lfl.json", result.lfl)
        if task.keep_encoder:
            prefix = "encoder."
            outputs.save_torch(out / "encoder.pt", {k[len(prefix):]: v for k, v in result.model_state.items()
                                                    if k.startswith(prefix)})
        title = f"{task.name} {out.name}: {meta['name']}, {cfg.model.arch}"
        figures = {"curves.png": plots.training_curves(checkpoint["history"] + result.history,
                                                       checkpoint["epoch"], title, task.metric),
                   "visits.png": plots.visit_histograms({out.name: result.visits.numpy()}, epochs,
                                                        "epochs each sample was trained")}
        for name, fig in figures.items():
            plots.save(fig, out / name)
            run.log_artifact(out / name)
        # Written last: its presence marks a finished cell.
        outputs.write_json(out / "metrics.json", {"method": method, "base_method": spec.method,
                                                  "rate": rate, "seed": seed, **final})
    print(f"{task.name} {out.name}: {task.metric} {final[task.metric]:.4f}, "
          f"achieved saving {result.achieved_saving:.3f}, train time {result.train_time_s:.1f}s")
