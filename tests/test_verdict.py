"""Seed-paired differences, their 95% intervals and the verdicts they support, against hand values."""

import pytest

from pipeline.study import report, verdict


def runs(accs, saving=0.467):
    return [
        {
            "seed": s,
            "test_acc": a,
            "achieved_saving": saving,
            "train_time_s": 1.0,
            "wall_time_s": 2.0,
            "lfl_gini": 0.5,
            "lfl_seen_at_most_once": 0.5,
        }
        for s, a in enumerate(accs)
    ]


def test_paired_interval_by_hand():
    # differences 0.02, 0.01, 0.04: mean 0.023333, sd 0.015275, t(0.975, 2) = 4.302653,
    # half-width 4.302653 * 0.015275 / sqrt(3) = 0.037946 -> [-0.014613, 0.061279]: undecided
    p = verdict.paired(runs([0.80, 0.82, 0.84]), runs([0.78, 0.81, 0.80]), "test_acc")
    assert p.mean == pytest.approx(0.0233333, abs=1e-6)
    assert (p.low, p.high) == (pytest.approx(-0.014613, abs=1e-5), pytest.approx(0.061279, abs=1e-5))
    assert p.seeds == 3 and not p.decided
    # differences 0.02, 0.021, 0.019: sd 0.001, half-width 0.0024842 -> [0.017516, 0.022484]: decided
    q = verdict.paired(runs([0.82, 0.821, 0.819]), runs([0.80, 0.80, 0.80]), "test_acc")
    assert (q.low, q.high) == (pytest.approx(0.017516, abs=1e-6), pytest.approx(0.022484, abs=1e-6))
    assert q.decided


def test_pairs_by_seed_not_by_position():
    a = list(reversed(runs([0.80, 0.82, 0.84])))
    assert verdict.paired(a, runs([0.78, 0.81, 0.80]), "test_acc").mean == pytest.approx(0.0233333, abs=1e-6)
    # only shared seeds count
    assert verdict.paired(runs([0.9, 0.9]), runs([0.8, 0.8, 0.8]), "test_acc").seeds == 2


def test_no_verdict_under_three_seeds():
    p = verdict.paired(runs([0.90, 0.91]), runs([0.80, 0.80]), "test_acc")
    assert p.low is not None and p.low > 0 and not p.decided  # the interval excludes 0, yet 2 seeds
    [c, _] = verdict.compare({"emp": runs([0.90, 0.91]), "random": runs([0.80, 0.80])}, 0.7, "test_acc")
    assert c.verdict() == "no verdict (< 3 seeds)"


def test_verdicts_and_best_other():
    comps = {
        c.method: c
        for c in verdict.compare(
            {
                "random": runs([0.80, 0.80, 0.80]),
                "emp": runs([0.82, 0.821, 0.819]),
                "ucb": runs([0.79, 0.80, 0.795]),
            },
            0.7,
            "test_acc",
        )
    }
    assert comps["emp"].best_other == "random" and comps["emp"].verdict() == "beats random"
    assert comps["random"].best_other == "emp" and comps["random"].verdict() == "below emp"
    assert comps["ucb"].best_other == "emp" and comps["ucb"].verdict() == "≈ random, below emp"
    assert comps["random"].vs_reference is None


def test_headline_names_the_best_method_with_its_interval():
    rows = [
        report.Row("full", 0.0, runs([0.85] * 3, 0.0)),
        report.Row("random", 0.7, runs([0.80, 0.80, 0.80])),
        report.Row("emp", 0.7, runs([0.82, 0.821, 0.819])),
        report.Row("infobatch", 0.7, runs([0.815, 0.81, 0.815], saving=0.3)),
    ]
    text = report.headline(rows, 3)
    assert text.startswith(
        "At pruning rate 0.7, over 3 seeds, emp is the most accurate method (82.00%, achieved "
        "saving 0.467): +2.00 points (95% CI +1.75 to +2.25) over random"
    )
    # the runner-up saves 0.167 less: said, since the comparison is not at equal cost
    assert "over the runner-up infobatch, at +0.167 achieved saving against infobatch" in text


def test_headline_says_when_nothing_beats_random():
    rows = [
        report.Row("full", 0.0, runs([0.85] * 3, 0.0)),
        report.Row("random", 0.7, runs([0.80, 0.80, 0.80])),
        report.Row("emp", 0.7, runs([0.80, 0.82, 0.81])),
    ]
    assert "no method is distinguishable from random: the most accurate, emp (81.00%)" in report.headline(rows, 3)
    assert report.headline(rows[:2] + [report.Row("emp", 0.7, runs([0.8, 0.9]))], 2).startswith("No verdict")
    rows[2] = report.Row("emp", 0.7, runs([0.70, 0.71, 0.69]))
    assert "random is the most accurate method" in report.headline(rows, 3)


def test_comparison_table_rows():
    rows = [
        report.Row("full", 0.0, runs([0.85] * 3, 0.0)),
        report.Row("random", 0.7, runs([0.80, 0.80, 0.80])),
        report.Row("emp", 0.7, runs([0.82, 0.821, 0.819])),
    ]
    table = report.comparison_table(rows)
    assert (
        "| 0.7 | emp | 82.00 | 0.467 | +2.00 [+1.75, +2.25] | random | +2.00 [+1.75, +2.25] | beats random |" in table
    )
    metrics = report.dvc_metrics(rows)
    emp, random = metrics["pruned70"]["emp"], metrics["pruned70"]["random"]
    assert emp["vs_random"] == pytest.approx(0.02)
    # t(0.975, 2) = 4.3027; the paired differences 0.02, 0.021, 0.019 have sd 0.001: 0.02 -/+ 4.3027 * 0.001 / sqrt(3)
    assert emp["vs_random_low"] == pytest.approx(0.017516, abs=1e-6)
    assert emp["vs_random_high"] == pytest.approx(0.022484, abs=1e-6)
    assert (random["vs_random"], random["vs_random_low"], random["vs_random_high"]) == (0.0, 0.0, 0.0)
    assert emp["best_other"] == "random" and random["best_other"] == "emp"
    assert random["vs_best_other"] == pytest.approx(-0.02)
    assert emp.keys() == random.keys()  # stable keys: every method has every field
    assert metrics["full"] == {"test_acc": pytest.approx(0.85), "test_acc_std": 0.0}
    assert report.rate_key(0.7) == "pruned70" and report.rate_key(0.875) == "pruned87_5"
    headline = report.headline_metrics(rows)
    assert headline["best_method"] == "emp" and headline["emp_vs_random"] == pytest.approx(0.02)
    assert headline["emp_vs_best_other_low"] == pytest.approx(0.017516, abs=1e-6) and headline["rate"] == 0.7
