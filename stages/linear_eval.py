"""linear_eval: a linear probe and a kNN vote on the frozen features of one pre-trained encoder."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import probing
from pipeline.study.cli import add_cell_arguments, cell, stage_main

_stage.run(stage_main(__doc__, lambda args, cfg: probing.run_linear_eval(cfg, **cell(args)), add_cell_arguments))
