"""pretrain_warmup: W full-data SimCLR epochs (recording each sample's NT-Xent loss and memory term
in the last one); the checkpoint every pruned pre-training run starts from."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import cells, grids
from pipeline.study.cli import add_seed_argument, parse_stage_args


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_seed_argument)
    cells.run_warmup(cfg, grids.SSL, args.seed)


if __name__ == "__main__":
    _stage.run(main)
