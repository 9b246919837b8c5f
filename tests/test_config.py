from pathlib import Path

import pytest
import yaml

from dynaprune import pruning
from pipeline.core.errors import ConfigError
from pipeline.study import config

ROOT = Path(__file__).resolve().parents[1]


def load_with(tmp_path, raw) -> config.Config:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw) if not isinstance(raw, str) else raw)
    return config.load(path)


@pytest.mark.parametrize("path", ["params.yaml", *sorted(p.name for p in (ROOT / "params").glob("*.yaml"))])
def test_shipped_params_files_are_valid(path):
    full = ROOT / path if path == "params.yaml" else ROOT / "params" / path
    cfg = config.load(full)
    assert all(m in cfg.methods for m in [*cfg.study.methods, *cfg.study.ssl_methods, *cfg.study.nlu_methods])
    # an image grid, the NLU ones or the SimCLR one (their supervised part cut to its reference)
    assert cfg.study.methods or cfg.study.nlu_datasets or cfg.study.ssl_methods


def test_defaults_and_types():
    cfg = config.from_dict({"train": {"lr": 1, "epochs": 4, "warmup_epochs": 1}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.data.dataset == "fashion_mnist"
    assert set(cfg.methods) == set(pruning.REGISTRY)  # no methods section: every registered method
    assert cfg.methods["infobatch"].options.rescale and cfg.methods["infobatch"].options.anneal
    assert not cfg.methods["emp"].options.rescale and cfg.methods["emp"].options.beta == 1.0


def test_method_variants_name_their_base_method():
    cfg = config.from_dict(
        {
            "methods": {"emp_b0": {"method": "emp", "beta": 0}, "ucb": {"c": 2}},
            "study": {"methods": ["emp_b0", "ucb"], "ssl_methods": ["emp_b0"]},
        }
    )
    assert cfg.methods["emp_b0"].method == "emp" and cfg.methods["emp_b0"].options.beta == 0.0
    assert cfg.methods["ucb"].options.c == 2.0
    assert cfg.reference.method == "full"


def test_negative_beta_and_rate_zero_are_valid():
    cfg = config.from_dict(
        {
            "methods": {"emp": {"beta": -1}},
            "study": {"methods": ["emp"], "rates": [0, 0.5], "ssl_methods": ["emp"], "ssl_rates": [0]},
        }
    )
    assert cfg.methods["emp"].options.beta == -1.0 and cfg.study.rates == [0.0, 0.5]


@pytest.mark.parametrize(
    "raw, fragments",
    [
        ({"train": {"lr": -0.1}}, ["train.lr = -0.1", "a number > 0"]),
        ({"train": {"epochs": "ten"}}, ["train.epochs = 'ten'", "an integer"]),
        ({"train": {"epochs": 2.5}}, ["train.epochs = 2.5", "an integer"]),
        ({"train": {"hflip": "yes"}}, ["train.hflip = 'yes'", "true/false"]),
        ({"train": {"lrr": 0.1}}, ["train.lrr is not a known key", "did you mean 'lr'"]),
        ({"trian": {}}, ["trian is not a known key", "did you mean 'train'"]),
        ({"data": {"dataset": "mnist"}}, ["data.dataset = 'mnist'", "fashion_mnist"]),
        ({"model": {"arch": "vgg"}}, ["model.arch = 'vgg'", "small_cnn, resnet18, resnet50"]),
        ({"study": {"rates": [0.5, 1.0]}}, ["study.rates = [0.5, 1.0]", "[0.0, 1.0)"]),
        ({"study": {"rates": []}}, ["study.rates", "non-empty list"]),
        ({"study": {"seeds": [0, 0]}}, ["study.seeds", "duplicates"]),
        ({"study": {"methods": ["random", "nope"]}}, ["study.methods: 'nope'", "add `nope: {}` under methods"]),
        ({"study": {"methods": ["full"]}}, ["'full' is the full-data reference"]),
        ({"methods": {"emp": {"bta": 2}}}, ["methods.emp.bta is not a known key", "did you mean 'beta'"]),
        ({"methods": {"emp": {"epsilon": 1.5}}}, ["methods.emp.epsilon = 1.5", "[0.0, 1.0]"]),
        ({"methods": {"ucb": {"momentum": 0}}}, ["methods.ucb.momentum = 0", "(0.0, 1.0]"]),
        ({"methods": {"mine": {"beta": 1}}}, ["unknown pruning method 'mine'", "methods.mine.method"]),
        ({"methods": {"x": {"method": "emq"}}}, ["unknown pruning method 'emq'"]),
        ({"methods": ["emp"]}, ["methods = ['emp']", "mapping"]),
        ({"methods": {"emp_beta0.5": {"method": "emp"}}}, ["name 'emp_beta0.5' is invalid", "e.g. 'emp_beta0_5'"]),
        ({"data": {"test_size": -5}}, ["data.test_size = -5", "> 0"]),
        ({"tracking": {"experiment": " "}}, ["tracking.experiment = ' '", "non-empty name"]),
        ({"train": {"epochs": 3, "warmup_epochs": 3}}, ["train.warmup_epochs = 3", "less than train.epochs = 3"]),
        ({"runtime": {"device": "tpu"}}, ["runtime.device = 'tpu'", "auto, cpu, cuda"]),
        ({"pretrain": {"epochs": 2, "warmup_epochs": 2}}, ["pretrain.warmup_epochs = 2", "less than pretrain.epochs"]),
        ({"study": {"ssl_methods": ["emq"]}}, ["study.ssl_methods: 'emq' has no entry in methods"]),
        ({"study": {"selectors": ["flexrand", "best"]}}, ["study.selectors", "flexrand, static_random"]),
        ({"downstream": {"delta": 1.0}}, ["downstream.delta = 1.0", "(0.0, 1.0)"]),
        ({"pretrain": {"temperature": 0}}, ["pretrain.temperature = 0", "> 0"]),
        ({"data": {"train_size": 0}}, ["data.train_size = 0", "> 0"]),
        ({"train": {"weight_decay": float("nan")}}, ["train.weight_decay", "finite"]),
        ({"train": {"seed": 0}}, ["train.seed is no longer a key", "own warm-up", "study.seeds"]),
        ({"pretrain": {"seed": 0}}, ["pretrain.seed is no longer a key", "SimCLR warm-up", "study.ssl_seeds"]),
        ({"study": {"ssl_seeds": [0, "a"]}}, ["study.ssl_seeds"]),
        ({"train": {"init_stats": "eval"}}, ["train.init_stats = 'eval'", "train_pass, eval_pass"]),
        ({"methods": {"seta": {"window": 0}}}, ["methods.seta.window = 0", "(0.0, 1.0]"]),
        ({"methods": {"seta": {"groups": 0}}}, ["methods.seta.groups = 0", "> 0"]),
        ({"methods": {"ucb": {"epsilon": -0.1}}}, ["methods.ucb.epsilon = -0.1", "[0.0, 1.0]"]),
        ({"methods": {"static_random": {"per_class": "no"}}}, ["methods.static_random.per_class = 'no'", "true/false"]),
    ],
)
def test_bad_values_give_one_clear_line(tmp_path, raw, fragments):
    with pytest.raises(ConfigError) as err:
        load_with(tmp_path, raw)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "params.yaml"))
    for fragment in fragments:
        assert fragment in message, message


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_with(tmp_path, "train:\n  lr: [0.1\n")
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "absent.yaml")


def test_floats_written_as_dvc_writes_them_are_numbers(tmp_path):
    # `dvc exp run -S nlu.lr=2e-5` writes `lr: 2e-05`, which YAML 1.1 (PyYAML) reads as a string.
    path = tmp_path / "params.yaml"
    path.write_text("nlu:\n  lr: 2e-05\n  weight_decay: 1e-2\n")
    cfg = config.load(path)
    assert cfg.nlu.lr == 2e-05 and cfg.nlu.weight_decay == 0.01


@pytest.mark.parametrize("section", ["train", "pretrain", "nlu"])
def test_device_settings_of_an_older_file_name_their_move(section):
    with pytest.raises(ConfigError) as err:
        config.from_dict({section: {"eval_batch_size": 512, "device": "cpu"}})
    assert str(err.value) == (
        f"{section}.device has moved to runtime.device: move device, eval_batch_size from {section} to a "
        "`runtime:` section (it serves every stage)"
    )


def test_every_grid_may_be_empty():
    study = {"methods": [], "ssl_methods": [], "ssl_seeds": [], "selectors": [], "nlu_methods": []}
    cfg = config.from_dict({"study": study})
    assert cfg.study.methods == cfg.study.ssl_methods == cfg.study.ssl_seeds == cfg.study.selectors == []
    assert config.from_dict({"runtime": {"device": "cpu", "compile": True}}).runtime.compile


def test_a_rate_a_method_cannot_run_is_refused_when_params_load():
    # orderdp keeps K = 0.9 N at rate 0.1, more than the random 0.8 N it draws first
    with pytest.raises(ConfigError, match=r"study.methods: methods.orderdp: orderdp keeps 0.9 .* at least 0.9"):
        config.from_dict({"study": {"methods": ["orderdp"], "rates": [0.1, 0.5]}})
    config.from_dict(
        {"methods": {"orderdp": {"subset": 0.9}}, "study": {"methods": ["orderdp"], "rates": [0.1], "ssl_methods": []}}
    )
