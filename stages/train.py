"""train: one grid cell, a pruned run (method, rate, seed) forked from the warm-up checkpoint."""

from __future__ import annotations

import argparse

import torch

from pipeline import config, data, outputs, train
from pipeline.errors import UserError, exit_on_user_error


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", required=True, help="a name under `methods` in params.yaml")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    cfg = config.load(args.params)
    spec = cfg.method(args.method)
    if not 0.0 <= args.rate < 1.0:
        raise UserError(f"--rate {args.rate} is invalid: expected a number in [0, 1)")
    ds = data.load_prepared(outputs.DATASET_FILE)
    if not outputs.WARMUP_CHECKPOINT.is_file():
        raise UserError(f"{outputs.WARMUP_CHECKPOINT} not found: run the warmup stage first (dvc repro warmup)")
    checkpoint = torch.load(outputs.WARMUP_CHECKPOINT, map_location="cpu", weights_only=False)
    result = train.pruned_run(cfg, ds, checkpoint, spec, args.rate, args.seed)
    out = outputs.cell_dir(args.method, args.rate, args.seed)
    outputs.write_json(out / "history.json", result.history)
    outputs.save_torch(out / "visits.pt", result.visits)
    outputs.write_json(out / "lfl.json", result.lfl)
    # Written last: its presence marks a finished cell.
    outputs.write_json(out / "metrics.json", {"method": args.method, "base_method": spec.method,
                                              "rate": args.rate, "seed": args.seed, **result.final_metrics()})
    print(f"train {out.name}: test_acc {result.test_acc:.4f}, achieved saving {result.achieved_saving:.3f}, "
          f"train time {result.train_time_s:.1f}s")


if __name__ == "__main__":
    main()
