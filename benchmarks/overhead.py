"""Where the study's wall time goes: a real `dvc repro` in a copy of this working tree, every stage
timed by pipeline/core/timing.py (PRUNING_TIMINGS), and DVC's own cost per stage measured on a
pipeline of no-op stages.

    python benchmarks/overhead.py                   # the small fixed grid (14 stages, a few minutes)
    python benchmarks/overhead.py --grid default    # params.yaml as it is: the default study
    python benchmarks/overhead.py --label before    # also keep the result as reports/overhead/<grid>-<label>.json
    python benchmarks/overhead.py --here --label after   # `make study` in this checkout, timed

The copy holds the tracked and untracked-but-not-ignored files (the code as it is now, committed
or not) in a fresh git repository, with its own MLflow store and no DVC cache, so every stage runs.
benchmarks/run.py reports the small grid as the figure `study_overhead`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TRAINING_STAGES = ("warmup", "full", "train", "pretrain_warmup", "pretrain_full", "pretrain")
# Work: the training steps, the evaluation passes (per-epoch test or kNN accuracy, linear probes)
# and DLC's scoring passes. Everything else is overhead.
WORK = ("train", "eval", "scoring")
PHASES = (
    "imports",
    "config",
    "data",
    "mlflow",
    "model_export",
    "checkpoints",
    "outputs",
    "plots",
    "selection",
    "train",
    "eval",
    "scoring",
    "other",
)
# The small fixed grid: every kind of stage once (14 stages), on 2,000 Fashion-MNIST images.
SMALL = {
    "data": {"dataset": "fashion_mnist", "train_size": 2000, "test_size": 1000},
    "study": {
        "methods": ["random", "emp"],
        "rates": [0.7],
        "seeds": [0],
        "ssl_methods": ["emp"],
        "ssl_rates": [0.7],
        "ssl_seeds": [0],
        "selectors": ["flexrand"],
    },
}
# The same stages in seconds: the demo's tiny study (params/smoke.yaml, which the tests' studies
# start from too), on fewer digits with one method and one epoch of each phase: what
# benchmarks/run.py --size smoke runs.
TINY = {
    "data": {"train_size": 400, "test_size": 200},
    "train": {"epochs": 2},
    "downstream": {"levels": 2},
    "study": {"methods": ["random"]},
    "tracking": {"log_models": False},
}
# Each grid: the params file it starts from, and what it changes there.
GRIDS = {"small": ("params.yaml", SMALL), "tiny": ("params/smoke.yaml", TINY), "default": ("params.yaml", {})}
NOOP_STAGES = 8


def merged(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def copy_tree(dest: Path) -> None:
    """This working tree's files (not the ignored ones) as a fresh git repository at `dest`."""
    files = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("-c", "user.name=benchmark", "-c", "user.email=benchmark@localhost", "commit", "-qm", "copy", cwd=dest)


def environment(timings: Path | None, repo: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_", "PRUNING_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # stages call `python`
    if repo is not None:  # the copy's code, not the editable install's (this working tree)
        env["PYTHONPATH"] = str(repo)
    if timings is not None:
        env["PRUNING_TIMINGS"] = str(timings)
    return env


def timed_repro(repo: Path, env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(["dvc", "repro"], cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"overhead: dvc repro failed in {repo}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds


def dvc_per_stage(scratch: Path, env: dict) -> dict:
    """DVC's own time per stage: `dvc repro` of NOOP_STAGES stages that each run `python -c pass`,
    less the time those processes take."""
    repo = scratch / "noop"
    repo.mkdir()
    git("init", "-q", cwd=repo)
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True, env=env)
    stages = {f"s{i}": {"cmd": f"python -c pass > out{i}", "outs": [f"out{i}"]} for i in range(NOOP_STAGES)}
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    wall = timed_repro(repo, env)
    t0 = time.perf_counter()
    for _ in range(NOOP_STAGES):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    python = (time.perf_counter() - t0) / NOOP_STAGES
    return {"stages": NOOP_STAGES, "wall_s": wall, "python_start_s": python, "per_stage_s": wall / NOOP_STAGES - python}


def stage_figures(rec: dict) -> dict:
    """One stage's wall time (its process start to its exit), split into phases."""
    m, phases = rec["marks"], dict(rec["phases"])
    wall = m["exit"] - m["start"]
    phases["imports"] = m.get("ready", m["exit"]) - m["start"]
    phases["other"] = max(wall - sum(phases.values()), 0.0)
    out = {"stage": rec["stage"], "wall_s": wall, "phases": phases}
    if "first_step" in m:
        # The fixed cost: from the process's start to its first training step, and from the end of
        # its last epoch (that epoch's evaluation included) to its exit; what lies between is
        # epochs (training, evaluation, per-epoch logging and checkpoints).
        out["before_first_step_s"] = m["first_step"] - m["start"]
        out["after_last_step_s"] = m["exit"] - m.get("epochs_done", m["last_step"])
        out["fixed_s"] = out["before_first_step_s"] + out["after_last_step_s"]
    # All of the stage that is not work, per-epoch logging and checkpoints included.
    out["overhead_s"] = overhead_s(out)
    return out


def training_stages(stages: list[dict]) -> list[dict]:
    """The stages that train (warm-ups and grid cells), as stage_figures made them."""
    return [s for s in stages if s["stage"].split("@")[0] in TRAINING_STAGES and "fixed_s" in s]


def overhead_s(stage: dict) -> float:
    """A stage's wall time less its work and selection: per-epoch logging and checkpoints included."""
    return stage["wall_s"] - sum(stage["phases"].get(p, 0.0) for p in (*WORK, "selection"))


def summarise(records: list[dict], wall: float, dvc: dict) -> dict:
    stages = [stage_figures(r) for r in records]
    totals = {p: sum(s["phases"].get(p, 0.0) for s in stages) for p in PHASES}
    in_stages = sum(s["wall_s"] for s in stages)
    training = training_stages(stages)
    median = lambda key: statistics.median(s[key] for s in training) if training else float("nan")
    fixed_phases = {
        p: statistics.median(s["phases"].get(p, 0.0) for s in training) if training else 0.0 for p in PHASES
    }
    return {
        "wall_s": wall,
        "stages": len(stages),
        "work_share": sum(totals[p] for p in WORK) / wall,
        "train_share": totals["train"] / wall,
        "eval_share": (totals["eval"] + totals["scoring"]) / wall,
        "totals_s": totals,
        "in_stages_s": in_stages,
        "dvc_and_exit_s": wall - in_stages,
        "dvc": dvc,
        "fixed_cost_s": median("fixed_s"),
        "before_first_step_s": median("before_first_step_s"),
        "after_last_step_s": median("after_last_step_s"),
        "stage_overhead_s": median("overhead_s"),
        "training_stage_phases_s": fixed_phases,
        "per_stage": stages,
    }


def timed_study(repo: Path, scratch: Path, grid: str) -> dict:
    """As `make study` does in `repo` (prune dvc.lock, `dvc repro`), every stage timed; the figures."""
    timings = scratch / "timings.jsonl"
    env = environment(timings, repo)
    if (repo / "scripts" / "prune_lock.py").is_file():
        subprocess.run([sys.executable, "scripts/prune_lock.py"], cwd=repo, env=env, check=True)
    print(f"overhead: dvc repro of the {grid} grid in {repo}", file=sys.stderr)
    wall = timed_repro(repo, env)
    records = [json.loads(line) for line in timings.read_text().splitlines()] if timings.exists() else []
    dvc = dvc_per_stage(scratch, environment(None))
    date = datetime.datetime.now().isoformat(timespec="seconds")
    return {"grid": grid, "date": date, **summarise(records, wall, dvc)}


def measure_here() -> dict:
    """`make study`'s `dvc repro` in this checkout itself (params.yaml as it is), timed; its outputs,
    dvc.lock and reports stay, as after `make study`."""
    scratch = Path(tempfile.mkdtemp(prefix="overhead-"))
    try:
        return {**timed_study(ROOT, scratch, "default"), "where": "this checkout"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(grid: str = "small", keep: Path | None = None) -> dict:
    """Run the grid through `dvc repro` in a copy of this tree; return its figures."""
    scratch = Path(tempfile.mkdtemp(prefix="overhead-")) if keep is None else keep
    try:
        repo = scratch / "study"
        repo.mkdir(parents=True)
        copy_tree(repo)
        base, changes = GRIDS[grid]
        params = merged(yaml.safe_load((repo / base).read_text()), changes)
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        return timed_study(repo, scratch, grid)
    finally:
        if keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


def recorded() -> dict[str, dict]:
    """The results kept with --label (reports/overhead/<grid>-<label>.json), by file name."""
    folder = ROOT / "reports" / "overhead"
    return {f.stem: json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def _overhead(result: dict) -> float:
    """stage_overhead_s for a result kept before that figure existed, from its per-stage phases."""
    training = training_stages(result["per_stage"])
    return statistics.median(overhead_s(s) for s in training) if training else float("nan")


def table(results: dict[str, dict]) -> list[str]:
    """Markdown: one column per result (label), the wall time split by phase."""
    labels = list(results)
    lines = ["| | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]

    def row(name: str, fmt, key) -> None:
        lines.append(f"| {name} | " + " | ".join(fmt(key(results[k])) for k in labels) + " |")

    seconds = lambda v: f"{v:.1f} s"
    share = lambda v: f"{100 * v:.1f}%"
    row("`dvc repro` wall time", seconds, lambda r: r["wall_s"])
    row("training + evaluation share", share, lambda r: r["work_share"])
    row("fixed cost of a training stage (median)", lambda v: f"{v:.2f} s", lambda r: r["fixed_cost_s"])
    row("&nbsp;&nbsp;start to first step", lambda v: f"{v:.2f} s", lambda r: r["before_first_step_s"])
    row("&nbsp;&nbsp;end of the last epoch to exit", lambda v: f"{v:.2f} s", lambda r: r["after_last_step_s"])
    row(
        "a training stage less its work (median)",
        lambda v: f"{v:.2f} s",
        lambda r: r.get("stage_overhead_s", _overhead(r)),
    )
    row("DVC per stage (no-op stages)", lambda v: f"{v:.2f} s", lambda r: r["dvc"]["per_stage_s"])
    for p in PHASES:
        row(f"{p}, all stages", seconds, lambda r, p=p: r["totals_s"][p])
    row("DVC and process exit", seconds, lambda r: r["dvc_and_exit_s"])
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", choices=GRIDS, default="small")
    parser.add_argument("--label", help="keep the result as reports/overhead/<grid>-<label>.json")
    parser.add_argument("--keep", type=Path, help="run in this (new) folder and leave it there")
    parser.add_argument("--here", action="store_true", help="the default study in this checkout, as `make study`")
    args = parser.parse_args()
    if args.here:
        args.grid = "default"
    result = measure_here() if args.here else measure(args.grid, args.keep)
    if args.label:
        out = ROOT / "reports" / "overhead" / f"{args.grid}-{args.label}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"label": args.label, **result}, indent=1) + "\n")
    print("\n".join(table({args.label or args.grid: result})))


if __name__ == "__main__":
    main()
