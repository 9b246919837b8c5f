"""What every stage script shares: its command line and the validated params."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..core import timing
from ..core.errors import ConfigError, exit_on_user_error
from ..core.io import check_writable
from . import config, paths, store


def stage_main(
    doc: str,
    work: Callable[[argparse.Namespace, config.Config], object],
    *arguments: Callable[[argparse.ArgumentParser], None],
) -> Callable[[], None]:
    """A stage script's main: its command line (`--params` and `arguments`) and validated params,
    then `work(args, cfg)`; a user error ends it with one line (exit status 2)."""

    @exit_on_user_error
    def main() -> None:
        args, cfg = parse_stage_args(doc, lambda parser: [add(parser) for add in arguments])
        work(args, cfg)

    return main


def cell(args: argparse.Namespace) -> dict:
    """A grid cell's coordinates from add_cell_arguments', as keywords."""
    return {"method": args.method, "rate": args.rate, "seed": args.seed}


def parse_stage_args(
    doc: str, add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
) -> tuple[argparse.Namespace, config.Config]:
    """Parse `--params` (default params.yaml) plus a stage's own arguments; load and validate the
    params; check that outputs and the MLflow store can be written."""
    timing.mark("ready")  # the stage's imports are done
    with timing.phase("config"):
        return _parse(doc, add_arguments)


def _parse(
    doc: str, add_arguments: Callable[[argparse.ArgumentParser], None] | None
) -> tuple[argparse.Namespace, config.Config]:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    cfg = config.load(args.params)
    if getattr(args, "dataset", None) is not None and args.dataset not in cfg.study.nlu_datasets:
        raise ConfigError(
            f"--dataset {args.dataset} is not in study.nlu_datasets ({', '.join(cfg.study.nlu_datasets) or 'empty'}): "
            f"add it there"
        )
    preflight()
    return args, cfg


def preflight() -> None:
    """Refuse an unwritable output folder or an unreachable MLflow store before any work."""
    for folder, what in (
        (paths.PREPARED_DIR, "the prepared dataset"),
        (paths.OUTPUTS_DIR, "stage outputs"),
        (paths.REPORTS_DIR, "reports"),
        (paths.RESUME_DIR, "resume checkpoints"),
    ):
        check_writable(folder, what, folder=True)
    store.check_store()


def add_seed_argument(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--seed",
        type=int,
        required=required,
        default=None if required else 0,
        help="the run's seed (warm-up included)" + ("" if required else "; default 0"),
    )


def add_optional_seed_argument(parser: argparse.ArgumentParser) -> None:
    add_seed_argument(parser, required=False)


def add_cell_arguments(parser: argparse.ArgumentParser) -> None:
    """A grid cell's coordinates, as dvc.yaml's matrix passes them."""
    parser.add_argument("--method", required=True, help="a name under `methods` in params.yaml")
    parser.add_argument("--rate", type=float, required=True, help="the pruning rate s in [0, 1)")
    add_seed_argument(parser)


def add_dataset_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="an NLU dataset named in study.nlu_datasets")
