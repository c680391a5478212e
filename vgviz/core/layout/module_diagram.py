"""The module-level diagram of any model (a user's CNN or transformer, not one of vgviz's
MLPs): one block per module that owns parameters, left to right in registration order.

A Linear or Conv layer small enough is drawn as units and edges: its inputs on the left, its
outputs on the right, each edge coloured by |dL/dW_ij| (a Linear layer) or by the norm of the
kernel gradient of output channel i from input channel j (a conv layer), as the capture holds
them. Any other layer is a box coloured by its gradient norm ‖g‖, labelled with its name,
kind and shape, "k uses" for a module that ran k times in the captured step (without a
capture: registered under k names), and marked when frozen.
Geometry is in unit coordinates (x, y in [0, 1]); the view scales it. Plain numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:   # the run file package imports torch; the window imports this before it paints
    from ..runfile.model import ModelDescription

MAX_UNITS = 32            # a layer with more inputs or outputs than this is a box
UNIT_KINDS = ("Linear", "Conv1d", "Conv2d", "Conv3d")
GAP = 0.25                # space between blocks, × a block's width


@dataclass(frozen=True)
class ModuleBlock:
    name: str
    kind: str
    shape: str                 # "128→10", "(32,)" …
    uses: int                  # how often it ran in the captured step (else how many names it has)
    frozen: bool               # no trainable parameter
    grad_l2: float             # ‖g‖ of its parameters; NaN if none measured (frozen, unused)
    edges: np.ndarray | None   # (out, in) edge magnitudes when drawn as units, else None
    rect: tuple[float, float, float, float]   # x0, y0, x1, y1 in unit coordinates

    @property
    def as_units(self) -> bool:
        return self.edges is not None

    @property
    def label(self) -> str:
        extra = [f"{self.uses} uses"] if self.uses > 1 else ["not run"] if self.uses == 0 else []
        extra += ["frozen"] if self.frozen else []
        return " · ".join([self.name or "(model)", self.kind, self.shape, *extra])

    def unit_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(in, 2) and (out, 2) unit centres (x, y) of a block drawn as units."""
        x0, y0, x1, y1 = self.rect
        n_out, n_in = self.edges.shape

        def column(n, x):
            ys = y0 + (y1 - y0) * (np.arange(n) + 0.5) / n
            return np.column_stack([np.full(n, x), ys])

        return column(n_in, x0), column(n_out, x1)


def _shape_text(in_shape, out_shape) -> str:
    if not in_shape and not out_shape:
        return "?"
    text = lambda s: "×".join(str(v) for v in s)
    return text(out_shape) if in_shape == out_shape else f"{text(in_shape)}→{text(out_shape)}"


def _uses(model: ModelDescription) -> dict[str, int]:
    """Module name → the number of names it is registered under (shared parameters' aliases)."""
    owner = {p: layer.name for layer in model.layers for p in layer.params}
    aliases: dict[str, set[str]] = {}
    for alias, original in model.shared.items():
        if original in owner:
            aliases.setdefault(owner[original], set()).add(alias.rsplit(".", 1)[0])
    return {name: 1 + len(prefixes) for name, prefixes in aliases.items()}


def module_diagram(model: ModelDescription, grad_l2: dict[str, float],
                   edges: dict[str, np.ndarray] | None = None, max_units: int = MAX_UNITS,
                   uses: dict[str, int] | None = None) -> list[ModuleBlock]:
    """The blocks of ``model``'s layers in registration order, with each layer's gradient norm
    (``grad_l2`` by layer name) and, for Linear and Conv layers of at most ``max_units`` inputs
    and outputs, their (out, in) edges (``edges`` by layer name, from a capture). ``uses``: how
    often each layer ran (a capture's layer_uses by name); a layer it lacks counts its names."""
    edges = edges or {}
    frozen = dict(zip(model.param_names, model.frozen))
    uses = {**_uses(model), **(uses or {})}
    layers = model.layers
    n = len(layers)
    width = 1.0 / max(n + (n - 1) * GAP, 1)
    blocks = []
    for i, layer in enumerate(layers):
        x0 = i * width * (1 + GAP)
        e = edges.get(layer.name)
        small = (layer.kind in UNIT_KINDS and e is not None and e.ndim == 2
                 and e.size > 1 and max(e.shape) <= max_units)
        tall = min(1.0, 0.25 + 0.75 * (max(e.shape) / max_units)) if small else 0.5
        y0 = (1.0 - tall) / 2
        blocks.append(ModuleBlock(
            name=layer.name, kind=layer.kind, shape=_shape_text(layer.in_shape, layer.out_shape),
            uses=uses.get(layer.name, 1), frozen=all(frozen.get(p, False) for p in layer.params),
            grad_l2=float(grad_l2.get(layer.name, np.nan)),
            edges=np.asarray(e, dtype=np.float32) if small else None,
            rect=(x0, y0, x0 + width, y0 + tall)))
    return blocks


def log_range(blocks: list[ModuleBlock]) -> tuple[float, float]:
    """(lo, hi) of log10 of every drawn magnitude (boxes' ‖g‖ and edges), for one colour scale."""
    values = [b.grad_l2 for b in blocks if not b.as_units]
    values += [float(v) for b in blocks if b.as_units for v in (b.edges.min(), b.edges.max())]
    logs = np.log10([v for v in values if np.isfinite(v) and v > 0])
    if len(logs) == 0:
        return -1.0, 0.0
    lo, hi = float(logs.min()), float(logs.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)
