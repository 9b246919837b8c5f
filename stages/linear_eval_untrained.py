"""linear_eval_untrained: the no-pre-training reference, the encoder a seed's SimCLR pre-training
starts from, never trained, probed as linear_eval probes the pre-trained ones."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import probing
from pipeline.study.cli import add_seed_argument, stage_main

_stage.run(stage_main(__doc__, lambda args, cfg: probing.run_untrained_probe(cfg, seed=args.seed), add_seed_argument))
