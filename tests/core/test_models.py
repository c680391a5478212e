"""build_mlp: structure, initialisations, seeding."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vgviz.core.config import RunConfig
from vgviz.core.layers import layer_labels, linear_layers
from vgviz.core.tasks.mlp.model import SMALL_INIT_STD, build_mlp


def test_structure():
    model = build_mlp(RunConfig(depth=3, width=7, activation="tanh"), 2, 3)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    shapes = [(m.in_features, m.out_features) for _, m in linear_layers(model)]
    assert shapes == [(2, 7), (7, 7), (7, 7), (7, 3)]
    assert layer_labels(4) == ["hidden1", "hidden2", "hidden3", "output"]


@pytest.mark.parametrize("activation, cls", [("sigmoid", nn.Sigmoid), ("relu", nn.ReLU), ("tanh", nn.Tanh)])
def test_activation(activation, cls):
    model = build_mlp(RunConfig(depth=2, activation=activation), 2, 2)
    assert isinstance(model[1], cls) and isinstance(model[3], cls)


def wide_weights(init: str, fan_in: int = 256, fan_out: int = 256):
    model = build_mlp(RunConfig(depth=1, width=fan_out, init=init), fan_in, 2)
    return model[0]


def test_he_init_std_and_zero_bias():
    layer = wide_weights("he")
    assert layer.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.03)
    assert torch.count_nonzero(layer.bias) == 0


def test_xavier_init_bound():
    layer = wide_weights("xavier")
    bound = math.sqrt(6 / (256 + 256))
    assert layer.weight.abs().max().item() <= bound
    assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert torch.count_nonzero(layer.bias) == 0


def test_small_init():
    layer = wide_weights("small")
    assert layer.weight.std().item() == pytest.approx(SMALL_INIT_STD, rel=0.03)


def test_default_init_is_pytorch_uniform():
    layer = wide_weights("default")
    bound = 1 / math.sqrt(256)
    assert layer.weight.abs().max().item() <= bound
    assert layer.weight.abs().max().item() > 0.95 * bound
    assert torch.count_nonzero(layer.bias) > 0


def test_weights_depend_on_seed_only():
    config = RunConfig(depth=2, width=5)
    torch.manual_seed(1)
    a = build_mlp(config, 2, 2)
    torch.manual_seed(2)
    b = build_mlp(config, 2, 2)
    c = build_mlp(config.replace(seed=1), 2, 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)
