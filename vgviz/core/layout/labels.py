"""Text that must fit: the diagram's column labels and its caption lines.

A projector at 1024×768 leaves a 10-column diagram about 55 px a column. Every column keeps
a label: full names where they fit, else staggered on two rows, else abbreviated (h3 for
hidden3, the bare number for ‖∇W‖) and staggered on two rows, then three (a narrow diagram
beside the stepper dock); only a network too deep even for that labels every few columns. Widths come from a ``measure(text) -> float`` (the painter's font
metrics), so this stays free of Qt.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

Measure = Callable[[str], float]

_NUMBERED = re.compile(r"(hidden|neuron)(\d+)$")
_SHORT_NAMES = {"input": "in", "output": "out"}


def short_layer_name(name: str) -> str:
    """'hidden3' -> 'h3', 'neuron3' -> 'n3' (the scalar chain), 'output' -> 'out', 'input' -> 'in';
    other names as they are."""
    match = _NUMBERED.match(name)
    if match:
        return f"{match.group(1)[0]}{match.group(2)}"
    return _SHORT_NAMES.get(name, name)


def short_label(lines: tuple[str, str]) -> tuple[str, str]:
    """A column label's short form: the abbreviated name and its number without what it is
    ('‖∇W‖ 3.1e-06' -> '3.1e-06', 'mean |a| 0.52' -> '0.52'; the legend says what it is)."""
    name, value = lines
    return short_layer_name(name), value.rsplit(" ", 1)[-1]


def input_label(n_features: int, short: bool = False) -> tuple[str, str]:
    """The input column's label."""
    if short:
        return "in", f"{n_features} feat."
    return "input", f"{n_features} feature{'s' if n_features != 1 else ''}"


@dataclass(frozen=True)
class LabelPlan:
    short: bool   # abbreviated labels
    rows: int     # 1, or 2 or 3 staggered rows
    stride: int   # label every stride-th column (1: all of them)


def plan_labels(gap: float, full_width: float, short_width: float) -> LabelPlan:
    """How the column labels fit columns ``gap`` apart, given the widest full and short label
    (padding included): the first that fits of full on one row, full on two staggered rows,
    short on two rows, short on three; else short on two rows every few columns."""
    if full_width <= gap:
        return LabelPlan(False, 1, 1)
    if full_width <= 2 * gap:
        return LabelPlan(False, 2, 1)
    return plan_short_labels(gap, short_width)


def plan_short_labels(gap: float, short_width: float) -> LabelPlan:
    """Abbreviated labels for columns ``gap`` apart: on two staggered rows, else three, else on
    two rows every few columns."""
    if short_width <= 2 * gap:
        return LabelPlan(True, 2, 1)
    if short_width <= 3 * gap:
        return LabelPlan(True, 3, 1)
    return LabelPlan(True, 2, max(1, math.ceil(short_width / (2 * gap))))


def wrap_text(text: str, width: float, measure: Measure) -> list[str]:
    """``text`` broken into lines no wider than ``width`` at spaces (a separator ' · ' or
    ', ' ends a line rather than starting one); a single word wider than ``width`` gets a
    line of its own."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and measure(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line or not lines:
        lines.append(line)
    return lines


_BREAKS = re.compile(r"( {2,}|[,;:] )")   # where a rule may wrap: between its parts, never inside one


def rule_parts(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (part, is_formula): a view keeps each formula part (one with an '=')
    on one line and wraps only at the separators between them ('δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f′(zˡ)',
    '   ', '(l = h3', ', ', 'f = sigmoid)'); words around them ('one factor per step') wrap freely."""
    return [(part, not _BREAKS.fullmatch(part) and "=" in part) for part in _BREAKS.split(text) if part]
