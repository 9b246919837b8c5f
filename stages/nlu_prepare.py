"""nlu_prepare@dataset: read one NLU corpus from its package files, tokenise it for nlu.model and
write it as tensors with its md5; create the dataset's study run in MLflow."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import nlu
from pipeline.study.cli import add_dataset_argument, stage_main


def work(args, cfg) -> None:
    meta = nlu.prepare(cfg, args.dataset)
    print(
        f"nlu_prepare: {args.dataset}: {meta['train_size']} train / {meta['test_size']} test texts, "
        f"{meta['mean_tokens']:g} tokens on average for {meta['model']} ({meta['at_max_length']} reach "
        f"the limit of {meta['max_length']}), md5 {meta['md5']}"
    )


_stage.run(stage_main(__doc__, work, add_dataset_argument))
