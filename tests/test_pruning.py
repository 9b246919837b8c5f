"""Each method's selection on hand-made statistics tables."""


import pytest
import torch

from pipeline import pruning
from pipeline.pruning import EpochPlan, keep_count
from pipeline.seeding import generator
from pipeline.stats import SampleStats


def table(loss=None, mean=None, var=None, memory=None) -> SampleStats:
    n = len(next(v for v in (loss, mean, var, memory) if v is not None))
    s = SampleStats(n)
    for name, values in (("loss", loss), ("mean", mean), ("var", var), ("memory", memory)):
        if values is not None:
            getattr(s, name).copy_(torch.tensor(values, dtype=torch.float32))
    s.last_epoch.fill_(0)
    return s


def make(name, rate, n, seed=0, **options):
    cls = pruning.method_class(name)
    return cls(cls.Options(**options), rate, n, seed)


def pick(method, stats, epoch=2, seed=0):
    return method.select(epoch, stats, generator(seed, "select", epoch))


def as_set(t: torch.Tensor) -> set[int]:
    return set(t.tolist())


def test_keep_count_rounds_half_up():
    assert keep_count(0.7, 10) == 3
    assert keep_count(0.5, 5) == 3  # 2.5 -> 3 (Python's round would give 2)
    assert keep_count(0.0, 7) == 7
    assert keep_count(0.3, 1347) == 943


def test_registry_holds_every_method():
    assert set(pruning.REGISTRY) == {"full", "random", "static_random", "epsilon_greedy", "ucb", "infobatch", "emp"}


def test_full_keeps_everything_whatever_the_rate():
    sel = pick(make("full", 0.7, 6), table(loss=[1.0] * 6))
    assert sel.indices.tolist() == [0, 1, 2, 3, 4, 5]


def test_random_is_a_fresh_uniform_subset_each_epoch():
    m = make("random", 0.7, 100)
    s = table(loss=[1.0] * 100)
    a, b, a_again = pick(m, s, epoch=2), pick(m, s, epoch=3), pick(m, s, epoch=2)
    assert len(a) == 30 and len(as_set(a.indices)) == 30
    assert torch.equal(a.indices, a_again.indices)  # same (seed, epoch) -> same subset
    assert as_set(a.indices) != as_set(b.indices)
    assert as_set(pick(m, s, epoch=2, seed=1).indices) != as_set(a.indices)


def test_static_random_draws_once():
    m = make("static_random", 0.5, 40)
    s = table(loss=[1.0] * 40)
    first = pick(m, s, epoch=2)
    assert len(first) == 20
    for epoch in (3, 7):
        assert torch.equal(pick(m, s, epoch=epoch).indices, first.indices)
    # a fresh instance (e.g. a resumed run) redraws the very same subset
    assert torch.equal(pick(make("static_random", 0.5, 40), s, epoch=5).indices, first.indices)


def test_epsilon_greedy_top_and_exploration_share():
    # N=20, s=0.5 -> K=10; eps=0.2 -> 2 explored, 8 by score. Loss of sample i is i: top 8 = 12..19.
    losses = [float(i) for i in range(20)]
    m = make("epsilon_greedy", 0.5, 20, epsilon=0.2)
    sel = pick(m, table(loss=losses, mean=losses))
    chosen = as_set(sel.indices)
    assert len(sel) == 10 and len(chosen) == 10
    assert set(range(12, 20)) <= chosen
    explored = chosen - set(range(12, 20))
    assert len(explored) == 2 and explored <= set(range(12))
    # different epochs explore differently, the greedy part stays
    other = as_set(pick(m, table(loss=losses, mean=losses), epoch=5).indices)
    assert set(range(12, 20)) <= other


def test_epsilon_zero_is_pure_top_k():
    losses = [0.3, 2.0, 0.1, 5.0, 1.0]
    sel = pick(make("epsilon_greedy", 0.6, 5, epsilon=0.0), table(mean=losses))
    assert as_set(sel.indices) == {1, 3}


def test_ucb_score_formula_and_top_k():
    mean = [1.0, 2.0, 0.5, 1.5]
    var = [4.0, 0.0, 9.0, 1.0]
    # c=1: mean + var = [5, 2, 9.5, 2.5] -> top 2 = {2, 0}
    assert as_set(pick(make("ucb", 0.5, 4, c=1.0), table(mean=mean, var=var)).indices) == {0, 2}
    # c=0.1: [1.4, 2.0, 1.4, 1.6] -> top 2 = {1, 3}
    assert as_set(pick(make("ucb", 0.5, 4, c=0.1), table(mean=mean, var=var)).indices) == {1, 3}
    # sqrt switch, c=1: mean + sqrt(var) = [3, 2, 3.5, 2.5] -> top 2 = {2, 0}; K=3 adds 3
    assert as_set(pick(make("ucb", 0.25, 4, c=1.0, sqrt=True), table(mean=mean, var=var)).indices) == {0, 2, 3}
    m = make("ucb", 0.5, 4, c=2.0)
    assert torch.allclose(m.score(table(mean=mean, var=var)), torch.tensor([9.0, 2.0, 18.5, 3.5]))


def test_infobatch_below_mean_set_and_weights():
    # mean loss = 3.0; well-learned (below mean) = {0,1,2,3,4,5} (losses 0.5..2.0), the rest >= mean
    losses = [0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0, 5.0, 6.0, 8.0]
    assert sum(losses) / len(losses) == 3.0
    m = make("infobatch", 0.5, 10)
    sel = pick(m, table(loss=losses))
    chosen = sel.indices.tolist()
    assert {6, 7, 8, 9} <= set(chosen)  # at or above the mean: always kept, 3.0 included
    kept_easy = [i for i in chosen if i < 6]
    assert len(kept_easy) == 3  # round((1 - 0.5) * 6)
    weight = dict(zip(chosen, sel.weights.tolist()))
    assert all(weight[i] == 1.0 for i in (6, 7, 8, 9))
    assert all(weight[i] == pytest.approx(2.0) for i in kept_easy)  # 1 / (1 - r)


def test_infobatch_annealing_when_e_delta_is_not_an_integer():
    # E=10, delta=0.875: 8.75 -> epochs 2..8 pruned, epoch 9 full with weight 1 (no stale weights)
    m = make("infobatch", 0.5, 10)
    plan = EpochPlan(m, epochs=10, warmup_epochs=2, seed=0)
    s = table(loss=[0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0, 5.0, 6.0, 8.0])
    assert [plan.is_pruned(e) for e in range(10)] == [False, False] + [True] * 7 + [False]
    assert plan.select(8, s).weights is not None and len(plan.select(8, s)) == 7
    last = plan.select(9, s)
    assert last.weights is None and last.indices.tolist() == list(range(10))
    # E=8, delta=0.875: exactly 7 -> epoch 7 is the first full one (no off-by-one)
    plan8 = EpochPlan(m, epochs=8, warmup_epochs=1, seed=0)
    assert [plan8.is_pruned(e) for e in range(8)] == [False] + [True] * 6 + [False]


def test_rescaling_is_a_switch():
    s = table(loss=[1.0] * 10)
    on = EpochPlan(make("random", 0.6, 10, rescale=True), 10, 1, 0).select(3, s)
    off = EpochPlan(make("random", 0.6, 10), 10, 1, 0).select(3, s)
    assert torch.allclose(on.weights, torch.full((4,), 2.5))
    assert off.weights is None
    assert EpochPlan(make("infobatch", 0.5, 10, rescale=False), 10, 1, 0).select(3, s).weights is None


def test_annealing_is_a_switch_for_any_method():
    plan = EpochPlan(make("emp", 0.7, 10, anneal=True, delta=0.5), epochs=6, warmup_epochs=1, seed=0)
    assert [plan.is_pruned(e) for e in range(6)] == [False, True, True, False, False, False]


def test_warmup_epochs_use_all_data():
    plan = EpochPlan(make("ucb", 0.9, 10), epochs=5, warmup_epochs=2, seed=0)
    s = table(mean=[1.0] * 10, var=[0.0] * 10)
    assert len(plan.select(0, s)) == 10 and len(plan.select(1, s)) == 10 and len(plan.select(2, s)) == 1


def test_select_every_reuses_the_subset_between_draws():
    plan = EpochPlan(make("random", 0.5, 50, select_every=3), epochs=12, warmup_epochs=2, seed=0)
    s = table(loss=[1.0] * 50)
    subsets = [as_set(plan.select(e, s).indices) for e in range(2, 9)]
    assert subsets[0] == subsets[1] == subsets[2]
    assert subsets[3] == subsets[4] == subsets[5] != subsets[0]
    assert subsets[6] != subsets[3]


def test_emp_with_beta_zero_selects_exactly_what_epsilon_greedy_selects():
    g = torch.Generator().manual_seed(0)
    losses, memory = torch.rand(200, generator=g).tolist(), torch.rand(200, generator=g).tolist()
    s = table(loss=losses, mean=losses, memory=memory)
    for epoch in (2, 3, 9):
        a = pick(make("emp", 0.7, 200, beta=0.0), s, epoch=epoch)
        b = pick(make("epsilon_greedy", 0.7, 200), s, epoch=epoch)
        assert torch.equal(a.indices, b.indices)
    assert not torch.equal(pick(make("emp", 0.7, 200, beta=1.0), s).indices, b.indices)


def test_emp_score_adds_the_memory_term():
    # equal losses: the memory term decides; beta > 0 favours high entropy, beta < 0 low entropy
    s = table(mean=[1.0] * 4, memory=[0.1, 2.0, 0.5, 1.5])
    assert as_set(pick(make("emp", 0.5, 4, beta=1.0, epsilon=0.0), s).indices) == {1, 3}
    assert as_set(pick(make("emp", 0.5, 4, beta=-1.0, epsilon=0.0), s).indices) == {0, 2}
    m = make("emp", 0.5, 4, beta=2.0)
    assert torch.allclose(m.score(s), torch.tensor([1.2, 5.0, 2.0, 4.0]))


def test_selection_is_deterministic_given_seed_and_epoch():
    losses = torch.rand(500, generator=torch.Generator().manual_seed(1)).tolist()
    s = table(loss=losses, mean=losses, memory=losses[::-1])
    for name in ("random", "epsilon_greedy", "infobatch", "emp"):
        a = EpochPlan(make(name, 0.7, 500), 10, 1, seed=3).select(4, s)
        b = EpochPlan(make(name, 0.7, 500), 10, 1, seed=3).select(4, s)
        assert torch.equal(a.indices, b.indices), name


def test_top_k_breaks_ties_by_lower_index():
    s = table(mean=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert pick(make("ucb", 0.5, 6), s).indices.tolist() == [0, 1, 2]


@pytest.mark.parametrize("count", [0, 1, 37, 500, 999, 1000])
def test_top_k_equals_a_stable_sort_with_many_ties(count):
    # Scores in 0..9 on 1000 samples: every threshold is a tie of ~100 samples.
    score = torch.randint(0, 10, (1000,), generator=torch.Generator().manual_seed(count)).float()
    expected = torch.sort(score, descending=True, stable=True).indices[:count].sort().values
    assert torch.equal(pruning.base.top_k(score, count), expected)


def test_a_restored_plan_keeps_training_the_subset_it_drew():
    # select_every 3: the subset drawn at epoch 2 serves epochs 2-4. A plan restored at epoch 3
    # (a resumed run) must keep it, even though the table has changed since it was drawn.
    losses = [float(i) for i in range(20)]
    plan = EpochPlan(make("ucb", 0.5, 20, select_every=3), 10, 2, seed=0)
    drawn = plan.select(2, table(mean=losses)).indices
    restored = EpochPlan(make("ucb", 0.5, 20, select_every=3), 10, 2, seed=0)
    restored.load_state_dict(plan.state_dict(), torch.device("cpu"))
    reversed_table = table(mean=losses[::-1])
    assert torch.equal(restored.select(3, reversed_table).indices, drawn)
    assert as_set(restored.select(5, reversed_table).indices) == set(range(10))  # a new draw at epoch 5
