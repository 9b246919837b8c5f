"""The NLU part of the study, per dataset: tokenise the corpus once (nlu_prepare) and report its
grid (nlu_report). Its warm-ups and cells are the shared grid stages (pipeline/study/cells.py,
`nlu_grid`): the same loop, methods, statistics and outputs as the image grids."""

from __future__ import annotations

from ..core import text, text_models, timing, tokens
from ..core.io import write_json, write_text
from . import equal_cost, measured_on, paths, plots, report, report_plots, stage_runs, verdict
from .config import Config
from .grids import nlu_grid


def prepare(cfg: Config, dataset: str) -> dict:
    """Read the corpus, tokenise it for nlu.model, keep the configured subsets, write the tensors
    and their metadata; create the dataset's study run in MLflow. Returns the metadata."""
    n = cfg.nlu
    corpus = text.load_corpus(dataset, cfg.data.root, n.subset_seed).subset(n.train_size, n.subset_seed, n.test_size)
    with timing.phase("data"):
        tokenised = text_models.get(n.model).tokenised(corpus.train_texts, n.max_length)
        ds = tokens.tokenize(corpus, tokenised.tokenizer, tokenised.pad_id, tokenised.vocab_size)
    file = paths.nlu_dataset_file(dataset)
    md5 = tokens.save_prepared(ds, file)
    meta = {
        "task": "nlu",
        "name": dataset,
        "train_size": len(ds),
        "test_size": int(ds.test_y.shape[0]),
        "classes": list(ds.classes),
        "model": n.model,
        "max_length": n.max_length,
        "mean_tokens": round(float(ds.train_len.float().mean()), 2),
        "at_max_length": int((ds.train_len >= n.max_length).sum()),  # training texts that reach it (most cut)
        "file": str(file),
        "md5": md5,
    }
    write_json(paths.nlu_meta_file(dataset), meta)
    stage_runs.create_study(cfg, meta)
    return meta


def expected_cells(cfg: Config) -> list[report.Cell]:
    """Every NLU cell of one dataset the params ask for: the full-data references first."""
    s = cfg.study
    return report.reference_and_grid(cfg, s.nlu_methods, s.nlu_rates, s.nlu_seeds)


def section(cfg: Config, meta: dict, rows: list[report.Row], budgets: list[equal_cost.Budget]) -> str:
    """The Markdown report of one dataset's grid: the verdict at equal cost with its table, then the
    raw table per rate."""
    n, seeds = cfg.nlu, len(cfg.study.nlu_seeds)
    texts = f"{meta['train_size']} training / {meta['test_size']} test texts"
    lengths = f"{meta['mean_tokens']:g} tokens on average, at most {n.max_length}"
    warmup = (
        f"the first {n.warmup_epochs} {'is' if n.warmup_epochs == 1 else 'are'} a full-data warm-up run once per seed"
    )
    recipe = f"{n.optimizer}, lr {n.lr:g}, batch {n.batch_size}; mean ± std over {seeds} seed{'s' if seeds > 1 else ''}"
    columns = (
        "Columns as in the supervised table; *token saving*: the achieved saving with each text weighted "
        "by its tokens, what its cost scales with."
    )
    parts = [
        f"### NLU: {meta['name']}, fine-tuning `{n.model}`\n\n",
        f"{texts} ({lengths}), {n.epochs} epochs of which {warmup}; {recipe}. {columns}\n\n",
        verdict.section(budgets),
        "\n#### Every cell, at its nominal rate\n\n",
        report.markdown_table(rows, report.NLU_COLUMNS),
        "\n",
        measured_on.sentence(rows),
        "\n",
    ]
    return "".join(parts)


def write_report(cfg: Config, dataset: str) -> str:
    """reports/nlu/<dataset>/: results.md, metrics.json (DVC metrics) and the accuracy-against-saving
    plot; an MLflow run with them, and the dataset's study run finished. Returns the Markdown."""
    grid = nlu_grid(dataset)
    meta = grid.meta()
    rows = report.collect(expected_cells(cfg), lambda m, r, s: grid.cell_dir(m, r, s) / "metrics.json")
    budgets = report.budgets(rows)
    text_md = section(cfg, meta, rows, budgets)
    folder = paths.NLU_REPORTS_DIR / dataset
    write_text(folder / "results.md", text_md)
    figure, forest = folder / "accuracy_vs_saving.png", folder / "forest.png"
    title = f"NLU {dataset}, {cfg.nlu.model}, {cfg.nlu.epochs} epochs"
    plots.save(
        report_plots.accuracy_vs_saving(report.saving_series(rows), title, [(b.saving, b.rate) for b in budgets]),
        figure,
    )
    metrics = {"headline": report.headline_metrics(budgets), **report.dvc_metrics(rows, budgets)}
    metrics["setting"] = report.setting("nlu", meta, cfg.nlu.model, cfg.nlu.epochs, rows)
    panels = report_plots.panels(metrics["budgets"], equal_cost.REFERENCE)
    plots.save(report_plots.forest([panels], title, equal_cost.REFERENCE), forest)
    write_json(folder / "metrics.json", metrics)
    study = cfg.study
    params = {"dataset": dataset, **{f"study.{k}": ",".join(map(str, getattr(study, k))) for k in NLU_GRID_KEYS}}
    files = [folder / "results.md", figure, forest]
    stage = f"nlu_report@{dataset}"
    tags = {"task": "report", "dataset": dataset}
    with stage_runs.stage_run(cfg, meta, stage=stage, run_name=stage, params=params, tags=tags) as run:
        run.log_metrics(report.numeric_leaves(metrics))
        for path in files:
            run.log_artifact(path)
    description = verdict.findings(budgets, f"{title}, {verdict.seeds_words(len(cfg.study.nlu_seeds))}")
    stage_runs.finish_study(
        cfg, meta, metrics=report.numeric_leaves(metrics["headline"]), artifacts=files, description=description
    )
    return text_md


NLU_GRID_KEYS = ("nlu_methods", "nlu_rates", "nlu_seeds")
