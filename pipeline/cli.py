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
