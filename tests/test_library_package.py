"""The pruning library as a package of its own: its wheel holds only `dynaprune` and requires only
torch and numpy; installed into a fresh virtual environment that has PyTorch (and what PyTorch
needs) and nothing of the study, the README's plain loop runs there as pasted. The README's
Trainer and Lightning snippets run as pasted too (in the study's environment, which has those
frameworks)."""

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # builds a wheel and a virtual environment, runs three trainings


def readme_snippets() -> list[str]:
    """The python blocks of the README's library section, in order: plain loop, Trainer, Lightning."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## EMP in your own training loop") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def runtime_closure(*names: str) -> dict[str, md.Distribution]:
    """The installed distributions `names` need at runtime (their requirements, recursively)."""
    found: dict[str, md.Distribution] = {}
    todo = list(names)
    while todo:
        req = Requirement(todo.pop())
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key in found or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        try:
            found[key] = md.distribution(req.name)
        except md.PackageNotFoundError:
            continue
        todo += [r for r in found[key].requires or [] if "extra ==" not in r or Marker(r.split(";", 1)[1]).evaluate()]
    return found


def torch_only_site(folder: Path) -> Path:
    """A folder holding links to PyTorch's installed files and those of what it needs, nothing else."""
    folder.mkdir()
    for dist in runtime_closure("torch", "numpy").values():
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # built from a copy: setuptools leaves build/ and egg-info behind, and would reuse a stale build/
    source, out = tmp_path_factory.mktemp("source") / "dynaprune", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT / "dynaprune", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    subprocess.run([*build, str(source)], check=True, capture_output=True)
    [built] = out.glob("dynaprune-*.whl")
    return built


def test_the_wheel_holds_the_library_alone_and_requires_only_torch_and_numpy(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"dynaprune", next(n for n in names if ".dist-info/" in n).split("/")[0]}
    assert {"dynaprune/pruner.py", "dynaprune/pruning/emp.py", "dynaprune/integrations/lightning.py"} <= set(names)
    meta = md.PathDistribution(zipfile.Path(wheel, next(n for n in names if n.endswith(".dist-info/METADATA"))).parent)
    plain = [Requirement(r) for r in meta.requires or [] if "extra ==" not in r]
    assert sorted(r.name for r in plain) == ["numpy", "torch"]


def test_the_readme_install_from_the_repository_url_builds_the_library(tmp_path):
    # The README's line for installing without a clone, with the repository's URL a git URL
    # here: a repository holding this tree's dynaprune/ (pip clones it and builds the subdirectory).
    [line] = [x for x in (ROOT / "README.md").read_text().splitlines() if "#subdirectory=" in x]
    requirement = line.split('"')[1]
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    shutil.copytree(ROOT / "dynaprune", repo / "dynaprune", ignore=ignore)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tree"]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    requirement = requirement.replace("<this repository's URL>", repo.as_uri())
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    done = subprocess.run([*build, requirement], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [built] = tmp_path.glob("dynaprune-*.whl")
    assert "dynaprune/pruner.py" in zipfile.ZipFile(built).namelist()


# The fresh environment's processes see only what it holds: no PYTHONPATH of the caller's.
ALONE = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_the_readme_loop_runs_in_an_environment_with_only_torch_and_the_wheel(wheel, tmp_path):
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run([python, "-c", purelib], capture_output=True, text=True, env=ALONE).stdout.strip()
    (Path(site) / "torch_only.pth").write_text(str(torch_only_site(tmp_path / "torch_only")) + "\n")
    # offline and without dependencies: the wheel's metadata says it needs torch and numpy only (the
    # test above), and the loop below shows that is all it imports
    install = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)]
    done = subprocess.run(install, capture_output=True, text=True, env=ALONE)
    assert done.returncode == 0, done.stderr
    for absent in ("pipeline", "mlflow", "dvc", "matplotlib", "yaml", "sklearn"):
        probe = subprocess.run(
            [python, "-c", f"import {absent}"], capture_output=True, text=True, cwd=tmp_path, env=ALONE
        )
        assert probe.returncode != 0, f"{absent} is importable in the library's environment"
    loop = readme_snippets()[0]
    ran = subprocess.run([python, "-c", loop], capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ALONE)
    assert ran.returncode == 0, ran.stderr
    trained = [int(line.split("trained ")[1].split()[0]) for line in ran.stdout.splitlines()]
    # 2 warm-up epochs on all 2,048, then round(0.3 * 2048) = 614 a pruned epoch
    assert trained == [2048] * 2 + [614] * 10


def test_the_readme_trainer_snippets_run_as_pasted(tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("lightning")
    _, trainer, lightning = readme_snippets()
    ran = subprocess.run([sys.executable, "-c", trainer], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    # 1 warm-up epoch on all 512, then round(0.3 * 512) = 154 an epoch
    assert ran.stdout.strip().splitlines()[-1] == str({0: 512, 1: 154, 2: 154, 3: 154, 4: 154})
    ran = subprocess.run([sys.executable, "-c", lightning], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert "`Trainer.fit` stopped: `max_epochs=10` reached." in ran.stderr + ran.stdout
