"""The image study's report (supervised training, SimCLR pre-training, downstream pruning), as
the aggregate stage writes it: per task, the verdict at equal cost, its table and the raw table
per rate (reports/results.md), the findings the README opens with, the plots, the DVC metrics,
an MLflow run with them, and the study's parent run finished. The NLU part's: pipeline/study/nlu.py."""

from __future__ import annotations

from ..core.io import load_torch, read_json, write_json, write_text
from . import measured_on, paths, plots, report, stage_runs, verdict
from .config import Config
from .grids import SUPERVISED

PLOTS = paths.PLOTS_DIR
METRICS = lambda folder: lambda m, r, s: folder(m, r, s) / "metrics.json"


def sections(cfg: Config, meta: dict, sup, ssl, down, compared) -> str:
    """reports/results.md: per task, the verdict at equal cost, its table, and the raw table per rate."""
    data = f"{meta['name']} ({meta['train_size']} training / {meta['test_size']} test images), `{cfg.model.arch}`"
    seeds = len(cfg.study.seeds)
    t, p = cfg.train, cfg.pretrain
    return (
        f"### Supervised pruned training\n\n{data}, {t.epochs} epochs of which the first {t.warmup_epochs} are a "
        f"full-data warm-up run once per seed (every method of a seed forks from it); "
        f"{verdict.seeds_words(seeds)}.\n\n"
        + verdict.section(compared["train"])
        + "\n#### Every cell, at its nominal rate\n\nMean ± std over the seeds, at the rate each method was "
        "asked for; methods save different shares at the same rate, so compare them above, not here. "
        "*vs full*: accuracy difference to the full-data reference in points. *Train time*: the pruned phase "
        "without evaluation; *wall time*: the whole cell. *LFL Gini* / *seen <= 1x*: how unevenly the pruned "
        "phase visited the samples.\n\n"
        + report.markdown_table(sup)
        + "\n"
        + measured_on.sentence(sup)
        + "\n"
        + f"\n### SimCLR pre-training with pruning, linear evaluation\n\n{data}, {p.epochs} epochs of which the "
        f"first {p.warmup_epochs} are a shared full-data warm-up, batch {p.batch_size}, temperature "
        f"{p.temperature}; seed {p.seed}. Each encoder is frozen and probed by a logistic regression fitted on "
        f"all training labels (*linear acc*) and a 20-nearest-neighbour vote (*kNN acc*).\n\n"
        + verdict.section(compared["pretrain"], verdict.PROBE)
        + "\n"
        + report.markdown_table(ssl, report.SSL_COLUMNS)
        + "\n"
        + measured_on.sentence(ssl, "pretrain_")
        + "\n"
        + f"\n### Downstream pruning with the full-data encoder\n\nEach selector keeps a subset of the labelled "
        f"training set once (DLC over {cfg.downstream.levels} masking levels, FlexRand split at "
        f"gamma = {cfg.downstream.gamma}); the same linear evaluation on that subset, compared with "
        f"`{DOWNSTREAM_REFERENCE}` at the same share of labels. First row: all labels.\n\n"
        + verdict.section(compared["downstream"], verdict.DOWNSTREAM)
        + "\n"
        + report.markdown_table(down, report.DOWNSTREAM_COLUMNS, first="selector")
    )


DOWNSTREAM_REFERENCE = "static_random"  # a static selection's random baseline


def write_report(cfg: Config) -> str:
    """reports/results.md, findings.md, metrics.json and plots/ of the image study; its MLflow runs.
    Returns the Markdown."""
    meta = paths.prepared_meta()
    sup = report.collect(report.expected_cells(cfg), METRICS(SUPERVISED.cell_dir))
    ssl = report.collect(
        report.expected_ssl_cells(cfg), METRICS(lambda m, r, s: paths.LINEAR_EVAL_DIR / paths.cell_name(m, r, s))
    )
    everything = report.Row("all labels", 0.0, [{**ssl[0].runs[0], "kept": meta["train_size"]}])
    down = [everything] + report.collect(
        report.expected_downstream_cells(cfg),
        METRICS(lambda m, r, s: paths.DOWNSTREAM_DIR / paths.downstream_name(m, r)),
    )
    compared = {
        "train": report.budgets(sup),
        "pretrain": report.budgets(ssl, "linear_acc"),
        "downstream": report.budgets(down, "linear_acc", DOWNSTREAM_REFERENCE),
    }
    text = sections(cfg, meta, sup, ssl, down, compared)
    write_text(paths.RESULTS_FILE, "# Results\n\n" + text)
    setting = f"{meta['name']}, `{cfg.model.arch}`, {cfg.train.epochs} epochs"
    write_text(
        paths.FINDINGS_FILE,
        verdict.findings(compared["train"], f"Supervised, {setting}, {verdict.seeds_words(len(cfg.study.seeds))}"),
    )

    top = max(cfg.study.rates)
    seed = cfg.study.seeds[0]
    visits = {
        name: load_torch(SUPERVISED.cell_dir(name, rate, seed) / "visits.pt", "train").numpy()
        for name, rate in [("full", 0.0)] + [(m, top) for m in cfg.study.methods]
    }
    setting = f"{meta['name']}, {cfg.model.arch}"
    budget_lines = lambda task: [(b.saving, b.rate) for b in compared[task]]
    figures = {
        "accuracy_vs_saving.png": plots.accuracy_vs_saving(
            report.saving_series(sup),
            f"{setting}, {cfg.train.epochs} epochs, {verdict.seeds_words(len(cfg.study.seeds))}",
            budget_lines("train"),
        ),
        "visits_at_highest_rate.png": plots.visit_histograms(
            visits, cfg.train.epochs, f"epochs each sample was trained, rate {top:g}, seed {seed}"
        ),
        "ssl_linear_vs_saving.png": plots.accuracy_vs_saving(
            report.saving_series(ssl, "linear_acc"),
            f"SimCLR pre-training, {setting}",
            budget_lines("pretrain"),
            "linear-probe accuracy (%)",
            "full-data pre-training",
        ),
        "downstream_linear_vs_saving.png": plots.accuracy_vs_saving(
            report.saving_series(down, "linear_acc"),
            f"downstream pruning, {setting}",
            budget_lines("downstream"),
            "linear-probe accuracy (%)",
            "all labels",
            DOWNSTREAM_REFERENCE,
        ),
    }
    for name, fig in figures.items():
        plots.save(fig, PLOTS / name)
    write_json(PLOTS / "accuracy_vs_saving.json", report.plot_points(sup))
    history = lambda m, r, s: read_json(SUPERVISED.cell_dir(m, r, s) / "history.json")
    write_json(paths.CURVES_FILE, report.curves(sup, history, ("test_acc", "train_loss")))
    metrics = {
        "headline": report.headline_metrics(compared["train"]),
        "train": report.dvc_metrics(sup, compared["train"]),
        "pretrain": report.dvc_metrics(ssl, compared["pretrain"], "linear_acc"),
        "downstream": report.dvc_metrics(down, compared["downstream"], "linear_acc"),
    }
    write_json(paths.METRICS_FILE, metrics)

    study = cfg.study
    params = {
        f"study.{k}": ",".join(map(str, getattr(study, k)))
        for k in ("methods", "rates", "seeds", "ssl_methods", "ssl_rates", "selectors")
    }
    report_files = [paths.RESULTS_FILE, paths.FINDINGS_FILE, *(PLOTS / name for name in figures)]
    with stage_runs.stage_run(cfg, meta, "aggregate", "aggregate", params, {"task": "report"}) as run:
        run.log_metrics(report.numeric_leaves(metrics))
        for path in report_files:
            run.log_artifact(path)
    # The study's parent run gets the headline figures and the report, and ends now.
    stage_runs.finish_study(cfg, meta, report.numeric_leaves(metrics["headline"]), report_files)
    return text
