"""nlu_report@dataset: one NLU dataset's tables (accuracy, paired differences to random with
their intervals, achieved saving), plot and DVC metrics in reports/nlu/<dataset>/, an MLflow run
with them, and the dataset's study run finished."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import nlu, paths
from pipeline.study.cli import add_dataset_argument, parse_stage_args


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_dataset_argument)
    print(nlu.write_report(cfg, args.dataset))
    print(f"nlu_report: wrote {paths.NLU_REPORTS_DIR / args.dataset}/ (`make readme` copies it into docs/results.md)")


if __name__ == "__main__":
    _stage.run(main)
