import os
import socket

import pytest
import torch

from pipeline import config, data, train


@pytest.fixture(autouse=True)
def _fixed_threads():
    # Results must not depend on how many cores the test machine has.
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def digits():
    return data.load_digits()


def tiny_config(**train_overrides) -> config.Config:
    t = {"epochs": 6, "warmup_epochs": 2, "batch_size": 64, "lr": 0.1, "crop_padding": 1, "hflip": False,
         "device": "cpu"}
    t.update(train_overrides)
    return config.from_dict({"data": {"dataset": "digits"}, "train": t})


@pytest.fixture(scope="session")
def digits_warmup(digits):
    torch.set_num_threads(1)
    cfg = tiny_config()
    return cfg, train.warmup(cfg, digits)


def stage_env(**extra: str) -> dict:
    """The environment for a stage subprocess: this one without DVC's or MLflow's variables, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_"))}, **extra}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
