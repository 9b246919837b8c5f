"""dynaprune.Pruner refuses what would train the wrong samples without a word, in one line that
names the fix, and resumes: a run interrupted and continued from its state_dict (at an epoch's
end, or within an epoch) trains exactly the indices, order and weights of an uninterrupted run and
ends with the same statistics table."""

import io
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from dynaprune import Pruner, WithIndex, pruning

N, CLASSES, EPOCHS, WARMUP, BATCH = 140, 4, 6, 2, 32


def dataset(n: int = N) -> TensorDataset:
    x = torch.randn(n, 8, generator=torch.Generator().manual_seed(0))
    return TensorDataset(x, (x @ torch.randn(8, CLASSES, generator=torch.Generator().manual_seed(1))).argmax(1))


def pruner(method: str = "emp", **kwargs) -> Pruner:
    labels = dataset().tensors[1] if method == "static_random" else None
    settings = {"num_samples": N, "rate": 0.7, "epochs": EPOCHS, "warmup_epochs": WARMUP, "labels": labels}
    return Pruner(method, **{**settings, **kwargs})


def test_a_dataset_of_another_length_is_refused_before_any_sample_trains():
    with pytest.raises(
        ValueError, match=r"^the dataset has 1400 samples but the Pruner was made for num_samples=140: "
    ):
        pruner().loader(dataset(1400), batch_size=BATCH)
    # built by hand, a num_samples larger than the dataset names the fix at the first missing sample
    loader = DataLoader(WithIndex(dataset(100)), batch_size=BATCH, sampler=pruner().sampler)
    p = loader.sampler.pruner
    p.set_epoch(0)
    with pytest.raises(IndexError, match=r"^sample 1\d\d is beyond this dataset's 100 samples: .*num_samples"):
        list(loader)
    with pytest.raises(ValueError, match="pruner.loader sets the sampler itself"):
        pruner().loader(dataset(), batch_size=BATCH, shuffle=True)
    with pytest.raises(ValueError, match="num_samples must be the dataset's length, a positive int"):
        Pruner("emp", num_samples=0, rate=0.7, epochs=EPOCHS)


def test_epochs_outside_the_run_or_out_of_order_are_refused():
    p = pruner()
    with pytest.raises(ValueError, match=r"epoch 6 is outside this Pruner's 6 epochs \(0 to 5\): loop over range"):
        p.set_epoch(EPOCHS)  # a 7th epoch would train all data without a word
    with pytest.raises(ValueError, match=r"set_epoch\(3\) before any epoch: every epoch is drawn once, in order"):
        p.set_epoch(3)  # skipping epochs: the table would miss them
    for epoch in range(4):
        p.set_epoch(epoch)
    p.set_epoch(3)  # announced again: nothing changes
    assert p.epoch_sizes == {0: N, 1: N, 2: round(0.3 * N), 3: round(0.3 * N)}
    with pytest.raises(
        ValueError, match=r"set_epoch\(2\) after epoch 3: every epoch is drawn once, in order \(the next is 4"
    ):
        p.set_epoch(2)


def test_a_loader_iterated_again_without_set_epoch_is_refused():
    p = pruner()
    loader = p.loader(dataset(), batch_size=BATCH)
    p.set_epoch(0)
    assert sum(len(idx) for idx, _, _ in loader) == N
    with pytest.raises(RuntimeError, match=r"iterated again in epoch 0 without a new set_epoch: call pruner.set_epoch"):
        list(loader)  # set_epoch called once, then looped on: every epoch would train epoch 0's selection
    p.set_epoch(1)
    assert sum(len(idx) for idx, _, _ in loader) == N


def test_labels_of_the_wrong_length_or_missing_for_a_per_class_method_are_refused():
    with pytest.raises(ValueError, match=r"^labels has shape \(100,\): pass one class per sample, shape \(140,\)$"):
        pruner("static_random", labels=torch.zeros(100, dtype=torch.long))
    with pytest.raises(ValueError, match=r"method 'static_random' draws per class: pass labels=.*'per_class': False"):
        pruner("static_random", labels=None)
    uniform = pruner("static_random", labels=None, options={"per_class": False})
    for epoch in range(WARMUP + 1):
        uniform.set_epoch(epoch)
    assert len(uniform.epoch_indices()) == round(0.3 * N)


def run(p: Pruner, model, opt, start: int, stop: int, log: list, skip: int = 0, stop_after: int | None = None):
    """Train epochs [start, stop) of a plain loop, logging each batch's indices and weights; `skip`
    batches of the first epoch were trained already (a resume within it); `stop_after` batches of
    the last epoch are trained (an interruption within it)."""
    loader = p.loader(dataset(), batch_size=BATCH)
    for epoch in range(start, stop):
        p.set_epoch(epoch)
        batches = iter(loader)
        first = skip if epoch == start else 0
        last = stop_after if epoch == stop - 1 else None
        for idx, x, y in itertools.islice(batches, first, last):
            logits = model(x)
            w = p.weights(idx)
            log.append((epoch, idx.tolist(), None if w is None else w.tolist()))
            loss = p.loss(idx, F.cross_entropy(logits, y, reduction="none"), logits=logits)
            opt.zero_grad()
            loss.backward()
            opt.step()


def fresh(method: str):
    torch.manual_seed(0)
    model = torch.nn.Linear(8, CLASSES)
    return pruner(method), model, torch.optim.SGD(model.parameters(), lr=0.1)


def saved(*objects) -> list:
    """The objects' state dicts through torch.save and torch.load, as a checkpoint file holds them."""
    buffer = io.BytesIO()
    torch.save([o.state_dict() for o in objects], buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("method", sorted(pruning.REGISTRY))
@pytest.mark.parametrize("where", ["at an epoch's end", "within an epoch"])
def test_a_resumed_run_trains_what_an_uninterrupted_one_does(method, where):
    p, model, opt = fresh(method)
    whole: list = []
    run(p, model, opt, 0, EPOCHS, whole)
    table = p.stats.state_dict()

    p, model, opt = fresh(method)
    parts: list = []
    cut, within = (3, None) if where == "at an epoch's end" else (4, 2)  # epoch 3 is pruned
    run(p, model, opt, 0, cut + (within is not None), parts, stop_after=within)
    states = saved(p, model, opt)
    p, model, opt = fresh(method)
    for obj, state in zip((p, model, opt), states):
        obj.load_state_dict(state)
    if within is None:
        run(p, model, opt, cut, EPOCHS, parts)
    else:
        run(p, model, opt, cut, EPOCHS, parts, skip=within)
    assert parts == whole
    assert all(torch.equal(p.stats.state_dict()[k], v) for k, v in table.items() if torch.is_tensor(v))


def test_a_state_from_another_run_is_refused():
    state = pruner().state_dict()
    with pytest.raises(ValueError, match=r"the state is of another run \(rate 0.7 there, 0.5 here\)"):
        pruner(rate=0.5).load_state_dict(state)


def test_with_index_leads_each_item_with_its_index():
    data = dataset()
    x, y = data[3]
    idx, x3, y3 = WithIndex(data)[3]  # a tuple item is spread: (index, x, y), as a plain loop unpacks it
    assert idx == 3 and torch.equal(x3, x) and torch.equal(y3, y)
    idx, item = WithIndex(data, unpack=False)[3]  # kept whole, as the Trainer integration's collator takes it
    assert idx == 3 and torch.equal(item[0], x) and torch.equal(item[1], y)
