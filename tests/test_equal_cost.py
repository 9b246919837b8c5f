"""The equal-cost comparison (pipeline/study/equal_cost.py) against values worked out by hand."""

import pytest

from pipeline.study import equal_cost as ec


def test_curve_interpolates_inside_what_was_reached():
    points = ec.curve([(0.5, 0.80), (0.2, 0.86)], full=0.90)
    assert points == [(0.0, 0.90), (0.2, 0.86), (0.5, 0.80)]
    assert ec.at(points, 0.3) == pytest.approx(0.84)  # 0.86 + (0.80 - 0.86) * 0.1 / 0.3
    assert ec.at(points, 0.1) == pytest.approx(0.88)  # halfway to the full-data point
    assert ec.at(points, 0.5) == 0.80 and ec.at(points, 0.0) == 0.90
    assert ec.at(points, 0.6) is None  # beyond the largest saving reached: no extrapolation
    assert ec.at(points, 0.5 + 1e-9) == 0.80  # the same budget up to rounding still reaches


def test_curve_keeps_a_non_monotone_point_and_averages_equal_savings():
    points = ec.curve([(0.2, 0.80), (0.4, 0.84)], full=0.90)
    assert ec.at(points, 0.3) == pytest.approx(0.82)  # accuracy rises with saving here: kept as measured
    assert ec.curve([(0.2, 0.80), (0.2, 0.84)], full=0.9) == [(0.0, 0.9), (0.2, pytest.approx(0.82))]


def test_paired_interval_and_p_value_by_hand():
    # differences 0.02, 0.01, 0.03: mean 0.02, sd 0.01, t(0.975, 2) = 4.302653, half 0.0248414
    iv = ec.paired({0: 0.88, 1: 0.88, 2: 0.90}, {0: 0.86, 1: 0.87, 2: 0.87})
    assert iv.mean == pytest.approx(0.02) and iv.half == pytest.approx(0.0248414, abs=1e-6)
    assert (iv.low, iv.high) == (pytest.approx(-0.0048414, abs=1e-6), pytest.approx(0.0448414, abs=1e-6))
    assert not iv.excludes_zero and not iv.decided
    # t = 0.02 / (0.01 / sqrt 3) = 3.4641; with 2 degrees of freedom sf(t) = (1 - t / sqrt(t^2 + 2)) / 2
    assert iv.p_value == pytest.approx(1 - 3.4641016 / 14**0.5, abs=1e-6)
    # pairs by seed, over the seeds both have
    assert ec.paired({0: 0.9, 5: 0.8}, {5: 0.7, 7: 0.1}) == ec.Interval(pytest.approx(0.1), None, 1)
    assert ec.paired({0: 0.9}, {1: 0.8}) is None


def test_holm_by_hand():
    # m = 3: 0.01 <= 0.05/3 rejected; 0.03 > 0.05/2 stops there, so b (0.04) is not tested
    assert ec.holm({"a": 0.01, "b": 0.04, "c": 0.03}) == {"a"}
    assert ec.holm({"a": 0.01, "b": 0.02}) == {"a", "b"}  # 0.01 <= 0.025, 0.02 <= 0.05
    assert ec.holm({"a": 0.2}) == set()


def cells(method, rate, per_seed):
    return [ec.Cell(method, rate, seed, s, a) for seed, (s, a) in enumerate(per_seed)]


FULL = {0: 0.90, 1: 0.91, 2: 0.92}
GRID = (
    cells("random", 0.3, [(0.2, 0.86), (0.2, 0.87), (0.2, 0.87)])
    + cells("random", 0.7, [(0.5, 0.80), (0.5, 0.81), (0.5, 0.80)])
    # InfoBatch-like: saves less than its rate says; reaches 0.2 but not 0.5
    + cells("ib", 0.3, [(0.1, 0.89), (0.1, 0.90), (0.1, 0.91)])
    + cells("ib", 0.7, [(0.3, 0.87), (0.3, 0.86), (0.3, 0.89)])
    + cells("emp", 0.3, [(0.2, 0.885), (0.2, 0.895), (0.2, 0.895)])
    + cells("emp", 0.7, [(0.5, 0.84), (0.5, 0.85), (0.5, 0.845)])
)


def test_budgets_are_randoms_savings_and_methods_interpolate_to_them():
    low, high = ec.compare(GRID, FULL, "random")
    assert (low.saving, low.rate, high.saving, high.rate) == (pytest.approx(0.2), 0.3, pytest.approx(0.5), 0.7)
    ib = low.of("ib")
    # seed 0: 0.89 + (0.87 - 0.89) * (0.2 - 0.1) / 0.2 = 0.88; seed 1: 0.88; seed 2: 0.90
    assert ib.per_seed == {0: pytest.approx(0.88), 1: pytest.approx(0.88), 2: pytest.approx(0.90)}
    # against random 0.86, 0.87, 0.87: differences 0.02, 0.01, 0.03 (the hand interval above)
    assert ib.vs_reference.mean == pytest.approx(0.02) and ib.vs_reference.half == pytest.approx(0.0248414, abs=1e-6)
    assert [s.method for s in low.reached] == ["emp", "ib", "random"]  # 89.17, 88.67, 86.67
    assert not high.of("ib").reaches and high.of("ib").max_saving == pytest.approx(0.3)
    assert [s.method for s in high.unreached] == ["ib"]
    emp = high.best
    # differences 0.04, 0.04, 0.045: mean 0.041667, sd 0.0028868, half 4.302653 * 0.0028868 / sqrt 3 = 0.0071714
    assert emp.method == "emp" and emp.vs_reference.half == pytest.approx(0.0071714, abs=1e-6)
    assert emp.vs_best == emp.vs_reference  # the runner-up at 0.5 is random itself
    assert high.above == {"emp"} and not high.below and high.compared == 1
    assert high.full == pytest.approx(0.91)


def test_no_verdict_under_three_seeds_and_no_budgets_without_the_reference():
    two = {0: 0.90, 1: 0.91}
    [b, _] = ec.compare([c for c in GRID if c.seed < 2], two, "random")
    assert b.seeds == 2 and not b.above and not b.below
    assert b.of("emp").vs_reference.half is not None and not b.of("emp").vs_reference.decided
    assert ec.compare([c for c in GRID if c.method != "random"], FULL, "random") == []
