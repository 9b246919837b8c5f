"""How many tokens a text batch is padded to, with and without grouping by length
(TextTask.arrange), on a real corpus tokenised for a real model: the work a transformer's
forward and backward pass scale with. No training: it counts tokens, so it takes seconds.

    python benchmarks/text_batches.py [--dataset rotten_tomatoes] [--model minilm] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json

import torch

from dynaprune.seeding import generator
from pipeline.core import text, text_models
from pipeline.training.tasks import TextTask


def padded_tokens(lengths: torch.Tensor, order: torch.Tensor, batch_size: int) -> int:
    """Tokens of the batches `order` forms, each cut to its longest text."""
    return sum(int(b.max()) * len(b) for b in lengths[order].split(batch_size))


def measure(dataset: str, model: str, batch_size: int, epochs: int = 3) -> dict:
    corpus = text.load_corpus(dataset, "data/raw")
    tok = text_models.get(model).tokenised(corpus.train_texts, 128)
    lengths = text.pad(tok.tokenizer(corpus.train_texts), tok.pad_id)[1]
    task = TextTask.__new__(TextTask)  # only arrange() is timed: no model is built
    task.train_len = lengths
    plain = grouped = 0
    for epoch in range(epochs):
        order = torch.randperm(len(lengths), generator=generator(0, "order", epoch))
        plain += padded_tokens(lengths, order, batch_size)
        grouped += padded_tokens(
            lengths, order[task.arrange(order, batch_size, generator(0, "batches", epoch))], batch_size
        )
    real = epochs * int(lengths.sum())
    return {
        "dataset": dataset,
        "model": model,
        "texts": len(lengths),
        "batch_size": batch_size,
        "mean_tokens": round(float(lengths.float().mean()), 2),
        "padded_tokens_per_text_shuffled": round(plain / (epochs * len(lengths)), 2),
        "padded_tokens_per_text_grouped": round(grouped / (epochs * len(lengths)), 2),
        "padding_share_shuffled": round(1 - real / plain, 3),
        "padding_share_grouped": round(1 - real / grouped, 3),
        "tokens_ratio": round(grouped / plain, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="rotten_tomatoes")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    print(json.dumps(measure(args.dataset, args.model, args.batch_size), indent=2))


if __name__ == "__main__":
    main()
