"""Data-parallel training on two CPU processes with the gloo backend: the subset is the same on
every rank, the shards are disjoint and cover it, every rank holds the same statistics, each
sample is counted once, and under torchrun the cell's run is logged once, by rank 0."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
import yaml
from conftest import free_port, stage_env, tiny_config
from mlflow.tracking import MlflowClient

from pipeline.core import data
from pipeline.study import config, tracking
from pipeline.study.grids import SSL as SSL_GRID
from pipeline.study.grids import SUPERVISED
from pipeline.training.tasks import SimCLRTask, SupervisedTask, Task

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = Path(sys.executable).with_name("torchrun")
WORLD = 2


SSL = {"epochs": 3, "warmup_epochs": 2, "batch_size": 50, "hidden": 32, "projection_dim": 16, "min_scale": 0.5}


def recording(base: type[Task]) -> type[Task]:
    """`base`, remembering which samples this rank trained."""

    class Recording(base):
        trained: list[torch.Tensor] = []

        def losses(self, idx, gen, sharded=False):
            if sharded:  # a training step (the scoring pass scores every sample on every rank)
                Recording.trained.append(idx.clone())
            return super().losses(idx, gen, sharded)

    return Recording


def _rank(rank: int, port: int, out: str, ssl: bool) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    digits = data.load_digits()
    cfg = tiny_config(epochs=3, warmup_epochs=2, batch_size=50)
    if ssl:
        cfg = config.from_dict({"data": {"dataset": "digits"}, "runtime": {"device": "cpu"}, "pretrain": SSL})
    Recording = recording(SimCLRTask if ssl else SupervisedTask)
    grid = replace(SSL_GRID if ssl else SUPERVISED, task_class=Recording)
    checkpoint = grid.setup(cfg).warmup(digits)
    Recording.trained = []
    result = grid.setup(cfg).pruned_run(digits, checkpoint, method="emp", rate=0.7, seed=0, keep_selections=True)
    torch.save(
        {
            "selection": result.selections[0],
            "trained": torch.cat(Recording.trained),
            "stats": {k: v for k, v in result.stats.items() if k != "momentum"},
            "model": result.model_state,
            "history": result.history,
            "saving": result.achieved_saving,
        },
        Path(out) / f"rank{rank}.pt",
    )


@pytest.mark.parametrize("ssl", [False, True], ids=["supervised", "simclr"])
def test_two_ranks_share_the_subset_and_the_statistics(tmp_path, ssl):
    mp.spawn(_rank, args=(free_port(), str(tmp_path), ssl), nprocs=WORLD, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD))
    n, W = 1347, 2
    selection = r0["selection"]
    assert torch.equal(selection, r1["selection"])  # every rank drew the same subset
    k = selection.numel()
    shard0, shard1 = set(r0["trained"].tolist()), set(r1["trained"].tolist())
    assert not shard0 & shard1  # disjoint shards...
    assert shard0 | shard1 == set(selection.tolist())  # ...that together cover the subset
    assert len(r0["trained"]) + len(r1["trained"]) == k and abs(len(shard0) - len(shard1)) <= 25
    for key, table in r0["stats"].items():
        assert torch.equal(table, r1["stats"][key]), key  # gathered: the same statistics everywhere
    visits = r0["stats"]["visits"]
    assert int(visits.sum()) == W * n + k and set(visits.tolist()) == {W, W + 1}  # each sample counted once
    assert r0["saving"] == r1["saving"] == pytest.approx(1 - (W * n + k) / (3 * n))
    assert r0["history"][0]["train_loss"] == r1["history"][0]["train_loss"]
    for key, value in r0["model"].items():
        assert torch.allclose(value.float(), r1["model"][key].float()), key  # DDP kept the replicas equal


def test_torchrun_cell_logs_once(tmp_path):
    params = {
        "data": {"dataset": "digits"},
        "runtime": {"device": "cpu"},
        "train": {"epochs": 4, "warmup_epochs": 2},
        "tracking": {"experiment": "ddp"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = stage_env()
    for script in ("prepare.py", "warmup.py"):
        done = subprocess.run(
            [sys.executable, str(ROOT / "stages" / script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run(
        [
            str(TORCHRUN),
            "--nproc_per_node",
            str(WORLD),
            "--master_port",
            str(free_port()),
            str(ROOT / "stages" / "train.py"),
            "--method",
            "emp",
            "--rate",
            "0.7",
            "--seed",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (tmp_path / "torchrun.log").write_text(done.stdout + done.stderr)
    assert done.stdout.count("train emp-0.7-0: test_acc") == 1  # rank 0 reports
    assert done.stderr.count("emp@0.7 epoch 3/4") == 1 and done.stderr.count("emp@0.7 epoch 4/4") == 1
    metrics = json.loads((tmp_path / "outputs" / "train" / "emp-0.7-0" / "metrics.json").read_text())
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ddp")
    runs = client.search_runs([exp.experiment_id], "tags.`dvc.stage` = 'train@emp-0.7-0'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    history = client.get_metric_history(runs[0].info.run_id, "test_acc")
    assert [m.step for m in history] == [3, 4] and history[-1].value == tracking.shown(metrics["test_acc"])
    n, k = 1347, 404
    assert metrics["achieved_saving"] == pytest.approx(1 - (2 * n + 2 * k) / (4 * n))
    assert not (tmp_path / "resume").exists() or not any((tmp_path / "resume").iterdir())


def _negatives(world=None):
    """SimCLR's per-sample losses of a batch of 7 (z with gradient), or of this rank's shard of it."""
    from pipeline.training.tasks import simclr_losses

    gen = torch.Generator().manual_seed(0)
    z1, z2, h1, h2 = (torch.randn(7, 5, generator=gen) for _ in range(4))
    rows = torch.arange(7) if world is None else torch.arange(7)[world.rank :: world.size]  # shards of 4 and 3
    z1, z2 = z1[rows].clone().requires_grad_(), z2[rows].clone().requires_grad_()
    loss, memory = simclr_losses(z1, z2, h1[rows], h2[rows], 0.5, world)
    loss.sum().backward()
    return {"rows": rows, "loss": loss.detach(), "memory": memory, "grad1": z1.grad, "grad2": z2.grad}


def _negatives_rank(rank: int, port: int, out: str) -> None:
    import torch.distributed as dist

    from pipeline.training.distributed import World

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.save(_negatives(World(rank, WORLD, rank)), Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_simclr_negatives_span_the_whole_batch(tmp_path):
    """Each rank holds a shard, yet every sample's NT-Xent loss, memory term and gradient are those
    of one process holding the whole batch."""
    mp.spawn(_negatives_rank, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    whole = _negatives()
    for r in range(WORLD):
        shard = torch.load(tmp_path / f"rank{r}.pt", weights_only=True)
        rows = shard["rows"]
        for key in ("loss", "memory", "grad1", "grad2"):
            assert torch.allclose(shard[key], whole[key][rows], atol=1e-6), (r, key)


def _pruner_rank(rank: int, port: int, out: str) -> None:
    """A user's own DDP loop with dynaprune.Pruner: synthetic per-sample losses and memory terms
    that depend only on (sample, epoch), as a deterministic model's would."""
    import torch.distributed as dist
    from torch.utils.data import DataLoader

    from dynaprune import Pruner

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    pruner = Pruner("emp", num_samples=101, rate=0.5, epochs=4, warmup_epochs=1, seed=2)
    yielded = []
    for epoch in range(4):
        pruner.set_epoch(epoch)
        mine = []
        for idx in DataLoader(range(101), batch_size=8, sampler=pruner.sampler):
            per_sample = ((idx * 7 + epoch) % 13).float() / 13
            pruner.loss(idx, per_sample.requires_grad_(), memory=(idx % 5).float() / 5)
            mine.append(idx)
        yielded.append(torch.cat(mine))
    torch.save({"yielded": yielded, "stats": pruner.stats.state_dict()}, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_pruner_in_ones_own_ddp_loop_shards_the_selection_and_shares_the_table(tmp_path):
    mp.spawn(_pruner_rank, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD))
    for epoch, (a, b) in enumerate(zip(r0["yielded"], r1["yielded"])):
        # Equal shares (an odd remainder left out), disjoint, and of the selection's size.
        expected = 101 if epoch == 0 else 51  # all data in the warm-up; round(0.5 * 101) = 51 after
        assert len(a) == len(b) == expected // 2 and not set(a.tolist()) & set(b.tolist()), epoch
    for key, value in r0["stats"].items():
        assert value == r1["stats"][key] if key == "momentum" else torch.equal(value, r1["stats"][key]), key
    visits = r0["stats"]["visits"]
    assert int(visits.sum()) == sum(2 * len(y) for y in r0["yielded"])  # every rank recorded both shards


HOLD = (
    "import sys, time; from pathlib import Path; from pipeline.training import gpus; "
    "print(gpus.claim(2, Path(sys.argv[1]), poll_s=0.1), flush=True); time.sleep(float(sys.argv[2]))"
)


def test_each_stage_takes_a_gpu_no_other_stage_holds(tmp_path):
    from pipeline.training import gpus

    assert gpus.claim(2, tmp_path) == 0 and gpus.claim(2, tmp_path) == 0  # a process keeps its GPU
    try:
        other = subprocess.run(
            [sys.executable, "-c", HOLD, str(tmp_path), "0"], capture_output=True, text=True, timeout=60
        )
        assert other.stdout.strip() == "1"  # GPU 0 is held: the next stage gets GPU 1
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), "30"], stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "1"
        waiter = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(tmp_path), "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert "waiting" in waiter.stderr.readline()  # both GPUs are held
        holder.kill()  # a killed stage releases its GPU
        holder.wait()
        assert waiter.communicate(timeout=60)[0].strip() == "1"
    finally:
        gpus.release()
