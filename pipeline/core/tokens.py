"""A tokenised text corpus held as tensors (TextDataset): int32 token ids [N, L] padded on the
right, lengths [N], int64 labels [N]; the word vocabulary of the models trained from scratch;
and the prepared file the NLU stages share.

Where the texts come from (the registered corpora and their readers) is text.py, from which
these names are importable as well.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from . import io, timing
from .errors import DataError

if TYPE_CHECKING:
    from .text import TextCorpus


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


# --- the prepared form the NLU stages share -------------------------------------------------

FIELDS = ("train_ids", "train_len", "train_y", "test_ids", "test_len", "test_y")
SETTINGS = ("pad_id", "vocab_size")


@timing.timed("outputs")
def save_prepared(ds: TextDataset, path: str | Path) -> str:
    """Write the tokenised dataset atomically as one torch file; return its md5."""
    return io.save_prepared(ds, path, FIELDS, SETTINGS)


@timing.timed("data")
def load_prepared(path: str | Path, made_by: str = "nlu_prepare") -> TextDataset:
    """The tokenised dataset the stage `made_by` wrote (named in the error when it is missing or corrupt)."""
    return io.load_prepared(path, made_by, TextDataset, FIELDS, SETTINGS)
