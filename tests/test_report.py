"""Tables and the README's generated block, against values worked out by hand."""

import pytest

from pipeline.core.errors import UserError
from pipeline.study import report


def run(acc, saving=0.5, seed=0):
    return {
        "seed": seed,
        "test_acc": acc,
        "achieved_saving": saving,
        "train_time_s": 10.0,
        "wall_time_s": 12.0,
        "lfl_gini": 0.25,
        "lfl_seen_at_most_once": 0.5,
    }


def test_table_gives_mean_std_and_difference_to_full():
    rows = [
        report.Row("full", 0.0, [run(0.90, 0.0), run(0.92, 0.0, 1)]),
        report.Row("emp", 0.7, [run(0.88), run(0.89, seed=1)]),
    ]
    table = report.markdown_table(rows)
    # std of (0.90, 0.92) with n-1: 0.01414 -> 1.41 points; emp mean 88.5 - 91.0 = -2.50
    assert "| full | 0 | 91.00 ± 1.41 |  | 0.000 |" in table
    assert "| emp | 0.7 | 88.50 ± 0.71 | -2.50 | 0.500 | 10.0 | 12.0 | 0.250 | 0.500 | 2 |" in table
    # each curve starts at the full-data point; bars: 95% t intervals, t(0.975, 1) = 12.7062 times sd / sqrt 2
    assert report.saving_series(rows) == {
        "emp": [
            (0.0, pytest.approx(0.91), pytest.approx(12.7062 * 0.0141421 / 2**0.5, abs=1e-5)),
            (0.5, pytest.approx(0.885), pytest.approx(12.7062 * 0.0070711 / 2**0.5, abs=1e-5)),
        ]
    }


def test_readme_block_is_replaced_between_the_markers_only():
    text = f"intro\n{report.README_BEGIN}\nold table\n{report.README_END}\nrest\n"
    new = report.replace_block(text, "new table\n")
    assert new == f"intro\n{report.README_BEGIN}\nnew table\n{report.README_END}\nrest\n"
    assert report.replace_block(new, "new table") == new  # idempotent


def test_readme_without_markers_is_a_clear_error():
    with pytest.raises(UserError, match="no results markers"):
        report.replace_block("# README\n", "table")
