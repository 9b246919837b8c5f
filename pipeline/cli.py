"""What every stage script shares: its command line and the validated params."""

from __future__ import annotations

import argparse
from typing import Callable

from . import config


def parse_stage_args(doc: str, add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
                     ) -> tuple[argparse.Namespace, config.Config]:
    """Parse `--params` (default params.yaml) plus a stage's own arguments; load and validate the params."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--params", default="params.yaml", help="the params file (default: params.yaml)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    return args, config.load(args.params)


def add_cell_arguments(parser: argparse.ArgumentParser) -> None:
    """A grid cell's coordinates, as dvc.yaml's matrix passes them."""
    parser.add_argument("--method", required=True, help="a name under `methods` in params.yaml")
    parser.add_argument("--rate", type=float, required=True, help="the pruning rate s in [0, 1)")
    parser.add_argument("--seed", type=int, required=True)
