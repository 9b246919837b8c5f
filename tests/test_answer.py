"""The README's answer from hand-made study metrics: its table, its marks and sentences, the
verdicts a rerun with another thread count changed, and the columns with nothing to show yet."""

import json

from pipeline.study import answer


def method(diff, holds, vs_best=0, reaches=True, max_saving=0.5):
    half = 0.004
    return {
        "reaches": reaches,
        "max_saving": max_saving,
        "vs_random": diff if reaches else None,
        "vs_random_low": diff - half if reaches else None,
        "vs_random_high": diff + half if reaches else None,
        "vs_random_holds": holds if reaches else None,
        "vs_best_other_holds": vs_best if reaches else None,
    }


def metrics(high_emp_holds=1, seeds=5):
    return {
        "budgets": {
            "saving22_5": {
                "saving": 0.225,
                "rate": 0.3,
                "best": "emp",
                "methods": {
                    "random": method(0.0, 0, vs_best=-1),
                    "emp": method(0.009, 1, vs_best=1),
                    "ucb": method(-0.02, -1, vs_best=-1),
                    "infobatch": method(0.001, 0),
                },
            },
            "saving52_5": {
                "saving": 0.525,
                "rate": 0.7,
                "best": "emp",
                "methods": {
                    "random": method(0.0, 0),
                    "emp": method(0.0123, high_emp_holds),
                    "ucb": method(-0.001, 0),
                    "infobatch": method(None, None, reaches=False, max_saving=0.317),
                },
            },
        },
        "setting": {
            "dataset": "fashion_mnist",
            "train_size": 20000,
            "model": "small_cnn",
            "epochs": 8,
            "seeds": seeds,
            "machine": "CPU X, 2 cores",
            "threads": [2],
        },
    }


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"train": data}))


def test_the_table_marks_each_verdict_and_the_sentences_agree(tmp_path):
    write(tmp_path / "a" / "metrics.json", metrics())
    source = answer.Source("study A", "nowhere.md", tmp_path / "a" / "metrics.json", "train")
    missing = answer.Source("study B", "nowhere.md", tmp_path / "b" / "metrics.json", "train")
    columns = [answer.load(source), answer.load(missing)]
    table = answer.table(columns)
    assert "| emp | +0.90 ▲ / +1.23 ▲ |  |" in table
    assert "| ucb | -2.00 ▼ / -0.10 ○ |  |" in table
    assert "| infobatch | +0.10 ○ / ✗ |  |" in table
    assert "study A<br>22.5% / 52.5% skipped, 5 seeds" in table and "study B<br>not run yet" in table
    lines = answer.sentences(columns, ["`gpu_x`"])
    assert lines[0] == "Above random after correction: **emp** in 1 of 1 study (study A at 22.5%, study A at 52.5%)."
    assert lines[1] == (
        "At the highest saving of each study (52.5% of the training skipped) the most accurate is emp in study A; "
        "as good as it after correction, wherever they ran: ucb, random."
    )
    assert lines[2] == (
        "At the lowest saving of each study (22.5% of the training skipped) the most accurate is emp in study A; "
        "as good as it after correction, wherever they ran: infobatch; below it in at least one study: ucb, random."
    )
    assert "**ucb** is below random after correction: study A at 22.5%." in lines
    assert "Never above random in any study shown: ucb, infobatch." in lines
    assert "**infobatch** does not reach study A at 52.5%: it skips less than its rate says." in lines
    assert any(
        line.startswith("Not yet rerun with another thread count") and line.endswith(": study A.") for line in lines
    )
    assert "No verdict yet from study B (not run yet)." in lines
    assert lines[-1].startswith(
        "**Scope.** study A: fashion_mnist (20000 training samples), `small_cnn`, 8 epochs, 5 seeds"
    )
    assert lines[-1].endswith("Not run, so not part of this answer: `gpu_x`.")


def test_a_verdict_the_rerun_changed_is_marked_and_not_counted(tmp_path):
    write(tmp_path / "a" / "metrics.json", metrics())
    write(tmp_path / "a" / "rerun" / "metrics.json", metrics(high_emp_holds=0))
    col = answer.load(answer.Source("A", "x.md", tmp_path / "a" / "metrics.json", "train"))
    assert col.rerun and col.flipped == {("saving52_5", "emp", "vs_random_holds")}
    assert "| emp | +0.90 ▲ / +1.23 ▲† |" in answer.table([col])
    lines = answer.sentences([col], [])
    assert lines[0] == "Above random after correction: **emp** in 1 of 1 study (A at 22.5%)."
    assert any("1 verdict changed and is marked †" in line for line in lines)


def test_under_three_seeds_a_column_shows_differences_without_verdicts(tmp_path):
    write(tmp_path / "a" / "metrics.json", metrics(seeds=1))
    col = answer.load(answer.Source("A", "x.md", tmp_path / "a" / "metrics.json", "train"))
    table = answer.table([col])
    assert "1 seed: no verdict" in table and "| emp | +0.90 / +1.23 |" in table
    assert answer.sentences([col], [])[0] == "No method is above random after correction in any study."


def test_a_report_from_before_the_equal_cost_comparison_is_said_so(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"headline": {}, "pruned70": {}}))
    col = answer.load(answer.Source("NLU", "x.md", tmp_path / "m.json", None))
    assert col.missing == "its committed run predates the equal-cost comparison" and not col.shown
    old = metrics()
    del old["setting"]
    write(tmp_path / "old" / "metrics.json", old)
    col = answer.load(answer.Source("A", "x.md", tmp_path / "old" / "metrics.json", "train"))
    assert col.missing == "its committed run predates the seed count this answer reads"
