"""Tables and the README's generated block, against values worked out by hand."""

import pytest

from pipeline.core.errors import UserError
from pipeline.study import answer, report


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
    begin, end = answer.FINDINGS_BEGIN, answer.FINDINGS_END
    text = f"intro\n{begin}\nold table\n{end}\nrest\n"
    new = answer.replace_block(text, "new table\n", begin, end)
    assert new == f"intro\n{begin}\nnew table\n{end}\nrest\n"
    assert answer.replace_block(new, "new table", begin, end) == new  # idempotent


def test_readme_without_markers_is_a_clear_error():
    with pytest.raises(UserError, match="no block markers"):
        answer.replace_block("# README\n", "table", answer.FINDINGS_BEGIN, answer.FINDINGS_END)


def test_readme_shows_a_preset_report_only_where_it_compares_at_equal_cost(tmp_path):
    import json
    import os
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    for name in ("README.md", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "results.md").write_text("# Results\n\n### Supervised pruned training\n")
    (tmp_path / "reports" / "findings.md").write_text(
        "Supervised, 6 epochs:\n\n- Skipping 20% of the training\n- Skipping 46.7% of the training\n"
    )
    preset = tmp_path / "reports" / "presets" / "nlu_cpu" / "trec6"
    preset.mkdir(parents=True)
    (preset / "results.md").write_text("### NLU: trec6\n\nthe preset's table\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    readme = lambda: subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "readme.py")], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    readme_text = lambda: (tmp_path / "README.md").read_text()
    findings = lambda: readme_text().split("<!-- findings:begin")[1].split("<!-- findings:end")[0]
    page = lambda: (tmp_path / "docs" / "results.md").read_text()
    # an old report (per-rate metrics only): linked, not shown
    (preset / "metrics.json").write_text(json.dumps({"pruned70": {}}))
    assert readme().returncode == 0
    assert "predates the comparison at equal cost" in page() and "the preset's table" not in page()
    # the README: the answer, a column per study saying why it has nothing to show yet; every
    # verdict line in docs/results.md
    assert "default study<br>not run yet" in findings() and "cpu_headline<br>not run yet" in findings()
    assert "NLU trec6</a>" not in findings() and "predates the equal-cost comparison" in findings()
    assert "](reports/answer/forest.png)" in findings() and (tmp_path / "reports/answer/answer.md").is_file()
    assert "### Supervised pruned training" in page()  # reports/results.md, whole
    # a report with budgets: shown on the page; in the answer only once it records its setting
    (preset / "metrics.json").write_text(json.dumps({"rates": {}, "budgets": {"saving20": {}}}))
    headline = tmp_path / "reports" / "presets" / "cpu_headline"
    headline.mkdir()
    (headline / "findings.md").write_text("Supervised, 8 epochs:\n\n- Skipping 22.5% of the training\n")
    assert readme().returncode == 0
    assert "the preset's table" in page() and "predates" not in page()
    assert page().index("### Supervised pruned") < page().index("cpu_headline.yaml") < page().index("Skipping 22.5%")
    assert "NLU trec6](reports/presets/nlu_cpu/README.md)" not in findings()  # no README in this folder
    assert "NLU trec6<br>its committed run predates the seed count this answer reads" in findings()
    assert "(not measured yet" in (tmp_path / "README.md").read_text()  # no reports/footprint.json here


def test_the_times_sentence_says_whether_the_cores_were_shared():
    from pipeline.study import measured_on

    quiet = [{"load_avg_1m": 1.6, "cpu_cores": 2.0, "machine": "X, 2 cores"}, {"load_avg_1m": 2.5, "cpu_cores": 2.0}]
    said = measured_on.sentence([report.Row("emp", 0.7, quiet)])
    assert said.startswith(
        "*Times* measured on X, 2 cores; the load average at the end of the 2 cells was 1.60 to 2.50"
    )
    assert "(median 2.05): no more than the 2 cores" in said and "times compare" in said
    busy = [*quiet, {"load_avg_1m": 2.51, "cpu_cores": 2.0}]  # above 2 cores + 0.5
    assert "above its 2 cores for 1 of 3 cells" in measured_on.sentence([report.Row("emp", 0.7, busy)])
    assert "not recorded" in measured_on.sentence([report.Row("emp", 0.7, [{"test_acc": 0.9}])])
    encoders = [{"pretrain_load_avg_1m": 1.0, "pretrain_cpu_cores": 16.0, "pretrain_machine": None}]
    assert "on a machine; " in measured_on.sentence([report.Row("emp", 0.7, encoders)], "pretrain_")


def test_the_per_seed_table_shows_every_seed_and_leaves_a_missing_one_blank():
    rows = [
        report.Row("full", 0.0, [{"seed": 0, "test_acc": 0.9}, {"seed": 1, "test_acc": 0.8125}]),
        report.Row("emp", 0.7, [{"seed": 1, "test_acc": 0.5}]),
    ]
    assert report.per_seed_table(rows, "test_acc").splitlines() == [
        "| method | rate | seed 0 | seed 1 |",
        "|---|---:|---:|---:|",
        "| full | 0 | 90.00 | 81.25 |",
        "| emp | 0.7 |  | 50.00 |",
    ]
