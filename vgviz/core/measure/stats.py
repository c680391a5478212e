"""StepStats: what one training step measured, as frozen, detached numpy copies."""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

# The rows of StepStats.param_stats, one column per trainable parameter tensor
PARAM_STATS = ("grad_l2", "grad_mean_abs", "grad_max_abs", "grad_zero_fraction", "weight_l2", "update_ratio")


@dataclass(frozen=True, eq=False)
class StepStats:
    step: int                    # updates applied before this measurement (0 = initial weights)
    loss: float                  # training loss of this step's batch
    accuracy: float              # training accuracy of this step's batch
    diverged: bool               # loss or gradients non-finite: no update was applied
    layer_names: tuple[str, ...]  # one per Linear layer, input to output
    grad_mean_abs: np.ndarray    # (L,) mean |dL/dW| per layer
    grad_l2: np.ndarray          # (L,) ‖dL/dW‖ per layer
    delta_l2: np.ndarray         # (L,) ‖dL/dz‖ per layer
    delta_mean_abs: tuple[np.ndarray, ...]  # per layer (units,): batch mean |δ_j|
    edge_abs: tuple[np.ndarray, ...] | None  # per layer (out, in): |dL/dW_ij|
    test_loss: float | None = None
    test_accuracy: float | None = None
    activation_std: np.ndarray | None = None   # (H,) std of each hidden activation's output: the forward signal
    skip_grad: np.ndarray | None = None        # (B,) mean |dL/du| at each residual sum (the skip path)
    skip_connections: tuple[tuple[int, int], ...] = ()  # (a, b): Linear a's output skips to Linear b's
    grad_norm_total: float | None = None       # global ‖g‖ before clipping
    clipped: bool = False                      # clipping changed this step's gradients
    grad_zero_fraction: np.ndarray | None = None  # (L,) fraction of dL/dW entries exactly 0
    timestep_grad: np.ndarray | None = None    # recurrent models: (T,) ‖∂L/∂h_t‖ for t = 1..T (all layers)
    update_ratio: np.ndarray | None = None  # (L,) ‖ΔW‖/‖W‖ of this step's update; None if no update
    # (6, P) PARAM_STATS of every trainable parameter (weights and biases, named_parameters()
    # order), gradients before clipping, ‖W‖ before the update; update_ratio NaN without an update
    param_stats: np.ndarray | None = None
    param_names: tuple[str, ...] = ()
    measured_only: bool = False  # Trainer.measure(): no update follows (steps.steps_done counts on it)
    layer_uses: np.ndarray | None = None  # (L,) how often each layer ran in the step (vgviz.watch: "k uses")
    # vgviz.watch: per layer, (T,) ‖∂L/∂h_t‖ of a recurrent module (all its layers), (0,) for the others;
    # timestep_grad is the first recurrent module's
    layer_timestep_grad: tuple[np.ndarray, ...] | None = None

    def __post_init__(self) -> None:
        for arr in self._arrays():
            arr.flags.writeable = False

    def _arrays(self):
        yield self.grad_mean_abs
        yield self.grad_l2
        yield self.delta_l2
        yield from self.delta_mean_abs
        yield from self.edge_abs or ()
        for extra in (self.activation_std, self.skip_grad, self.grad_zero_fraction, self.timestep_grad,
                      self.layer_uses):
            if extra is not None:
                yield extra
        yield from self.layer_timestep_grad or ()
        if self.update_ratio is not None:
            yield self.update_ratio
        if self.param_stats is not None:
            yield self.param_stats

    @property
    def is_full(self) -> bool:
        """False for a light step (Trainer.step(full=False)): no δ, edges or forward signal."""
        return len(self.delta_mean_abs) > 0

    @property
    def n_layers(self) -> int:
        return len(self.layer_names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StepStats):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or (
                    isinstance(a, tuple) and a and isinstance(a[0], np.ndarray)):
                if not isinstance(b, type(a)) or len(a) != len(b):
                    return False
                pairs = [(a, b)] if isinstance(a, np.ndarray) else list(zip(a, b))
                if not all(np.array_equal(x, y, equal_nan=True) for x, y in pairs):
                    return False
            elif isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
                continue
            elif a != b:
                return False
        return True

    __hash__ = None  # mutable-looking arrays inside: not hashable

    def layer_dict(self, index: int, weight: int | None = None, bias: int | None = None) -> dict[str, float | None]:
        """Layer `index`'s numbers (the report's per-layer entries). `weight` and `bias` are
        its parameters' columns in param_stats (layer_params): they give the bias gradient
        ‖∂L/∂b‖ and the largest |dL/dW|. activation_std is its output's std where measured
        (hidden layers; None for the output layer)."""
        def param(row: str, column: int | None) -> float | None:
            if column is None or self.param_stats is None:
                return None
            return float(self.param_stats[PARAM_STATS.index(row), column])

        hidden = self.n_layers - 1
        forward = self.activation_std
        return {"grad_mean_abs": float(self.grad_mean_abs[index]),
                "grad_l2": float(self.grad_l2[index]),
                "delta_l2": float(self.delta_l2[index]),
                "bias_grad_l2": param("grad_l2", bias),
                "grad_max_abs": param("grad_max_abs", weight),
                "activation_std": (float(forward[index]) if forward is not None and index < min(len(forward), hidden)
                                   else None)}
