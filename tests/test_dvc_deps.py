"""dvc.yaml's code dependencies are complete: each stage depends on every project file its script
imports, directly or not (its import closure), so that no code change can leave `dvc repro`
reporting stale results as current."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# The project's packages and the folder each is imported from: the study, and the pruning library
# (its own distribution, in src layout).
PACKAGES = {"pipeline": ROOT, "dynaprune": ROOT / "dynaprune" / "src"}
STAGES = ROOT / "stages"  # a stage script's folder, sys.path[0] when it runs: _stage.py, the launcher


def module_file(name: str) -> Path | None:
    """The project file of a dotted module name (None outside the project): a module of the
    package, or a top-level one beside the stage scripts (`import _stage`, `import _launch`)."""
    if "." not in name and (STAGES / f"{name}.py").is_file():
        return STAGES / f"{name}.py"
    top = PACKAGES.get(name.split(".")[0])
    if top is None:
        return None
    base = top.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports anywhere in it (lazy imports inside functions included), resolved
    to absolute dotted names; `from pkg import name` yields pkg.name as well, in case it is a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    # relative to the folder the file is imported from (the deepest of the packages' that holds it)
    top = max((top for top in PACKAGES.values() if top in path.parents), key=lambda t: len(t.parts))
    rel = path.relative_to(top).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    # importing a.b.c runs a/__init__ and a/b/__init__ too
    return {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 2)}


def import_closure(script: Path) -> set[Path]:
    """The project files that running `script` imports, transitively (the script itself included)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            target = module_file(name)
            if target is not None and target not in seen:
                todo.append(target)
    return seen


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def script_of(stage: dict) -> Path:
    words = stage["cmd"].split()
    return ROOT / next(w for w in words if w.endswith(".py"))


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


def missing_deps(stage: dict) -> list[str]:
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
    return sorted(str(p.relative_to(ROOT)) for p in import_closure(script_of(stage)) if not covered(p, deps))


@pytest.mark.parametrize("name", sorted(stages()))
def test_every_stage_depends_on_its_import_closure(name):
    assert missing_deps(stages()[name]) == [], f"dvc.yaml: stage {name} misses code it imports"


def test_the_check_fails_when_a_dependency_is_removed():
    # The train stage runs EMP from the library and evaluates with the study's core: dropping either
    # folder, or a study module the stage imports, from its deps must be caught.
    stage = stages()["train"]
    drop = lambda dep: {**stage, "deps": [d for d in stage["deps"] if d != dep]}
    assert {
        "dynaprune/src/dynaprune/pruning/emp.py",
        "dynaprune/src/dynaprune/signals.py",
        "dynaprune/src/dynaprune/stats.py",
    } <= set(missing_deps(drop("dynaprune/src")))
    assert "pipeline/core/evaluate.py" in missing_deps(drop("pipeline/core"))
    assert missing_deps(drop("pipeline/study/cells.py")) == ["pipeline/study/cells.py"]


def test_closure_follows_relative_and_lazy_imports():
    closure = {str(p.relative_to(ROOT)) for p in import_closure(ROOT / "stages" / "train.py")}
    assert {
        "pipeline/study/cells.py",
        "pipeline/training/loop.py",
        "pipeline/training/tasks.py",
        "dynaprune/src/dynaprune/pruning/__init__.py",
        "dynaprune/src/dynaprune/pruning/seta.py",
        "dynaprune/src/dynaprune/stats.py",
        "pipeline/core/evaluate.py",
        "pipeline/core/models.py",
    } <= closure
    # The supervised stages do not run the study's reporting code, so editing it reruns only aggregate.
    assert not {"pipeline/study/report.py", "pipeline/study/verdict.py", "pipeline/study/probing.py"} & closure
    assert not any(p.startswith("tests/") or p.startswith("benchmarks/") for p in closure)
    # Every stage script imports _stage.py first, and with it the warm launcher beside it (its
    # server's side through the entry point's import).
    assert {p for p in closure if p.startswith("stages/")} == {
        "stages/train.py",
        "stages/_stage.py",
        "stages/_launch.py",
        "stages/_launch_server.py",
    }


def test_every_stage_depends_on_the_lower_layers_whole():
    for name, stage in stages().items():
        assert {"pipeline/core", "pipeline/training"} <= set(stage["deps"]), name


def test_dvc_outs_are_the_paths_the_code_writes():
    # pipeline/study/paths.py computes every output path; dvc.yaml must declare the same ones, or
    # DVC would cache (and restore) folders the stages never write. Rendered with dvc.yaml's own
    # template variables in place of the values.
    from pipeline.study import paths
    from pipeline.study.grids import SSL, SUPERVISED

    m, r, s = "${item.method}", "${item.rate}", "${item.seed}"
    expected = {
        "prepare": paths.PREPARED_DIR,
        "warmup": SUPERVISED.warmup_dir(s),
        "full": SUPERVISED.cell_dir("full", "0.0", s),
        "train": SUPERVISED.cell_dir(m, r, s),
        "pretrain_warmup": SSL.warmup_dir(s),
        "pretrain_full": SSL.cell_dir("full", "0.0", s),
        "pretrain": SSL.cell_dir(m, r, s),
        "linear_eval_untrained": paths.LINEAR_EVAL_DIR / paths.untrained_name(s),
        "linear_eval_full": paths.LINEAR_EVAL_DIR / paths.cell_name("full", "0.0", s),
        "linear_eval": paths.LINEAR_EVAL_DIR / paths.cell_name(m, r, s),
        "dlc": paths.dlc_file(s).parent,
        "downstream": paths.DOWNSTREAM_DIR / paths.cell_name("${item.selector}", r, s),
    }
    from pipeline.study.grids import nlu_grid

    d = "${item.dataset}"
    grid = nlu_grid(d)
    expected.update(
        nlu_prepare=grid.data_file.parent,
        nlu_warmup=grid.warmup_dir(s),
        nlu_full=grid.cell_dir("full", "0.0", s),
        nlu_train=grid.cell_dir(m, r, s),
    )
    assert grid.meta_file.parent == grid.data_file.parent
    declared = stages()
    assert set(declared) == {*expected, "aggregate", "nlu_report"}
    for name, path in expected.items():
        assert declared[name]["outs"] == [str(path)], name
    report = paths.NLU_REPORTS_DIR / d
    outs = [next(iter(o)) for o in declared["nlu_report"]["outs"]]
    assert outs == [str(report / "results.md"), str(report / "accuracy_vs_saving.png"), str(report / "forest.png")]
    assert [next(iter(o)) for o in declared["nlu_report"]["metrics"]] == [str(report / "metrics.json")]
    outs = [next(iter(o)) for o in declared["aggregate"]["outs"]]
    # Everything aggregate writes (findings.md too: the README's opening is made from it).
    assert outs == [str(paths.RESULTS_FILE), str(paths.FINDINGS_FILE), str(paths.PLOTS_DIR)]
    assert [next(iter(o)) for o in declared["aggregate"]["metrics"]] == [str(paths.REPORTS_DIR / "metrics.json")]


def test_the_stage_names_the_code_gives_are_the_ones_dvc_yaml_renders():
    # Outside DVC (no DVC_STAGE) a stage names itself, in MLflow's tags and in "rerun ..." errors:
    # the names must be the ones dvc.yaml's matrices render from params.yaml.
    from dvc.repo import Repo

    from pipeline.study import config, probing
    from pipeline.study.grids import SSL, SUPERVISED

    rendered = {stage.addressing for stage in Repo(str(ROOT)).index.stages}
    cfg = config.load(ROOT / "params.yaml")
    s, seed = cfg.study, cfg.study.seeds[0]
    method, rate, ssl_method, ssl_rate = s.methods[0], s.rates[0], s.ssl_methods[0], s.ssl_rates[0]
    ssl_seed = s.ssl_seeds[0]
    named = {
        SUPERVISED.warmup_stage_name(seed),
        SUPERVISED.cell_stage_name(cfg.reference, 0.0, seed),
        SUPERVISED.cell_stage_name(cfg.method(method), rate, seed),
        SSL.warmup_stage_name(ssl_seed),
        SSL.cell_stage_name(cfg.reference, 0.0, ssl_seed),
        SSL.cell_stage_name(cfg.method(ssl_method), ssl_rate, ssl_seed),
        probing.stage_name("linear_eval", method=ssl_method, rate=ssl_rate, seed=ssl_seed),
        probing.stage_name("linear_eval_full", seed=ssl_seed),
        probing.stage_name("linear_eval_untrained", seed=ssl_seed),
        probing.stage_name("dlc", seed=ssl_seed),
        probing.stage_name("downstream", method=s.selectors[0], rate=rate, seed=ssl_seed),
    }
    assert named - rendered == set()
