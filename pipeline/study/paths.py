"""Every path the study writes, in one place (dvc.yaml's `outs` spell the same folders;
tests/test_dvc_deps.py checks that they agree)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from ..core.io import read_json

PREPARED_DIR = Path("data/prepared")
DATASET_FILE = PREPARED_DIR / "dataset.pt"
DATASET_META = PREPARED_DIR / "meta.json"
OUTPUTS_DIR = Path("outputs")
WARMUP_DIR = OUTPUTS_DIR / "warmup"  # one folder per seed
TRAIN_DIR = OUTPUTS_DIR / "train"
PRETRAIN_WARMUP_DIR = OUTPUTS_DIR / "pretrain_warmup"
PRETRAIN_DIR = OUTPUTS_DIR / "pretrain"
LINEAR_EVAL_DIR = OUTPUTS_DIR / "linear_eval"
DOWNSTREAM_DIR = OUTPUTS_DIR / "downstream"
DLC_FILE = DOWNSTREAM_DIR / "dlc" / "dlc.pt"
RESUME_DIR = Path("resume")  # outside DVC's outs on purpose: DVC deletes a stage's outs before rerunning it
REPORTS_DIR = Path("reports")
RESULTS_FILE = REPORTS_DIR / "results.md"
METRICS_FILE = REPORTS_DIR / "metrics.json"
PLOTS_DIR = REPORTS_DIR / "plots"
CURVES_FILE = PLOTS_DIR / "curves.json"  # per-epoch test accuracy and loss of every cell (DVC plots)
README = Path("README.md")  # its results block: `make readme` (scripts/readme.py), from RESULTS_FILE


def cell_name(method: str, rate: float, seed: int) -> str:
    """A grid cell's folder name; dvc.yaml's matrix renders `${item.method}-${item.rate}-${item.seed}` alike."""
    return f"{method}-{rate}-{seed}"


def downstream_name(selector: str, rate: float) -> str:
    return f"{selector}-{rate}"


def prepared_meta() -> dict:
    """The prepared dataset's name, sizes and md5 (written by the prepare stage)."""
    if not DATASET_META.is_file():
        raise UserError(f"{DATASET_META} not found: run the prepare stage first (dvc repro prepare)")
    return read_json(DATASET_META)
