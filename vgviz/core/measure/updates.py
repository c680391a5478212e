"""Speed of learning: ‖ΔW‖/‖W‖ of every Linear weight in one optimizer step, inside the training step."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..layers import linear_layers
from .flat import FlatParameters


def plain_sgd_lr(optimizer: torch.optim.Optimizer | None) -> float | None:
    """The learning rate if `optimizer` is plain SGD (one parameter group, no momentum, no
    weight decay), whose update is exactly W ← W − lr·g; None for anything else."""
    if type(optimizer) is not torch.optim.SGD or len(optimizer.param_groups) != 1:
        return None
    g = optimizer.param_groups[0]
    if g.get("momentum", 0) or g.get("weight_decay", 0) or g.get("maximize", False):
        return None
    lr = g["lr"]
    return float(lr) if isinstance(lr, (int, float)) else None


class UpdateMeter:
    """‖ΔW‖/‖W‖ of every nn.Linear weight in one optimizer step (CS231n's update/weight ratio).

        meter.snapshot(); optimizer.step(); ratios = meter.ratios()

    Plain SGD (one parameter group, no momentum, no weight decay): the update is −lr·g,
    so ‖ΔW‖ = lr·‖g‖, read after the step from the gradient the step used (clipped or
    not) — one batched norm over gradients and weights, no copy; and, unlike a
    difference of float32 weights, exact where the update is below the weights'
    rounding (a deep sigmoid net's first layer). Any other optimizer (Adam, momentum):
    the weights are copied into preallocated buffers before the step and ‖W_before −
    W_after‖ is taken after it. Either way a few torch._foreach_* calls and one stack →
    numpy (docs/performance.md#instrumentation-cost).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 flat: FlatParameters | None = None):
        self.weights = [m.weight for _, m in linear_layers(model)]
        self.optimizer = optimizer
        self._before: list[torch.Tensor] | None = None
        # With the parameters in one flat buffer (vgviz.core.measure.flat) the norms come from numpy
        # over zero-copy views instead of torch._foreach_norm (~0.1 ms a call).
        self.flat = None
        self.tensor_ratios: np.ndarray | None = None
        if flat is not None:
            index = {id(p): i for i, p in enumerate(flat.params)}
            if all(id(w) in index for w in self.weights):
                self.flat = flat
                self._weight_index = np.array([index[id(w)] for w in self.weights], dtype=np.int64)

    def _plain_sgd_lr(self) -> float | None:
        return plain_sgd_lr(self.optimizer)

    def snapshot(self) -> None:
        if self._plain_sgd_lr() is not None:
            return
        with torch.no_grad():
            if self.flat is not None:
                if self._before is None:
                    self._before = [self.flat.data.clone()]
                else:
                    self._before[0].copy_(self.flat.data)
                return
            if self._before is None:
                self._before = [torch.empty_like(w, requires_grad=False) for w in self.weights]
            if hasattr(torch, "_foreach_copy_"):
                torch._foreach_copy_(self._before, self.weights)
            else:  # pragma: no cover - old torch
                for b, w in zip(self._before, self.weights):
                    b.copy_(w)

    def ratios(self, sums: np.ndarray | None = None) -> np.ndarray:
        """(L,) ‖ΔW‖ / ‖W‖ per Linear layer for the step since snapshot() (‖W‖ after the step).
        With a flat buffer the ratio of every tensor, biases included, is kept in
        `tensor_ratios` (the flat buffer's order); otherwise that is None.

        sums: FlatParameters.step_sums() of the gradient this step applied, taken before
        the step. Plain SGD then needs no further pass: W' = W − lr·g, so ‖ΔW‖ = lr·‖g‖ and
        ‖W'‖² = Σw² − 2·lr·Σw·g + lr²·Σg²."""
        lr = self._plain_sgd_lr()
        self.tensor_ratios = None
        if sums is not None and self.flat is not None and lr is not None:
            flat = self.flat
            g2 = sums[flat.SQUARE]
            size2 = sums[flat.WEIGHT_SQUARE] - 2 * lr * sums[flat.WEIGHT_DOT] + lr * lr * g2
            if size2.min() > 0:  # the common case, in a few operations (this runs every step)
                self.tensor_ratios = lr * np.sqrt(g2 / size2)
                return self.tensor_ratios[self._weight_index]
            delta, size = lr * np.sqrt(g2), np.sqrt(np.maximum(size2, 0.0))
        elif self.flat is not None and (lr is None or self.flat.grads_attached()):
            delta, size = self._flat_norms()  # (plain SGD reads the gradients: only while attached)
        else:
            delta, size = self._tensor_norms()
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(size > 0, delta / size, np.where(delta > 0, np.inf, 0.0))
        if self.flat is None or len(ratios) != len(self.flat.params):
            return ratios
        self.tensor_ratios = ratios
        return ratios[self._weight_index]

    def _flat_norms(self) -> tuple[np.ndarray, np.ndarray]:
        """‖ΔW‖ and ‖W‖ of every tensor of the flat buffer."""
        flat = self.flat
        size = np.sqrt(flat.data_square_sums())
        lr = self._plain_sgd_lr()
        if lr is not None:
            return lr * np.sqrt(flat.grad_square_sums()), size
        return np.sqrt(flat.difference_square_sums(self._before[0].numpy())), size

    def _tensor_norms(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.weights)
        lr = self._plain_sgd_lr()
        with torch.no_grad():
            if lr is not None:
                grads = [w.grad if w.grad is not None else torch.zeros(()) for w in self.weights]
                values = torch.stack(torch._foreach_norm(grads + self.weights, 2)).double().numpy()
                return lr * values[:n], values[n:]
            torch._foreach_sub_(self._before, self.weights)
            values = torch.stack(torch._foreach_norm(self._before + self.weights, 2)).double().numpy()
            return values[:n], values[n:]
