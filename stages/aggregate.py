"""aggregate: every table of the study (supervised, SSL pre-training, downstream pruning) as
reports/results.md, plots (with the per-epoch curves), DVC metrics with stable keys, a summary MLflow run, and
the headline figures and report on the study's parent run. README.md is not written here: `make readme`."""

from __future__ import annotations

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core.errors import exit_on_user_error
from pipeline.core.io import load_torch, read_json, write_json, write_text
from pipeline.study import paths, plots, report, tracking, verdict
from pipeline.study.cells import SUPERVISED
from pipeline.study.cli import parse_stage_args

PLOTS = paths.PLOTS_DIR
METRICS = lambda folder: lambda m, r, s: folder(m, r, s) / "metrics.json"


def sections(cfg, meta, sup, ssl, down) -> str:
    data = f"{meta['name']} ({meta['train_size']} training / {meta['test_size']} test images), `{cfg.model.arch}`"
    seeds = len(cfg.study.seeds)
    t, p = cfg.train, cfg.pretrain
    return (
        f"**Verdict.** {report.headline(sup, seeds)}\n\n"
        f"### Supervised pruned training\n\n{data}, {t.epochs} epochs of which the first {t.warmup_epochs} are a "
        f"full-data warm-up run once per seed (every method of a seed forks from it); mean ± std over {seeds} "
        f"seed{'s' if seeds > 1 else ''}. *vs full*: accuracy "
        f"difference to the full-data reference in points. *Achieved saving*: share of the full run's "
        f"sample-steps not trained, warm-up included. *Train time*: the pruned phase without evaluation; *wall "
        f"time*: the whole cell. *LFL Gini* / *seen <= 1x*: how unevenly the pruned phase visited the samples.\n\n"
        + report.markdown_table(sup)
        + f"\n#### Which method to trust, at each rate\n\nDifferences in accuracy points between runs of the same "
        f"seed, mean and 95% confidence interval (Student t over the {seeds} seed-paired differences). A method "
        f"*beats* another only where the interval excludes 0; no verdict under {verdict.MIN_SEEDS} seeds. "
        f"*Best other*: the most accurate other method at that rate. ‡: the two achieved savings differ by more "
        f"than {verdict.SAVING_TOLERANCE}, so the difference is not at equal cost.\n\n"
        + report.comparison_table(sup)
        + f"\n### SimCLR pre-training with pruning, linear evaluation\n\n{data}, {p.epochs} epochs of which the "
        f"first {p.warmup_epochs} are a shared full-data warm-up, batch {p.batch_size}, temperature "
        f"{p.temperature}; seed {p.seed}. Each encoder is frozen and probed by a logistic regression fitted on "
        f"all training labels (*linear acc*) and a 20-nearest-neighbour vote (*kNN acc*).\n\n"
        + report.markdown_table(ssl, report.SSL_COLUMNS)
        + f"\n### Downstream pruning with the full-data encoder\n\nEach selector keeps a subset of the labelled "
        f"training set once (DLC over {cfg.downstream.levels} masking levels, FlexRand split at "
        f"gamma = {cfg.downstream.gamma}); the same linear evaluation on that subset. First row: all labels.\n\n"
        + report.markdown_table(down, report.DOWNSTREAM_COLUMNS, first="selector")
    )


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
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
    text = sections(cfg, meta, sup, ssl, down)
    write_text(paths.RESULTS_FILE, "# Results\n\n" + text)

    top = max(cfg.study.rates)
    seed = cfg.study.seeds[0]
    visits = {
        name: load_torch(SUPERVISED.cell_dir(name, rate, seed) / "visits.pt", "train").numpy()
        for name, rate in [("full", 0.0)] + [(m, top) for m in cfg.study.methods]
    }
    ref = lambda rows, key: (rows[0].mean(key), rows[0].std(key))
    setting = f"{meta['name']}, {cfg.model.arch}"
    figures = {
        "accuracy_vs_saving.png": plots.accuracy_vs_saving(
            report.saving_series(sup), ref(sup, "test_acc"), f"{setting}, {cfg.train.epochs} epochs"
        ),
        "visits_at_highest_rate.png": plots.visit_histograms(
            visits, cfg.train.epochs, f"epochs each sample was trained, rate {top:g}, seed {seed}"
        ),
        "ssl_linear_vs_saving.png": plots.accuracy_vs_saving(
            report.saving_series(ssl, "linear_acc"),
            ref(ssl, "linear_acc"),
            f"SimCLR pre-training, {setting}",
            "linear-probe accuracy (%)",
            "full-data pre-training",
        ),
        "downstream_linear_vs_saving.png": plots.accuracy_vs_saving(
            report.saving_series(down, "linear_acc"),
            ref(down, "linear_acc"),
            f"downstream pruning, {setting}",
            "linear-probe accuracy (%)",
            "all labels",
        ),
    }
    for name, fig in figures.items():
        plots.save(fig, PLOTS / name)
    write_json(PLOTS / "accuracy_vs_saving.json", report.plot_points(sup))
    history = lambda m, r, s: read_json(SUPERVISED.cell_dir(m, r, s) / "history.json")
    write_json(paths.CURVES_FILE, report.curves(sup, history, ("test_acc", "train_loss")))
    metrics = {
        "headline": report.headline_metrics(sup),
        "train": report.dvc_metrics(sup),
        "pretrain": report.dvc_metrics(ssl, "linear_acc"),
        "downstream": report.dvc_metrics(down, "linear_acc"),
    }
    write_json(paths.METRICS_FILE, metrics)

    study = cfg.study
    params = {
        f"study.{k}": ",".join(map(str, getattr(study, k)))
        for k in ("methods", "rates", "seeds", "ssl_methods", "ssl_rates", "selectors")
    }
    report_files = [paths.RESULTS_FILE, *(PLOTS / name for name in figures)]
    with tracking.stage_run(cfg, meta, "aggregate", "aggregate", params, tags={"task": "report"}) as run:
        run.log_metrics(report.numeric_leaves(metrics))
        for path in report_files:
            run.log_artifact(path)
    # The study's parent run gets the headline figures and the report, and ends now.
    tracking.Store(cfg).finish_study(meta, report.numeric_leaves(metrics["headline"]), report_files)
    print(text)
    print(
        f"aggregate: wrote {paths.RESULTS_FILE} and {paths.METRICS_FILE} "
        f"(`make readme` copies the results into README.md)"
    )


if __name__ == "__main__":
    _stage.run(main)
