"""Build the model a RunConfig describes."""
from __future__ import annotations

import torch
from torch import nn

from .config import RunConfig

_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
SMALL_INIT_STD = 0.01


def build_mlp(config: RunConfig, n_inputs: int, n_outputs: int) -> nn.Sequential:
    """Linear, act, Linear, act, ..., Linear: `depth` hidden layers of `width` units.

    Built under a forked RNG seeded from the config, so the weights depend on the
    seed alone and the caller's global RNG is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        sizes = [n_inputs] + [config.width] * config.depth + [n_outputs]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[config.activation]())
        model = nn.Sequential(*layers)
        for layer in model:
            if isinstance(layer, nn.Linear):
                init_linear(layer, config.init, config.activation)
    return model


def init_linear(layer: nn.Linear, init: str, activation: str) -> None:
    if init == "default":
        return  # PyTorch's own: U(±1/√fan_in) for weights and biases
    with torch.no_grad():
        if init == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        elif init == "he":
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
        elif init == "small":
            nn.init.normal_(layer.weight, 0.0, SMALL_INIT_STD)
        else:
            raise ValueError(f"unknown init {init!r}")
        layer.bias.zero_()


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """Every Linear layer of any model, in registration order (input to output for ours)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def layer_labels(n_linear: int) -> list[str]:
    """Names a person reads: hidden1 … hiddenN, then output."""
    return [f"hidden{i + 1}" for i in range(n_linear - 1)] + ["output"]
