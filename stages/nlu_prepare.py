"""nlu_prepare@dataset: read one NLU corpus from its package files, tokenise it for nlu.model and
write it as tensors with its md5; create the dataset's study run in MLflow."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import nlu
from pipeline.study.cli import add_dataset_argument, parse_stage_args


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_dataset_argument)
    meta = nlu.prepare(cfg, args.dataset)
    print(
        f"nlu_prepare: {args.dataset}: {meta['train_size']} train / {meta['test_size']} test texts, "
        f"{meta['mean_tokens']:g} tokens on average for {meta['model']} ({meta['at_max_length']} reach "
        f"the limit of {meta['max_length']}), md5 {meta['md5']}"
    )


if __name__ == "__main__":
    _stage.run(main)
