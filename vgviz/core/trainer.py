"""Trainer: a plain training loop with no threads; step() -> StepStats."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from .config import RunConfig
from .data import make_dataset
from .diagnostics import UpdateMeter
from .models import build_mlp, layer_labels
from .probes import GradientProbe
from .stats import StepStats


class Trainer:
    def __init__(self, config: RunConfig, *, capture_edges: bool = True):
        self.config = config
        self.capture_edges = capture_edges
        self.data = make_dataset(config.dataset, config.seed)
        self.model = build_mlp(config, self.data.n_features, self.data.n_classes)
        self.probe = GradientProbe(self.model)
        self.layer_names = tuple(layer_labels(len(self.probe.linear_names)))
        self.loss_fn = nn.CrossEntropyLoss()
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        else:
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr)
        self._x_train = torch.from_numpy(self.data.x_train)
        self._y_train = torch.from_numpy(self.data.y_train)
        self._x_test = torch.from_numpy(self.data.x_test)
        self._y_test = torch.from_numpy(self.data.y_test)
        self.step_count = 0
        self.diverged = False
        self.update_meter = UpdateMeter(self.model, self.optimizer)  # ‖ΔW‖/‖W‖ per layer of every update
        self.initial_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    @property
    def finished(self) -> bool:
        return self.step_count >= self.config.steps

    def batch_indices(self, step: int) -> np.ndarray:
        """The batch of a given step depends only on (seed, step): reproducible and peekable."""
        n = len(self._x_train)
        if self.config.batch_size >= n:
            return np.arange(n)
        rng = np.random.default_rng([self.config.seed, step])
        return rng.permutation(n)[: self.config.batch_size]

    def step(self) -> StepStats:
        """Measure gradients on this step's batch, then apply one update (unless diverged)."""
        stats = self._forward_backward(self.step_count)
        if stats.diverged:
            self.diverged = True
        else:
            self.update_meter.snapshot()
            self.optimizer.step()
            stats = dataclasses.replace(stats, update_ratio=self.update_meter.ratios())
        self.step_count += 1
        return stats

    def measure(self) -> StepStats:
        """The gradients the next step would see, without updating the weights."""
        return self._forward_backward(self.step_count)

    def trace(self, example: int | None = None):
        """A BackpropTrace of the next step's batch (or of one training example) at the
        current weights; the weights, gradients and step count are left as they are."""
        from .trace import record

        if example is None:
            idx = torch.from_numpy(self.batch_indices(self.step_count))
        else:
            if not 0 <= example < len(self._x_train):
                raise ValueError(f"example: must be from 0 to {len(self._x_train) - 1}; got {example}")
            idx = torch.tensor([example])
        return record(self.model, self._x_train[idx], self._y_train[idx], self.loss_fn,
                      layer_names=list(self.layer_names))

    def evaluate(self) -> tuple[float, float]:
        """Test-set loss and accuracy."""
        with torch.no_grad():
            logits = self.model(self._x_test)
            loss = self.loss_fn(logits, self._y_test).item()
            acc = (logits.argmax(1) == self._y_test).float().mean().item()
        return loss, acc

    def _forward_backward(self, step: int) -> StepStats:
        idx = torch.from_numpy(self.batch_indices(step))
        x, y = self._x_train[idx], self._y_train[idx]
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        loss.backward()
        cap = self.probe.capture(edges=self.capture_edges)
        loss_value = loss.item()
        accuracy = (logits.detach().argmax(1) == y).float().mean().item()
        diverged = not (math.isfinite(loss_value) and np.isfinite(cap.grad_l2).all())
        test_loss = test_acc = None
        if step % self.config.eval_every == 0 and not diverged:
            test_loss, test_acc = self.evaluate()
        return StepStats(
            step=step, loss=loss_value, accuracy=accuracy, diverged=diverged,
            layer_names=self.layer_names,
            grad_mean_abs=cap.grad_mean_abs, grad_l2=cap.grad_l2, delta_l2=cap.delta_l2,
            delta_mean_abs=cap.delta_mean_abs, edge_abs=cap.edge_abs,
            test_loss=test_loss, test_accuracy=test_acc,
        )
