"""Per-layer numbers from a run file's per-parameter series, for any model: the layer × step
heat map (downsampled to a few thousand columns, so 500 layers × 10⁶ steps draw at once) and
the gradient-flow bars (mean and max |g| per layer at one step). Plain numpy.

A layer's parameters are combined: ‖g‖ = √(Σ ‖g_p‖²), mean |g| weighted by their sizes,
max |g| the largest.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import layer_params
from .reader import Run

MAX_COLUMNS = 2000
LOG_FLOOR = -38.0     # log10 of an exact zero gradient: float32's smallest normal number
_BLOCK_ROWS = 1 << 13  # rows turned into logs at a time: a few MB, so the temporaries stay in cache


@dataclass(frozen=True)
class LayerColumns:
    """Which of a run's parameters (columns of its series) each layer owns."""
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    owns: np.ndarray     # (P, L) bool: parameter p belongs to layer l
    sizes: np.ndarray    # (P,) entries of each parameter

    def norm(self, grad_l2: np.ndarray) -> np.ndarray:
        """(..., L) ‖g‖ of each layer from (..., P) per-parameter ‖g‖ (NaN: an unused one, left out)."""
        squares = np.nan_to_num(grad_l2.astype(np.float64) ** 2)
        return np.sqrt(squares @ self.owns)

    def mean_abs(self, grad_mean_abs: np.ndarray) -> np.ndarray:
        weighted = self.owns * self.sizes[:, None]
        return np.nan_to_num(grad_mean_abs.astype(np.float64)) @ weighted / weighted.sum(axis=0)

    def max_abs(self, grad_max_abs: np.ndarray) -> np.ndarray:
        values = np.where(self.owns, grad_max_abs.astype(np.float64)[..., :, None], np.nan)
        return np.fmax.reduce(values, axis=-2)


def layer_columns(run: Run) -> LayerColumns:
    """The run's layers (its layer_names, in the order they were recorded) and their trainable
    parameters: all a described module owns (an attention layer's in- and out-projection),
    else its weight and bias (layer_params: a built-in run's hidden1 … output). ValueError (one
    line) if a layer owns no trainable parameter of the run."""
    names = list(run.param_names)
    described = {layer.name: layer for layer in (run.model.layers if run.model else ())}
    pairs = layer_params(run.model, run.layer_names, names)
    shapes = dict(zip(run.model.param_names, run.model.param_shapes)) if run.model else {}
    owns = np.zeros((len(names), len(run.layer_names)), dtype=bool)
    for l, (name, pair) in enumerate(zip(run.layer_names, pairs)):
        layer = described.get(name)
        own = [p for p in (layer.params if layer else ()) if p in names] or [p for p in pair if p]
        owns[[names.index(p) for p in own], l] = True
    return LayerColumns(
        names=tuple(run.layer_names),
        kinds=tuple(described[n].kind if n in described else "Linear" for n in run.layer_names),
        owns=owns, sizes=np.array([float(np.prod(shapes.get(n, (1,)))) for n in names]))


@dataclass(frozen=True)
class HeatMap:
    """log10 values, one row per layer, one column per bucket of consecutive rows."""
    image: np.ndarray        # (L, C) float32: the bucket's max (or mean) of log10 values; NaN: none finite
    first_step: np.ndarray   # (C,) the step of each bucket's first row
    last_step: np.ndarray    # (C,) and of its last

    def column_at(self, step: float) -> int:
        """The column drawn at ``step`` (a column spans its first step up to the next column's; the
        nearest one outside)."""
        return int(np.clip(np.searchsorted(self.first_step, step, "right") - 1, 0, len(self.first_step) - 1))


def downsample_log(values: np.ndarray, steps: np.ndarray, max_columns: int = MAX_COLUMNS,
                   reduce: str = "max") -> HeatMap:
    """(N, L) positive values per row (step) → a HeatMap of log10 values with at most
    ``max_columns`` columns, each the max (``reduce="max"``: a vanishing spike stays visible)
    or the mean over a bucket of consecutive rows. Zeros count as LOG_FLOOR; NaN rows (an
    unused parameter) are left out of their bucket."""
    if reduce not in ("max", "mean"):
        raise ValueError(f"reduce must be 'max' or 'mean', not {reduce!r}")
    n, n_layers = values.shape
    columns = min(n, max_columns)
    edges = np.linspace(0, n, columns + 1).round().astype(np.int64)
    image = np.empty((columns, n_layers), dtype=np.float32)
    per_block = max(1, columns * _BLOCK_ROWS // max(n, 1))
    for b0 in range(0, columns, per_block):
        b1 = min(b0 + per_block, columns)
        r0, r1 = edges[b0], edges[b1]
        block = values[r0:r1].astype(np.float32, copy=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.log10(block, out=block)
        np.maximum(block, LOG_FLOOR, out=block)   # NaN stays NaN
        starts = edges[b0:b1] - r0
        if reduce == "max":
            image[b0:b1] = np.fmax.reduceat(block, starts, axis=0)
        else:
            missing = np.isnan(block)
            if missing.any():
                block[missing] = 0.0
                counts = np.add.reduceat(~missing, starts, axis=0)
            else:   # the usual case: every bucket's rows all count
                counts = np.diff(edges[b0:b1 + 1])[:, None]
            sums = np.add.reduceat(block, starts, axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                image[b0:b1] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    steps = np.asarray(steps)
    return HeatMap(image=image.T.copy(), first_step=steps[edges[:-1]], last_step=steps[edges[1:] - 1])


def grad_norm_heatmap(run: Run, max_columns: int = MAX_COLUMNS, reduce: str = "max") -> HeatMap:
    """The heat map of each layer's log10 ‖g‖ over the run's steps."""
    layers = layer_columns(run)
    return downsample_log(layers.norm(run.series("grad_l2")), run.series_steps, max_columns, reduce)


def grad_flow(run: Run, step: int | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """(the row's step, (L,) mean |g|, (L,) max |g|) of each layer at the recorded row nearest
    ``step`` at or before it (the latest by default): the plot_grad_flow picture."""
    layers = layer_columns(run)
    steps = run.series_steps
    if len(steps) == 0:
        empty = np.full(len(layers.names), np.nan)
        return 0, empty, empty
    row = len(steps) - 1 if step is None else int(np.clip(np.searchsorted(steps, step, "right") - 1, 0, len(steps) - 1))
    return (int(steps[row]), layers.mean_abs(run.series("grad_mean_abs")[row]),
            layers.max_abs(run.series("grad_max_abs")[row]))
