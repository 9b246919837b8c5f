import pytest
import torch
from torch import nn

from pipeline.core.errors import ConfigError
from pipeline.core.models import build_model


def test_small_cnn_shapes():
    model = build_model("small_cnn", 1, 10)
    assert model(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)  # digits
    assert sum(p.numel() for p in model.parameters()) < 200_000


@pytest.mark.parametrize("arch, channels, classes", [("resnet18", 1, 7), ("resnet18", 3, 10), ("resnet50", 3, 100)])
def test_resnets_have_the_cifar_stem(arch, channels, classes):
    model = build_model(arch, channels, classes)
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and model.conv1.in_channels == channels
    assert isinstance(model.maxpool, nn.Identity)
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(2, channels, 32, 32)).shape == (2, classes)


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'vgg'"):
        build_model("vgg", 3, 10)
