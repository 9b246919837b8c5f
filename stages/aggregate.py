"""aggregate: every table of the image study (supervised, SSL pre-training, downstream pruning) as
reports/results.md, plots (with the per-epoch curves), DVC metrics with stable keys, a summary MLflow run, and
the headline figures and report on the study's parent run (pipeline/study/image_report.py). README.md and
docs/results.md are not written here: `make readme`."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.study import image_report, paths
from pipeline.study.cli import stage_main


def work(_args, cfg) -> None:
    print(image_report.write_report(cfg))
    print(
        f"aggregate: wrote {paths.RESULTS_FILE} and {paths.METRICS_FILE} "
        f"(`make readme` copies them into README.md's findings and docs/results.md)"
    )


_stage.run(stage_main(__doc__, work))
