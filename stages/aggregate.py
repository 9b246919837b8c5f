"""aggregate: every table of the image study (supervised, SSL pre-training, downstream pruning) as
reports/results.md, plots (with the per-epoch curves), DVC metrics with stable keys, a summary MLflow run, and
the headline figures and report on the study's parent run (pipeline/study/image_report.py). README.md and
docs/results.md are not written here: `make readme`."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.study import image_report, paths
from pipeline.study.cli import parse_stage_args


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
    print(image_report.write_report(cfg))
    print(
        f"aggregate: wrote {paths.RESULTS_FILE} and {paths.METRICS_FILE} "
        f"(`make readme` copies them into README.md's findings and docs/results.md)"
    )


if __name__ == "__main__":
    _stage.run(main)
