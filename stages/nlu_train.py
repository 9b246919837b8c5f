"""nlu_train@dataset-method-rate-seed (and nlu_full@dataset-seed): one NLU grid cell, pruned
fine-tuning forked from the warm-up checkpoint of its dataset and seed."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import cells, grids
from pipeline.study.cli import add_cell_arguments, add_dataset_argument, parse_stage_args


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, lambda p: (add_dataset_argument(p), add_cell_arguments(p)))
    cells.run_cell(cfg, grids.nlu_grid(args.dataset), args.method, args.rate, args.seed)


if __name__ == "__main__":
    _stage.run(main)
