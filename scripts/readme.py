"""Copy the study's results into README.md and docs/results.md: `make readme`, which `make study`
runs after `dvc repro`. No stage writes either file.

- README.md's findings block: the answer (pipeline/study/answer.py) from every committed study's
  metrics: a row per method, a column per study (the default study, the presets), each method's
  difference to random at the study's lowest and highest saving with its corrected verdict; the
  plain sentences under it; the forest plot of the same numbers. Also kept as reports/answer/.
- README.md's footprint block: set-up and run times and disk, from reports/footprint.json
  (scripts/footprint.py), when it is there.
- docs/results.md, whole: every verdict line and table of the default study (reports/results.md),
  the report of each NLU dataset in study.nlu_datasets (reports/nlu/<dataset>/), and the
  committed presets' reports, linked (and shown, for the NLU preset, where it compares at equal
  cost)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.errors import UserError, exit_on_user_error
from pipeline.core.io import read_json, write_text
from pipeline.study import answer, config, paths, plots

RESULTS_PAGE = Path("docs/results.md")
FIGURE = "![Test accuracy against achieved saving, a line per method]({root}reports/plots/accuracy_vs_saving.png)"
FOREST = "![Seed-paired difference to random at each saving, a row per method]({root}reports/plots/forest_train.png)"
NLU_PRESET = Path("reports/presets/nlu_cpu")
# Committed preset runs whose verdict follows the default study's.
PRESET_FINDINGS = {"cpu_headline": Path("reports/presets/cpu_headline")}
FOOTPRINT = Path("reports/footprint.json")
FOOTPRINT_BEGIN = "<!-- footprint:begin (written by `make readme` from reports/footprint.json; do not edit by hand) -->"
FOOTPRINT_END = "<!-- footprint:end -->"
# A committed preset report from before the equal-cost comparison compared methods at equal nominal
# rate, which is not a verdict anyone should act on: it is linked, not shown.
STALE_PRESET = (
    "The committed run of `params/nlu_cpu.yaml` ([report]({folder}/README.md)) predates the comparison "
    "at equal cost: its tables compare methods at equal nominal rate, where they skip different shares "
    "of the work, so they are kept as a record and not shown here. `make preset P=nlu_cpu` reruns it.\n"
)


def equal_cost(folder: Path, dataset: str) -> bool:
    """Whether a dataset's committed report compares at equal cost (its metrics have budgets)."""
    metrics = folder / dataset / "metrics.json"
    return metrics.is_file() and "budgets" in read_json(metrics)


def nlu_reports(folder: Path, datasets: list[str], root: str) -> str:
    """Each dataset's results.md in `folder`/<dataset>/ with its plot (linked from `root`)."""
    parts = []
    for dataset in datasets:
        results = folder / dataset / "results.md"
        if not results.is_file():
            raise UserError(f"{results} not found: run the study first (make study, or dvc repro)")
        figure = f"![{dataset}: test accuracy against achieved saving]({root}{folder / dataset}/accuracy_vs_saving.png)"
        parts.append(f"{results.read_text().strip()}\n\n{figure}\n")
    return "\n".join(parts)


def presets() -> list[tuple[str, Path, str]]:
    """(name, folder, findings) of each committed preset run that has findings."""
    return [
        (name, folder, (folder / "findings.md").read_text())
        for name, folder in PRESET_FINDINGS.items()
        if (folder / "findings.md").is_file()
    ]


# The studies the answer shows, in its column order: where each one's comparison is.
PRESETS_DIR = Path("reports/presets")
STUDIES = [
    answer.Source("default study", "docs/results.md", paths.METRICS_FILE, "train"),
    answer.Source(
        "cpu_headline", "reports/presets/cpu_headline/README.md", PRESETS_DIR / "cpu_headline/metrics.json", "train"
    ),
    answer.Source(
        "SimCLR (ssl_cpu)", "reports/presets/ssl_cpu/README.md", PRESETS_DIR / "ssl_cpu/metrics.json", "pretrain"
    ),
    answer.Source(
        "NLU rotten_tomatoes", "reports/presets/nlu_cpu/README.md", NLU_PRESET / "rotten_tomatoes/metrics.json", None
    ),
    answer.Source("NLU trec6", "reports/presets/nlu_cpu/README.md", NLU_PRESET / "trec6/metrics.json", None),
]
ANSWER_DIR = Path("reports/answer")  # what `make readme` writes besides the README: the block and its plot


# Presets that are no study: the demo's toy sizes, and the GPU readiness check.
NOT_STUDIES = {"smoke", "gpu_slice_fmnist"}


def not_run() -> list[str]:
    """The presets of params/ that have no committed report."""
    presets = sorted(p.stem for p in Path("params").glob("*.yaml"))
    return [f"`{name}`" for name in presets if name not in NOT_STUDIES and not (PRESETS_DIR / name).is_dir()]


def findings_block() -> str:
    """The answer: its table, the legend, the sentences and the forest plot (also written to reports/answer/)."""
    columns = [answer.load(source) for source in STUDIES]
    plots.save(answer.forest(columns), ANSWER_DIR / "forest.png")
    block = (
        "Each cell: the method's test accuracy (SimCLR: linear-probe accuracy) minus random's, in points, "
        "seed-paired, at the study's lowest / highest saving (the share of the training skipped, the savings "
        "random reaches at the grid's rates; every method read off its own accuracy-against-saving curve). "
        + answer.LEGEND
        + "\n\n"
        + answer.table(columns)
        + "\n"
        + "\n".join(f"- {line}" for line in answer.sentences(columns, not_run()))
        + f"\n\n![Seed-paired differences to random, a row per method]({ANSWER_DIR}/forest.png)\n"
    )
    write_text(ANSWER_DIR / "answer.md", block)
    return block


def footprint_block() -> str:
    """The set-up and run times and the disk they take, as reports/footprint.json records them."""
    if not FOOTPRINT.is_file():
        return "(not measured yet: `python scripts/footprint.py` after `make study` on a fresh clone)\n"
    f = read_json(FOOTPRINT)
    lines = [f"- {label}: {t}" for label, t in f["times"].items()]
    lines += [f"- {what}: {size}" for what, size in f["disk"].items()]
    return (
        f"On {f['machine']} ({f['date']}; in brackets the load average as each run ended, near the core "
        f"count when it ran alone):\n\n" + "\n".join(lines) + "\n"
    )


def results_page(nlu: list[str]) -> str:
    """docs/results.md: every committed report, the default study's in full."""
    study = paths.RESULTS_FILE.read_text().removeprefix("# Results\n").strip()
    page = [
        "# Results",
        "",
        "Written by `make readme` from the committed reports; do not edit by hand. First the default "
        "study (`params.yaml`, the last `dvc repro` of this checkout, reports/results.md): each part opens "
        "with the verdict at equal cost, one line per saving, and its table: every method's accuracy at each "
        "of random's savings, read off its own accuracy-against-saving curve, with its seed-paired "
        "difference to `random` and to the best other method (95% intervals); the raw table per nominal "
        'rate follows. [methods.md](methods.md), "Reporting a comparison", says how.',
        "",
        "## The default study",
        "",
        FIGURE.format(root="../"),
        "",
        FOREST.format(root="../"),
        "",
        study,
        "",
    ]
    if nlu:
        page += [nlu_reports(paths.NLU_REPORTS_DIR, nlu, "../"), ""]
    page += ["## Presets", ""]
    for name, folder, text in presets():
        page += [f"### `params/{name}.yaml`", "", f"[Its report](../{folder}/README.md).", "", text.strip(), ""]
    page += ['<a id="nlu"></a>', "", "### NLU: `params/nlu_cpu.yaml`", ""]
    folders = NLU_PRESET.iterdir() if NLU_PRESET.is_dir() else []
    datasets = sorted(p.name for p in folders if (p / "results.md").is_file())
    if datasets and all(equal_cost(NLU_PRESET, d) for d in datasets):
        page.append(nlu_reports(NLU_PRESET, datasets, "../"))
    elif datasets:
        page.append(STALE_PRESET.format(folder=f"../{NLU_PRESET}"))
    else:
        page.append("No committed run yet: `make preset P=nlu_cpu`.\n")
    return "\n".join(page).rstrip() + "\n"


@exit_on_user_error
def main() -> None:
    for needed in (paths.RESULTS_FILE, paths.FINDINGS_FILE):
        if not needed.is_file():
            raise UserError(f"{needed} not found: run the study first (make study, or dvc repro)")
    nlu = config.load().study.nlu_datasets
    text = answer.replace_block(paths.README.read_text(), findings_block(), answer.FINDINGS_BEGIN, answer.FINDINGS_END)
    text = answer.replace_block(text, footprint_block(), FOOTPRINT_BEGIN, FOOTPRINT_END)
    write_text(paths.README, text)
    write_text(RESULTS_PAGE, results_page(nlu))
    done = f"{paths.FINDINGS_FILE}, {paths.RESULTS_FILE}" + "".join(f", reports/nlu/{d}/" for d in nlu)
    print(f"readme: {paths.README}'s findings and {RESULTS_PAGE} now hold {done}")


if __name__ == "__main__":
    main()
