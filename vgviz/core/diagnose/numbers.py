"""Small numeric helpers of the findings: windows of a History, NaN-aware means, JSON-ready values."""
from __future__ import annotations

import math

import numpy as np

from ..measure.history import History


def rows_within(history: History, steps: int) -> np.ndarray:
    """Indices of the rows within the last `steps` steps (at least the last row)."""
    s = history.steps
    start = int(np.searchsorted(s, s[-1] - steps + 1, side="left"))
    return np.arange(min(start, len(s) - 1), len(s))


def nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else float("nan")


def nanmean_axis0(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    count = ok.sum(0)
    total = np.where(ok, a, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    out = np.full(a.shape[1 - axis], np.nan)
    for j in range(a.shape[1 - axis]):
        col = a[:, j] if axis == 0 else a[j]
        col = col[np.isfinite(col)]
        if len(col):
            out[j] = np.median(col)
    return out


def order_of_magnitude(v: float) -> int | None:
    return int(math.floor(math.log10(v))) if np.isfinite(v) and v > 0 else None


def fold_text(fold: float | None) -> str:
    if fold is None or not math.isfinite(fold):
        return "∞×"
    if fold >= 1e4:
        return f"{fold:.1e}×".replace("e+0", "e").replace("e+", "e")
    if fold < 10:
        return f"{fold:.1f}×"
    return f"{fold:,.0f}×"


def relation_text(ratio: float, ref: str) -> str:
    """How much gradient a layer gets compared with `ref`, said plainly: 'about as much as',
    'N× less than' or 'N× the gradient of' (never '1× less')."""
    if 0.5 <= ratio <= 2:
        return f"about as much gradient as {ref}"
    if ratio < 0.5:
        return f"{fold_text(1 / ratio) if ratio > 0 else '∞×'} less gradient than {ref}"
    return f"{ratio:.3g}× the gradient of {ref}"


def points_text(gap: float) -> str:
    """An accuracy difference (a fraction) in percentage points, with its direction in words."""
    points = abs(gap) * 100
    if points < 0.05:
        return "the same accuracy"
    return f"{points:.1f} points {'lower' if gap > 0 else 'higher'} accuracy"


def json_ready(value):
    """JSON-ready: numpy scalars/arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return [json_ready(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value


def names_text(names) -> str:
    """Layer names for a sentence: all of them when few, else the first and the last."""
    names = list(names)
    if len(names) <= 4:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)} layers)"


def layer_label(name: str) -> str:
    """A layer's name for a sentence: a watched nn.Sequential's modules are named '0', '2', …"""
    return f"layer {name}" if name.isdigit() else name
