"""The data of a backprop trace, and what views show of it: numpy only, no torch.

`vgviz.core.backprop.trace.record()` makes a BackpropTrace; the GUI imports this module,
so drawing and explaining frames never pulls torch into the GUI thread's start-up.
Every trace (this one and vgviz.core.backprop.recurrent_frames.RecurrentTrace) is a
`Trace`: frames that a view steps through, with `display(i)` (what to draw) and
`explain(i)` (what the stepper's panel says).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Frame:
    index: int
    phase: str                    # "forward" | "backward"
    kind: str                     # "linear" | "activation" | "loss" | "input"
    layer: int | None             # Linear index (0 = nearest the input); None for the loss frame
    label: str                    # "F3 forward · layer 3", "B5 backward · layer 2"
    z: np.ndarray | None = None         # pre-activation of this layer (batch, units)
    a: np.ndarray | None = None         # activation output f(z) (batch, units); z itself for the output layer
    fprime: np.ndarray | None = None    # f′(z) (batch, units); None where no activation follows
    delta: np.ndarray | None = None     # backward: dL/dz (batch, units), from autograd
    delta_chain: np.ndarray | None = None  # backward: (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f′(zˡ), by hand (output layer: = delta)
    grad_w: np.ndarray | None = None    # backward: dL/dW of this layer (out, in)
    delta_norm: float | None = None     # ‖δˡ‖
    shrink: float | None = None         # ‖δˡ‖ / ‖δˡ⁺¹‖ (None at the output layer)
    cumulative: float | None = None     # ‖δˡ‖ / ‖δᴸ‖, since the output layer
    fprime_mean: float | None = None    # mean f′(zˡ) over batch and units
    grad_w_mean_abs: float | None = None  # mean |dL/dWˡ|
    loss: float | None = None           # the loss frame

    @property
    def grad_w_abs(self) -> np.ndarray | None:
        return None if self.grad_w is None else np.abs(self.grad_w)


class Trace(ABC):
    """One recorded forward and backward pass as frames a view steps through."""

    frames: tuple[Frame, ...]

    def __len__(self) -> int:
        return len(self.frames)

    @abstractmethod
    def display(self, index: int) -> Any:
        """What a view draws for frame `index` (a FrameDisplay for the layer diagram)."""

    @abstractmethod
    def explain(self, index: int) -> list[tuple[str, str]]:
        """The stepper panel's text for frame `index` as (label, value) rows with real numbers."""


@dataclass(frozen=True)
class BackpropTrace(Trace):
    """Frames per layer of a stack of Linear layers; the layer diagram draws display(i)."""

    frames: tuple[Frame, ...]
    layer_names: tuple[str, ...]      # one per Linear layer
    layer_sizes: tuple[int, ...]      # input size, then each Linear's out_features
    activations: tuple[str, ...]      # name of the activation after each Linear ("" for none)
    weights: tuple[np.ndarray, ...]   # W of each Linear at recording time
    x: np.ndarray                     # the input batch
    loss: float
    input_grad: np.ndarray            # dL/dx (batch, features)
    meta: dict = field(default_factory=dict)
    # residual nets: (a, b) per block, Linear a's output skips to the sum at Linear b's output
    skip_connections: tuple[tuple[int, int], ...] = ()

    @property
    def forward_frames(self) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if f.phase == "forward")

    @property
    def backward_frames(self) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if f.phase == "backward")

    def backward_frame(self, layer: int) -> Frame:
        """The backward frame of Linear layer `layer`."""
        return next(f for f in self.frames if f.phase == "backward" and f.kind == "linear" and f.layer == layer)

    def forward_frame(self, layer: int) -> Frame:
        """The forward frame of Linear layer `layer`."""
        return next(f for f in self.frames if f.phase == "forward" and f.kind == "linear" and f.layer == layer)

    def display(self, index: int) -> FrameDisplay:
        return _layer_display(self, index)

    def explain(self, index: int) -> list[tuple[str, str]]:
        return _layer_explanation(self, index)


@dataclass(frozen=True)
class FrameDisplay:
    """What the diagram shows for one frame: values per node and per edge, None where a
    layer is not lit yet. Columns are input, then one per Linear layer."""

    quantity: str                                 # "activation" | "gradient"
    input_values: np.ndarray                      # mean |x| per input feature
    node_values: tuple[np.ndarray | None, ...]    # per Linear layer: mean |a| or mean |δ| per unit
    edge_values: tuple[np.ndarray | None, ...]    # per Linear layer (out, in): |W| or |dL/dW|
    color_range: tuple[float, float]
    focus_layer: int | None                       # the layer this frame is about
    caption: str
    layer_names: tuple[str, ...] = ()
    layer_sizes: tuple[int, ...] = ()             # input size, then each Linear's out_features
    layer_notes: tuple[str, ...] = ()             # per layer, under its name: "‖δ‖ 1.2e-08"; "" if unlit
    legend: str = ""                              # what the colours mean
    skip_connections: tuple[tuple[int, int], ...] = ()   # residual nets: (a, b) per skip path
    skip_values: tuple[float | None, ...] = ()    # per skip: mean |x| it carries forward, or mean
    #                                               |dL/du| it carries back; None if not reached yet


def _log_range(arrays: list[np.ndarray], decades: int = 6) -> tuple[float, float]:
    values = np.concatenate([np.abs(a).ravel() for a in arrays]) if arrays else np.zeros(1)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return 1e-6, 1.0
    hi = 10.0 ** math.ceil(math.log10(values.max()))
    return hi / 10.0 ** decades, hi


def _layer_display(trace: BackpropTrace, index: int) -> FrameDisplay:
    """Forward frames light |a| layer by layer (edges: |W|, the weights the signal passes);
    backward frames light |δ| and |dL/dW| from the output down to the frame's layer. The
    colour range is fixed across the trace's frames of each kind, so fading reads true."""
    frame = trace.frames[index]
    n = len(trace.layer_names)
    input_values = np.abs(trace.x).reshape(-1, trace.x.shape[-1]).mean(0)
    if frame.phase == "forward":
        last = n - 1 if frame.layer is None else frame.layer
        acts = [np.abs(trace.forward_frame(i).a).reshape(-1, trace.layer_sizes[i + 1]).mean(0) for i in range(n)]
        lo, hi = _log_range(acts + [np.abs(w) for w in trace.weights] + [input_values])
        nodes = tuple(acts[i] if i <= last else None for i in range(n))
        edges = tuple(np.abs(trace.weights[i]) if i <= last else None for i in range(n))
        what = "loss computed at the output" if frame.layer is None else \
            f"signal reaches {trace.layer_names[frame.layer]}"
        caption = f"{frame.label} · {what}"
        notes = tuple(f"mean |a| {acts[i].mean():.2g}" if i <= last else "" for i in range(n))
        legend = (f"forward pass: nodes mean |a| over the batch, edges |W|; log colour scale {lo:.0e} … {hi:.0e} "
                  "fixed for this pass; grey = not reached yet")
        # a skip carries its block's input, the output of Linear a, once the signal passes a
        skips = tuple(float(acts[a].mean()) if a <= last else None for a, _ in trace.skip_connections)
        if skips:
            legend += "; arcs below: skip paths by the mean |x| they carry"
        return FrameDisplay("activation", input_values, nodes, edges, (lo, hi), frame.layer, caption,
                            trace.layer_names, trace.layer_sizes, notes, legend,
                            trace.skip_connections, skips)
    backs = [f for f in trace.backward_frames if f.kind == "linear"]
    deltas = {f.layer: np.abs(f.delta).reshape(-1, trace.layer_sizes[f.layer + 1]).mean(0) for f in backs}
    # 8 decades: a deep sigmoid net's first layer still gets a colour, not just the floor
    lo, hi = _log_range(list(deltas.values()) + [np.abs(f.grad_w) for f in backs], decades=8)
    nodes = tuple(deltas[i] if i >= frame.layer else None for i in range(n))
    edges = tuple(np.abs(trace.backward_frame(i).grad_w) if i >= frame.layer else None for i in range(n))
    caption = f"{frame.label} · ‖δ‖ = {frame.delta_norm:.3g}, ×{frame.cumulative:.3g} of the output's"
    notes = tuple(f"‖δ‖ {trace.backward_frame(i).delta_norm:.1e}" if i >= frame.layer else "" for i in range(n))
    legend = (f"backward pass: nodes mean |δ| = |dL/dz|, edges |dL/dW|; log colour scale {lo:.0e} … {hi:.0e} "
              "fixed for this pass; grey = error signal not arrived yet")
    # a skip carries dL/du back from its block's sum at Linear b, once the error reaches b
    sums = {f.layer: float(np.abs(f.delta).mean()) for f in trace.backward_frames if f.kind == "residual"}
    skips = tuple(sums.get(b) if b >= frame.layer else None for _, b in trace.skip_connections)
    if skips:
        legend += "; arcs below: skip paths by the mean |dL/du| they carry back"
    return FrameDisplay("gradient", np.zeros_like(input_values), nodes, edges, (lo, hi), frame.layer, caption,
                        trace.layer_names, trace.layer_sizes, notes, legend,
                        trace.skip_connections, skips)


def _layer_explanation(trace: BackpropTrace, index: int) -> list[tuple[str, str]]:
    f = trace.frames[index]
    rows: list[tuple[str, str]] = [("frame", f"{index + 1} of {len(trace)} · {f.label}")]
    if f.kind == "loss":
        rows.append(("loss L", f"{f.loss:.6g}"))
        rows.append(("next", "δ at the output = dL/dz, then backward layer by layer"))
        return rows
    name = trace.layer_names[f.layer]
    act = trace.activations[f.layer] or "none"
    if f.kind == "norm":
        if f.phase == "forward":
            rows.append(("layer", f"normalisation after {name}: each unit rescaled to mean 0, std 1, then γ·x̂ + β"))
            rows.append(("std of z → after norm", f"{np.std(f.z):.4g} → {np.std(f.a):.4g}"))
        else:
            rows.append(("rule", f"gradient at the normalised output of {name}, before it passes the norm"))
            rows.append(("‖dL/d(norm out)‖", f"{f.delta_norm:.4g}"))
            rows.append(("since output", f"×{f.cumulative:.4g}"))
        return rows
    if f.kind == "residual":
        rows.append(("rule", "u = branch(x) + x, so dL/dx = (branch part) + dL/du (skip part, unchanged)"))
        rows.append(("‖dL/du‖ = ‖skip part‖", f"{f.delta_norm:.4g}"))
        rows.append(("‖branch part‖", f"{float(np.linalg.norm(f.delta_chain)):.4g}"))
        rows.append(("branch / skip", f"×{f.shrink:.4g}"))
        rows.append(("since output", f"×{f.cumulative:.4g}"))
        return rows
    if f.phase == "forward":
        rows.append(("layer", f"{name}: z = W·a + b, a = {act}(z)"))
        rows.append(("mean |z|", f"{np.abs(f.z).mean():.4g}"))
        rows.append(("mean |a|", f"{np.abs(f.a).mean():.4g}"))
        if f.fprime is not None:
            rows.append(("mean f′(z)", f"{f.fprime_mean:.4g}" + ("  (sigmoid′ ≤ 0.25)" if act == "sigmoid" else "")))
        return rows
    n = len(trace.layer_names)
    if f.layer == n - 1:
        rows.append(("rule", f"δᴸ = dL/dz at the output ({name})"))
    else:
        rows.append(("rule", f"δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f′(zˡ)   (l = {name}, f = {act})"))
    rows.append(("‖δˡ‖", f"{f.delta_norm:.4g}"))
    if f.shrink is not None:
        rows.append(("shrink ‖δˡ‖/‖δˡ⁺¹‖", f"×{f.shrink:.4g}"))
    if f.fprime_mean is not None:
        rows.append(("mean f′(zˡ)", f"{f.fprime_mean:.4g}" + ("  (sigmoid′ ≤ 0.25)" if act == "sigmoid" else "")))
    rows.append(("since output ‖δˡ‖/‖δᴸ‖", f"×{f.cumulative:.4g}"))
    rows.append(("mean |dL/dWˡ|", f"{f.grad_w_mean_abs:.4g}"))
    if all(size == 1 for size in trace.layer_sizes) and trace.x.size == 1:
        # the scalar chain: one factor w·f′(z) per layer, and their running product
        w = float(trace.weights[f.layer].item())
        fp = 1.0 if f.fprime is None else float(f.fprime.item())
        rows.append(("factor wₗ·f′(zₗ)", f"{w:.4g} × {fp:.4g} = {w * fp:.4g}"))
        rows.append(("running product = dL/da below", f"{float(f.delta.item()) * w:.4g}"))
    return rows


def frame_count(config) -> int:
    """How many frames the backprop trace of a model built from ``config`` has, known
    before anything is built or trained (``vgviz render --frame`` is checked with it):

    * recurrent: T forward time steps, the loss, T backward (T = seq_len);
    * MLP: forward one frame per Linear layer and per norm layer, the loss, and the same
      backward, plus one backward frame per residual sum (its skip path).
    A plain or residual MLP has depth + 1 Linear layers and, with a norm, one after each
    hidden Linear; residual blocks take the depth − 1 hidden layers after the stem in pairs."""
    if getattr(config, "recurrent", False):
        return 2 * config.seq_len + 1
    linears = config.depth + 1
    norms = config.depth if config.norm != "none" else 0
    residual_sums = config.depth // 2 if config.residual else 0      # ⌈(depth − 1) / 2⌉ blocks
    return 2 * (linears + norms) + 1 + residual_sums
