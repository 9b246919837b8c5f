import math

import pytest
import torch

from dynaprune.signals import prediction_entropy
from dynaprune.stats import INITIAL_LOSS, SampleStats, achieved_saving, gini, lfl_diagnostics


def test_ema_mean_and_variance_by_hand():
    s = SampleStats(3, momentum=0.5)
    idx = torch.tensor([1])
    s.observe(idx, torch.tensor([1.0]), epoch=0)  # first observation: mean = x, var = 0
    assert s.mean[1] == 1.0 and s.var[1] == 0.0
    s.observe(idx, torch.tensor([3.0]), epoch=1)  # diff 2: mean 1 + 0.5*2 = 2; var 0.5*0 + 0.5*4 = 2
    assert s.mean[1] == pytest.approx(2.0) and s.var[1] == pytest.approx(2.0)
    s.observe(idx, torch.tensor([2.0]), epoch=2)  # diff 0: mean 2; var 0.5*2 + 0.5*0 = 1
    assert s.mean[1] == pytest.approx(2.0) and s.var[1] == pytest.approx(1.0)
    assert s.loss[1] == 2.0 and s.last_epoch[1] == 2 and s.visits[1] == 3
    # untouched rows keep their initial values
    assert s.loss[0] == INITIAL_LOSS and s.last_epoch[0] == -1 and s.visits[0] == 0


def test_momentum_one_makes_mean_the_last_loss():
    s = SampleStats(2, momentum=1.0)
    for value in (4.0, 1.5, 2.5):
        s.observe(torch.tensor([0]), torch.tensor([value]), epoch=0)
    assert s.mean[0] == 2.5 and s.var[0] == 1.0  # the last squared change, (2.5 - 1.5)^2


def test_a_pruned_run_starts_from_the_warmup_losses_with_no_variance():
    s = SampleStats(3, momentum=1.0, signals=("memory",))
    s.observe(torch.arange(3), torch.tensor([1.0, 2.0, 3.0]), epoch=0, memory=torch.tensor([0.1, 0.2, 0.3]))
    s.observe(torch.arange(3), torch.tensor([2.0, 2.5, 0.5]), epoch=1, memory=torch.tensor([0.4, 0.5, 0.6]))
    t = SampleStats.starting_table(s.state_dict(), momentum=0.8)
    assert t.momentum == 0.8
    assert t.mean.tolist() == [2.0, 2.5, 0.5] and t.loss.tolist() == [2.0, 2.5, 0.5]
    assert t.var.tolist() == [0.0, 0.0, 0.0]
    assert torch.allclose(t.signal("memory"), torch.tensor([0.4, 0.5, 0.6])) and t.visits.tolist() == [2, 2, 2]


def test_scoring_observation_does_not_count_a_visit():
    s = SampleStats(4)
    s.observe(torch.arange(4), torch.ones(4), epoch=0, trained=False)
    assert s.visits.tolist() == [0, 0, 0, 0]
    assert s.last_epoch.tolist() == [0, 0, 0, 0]


def test_state_dict_round_trip_with_new_momentum():
    s = SampleStats(5, momentum=1.0, signals=("memory",))
    s.observe(torch.tensor([0, 3]), torch.tensor([0.5, 2.0]), epoch=4, memory=torch.tensor([0.1, 0.2]))
    t = SampleStats.from_state_dict(s.state_dict(), momentum=0.8)
    assert t.momentum == 0.8 and list(t.signals) == ["memory"]
    for f in ("loss", "mean", "var", "last_epoch", "visits"):
        assert torch.equal(getattr(t, f), getattr(s, f))
    assert torch.equal(t.signal("memory"), s.signal("memory"))


def test_a_new_signal_is_recorded_by_name_and_missing_ones_are_refused():
    # A signal the table has never heard of (say, a gradient norm) needs no change to the table.
    s = SampleStats(3, signals=("memory", "grad_norm"))
    s.observe(
        torch.tensor([2, 0]),
        torch.tensor([1.0, 1.0]),
        epoch=0,
        memory=torch.tensor([0.5, 0.25]),
        grad_norm=torch.tensor([7.0, 3.0]),
    )
    assert s.signal("grad_norm").tolist() == [3.0, 0.0, 7.0] and s.signal("memory").tolist() == [0.25, 0.0, 0.5]
    with pytest.raises(ValueError, match="got signals"):
        s.observe(torch.tensor([1]), torch.tensor([1.0]), epoch=1, memory=torch.tensor([0.1]))  # grad_norm missing
    with pytest.raises(KeyError, match="no signal 'forgetting'"):
        s.signal("forgetting")
    with pytest.raises(ValueError, match="taken"):
        SampleStats(3, signals=("loss",))


def test_entropy_of_one_hot_and_uniform_predictions():
    one_hot = torch.tensor([[200.0, 0.0, 0.0, 0.0]])
    uniform = torch.zeros(1, 4)
    assert prediction_entropy(one_hot).item() == pytest.approx(0.0, abs=1e-6)
    assert prediction_entropy(uniform).item() == pytest.approx(math.log(4))


def test_gini_by_hand():
    assert gini(torch.tensor([2, 2, 2, 2])) == pytest.approx(0.0)
    # sorted [0,0,0,4]: 2*(4*4)/(4*4) - 5/4 = 0.75
    assert gini(torch.tensor([4, 0, 0, 0])) == pytest.approx(0.75)
    # [1,2,3]: 2*(1+4+9)/(3*6) - 4/3 = 28/18 - 24/18 = 2/9
    assert gini(torch.tensor([3, 1, 2])) == pytest.approx(2 / 9)


def test_lfl_diagnostics_remove_warmup_visits():
    visits = torch.tensor([2, 2, 3, 6])  # W = 2 -> pruned-phase visits [0, 0, 1, 4]
    d = lfl_diagnostics(visits, warmup_epochs=2)
    assert d["visit_histogram"] == [2, 1, 0, 0, 1]
    assert d["lfl_seen_at_most_once"] == pytest.approx(0.75)
    assert d["lfl_gini"] == pytest.approx(gini(torch.tensor([0, 0, 1, 4])))


def test_achieved_saving_arithmetic():
    # N=100, E=10: 2 warm-up epochs of 100 and 8 pruned epochs of 30 -> 440 of 1000 sample-steps
    assert achieved_saving(2 * 100 + 8 * 30, 100, 10) == pytest.approx(0.56)
    assert achieved_saving(1000, 100, 10) == 0.0


def test_cost_saving_weights_each_visit_by_its_samples_cost():
    from dynaprune.stats import cost_saving

    # 3 samples costing 1, 2 and 5 tokens over 2 epochs (full: 16 tokens); trained 2, 1 and 0 times: 1*2 + 2*1 = 4
    assert cost_saving(torch.tensor([2, 1, 0]), torch.tensor([1, 2, 5]), epochs=2) == pytest.approx(1 - 4 / 16)
