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
