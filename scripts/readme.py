"""Copy the study's results into README.md: `make readme`, which `make study` runs after `dvc repro`.
No stage writes README.md.

- The findings block, the README's opening: the accuracy-against-saving plot and the verdict at
  equal cost (reports/findings.md), the aggregate stage's.
- The results block: reports/results.md (the aggregate stage's), then the report of each NLU
  dataset in params.yaml's study.nlu_datasets (reports/nlu/<dataset>/, the nlu_report stages').
- The NLU preset block: the committed run of params/nlu_cpu.yaml (reports/presets/nlu_cpu/), when
  it is there."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.errors import UserError, exit_on_user_error
from pipeline.core.io import read_json, write_text
from pipeline.study import config, paths, report

FIGURE = "![Test accuracy against achieved saving, a line per method](reports/plots/accuracy_vs_saving.png)"
NLU_PRESET = Path("reports/presets/nlu_cpu")
# Committed preset runs whose verdict lines follow the default study's in the README's opening.
PRESET_FINDINGS = {"cpu_headline": Path("reports/presets/cpu_headline")}
# A committed preset report from before the equal-cost comparison compared methods at equal nominal
# rate, which is not a verdict anyone should act on: the README links it instead of showing it.
STALE_PRESET = (
    "The committed run ([`{folder}/`]({folder}/README.md)) predates the comparison at equal cost: its "
    "tables compare methods at equal nominal rate, where they skip different shares of the work, so "
    "they are kept as a record and not shown here. `make preset P=nlu_cpu` reruns it with the "
    "comparison at equal cost (about 80 minutes on 2 CPU cores).\n"
)


def equal_cost(folder: Path, dataset: str) -> bool:
    """Whether a dataset's committed report compares at equal cost (its metrics have budgets)."""
    metrics = folder / dataset / "metrics.json"
    return metrics.is_file() and "budgets" in read_json(metrics)


def nlu_reports(folder: Path, datasets: list[str]) -> str:
    """Each dataset's results.md in `folder`/<dataset>/ with its plot, one after the other."""
    parts = []
    for dataset in datasets:
        results = folder / dataset / "results.md"
        if not results.is_file():
            raise UserError(f"{results} not found: run the study first (make study, or dvc repro)")
        figure = f"![{dataset}: test accuracy against achieved saving]({folder / dataset / 'accuracy_vs_saving.png'})"
        parts.append(f"{results.read_text().strip()}\n\n{figure}\n")
    return "\n".join(parts)


def preset_findings() -> str:
    """The verdict lines of each committed preset run that has them (its findings.md), with a link
    to its plot and report."""
    parts = []
    for name, folder in PRESET_FINDINGS.items():
        lines = folder / "findings.md"
        if lines.is_file():
            parts.append(
                f"\nThe larger CPU preset `params/{name}.yaml` ([report]({folder}/README.md), "
                f"[plot]({folder}/plots/accuracy_vs_saving.png)). {lines.read_text().strip()}\n"
            )
    return "".join(parts)


@exit_on_user_error
def main() -> None:
    for needed in (paths.RESULTS_FILE, paths.FINDINGS_FILE):
        if not needed.is_file():
            raise UserError(f"{needed} not found: run the study first (make study, or dvc repro)")
    block = paths.RESULTS_FILE.read_text().removeprefix("# Results\n").strip() + "\n"
    nlu = config.load().study.nlu_datasets
    if nlu:
        block += "\n" + nlu_reports(paths.NLU_REPORTS_DIR, nlu)
    findings = f"{FIGURE}\n\n{paths.FINDINGS_FILE.read_text().strip()}\n" + preset_findings()
    text = report.replace_block(paths.README.read_text(), findings, report.FINDINGS_BEGIN, report.FINDINGS_END)
    text = report.replace_block(text, block)
    preset = sorted(p.name for p in NLU_PRESET.iterdir() if (p / "results.md").is_file()) if NLU_PRESET.is_dir() else []
    if preset:
        current = all(equal_cost(NLU_PRESET, d) for d in preset)
        shown = nlu_reports(NLU_PRESET, preset) if current else STALE_PRESET.format(folder=NLU_PRESET)
        text = report.replace_block(text, shown, report.NLU_PRESET_BEGIN, report.NLU_PRESET_END)
    write_text(paths.README, text)
    done = (
        f"{paths.FINDINGS_FILE}, {paths.RESULTS_FILE}"
        + "".join(f", reports/nlu/{d}/" for d in nlu)
        + (f", {NLU_PRESET}/" if preset else "")
    )
    print(f"readme: {paths.README}'s results now hold {done}")


if __name__ == "__main__":
    main()
