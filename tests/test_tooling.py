"""The tree is lint-clean and formatted (ruff), and the layers hold (import-linter's contracts in
pyproject.toml): pipeline.study may import pipeline.training and pipeline.core, pipeline.training
only pipeline.core, and pipeline.core neither, nor MLflow, DVC, YAML or plotting."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / tool), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(cwd)},
    )


def test_ruff_finds_nothing_to_fix():
    check = run("ruff", "check", ".")
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, "not formatted (run `ruff format .`):\n" + fmt.stdout


def test_the_layers_hold():
    done = run("lint-imports")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 5 kept, 0 broken." in done.stdout


def lint_with_import(tmp_path, module: str, line: str):
    """lint-imports on a copy of the package in which `module` (a path under pipeline/) gains `line`."""
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "pipeline" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = run("lint-imports", cwd=tmp_path)
    assert done.returncode != 0
    return done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    out = lint_with_import(tmp_path, "core/stats.py", "from ..study import paths")  # the core importing the study
    assert "Layers: study -> training -> core BROKEN" in out
    assert "pipeline.core.stats -> pipeline.study.paths" in out


def test_the_pruner_importing_the_loop_breaks_its_contract(tmp_path):
    # The Pruner once took weighted_mean from the loop, and with it the tasks and text models.
    out = lint_with_import(tmp_path, "training/pruner.py", "from .loop import EpochLoop")
    assert "pipeline.Pruner, for one's own loop, needs no training task" in out
    assert "pipeline.training.pruner -> pipeline.training.loop" in out


def test_the_core_importing_an_integration_breaks_its_contract(tmp_path):
    out = lint_with_import(tmp_path / "core", "core/stats.py", "from .. import integrations")
    assert "pipeline.core.stats -> pipeline.integrations (l." in out
    out = lint_with_import(tmp_path / "study", "study/report.py", "import lightning")
    assert "pipeline.study.report -> lightning" in out
