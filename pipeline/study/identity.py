"""What a study and its runs are, as flat params: the one place where params.yaml's Config becomes
the plain values MLflow tracking files runs under (pipeline/study/tracking.py never sees Config).

A study belongs to its params and its prepared dataset. The image study and each NLU dataset's
study are apart: editing the NLU part never starts a new image study run, nor the reverse. A run
belongs to the sections its stage reads (a grid's: pipeline/study/grids.py) plus its own
coordinates (method, rate, seed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .config import Config

# The NLU part's own keys: its schedule and model (the nlu section) and its grid.
NLU_KEYS = ("nlu.", "study.nlu_datasets", "study.nlu_methods", "study.nlu_rates", "study.nlu_seeds")
# What an NLU dataset's study shares with the image study: where it runs, the methods, tracking.
SHARED_SECTIONS = ("runtime.", "methods.", "tracking.")
# The sections every stage on images, and every stage on text, reads (besides its own).
IMAGE_SECTIONS = ("data", "model", "runtime", "tracking")
TEXT_SECTIONS = ("runtime", "tracking")


def is_text(meta: dict) -> bool:
    """Whether a prepared dataset's metadata is an NLU dataset's (nlu_prepare marks it)."""
    return meta.get("task") == "nlu"


def section_params(cfg: Config, *sections: str) -> dict[str, Any]:
    """The named sections of the config, flattened (data.dataset, train.lr, ...)."""
    return {k: v for k, v in cfg.flat.items() if k.split(".", 1)[0] in sections}


def stage_params(cfg: Config, meta: dict, own: dict[str, Any]) -> dict[str, Any]:
    """What a stage's run on this prepared dataset depends on: the shared sections, then its own."""
    return {**section_params(cfg, *(TEXT_SECTIONS if is_text(meta) else IMAGE_SECTIONS)), **own}


def study_params(cfg: Config, meta: dict) -> dict[str, Any]:
    """The params a study run belongs to, flattened: for an NLU dataset the NLU part's and the
    shared sections, for the image study every other key."""
    flat = cfg.flat
    nlu = lambda k: k.startswith(NLU_KEYS[0]) or k in NLU_KEYS[1:]
    if is_text(meta):
        return {k: v for k, v in flat.items() if nlu(k) or k.startswith(SHARED_SECTIONS)}
    return {k: v for k, v in flat.items() if not nlu(k)}


@dataclass(frozen=True)
class Study:
    """A study as tracking needs it: its experiment, whether models are logged, its flat params
    and its prepared dataset's metadata (name, sizes, md5, file)."""

    experiment: str
    log_models: bool
    params: dict[str, Any]
    meta: dict

    @property
    def key(self) -> str:
        """The study's identity: a digest of its params and of the prepared dataset."""
        params = {k: str(v) for k, v in self.params.items()}
        digest = hashlib.sha256(json.dumps({"params": params, "dataset": self.meta["md5"]}, sort_keys=True).encode())
        return digest.hexdigest()[:10]


def study(cfg: Config, meta: dict) -> Study:
    """The study the params and this prepared dataset make."""
    return Study(cfg.tracking.experiment, cfg.tracking.log_models, study_params(cfg, meta), meta)
