"""benchmarks/run.py end to end at its smallest size: every figure is measured and reported."""

import json
import math
import operator
import subprocess
import sys
from pathlib import Path

import pytest

from dynaprune import pruning

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all

ROOT = Path(__file__).resolve().parents[1]
OPERATORS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def bench(*args):
    return subprocess.run(
        [sys.executable, "benchmarks/run.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_benchmark_measures_and_reports_every_figure(tmp_path):
    done = bench("--size", "smoke", "--device", "cpu", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "benchmarks.json").read_text())
    f = result["figures"]
    assert result["machine"]["device"] == "cpu" and result["settings"]["repeats"] == 1

    # One repeat: each ratio is exactly the quotient of the two measurements it reports.
    lv = f["loop_vs_bare"]
    assert lv["value"] == pytest.approx(lv["real_samples_per_s"] / lv["bare_samples_per_s"])
    ip = f["input_path_speedup"]
    assert ip["value"] == pytest.approx(ip["ours_batches_per_s"] / ip["torchvision_batches_per_s"])
    assert set(f["pruned_time_over_ideal"]) == {"0.3", "0.5", "0.7"}
    for rate, fig in f["pruned_time_over_ideal"].items():
        assert fig["value"] == pytest.approx(fig["epoch_s"] / ((1 - float(rate)) * f["full_epoch_s"]))
    for n, fig in f["selection_ms"].items():
        assert set(fig["per_method"]) == set(pruning.REGISTRY), n
        assert fig["value"] == max(fig["per_method"].values())
    ssl = f["ssl_loop_vs_bare"]
    assert ssl["value"] == pytest.approx(ssl["real_samples_per_s"] / ssl["bare_samples_per_s"])
    for fig in (lv, ip, ssl, *f["pruned_time_over_ideal"].values(), *f["selection_ms"].values()):
        assert math.isfinite(fig["value"]) and fig["value"] > 0
        op, bound = fig["goal"].split(" (")[0].split()
        assert fig["met"] == OPERATORS[op](fig["value"], float(bound))

    # study_overhead: a real `dvc repro` of the tiny grid (13 stages), every stage timed.
    so = f["study_overhead"]
    assert so["grid"] == "tiny" and so["stages"] == len(so["per_stage"]) == 13
    assert so["value"] == so["fixed_cost_s"] > 0 and so["met"] == (so["value"] <= 1.5)
    assert 0 < so["work_share"] < 1 and so["wall_s"] > so["in_stages_s"] > 0
    assert {s["stage"] for s in so["per_stage"]} >= {"prepare", "warmup@0", "train@random-0.7-0", "aggregate"}

    md = (tmp_path / "benchmarks.md").read_text()
    assert "`python benchmarks/run.py --size smoke`" in md
    for name in (
        "loop_vs_bare",
        "input_path_speedup",
        "selection_ms at N = 60,000",
        "selection_ms at N = 1,281,167",
        "pruned_time_over_ideal, s = 0.7",
        "ssl_loop_vs_bare",
        "study_overhead",
    ):
        assert f"| {name}" in md, name
    # The real loop logged each of its epochs to MLflow and printed a progress line per epoch.
    assert "train emp@0.3 epoch" in done.stderr and "pretrain emp@0.3 epoch" in done.stderr
    # An open-ended run: no made-up total or ETA from the long schedule the timed epochs run in.
    assert "/10000" not in done.stderr and "ETA" not in done.stderr


def test_benchmark_refuses_a_missing_device_in_one_line(tmp_path):
    done = bench("--size", "smoke", "--device", "cuda:7", "--out", str(tmp_path))
    if done.returncode == 0:
        pytest.skip("this machine has 8 GPUs")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "cuda" in done.stderr
    assert not (tmp_path / "benchmarks.json").exists()


def test_gpu_check_runs_on_cpu_and_reports_both_cells(tmp_path):
    # The GPU readiness check with a GPU preset's settings, shrunk to run here: on CPU, AMP is off
    # whatever the preset says (CUDA only); channels-last applies on the CPU too.
    out = tmp_path / "gpu_check.json"
    done = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_check.py",
            "--device",
            "cpu",
            "--arch",
            "small_cnn",
            "--samples",
            "256",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["params"] == "params/gpu_cifar10_resnet18.yaml" and report["arch"] == "small_cnn"
    for name in ("train", "pretrain"):
        cell = report[name]
        assert cell["device"] == "cpu" and cell["amp"] is False and cell["channels_last"] is True
        warm, pruned = cell["epochs"]
        assert warm["kept"] == 256 and pruned["kept"] == pruning.keep_count(0.7, 256)  # EMP at 70%
        for epoch in (warm, pruned):
            assert epoch["samples_per_s"] == pytest.approx(epoch["kept"] / epoch["train_s"])
            assert 0 < epoch["train_share"] <= 1 and epoch["wall_s"] >= epoch["train_s"]
        assert f"gpu_check {name} on cpu" in done.stderr
