"""params.yaml and every preset under params/ load, and the presets keep params.yaml's keys."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.study import config

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "params").glob("*.yaml"))
EVERY_METHOD = set(config.EVERY_METHOD)  # every registered method but full


def keys(tree, prefix=""):
    return {
        k
        for key, value in tree.items()
        for k in (
            keys(value, f"{prefix}{key}.") if isinstance(value, dict) and key != "methods" else {f"{prefix}{key}"}
        )
    }


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_loads_and_has_every_key_of_params_yaml(path):
    cfg = config.load(path)
    assert keys(yaml.safe_load(path.read_text())) == keys(yaml.safe_load((ROOT / "params.yaml").read_text()))
    assert cfg.tracking.experiment != "data-pruning"  # each preset logs to its own MLflow experiment


def test_presets_cover_the_headline_and_gpu_settings():
    headline = config.load(ROOT / "params" / "cpu_headline.yaml")
    # every supervised method across two rates, over 5 seeds: a curve for the equal-cost comparison,
    # and intervals on 4 degrees of freedom; supervised only (SimCLR has its own preset)
    assert headline.study.rates == [0.3, 0.7] and headline.study.seeds == [0, 1, 2, 3, 4]
    assert set(headline.study.methods) == EVERY_METHOD and headline.study.ssl_seeds == []
    # the beta ablation is defined, to add to the grid; beta = 0 is epsilon_greedy (it selects what EMP at 0 does)
    betas = sorted(s.options.beta for s in headline.methods.values() if s.method == "emp")
    assert betas == [-1.0, -0.5, 0.5, 1.0, 2.0]
    c10 = config.load(ROOT / "params" / "gpu_cifar10_resnet18.yaml")
    assert (c10.data.dataset, c10.model.arch, c10.study.rates) == ("cifar10", "resnet18", [0.3, 0.5, 0.7])
    c100 = config.load(ROOT / "params" / "gpu_cifar100_resnet50.yaml")
    assert (c100.data.dataset, c100.model.arch, c100.study.rates) == ("cifar100", "resnet50", [0.7])


def test_the_simclr_preset_runs_its_grid_over_5_seeds_probed_where_pre_training_shows():
    ssl = config.load(ROOT / "params" / "ssl_cpu.yaml")
    s = ssl.study
    assert s.ssl_methods == ["random", "rs2", "infobatch", "orderdp", "emp"] and s.ssl_rates == [0.3, 0.7]
    assert s.ssl_seeds == [0, 1, 2, 3, 4] and s.methods == [] and s.seeds == [0]  # SimCLR is the study
    # a label budget: with every label the untrained encoder's features probe within 4 points of
    # full-data pre-training at this scale (reports/ssl_scale/README.md)
    assert ssl.linear_eval.labels_per_class == 20 and ssl.data.dataset == "fashion_mnist"


def test_default_params_load():
    assert config.load(ROOT / "params.yaml").data.dataset == "fashion_mnist"


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_a_preset_runs_as_dvc_overrides_of_params_yaml(path, tmp_path):
    # scripts/preset.py turns a preset into `dvc exp run -S` overrides; applied by DVC's own
    # machinery to params.yaml, they give exactly the preset (so params.yaml is never copied over).
    from dvc.utils.hydra import apply_overrides

    preset = runpy.run_path(str(ROOT / "scripts" / "preset.py"))
    sets = preset["overrides"](config.read_yaml((ROOT / "params.yaml").read_text()), config.read_yaml(path.read_text()))
    target = tmp_path / "params.yaml"
    target.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(target, sets)
    # read as the study reads params (DVC writes 2e-5 as 2e-05, a number in YAML 1.2 only)
    assert config.read_yaml(target.read_text()) == config.read_yaml(path.read_text())


def test_an_unknown_preset_is_one_line():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preset.py"), "smok"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode != 0 and "no preset 'smok'" in done.stderr and "smoke" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_nlu_presets_run_both_cpu_datasets_and_sst2_with_bert():
    cpu = config.load(ROOT / "params" / "nlu_cpu.yaml")
    assert cpu.study.nlu_datasets == ["rotten_tomatoes", "trec6"] and cpu.nlu.model == "minilm"
    assert cpu.study.nlu_rates == [0.3, 0.5, 0.7] and cpu.study.nlu_seeds == [0, 1, 2]
    assert set(cpu.study.nlu_methods) == EVERY_METHOD
    gpu = config.load(ROOT / "params" / "gpu_sst2_bert_base.yaml")
    assert (gpu.study.nlu_datasets, gpu.nlu.model, gpu.nlu.optimizer) == (["sst2"], "bert_base", "adamw")
    assert config.load(ROOT / "params.yaml").study.nlu_datasets == []  # the default study leaves NLU out
