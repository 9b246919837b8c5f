"""train: one grid cell, a pruned run (method, rate, seed) forked from the warm-up checkpoint."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import cells, grids
from pipeline.study.cli import add_cell_arguments, parse_stage_args


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_cell_arguments)
    cells.run_cell(cfg, grids.SUPERVISED, args.method, args.rate, args.seed)


if __name__ == "__main__":
    _stage.run(main)
