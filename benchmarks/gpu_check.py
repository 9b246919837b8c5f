"""GPU readiness in minutes: a short supervised cell and a short SimCLR cell with a GPU preset's
settings (model, batch sizes, AMP, channels-last, compile), on data of the preset's shape, and
the figures that tell whether the GPU path is healthy: samples per second of the training steps,
and the share of an epoch's wall time spent in them (the rest: selection, evaluation, logging).

    python benchmarks/gpu_check.py                                   # params/gpu_cifar10_resnet18.yaml
    python benchmarks/gpu_check.py --params params/gpu_cifar100_resnet50.yaml --compile
    python benchmarks/gpu_check.py --device cpu --arch small_cnn --samples 512   # runs on CPU too

The data are random uint8 images of the preset's shape and class count (throughput does not
depend on their content, and CIFAR needs no download this way). Writes a JSON report with
--out. Each cell: one full-data warm-up epoch, then one pruned epoch of EMP at 70%.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from dynaprune import pruning
from pipeline.core.data import ImageDataset
from pipeline.core.errors import exit_on_user_error
from pipeline.study import config
from pipeline.study.grids import SSL, SUPERVISED, Grid
from pipeline.training.loop import EpochLoop

SHAPES = {
    "digits": (1, 8, 8, 10),
    "fashion_mnist": (1, 28, 28, 10),
    "cifar10": (3, 32, 32, 10),
    "cifar100": (3, 32, 32, 100),
}


def synthetic(dataset: str, n: int, seed: int = 0) -> ImageDataset:
    c, h, w, k = SHAPES.get(dataset, SHAPES["cifar10"])
    gen = torch.Generator().manual_seed(seed)
    images = lambda m: torch.randint(0, 256, (m, c, h, w), dtype=torch.uint8, generator=gen)
    labels = lambda m: torch.randint(0, k, (m,), generator=gen)
    return ImageDataset(
        f"synthetic-{dataset}", images(n), labels(n), images(n // 4), labels(n // 4), tuple(str(i) for i in range(k))
    )


def cell(grid: Grid, cfg: config.Config, ds: ImageDataset) -> dict:
    """One warm-up epoch and one pruned epoch (EMP at 0.7) of `grid`'s task, timed."""
    schedule = replace(getattr(cfg, grid.section), epochs=10, warmup_epochs=1)
    task = grid.setup(cfg).task(ds, seed=0)
    loop = EpochLoop(task, schedule, total_epochs=2)
    stats = loop.new_stats()
    runtime = task.runtime
    plan = pruning.EpochPlan(pruning.create("emp", None, 0.7, len(ds), 0, signals=task.signals), 10, 1, 0)
    rows = []
    for epoch in range(2):
        runtime.synchronize()
        t0 = time.perf_counter()
        history, _ = loop.run_epochs(plan, stats, start=epoch, end=epoch + 1, seed=0, label=f"gpu_check {grid.section}")
        runtime.synchronize()
        wall = time.perf_counter() - t0
        row = history[0]
        rows.append(
            {
                "epoch": epoch,
                "kept": row["kept"],
                "train_s": row["epoch_time_s"],
                "wall_s": wall,
                "samples_per_s": row["kept"] / row["epoch_time_s"],
                "train_share": row["epoch_time_s"] / wall,
            }
        )
    return {
        "device": str(runtime.device),
        "amp": runtime.amp,
        "channels_last": runtime.channels_last,
        "compile": runtime.compile,
        "epochs": rows,
    }


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params/gpu_cifar10_resnet18.yaml", help="the preset whose settings to use")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--samples", type=int, default=8192, help="training images of each cell")
    parser.add_argument("--arch", default=None, help="another model than the preset's (e.g. small_cnn on CPU)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the models (runtime.compile)")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    cfg = config.load(args.params)
    cfg = replace(cfg, runtime=replace(cfg.runtime, device=args.device, compile=args.compile or cfg.runtime.compile))
    if args.arch:
        cfg = replace(cfg, model=replace(cfg.model, arch=args.arch))
    ds = synthetic(cfg.data.dataset, args.samples)
    report = {
        "params": args.params,
        "arch": cfg.model.arch,
        "samples": args.samples,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    for grid in (SUPERVISED, SSL):
        report[grid.section] = result = cell(grid, cfg, ds)
        pruned = result["epochs"][1]
        print(
            f"gpu_check {grid.section} on {result['device']} (amp {result['amp']}, channels_last "
            f"{result['channels_last']}, compile {result['compile']}): {pruned['samples_per_s']:.0f} samples/s in "
            f"the training steps, {100 * pruned['train_share']:.0f}% of the pruned epoch's wall time",
            file=sys.stderr,
        )
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
