"""pretrain_warmup: W full-data SimCLR epochs and a scoring pass (NT-Xent and memory term of every
sample); the checkpoint every pruned pre-training run starts from."""

from __future__ import annotations

from pipeline import cells
from pipeline.cli import parse_stage_args
from pipeline.errors import exit_on_user_error


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
    cells.run_warmup(cfg, cells.SSL)


if __name__ == "__main__":
    main()
