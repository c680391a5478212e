"""What the unrolled-in-time view shows, as plain numbers (numpy only, never Qt).

The GUI's ``UnrolledView`` draws one column per time step t = 1..T coloured by
‖∂L/∂h_t‖ on a log scale. These functions decide how: how many steps share a
column when T is larger than the pixels allow (:func:`bin_steps`), the colour
range (:func:`color_range`), and the sentences that say what is on screen
(:func:`describe_columns`, :func:`decay_summary`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: A column narrower than this many pixels would not show its colour: group steps instead.
MIN_COLUMN_PX = 2.0

#: The colour scale (and the plot's y axis) spans at least this many decades, so that runs can
#: be compared by colour: a vanilla RNN's 13 decades at T = 50 fill the scale, an LSTM's 3 use the
#: bright top of it. (With a per-run fit both would run from dark to bright.)
MIN_DECADES = 12


@dataclass(frozen=True)
class StepBins:
    """Consecutive time steps per column: column c shows t = starts[c] … ends[c] (1-based, inclusive)."""

    starts: np.ndarray
    ends: np.ndarray
    values: np.ndarray      # one value per column (see bin_steps)
    per_column: int         # steps per column (the last column may hold fewer)

    @property
    def n_columns(self) -> int:
        return len(self.starts)


def steps_per_column(n_steps: int, width_px: float, min_px: float = MIN_COLUMN_PX) -> int:
    """The fewest steps per column that keep every column at least ``min_px`` wide."""
    if n_steps <= 0:
        return 1
    fit = max(int(width_px // min_px), 1)
    return max(1, math.ceil(n_steps / fit))


def bin_steps(values: np.ndarray, per_column: int) -> StepBins:
    """Group ``per_column`` consecutive steps into a column, valued by their geometric mean
    (the middle of a geometric decay). A column holding an exact 0 (a gradient that underflowed,
    or passed a saturated tanh) is 0; NaN (not reached yet, in a stepper frame) is NaN if every step of the column is NaN and
    is otherwise ignored."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    k = max(int(per_column), 1)
    starts = np.arange(0, n, k)
    ends = np.minimum(starts + k, n)
    if k == 1:
        return StepBins(starts + 1, ends, v.copy(), 1)
    out = np.empty(len(starts))
    for c, (a, b) in enumerate(zip(starts, ends)):
        part = v[a:b]
        part = part[~np.isnan(part)]
        if not len(part):
            out[c] = np.nan
        elif np.any(~np.isfinite(part)):
            out[c] = np.inf
        elif np.any(part <= 0):
            out[c] = 0.0
        else:
            out[c] = float(np.exp(np.mean(np.log(part))))
    return StepBins(starts + 1, ends, out, k)


def color_range(values: np.ndarray, min_decades: int = MIN_DECADES, max_decades: int = 40) -> tuple[float, float]:
    """(lo, hi) of a log colour scale holding every positive finite value: whole decades,
    at least ``min_decades`` and at most ``max_decades`` wide (capped from below)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return 10.0 ** -min_decades, 1.0
    hi_exp = math.ceil(math.log10(v.max()) - 1e-12)
    lo_exp = math.floor(math.log10(v.min()) + 1e-12)
    decades = min(max(hi_exp - lo_exp, min_decades), max_decades)
    return 10.0 ** (hi_exp - decades), 10.0 ** hi_exp


def describe_columns(n_steps: int, per_column: int) -> str:
    """The sentence saying what the columns are."""
    if per_column <= 1:
        return f"T = {n_steps} time step{'s' if n_steps != 1 else ''}, one column each"
    n_cols = math.ceil(n_steps / per_column)
    return (f"T = {n_steps} time steps in {n_cols} columns of {per_column} "
            f"(each coloured by their geometric mean; hover for every step's value)")


def decay_summary(values: np.ndarray) -> str:
    """‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ and the average factor per step back, as one phrase."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2 or not np.isfinite(v[-1]) or v[-1] <= 0:
        return ""
    first, last = v[0], v[-1]
    back = len(v) - 1
    if not np.isfinite(first):
        return "‖∂L/∂h_1‖ is not finite"
    if first == 0:
        zeros = int(np.sum(v == 0))
        return (f"‖∂L/∂h_t‖ is exactly 0 (underflow or saturation) at {zeros} of {len(v)} steps, "
                f"‖∂L/∂h_1‖ among them ({back} step{'s' if back != 1 else ''} back)")
    ratio = first / last
    per_step = ratio ** (1.0 / back)
    return (f"‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ = {ratio:.1e} over {back} step{'s' if back != 1 else ''} back "
            f"(×{per_step:.2f} per step on average)")
