"""prepare: materialise the dataset once as tensors with its md5; create the MLflow store and study run."""

import _stage  # first: this checkout's code and the warm launcher (stages/_stage.py)

from pipeline.core import data
from pipeline.core.io import write_json
from pipeline.study import paths, stage_runs, store
from pipeline.study.cli import stage_main


def work(_args, cfg) -> None:
    d = cfg.data
    ds = data.load_dataset(d.dataset, d.root, d.train_size, d.subset_seed, d.test_size)
    md5 = data.save_prepared(ds, paths.DATASET_FILE)
    meta = {
        "name": ds.name,
        "train_size": len(ds),
        "test_size": int(ds.test_x.shape[0]),
        "image_shape": list(ds.train_x.shape[1:]),
        "classes": list(ds.classes),
        "md5": md5,
    }
    write_json(paths.DATASET_META, meta)
    run_id = stage_runs.create_study(cfg, meta)
    print(f"prepare: {ds.name}: {len(ds)} train / {meta['test_size']} test images {meta['image_shape']}, md5 {md5}")
    print(f"prepare: MLflow study run {run_id} in experiment '{cfg.tracking.experiment}' at {store.tracking_uri()}")


_stage.run(stage_main(__doc__, work))
