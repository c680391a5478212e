"""A run file as the views see a live run: a History of the plots' numbers and the
StepStats of a step, read from the file up to any step (the timeline scrubber, render).

A run file keeps per-PARAMETER sums; the plots draw per-LAYER numbers, which are those
of each layer's weight matrix (vgviz's StepStats.grad_l2). ``layer_columns`` finds that
matrix among the file's parameters: a layer named like a parameter (a recurrent run's
``rnn.weight_hh_l0``) is that parameter; the others take the weights of the model's
Linear layers in order (``hidden1`` … ``output``; a recurrent run's ``output``).
"""
from __future__ import annotations

import numpy as np

from ..measure.history import DEFAULT_CAPACITY, History
from ..measure.stats import StepStats
from .model import layer_params
from .reader import Run


class ReplayError(ValueError):
    """A run file whose layers cannot be matched to its parameters: one line."""


def layer_columns(run: Run) -> np.ndarray:
    """(L,) the param_names column of each layer's weight matrix."""
    names = list(run.param_names)
    try:
        pairs = layer_params(run.model, run.layer_names, names)
    except ValueError as err:
        raise ReplayError(f"{run.path}: {err}") from None
    return np.array([names.index(weight) for weight, _ in pairs], dtype=np.int64)


def history_from_run(run: Run, until_step: int | None = None, capacity: int = DEFAULT_CAPACITY) -> History:
    """The plots' History of ``run`` up to ``until_step`` (all of it by default); ``latest`` is
    the full capture nearest that step, so the diagram draws it."""
    columns = layer_columns(run)
    steps = run.series_steps
    keep = steps <= until_step if until_step is not None else np.ones(len(steps), bool)
    steps = steps[keep]
    grad_l2 = run.series("grad_l2")[keep].astype(np.float64)
    loss_at = np.searchsorted(run.step, steps).clip(0, max(run.steps - 1, 0))
    evals = run.evals
    if until_step is not None:
        evals = evals[evals[:, 0] <= until_step]
    history = History.from_arrays(
        len(run.layer_names), steps=steps,
        loss=run.loss[loss_at].astype(np.float64) if run.steps else np.zeros(0),
        accuracy=run.accuracy[loss_at].astype(np.float64) if run.steps else np.zeros(0),
        grad_l2=grad_l2[:, columns],
        grad_mean_abs=run.series("grad_mean_abs")[keep][:, columns].astype(np.float64),
        grad_norm_total=np.sqrt(np.nansum(grad_l2 ** 2, axis=1)),       # before clipping, as live
        update_ratio=run.series("update_ratio")[keep][:, columns].astype(np.float64),
        test=evals, capacity=capacity)
    last = int(steps[-1]) if len(steps) else (until_step or 0)
    history.latest = stats_at(run, last)
    captured = run.capture_steps
    history.first = run.snapshot(int(captured[0])) if len(captured) else None
    return history


def stats_at(run: Run, step: int) -> StepStats | None:
    """The full capture nearest ``step`` at or before it where one exists (what the diagram draws)."""
    captured = run.capture_steps
    before = captured[captured <= step]
    return run.snapshot(int(before[-1]) if len(before) else step)
