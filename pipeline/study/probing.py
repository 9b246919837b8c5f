"""Probing pre-trained encoders: linear evaluation of each pretrain cell's encoder and of the
same encoder untrained (the reference that says what pre-training adds), and downstream pruning
(DLC scores with each seed's full-data encoder, subsets by FlexRand, static random and DLC top-K)
evaluated the same way.

The encoder is frozen (no gradients, eval mode); features are extracted once without
augmentation; a logistic regression is fitted on the labelled training set (every label, or the
linear_eval section's labels per class) and a kNN vote gives a second, fitting-free accuracy.
Downstream pruning chooses from every label, and its DLC stage probes the full-data encoder on all
of them (the downstream comparison's first row).
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from dynaprune.schema import flatten
from dynaprune.seeding import generator

from ..core import selectors, timing
from ..core.augment import InputPipeline
from ..core.dlc import dlc_scores
from ..core.errors import UserError
from ..core.evaluate import Features, frozen_features, labelled_subset, probe_accuracies
from ..core.images import ImageDataset, load_prepared
from ..core.io import load_torch, read_json, save_torch, write_json
from ..core.models import build_encoder
from ..training.runtime import resolve_device
from ..training.tasks import SimCLRTask
from . import paths, stage_runs
from .config import Config
from .grids import SSL
from .paths import DOWNSTREAM_DIR, LINEAR_EVAL_DIR

# The DVC stages of this module, as dvc.yaml's matrices name them (DVC_STAGE says so when DVC runs
# them; these are the fallbacks, and the names "rerun ..." errors give; tests/test_dvc_deps.py holds
# them to dvc.yaml).
STAGES = {
    "linear_eval": "linear_eval@{cell}",
    "linear_eval_full": "linear_eval_full@{seed}",
    "linear_eval_untrained": "linear_eval_untrained@{seed}",
    "dlc": "dlc@{seed}",
    "downstream": "downstream@{cell}",
}


def stage_name(stage: str, *, seed: int, method: str | None = None, rate: float = 0.0) -> str:
    """The name of one of STAGES' cells: seed's, or the cell (method, rate, seed)'s."""
    cell = paths.cell_name(method, rate, seed) if method is not None else None
    return STAGES[stage].format(seed=seed, cell=cell)


def load_encoder(cfg: Config, ds: ImageDataset, *, method: str, rate: float, seed: int) -> torch.nn.Module:
    encoder, _ = build_encoder(cfg.model.arch, ds.in_channels)
    encoder.load_state_dict(load_torch(SSL.cell_dir(method, rate, seed) / "encoder.pt", "pretrain"))
    encoder.requires_grad_(False)
    return encoder.eval()


@timing.timed("eval")
def encoder_features(cfg: Config, ds: ImageDataset, encoder: torch.nn.Module) -> Features:
    """Frozen features of the training and test images (computed on the configured device), with
    every training label."""
    device = resolve_device(cfg.runtime.device)
    encoder, plain = _placed(cfg, ds, encoder, device)
    extract = lambda x: frozen_features(encoder, x.to(device), plain, cfg.runtime.eval_batch_size).cpu()
    return Features(extract(ds.train_x), ds.train_y, extract(ds.test_x), ds.test_y)


def _placed(
    cfg: Config, ds: ImageDataset, encoder: torch.nn.Module, device: torch.device
) -> tuple[torch.nn.Module, InputPipeline]:
    """The encoder on `device` and the un-augmented input path, both in runtime.channels_last's layout."""
    encoder = encoder.to(device)
    if cfg.runtime.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
    return encoder, InputPipeline(*ds.channel_stats(), device, channels_last=cfg.runtime.channels_last)


# Linear-probe and kNN test accuracy of frozen features, timed as evaluation.
probe = timing.timed("eval")(probe_accuracies)


def probe_encoder(cfg: Config, ds: ImageDataset, encoder: torch.nn.Module, seed: int) -> dict:
    """An encoder's linear and kNN accuracy, fitted on the labels linear_eval names for `seed`:
    one draw per seed, so every encoder of a seed (pruned, full, untrained) is fitted on the same."""
    features = encoder_features(cfg, ds, encoder)
    try:
        keep = labelled_subset(ds.train_y, cfg.linear_eval.labels_per_class, generator(seed, "probe labels"))
    except ValueError as err:
        raise UserError(
            f"linear_eval.labels_per_class is too large: {err}; lower it or raise data.train_size"
        ) from None
    return probe(features.labelled(keep), seed=seed)


def _prepared() -> tuple[ImageDataset, dict]:
    """The prepared dataset and its metadata, as the prepare stage wrote them."""
    return load_prepared(paths.DATASET_FILE), paths.prepared_meta()


def _record(run, folder: Path, cell: dict, metrics: dict) -> str:
    """Log a cell's metrics to its MLflow run, write them after the cell's coordinates (method,
    rate, seed) as `folder`/metrics.json, and say its accuracies for the cell's printed line."""
    run.log_metrics(metrics)
    write_json(folder / "metrics.json", {**cell, **metrics})
    return f"linear {metrics['linear_acc']:.4f}, kNN {metrics['knn_acc']:.4f}"


def run_linear_eval(cfg: Config, *, method: str, rate: float, seed: int) -> dict:
    ds, meta = _prepared()
    name = paths.cell_name(method, rate, seed)
    pretrained = read_json(SSL.cell_dir(method, rate, seed) / "metrics.json")
    params = {"method": method, "rate": rate, "seed": seed, "encoder": f"pretrain@{name}"}
    # The DVC stage (DVC_STAGE says so under DVC; this fallback is named as dvc.yaml names it).
    kind = "linear_eval" if cfg.method(method).uses_rate else "linear_eval_full"
    stage = stage_name(kind, method=method, rate=rate, seed=seed)
    tags = {"task": "ssl", "method": method, "rate": rate, "seed": seed}
    with stage_runs.stage_run(cfg, meta, stage=stage, run_name=f"linear_eval {name}", params=params, tags=tags) as run:
        t0 = time.perf_counter()
        encoder = load_encoder(cfg, ds, method=method, rate=rate, seed=seed)
        metrics = {
            **probe_encoder(cfg, ds, encoder, seed),
            "achieved_saving": pretrained["achieved_saving"],  # of the pre-training that made the encoder
            "pretrain_wall_time_s": pretrained["wall_time_s"],
            # what that time was measured on (pipeline/study/measured_on.py)
            **{
                f"pretrain_{k}": pretrained[k] for k in ("load_avg_1m", "cpu_cores", "torch_threads") if k in pretrained
            },
            "wall_time_s": time.perf_counter() - t0,
        }
        cell = {"method": method, "rate": rate, "seed": seed, "pretrain_machine": pretrained.get("machine")}
        said = _record(run, LINEAR_EVAL_DIR / name, cell, metrics)
    print(f"linear_eval {name}: {said}")
    return metrics


def run_untrained_probe(cfg: Config, *, seed: int) -> dict:
    """The no-pre-training reference of seed `seed`: the encoder that seed's pre-training starts
    from, never trained, probed exactly as every pre-trained encoder is."""
    ds, meta = _prepared()
    name = paths.untrained_name(seed)
    params = {"method": paths.UNTRAINED, "seed": seed, "encoder": f"the initial weights of seed {seed}"}
    tags = {"task": "ssl", "method": paths.UNTRAINED, "seed": seed}
    stage = stage_name("linear_eval_untrained", seed=seed)
    with stage_runs.stage_run(cfg, meta, stage=stage, run_name=f"linear_eval {name}", params=params, tags=tags) as run:
        t0 = time.perf_counter()
        encoder, _ = SimCLRTask.initial_encoder(cfg.model.arch, ds.in_channels, seed)
        metrics = {
            **probe_encoder(cfg, ds, encoder.requires_grad_(False).eval(), seed),
            "wall_time_s": time.perf_counter() - t0,
        }
        said = _record(run, LINEAR_EVAL_DIR / name, {"method": paths.UNTRAINED, "rate": 0.0, "seed": seed}, metrics)
    print(f"linear_eval {name}: {said}")
    return metrics


def run_dlc(cfg: Config, *, seed: int) -> None:
    """DLC score of every labelled training sample with seed `seed`'s encoder pre-trained on full
    data, and that encoder's frozen features, which the seed's downstream cells probe."""
    ds, meta = _prepared()
    d = cfg.downstream
    params = {"encoder": f"pretrain_full@{seed}", "seed": seed, **flatten(d, "downstream.")}
    tags = {"task": "downstream", "seed": seed}
    stage = stage_name("dlc", seed=seed)
    with stage_runs.stage_run(cfg, meta, stage=stage, run_name=f"dlc {seed}", params=params, tags=tags) as run:
        t0 = time.perf_counter()
        encoder = load_encoder(cfg, ds, method=cfg.reference.name, rate=0.0, seed=seed)
        frozen = encoder_features(cfg, ds, copy.deepcopy(encoder))
        device = resolve_device(cfg.runtime.device)
        # Masking ranks the weights in their flat (default-layout) order; each level's forward
        # passes run on a channels-last copy when runtime.channels_last says so.
        channels_last = cfg.runtime.channels_last
        plain = InputPipeline(*ds.channel_stats(), device, channels_last=channels_last)
        layout = lambda m: copy.deepcopy(m).to(memory_format=torch.channels_last) if channels_last else m
        images = ds.train_x.to(device)
        features = lambda masked: frozen_features(layout(masked), images, plain, cfg.runtime.eval_batch_size)
        with timing.phase("scoring"):
            scores = dlc_scores(encoder, features, ds.train_y.to(device), d.levels, d.delta).cpu()
        # The downstream comparison's first row: the same encoder probed on every label.
        everything = probe(frozen, seed=seed)
        wall = time.perf_counter() - t0
        run.log_metrics({"wall_time_s": wall, "dlc_mean": float(scores.mean()), "dlc_std": float(scores.std())})
        with timing.phase("outputs"):
            save_torch(
                paths.dlc_file(seed), {"scores": scores, "train_features": frozen.train, "test_features": frozen.test}
            )
            row = {"method": paths.ALL_LABELS, "rate": 0.0, "seed": seed, "kept": len(ds), "achieved_saving": 0.0}
            write_json(paths.all_labels_file(seed), {**row, **everything, "wall_time_s": wall})
    print(f"dlc {seed}: {len(scores)} samples scored over {d.levels} masking levels in {wall:.1f}s")


def run_downstream(cfg: Config, *, selector: str, rate: float, seed: int) -> dict:
    """Choose a subset of the labelled set once with seed `seed`'s DLC scores (and, for the random
    selectors, its stream), then the same linear evaluation on it."""
    ds, meta = _prepared()
    name = paths.cell_name(selector, rate, seed)
    params = {
        "method": selector,
        "rate": rate,
        "seed": seed,
        "downstream.gamma": cfg.downstream.gamma,
        "downstream.per_class": cfg.downstream.per_class,
    }
    tags = {"task": "downstream", "method": selector, "rate": rate, "seed": seed}
    stage, run_name = stage_name("downstream", method=selector, rate=rate, seed=seed), f"downstream {name}"
    with stage_runs.stage_run(cfg, meta, stage=stage, run_name=run_name, params=params, tags=tags) as run:
        t0 = time.perf_counter()
        blob = load_torch(paths.dlc_file(seed), stage_name("dlc", seed=seed))
        keep = selectors.select(
            selector,
            blob["scores"],
            ds.train_y,
            rate=rate,
            gen=generator(seed, "downstream", selector, rate),
            gamma=cfg.downstream.gamma,
            stratified=cfg.downstream.per_class,
        )
        frozen = Features(blob["train_features"], ds.train_y, blob["test_features"], ds.test_y)
        metrics = {
            **probe(frozen.labelled(keep), seed=seed),
            "kept": len(keep),
            "achieved_saving": 1.0 - len(keep) / len(ds),
            "wall_time_s": time.perf_counter() - t0,
        }
        said = _record(run, DOWNSTREAM_DIR / name, {"method": selector, "rate": rate, "seed": seed}, metrics)
    print(f"downstream {name}: kept {len(keep)}, {said}")
    return metrics
