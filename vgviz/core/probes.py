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
    activation_std: np.ndarray               # (A,) std of each activation module's output (forward signal)
    skip_grad_mean_abs: np.ndarray           # (B,) mean |dL/du| at each residual sum u (skip path)
    grad_norm_total: float                   # ‖g‖ over every parameter gradient
    grad_zero_fraction: np.ndarray           # (L,) fraction of dL/dW entries exactly 0 (underflow, dead units)


class GradientProbe:
    def __init__(self, model: nn.Module):
        from .models import ACTIVATION_TYPES

        self.model = model
        self._linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        self._deltas: dict[int, torch.Tensor] = {}
        self._handles = [m.register_forward_hook(self._make_forward_hook(i))
                         for i, (_, m) in enumerate(self._linears)]
        # The forward signal: outputs of element-wise activation modules, in call order.
        self._activations: list[torch.Tensor] = []
        self._skip_grads: dict[int, torch.Tensor] = {}
        for m in model.modules():
            if isinstance(m, ACTIVATION_TYPES) and not isinstance(m, nn.Identity):
                self._handles.append(m.register_forward_hook(self._store_activation))
        self._handles.append(model.register_forward_pre_hook(lambda module, inputs: self._activations.clear()))
        # Residual blocks (vgviz.core.models.ResidualBlock) keep their sum u in `last_sum`.
        self._blocks = [m for m in model.modules() if hasattr(m, "last_sum")]
        for i, block in enumerate(self._blocks):
            self._handles.append(block.register_forward_hook(self._make_block_hook(i)))

    def _store_activation(self, module, inputs, output) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            self._activations.append(output.detach())

    def _make_block_hook(self, index: int):
        grads = self._skip_grads

        def store(grad: torch.Tensor) -> None:
            grads[index] = grad

        def block_hook(module, inputs, output):
            u = module.last_sum
            if isinstance(u, torch.Tensor) and u.requires_grad:
                u.register_hook(store)

        return block_hook

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
        self._activations.clear()
        self._skip_grads.clear()

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
        all_grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        skips = [self._skip_grads.get(i) for i in range(len(self._blocks))]
        skips = [s for s in skips if s is not None]
        with torch.no_grad():
            l1 = _norms(weights, 1)
            l2 = _norms(weights, 2)
            l0 = _norms(weights, 0)  # the count of non-zero entries
            d2 = _norms(deltas, 2)
            total = torch.linalg.vector_norm(torch.stack([n.double() for n in _norms(all_grads, 2)]))
            extra = [a.double().std() if a.numel() > 1 else a.double().sum() * 0 for a in self._activations]
            extra += [s.double().abs().mean() for s in skips]
            scalars = torch.stack([t.double() for t in l1 + l2 + d2 + l0] + extra + [total]).cpu().numpy()
            per_neuron = torch.cat([d.abs().reshape(-1, d.shape[-1]).mean(0) for d in deltas]).double().cpu().numpy()
            flat_edges = None
            if edges:
                flat = torch.cat([w.abs().flatten() for w in weights])
                if flat.dtype not in (torch.float32, torch.float64):
                    flat = flat.float()  # numpy has no bfloat16/half
                flat_edges = flat.cpu().numpy()
        n = len(weights)
        n_act = len(self._activations)
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
            delta_l2=scalars[2 * n:3 * n],
            delta_mean_abs=delta_mean,
            edge_abs=edge_abs,
            activation_std=scalars[4 * n:4 * n + n_act],
            skip_grad_mean_abs=scalars[4 * n + n_act:-1],
            grad_norm_total=float(scalars[-1]),
            grad_zero_fraction=1.0 - scalars[3 * n:4 * n] / counts,
        )
