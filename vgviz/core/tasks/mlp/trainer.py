"""The MLP task's trainer: a stack of Linear layers on a 2-D data set (or the digits)."""
from __future__ import annotations

import torch

from ...backprop.trace import BackpropTrace, record
from ...config import RunConfig
from ...layers import layer_labels
from ...measure.flat import FlatParameters
from ...measure.probe import GradientProbe
from ...measure.updates import UpdateMeter
from ..trainer import Trainer
from .data import make_dataset
from .model import ResidualMLP, build_model


class MLPTrainer(Trainer):
    """Trainer for model = mlp: per-layer probes, |dL/dW| per edge, the flat parameter buffer."""

    def __init__(self, config: RunConfig, *, capture_edges: bool = True):
        if config.recurrent:
            raise ValueError(f"MLPTrainer needs model = mlp; got {config.model!r}")
        super().__init__(config, capture_edges=capture_edges)
        self.data = make_dataset(config.dataset, config.seed)
        self.model = build_model(config, self.data.n_features, self.data.n_classes)
        # None for half-precision models: they take the tensor-by-tensor path
        self.flat = FlatParameters.try_create(list(self.model.parameters()))
        self.probe = GradientProbe(self.model, flat=self.flat)
        self.layer_names = tuple(layer_labels(len(self.probe.linear_names)))
        self.skip_connections = tuple(self.model.skip_connections()) if isinstance(self.model, ResidualMLP) else ()
        self._setup_training()
        # ‖ΔW‖/‖W‖ per layer of every update
        self.update_meter = UpdateMeter(self.model, self.optimizer, flat=self.flat)
        self.initial_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def trace(self, example: int | None = None) -> BackpropTrace:
        """A BackpropTrace of the next step's batch (or of one training example) at the
        current weights; the weights, gradients and step count are left as they are."""
        if example is None:
            idx = torch.from_numpy(self.batch_indices(self.step_count))
        else:
            if not 0 <= example < len(self._x_train):
                raise ValueError(f"example: must be from 0 to {len(self._x_train) - 1}; got {example}")
            idx = torch.tensor([example])
        return record(self.model, self._x_train[idx], self._y_train[idx], self.loss_fn,
                      layer_names=list(self.layer_names))

    def _forward_backward(self, step: int, full: bool = True) -> dict:
        """Forward and backward on a step's batch: the StepStats fields it measured."""
        idx = torch.from_numpy(self.batch_indices(step))
        x, y = self._x_train[idx], self._y_train[idx]
        if self.flat is not None:
            self.flat.zero_grad()
        else:
            self.optimizer.zero_grad(set_to_none=True)
        logits = self.probe.forward(x, record=full)  # δ and the forward signal only on full steps
        loss = self.loss_fn(logits, y)
        loss.backward()
        # before clipping: the gradient as computed
        self._sums = sums = self.flat.step_sums() if self.flat is not None else None
        cap = (self.probe.capture(edges=self.capture_edges, sums=sums) if full
               else self.probe.capture_light(sums))
        param_stats = self._measure_params(sums)
        loss_value, accuracy, diverged, clipped, test_loss, test_acc = self._outcome(
            step, loss, logits, y, cap.grad_norm_total)
        return dict(
            step=step, loss=loss_value, accuracy=accuracy, diverged=diverged,
            layer_names=self.layer_names,
            grad_mean_abs=cap.grad_mean_abs, grad_l2=cap.grad_l2, delta_l2=cap.delta_l2,
            delta_mean_abs=cap.delta_mean_abs, edge_abs=cap.edge_abs,
            test_loss=test_loss, test_accuracy=test_acc,
            activation_std=cap.activation_std, skip_grad=cap.skip_grad_mean_abs,
            skip_connections=self.skip_connections, grad_norm_total=cap.grad_norm_total, clipped=clipped,
            grad_zero_fraction=cap.grad_zero_fraction,
            param_stats=param_stats, param_names=self.param_names,
        )
