"""nlu_train@dataset-method-rate-seed (and nlu_full@dataset-seed): one NLU grid cell, pruned
fine-tuning forked from the warm-up checkpoint of its dataset and seed."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import cells, grids
from pipeline.study.cli import add_cell_arguments, add_dataset_argument, cell, stage_main

_stage.run(
    stage_main(
        __doc__,
        lambda args, cfg: cells.run_cell(cfg, grids.nlu_grid(args.dataset), **cell(args)),
        add_dataset_argument,
        add_cell_arguments,
    )
)
