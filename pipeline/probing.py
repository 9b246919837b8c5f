"""Probing pre-trained encoders: linear evaluation of each pretrain cell's encoder.

The encoder is frozen (no gradients, eval mode); features are extracted once without
augmentation; a logistic regression is fitted on the full labelled training set and a kNN
vote gives a second, fitting-free accuracy.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from . import data, outputs, tracking
from .augment import InputPipeline
from .cells import SSL
from .config import Config
from .data import ImageDataset
from .evaluate import frozen_features, knn_accuracy, linear_probe_accuracy
from .models import build_encoder
from .train import resolve_device

LINEAR_EVAL_DIR = Path("outputs/linear_eval")


def load_encoder(cfg: Config, ds: ImageDataset, method: str, rate: float, seed: int) -> torch.nn.Module:
    encoder, _ = build_encoder(cfg.model.arch, ds.in_channels)
    encoder.load_state_dict(outputs.load_torch(SSL.cell_dir(method, rate, seed) / "encoder.pt", "pretrain"))
    encoder.requires_grad_(False)
    return encoder.eval()


def encoder_features(cfg: Config, ds: ImageDataset, encoder: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen features of the training and test images, on the configured device."""
    device = resolve_device(cfg.train.device)
    encoder = encoder.to(device)
    plain = InputPipeline(*ds.channel_stats(), device)
    extract = lambda x: frozen_features(encoder, x.to(device), plain, cfg.train.eval_batch_size).cpu()
    return extract(ds.train_x), extract(ds.test_x)


def run_linear_eval(cfg: Config, method: str, rate: float, seed: int) -> dict:
    ds = data.load_prepared(outputs.DATASET_FILE)
    meta = outputs.prepared_meta()
    name = outputs.cell_name(method, rate, seed)
    pretrained = outputs.read_json(SSL.cell_dir(method, rate, seed) / "metrics.json")
    params = {"method": method, "rate": rate, "seed": seed, "encoder": f"pretrain@{name}"}
    with tracking.stage_run(cfg, meta, f"linear_eval@{name}", f"linear_eval {name}", params) as run:
        t0 = time.perf_counter()
        train_feats, test_feats = encoder_features(cfg, ds, load_encoder(cfg, ds, method, rate, seed))
        metrics = {
            "linear_acc": linear_probe_accuracy(train_feats, ds.train_y, test_feats, ds.test_y, seed=seed),
            "knn_acc": knn_accuracy(train_feats, ds.train_y, test_feats, ds.test_y),
            "achieved_saving": pretrained["achieved_saving"],  # of the pre-training that made the encoder
            "pretrain_wall_time_s": pretrained["wall_time_s"],
            "wall_time_s": time.perf_counter() - t0,
        }
        run.log_metrics(metrics)
        outputs.write_json(LINEAR_EVAL_DIR / name / "metrics.json",
                           {"method": method, "rate": rate, "seed": seed, **metrics})
    print(f"linear_eval {name}: linear {metrics['linear_acc']:.4f}, kNN {metrics['knn_acc']:.4f}")
    return metrics
