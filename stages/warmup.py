"""warmup@seed: W full-data epochs of one seed; the checkpoint (and the last epoch's per-sample
statistics) every pruned run of that seed starts from."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import cells, grids
from pipeline.study.cli import add_optional_seed_argument, stage_main

_stage.run(
    stage_main(
        __doc__, lambda args, cfg: cells.run_warmup(cfg, grids.SUPERVISED, seed=args.seed), add_optional_seed_argument
    )
)
