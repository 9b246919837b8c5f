"""How much SimCLR pre-training adds, by scale: the measurement that sizes the SimCLR preset.

At the default study's scale (5,000 Fashion-MNIST images, 6 epochs) an encoder pre-trained on full
data probes barely above the same encoder never trained, so pruning its pre-training cannot show
an effect. This script pre-trains `small_cnn` with SimCLR on full data for each (training images,
epochs) asked, as the pretrain stages do (the pretrain section of a params file: recipe, batch,
temperature, augmentation), and probes the encoder exactly as linear_eval does (logistic
regression and kNN on frozen features) untrained, at a few epochs on the way, and at the end;
per seed, with the wall time of every epoch on this machine.

    python benchmarks/ssl_scale.py --sizes 10000 20000 --epochs 20 --seeds 0 1 \
        --out reports/presets/ssl_cpu/scale.json
    python benchmarks/ssl_scale.py --sizes 5000 --epochs 40 --set temperature=0.2 --out ...

`--set key=value` changes a key of the pretrain section (the recipe to try). It writes the JSON and
a Markdown table beside it (scale.md) after every run, so an interrupted sweep keeps what it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import torch

from dynaprune.seeding import generator
from pipeline.core import data
from pipeline.core.evaluate import Features, labelled_subset, probe_accuracies
from pipeline.core.io import read_json, write_json, write_text
from pipeline.study import config
from pipeline.training import machine, runs
from pipeline.training.runtime import Runtime
from pipeline.training.tasks import SimCLRTask


def probe(task: SimCLRTask, ds: data.ImageDataset, seed: int, budgets: list[int | None]) -> dict:
    """Linear and kNN accuracy fitted on each label budget (labels per class; None: all), keyed
    `linear_acc`/`knn_acc` for all labels and `linear_acc@<n>`/`knn_acc@<n>` for n per class. A
    seed's draw of labels is the same at every epoch, as it is for every encoder of a seed in the study."""
    features = Features(task.features(task.train_x), ds.train_y, task.features(task.test_x), ds.test_y)
    out = {}
    for n in budgets:
        keep = labelled_subset(ds.train_y, n, generator(seed, "probe labels"))
        accs = probe_accuracies(features.labelled(keep), seed=seed)
        out.update({k if n is None else f"{k}@{n}": v for k, v in accs.items()})
    return out


def measure(
    cfg: config.Config, size: int, epochs: int, seed: int, probe_at: set[int], changes: dict, budgets: list
) -> dict:
    d = cfg.data
    ds = data.load_dataset(d.dataset, d.root, size, d.subset_seed, d.test_size)
    # One schedule of `epochs` full-data epochs (a warm-up as long as the run), as pretrain_full trains.
    schedule = dataclasses.replace(cfg.pretrain, epochs=epochs, warmup_epochs=epochs, **changes)
    task = SimCLRTask(ds, runtime=Runtime(cfg.runtime), arch=cfg.model.arch, settings=schedule, seed=seed)
    points = [{"epoch": 0, **probe(task, ds, seed, budgets)}]
    print(f"  size {size} seed {seed} untrained: {points[0]}", flush=True)
    times: list[float] = []
    last = [time.perf_counter()]

    def on_epoch(row: dict) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        done = row["epoch"] + 1
        if done in probe_at or done == epochs:
            points.append({"epoch": done, **probe(task, ds, seed, budgets)})
            print(f"  size {size} seed {seed} epoch {done}: {points[-1]}", flush=True)
        last[0] = time.perf_counter()

    runs.warmup(task, schedule, seed=seed, on_epoch=on_epoch)
    return {
        "size": size,
        "epochs": epochs,
        "seed": seed,
        "changes": changes,
        "budgets": budgets,
        "probes": points,
        "epoch_s": statistics.median(times),
    }


def recipe(changes: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in changes.items()) or "as params"


def table(results: list[dict]) -> str:
    lines = [
        "| images | epochs | recipe | seed | labels per class | linear, untrained (%) | linear, pre-trained (%) "
        "| gain (points) | kNN, untrained (%) | kNN, pre-trained (%) | s per epoch |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for p in r["probes"][1:]:
            u = r["probes"][0]
            for n in r.get("budgets", [None]):
                key = "" if n is None else f"@{n}"
                lin, knn = f"linear_acc{key}", f"knn_acc{key}"
                lines.append(
                    f"| {r['size']} | {p['epoch']} | {recipe(r['changes'])} | {r['seed']} | {n or 'all'} | "
                    f"{100 * u[lin]:.2f} | {100 * p[lin]:.2f} | {100 * (p[lin] - u[lin]):+.2f} | "
                    f"{100 * u[knn]:.2f} | {100 * p[knn]:.2f} | {r['epoch_s']:.1f} |"
                )
    return "\n".join(lines) + "\n" + summary(results)


def summary(results: list[dict]) -> str:
    """Per (images, epochs, label budget): the linear gain at the end of the schedule over the seeds
    measured, mean and range: what the choice of a preset's label budget reads."""
    gains: dict[tuple, list[float]] = {}
    for r in results:
        u, last = r["probes"][0], r["probes"][-1]
        if last["epoch"] != r["epochs"]:
            continue  # interrupted before the end of its schedule
        for n in r.get("budgets", [None]):
            key = "linear_acc" if n is None else f"linear_acc@{n}"
            gains.setdefault((r["size"], r["epochs"], n or "all"), []).append(100 * (last[key] - u[key]))
    lines = [
        "",
        "At the end of each schedule, over the seeds:",
        "",
        "| images | epochs | labels per class | seeds | mean gain (points) | lowest | highest |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (size, epochs, n), g in gains.items():
        lines.append(
            f"| {size} | {epochs} | {n} | {len(g)} | {statistics.fmean(g):+.2f} | {min(g):+.2f} | {max(g):+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="the recipe: its data, model, runtime, pretrain")
    parser.add_argument("--sizes", type=int, nargs="+", help="training images")
    parser.add_argument("--epochs", type=int, help="pre-training epochs (one cosine schedule)")
    parser.add_argument("--probe-at", type=int, nargs="*", default=[], help="epochs to probe on the way")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--labels-per-class",
        type=int,
        nargs="*",
        default=[],
        help="label budgets to probe with too (all labels always)",
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="pretrain keys to change")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--render", action="store_true", help="only write --out's Markdown again from its JSON")
    args = parser.parse_args()
    if args.render:
        write_text(args.out.with_suffix(".md"), table(read_json(args.out)["results"]))
        return
    if not args.sizes or not args.epochs:
        parser.error("--sizes and --epochs are required (or --render)")
    cfg = config.load(args.params)
    changes = {k: config.read_yaml(v) for k, v in (item.split("=", 1) for item in args.set)}
    t0 = time.perf_counter()
    results = []
    for n in args.sizes:
        for s in args.seeds:
            budgets = [*args.labels_per_class, None]
            results.append(measure(cfg, n, args.epochs, s, set(args.probe_at), changes, budgets))
            report = {
                "machine": machine.describe(cfg.runtime.device),
                "load": machine.load(),
                "wall_time_s": time.perf_counter() - t0,
                "params": args.params,
                "test_size": cfg.data.test_size,
                "results": results,
            }
            write_json(args.out, report)
            write_text(args.out.with_suffix(".md"), table(results))
    print(table(results))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
