"""pipeline/core/timing.py and benchmarks/overhead.py's arithmetic, on figures worked out by hand."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core import timing

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import overhead  # noqa: E402


@pytest.fixture
def clock(monkeypatch, tmp_path):
    """A fake perf_counter the test advances by hand, and timing enabled into a fresh table."""
    now = [100.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(timing, "_totals", type(timing._totals)(float))
    monkeypatch.setattr(timing, "_stack", [])
    monkeypatch.setattr(timing, "_file", str(tmp_path / "t.jsonl"))
    return now


def test_phases_are_exclusive(clock):
    with timing.phase("mlflow"):
        clock[0] += 1.0
        with timing.phase("model_export"):
            clock[0] += 2.5
        clock[0] += 0.5
    with timing.phase("mlflow"):
        clock[0] += 0.25
    # mlflow: 1.0 + 0.5 + 0.25 (the 2.5 s inside went to model_export only)
    assert timing.record()["phases"] == {"mlflow": 1.75, "model_export": 2.5}


def test_timed_counts_each_call_and_disabled_is_a_no_op(clock, monkeypatch):
    @timing.timed("data")
    def load():
        clock[0] += 0.5
        return 7

    assert load() + load() == 14
    assert timing.record()["phases"] == {"data": 1.0}
    monkeypatch.setattr(timing, "_file", None)
    with timing.phase("data"):
        clock[0] += 9.0
    assert timing.record()["phases"] == {"data": 1.0}


def test_a_process_appends_one_line_at_exit(tmp_path):
    out = tmp_path / "t.jsonl"
    code = "from pipeline.core import timing\nwith timing.phase('train'):\n    timing.mark('first_step')\n"
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", code], check=True, cwd=ROOT, env={"PRUNING_TIMINGS": str(out), "PATH": ""}
        )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2
    for rec in lines:
        m = rec["marks"]
        assert m["start"] <= m["first_step"] <= m["exit"]
        assert m["exit"] - m["start"] < 60 and set(rec["phases"]) == {"train"}


def record(stage, start, ready, phases, first=None, last=None, exit_=None):
    marks = {"start": start, "ready": ready, "exit": exit_}
    if first is not None:
        marks.update(first_step=first, last_step=last)
    return {"stage": stage, "marks": marks, "phases": phases}


def test_summary_by_hand():
    records = [
        # 10 s: 2 s of imports, 1 s MLflow, 5 s training, 1 s evaluation, 1 s unaccounted
        record("train@emp-0.7-0", 0.0, 2.0, {"mlflow": 1.0, "train": 5.0, "eval": 1.0}, 3.5, 9.0, 10.0),
        # 4 s, no training: 1 s imports, 2 s DLC scoring, 1 s unaccounted
        record("dlc", 12.0, 13.0, {"scoring": 2.0}, exit_=16.0),
    ]
    s = overhead.summarise(records, wall=20.0, dvc={"per_stage_s": 0.1})
    assert s["in_stages_s"] == 14.0 and s["dvc_and_exit_s"] == 6.0
    assert s["totals_s"]["imports"] == 3.0 and s["totals_s"]["other"] == 2.0
    assert s["work_share"] == pytest.approx((5.0 + 1.0 + 2.0) / 20.0)
    assert s["train_share"] == pytest.approx(0.25)
    # the training stage: 3.5 s before its first step, 1 s after its last
    assert s["fixed_cost_s"] == 4.5 and s["before_first_step_s"] == 3.5 and s["after_last_step_s"] == 1.0
    assert s["stages"] == 2
    table = "\n".join(overhead.table({"x": s}))
    assert "| `dvc repro` wall time | 20.0 s |" in table and "| training + evaluation share | 40.0% |" in table
