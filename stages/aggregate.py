"""aggregate: the grid's results as reports/results.md, plots, DVC metrics, the README's results
section and a summary MLflow run."""

from __future__ import annotations

from pathlib import Path

from pipeline import outputs, plots, report, tracking
from pipeline.cli import parse_stage_args
from pipeline.errors import exit_on_user_error

PLOTS = outputs.REPORTS_DIR / "plots"
README = Path("README.md")


def supervised_section(cfg, meta, rows: list[report.Row]) -> str:
    seeds = len(cfg.study.seeds)
    return (f"### Supervised pruned training\n\n"
            f"{meta['name']} ({meta['train_size']} training / {meta['test_size']} test images), "
            f"`{cfg.model.arch}`, {cfg.train.epochs} epochs of which the first {cfg.train.warmup_epochs} are a "
            f"shared full-data warm-up; mean ± std over {seeds} seed{'s' if seeds > 1 else ''}. "
            f"*vs full*: accuracy difference to the full-data reference in points. *Achieved saving*: share of "
            f"the full run's sample-steps not trained, warm-up included. *Train time*: the pruned phase without "
            f"evaluation; *wall time*: the whole cell. *LFL Gini* / *seen <= 1x*: how unevenly the pruned "
            f"phase visited the samples.\n\n" + report.markdown_table(rows))


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
    meta = outputs.prepared_meta()
    rows = report.collect(cfg)
    section = supervised_section(cfg, meta, rows)
    block = section + "\n![Test accuracy against achieved saving](reports/plots/accuracy_vs_saving.png)\n"
    readme = report.replace_block(README.read_text(), block) if README.is_file() else None
    outputs.write_text(outputs.REPORTS_DIR / "results.md", "# Results\n\n" + section)

    top = max(cfg.study.rates)
    seed = cfg.study.seeds[0]
    visits = {name: outputs.load_torch(outputs.cell_dir(name, rate, seed) / "visits.pt", "train").numpy()
              for name, rate in [("full", 0.0)] + [(m, top) for m in cfg.study.methods]}
    figures = {
        "accuracy_vs_saving.png": plots.accuracy_vs_saving(
            report.saving_series(rows), (rows[0].mean("test_acc"), rows[0].std("test_acc")),
            f"{meta['name']}, {cfg.model.arch}, {cfg.train.epochs} epochs"),
        "visits_at_highest_rate.png": plots.visit_histograms(
            visits, cfg.train.epochs, f"epochs each sample was trained, rate {top:g}, seed {seed}"),
    }
    for name, fig in figures.items():
        plots.save(fig, PLOTS / name)
    outputs.write_json(PLOTS / "accuracy_vs_saving.json", report.plot_points(rows))
    metrics = report.dvc_metrics(rows)
    outputs.write_json(outputs.REPORTS_DIR / "metrics.json", metrics)

    if readme is not None:
        outputs.write_text(README, readme)

    params = {"study.methods": ",".join(cfg.study.methods), "study.rates": ",".join(map(str, cfg.study.rates)),
              "study.seeds": ",".join(map(str, cfg.study.seeds))}
    with tracking.stage_run(cfg, meta, "aggregate", "aggregate", params) as run:
        run.log_metrics({f"{key}.{name}": value for name, cell in metrics.items() for key, value in cell.items()})
        for path in [outputs.REPORTS_DIR / "results.md", *(PLOTS / name for name in figures)]:
            run.log_artifact(path)
    print(section)


if __name__ == "__main__":
    main()
