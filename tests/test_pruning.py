"""Each method's selection on hand-made statistics tables."""

from pathlib import Path

import pytest
import torch
import yaml

from dynaprune import pruning
from dynaprune.pruning import EpochPlan, keep_count
from dynaprune.seeding import generator
from dynaprune.stats import SampleStats
from pipeline.core.errors import ConfigError


def table(loss=None, mean=None, var=None, memory=None) -> SampleStats:
    n = len(next(v for v in (loss, mean, var, memory) if v is not None))
    s = SampleStats(n, signals=("memory",))
    for column, values in ((s.loss, loss), (s.mean, mean), (s.var, var), (s.signal("memory"), memory)):
        if values is not None:
            column.copy_(torch.tensor(values, dtype=torch.float32))
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


def test_every_registered_method_is_configured_and_documented():
    # Registering a method is not the whole of adding one: params.yaml gives it an entry (its
    # defaults, in the grids' reach) and docs/methods.md says what it computes.
    root = Path(__file__).resolve().parents[1]
    entries = yaml.safe_load((root / "params.yaml").read_text())["methods"]
    docs = (root / "docs" / "methods.md").read_text()
    for name in pruning.REGISTRY:
        assert name in entries, f"{name} has no entry under methods in params.yaml"
        assert f"`{name}`" in docs, f"{name} is not described in docs/methods.md"


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


def test_static_random_keeps_each_class_share():
    # classes of 10, 20 and 30 samples at s = 0.5 keep 5, 10 and 15; of 5 and 7 at s = 0.7 keep
    # round(1.5) = 2 (halves up) and round(2.1) = 2
    labels = torch.tensor([0] * 10 + [1] * 20 + [2] * 30)[
        torch.randperm(60, generator=torch.Generator().manual_seed(0))
    ]
    m = pruning.create("static_random", None, 0.5, 60, seed=0, labels=labels)
    sel = pick(m, table(loss=[1.0] * 60))
    assert torch.bincount(labels[sel.indices]).tolist() == [5, 10, 15]
    assert len(as_set(sel.indices)) == 30
    small = torch.tensor([0] * 5 + [1] * 7)
    sel = pick(pruning.create("static_random", None, 0.7, 12, seed=0, labels=small), table(loss=[1.0] * 12))
    assert torch.bincount(small[sel.indices]).tolist() == [2, 2]
    # without labels (SimCLR) or with per_class off: K uniform over all N, classes ignored
    assert len(pick(make("static_random", 0.5, 60), table(loss=[1.0] * 60))) == 30
    off = pruning.create(
        "static_random",
        pruning.parse_options("static_random", {"per_class": False}, ""),
        0.5,
        60,
        seed=0,
        labels=labels,
    )
    assert len(pick(off, table(loss=[1.0] * 60))) == 30


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


def test_ucb_statistics_follow_the_reference_update_on_a_three_step_stream():
    # m = 0.8 on the new value; losses 1, 3, 2 of one sample:
    #   x=1: first observation: mu = 1, v = 0
    #   x=3: d = 3 - 1 = 2;     v = 0.2*0 + 0.8*4 = 3.2;        mu = 0.2*1 + 0.8*3 = 2.6
    #   x=2: d = 2 - 2.6 = -0.6; v = 0.2*3.2 + 0.8*0.36 = 0.928; mu = 0.2*2.6 + 0.8*2 = 2.12
    # (the textbook form (1 - m)(v + m d^2) would give v = 0.64 after the second step)
    s = SampleStats(2, momentum=pruning.method_class("ucb").Options().ema_momentum())
    idx = torch.tensor([0])
    expected = [(1.0, 0.0), (2.6, 3.2), (2.12, 0.928)]
    for epoch, (x, (mu, v)) in enumerate(zip((1.0, 3.0, 2.0), expected)):
        s.observe(idx, torch.tensor([x]), epoch)
        assert s.mean[0].item() == pytest.approx(mu) and s.var[0].item() == pytest.approx(v)
    # score = mu + c * v = 2.12 + 0.928
    assert make("ucb", 0.5, 2).score(s)[0].item() == pytest.approx(3.048)


def test_ucb_explores_only_when_asked():
    mean = [float(i) for i in range(20)]
    assert as_set(pick(make("ucb", 0.5, 20), table(mean=mean, var=[0.0] * 20)).indices) == set(range(10, 20))
    explored = as_set(pick(make("ucb", 0.5, 20, epsilon=0.2), table(mean=mean, var=[0.0] * 20)).indices)
    assert len(explored) == 10 and set(range(12, 20)) <= explored and len(explored - set(range(12, 20))) == 2


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


@pytest.mark.parametrize(
    "epochs, warmup, full_epochs",
    [
        (6, 2, [5]),  # floor(0.875 * 6) = floor(5.25) = 5: the last epoch is full, as in the authors' sampler
        (8, 2, [7]),  # floor(7.0) = 7 (0.875 * 8 computed as 6.9999... must still give 7)
        (200, 2, list(range(175, 200))),  # the last 25 epochs
    ],
)
def test_infobatch_full_epochs_start_at_floor_delta_e(epochs, warmup, full_epochs):
    plan = EpochPlan(make("infobatch", 0.7, 10), epochs=epochs, warmup_epochs=warmup, seed=0)
    assert [e for e in range(warmup, epochs) if not plan.is_pruned(e)] == full_epochs
    s = table(loss=[0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0, 5.0, 6.0, 8.0])
    assert plan.select(full_epochs[0] - 1, s).weights is not None
    last = plan.select(full_epochs[0], s)
    assert last.weights is None and last.indices.tolist() == list(range(10))


def test_infobatch_annealing_when_e_delta_is_not_an_integer():
    # E=10, delta=0.875: floor(8.75) = 8 -> epochs 2..7 pruned, 8 and 9 full with weight 1 (no stale weights)
    m = make("infobatch", 0.5, 10)
    plan = EpochPlan(m, epochs=10, warmup_epochs=2, seed=0)
    s = table(loss=[0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 3.0, 5.0, 6.0, 8.0])
    assert [plan.is_pruned(e) for e in range(10)] == [False, False] + [True] * 6 + [False, False]
    assert plan.select(7, s).weights is not None and len(plan.select(7, s)) == 7
    last = plan.select(8, s)
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
    plan = EpochPlan(make("emp", 0.7, 10, anneal=True, delta=0.5), epochs=7, warmup_epochs=1, seed=0)
    # floor(0.5 * 7) = 3: epochs 1 and 2 pruned, 3..6 full
    assert [plan.is_pruned(e) for e in range(7)] == [False, True, True, False, False, False, False]


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


def test_rs2_trains_every_sample_once_before_any_twice():
    # N = 10, s = 0.6 -> K = 4: selections straddle the end of a permutation (10 is not a multiple of 4)
    m = make("rs2", 0.6, 10, seed=3)
    s = table(loss=[1.0] * 10)
    counts = torch.zeros(10, dtype=torch.long)
    seen = []
    for draw in range(12):
        sel = m.select(draw, s, generator(3, "select", draw))
        assert len(sel) == 4 and len(as_set(sel.indices)) == 4  # exactly K, no sample twice in one epoch
        seen.append(sel.indices.clone())
        for i in sel.indices.tolist():
            counts[i] += 1
            # after any prefix of the stream, visit counts differ by at most one
            assert counts.max() - counts.min() <= 1
    # the first 10 samples of the stream (draws 0, 1 and half of 2) are a permutation of all 10
    assert sorted(torch.cat(seen)[:10].tolist()) == list(range(10))
    # a fresh instance (a resumed run) continues the same stream; another seed walks another one
    assert torch.equal(make("rs2", 0.6, 10, seed=3).select(9, s, generator(3, "select", 9)).indices, seen[9])
    assert not torch.equal(make("rs2", 0.6, 10, seed=4).select(0, s, generator(4, "select", 0)).indices, seen[0])


def test_rs2_under_the_plan_counts_draws_from_the_first_pruned_epoch():
    plan = EpochPlan(make("rs2", 0.5, 8), epochs=6, warmup_epochs=2, seed=0)
    s = table(loss=[1.0] * 8)
    a, b = plan.select(2, s).indices, plan.select(3, s).indices
    assert sorted(torch.cat([a, b]).tolist()) == list(range(8))  # epochs 2 and 3 cover the data once


@pytest.mark.parametrize(
    "groups, window, expected",
    [
        # G = 5, w = 0.9: round(4.5) = 4 (halves to even, as the authors' Python round); slide 1
        (5, 0.9, [range(0, 5), range(1, 5), range(0, 4), range(1, 5), range(0, 4)]),
        # G = 10, w = 0.5: window 5, start = t mod 6
        (
            10,
            0.5,
            [range(0, 10), range(1, 6), range(2, 7), range(3, 8), range(4, 9), range(5, 10), range(0, 5), range(1, 6)],
        ),
    ],
)
def test_seta_window_sequence(groups, window, expected):
    assert [pruning.seta.window_groups(t, groups, window) for t in range(len(expected))] == expected


def test_kmeans_1d_by_hand_and_against_scikit_learn():
    values = torch.tensor([5.0, 0.1, 10.0, 0.2, 5.1, 0.15, 9.9])
    assert pruning.seta.kmeans_1d(values, 3).tolist() == [1, 0, 2, 0, 1, 0, 2]
    assert pruning.seta.kmeans_1d(torch.tensor([2.0, 2.0, 1.0]), 5).tolist() == [1, 1, 0]  # fewer values than groups
    from sklearn.cluster import KMeans

    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(300, generator=g) * 0.3 + c for c in (0.0, 2.0, 4.0, 7.0, 11.0)])
    ours = pruning.seta.kmeans_1d(x, 5)
    km = KMeans(n_clusters=5, random_state=0, n_init=10).fit(x.double().numpy()[:, None])
    rank = torch.tensor(km.cluster_centers_[:, 0]).argsort().argsort()  # their groups, by ascending centre
    assert torch.equal(ours, rank[torch.tensor(km.labels_)])


def test_seta_keeps_a_random_share_then_slides_its_window_easy_to_hard():
    # N = 90, s = 0.7, w = 0.9: s_r = 1 - 0.3/0.9, the random share keeps int(90 / 3) = 30
    losses = [float(i % 5) * 10 + 0.01 * i for i in range(90)]  # five well-separated loss levels
    m = make("seta", 0.7, 90)
    assert m.keep_ratio == pytest.approx(1 / 3)
    s = table(loss=losses)
    first = pick(m, s, epoch=0)
    assert len(first) == 30 and first.weights is not None  # the first pruned epoch keeps every group
    level = lambda idx: {int(losses[i] // 10) for i in idx.tolist()}
    assert level(first.indices) == {0, 1, 2, 3, 4}
    assert level(pick(m, s, epoch=1).indices) == {1, 2, 3, 4}  # window 4 of 5 starting at 1: the easiest dropped
    assert level(pick(m, s, epoch=2).indices) == {0, 1, 2, 3}  # then starting at 0: the hardest dropped
    # annealing (floor(0.875 * 8) = 7): a fresh random share of 30, weight 1, not all data
    plan = EpochPlan(m, epochs=8, warmup_epochs=2, seed=0)
    assert [plan.is_pruned(e) for e in range(8)] == [False, False] + [True] * 5 + [False]
    last = plan.select(7, s)
    assert len(last) == 30 and last.weights is None and len(as_set(last.indices)) == 30
    # SeTa does not rescale by default
    assert plan.select(3, s).weights is None


def test_orderdp_keeps_the_top_k_of_a_random_share_by_hand():
    # N = 4, losses 4 > 3 > 2 > 1, rate 0.5 (K = 2), subset 0.75 (3 drawn, one left out at random):
    # leaving out 0 keeps {1, 2}, leaving out 1 keeps {0, 2}, leaving out 2 or 3 keeps {0, 1}, so the
    # subsets come with probabilities 1/4, 1/4 and 1/2 (never a top-K of all 4 every time).
    m, stats = make("orderdp", 0.5, 4, subset=0.75), table(loss=[4.0, 3.0, 2.0, 1.0])
    assert (m.k, m.subset_size) == (2, 3)
    counts: dict[tuple, int] = {}
    for epoch in range(4000):
        sel = pick(m, stats, epoch=epoch)
        assert torch.equal(sel.weights, torch.full((2,), 2.0))  # 1/(1 - s), used only with rescale
        key = tuple(sorted(sel.indices.tolist()))
        counts[key] = counts.get(key, 0) + 1
    assert counts.keys() == {(1, 2), (0, 2), (0, 1)}
    for key, p in (((1, 2), 0.25), ((0, 2), 0.25), ((0, 1), 0.5)):
        assert counts[key] / 4000 == pytest.approx(p, abs=0.03), counts


def test_orderdp_with_the_whole_set_drawn_is_top_k_and_its_saving_is_the_rate():
    sel = pick(make("orderdp", 0.7, 10, subset=1.0), table(loss=[0, 9, 1, 8, 2, 7, 3, 6, 4, 5]))
    assert as_set(sel.indices) == {1, 3, 5}  # the 3 highest losses 9, 8, 7
    # Authors' defaults: no rescaling and no annealing, K = round(0.3 * N) every pruned epoch.
    plan = EpochPlan(make("orderdp", 0.7, 1000), epochs=8, warmup_epochs=2, seed=0)
    stats = SampleStats(1000)
    sizes = [len(plan.select(e, stats)) for e in range(8)]
    assert sizes == [1000] * 2 + [300] * 6 and plan.select(5, stats).weights is None


def test_orderdp_refuses_a_rate_that_keeps_more_than_its_random_share():
    with pytest.raises(ConfigError, match="set its subset to at least 0.9"):
        make("orderdp", 0.1, 100, subset=0.8)
    make("orderdp", 0.2, 100, subset=0.8)  # keeps exactly the share drawn: allowed
