"""GradientProbe: gradient statistics of any torch.nn.Module, cheap enough for every step.

    probe = GradientProbe(model)   # hooks; probe.close() or `with` removes them
    loss.backward()
    probe.param_stats()            # {name: {"mean_abs": float, "l2": float}}

Besides parameter gradients (read after backward, no hook needed) the probe
keeps, for every nn.Linear, the gradient of the loss with respect to that
layer's output z (its pre-activation), δ = dL/dz. A forward hook registers a
tensor hook on z that only stores a reference; all norms are then taken in a
few batched torch calls after backward (PERF-NOTES: per-layer `.item()` calls
and full backward hooks are what make instrumentation expensive).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


def _norms(tensors: list[torch.Tensor], ord: float) -> list[torch.Tensor]:
    foreach = getattr(torch, "_foreach_norm", None)
    if foreach is not None:
        return list(foreach(tensors, ord))
    return [torch.linalg.vector_norm(t, ord) for t in tensors]  # pragma: no cover - old torch


@dataclass(frozen=True)
class LayerCapture:
    """Per-Linear-layer numbers of one backward pass, as detached numpy arrays."""

    names: tuple[str, ...]
    grad_mean_abs: np.ndarray        # (L,) mean |dL/dW| of each weight matrix
    grad_l2: np.ndarray              # (L,) ‖dL/dW‖
    delta_l2: np.ndarray             # (L,) ‖δ‖ over batch × units
    delta_mean_abs: tuple[np.ndarray, ...]   # per layer (units,): batch mean |δ_j|
    edge_abs: tuple[np.ndarray, ...] | None  # per layer (out, in): |dL/dW_ij|


class GradientProbe:
    def __init__(self, model: nn.Module):
        self.model = model
        self._linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        self._deltas: dict[int, torch.Tensor] = {}
        self._handles = [m.register_forward_hook(self._make_forward_hook(i))
                         for i, (_, m) in enumerate(self._linears)]

    # -- hooks ---------------------------------------------------------------
    def _make_forward_hook(self, index: int):
        deltas = self._deltas

        def store(grad: torch.Tensor) -> None:
            deltas[index] = grad

        def forward_hook(module, inputs, output):
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(store)

        return forward_hook

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._deltas.clear()

    def __enter__(self) -> "GradientProbe":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- results -------------------------------------------------------------
    @property
    def linear_names(self) -> list[str]:
        return [n for n, _ in self._linears]

    def param_stats(self) -> dict[str, dict[str, float]]:
        """mean |g| and ‖g‖ of every parameter that has a gradient, in named_parameters() order."""
        named = [(n, p.grad.detach()) for n, p in self.model.named_parameters() if p.grad is not None]
        if not named:
            return {}
        names, grads = zip(*named)
        l1 = _norms(list(grads), 1)
        l2 = _norms(list(grads), 2)
        both = torch.stack([torch.stack([a.double() for a in l1]), torch.stack([b.double() for b in l2])])
        values = both.cpu().numpy()
        counts = np.array([g.numel() for g in grads], dtype=np.float64)
        return {n: {"mean_abs": float(values[0, i] / counts[i]), "l2": float(values[1, i])}
                for i, n in enumerate(names)}

    def delta(self, index: int) -> torch.Tensor | None:
        """dL/dz of the index-th Linear layer from the last backward pass (batch, units)."""
        return self._deltas.get(index)

    def capture(self, edges: bool = True) -> LayerCapture:
        """Numbers of every Linear layer from the last backward pass."""
        weights = [m.weight.grad for _, m in self._linears]
        if any(w is None for w in weights):
            raise RuntimeError("GradientProbe.capture(): call loss.backward() first")
        deltas = [self._deltas.get(i) for i in range(len(self._linears))]
        if any(d is None for d in deltas):
            raise RuntimeError("GradientProbe.capture(): a Linear layer saw no backward pass")
        with torch.no_grad():
            l1 = _norms(weights, 1)
            l2 = _norms(weights, 2)
            d2 = _norms(deltas, 2)
            scalars = torch.stack(l1 + l2 + d2).double().cpu().numpy()
            per_neuron = torch.cat([d.abs().reshape(-1, d.shape[-1]).mean(0) for d in deltas]).cpu().numpy()
            flat_edges = torch.cat([w.abs().flatten() for w in weights]).cpu().numpy() if edges else None
        n = len(weights)
        counts = np.array([w.numel() for w in weights], dtype=np.float64)
        units = [d.shape[-1] for d in deltas]
        delta_mean = tuple(np.split(per_neuron, np.cumsum(units)[:-1]))
        edge_abs = None
        if flat_edges is not None:
            parts = np.split(flat_edges, np.cumsum([w.numel() for w in weights])[:-1])
            edge_abs = tuple(p.reshape(w.shape) for p, w in zip(parts, weights))
        return LayerCapture(
            names=tuple(self.linear_names),
            grad_mean_abs=scalars[:n] / counts,
            grad_l2=scalars[n:2 * n],
            delta_l2=scalars[2 * n:],
            delta_mean_abs=delta_mean,
            edge_abs=edge_abs,
        )
