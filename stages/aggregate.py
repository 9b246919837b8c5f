"""aggregate: the grid's results as reports/results.md and DVC metrics."""

from __future__ import annotations

from pipeline import outputs, report
from pipeline.cli import parse_stage_args
from pipeline.errors import exit_on_user_error


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
    rows = report.collect(cfg)
    meta = outputs.read_json(outputs.DATASET_META)
    text = (f"# Results\n\nSupervised pruned training: {meta['name']} ({meta['train_size']} training images), "
            f"`{cfg.model.arch}`, {cfg.train.epochs} epochs of which {cfg.train.warmup_epochs} shared warm-up. "
            f"Mean ± std over seeds; train time is the pruned phase (warm-up excluded) without evaluation.\n\n"
            + report.markdown_table(rows))
    outputs.write_text(outputs.REPORTS_DIR / "results.md", text)
    metrics = {f"{r.method}-{r.rate}": {"test_acc": r.mean("test_acc"), "achieved_saving": r.mean("achieved_saving")}
               for r in rows}
    outputs.write_json(outputs.REPORTS_DIR / "metrics.json", metrics)
    print(text)


if __name__ == "__main__":
    main()
