"""pretrain: one SimCLR grid cell, pruned pre-training (method, rate, seed) forked from the
pre-training warm-up; writes the encoder that linear_eval probes."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import cells, grids
from pipeline.study.cli import add_cell_arguments, parse_stage_args


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_cell_arguments)
    cells.run_cell(cfg, grids.SSL, args.method, args.rate, args.seed)


if __name__ == "__main__":
    _stage.run(main)
