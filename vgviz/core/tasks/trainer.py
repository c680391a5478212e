"""Trainer: the training loop every task shares, with no threads; step() -> StepStats.

Each task (vgviz.core.tasks.mlp, vgviz.core.tasks.recurrent) builds its data and model
and measures its step; vgviz.core.tasks.make_trainer picks the task a config asks for.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import RunConfig
from ..measure.param_stats import TensorParamStats
from ..measure.stats import StepStats
from ..measure.updates import UpdateMeter, plain_sgd_lr
from .dataset import Dataset
from .mlp.model import DTYPES


# Every vgviz run trains on one torch thread — the window's worker, `report`, `train`, `render`
# and the shallower runs alike — because the thread count changes the order of float sums:
# deep-sigmoid-batchnorm ends at 0.655 test accuracy on one thread and 0.550 on two. One
# thread is also the fastest for these small nets (two threads wait on each other).
TRAINING_THREADS = 1


def use_training_threads() -> None:
    """Set torch's thread count for training, in the calling thread (OpenMP's count is per
    thread, so a worker thread sets its own); a no-op when it is set already."""
    if torch.get_num_threads() != TRAINING_THREADS:
        torch.set_num_threads(TRAINING_THREADS)


def make_loss(name: str, n_classes: int):
    if name == "mse":
        def mse(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            # squared error of the outputs against one-hot targets, as in Nielsen's quadratic cost
            target = nn.functional.one_hot(y, n_classes).to(logits.dtype)
            return nn.functional.mse_loss(logits, target)
        return mse
    return nn.CrossEntropyLoss()


@dataclass(frozen=True)
class DecisionSurface:
    """The model's prediction over a grid of the 2-D input plane."""

    extent: tuple[float, float, float, float]  # x0, x1, y0, y1 of the grid
    predicted: np.ndarray                      # (res, res) class index, row = y
    confidence: np.ndarray                     # (res, res) softmax probability of that class
    step: int


class Trainer(ABC):
    """The loop every task shares: loss, optimizer, clipping, divergence, evaluation.

    A task's __init__ calls this one, sets data, model, flat, probe, layer_names,
    skip_connections and update_meter, and calls _setup_training(); it measures a
    step in _forward_backward() and records a trace in trace().
    """

    config: RunConfig
    data: Dataset
    model: nn.Module
    update_meter: UpdateMeter | None

    def __init__(self, config: RunConfig, *, capture_edges: bool = True):
        self.config = config
        self.capture_edges = capture_edges

    def _setup_training(self) -> None:
        """Loss, optimizer, data tensors and counters: shared by every trainer kind."""
        config = self.config
        self.dtype = DTYPES[config.dtype]
        self.loss_fn = make_loss(config.loss, self.data.n_classes)
        self._params = list(self.model.parameters())
        self._setup_param_stats()
        # with a flat buffer (vgviz.core.measure.flat) the optimizer updates it as one tensor
        updated = [self.flat.parameter] if self.flat is not None else self._params
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(updated, lr=config.lr)
        else:
            self.optimizer = torch.optim.SGD(updated, lr=config.lr, momentum=config.momentum)
        self._x_train = torch.from_numpy(self.data.x_train).to(self.dtype)
        self._y_train = torch.from_numpy(self.data.y_train)
        self._x_test = torch.from_numpy(self.data.x_test).to(self.dtype)
        self._y_test = torch.from_numpy(self.data.y_test)
        self.step_count = 0
        self.diverged = False

    def _setup_param_stats(self) -> None:
        """StepStats.param_stats covers every parameter that requires a gradient: from the
        flat buffer's sums where there is one, otherwise tensor by tensor."""
        trainable = [(name, p) for name, p in self.model.named_parameters() if p.requires_grad]
        self.param_names = tuple(name for name, _ in trainable)
        self._tensor_param_stats = None
        self._param_rows = None     # columns of the flat buffer's tensors to keep; None = all
        if self.flat is not None:
            index = {id(p): i for i, p in enumerate(self.flat.params)}
            rows = np.array([index[id(p)] for _, p in trainable], dtype=np.int64)
            if not np.array_equal(rows, np.arange(len(self.flat.params))):
                self._param_rows = rows
        else:
            self._tensor_param_stats = TensorParamStats([p for _, p in trainable])

    def _measure_params(self, sums: np.ndarray | None) -> np.ndarray:
        """(6, P) PARAM_STATS of this backward's gradients (update_ratio filled in by step())."""
        if self._tensor_param_stats is not None:
            return self._tensor_param_stats.measure()
        stats = self.flat.param_stats(sums)
        return stats if self._param_rows is None else stats[:, self._param_rows]

    def _param_update_ratios(self) -> np.ndarray | None:
        ratios = self.update_meter.tensor_ratios if self.update_meter is not None else None
        if ratios is None or self._param_rows is None:
            return ratios
        return ratios[self._param_rows]

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

    def step(self, full: bool = True) -> StepStats:
        """Measure gradients on this step's batch, then apply one update (unless diverged).

        full=False is a light step for the GUI's worker, which draws at display rate:
        the stats keep what the per-step history plots (loss, accuracy, per-layer gradient
        norms, clipping) and leave out δ, |dL/dW| per edge and the forward signal
        (`stats.is_full` is False)."""
        use_training_threads()
        fields = self._forward_backward(self.step_count, full)
        param_stats = fields["param_stats"]
        if fields["diverged"]:
            self.diverged = True
        elif self._tensor_param_stats is not None:
            self._tensor_param_stats.snapshot()
            if self.update_meter is not None:
                self.update_meter.snapshot()
            self._update()
            if self.update_meter is not None:
                fields["update_ratio"] = self.update_meter.ratios()
            param_stats[5] = self._tensor_param_stats.update_ratios()
        else:
            self.update_meter.snapshot()
            self._update()
            # an unclipped step applies the gradient whose sums the stats were taken from
            sums = None if fields["clipped"] else self._sums
            fields["update_ratio"] = self.update_meter.ratios(sums)
            ratios = self._param_update_ratios()
            if ratios is not None:
                param_stats[5] = ratios
        self.step_count += 1
        return StepStats(**fields)

    def _update(self) -> None:
        """optimizer.step(); plain SGD on the flat buffer is the same one in-place add
        without torch.optim's Python around it (~0.1 ms of a ~2.5 ms step)."""
        lr = plain_sgd_lr(self.optimizer) if self.flat is not None else None
        if lr is None or self.flat.parameter.grad is not self.flat.grad:
            self.optimizer.step()
        else:  # the buffer itself is no autograd leaf: no torch.no_grad() needed (~5 µs)
            self.flat.data.add_(self.flat.grad, alpha=-lr)

    def measure(self) -> StepStats:
        """The gradients the next step would see, without updating the weights."""
        use_training_threads()
        return StepStats(**self._forward_backward(self.step_count), measured_only=True)  # update_ratio rows NaN

    @abstractmethod
    def trace(self, example: int | None = None):
        """A trace of the next step's batch (or of one training example) at the current
        weights; the weights, gradients and step count are left as they are."""

    def decision_surface(self, resolution: int = 64) -> DecisionSurface | None:
        """Predicted class and confidence on a grid around the data (2-D data sets only)."""
        if self.data.n_features != 2:
            return None
        pts = np.concatenate([self.data.x_train, self.data.x_test])
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.1 * (hi - lo)
        lo, hi = lo - pad, hi + pad
        gx = np.linspace(lo[0], hi[0], resolution)
        gy = np.linspace(lo[1], hi[1], resolution)
        grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                logits = self.model(torch.from_numpy(grid).to(self.dtype)).float()
                probs = torch.softmax(logits, 1)
                conf, pred = probs.max(1)
        finally:
            self.model.train(was_training)
        shape = (resolution, resolution)
        return DecisionSurface((float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])),
                               pred.numpy().reshape(shape), conf.numpy().reshape(shape), self.step_count)

    def evaluate(self) -> tuple[float, float]:
        """Test-set loss and accuracy (normalisation layers in eval mode)."""
        use_training_threads()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                logits = self.model(self._x_test)
                loss = float(self.loss_fn(logits, self._y_test))
                acc = (logits.argmax(1) == self._y_test).float().mean().item()
        finally:
            self.model.train(was_training)
        return loss, acc

    @abstractmethod
    def _forward_backward(self, step: int, full: bool = True) -> dict:
        """Forward and backward on a step's batch: the StepStats fields it measured."""

    def _outcome(self, step: int, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor,
                 total_norm: float):
        """After backward: loss and accuracy, divergence, clipping, and (every eval_every
        steps) the test set — shared by every trainer kind."""
        loss_value = loss.item()
        logits = logits.detach()
        if logits.dtype in (torch.float32, torch.float64):  # numpy's calls cost less than torch's
            accuracy = np.count_nonzero(logits.numpy().argmax(1) == y.numpy()) / len(y)
        else:
            accuracy = torch.eq(logits.argmax(1), y).sum().item() / len(y)
        # the global norm is finite only if every gradient is
        diverged = not (math.isfinite(loss_value) and math.isfinite(total_norm))
        clipped = False if diverged else self._clip(total_norm)
        test_loss = test_acc = None
        if step % self.config.eval_every == 0 and not diverged:
            test_loss, test_acc = self.evaluate()
        return loss_value, accuracy, diverged, clipped, test_loss, test_acc

    def _clip(self, total_norm: float) -> bool:
        """Apply clip_value then clip_norm; True if either changed a gradient."""
        clipped = False
        if self.config.clip_value:
            limit = self.config.clip_value
            grads = [p.grad for p in self._params if p.grad is not None]
            biggest = max(float(n) for n in torch._foreach_norm(grads, float("inf"))) if grads else 0.0
            if biggest > limit:
                torch.nn.utils.clip_grad_value_(self._params, limit)
                clipped = True
        if self.config.clip_norm:
            before = float(torch.nn.utils.clip_grad_norm_(self._params, self.config.clip_norm))
            clipped = clipped or before > self.config.clip_norm
        return clipped
