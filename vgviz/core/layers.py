"""The layer kinds the probe, the traces and the diagnostics recognise, found by type."""
from __future__ import annotations

import torch
from torch import nn

# Element-wise activation modules
ACTIVATION_TYPES = (nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU,
                    nn.Identity, nn.Softplus, nn.ReLU6, nn.Hardtanh, nn.SELU, nn.CELU, nn.Mish)
NORM_TYPES = (nn.BatchNorm1d, nn.LayerNorm)


class ResidualSum(nn.Module):
    """A block whose forward computes u = branch(x) + x and keeps u in `last_sum`, so the
    probe and the trace can read dL/du, the gradient that flows back through the skip path."""

    last_sum: torch.Tensor | None = None


class ResidualNet(nn.Module):
    """A model that knows its skip paths, for the diagram's arcs."""

    def skip_connections(self) -> list[tuple[int, int]]:
        """(a, b) per skip path: the output of Linear a skips to the sum at Linear b's output."""
        raise NotImplementedError


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """Every Linear layer of any model, in registration order (input to output for ours)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def layer_labels(n_linear: int) -> list[str]:
    """Names a person reads: hidden1 … hiddenN, then output."""
    return [f"hidden{i + 1}" for i in range(n_linear - 1)] + ["output"]
