"""Performance benchmark: does the training loop run close to the hardware's limit, and does
pruning save real time?

    python benchmarks/run.py            # the full version (about 13 minutes on a 2-core CPU)
    python benchmarks/run.py --quick    # a short version (about 5 minutes)

Runs on the GPU when there is one (--device to choose), on Fashion-MNIST with small_cnn and
params.yaml's training settings, and writes reports/benchmarks.json and reports/benchmarks.md.
Each figure is the median of several repeats. The loops being compared run interleaved within
each repeat, so a drift in the machine's speed hits both sides alike.

  loop_vs_bare            samples/s of the real loop (EMP at s = 0.3: augmentation, statistics,
                          selection, progress and MLflow logging on) / samples/s of a bare loop
  input_path_speedup      augmented batches/s of our input path / torchvision's default path
  selection_ms            one epoch's selection per method at N = 60,000 and N = 1,281,167
  pruned_time_over_ideal  an epoch at rate s / ((1 - s) x a full-data epoch), s in {0.3, 0.5, 0.7}
  ssl_loop_vs_bare        loop_vs_bare for SimCLR steps
  study_overhead          the fixed cost of a training stage (its process start to its first
                          training step, plus the end of its last epoch to its exit) in a real
                          `dvc repro` of a small fixed grid (14 stages, about 2.5 minutes on 2
                          cores), and where the wall time went (benchmarks/overhead.py)
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import input_path
import overhead
import selection
from loops import BareLoop, RealLoop
from summary import (
    FASHION_MNIST_N,
    IMAGENET_N,
    SELECTION_RATE,
    STAGE_FIXED_GOAL_S,
    machine,
    markdown,
    median,
)

from pipeline.core import data, io
from pipeline.core.errors import exit_on_user_error
from pipeline.study import config, paths
from pipeline.study.grids import SSL, SUPERVISED
from pipeline.study.tracking import StageRun
from pipeline.training.runtime import resolve_device

RATES = (0.3, 0.5, 0.7)
LOOP_METHOD, LOOP_RATE = "emp", 0.3


@dataclass(frozen=True)
class Size:
    train: int  # training images of the supervised loops
    ssl_train: int  # training images of the SimCLR loops
    input_images: int  # images per input-path epoch
    repeats: int
    study_grid: str  # the grid study_overhead runs through `dvc repro` (benchmarks/overhead.py)


# Many short repeats rather than a few long ones: on a shared machine an epoch's time can be off
# by 20% either way, and the median of many interleaved repeats is what stays put.
SIZES = {
    "full": Size(train=8000, ssl_train=4096, input_images=30000, repeats=15, study_grid="small"),
    "quick": Size(train=4000, ssl_train=2048, input_images=8000, repeats=5, study_grid="small"),
    # Seconds, for the test that runs this script end to end: its numbers mean nothing.
    "smoke": Size(train=256, ssl_train=256, input_images=512, repeats=1, study_grid="tiny"),
}


def figure(value: float, goal: str, met: bool, **detail) -> dict:
    return {"value": value, "goal": goal, "met": bool(met), **detail}


def interleaved(measures: dict, repeats: int) -> list[dict]:
    """Every measurement once per repeat, in an order rotated by the repeat's number, so that none
    always runs right after a particular other one. A measurement returns (seconds, samples)."""
    items = list(measures.items())
    rows = []
    for r in range(repeats):
        k = r % len(items)
        rows.append({key: measure() for key, measure in items[k:] + items[:k]})
    return rows


def samples_per_s(row: dict, key) -> float:
    seconds, samples = row[key]
    return samples / seconds


def supervised(cfg, ds, device, repeats: int, run: StageRun) -> dict:
    """loop_vs_bare and pruned_time_over_ideal, from one interleaved sequence of epochs."""
    real, bare = RealLoop(SUPERVISED, cfg, ds, device, run), BareLoop(SUPERVISED, cfg, ds, device)
    real.epoch_seconds("full", 0.0)  # warms up and fills the statistics table, as the warm-up stage does
    bare.epoch_seconds()
    measures = {
        "bare": lambda: (bare.epoch_seconds(), len(ds)),
        "full": lambda: real.epoch_seconds("full", 0.0),
        **{s: (lambda s=s: real.epoch_seconds(LOOP_METHOD, s)) for s in RATES},
    }
    rows = interleaved(measures, repeats)
    loop = [samples_per_s(r, LOOP_RATE) / samples_per_s(r, "bare") for r in rows]
    pruned = {s: [r[s][0] / ((1 - s) * r["full"][0]) for r in rows] for s in RATES}
    full_epoch_s = median(r["full"][0] for r in rows)
    return {
        "loop_vs_bare": figure(
            median(loop),
            ">= 0.90",
            median(loop) >= 0.90,
            real_samples_per_s=median(samples_per_s(r, LOOP_RATE) for r in rows),
            bare_samples_per_s=median(samples_per_s(r, "bare") for r in rows),
            real_loop=f"{LOOP_METHOD}@{LOOP_RATE}",
            per_repeat=loop,
        ),
        "pruned_time_over_ideal": {
            str(s): figure(
                median(pruned[s]),
                "<= 1.05",
                median(pruned[s]) <= 1.05,
                epoch_s=median(r[s][0] for r in rows),
                per_repeat=pruned[s],
            )
            for s in RATES
        },
        "full_epoch_s": full_epoch_s,
        "evaluation_s": real.evaluation_seconds(),
        "fashion_mnist_epoch_s": full_epoch_s * FASHION_MNIST_N / len(ds),
    }


def simclr(cfg, ds, device, repeats: int, run: StageRun) -> dict:
    real, bare = RealLoop(SSL, cfg, ds, device, run), BareLoop(SSL, cfg, ds, device)
    real.epoch_seconds("full", 0.0)
    bare.epoch_seconds()
    rows = interleaved(
        {"bare": lambda: (bare.epoch_seconds(), len(ds)), "real": lambda: real.epoch_seconds(LOOP_METHOD, LOOP_RATE)},
        repeats,
    )
    ratios = [samples_per_s(r, "real") / samples_per_s(r, "bare") for r in rows]
    return {
        "ssl_loop_vs_bare": figure(
            median(ratios),
            ">= 0.90",
            median(ratios) >= 0.90,
            real_samples_per_s=median(samples_per_s(r, "real") for r in rows),
            bare_samples_per_s=median(samples_per_s(r, "bare") for r in rows),
            real_loop=f"{LOOP_METHOD}@{LOOP_RATE}",
            per_repeat=ratios,
        )
    }


def input_speed(cfg, ds, device, repeats: int, scratch: Path) -> dict:
    tv_root = input_path.torchvision_layout(Path(cfg.data.root), scratch)
    ours, default = [], []
    for _ in range(repeats):
        ours.append(input_path.ours(ds, cfg.train, device))
        default.append(input_path.torchvision_default(tv_root, ds, cfg.train, device))
    ratios = [a / b for a, b in zip(ours, default)]
    return {
        "input_path_speedup": figure(
            median(ratios),
            ">= 5",
            median(ratios) >= 5,
            ours_batches_per_s=median(ours),
            torchvision_batches_per_s=median(default),
            workers=os.cpu_count() or 1,
            per_repeat=ratios,
        )
    }


def selection_times(device, repeats: int, fashion_mnist_epoch_s: float) -> dict:
    budget_60k = 10.0 * fashion_mnist_epoch_s  # 1% of an epoch, in ms
    at_60k = selection.selection_ms(FASHION_MNIST_N, SELECTION_RATE, device, repeats)
    at_imagenet = selection.selection_ms(IMAGENET_N, SELECTION_RATE, device, repeats)
    return {
        "selection_ms": {
            str(FASHION_MNIST_N): figure(
                max(at_60k.values()),
                f"< {budget_60k:.0f} (1% of an epoch)",
                max(at_60k.values()) < budget_60k,
                per_method=at_60k,
            ),
            str(IMAGENET_N): figure(
                max(at_imagenet.values()), "< 100", max(at_imagenet.values()) < 100, per_method=at_imagenet
            ),
        }
    }


def study_overhead(grid: str) -> dict:
    result = overhead.measure(grid)
    fixed = result["fixed_cost_s"]
    return {"study_overhead": figure(fixed, f"<= {STAGE_FIXED_GOAL_S} s", fixed <= STAGE_FIXED_GOAL_S, **result)}


def benchmark_config(cfg: config.Config, device: str, n: int) -> config.Config:
    """params.yaml's training settings on Fashion-MNIST with small_cnn (what the goals are set for)."""
    return replace(
        cfg,
        data=replace(cfg.data, dataset="fashion_mnist", train_size=n, test_size=1000),
        model=replace(cfg.model, arch="small_cnn"),
        runtime=replace(cfg.runtime, device=device),
    )


def load(cfg: config.Config) -> data.ImageDataset:
    d = cfg.data
    return data.load_dataset(d.dataset, d.root, d.train_size, d.subset_seed, d.test_size)


def tracked_run(scratch: Path) -> StageRun:
    """A run in a real SQLite store of its own, so the loop logs each epoch as a study run does."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{scratch / 'mlflow.db'}")
    experiment = client.create_experiment("benchmark", artifact_location=(scratch / "artifacts").as_uri())
    return StageRun(client, client.create_run(experiment, run_name="benchmark").info.run_id)


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="full", help="how many images and repeats (default: full)")
    parser.add_argument(
        "--quick",
        dest="size",
        action="store_const",
        const="quick",
        help="fewer images and repeats, a few minutes on a CPU: the same as --size quick",
    )
    parser.add_argument("--device", default="auto", help="auto (GPU when there is one), cpu, cuda or cuda:N")
    parser.add_argument("--params", default="params.yaml", help="training settings to use (default: params.yaml)")
    parser.add_argument("--out", default=str(paths.REPORTS_DIR), help="where benchmarks.json/.md go")
    args = parser.parse_args()
    size = SIZES[args.size]
    base = config.load(args.params)
    device = resolve_device(args.device)
    cfg, ssl_cfg = benchmark_config(base, args.device, size.train), benchmark_config(base, args.device, size.ssl_train)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="benchmark-") as tmp:
        scratch = Path(tmp)
        run = tracked_run(scratch)
        print(f"benchmark: supervised loops on {size.train} images, {size.repeats} repeats", file=sys.stderr)
        figures.update(supervised(cfg, load(cfg), device, size.repeats, run))
        print(f"benchmark: SimCLR loops on {size.ssl_train} images", file=sys.stderr)
        figures.update(simclr(ssl_cfg, load(ssl_cfg), device, size.repeats, run))
        print(f"benchmark: input paths on {size.input_images} images", file=sys.stderr)
        in_cfg = benchmark_config(base, args.device, size.input_images)
        figures.update(input_speed(in_cfg, load(in_cfg), device, size.repeats, scratch))
    print("benchmark: selection at N = 60,000 and 1,281,167", file=sys.stderr)
    figures.update(selection_times(device, size.repeats, figures["fashion_mnist_epoch_s"]))
    print(f"benchmark: study_overhead, `dvc repro` of the {size.study_grid} grid in a copy", file=sys.stderr)
    figures.update(study_overhead(size.study_grid))
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(device),
        "settings": {
            "size": args.size,
            "repeats": size.repeats,
            "train": size.train,
            "ssl_train": size.ssl_train,
            "input_images": size.input_images,
            "batch_size": cfg.train.batch_size,
            "ssl_batch_size": cfg.pretrain.batch_size,
            "selection_rate": SELECTION_RATE,
        },
        "figures": figures,
    }
    out = Path(args.out)
    io.write_json(out / "benchmarks.json", result)
    io.write_text(out / "benchmarks.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
