"""A bounded history of the per-step scalars the plots draw.

Memory stays fixed however long a run goes: when the buffer is full, every
other row is dropped and from then on only every `stride`-th step is kept, so
the history always covers the whole run at an even spacing.
"""
from __future__ import annotations

import numpy as np

from .stats import StepStats


DEFAULT_CAPACITY = 20_000  # rows: 0.2 s of drawing at most, and a few MB at 100 layers


class History:
    def __init__(self, n_layers: int, capacity: int = DEFAULT_CAPACITY):
        if capacity < 2:
            raise ValueError("capacity must be at least 2")
        self.n_layers = n_layers
        self.capacity = capacity
        self.stride = 1
        self._n = 0
        self._steps = np.zeros(capacity, np.int64)
        self._loss = np.zeros(capacity)
        self._acc = np.zeros(capacity)
        self._grad_l2 = np.zeros((capacity, n_layers))
        self._grad_mean = np.zeros((capacity, n_layers))
        self._total = np.zeros(capacity)        # global ‖g‖ before clipping
        self._clipped = np.zeros(capacity, bool)
        self._update_ratio = np.full((capacity, n_layers), np.nan)  # NaN: no update measured
        self._test: list[tuple[int, float, float]] = []
        self.latest: StepStats | None = None
        self.first: StepStats | None = None   # the first full capture (step 0 for a run from its start)

    @classmethod
    def from_arrays(cls, n_layers: int, *, steps, loss, accuracy, grad_l2, grad_mean_abs, grad_norm_total,
                    update_ratio, test=(), clipped=None, capacity: int = DEFAULT_CAPACITY) -> "History":
        """A History of rows recorded elsewhere (a run file, whose thinned buckets sit at
        uneven steps): evenly spaced rows when there are more than the capacity, and the
        stride later appends would keep."""
        history = cls(n_layers, capacity)
        steps = np.asarray(steps, np.int64)
        keep = np.arange(len(steps))
        if len(keep) > capacity:
            keep = np.unique(np.linspace(0, len(steps) - 1, capacity).round().astype(np.int64))
            history.stride = 1 << int(np.ceil(np.log2(len(steps) / capacity)))
        n = history._n = len(keep)
        history._steps[:n] = steps[keep]
        history._loss[:n] = np.asarray(loss)[keep]
        history._acc[:n] = np.asarray(accuracy)[keep]
        history._grad_l2[:n] = np.asarray(grad_l2)[keep]
        history._grad_mean[:n] = np.asarray(grad_mean_abs)[keep]
        history._total[:n] = np.asarray(grad_norm_total)[keep]
        history._clipped[:n] = False if clipped is None else np.asarray(clipped)[keep]
        history._update_ratio[:n] = np.asarray(update_ratio)[keep]
        history._test = [(int(s), float(l), float(a)) for s, l, a in np.asarray(test).reshape(-1, 3)][-capacity:]
        return history

    def __len__(self) -> int:
        return self._n

    def append(self, stats: StepStats) -> None:
        if stats.is_full:
            self.latest = stats  # what the views draw; light steps only add their scalars
            if self.first is None:
                self.first = stats
        if stats.test_loss is not None and not (self._test and stats.step <= self._test[-1][0]):
            self._test.append((stats.step, stats.test_loss, stats.test_accuracy))
            if len(self._test) > self.capacity:
                self._test = self._test[::2]
        if self._n and stats.step <= self._steps[self._n - 1]:
            return  # a re-measurement of a step already kept
        if stats.step % self.stride:
            return
        if self._n == self.capacity:
            # One halving may free nothing (rows appended every k-th step can all
            # lie on the doubled grid already), so double until there is room.
            while self._n == self.capacity:
                self._decimate()
            if stats.step % self.stride:
                return
        i = self._n
        self._steps[i] = stats.step
        self._loss[i] = stats.loss
        self._acc[i] = stats.accuracy
        self._grad_l2[i] = stats.grad_l2
        self._grad_mean[i] = stats.grad_mean_abs
        self._total[i] = np.nan if stats.grad_norm_total is None else stats.grad_norm_total
        self._clipped[i] = stats.clipped
        self._update_ratio[i] = np.nan if stats.update_ratio is None else stats.update_ratio
        self._n += 1

    def _decimate(self) -> None:
        self.stride *= 2
        keep = np.flatnonzero(self._steps[: self._n] % self.stride == 0)
        for arr in (self._steps, self._loss, self._acc, self._grad_l2, self._grad_mean, self._total, self._clipped,
                    self._update_ratio):
            arr[: len(keep)] = arr[keep]
        self._n = len(keep)

    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self._n]

    @property
    def loss(self) -> np.ndarray:
        return self._loss[: self._n]

    @property
    def accuracy(self) -> np.ndarray:
        return self._acc[: self._n]

    @property
    def grad_l2(self) -> np.ndarray:
        """(n, L) per-layer ‖dL/dW‖."""
        return self._grad_l2[: self._n]

    @property
    def grad_mean_abs(self) -> np.ndarray:
        return self._grad_mean[: self._n]

    @property
    def grad_norm_total(self) -> np.ndarray:
        """Global gradient norm before clipping, per kept step."""
        return self._total[: self._n]

    @property
    def clipped(self) -> np.ndarray:
        """Whether clipping changed the gradient, per kept step."""
        return self._clipped[: self._n]

    @property
    def update_ratio(self) -> np.ndarray:
        """(n, L) per-layer ‖ΔW‖/‖W‖ of each kept step's update (NaN where none was applied)."""
        return self._update_ratio[: self._n]

    @property
    def test(self) -> np.ndarray:
        """(k, 3): step, test loss, test accuracy."""
        return np.array(self._test, dtype=np.float64).reshape(-1, 3)
