"""The verdict in words, the table and the metrics built from the equal-cost comparison, on hand values."""

import matplotlib.pyplot as plt
import pytest

from pipeline.study import plots, report, report_plots, verdict


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


FULL = report.Row("full", 0.0, runs([0.85] * 3, 0.0))
RANDOM = report.Row("random", 0.7, runs([0.80, 0.80, 0.80]))


def test_a_decided_winner():
    rows = [
        FULL,
        RANDOM,
        report.Row("emp", 0.7, runs([0.82, 0.821, 0.819])),
        report.Row("rs2", 0.7, runs([0.81, 0.80, 0.805])),
        report.Row("infobatch", 0.7, runs([0.83, 0.83, 0.83], saving=0.24)),
    ]
    [b] = report.budgets(rows)
    text = verdict.sentence(b)
    # emp - random: 0.02, 0.021, 0.019 -> sd 0.001, half 4.302653 * 0.001 / sqrt 3 = 0.0024842
    # emp - rs2: 0.01, 0.021, 0.014 -> mean 0.015, sd 0.0055678, half 0.0138312
    assert text.startswith(
        "Skipping 46.7% of the training (random's saving at rate 0.7): emp is the most accurate, 82.00% "
        "(3.00 points below full data); against the runner-up rs2: +1.50 points, above (95% interval "
        "+0.12 to +2.88); against random: +2.00 points, above (95% interval +1.75 to +2.25)."
    )
    # rs2 - random: 0.01, 0, 0.005 -> t = 1.732, p = 1 - 1.732 / sqrt 5 = 0.23 > 0.05 (emp: p < 0.001 <= 0.05 / 2)
    assert "After correcting for 2 comparisons: above random, emp (+2.00 points); the other 1 is inconclusive." in text
    assert text.endswith("Not reaching this saving: infobatch (at most 24%).")


def test_nothing_distinguishable_from_random():
    rows = [FULL, RANDOM, report.Row("emp", 0.7, runs([0.80, 0.82, 0.81]))]
    [b] = report.budgets(rows)
    # emp - random: 0, 0.02, 0.01 -> mean 0.01, sd 0.01, half 0.0248414: interval -1.48 to +3.48 points
    assert verdict.sentence(b).endswith(
        "No method is distinguishable from random: every interval against it lies within ±3.48 points."
    )
    assert "inconclusive: +1.00 (±2.48)" in verdict.table([b])


def test_nothing_distinguishable_is_decided_from_every_methods_interval():
    # The most accurate (emp) is inconclusive, but ucb is clearly below random: not "no method is
    # distinguishable" (the old headline looked at the most accurate method alone).
    rows = [
        FULL,
        RANDOM,
        report.Row("emp", 0.7, runs([0.80, 0.83, 0.81])),
        report.Row("ucb", 0.7, runs([0.70, 0.701, 0.699])),
    ]
    [b] = report.budgets(rows)
    text = verdict.sentence(b)
    assert "No method is distinguishable" not in text
    assert "below random, ucb (-10.00 points); the other 1 is inconclusive." in text
    # random itself the most accurate, one method below it: said, not "no method is distinguishable"
    rows[2] = report.Row("emp", 0.7, runs([0.79, 0.78, 0.80]))
    [b] = report.budgets(rows)
    text = verdict.sentence(b)
    assert "random is the most accurate" in text and "below random, ucb (-10.00 points)" in text
    assert "No method is distinguishable" not in text


def test_fewer_than_three_seeds_give_no_verdict():
    rows = [
        report.Row("full", 0.0, runs([0.85], 0.0)),
        report.Row("random", 0.7, runs([0.80])),
        report.Row("emp", 0.7, runs([0.90])),
    ]
    [b] = report.budgets(rows)
    assert verdict.sentence(b) == (
        "Skipping 46.7% of the training (random's saving at rate 0.7): emp is the most accurate, 90.00% "
        "(5.00 points above full data). With 1 seed there is no verdict: a comparison needs at least 3 seeds "
        "(add seeds to the grid)."
    )
    row = "| 46.7% | emp | 90.00 | +5.00 | +10.00 (1 seed, no interval) | random | +10.00 (1 seed, no interval) |"
    assert row in verdict.table([b])
    assert "90.00 (1 seed)" in report.markdown_table(rows) and "± 0.00" not in report.markdown_table(rows)


def test_metrics_have_stable_keys_per_budget_and_method():
    rows = [
        FULL,
        report.Row("random", 0.3, runs([0.84, 0.84, 0.84], saving=0.2)),
        RANDOM,
        report.Row("emp", 0.7, runs([0.82, 0.821, 0.819])),
        report.Row("infobatch", 0.7, runs([0.83, 0.83, 0.83], saving=0.24)),
    ]
    budgets = report.budgets(rows)
    metrics = report.dvc_metrics(rows, budgets)
    assert sorted(metrics) == ["budgets", "full", "rates"] and sorted(metrics["budgets"]) == ["saving20", "saving46_7"]
    high = metrics["budgets"]["saving46_7"]
    assert (high["best"], high["runner_up"], high["rate"]) == ("emp", "random", 0.7)
    emp, ib = high["methods"]["emp"], high["methods"]["infobatch"]
    assert emp.keys() == ib.keys() == high["methods"]["random"].keys()
    assert emp["vs_random_low"] == pytest.approx(0.017516, abs=1e-6) and emp["vs_random_holds"] == 1
    assert ib["reaches"] is False and ib["test_acc"] is None and ib["max_saving"] == pytest.approx(0.24)
    assert high["methods"]["random"]["vs_random"] == 0.0 and high["methods"]["random"]["vs_random_low"] == 0.0
    # emp has no cell at 0.3: its curve from (0, 0.85) to (0.467, 0.82) at 0.2 gives 0.85 - 0.03 * 0.2 / 0.467
    low = metrics["budgets"]["saving20"]["methods"]
    assert low["emp"]["test_acc"] == pytest.approx(0.85 - 0.03 * 0.2 / 0.467)
    # infobatch at 0.2: 0.85 - 0.02 * 0.2 / 0.24
    assert low["infobatch"]["test_acc"] == pytest.approx(0.85 - 0.02 * 0.2 / 0.24)
    assert metrics["rates"]["pruned70"]["emp"]["achieved_saving"] == pytest.approx(0.467)
    headline = report.headline_metrics(budgets)
    assert headline["best_method"] == "emp" and headline["emp_vs_random"] == pytest.approx(0.02)
    # Where random is the most accurate, the headline keeps the same keys (a rerun's columns match):
    # random's difference to itself is 0.
    worse = [*rows[:3], report.Row("emp", 0.7, runs([0.78, 0.781, 0.779])), rows[4]]
    random_best = report.headline_metrics(report.budgets(worse))
    assert random_best["best_method"] == "random" and random_best.keys() == headline.keys()
    assert random_best["best_vs_random"] == random_best["best_vs_random_low"] == 0.0
    # with one seed no method has an interval, the reference neither: its nulls are where the others' are
    one = [report.Row(r.method, r.rate, r.runs[:1]) for r in worse]
    alone = report.headline_metrics(report.budgets(one))
    assert alone["best_vs_random"] == 0.0 and alone["best_vs_random_low"] is None
    random_alone = report.dvc_metrics(one, report.budgets(one))["budgets"]["saving46_7"]["methods"]["random"]
    assert random_alone["vs_random"] == 0.0 and random_alone["vs_random_high"] is None
    assert report.budget_key(0.2) == "saving20" and report.budget_key(0.46667) == "saving46_7"


def test_plot_of_two_methods_at_two_rates_over_three_seeds(tmp_path):
    rows = [
        FULL,
        report.Row("random", 0.3, runs([0.84, 0.83, 0.84], saving=0.2)),
        RANDOM,
        report.Row("emp", 0.3, runs([0.845, 0.84, 0.845], saving=0.2)),
        report.Row("emp", 0.7, runs([0.82, 0.821, 0.819])),
    ]
    budgets = report.budgets(rows)
    fig = report_plots.accuracy_vs_saving(
        report.saving_series(rows), "test", [(b.saving, b.rate) for b in budgets], floor=("untrained", 0.5)
    )
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels.count("random") == 1 and labels.count("emp") == 1 and {"full data", "untrained"} <= set(labels)
    emp = next(line for line in fig.axes[0].get_lines() if line.get_label() == "emp")
    assert len(emp.get_xdata()) == 3  # through (0, full) and both rates
    assert emp.get_ydata()[2] == pytest.approx(82.0)
    plots.save(fig, tmp_path / "accuracy_vs_saving.png")
    assert (tmp_path / "accuracy_vs_saving.png").stat().st_size > 10_000
    assert not plt.get_fignums()
