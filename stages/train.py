"""train: one grid cell, a pruned run (method, rate, seed) forked from the warm-up checkpoint."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import cells, grids
from pipeline.study.cli import add_cell_arguments, cell, stage_main

_stage.run(
    stage_main(__doc__, lambda args, cfg: cells.run_cell(cfg, grids.SUPERVISED, **cell(args)), add_cell_arguments)
)
