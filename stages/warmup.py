"""warmup: W full-data epochs and a scoring pass; the checkpoint every pruned run starts from."""

from __future__ import annotations

from pipeline import data, outputs, train
from pipeline.cli import parse_stage_args
from pipeline.errors import exit_on_user_error


@exit_on_user_error
def main() -> None:
    _, cfg = parse_stage_args(__doc__)
    ds = data.load_prepared(outputs.DATASET_FILE)
    checkpoint = train.warmup(cfg, ds)
    outputs.save_torch(outputs.WARMUP_CHECKPOINT, checkpoint)
    last = checkpoint["history"][-1]
    outputs.write_json(outputs.WARMUP_DIR / "metrics.json",
                       {"test_acc": last["test_acc"], "wall_time_s": checkpoint["wall_time_s"],
                        "epochs": checkpoint["epoch"]})


if __name__ == "__main__":
    main()
