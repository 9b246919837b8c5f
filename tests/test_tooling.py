"""The tree is lint-clean and formatted (ruff), and the layers hold (import-linter's contracts in
pyproject.toml): pipeline.study may import pipeline.training and pipeline.core, pipeline.training
only pipeline.core, and pipeline.core neither, nor MLflow, DVC, YAML or plotting; the pruning
library dynaprune imports nothing of the study."""

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
    assert "Contracts: 6 kept, 0 broken." in done.stdout


def lint_with_import(tmp_path, module: str, line: str):
    """lint-imports on a copy of both packages in which `module` (a path under pipeline/ or the
    library's dynaprune/) gains `line`."""
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline", ignore=skip)
    shutil.copytree(ROOT / "dynaprune" / "src" / "dynaprune", tmp_path / "dynaprune", ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = run("lint-imports", cwd=tmp_path)
    assert done.returncode != 0
    return done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    out = lint_with_import(tmp_path, "pipeline/core/evaluate.py", "from ..study import paths")
    assert "Layers: study -> training -> core BROKEN" in out
    assert "pipeline.core.evaluate -> pipeline.study.paths" in out


def test_the_library_importing_the_study_breaks_its_contract(tmp_path):
    # The Pruner once took weighted_mean from the study's loop, and with it the tasks and text models.
    out = lint_with_import(tmp_path, "dynaprune/pruner.py", "from pipeline.training.loop import EpochLoop")
    assert "The pruning library stands alone, without the study, tracking or plotting BROKEN" in out
    assert "dynaprune is not allowed to import pipeline:" in out
    assert "dynaprune.pruner -> pipeline.training.loop" in out


def test_the_core_importing_an_integration_breaks_its_contract(tmp_path):
    out = lint_with_import(tmp_path / "core", "dynaprune/stats.py", "from . import integrations")
    assert "The library core (methods, table, Pruner) needs no trainer framework BROKEN" in out
    assert "dynaprune.stats -> dynaprune.integrations (l." in out
    out = lint_with_import(tmp_path / "study", "pipeline/study/report.py", "import lightning")
    assert "pipeline.study.report -> lightning" in out
