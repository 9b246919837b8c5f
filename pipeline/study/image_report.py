"""The image study's report (supervised training, SimCLR pre-training, downstream pruning), as
the aggregate stage writes it: per task, the verdict at equal cost, its table and the raw table
per rate (reports/results.md), the findings, the plots (forest plots of the verdicts among them),
the DVC metrics, an MLflow run with them, and the study's parent run finished. The SimCLR and
downstream sections: ssl_report.py (left out when study.ssl_seeds is empty); the NLU part's:
pipeline/study/nlu.py."""

from __future__ import annotations

from ..core.io import load_torch, read_json, write_json, write_text
from . import measured_on, paths, plot_data, plots, report, report_plots, stage_runs, verdict
from .config import Config
from .grids import SUPERVISED
from .ssl_report import DOWNSTREAM_REFERENCE, downstream_section, ssl_section, untrained_metrics

PLOTS = paths.PLOTS_DIR
METRICS = lambda folder: lambda m, r, s: folder(m, r, s) / "metrics.json"
PROBED = METRICS(lambda m, r, s: paths.LINEAR_EVAL_DIR / paths.cell_name(m, r, s))


def supervised_section(cfg: Config, data: str, sup, budgets) -> str:
    t = cfg.train
    return (
        f"### Supervised pruned training\n\n{data}, {t.epochs} epochs of which the first {t.warmup_epochs} are a "
        f"full-data warm-up run once per seed (every method of a seed forks from it); "
        f"{verdict.seeds_words(len(cfg.study.seeds))}.\n\n"
        + verdict.section(budgets)
        + "\n#### Every cell, at its nominal rate\n\nMean ± std over the seeds, at the rate each method was "
        "asked for; methods save different shares at the same rate, so compare them above, not here. "
        "*vs full*: accuracy difference to the full-data reference in points. *Train time*: the pruned phase "
        "without evaluation; *wall time*: the whole cell. *LFL Gini* / *seen <= 1x*: how unevenly the pruned "
        "phase visited the samples.\n\n"
        + report.markdown_table(sup)
        + "\n"
        + measured_on.sentence(sup)
        + "\n\n#### Every seed\n\nTest accuracy (%) of each cell, a column per seed: what the means above "
        "average, and what the verdicts pair (each seed's methods fork from that seed's warm-up).\n\n"
        + report.per_seed_table(sup, "test_acc")
    )


def write_report(cfg: Config) -> str:
    """reports/results.md, findings.md, metrics.json and plots/ of the image study; its MLflow runs.
    Returns the Markdown."""
    meta = paths.prepared_meta()
    study = cfg.study
    data = f"{meta['name']} ({meta['train_size']} training / {meta['test_size']} test images), `{cfg.model.arch}`"
    name = f"{meta['name']}, {cfg.model.arch}"
    sup = report.collect(report.expected_cells(cfg), METRICS(SUPERVISED.cell_dir))
    compared = {"train": report.budgets(sup)}
    text = supervised_section(cfg, data, sup, compared["train"])
    metrics = {
        "train": {
            **report.dvc_metrics(sup, compared["train"]),
            "setting": report.setting("supervised", meta, cfg.model.arch, cfg.train.epochs, sup),
        }
    }
    figures = {
        "accuracy_vs_saving.png": report_plots.accuracy_vs_saving(
            report.saving_series(sup),
            f"{name}, {cfg.train.epochs} epochs, {verdict.seeds_words(len(study.seeds))}",
            [(b.saving, b.rate) for b in compared["train"]],
        ),
        "visits_at_highest_rate.png": _visits(cfg),
    }
    if study.ssl_seeds:  # the SimCLR and downstream parts
        ssl = report.collect(report.expected_ssl_cells(cfg), PROBED)
        [untrained] = report.collect(report.expected_untrained_cells(cfg), PROBED)
        everything = report.collect(
            [(paths.ALL_LABELS, 0.0, seed) for seed in study.ssl_seeds], lambda m, r, s: paths.all_labels_file(s)
        )
        down = everything + report.collect(
            report.expected_downstream_cells(cfg),
            METRICS(lambda m, r, s: paths.DOWNSTREAM_DIR / paths.cell_name(m, r, s)),
        )
        compared["pretrain"] = report.budgets(ssl, "linear_acc")
        compared["downstream"] = report.budgets(down, "linear_acc", DOWNSTREAM_REFERENCE)
        text += "\n" + ssl_section(cfg, data, ssl, untrained, compared["pretrain"])
        text += "\n" + downstream_section(cfg, down, compared["downstream"])
        metrics["pretrain"] = {
            **report.dvc_metrics(ssl, compared["pretrain"], "linear_acc"),
            "untrained": untrained_metrics(ssl[0], untrained),
            "setting": {
                **report.setting("ssl", meta, cfg.model.arch, cfg.pretrain.epochs, ssl, "pretrain_"),
                "probe_labels_per_class": cfg.linear_eval.labels_per_class,  # null: every label
            },
        }
        metrics["downstream"] = report.dvc_metrics(down, compared["downstream"], "linear_acc")
        budget_lines = lambda task: [(b.saving, b.rate) for b in compared[task]]
        figures["ssl_linear_vs_saving.png"] = report_plots.accuracy_vs_saving(
            report.saving_series(ssl, "linear_acc"),
            f"SimCLR pre-training, {name}, {cfg.pretrain.epochs} epochs, {verdict.seeds_words(len(study.ssl_seeds))}",
            budget_lines("pretrain"),
            "linear-probe accuracy (%)",
            "full-data pre-training",
            floor=("no pre-training (the encoder untrained)", untrained.mean("linear_acc")),
        )
        figures["downstream_linear_vs_saving.png"] = report_plots.accuracy_vs_saving(
            report.saving_series(down, "linear_acc"),
            f"downstream pruning, {name}",
            budget_lines("downstream"),
            "linear-probe accuracy (%)",
            paths.ALL_LABELS,
            DOWNSTREAM_REFERENCE,
        )
    titles = {"train": "supervised training", "pretrain": "SimCLR pre-training", "downstream": "downstream pruning"}
    for task, block in metrics.items():
        reference = DOWNSTREAM_REFERENCE if task == "downstream" else report.equal_cost.REFERENCE
        panels = report_plots.panels(block["budgets"], reference)
        figures[f"forest_{task}.png"] = report_plots.forest([panels], f"{titles[task]}, {name}", reference)
    write_text(paths.RESULTS_FILE, "# Results\n\n" + text)
    setting_words = f"{meta['name']}, `{cfg.model.arch}`, {cfg.train.epochs} epochs"
    findings = verdict.findings(
        compared["train"], f"Supervised, {setting_words}, {verdict.seeds_words(len(study.seeds))}"
    )
    write_text(paths.FINDINGS_FILE, findings)
    for file, fig in figures.items():
        plots.save(fig, PLOTS / file)
    write_json(PLOTS / "accuracy_vs_saving.json", plot_data.plot_points(sup))
    history = lambda m, r, s: read_json(SUPERVISED.cell_dir(m, r, s) / "history.json")
    write_json(paths.CURVES_FILE, plot_data.curves(sup, history, ("test_acc", "train_loss")))
    metrics = {"headline": report.headline_metrics(compared["train"]), **metrics}
    write_json(paths.METRICS_FILE, metrics)

    params = {f"study.{k}": ",".join(map(str, getattr(study, k))) for k in GRID_KEYS}
    report_files = [paths.RESULTS_FILE, paths.FINDINGS_FILE, *(PLOTS / file for file in figures)]
    with stage_runs.stage_run(
        cfg, meta, stage="aggregate", run_name="aggregate", params=params, tags={"task": "report"}
    ) as run:
        run.log_metrics(report.numeric_leaves(metrics))
        for path in report_files:
            run.log_artifact(path)
    # The study's parent run gets the headline figures and the report, and ends now.
    stage_runs.finish_study(
        cfg, meta, metrics=report.numeric_leaves(metrics["headline"]), artifacts=report_files, description=findings
    )
    return text


GRID_KEYS = ("methods", "rates", "seeds", "ssl_methods", "ssl_rates", "ssl_seeds", "selectors")


def _visits(cfg: Config):
    """How often each sample was trained at the grid's largest rate, per method, in its first seed."""
    top, seed = max(cfg.study.rates), cfg.study.seeds[0]
    visits = {
        name: load_torch(SUPERVISED.cell_dir(name, rate, seed) / "visits.pt", "train").numpy()
        for name, rate in [(cfg.reference.name, 0.0)] + [(m, top) for m in cfg.study.methods]
    }
    return plots.visit_histograms(
        visits, cfg.train.epochs, f"epochs each sample was trained, rate {top:g}, seed {seed}"
    )
