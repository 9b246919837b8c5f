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
# the grids' warm-ups and cells: grids.Layout
LINEAR_EVAL_DIR = OUTPUTS_DIR / "linear_eval"
DOWNSTREAM_DIR = OUTPUTS_DIR / "downstream"
DLC_DIR = DOWNSTREAM_DIR / "dlc"  # one folder per SimCLR seed, its full-data encoder's scores
# The no-pre-training reference: each seed's encoder as initialised, probed like the pre-trained ones.
UNTRAINED = "untrained"
NLU_DATA_DIR = Path("data/nlu")  # one tokenised dataset per folder, named by the dataset
NLU_OUTPUTS_DIR = OUTPUTS_DIR / "nlu"  # <dataset>/warmup/<seed>, <dataset>/train/<cell>
NLU_REPORTS_DIR = Path("reports/nlu")  # <dataset>/results.md, metrics.json, accuracy_vs_saving.png
RESUME_DIR = Path("resume")  # outside DVC's outs on purpose: DVC deletes a stage's outs before rerunning it
REPORTS_DIR = Path("reports")
RESULTS_FILE = REPORTS_DIR / "results.md"
FINDINGS_FILE = REPORTS_DIR / "findings.md"  # the verdict lines at equal cost (the README's findings)
METRICS_FILE = REPORTS_DIR / "metrics.json"
PLOTS_DIR = REPORTS_DIR / "plots"
CURVES_FILE = PLOTS_DIR / "curves.json"  # per-epoch test accuracy and loss of every cell (DVC plots)
# Its findings and footprint blocks, and docs/results.md: `make readme` (scripts/readme.py), from reports/.
README = Path("README.md")


def cell_name(method: str, rate: float, seed: int) -> str:
    """A grid cell's folder name; dvc.yaml's matrix renders `${item.method}-${item.rate}-${item.seed}` alike."""
    return f"{method}-{rate}-{seed}"


def dlc_file(seed: int) -> Path:
    return DLC_DIR / str(seed) / "dlc.pt"


# The downstream comparison's first row: seed's full-data encoder probed on every label (dlc@<seed>).
ALL_LABELS = "all labels"


def all_labels_file(seed: int) -> Path:
    return DLC_DIR / str(seed) / "metrics.json"


def untrained_name(seed: int) -> str:
    """The untrained encoder's folder under LINEAR_EVAL_DIR (a cell at rate 0 of its own)."""
    return cell_name(UNTRAINED, 0.0, seed)


def nlu_dataset_file(dataset: str) -> Path:
    return NLU_DATA_DIR / dataset / "dataset.pt"


def nlu_meta_file(dataset: str) -> Path:
    return NLU_DATA_DIR / dataset / "meta.json"


def prepared_meta(path: Path = DATASET_META, made_by: str = "prepare") -> dict:
    """A prepared dataset's name, sizes and md5 (written by the prepare or nlu_prepare stage)."""
    if not path.is_file():
        raise UserError(f"{path} not found: run the {made_by} stage first (dvc repro {made_by})")
    return read_json(path)
