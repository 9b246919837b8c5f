"""dlc: DLC scores of every labelled training sample with one seed's full-data pre-trained encoder."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import probing
from pipeline.study.cli import add_seed_argument, stage_main

_stage.run(stage_main(__doc__, lambda args, cfg: probing.run_dlc(cfg, seed=args.seed), add_seed_argument))
