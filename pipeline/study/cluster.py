"""The study's DVC stages as jobs on a cluster (`make cluster`, scripts/cluster.py): each stage that
trains or probes runs as one job, through submitit (SLURM on a cluster, its local executor on one
machine), as `dvc repro <stage>` in a checkout of the workspace's commit of its own. Every
checkout, and the workspace, use one DVC cache on the shared file system, so DVC's run cache is
what passes results around and what says what is done: a job restores the stages it needs from
it and adds its own; the workspace restores each finished stage from it, and its `dvc repro`
afterwards restores every stage and runs only the reports (the stages nothing depends on).

Stages go out as soon as every stage they need is in the cache (prepare first, then the warm-ups
and full-data references, then the cells), at most `jobs` at a time. A stage already in the run
cache is restored, not submitted, so a rerun submits only what is missing. A job killed mid-cell
resumes from its checkpoint when resubmitted: its checkout, where the checkpoints live
(resume/), is kept on the shared file system under the commit and the stage's name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import UserError

POLL_S = 2.0


@dataclass(frozen=True, kw_only=True)
class Resources:
    """What each job asks the scheduler for (SLURM's names in parentheses)."""

    partition: str | None = None  # (--partition); None: the cluster's default
    gpus_per_job: int = 0  # (--gpus-per-node)
    cpus_per_job: int = 2  # (--cpus-per-task)
    time_min: int = 240  # (--time); a job past it is killed, and resumes when resubmitted
    mem_gb: int | None = None  # (--mem); None: the partition's default

    def submitit(self, executor: str) -> dict[str, Any]:
        """submitit's update_parameters for the executor "slurm" or "local"."""
        common = {"timeout_min": self.time_min, "cpus_per_task": self.cpus_per_job, "gpus_per_node": self.gpus_per_job}
        if executor == "local":
            return common
        slurm = {"slurm_partition": self.partition, "slurm_mem": None if self.mem_gb is None else f"{self.mem_gb}G"}
        return {**common, **{k: v for k, v in slurm.items() if v is not None}}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


DVC = [sys.executable, "-m", "dvc"]  # this environment's DVC, on the login node and on every node


def use_cache(repo: Path, cache: Path) -> None:
    """Point a checkout's DVC cache at the shared one (its local config: nothing committed changes),
    group-writable so that every job's files can be read and linked by the others."""
    for key, value in (("cache.dir", str(cache)), ("cache.shared", "group")):
        subprocess.run([*DVC, "config", "--local", key, value], cwd=repo, check=True, capture_output=True)


def run_stage(*, origin: str, commit: str, checkout: str, cache: str, stage: str) -> str:
    """One job: `dvc repro <stage>` in `checkout` (cloned from `origin` at `commit` the first time;
    kept, with its resume checkpoints, for a resubmission), using the shared cache `cache`. The
    stages it needs are restored from the run cache. Runs on the cluster's node (submitit)."""
    folder = Path(checkout)
    if not (folder / ".git").is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "--quiet", "--no-checkout", origin, str(folder)], check=True)
        git("checkout", "--quiet", commit, cwd=folder)
    use_cache(folder, Path(cache))
    # One stage per job: nothing to keep warm. The scheduler gives each job GPUs of its own (its
    # CUDA_VISIBLE_DEVICES): the stage's GPU locks (pipeline/training/gpus.py) are the job's alone,
    # or two jobs on one node would wait on each other's "GPU 0".
    locks = folder / ".gpu-locks"
    locks.mkdir(exist_ok=True)
    env = {**os.environ, "PRUNING_WARM": "0", "EMP_GPU_LOCK_DIR": str(locks)}
    subprocess.run([*DVC, "repro", stage], cwd=folder, env=env, check=True)
    return stage


@dataclass
class Plan:
    """The workspace's stages as a graph: what each needs, which run as jobs (every stage some
    other stage needs) and which the workspace's `dvc repro` runs afterwards (the reports)."""

    needs: dict[str, set[str]]
    reports: set[str]
    stages: dict[str, Any] = field(repr=False)  # DVC's Stage objects, by name

    @classmethod
    def of(cls, repo: Any) -> Plan:
        graph = repo.index.graph  # an edge runs from a stage to each stage it needs
        stages = {s.addressing: s for s in graph.nodes}
        needs = {s.addressing: {d.addressing for d in graph.successors(s)} for s in graph.nodes}
        reports = {s.addressing for s in graph.nodes if graph.in_degree(s) == 0}
        return cls(needs=needs, reports=reports, stages=stages)

    @property
    def jobs(self) -> list[str]:
        return [name for name in self.needs if name not in self.reports]


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)  # restored from the run cache, here
    submitted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # stage -> its job's log


class Cluster:
    """Runs a Plan's job stages through a submitit executor, restoring each finished one into the
    workspace `repo` (a dvc.repo.Repo using the shared cache)."""

    def __init__(self, *, repo: Any, plan: Plan, submit: Callable[[str], Any], jobs: int, record: Path):
        self.repo, self.plan, self.submit, self.jobs, self.record = repo, plan, submit, jobs, record

    def restore(self, name: str) -> bool:
        """Whether stage `name` is in the run cache; if so its outputs are now in the workspace."""
        from dvc.stage.cache import RunCacheNotFoundError

        try:
            with self.repo.lock:
                self.repo.stage_cache.restore(self.plan.stages[name])
        except RunCacheNotFoundError:
            return False
        return True

    def run(self) -> Outcome:
        out, running, todo = Outcome(), {}, list(self.plan.jobs)
        missing: set[str] = set()  # looked up in the run cache once: not there, so a job makes it
        while todo or running:
            for name, job in list(running.items()):
                if job.done():
                    del running[name]
                    self._finished(name, job, out)
            lost = self._downstream(set(out.failed), todo)  # can no longer run
            todo = [n for n in todo if n not in lost]
            ready = [n for n in todo if self.plan.needs[n] <= set(out.done)]
            for name in ready:
                if name not in missing and self.restore(name):
                    out.done.append(name)
                    todo.remove(name)
                    continue
                missing.add(name)
                if len(running) < self.jobs:
                    running[name] = self.submit(name)
                    out.submitted.append(name)
                    todo.remove(name)
                    self._write(running)
                    print(f"cluster: submitted {name} (job {running[name].job_id})", flush=True)
            if running:
                time.sleep(POLL_S)
            elif not ready:
                break  # what is left waits on stages that failed
        return out

    def _downstream(self, failed: set[str], todo: list[str]) -> set[str]:
        """The stages of `todo` that need a failed stage, directly or not."""
        lost, grew = set(), True
        while grew:
            more = {n for n in todo if self.plan.needs[n] & (failed | lost)} - lost
            lost |= more
            grew = bool(more)
        return lost

    def _finished(self, name: str, job: Any, out: Outcome) -> None:
        try:
            job.result()
        except Exception as err:  # the job's own failure: its log says what
            out.failed[name] = str(job.paths.stdout)
            print(f"cluster: {name} failed ({type(err).__name__}): see {job.paths.stdout}", flush=True)
            return
        if not self.restore(name):
            out.failed[name] = str(job.paths.stdout)
            print(f"cluster: {name} finished but is not in the run cache: see {job.paths.stdout}", flush=True)
            return
        out.done.append(name)
        print(f"cluster: {name} done", flush=True)

    def _write(self, running: dict[str, Any]) -> None:
        """What runs where, for a user (and a test) to look up: stage -> job id and logs."""
        jobs = {n: {"job_id": str(j.job_id), "stdout": str(j.paths.stdout)} for n, j in running.items()}
        self.record.write_text(json.dumps(jobs, indent=1))


def checkout_dir(folder: Path, commit: str, stage: str) -> Path:
    """A stage's checkout on the shared file system (its resume checkpoints live in it)."""
    return folder / "checkouts" / commit[:12] / stage.replace("@", "_")


def clean_commit(workspace: Path) -> str:
    """The workspace's commit, which every job runs; refused while tracked files differ from it."""
    try:
        dirty = git("status", "--porcelain", "--untracked-files=no", cwd=workspace)
        commit = git("rev-parse", "HEAD", cwd=workspace)
    except (subprocess.CalledProcessError, OSError):
        raise UserError(f"{workspace} is not a git checkout with a commit: the jobs run a commit") from None
    if dirty:
        raise UserError("the workspace has uncommitted changes: commit them first (every job runs the commit)")
    return commit
