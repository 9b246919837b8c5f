"""warmup: W full-data epochs and a scoring pass; the checkpoint every pruned run starts from."""

from __future__ import annotations

from pipeline import data, outputs, plots, tracking, train
from pipeline.cli import parse_stage_args
from pipeline.errors import exit_on_user_error


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
    ds = data.load_prepared(outputs.DATASET_FILE)
    meta = outputs.prepared_meta()
    with tracking.stage_run(cfg, meta, "warmup", "warmup") as run:
        checkpoint = train.warmup(cfg, ds, on_epoch=run.log_epoch)
        W = checkpoint["epoch"]
        run.log_metrics({"wall_time_s": checkpoint["wall_time_s"]}, step=W)
        curves = outputs.WARMUP_DIR / "curves.png"
        plots.save(plots.training_curves(checkpoint["history"], W, f"warm-up: {meta['name']}, {cfg.model.arch}"),
                   curves)
        run.log_artifact(curves)
        outputs.save_torch(outputs.WARMUP_CHECKPOINT, checkpoint)
        outputs.write_json(outputs.WARMUP_DIR / "metrics.json",
                           {"test_acc": checkpoint["history"][-1]["test_acc"],
                            "wall_time_s": checkpoint["wall_time_s"], "epochs": W})


if __name__ == "__main__":
    main()
