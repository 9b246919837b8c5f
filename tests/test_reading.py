"""One reading everywhere: a table's above/below, a sentence's, the metrics' and the forest plot's
are the verdict after Holm's correction; an interval that excludes 0 only uncorrected is shown,
marked, and decides nothing. Checked on hand-made rows where the two readings differ."""

import pytest
from test_verdict import FULL, RANDOM, runs

from pipeline.study import plots, report, report_plots, ssl_report, verdict

# emp - random per seed: 0.010, 0.020, 0.015 -> mean 0.015, sd 0.005, se 0.0028868;
# t = 5.196 on 2 degrees of freedom, p = 0.0351: below 0.05 alone, above 0.05 / 3 (Holm over 3).
# half-width 4.302653 * 0.0028868 = 0.012421: interval +0.26 to +2.74 points.
EMP = report.Row("emp", 0.7, runs([0.81, 0.82, 0.815]))
RS2 = report.Row("rs2", 0.7, runs([0.80, 0.81, 0.79]))
UCB = report.Row("ucb", 0.7, runs([0.81, 0.79, 0.805]))


def test_an_interval_significant_alone_is_inconclusive_in_the_table_the_sentence_and_the_metrics():
    rows = [FULL, RANDOM, EMP, RS2, UCB]
    [b] = report.budgets(rows)
    emp = b.of("emp")
    assert emp.vs_reference.excludes_zero and emp.vs_reference.p_value == pytest.approx(0.0351, abs=5e-4)
    assert emp.vs_reference_verdict == "inconclusive" and not b.above and not b.below
    table = verdict.table([b])
    line = next(row for row in table.splitlines() if row.startswith("| 46.7% | emp |"))
    assert "inconclusive: +1.50 (uncorrected 95% interval +0.26 to +2.74, not after correction)" in line
    assert "above" not in line
    text = verdict.sentence(b)
    assert "against random: +1.50 points, inconclusive (uncorrected 95% interval +0.26 to +2.74" in text
    assert "No method is distinguishable from random once corrected for 3 comparisons" in text
    metrics = report.dvc_metrics(rows, [b])["budgets"]["saving46_7"]["methods"]["emp"]
    assert metrics["vs_random_holds"] == 0 and metrics["vs_random_low"] > 0
    [panel] = report_plots.panels(report.dvc_metrics(rows, [b])["budgets"], "random")
    assert next(m for m in panel.marks if m.method == "emp").holds == 0


def test_the_same_interval_alone_in_its_family_is_a_verdict_everywhere():
    rows = [FULL, RANDOM, EMP]
    [b] = report.budgets(rows)
    assert b.above == {"emp"}
    line = next(row for row in verdict.table([b]).splitlines() if row.startswith("| 46.7% | emp |"))
    assert "above: +1.50 (95% interval +0.26 to +2.74)" in line
    assert "After correcting for 1 comparison: above random, emp (+1.50 points)." in verdict.sentence(b)
    budgets = report.dvc_metrics(rows, [b])["budgets"]
    assert budgets["saving46_7"]["methods"]["emp"]["vs_random_holds"] == 1
    [panel] = report_plots.panels(budgets, "random")
    assert [(m.method, m.holds) for m in panel.marks] == [("emp", 1)]
    assert panel.marks[0].low == pytest.approx(0.2579, abs=1e-3) and panel.title == "46.7% skipped"


def test_the_best_against_the_runner_up_is_one_comparison_read_the_same_from_both_sides():
    rows = [FULL, RANDOM, EMP, RS2, UCB]
    [b] = report.budgets(rows)
    best, runner = b.best, b.runner_up
    assert best.method == "emp" and runner.method == "ucb"  # ucb: 0.80167, random 0.80
    assert best.vs_best.mean == pytest.approx(-runner.vs_best.mean)
    assert best.vs_best_verdict == "inconclusive" == runner.vs_best_verdict


def test_the_forest_plot_draws_every_method_and_says_what_does_not_reach(tmp_path):
    rows = [FULL, RANDOM, EMP, report.Row("infobatch", 0.7, runs([0.83, 0.83, 0.83], saving=0.24))]
    budgets = report.dvc_metrics(rows, report.budgets(rows))["budgets"]
    panels = report_plots.panels(budgets, "random")
    fig = report_plots.forest([panels], "test", "random")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["emp", "infobatch"]
    assert any("does not reach (at most 24.0%)" in t.get_text() for t in ax.texts)
    empty = report_plots.forest([[]], "nothing", "random")
    assert "nothing compared" in empty.axes[0].texts[0].get_text()
    for name, figure in (("forest.png", fig), ("empty.png", empty)):
        plots.save(figure, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 5_000


def probed(accs, **extra):
    return [{"seed": s, "linear_acc": a, "knn_acc": a - 0.05, **extra} for s, a in enumerate(accs)]


def test_what_pre_training_adds_is_said_against_the_pruned_differences():
    full = report.Row("full", 0.0, probed([0.88, 0.89, 0.87]))
    untrained = report.Row("untrained", 0.0, probed([0.80, 0.80, 0.81]))
    added = ssl_report.gain(full, untrained)  # 0.08, 0.09, 0.06: mean 0.07667
    assert added.mean == pytest.approx(0.07667, abs=1e-4) and added.seeds == 3
    rows = [
        full,
        report.Row("random", 0.7, probed([0.86, 0.87, 0.86])),
        report.Row("emp", 0.7, probed([0.87, 0.87, 0.87])),
    ]
    rows = [
        report.Row(r.method, r.rate, [{**run, "achieved_saving": 0.4 if r.rate else 0.0} for run in r.runs])
        for r in rows
    ]
    text = ssl_report.reference_sentence(added, untrained, report.budgets(rows, "linear_acc"))
    assert "reads 80.33% linear" in text and "adds +7.67 points of linear-probe accuracy" in text
    # emp - random: 0.01, 0, 0.01 -> mean 0.00667, 9% of 0.07667
    assert "differ from random by at most 0.67 points on average, 9% of what pre-training adds" in text
    assert "hardly tests pre-training" not in text
    small = ssl_report.gain(full, report.Row("untrained", 0.0, probed([0.86, 0.87, 0.86])))
    assert "hardly tests pre-training" in ssl_report.reference_sentence(small, untrained, [])
