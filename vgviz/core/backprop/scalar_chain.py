"""The scalar chain: one neuron per layer, y = f(wₙ·f(… f(w₁·x))), loss L = y.

The smallest network that shows the vanishing gradient: dL/dx is a product of
one factor wₗ·f′(zₗ) per layer, and sigmoid's f′ is at most 0.25.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .trace import BackpropTrace, record

CHAIN_ACTIVATIONS = {"identity": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
MAX_CHAIN_LAYERS = 20


class ChainError(ValueError):
    pass


@dataclass(frozen=True)
class ChainNumbers:
    """Per layer l (0 = nearest the input): zₗ, f′(zₗ), the factor wₗ·f′(zₗ), and the running
    product Πₖ₌ₗ..ₙ wₖ·f′(zₖ) = dL/daₗ₋₁, the gradient that reaches layer l's input."""

    z: np.ndarray
    fprime: np.ndarray
    weights: np.ndarray
    factors: np.ndarray
    running_product: np.ndarray

    @property
    def input_gradient(self) -> float:
        return float(self.running_product[0])


def build_scalar_chain(n_layers: int, activation: str = "sigmoid", weights: float | list[float] = 1.0) -> nn.Sequential:
    if not 1 <= n_layers <= MAX_CHAIN_LAYERS:
        raise ChainError(f"layers: must be an integer from 1 to {MAX_CHAIN_LAYERS}; got {n_layers!r}")
    if activation not in CHAIN_ACTIVATIONS:
        raise ChainError(f"activation: must be one of {', '.join(CHAIN_ACTIVATIONS)}; got {activation!r}")
    ws = [float(weights)] * n_layers if np.isscalar(weights) else [float(w) for w in weights]
    if len(ws) != n_layers:
        raise ChainError(f"weights: need {n_layers} values, got {len(ws)}")
    if not all(np.isfinite(ws)):
        raise ChainError("weights: must be finite numbers")
    layers: list[nn.Module] = []
    for w in ws:
        # float64 so 0.2¹⁰ and σ′(5) read exactly as the formulas give them
        lin = nn.Linear(1, 1, bias=False, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.fill_(w)
        layers += [lin, CHAIN_ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


def record_scalar_chain(n_layers: int, activation: str = "sigmoid", weights: float | list[float] = 1.0,
                        x: float = 1.0) -> BackpropTrace:
    if not np.isfinite(x):
        raise ChainError("x: must be a finite number")
    model = build_scalar_chain(n_layers, activation, weights)
    names = [f"neuron{i + 1}" for i in range(n_layers)]
    inp = torch.tensor([[float(x)]], dtype=torch.float64)
    return record(model, inp, None, lambda out, _y: out.sum(), layer_names=names)


def chain_numbers(trace: BackpropTrace) -> ChainNumbers:
    """The chain-rule factors of a scalar-chain trace (every layer one unit wide)."""
    if any(size != 1 for size in trace.layer_sizes):
        raise ChainError("chain_numbers() needs a chain of one-unit layers")
    n = len(trace.layer_names)
    z = np.array([trace.forward_frame(i).z.item() for i in range(n)])
    fprime = np.array([1.0 if trace.forward_frame(i).fprime is None else trace.forward_frame(i).fprime.item()
                       for i in range(n)])
    w = np.array([trace.weights[i].item() for i in range(n)])
    factors = w * fprime
    running = np.cumprod(factors[::-1])[::-1]
    return ChainNumbers(z=z, fprime=fprime, weights=w, factors=factors, running_product=running)
