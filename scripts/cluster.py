"""`make cluster`: the study's stages as jobs on a SLURM cluster through submitit (or, with
--executor local, as processes on this machine), sharing results through one DVC cache on the
shared file system (pipeline/study/cluster.py says how). Afterwards `dvc repro` here restores every
stage from that cache and runs only the reports.

    export MLFLOW_TRACKING_URI=http://login-node:5000      # an MLflow server every node reaches
    python scripts/cluster.py --folder /shared/me/pruning --partition gpu --gpus-per-job 1 --jobs 40
    dvc repro && make readme
    python scripts/cluster.py --folder ... --show-slurm-script train@emp-0.7-0   # the job script of one stage

A rerun submits only the stages not yet in the cache; a job that failed or was killed is named
with its log, and resumes from its checkpoint when submitted again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pipeline.core.errors import UserError, exit_on_user_error
from pipeline.core.io import check_writable
from pipeline.study import cluster


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True, help="a folder on the shared file system: cache, checkouts, logs")
    parser.add_argument("--executor", choices=("slurm", "local"), default="slurm", help="default: slurm")
    parser.add_argument("--jobs", type=int, default=8, help="jobs at a time (default 8)")
    defaults = cluster.Resources()
    parser.add_argument("--partition", default=defaults.partition, help="SLURM partition (default: the cluster's)")
    parser.add_argument("--gpus-per-job", type=int, default=defaults.gpus_per_job)
    parser.add_argument("--cpus-per-job", type=int, default=defaults.cpus_per_job)
    parser.add_argument("--time-min", type=int, default=defaults.time_min, help="a job's time limit, in minutes")
    parser.add_argument("--mem-gb", type=int, default=defaults.mem_gb)
    parser.add_argument(
        "--show-slurm-script", metavar="STAGE", help="print the SLURM script of STAGE's job, submit nothing"
    )
    args = parser.parse_args()
    if args.jobs < 1 or args.cpus_per_job < 1 or args.gpus_per_job < 0 or args.time_min < 1:
        parser.error("--jobs, --cpus-per-job and --time-min must be at least 1, --gpus-per-job at least 0")
    return args


def executor(kind: str, logs: Path, resources: cluster.Resources):
    import submitit

    try:
        made = submitit.AutoExecutor(folder=str(logs), cluster=kind)
    except RuntimeError as err:  # submitit's own check: no srun on PATH
        raise UserError(
            f"no SLURM here ({err}): run this on the cluster's login node, or pass --executor local"
        ) from None
    made.update_parameters(**resources.submitit(kind))
    return made


def slurm_script(job: dict, logs: Path, resources: cluster.Resources) -> str:
    """The script submitit's SLURM executor writes for one stage's job, its logs in `logs`: a real
    submission, to stand-ins for SLURM's `sbatch` (which submits nothing) and `srun` (which
    submitit looks for), from a scratch folder (nothing is written to `logs`)."""
    with tempfile.TemporaryDirectory() as bin_dir, tempfile.TemporaryDirectory() as scratch:
        for name, says in (("sbatch", "Submitted batch job 4242"), ("srun", "")):
            fake = Path(bin_dir) / name
            fake.write_text(f'#!/bin/sh\necho "{says}"\n')
            fake.chmod(0o755)
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        made = executor("slurm", Path(scratch), resources)
        made.update_parameters(name=f"prune-{job['stage']}")
        submitted = made.submit(cluster.run_stage, **job)
        return Path(submitted.paths.submission_file).read_text().replace(scratch, str(logs))


@exit_on_user_error
def main() -> None:
    args = arguments()
    workspace = Path.cwd().resolve()
    if not (workspace / "dvc.yaml").is_file():
        raise UserError("run this in the study's folder (where dvc.yaml is)")
    commit = cluster.clean_commit(workspace)
    folder = Path(args.folder).resolve()
    cache, logs = folder / "cache", folder / "logs" / commit[:12]
    resources = cluster.Resources(
        partition=args.partition,
        gpus_per_job=args.gpus_per_job,
        cpus_per_job=args.cpus_per_job,
        time_min=args.time_min,
        mem_gb=args.mem_gb,
    )

    def job(stage: str) -> dict:
        checkout = cluster.checkout_dir(folder, commit, stage)
        return {
            "origin": str(workspace),
            "commit": commit,
            "checkout": str(checkout),
            "cache": str(cache),
            "stage": stage,
        }

    if args.show_slurm_script:
        from dvc.repo import Repo

        jobs = cluster.Plan.of(Repo(str(workspace))).jobs
        if args.show_slurm_script not in jobs:
            raise UserError(
                f"--show-slurm-script: {args.show_slurm_script!r} is not a stage that runs as a job here; "
                f"pick one of `dvc stage list`'s, e.g. {jobs[-1]!r}"
            )
        print(slurm_script(job(args.show_slurm_script), logs, resources), end="")
        return
    if not os.environ.get("MLFLOW_TRACKING_URI", "").startswith(("http://", "https://")):
        raise UserError(
            "set MLFLOW_TRACKING_URI to an MLflow server every job reaches (e.g. `mlflow server --host 0.0.0.0 "
            "--port 5000` on the login node): jobs in checkouts of their own cannot share one SQLite file"
        )
    if shutil.which("git") is None:
        raise UserError("git is not on PATH: the jobs clone the workspace's commit")
    check_writable(folder, "the cluster folder (--folder)", folder=True)  # before any job
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(
            f"--folder {folder} cannot be made ({err.strerror}): choose a folder on the shared file system"
        ) from None
    cluster.use_cache(workspace, cache)
    from dvc.repo import Repo

    repo = Repo(str(workspace))
    plan = cluster.Plan.of(repo)
    made = executor(args.executor, logs, resources)

    def submit(stage: str):
        made.update_parameters(name=f"prune-{stage}")
        return made.submit(cluster.run_stage, **job(stage))

    print(f"cluster: {len(plan.jobs)} stages as {args.executor} jobs, {args.jobs} at a time; cache {cache}", flush=True)
    out = cluster.Cluster(repo=repo, plan=plan, submit=submit, jobs=args.jobs, record=folder / "jobs.json").run()
    left = len(plan.jobs) - len(out.done)
    print(f"cluster: {len(out.done)} of {len(plan.jobs)} stages in the cache ({len(out.submitted)} run as jobs now)")
    if out.failed or left:
        for stage, log in out.failed.items():
            print(f"cluster: failed: {stage}: {log}", file=sys.stderr)
        raise UserError(f"{left} stages are not done: run this again to submit only those")
    print("cluster: done. Next: dvc repro (restores every stage from the cache, runs the reports)")


if __name__ == "__main__":
    main()
