"""downstream: one selector at one pruning rate picks a labelled subset once with one seed's DLC
scores; linear evaluation on it."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import probing
from pipeline.study.cli import add_seed_argument, parse_stage_args


def add_arguments(parser) -> None:
    parser.add_argument("--selector", required=True, help="flexrand, static_random, dlc_easiest or dlc_hardest")
    parser.add_argument("--rate", type=float, required=True, help="the pruning rate s in [0, 1)")
    add_seed_argument(parser)


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_arguments)
    probing.run_downstream(cfg, args.selector, args.rate, args.seed)


if __name__ == "__main__":
    _stage.run(main)
