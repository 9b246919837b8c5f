"""dlc: DLC scores of every labelled training sample with the full-data pre-trained encoder."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import probing
from pipeline.study.cli import parse_stage_args


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
    probing.run_dlc(cfg)


if __name__ == "__main__":
    _stage.run(main)
