"""StepStats.param_stats for parameters outside a flat buffer (recurrent and half-precision
models): the same six numbers per tensor from a few batched torch calls."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TensorParamStats:
    """measure() after backward gives (6, P) PARAM_STATS with a NaN update_ratio row;
    snapshot() before the update and update_ratios() after it fill that row in."""

    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        self._before: list[torch.Tensor] | None = None

    def measure(self) -> np.ndarray:
        with torch.no_grad():
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
            weights = [p.detach() for p in self.params]
            columns = torch.stack([
                torch.stack(torch._foreach_norm(grads, 2)).double(),
                torch.stack(torch._foreach_norm(grads, 1)).double(),
                torch.stack(torch._foreach_norm(grads, float("inf"))).double(),
                torch.stack([torch.count_nonzero(g) for g in grads]).double(),
                torch.stack(torch._foreach_norm(weights, 2)).double(),
            ]).numpy()
        sizes = np.array([p.numel() for p in self.params], dtype=np.float64)
        stats = np.empty((6, len(self.params)))
        stats[0], stats[2], stats[4] = columns[0], columns[2], columns[4]
        stats[1] = columns[1] / sizes
        stats[3] = 1.0 - columns[3] / sizes
        stats[5] = np.nan
        return stats

    def snapshot(self) -> None:
        with torch.no_grad():
            if self._before is None:
                self._before = [p.detach().clone() for p in self.params]
            else:
                torch._foreach_copy_(self._before, [p.detach() for p in self.params])

    def update_ratios(self) -> np.ndarray:
        """(P,) ‖ΔW‖/‖W‖ since snapshot(), ‖W‖ after the update."""
        with torch.no_grad():
            weights = [p.detach() for p in self.params]
            torch._foreach_sub_(self._before, weights)
            norms = torch.stack(torch._foreach_norm(self._before + weights, 2)).double().numpy()
        delta, size = norms[:len(weights)], norms[len(weights):]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(size > 0, delta / size, np.where(delta > 0, np.inf, 0.0))
