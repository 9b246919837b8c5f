"""Copy the study's results (reports/results.md, written by the aggregate stage) into README.md's
results block: `make readme`, which `make study` runs after `dvc repro`. No stage writes README.md."""

from __future__ import annotations

from pipeline.core.errors import UserError, exit_on_user_error
from pipeline.core.io import write_text
from pipeline.study import paths, report

FIGURE = "![Test accuracy against achieved saving](reports/plots/accuracy_vs_saving.png)"


@exit_on_user_error
def main() -> None:
    if not paths.RESULTS_FILE.is_file():
        raise UserError(f"{paths.RESULTS_FILE} not found: run the study first (make study, or dvc repro)")
    results = paths.RESULTS_FILE.read_text().removeprefix("# Results\n").strip()
    write_text(paths.README, report.replace_block(paths.README.read_text(), f"{results}\n\n{FIGURE}\n"))
    print(f"readme: {paths.README}'s results block now holds {paths.RESULTS_FILE}")


if __name__ == "__main__":
    main()
