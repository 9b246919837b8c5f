"""dlc: DLC scores of every labelled training sample with one seed's full-data pre-trained encoder."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import probing
from pipeline.study.cli import add_seed_argument, parse_stage_args


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_seed_argument)
    probing.run_dlc(cfg, args.seed)


if __name__ == "__main__":
    _stage.run(main)
