"""nlu_report@dataset: one NLU dataset's tables (accuracy, paired differences to random with
their intervals, achieved saving), plot and DVC metrics in reports/nlu/<dataset>/, an MLflow run
with them, and the dataset's study run finished."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import nlu, paths
from pipeline.study.cli import add_dataset_argument, stage_main


def work(args, cfg) -> None:
    print(nlu.write_report(cfg, args.dataset))
    print(f"nlu_report: wrote {paths.NLU_REPORTS_DIR / args.dataset}/ (`make readme` copies it into docs/results.md)")


_stage.run(stage_main(__doc__, work, add_dataset_argument))
