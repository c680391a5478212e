"""How the diagrams' log colour range is chosen, and the relative-to-output view (no Qt).

Range modes (``RANGE_MODES``):

* ``run``: fitted at a run's first stats (step 0) and kept for the run, or a preset's range;
* ``auto``: re-fitted to every frame;
* ``fixed``: a typed LO … HI, for every run;
* ``shared``: fitted once, then kept by every run of the session and both sides of the compare
  window until it is reset (``SharedRange``).

``relative_to_output`` divides each layer's gradients by the output layer's at the same step, so
that vanishing (early layers far below the output) stays visible after the whole network's
gradients have shrunk because it converged.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # presets import this module: it imports no numpy or torch until it computes
    from ..measure.stats import StepStats

RANGE_MODES = ("run", "auto", "fixed", "shared")
RANGE_MODE_NAMES = {"run": "per run, fixed at step 0", "auto": "auto, every frame",
                    "fixed": "fixed, typed LO … HI", "shared": "shared by every run until reset"}


class RangeError(ValueError):
    """A colour range that cannot be used; the message says why in one line."""


def check_range(lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) as floats if they make a log colour scale: finite, 0 < lo < hi."""
    try:
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise RangeError(f"a colour range needs two numbers, not {lo!r} and {hi!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= lo:
        raise RangeError(f"colour range {lo:g}:{hi:g} must be two finite numbers with 0 < LO < HI "
                         "(a log scale), e.g. 1e-9:1e-1")
    return lo, hi


def parse_range(text: str) -> tuple[float, float]:
    """'LO:HI' (or 'LO…HI', 'LO..HI') → (lo, hi); RangeError if it is not a usable log range."""
    s = str(text).strip()
    for sep in ("…", "..", ":"):
        if sep in s:
            parts = s.split(sep)
            break
    else:
        parts = [s]
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise RangeError(f"colour range {text!r} is not LO:HI, e.g. 1e-9:1e-1")
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise RangeError(f"colour range {text!r} is not LO:HI with two numbers, e.g. 1e-9:1e-1") from None
    return check_range(lo, hi)


def format_range(lo_hi: tuple[float, float]) -> str:
    return f"{lo_hi[0]:.0e}:{lo_hi[1]:.0e}"


def union_range(ranges) -> tuple[float, float]:
    """One range over several fitted ones (runs, or the two sides of a compare window): the
    lowest low and the highest high."""
    ranges = [tuple(r) for r in ranges]
    if not ranges:
        raise ValueError("a shared range needs at least one fitted range")
    return min(lo for lo, _ in ranges), max(hi for _, hi in ranges)


class SharedRange:
    """The one range every run of a session (and both sides of a compare window) keeps in the
    ``shared`` mode: set by the first fit, kept until ``reset``."""

    def __init__(self) -> None:
        self.range: tuple[float, float] | None = None

    def reset(self) -> None:
        self.range = None

    def take(self, fitted: tuple[float, float]) -> tuple[float, float]:
        """Keep ``fitted`` as the shared range from now on."""
        self.range = tuple(fitted)
        return self.range

    def take_all(self, fitted_ranges) -> tuple[float, float]:
        """Keep one range over all of ``fitted_ranges`` (``union_range``) from now on."""
        return self.take(union_range(fitted_ranges))


def choose_range(mode: str, current: tuple[float, float] | None, fit, *, fixed=None, shared=None,
                 preset=None) -> tuple[tuple[float, float], bool]:
    """The range a frame is drawn on, and whether it was (re)chosen now. ``fit`` () → (lo, hi)
    fits the frame's values (called only when needed); ``current`` is the range in use (None at a
    run's start); ``fixed`` the typed range, ``shared`` the session's SharedRange, ``preset``
    a preset's range (used by the ``run`` mode instead of fitting at step 0)."""
    if mode == "fixed" and fixed is not None:
        return tuple(fixed), current != tuple(fixed)
    if mode == "shared" and shared is not None:
        chosen = shared.take(fit()) if shared.range is None else shared.range
        return chosen, chosen != current
    if mode == "auto":
        return fit(), True
    if current is None:
        return (tuple(preset) if preset is not None else fit()), True
    return current, False


def describe_mode(mode: str, range_step: int, *, preset: bool = False) -> str:
    """How the range was chosen, for the diagram's legend."""
    if mode == "auto":
        return "re-fitted every frame"
    if mode == "fixed":
        return "fixed (typed)"
    if mode == "shared":
        return "shared by every run until reset"
    from ..measure.steps import step_text   # numpy: only once a view describes its range

    return "set by the preset" if preset else f"fixed for this run at {step_text(range_step)}"


def relative_to_output(stats: StepStats) -> StepStats:
    """``stats`` with every layer's gradients divided by the output layer's at the same step:
    edges and mean |dL/dW| by the output layer's mean |dL/dW|, ‖dL/dW‖ by its ‖dL/dW‖, node
    |δ| and skip paths by its mean |δ| (where it is 0 or not finite, the quotient is NaN)."""
    import numpy as np

    def ratio(values, by: float):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(values, dtype=np.float64) / by if by > 0 and math.isfinite(by) else \
                np.full(np.shape(values), np.nan)

    out_mean = float(stats.grad_mean_abs[-1]) if len(stats.grad_mean_abs) else float("nan")
    out_l2 = float(stats.grad_l2[-1]) if len(stats.grad_l2) else float("nan")
    out_delta = float(np.mean(stats.delta_mean_abs[-1])) if stats.delta_mean_abs else float("nan")
    return replace(
        stats,
        grad_mean_abs=ratio(stats.grad_mean_abs, out_mean),
        grad_l2=ratio(stats.grad_l2, out_l2),
        delta_mean_abs=tuple(ratio(d, out_delta) for d in stats.delta_mean_abs),
        edge_abs=None if stats.edge_abs is None else tuple(ratio(e, out_mean) for e in stats.edge_abs),
        skip_grad=None if stats.skip_grad is None else ratio(stats.skip_grad, out_delta),
    )
