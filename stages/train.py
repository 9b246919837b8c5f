"""train: one grid cell, a pruned run (method, rate, seed) forked from the warm-up checkpoint."""

from __future__ import annotations

from pipeline import data, outputs, plots, tracking, train
from pipeline.cli import parse_stage_args
from pipeline.errors import UserError, exit_on_user_error
from pipeline.schema import flatten


def add_cell_arguments(parser) -> None:
    parser.add_argument("--method", required=True, help="a name under `methods` in params.yaml")
    parser.add_argument("--rate", type=float, required=True, help="the pruning rate s in [0, 1)")
    parser.add_argument("--seed", type=int, required=True)


@exit_on_user_error
def main() -> None:
    args, cfg = parse_stage_args(__doc__, add_cell_arguments)
    spec = cfg.method(args.method)
    if not 0.0 <= args.rate < 1.0:
        raise UserError(f"--rate {args.rate} is invalid: expected a number in [0, 1)")
    ds = data.load_prepared(outputs.DATASET_FILE)
    meta = outputs.prepared_meta()
    checkpoint = outputs.load_torch(outputs.WARMUP_CHECKPOINT, "warmup")
    out = outputs.cell_dir(args.method, args.rate, args.seed)
    # The DVC stage this cell is (DVC_STAGE says so when DVC runs it; this is the fallback).
    stage = f"full@{args.seed}" if spec.method == "full" else f"train@{out.name}"
    params = {"method": args.method, "base_method": spec.method, "rate": args.rate, "seed": args.seed,
              **flatten(spec.options, "options.")}
    with tracking.stage_run(cfg, meta, stage, out.name, params) as run:
        result = train.pruned_run(cfg, ds, checkpoint, spec, args.rate, args.seed, on_epoch=run.log_epoch)
        final = result.final_metrics()
        # test_acc's last per-epoch value (step E) already is the final one.
        run.log_metrics({k: v for k, v in final.items() if k != "test_acc"}, step=cfg.train.epochs)
        outputs.write_json(out / "history.json", result.history)
        outputs.save_torch(out / "visits.pt", result.visits)
        outputs.write_json(out / "lfl.json", result.lfl)
        title = f"{out.name}: {meta['name']}, {cfg.model.arch}"
        figures = {"curves.png": plots.training_curves(checkpoint["history"] + result.history,
                                                       checkpoint["epoch"], title),
                   "visits.png": plots.visit_histograms({out.name: result.visits.numpy()}, cfg.train.epochs,
                                                        "epochs each sample was trained")}
        for name, fig in figures.items():
            plots.save(fig, out / name)
            run.log_artifact(out / name)
        # Written last: its presence marks a finished cell.
        outputs.write_json(out / "metrics.json", {"method": args.method, "base_method": spec.method,
                                                  "rate": args.rate, "seed": args.seed, **final})
    print(f"train {out.name}: test_acc {result.metrics['test_acc']:.4f}, achieved saving {result.achieved_saving:.3f}, "
          f"train time {result.train_time_s:.1f}s")


if __name__ == "__main__":
    main()
