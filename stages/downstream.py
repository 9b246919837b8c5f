"""downstream: one selector at one pruning rate picks a labelled subset once with one seed's DLC
scores; linear evaluation on it."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core import selectors
from pipeline.study import probing
from pipeline.study.cli import add_seed_argument, stage_main


def add_arguments(parser) -> None:
    parser.add_argument("--selector", required=True, help=f"one of {', '.join(selectors.SELECTORS)}")
    parser.add_argument("--rate", type=float, required=True, help="the pruning rate s in [0, 1)")
    add_seed_argument(parser)


def work(args, cfg) -> None:
    probing.run_downstream(cfg, selector=args.selector, rate=args.rate, seed=args.seed)


_stage.run(stage_main(__doc__, work, add_arguments))
