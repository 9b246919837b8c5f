"""pretrain: one SimCLR grid cell, pruned pre-training (method, rate, seed) forked from the
pre-training warm-up; writes the encoder that linear_eval probes."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import cells, grids
from pipeline.study.cli import add_cell_arguments, cell, stage_main

_stage.run(stage_main(__doc__, lambda args, cfg: cells.run_cell(cfg, grids.SSL, **cell(args)), add_cell_arguments))
