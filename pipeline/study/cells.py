"""The warm-up and grid-cell stages of every grid (pipeline/study/grids.py): here params become a
grid setup, a cell becomes an MLflow run and DVC outputs, and an interrupted run continues."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from dynaprune.schema import flatten

from ..core import timing
from ..core.errors import UserError
from ..core.io import file_md5, load_torch, save_torch, write_json
from ..core.models import build_encoder, build_model
from ..training import distributed, machine, resume
from . import identity, plots, tracking
from .config import Config
from .grids import Grid, GridSetup
from .identity import Study
from .paths import RESUME_DIR


@contextlib.contextmanager
def _resumable_run(
    setup: GridSetup, study: Study, *, stage: str, run_name: str, coords: dict[str, Any], done: Path, **inputs: str
) -> Iterator[tuple[resume.Resume, tracking.StageRun | None]]:
    """A training stage's resume checkpoints (keyed by its params, the dataset and `inputs`) and
    its MLflow run, continued after an interruption; `done` is the output written last. The run
    is None on the other ranks of a torchrun job, which train their shards while rank 0 logs and
    writes. The checkpoints are removed once the block completes. Runs and checkpoints that
    killed cells left behind are closed and removed first (resume.sweep)."""
    world = distributed.setup(setup.runtime.device)
    params = {**setup.params, **coords}
    key = resume.fingerprint(params=params, dataset=study.meta["md5"], **inputs)
    dead = resume.sweep(RESUME_DIR) if world.is_main else []  # killed cells' leftovers
    res = resume.Resume(stage, key, RESUME_DIR, main=world.is_main, done=done)
    if world.is_main:
        tags = {"task": setup.grid.tag, **{k: coords[k] for k in ("dataset", "method", "rate", "seed") if k in coords}}
        dead_ids = tuple(i for i in dead if i != res.run_id)
        with tracking.stage_run(
            study,
            stage=stage,
            run_name=run_name,
            params=params,
            resume_id=res.run_id,
            abandoned_id=res.stale_run_id,
            tags=tags,
            dead_ids=dead_ids,
        ) as tracked:
            res.claim(tracked.run_id)
            yield res, tracked
    else:
        yield res, None
    res.clear()


def run_warmup(cfg: Config, grid: Grid, *, seed: int) -> None:
    """The warm-up of seed `seed`: W full-data epochs that every pruned run of that seed forks from."""
    setup, ds, meta = grid.setup(cfg), grid.load_data(), grid.meta()
    study = identity.study(cfg, meta)
    stage = grid.warmup_stage_name(seed)
    out = grid.warmup_dir(seed)
    coords = {**grid.coordinates, "seed": seed}
    with _resumable_run(setup, study, stage=stage, run_name=stage, coords=coords, done=out / "metrics.json") as (
        res,
        tracked,
    ):
        checkpoint = setup.warmup(ds, seed=seed, on_epoch=tracked.log_epoch if tracked else None, res=res)
        if tracked is None:
            return
        W = checkpoint["epoch"]
        tracked.log_metrics({"wall_time_s": checkpoint["wall_time_s"]}, step=W)
        curves = out / "curves.png"
        with timing.phase("plots"):
            title = f"{stage}: {meta['name']}, {setup.arch}"
            figure = plots.training_curves(checkpoint["history"], warmup_epochs=W, title=title, metric=grid.metric)
            plots.save(figure, curves)
        tracked.log_artifact(curves)
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


def run_cell(cfg: Config, grid: Grid, *, method: str, rate: float, seed: int) -> None:
    """One pruned run (method, rate, seed) forked from the warm-up checkpoint of its seed."""
    setup = grid.setup(cfg)
    entry = setup.method_entry(method)
    if not 0.0 <= rate < 1.0:
        raise UserError(f"--rate {rate} is invalid: expected a number in [0, 1)")
    ds, meta = grid.load_data(), grid.meta()
    study = identity.study(cfg, meta)
    with timing.phase("checkpoints"):
        checkpoint = load_torch(grid.checkpoint(seed), grid.warmup_stage_name(seed))
    setup.check_warmup(checkpoint, seed=seed)  # before any work
    out = grid.cell_dir(method, rate, seed)
    epochs = setup.schedule.epochs
    stage = grid.cell_stage_name(entry, rate, seed)
    coords = {
        **grid.coordinates,
        "method": method,
        "base_method": entry.method,
        "rate": rate,
        "seed": seed,
        **flatten(entry.options, "options."),
    }
    run_name = grid.cell_run_name(method, rate, seed)
    warmup_md5 = file_md5(grid.checkpoint(seed))
    with _resumable_run(
        setup, study, stage=stage, run_name=run_name, coords=coords, done=out / "metrics.json", warmup=warmup_md5
    ) as (res, tracked):
        on_epoch = tracked.log_epoch if tracked else None
        result = setup.pruned_run(ds, checkpoint, method=method, rate=rate, seed=seed, on_epoch=on_epoch, res=res)
        if tracked is None:
            return
        final = {**result.final_metrics(), **machine.load()}  # the load: what the cell's times mean
        # The evaluation metric's last per-epoch value (step E) already is the final one.
        tracked.log_metrics({k: v for k, v in final.items() if k != grid.metric}, step=epochs)
        with timing.phase("outputs"):
            write_json(out / "history.json", result.history)
            save_torch(out / "visits.pt", result.visits)
            write_json(out / "lfl.json", result.lfl)
        if grid.keep_encoder:
            prefix = "encoder."
            encoder = {k[len(prefix) :]: v for k, v in result.model_state.items() if k.startswith(prefix)}
            with timing.phase("outputs"):
                save_torch(out / "encoder.pt", encoder)
            encoder_model = _loaded(build_encoder(setup.arch, ds.in_channels)[0], encoder)
            tracked.log_model(encoder_model, "encoder", meta["image_shape"])
        elif grid.log_reference_model and not entry.uses_rate:
            # the full-data reference model of its seed
            model = build_model(setup.arch, ds.in_channels, ds.num_classes)
            tracked.log_model(_loaded(model, result.model_state), "model", meta["image_shape"])
        title = f"{run_name}: {meta['name']}, {setup.arch}"
        with timing.phase("plots"):
            figures = {
                "curves.png": plots.training_curves(
                    checkpoint["history"] + result.history,
                    warmup_epochs=checkpoint["epoch"],
                    title=title,
                    metric=grid.metric,
                ),
                "visits.png": plots.visit_histograms(
                    {out.name: result.visits.numpy()}, epochs, "epochs each sample was trained"
                ),
            }
            for name, fig in figures.items():
                plots.save(fig, out / name)
        for name in figures:
            tracked.log_artifact(out / name)
        # Written last: its presence marks a finished cell.
        write_json(
            out / "metrics.json",
            {
                "method": method,
                "base_method": entry.method,
                "rate": rate,
                "seed": seed,
                **final,
                "machine": machine.describe(setup.runtime.device),
            },
        )
    print(
        f"{grid.section} {out.name}: {grid.metric} {final[grid.metric]:.4f}, "
        f"achieved saving {result.achieved_saving:.3f}, train time {result.train_time_s:.1f}s"
    )
