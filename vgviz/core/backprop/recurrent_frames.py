"""The data of a backprop-through-time trace and what views show of it: numpy only, no torch.

`vgviz.core.tasks.recurrent.trace.record_recurrent()` makes a RecurrentTrace; the GUI
imports this module (as it imports vgviz.core.backprop.frames), so drawing and explaining
time-step frames never pulls torch into the GUI's start-up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..layout import unrolled_columns
from .frames import BackpropTrace, Frame

SYMBOLS = "ABCD"          # the recall task's tokens (vgviz.core.tasks.recurrent.data)

RULES = {
    "rnn": "h_t = tanh(W_ih·x_t + W_hh·h_(t−1) + b)",
    "lstm": "c_t = f⊙c_(t−1) + i⊙g,  h_t = o⊙tanh(c_t)   (gates i f g o from x_t and h_(t−1))",
    "gru": "h_t = (1−z)⊙n + z⊙h_(t−1)   (gates r z, candidate n)",
}
BACK_RULES = {
    "rnn": "∂L/∂h_t = W_hhᵀ (∂L/∂h_(t+1) ⊙ tanh′): one factor W_hh·tanh′ per step",
    "lstm": "∂L/∂h_t = W_hhᵀ ∂L/∂gates_(t+1); the cell path ∂L/∂c_t = f_(t+1)⊙∂L/∂c_(t+1) + … keeps it",
    "gru": "∂L/∂h_t = z_(t+1)⊙∂L/∂h_(t+1) + W_hhᵀ(…): the z path passes it on unchanged where z ≈ 1",
}
FACTORS = {"rnn": "mean tanh′", "lstm": "mean forget gate f", "gru": "mean update gate z"}


@dataclass(frozen=True)
class TimeFrame(Frame):
    """A frame about one time step (kind "timestep") or the loss (kind "loss").

    Forward: `a` = h_t of the top layer (batch, width), `fprime` = tanh′ (rnn).
    Backward: `delta` = ∂L/∂h_t of the top layer, `delta_norm` over every layer,
    `delta_chain` the chain rule by hand (rnn), `fprime_mean` the mean of the factor
    the gradient passed on its way from t+1 back to t (tanh′, f or z at t+1)."""

    t: int = 0
    token: str = ""                          # example 1's token at t ("A" … "D"; "" without tokens)
    gates: tuple[tuple[str, float], ...] = ()  # forward: mean of each gate at t (top layer)
    state_mean_abs: float | None = None      # forward: mean |h_t|
    cell_grad_norm: float | None = None      # lstm backward: ‖∂L/∂c_t‖ (all layers, total: via h_t and c_(t+1))
    chain_error: float | None = None         # rnn backward: max |autograd − chain rule by hand|


@dataclass(frozen=True)
class TimeDisplay:
    """What the unrolled view shows for one frame: a value per time step (NaN = not reached yet)."""

    quantity: str               # "activation" (mean |h_t|) | "gradient" (‖∂L/∂h_t‖)
    values: np.ndarray          # (T,)
    focus: int | None           # the time step the frame is about (1..T); None = the loss
    color_range: tuple[float, float]
    caption: str
    legend: str
    loss_lit: bool              # the loss box has been reached


@dataclass(frozen=True)
class RecurrentTrace(BackpropTrace):
    """Frames per time step of an unrolled recurrent net; the unrolled view draws display(i)."""

    model_kind: str = "rnn"
    seq_len: int = 0
    depth: int = 1
    tokens: np.ndarray | None = None          # (batch, T) symbols, if known
    timestep_grad: np.ndarray | None = None   # (T,) ‖∂L/∂h_t‖, all layers
    cell_grad: np.ndarray | None = None       # (T,) ‖∂L/∂c_t‖ (lstm)
    state_mean_abs: np.ndarray | None = None  # (T,) mean |h_t| of the top layer

    def time_frame(self, phase: str, t: int) -> TimeFrame:
        return next(f for f in self.frames if f.phase == phase and f.kind == "timestep" and f.t == t)

    @property
    def batch_size(self) -> int:
        return int(self.x.shape[0])

    @property
    def token_text(self) -> str:
        """Example 1's tokens as letters ("BADC…"), or "" if the trace has no tokens."""
        if self.tokens is None:
            return ""
        return "".join(SYMBOLS[int(i)] for i in self.tokens[0])

    def display(self, index: int) -> TimeDisplay:
        """Forward frames light mean |h| for t ≤ the frame's step; backward frames light
        ‖∂L/∂h_t‖ from T down to the frame's step. One colour range per quantity for the pass."""
        f = self.frames[index]
        steps = np.arange(1, self.seq_len + 1)
        if f.phase == "forward":
            last = self.seq_len if f.kind == "loss" else f.t
            values = np.where(steps <= last, self.state_mean_abs, np.nan)
            lo, hi = _range(self.state_mean_abs, decades=3)
            legend = (f"forward: each column is h_t, coloured by mean |h_t| (log {lo:.0e} … {hi:.0e}); "
                      "grey = not computed yet")
            return TimeDisplay("activation", values, None if f.kind == "loss" else f.t, (lo, hi),
                               _caption(self, f), legend, f.kind == "loss")
        values = np.where(steps >= f.t, self.timestep_grad, np.nan)
        lo, hi = unrolled_columns.color_range(self.timestep_grad)      # as the live view: at least 12 decades
        legend = (f"backward: each column coloured by ‖∂L/∂h_t‖ (log {lo:.0e} … {hi:.0e}, fixed for this pass); "
                  "grey = the gradient has not got there yet")
        return TimeDisplay("gradient", values, f.t, (lo, hi), _caption(self, f), legend, True)

    def explain(self, index: int) -> list[tuple[str, str]]:
        """The stepper's rows for a frame, with the numbers of this pass."""
        f = self.frames[index]
        top = " (top layer)" if self.depth > 1 else ""
        rows: list[tuple[str, str]] = [("frame", f"{index + 1} of {len(self)} · {f.label}")]
        if f.kind == "loss":
            rows.append(("loss L", f"{f.loss:.6g}  (ln 4 = {math.log(4):.4g} is a guess among A B C D)"))
            rows.append(("target", "the class of the first token, x_1 — T − 1 steps before the loss"))
            rows.append(("next", "∂L/∂h_T from the output layer, then backward through time, t = T … 1"))
            return rows
        if f.phase == "forward":
            rows.append(("step", f"{self.model_kind}: {RULES[self.model_kind]}"))
            if f.token:
                role = "the token to recall" if f.t == 1 else "noise"
                rows.append(("input x_t", f"{f.token} — {role}  (example 1 of {self.batch_size})"))
            rows.append((f"mean |h_t|{top}", f"{f.state_mean_abs:.4g}"))
            for name, value in f.gates:
                rows.append((f"mean {name}{top}", f"{value:.4g}"))
            return rows
        rows.append(("rule", BACK_RULES[self.model_kind]))
        rows.append(("‖∂L/∂h_t‖", f"{f.delta_norm:.4g}" + (" (every layer)" if self.depth > 1 else "")))
        if f.shrink is not None:
            rows.append(("shrink ‖∂L/∂h_t‖ / ‖∂L/∂h_(t+1)‖", f"×{f.shrink:.4g}"))
            if f.fprime_mean is not None:
                rows.append((f"{FACTORS[self.model_kind]} at t+1{top}", f"{f.fprime_mean:.4g}"))
        else:
            rows.append(("start", "∂L/∂h_T = W_outᵀ ∂L/∂logits: straight from the output layer"))
        rows.append(("since the loss ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖", f"×{f.cumulative:.4g}  ({self.seq_len - f.t} steps back)"))
        if f.cell_grad_norm is not None:
            rows.append(("‖∂L/∂c_t‖ (cell state)", f"{f.cell_grad_norm:.4g}"))
        if f.chain_error is not None:
            rows.append(("chain rule by hand vs autograd", f"max |difference| {f.chain_error:.2g}"))
        return rows


def _range(values: np.ndarray | None, decades: int) -> tuple[float, float]:
    v = np.asarray(values if values is not None else [], dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return 1e-8, 1.0
    hi = 10.0 ** math.ceil(math.log10(v.max()))
    lo = 10.0 ** math.floor(math.log10(v.min()))
    lo = min(lo, hi / 10.0 ** decades)
    if lo >= hi:
        lo = hi / 10.0
    return lo, hi


def _caption(trace: RecurrentTrace, f: TimeFrame) -> str:
    if f.kind == "loss":
        return f"{f.label} · the output layer reads h_T"
    if f.phase == "forward":
        return f"{f.label} · h_{f.t} computed from x_{f.t} and h_{f.t - 1}"
    back = trace.seq_len - f.t
    return (f"{f.label} · ‖∂L/∂h_{f.t}‖ = {f.delta_norm:.3g}, ×{f.cumulative:.3g} of ‖∂L/∂h_T‖ "
            f"after {back} step{'s' if back != 1 else ''} back")
