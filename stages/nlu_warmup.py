"""nlu_warmup@dataset-seed: W full-data fine-tuning epochs of one seed on one NLU dataset; the
checkpoint (and the last epoch's per-sample statistics) every pruned run of that seed starts from."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import cells, grids
from pipeline.study.cli import add_dataset_argument, add_seed_argument, stage_main

_stage.run(
    stage_main(
        __doc__,
        lambda args, cfg: cells.run_warmup(cfg, grids.nlu_grid(args.dataset), seed=args.seed),
        add_dataset_argument,
        add_seed_argument,
    )
)
