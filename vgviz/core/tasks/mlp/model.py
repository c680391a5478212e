"""Build the model a RunConfig describes: a plain MLP, with optional normalisation and residual blocks."""
from __future__ import annotations

import math

import torch
from torch import nn

from ...config import RunConfig
from ...layers import ResidualNet, ResidualSum, linear_layers
from ..seeding import seeded

SMALL_INIT_STD = 0.01  # the default of RunConfig.init_std
DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


def make_activation(config: RunConfig) -> nn.Module:
    name = config.activation
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(config.leaky_slope)
    if name == "prelu":
        return nn.PReLU(init=0.25)
    if name == "elu":
        return nn.ELU()
    if name == "gelu":
        return nn.GELU()
    if name == "silu":
        return nn.SiLU()
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}")


def make_norm(config: RunConfig, width: int) -> nn.Module | None:
    if config.norm == "batchnorm":
        return nn.BatchNorm1d(width)
    if config.norm == "layernorm":
        return nn.LayerNorm(width)
    return None


class ResidualBlock(ResidualSum):
    """f(norm(W₂·f(norm(W₁x))) + x), or f(norm(W₁x) + x) for a one-layer block.

    The sum u = branch + x is kept (`last_sum`) so the probe and the trace can
    read the gradient dL/du that flows back through the skip path unchanged.
    """

    def __init__(self, width: int, n_linear: int, config: RunConfig):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.norm1 = make_norm(config, width) or nn.Identity()
        if n_linear == 2:
            self.act1 = make_activation(config)
            self.fc2 = nn.Linear(width, width)
            self.norm2 = make_norm(config, width) or nn.Identity()
        else:
            self.act1 = self.fc2 = self.norm2 = None
        self.act_out = make_activation(config)
        self.last_sum: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(self.fc1(x))
        if self.fc2 is not None:
            h = self.norm2(self.fc2(self.act1(h)))
        u = h + x
        self.last_sum = u
        return self.act_out(u)


class ResidualMLP(ResidualNet):
    """stem (Linear → norm → f) · residual blocks of two Linear layers · output Linear."""

    def __init__(self, n_inputs: int, n_outputs: int, config: RunConfig):
        super().__init__()
        width = config.width
        stem = [nn.Linear(n_inputs, width)]
        norm = make_norm(config, width)
        if norm is not None:
            stem.append(norm)
        stem.append(make_activation(config))
        self.stem = nn.Sequential(*stem)
        rest = config.depth - 1
        sizes = [2] * (rest // 2) + ([1] if rest % 2 else [])
        self.blocks = nn.ModuleList(ResidualBlock(width, n, config) for n in sizes)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def skip_connections(self) -> list[tuple[int, int]]:
        """(a, b) per block: the output of Linear a feeds the block, whose sum is at Linear b's output."""
        pairs, linear = [], 0  # the stem's Linear is index 0
        for block in self.blocks:
            start = linear
            linear += 2 if block.fc2 is not None else 1
            pairs.append((start, linear))
        return pairs


def build_model(config: RunConfig, n_inputs: int, n_outputs: int) -> nn.Module:
    """The MLP of a config, initialised from config.seed alone (the caller's RNG is untouched)."""
    with seeded(config.seed):
        if config.residual:
            model: nn.Module = ResidualMLP(n_inputs, n_outputs, config)
        else:
            sizes = [n_inputs] + [config.width] * config.depth + [n_outputs]
            layers: list[nn.Module] = []
            for i in range(len(sizes) - 1):
                layers.append(nn.Linear(sizes[i], sizes[i + 1]))
                if i < len(sizes) - 2:
                    norm = make_norm(config, sizes[i + 1])
                    if norm is not None:
                        layers.append(norm)
                    layers.append(make_activation(config))
            model = nn.Sequential(*layers)
        for _, layer in linear_layers(model):
            init_linear(layer, config.init, config.activation, std=config.init_std,
                        leaky_slope=config.leaky_slope)
    return model.to(DTYPES[config.dtype])


def build_mlp(config: RunConfig, n_inputs: int, n_outputs: int) -> nn.Module:
    """Kept for callers of the first API: same as build_model."""
    return build_model(config, n_inputs, n_outputs)


def init_linear(layer: nn.Linear, init: str, activation: str, std: float = SMALL_INIT_STD,
                leaky_slope: float = 0.01) -> None:
    """Initialise one Linear layer. He inits use fan-in and a ReLU gain (leaky_relu: its slope)."""
    if init == "default":
        return  # PyTorch's own: U(±1/√fan_in) for weights and biases
    w, b = layer.weight, layer.bias
    fan_in = w.shape[1]
    he_nonlinearity = "leaky_relu" if activation == "leaky_relu" else "relu"
    he_a = leaky_slope if activation == "leaky_relu" else 0.0
    with torch.no_grad():
        if init in ("xavier", "xavier_uniform"):
            nn.init.xavier_uniform_(w)
        elif init == "xavier_normal":
            nn.init.xavier_normal_(w)
        elif init in ("he", "he_normal"):
            nn.init.kaiming_normal_(w, a=he_a, mode="fan_in", nonlinearity=he_nonlinearity)
        elif init == "he_uniform":
            nn.init.kaiming_uniform_(w, a=he_a, mode="fan_in", nonlinearity=he_nonlinearity)
        elif init == "lecun_normal":
            nn.init.normal_(w, 0.0, 1.0 / math.sqrt(fan_in))
        elif init == "orthogonal":
            nn.init.orthogonal_(w)
        elif init == "small":
            nn.init.normal_(w, 0.0, std)
        elif init == "nielsen":
            # Nielsen, "Neural Networks and Deep Learning", ch. 3/5: N(0, 1/n_in) weights, N(0, 1) biases
            nn.init.normal_(w, 0.0, 1.0 / math.sqrt(fan_in))
            if b is not None:
                nn.init.normal_(b, 0.0, 1.0)
            return
        else:
            raise ValueError(f"unknown init {init!r}")
        if b is not None:
            b.zero_()

