"""Every kind of user error is refused before any work: one line naming what is wrong and how to
fix it, exit code 2, no traceback, and nothing written to outputs or to MLflow.

Each case mutates a copy of a workspace that has run prepare and warmup on digits, runs one
stage's script in-process (as `python stages/<stage>.py` would; test_stages.py runs a few as real
subprocesses), and compares the workspace's files before and after.
"""

import gzip
import runpy
import shutil
import sys
from pathlib import Path

import _launch as launch  # stages/ is on sys.path (conftest.py)
import pytest
import yaml

from pipeline.study import config

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "data": {"dataset": "digits"},
    "runtime": {"device": "cpu"},
    "train": {"epochs": 3, "warmup_epochs": 2},
    "tracking": {"experiment": "bad-input"},
}
CELL = ("--method", "emp", "--rate", "0.5", "--seed", "0")


def run_script(script: str, *args: str) -> None:
    """A stage's script in this process. Its `_stage.run(main)` ends the process it runs in
    (stages/_launch.py; tests/test_launch.py checks that in real processes): here its exit status
    is raised as SystemExit instead, and a status of 0 returns."""
    argv, path, finish = sys.argv, list(sys.path), launch.finish
    sys.argv = [script, *args]
    sys.path.insert(0, str(ROOT / "stages"))  # where `import _stage` finds it
    launch.finish = _exit_status
    try:
        runpy.run_path(str(ROOT / "stages" / script), run_name="__main__")
    finally:
        sys.argv, sys.path[:], launch.finish = argv, path, finish


def _exit_status(code: int) -> None:
    if code:
        raise SystemExit(code)


def merged(base: dict, override: dict) -> dict:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in override.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section] = {**out[section], **values}
        else:
            out[section] = values
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("ready")
    (ws / "params.yaml").write_text(yaml.safe_dump(BASE))
    mp = pytest.MonkeyPatch()
    for key in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_STAGE", "DVC_EXP_NAME"):
        mp.delenv(key, raising=False)
    mp.chdir(ws)
    run_script("prepare.py")
    run_script("warmup.py")
    mp.undo()
    return ws


def snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- the mutations -------------------------------------------------------------------------


def params(**override):
    def apply(ws: Path, env):
        (ws / "params.yaml").write_text(yaml.safe_dump(merged(BASE, override)))

    return apply


def write(relative: str, content: bytes):
    def apply(ws: Path, env):
        path = ws / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)

    return apply


def remove(relative: str):
    def apply(ws: Path, env):
        shutil.rmtree(ws / relative)

    return apply


def with_fashion_mnist_truncated(ws: Path, env):
    raw = ws / "fmnist"
    raw.mkdir()
    header = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (raw / (stem + ".gz")).write_bytes(gzip.compress(header + bytes(100)))  # 100 of 47M pixels
    for stem, n in (("train-labels-idx1-ubyte", 60000), ("t10k-labels-idx1-ubyte", 10000)):
        (raw / (stem + ".gz")).write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(n)))
    params(data={"dataset": "fashion_mnist", "root": "fmnist"})(ws, env)


def with_cifar_corrupt(ws: Path, env):
    folder = ws / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in (
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
        "batches.meta",
    ):
        (folder / name).write_bytes(b"\x80\x04garbage")
    params(data={"dataset": "cifar10", "root": "cifar"})(ws, env)


def outputs_is_a_file(ws: Path, env):
    shutil.rmtree(ws / "outputs")
    (ws / "outputs").write_text("not a folder")


def env(key: str, value: str):
    def apply(ws: Path, setenv):
        setenv(key, value.format(ws=ws))

    return apply


CASES = [
    # (id, stage script, its arguments, mutation, what the message must say)
    ("negative lr", "prepare.py", (), params(train={"lr": -0.1}), "train.lr = -0.1 is invalid"),
    ("epochs not a number", "prepare.py", (), params(train={"epochs": "ten"}), "train.epochs"),
    ("zero batch size", "prepare.py", (), params(train={"batch_size": 0}), "train.batch_size = 0 is invalid"),
    ("warm-up longer than the run", "prepare.py", (), params(train={"epochs": 2, "warmup_epochs": 4}), "warmup_epochs"),
    ("misspelt key", "prepare.py", (), params(train={"lr_shedule": "cosine"}), "did you mean 'lr_schedule'"),
    ("unknown section", "prepare.py", (), params(trian={"lr": 0.1}), "trian"),
    ("unknown dataset", "prepare.py", (), params(data={"dataset": "imagenet"}), "imagenet"),
    ("unknown model", "prepare.py", (), params(model={"arch": "vgg16"}), "vgg16"),
    ("unknown method in the grid", "prepare.py", (), params(study={"methods": ["emp", "magic"]}), "magic"),
    (
        "unknown registered method",
        "prepare.py",
        (),
        params(methods={"mine": {"method": "emq"}}, study={"methods": ["mine"]}),
        "emq",
    ),
    (
        "method option of the wrong type",
        "prepare.py",
        (),
        params(methods={"emp": {"beta": "high"}}, study={"methods": ["emp"]}),
        "beta",
    ),
    (
        "epsilon above 1",
        "prepare.py",
        (),
        params(methods={"emp": {"epsilon": 1.5}}, study={"methods": ["emp"]}),
        "epsilon",
    ),
    ("negative UCB c", "prepare.py", (), params(methods={"ucb": {"c": -1}}, study={"methods": ["ucb"]}), "c = -1"),
    ("rate 1", "prepare.py", (), params(study={"rates": [1.0]}), "study.rates"),
    ("unknown device", "prepare.py", (), params(runtime={"device": "tpu"}), "runtime.device"),
    (
        "method name DVC cannot address",
        "prepare.py",
        (),
        params(methods={"emp.1": {"method": "emp"}}, study={"methods": ["emp.1"]}),
        "emp.1",
    ),
    ("zero temperature", "prepare.py", (), params(pretrain={"temperature": 0}), "pretrain.temperature"),
    ("blank experiment", "prepare.py", (), params(tracking={"experiment": " "}), "tracking.experiment"),
    ("unknown selector", "prepare.py", (), params(study={"selectors": ["best"]}), "best"),
    (
        "subset larger than the dataset",
        "prepare.py",
        (),
        params(data={"dataset": "digits", "train_size": 99999}),
        "larger than the 1347",
    ),
    ("params.yaml not YAML", "prepare.py", (), write("params.yaml", b"train: [lr: 0.1\n"), "params.yaml"),
    ("params file missing", "prepare.py", ("--params", "nope.yaml"), lambda ws, e: None, "nope.yaml"),
    ("truncated Fashion-MNIST file", "prepare.py", (), with_fashion_mnist_truncated, "truncated"),
    ("corrupt CIFAR-10 batch", "prepare.py", (), with_cifar_corrupt, "corrupt"),
    ("prepared dataset missing", "warmup.py", (), remove("data/prepared"), "run the prepare stage"),
    ("prepared dataset corrupt", "warmup.py", (), write("data/prepared/dataset.pt", b"junk"), "corrupt"),
    ("warm-up checkpoint corrupt", "train.py", CELL, write("outputs/warmup/0/checkpoint.pt", b"junk"), "corrupt"),
    (
        "rate out of range",
        "train.py",
        ("--method", "emp", "--rate", "1.5", "--seed", "0"),
        lambda ws, e: None,
        "--rate 1.5",
    ),
    (
        "method not in params",
        "train.py",
        ("--method", "emq", "--rate", "0.5", "--seed", "0"),
        lambda ws, e: None,
        "no method named 'emq'",
    ),
    ("output folder is a file", "train.py", CELL, outputs_is_a_file, "is a file, not a folder"),
    (
        "unreachable tracking server",
        "train.py",
        CELL,
        env("MLFLOW_TRACKING_URI", "http://127.0.0.1:9"),
        "is unreachable",
    ),
    (
        "tracking store under a file",
        "prepare.py",
        (),
        env("MLFLOW_TRACKING_URI", "sqlite:///{ws}/params.yaml/m.db"),
        "is a file, not a folder",
    ),
]


@pytest.mark.parametrize("script, args, mutate, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_work(workspace, tmp_path, monkeypatch, capsys, script, args, mutate, expected):
    ws = tmp_path / "ws"
    shutil.copytree(workspace, ws)
    for key in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_STAGE", "DVC_EXP_NAME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(ws)
    mutate(ws, monkeypatch.setenv)
    before = snapshot(ws)
    with pytest.raises(SystemExit) as exit_:
        run_script(script, *args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert snapshot(ws) == before  # no output, no checkpoint, no MLflow write


def test_ablation_values_are_valid(tmp_path):
    # A negative EMP beta favours remembered samples (an ablation); rate 0 is the no-pruning control.
    path = tmp_path / "params.yaml"
    path.write_text(
        yaml.safe_dump(
            merged(
                BASE,
                {
                    "methods": {"emp": {"beta": -1.0}},
                    "study": {"methods": ["emp"], "ssl_methods": ["emp"], "rates": [0.0, 0.5]},
                },
            )
        )
    )
    cfg = config.load(path)
    assert cfg.method("emp").options.beta == -1.0 and cfg.study.rates == [0.0, 0.5]
