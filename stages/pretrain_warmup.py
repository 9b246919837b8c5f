"""pretrain_warmup: W full-data SimCLR epochs (recording each sample's NT-Xent loss and memory term
in the last one); the checkpoint every pruned pre-training run starts from."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import cells, grids
from pipeline.study.cli import add_seed_argument, stage_main

_stage.run(stage_main(__doc__, lambda args, cfg: cells.run_warmup(cfg, grids.SSL, seed=args.seed), add_seed_argument))
