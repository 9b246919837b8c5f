"""prepare: materialise the configured dataset once as in-memory tensors on disk, with its md5."""

from __future__ import annotations

import argparse

from pipeline import config, data, outputs
from pipeline.errors import exit_on_user_error


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    cfg = config.load(args.params)
    d = cfg.data
    ds = data.load_dataset(d.dataset, d.root, d.train_size, d.subset_seed)
    md5 = data.save_prepared(ds, outputs.DATASET_FILE)
    meta = {"name": ds.name, "train_size": len(ds), "test_size": int(ds.test_x.shape[0]),
            "image_shape": list(ds.train_x.shape[1:]), "classes": list(ds.classes), "md5": md5}
    outputs.write_json(outputs.DATASET_META, meta)
    print(f"prepare: {ds.name}: {len(ds)} train / {meta['test_size']} test images {meta['image_shape']}, md5 {md5}")


if __name__ == "__main__":
    main()
