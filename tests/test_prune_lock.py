"""scripts/prune_lock.py: dvc.lock's entries of stages dvc.yaml no longer has go; the rest stay as written."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_stale_entries_go_and_current_ones_stay_byte_for_byte(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "params.yaml").write_text("seeds: [0, 1]\n")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  a:\n    matrix:\n      seed: ${seeds}\n    cmd: echo ${item.seed} > out${item.seed}\n"
        "    outs:\n      - out${item.seed}\n"
    )
    entry = lambda seed: (
        f"  a@{seed}:\n    cmd: echo {seed} > out{seed}\n    outs:\n    - path: out{seed}\n"
        f"      hash: md5\n      md5: 0123456789abcdef0123456789abcdef\n      size: 2\n"
    )
    lock = "schema: '2.0'\nstages:\n" + entry(0) + entry(1) + entry(2) + entry(3)
    (tmp_path / "dvc.lock").write_text(lock)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "prune_lock.py")], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "2 stale entries removed" in done.stderr
    assert (tmp_path / "dvc.lock").read_text() == "schema: '2.0'\nstages:\n" + entry(0) + entry(1)
    assert list(yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]) == ["a@0", "a@1"]
