"""BackpropTrace: one forward and one backward pass, recorded as frames a view can step through.

    trace = record(model, x, y, loss_fn)
    trace.frames          # forward frames input→output, the loss frame, then backward frames output→input
    frame.phase           # "forward" | "backward" (the loss frame is the last forward frame, kind "loss")
    frame.layer           # index of the Linear layer, 0 = nearest the input
    frame.delta           # backward frames: dL/dz of that layer, (batch, units)

Works for any nn.Sequential of nn.Linear layers and element-wise activations.
The numbers come from autograd (retain_grad on every pre-activation z), and each
backward frame also holds the chain rule evaluated by hand,
δˡ = (Wˡ⁺¹)ᵀ δˡ⁺¹ ⊙ f′(zˡ), so a view can show both and a test can compare them.
The model's weights and gradients are left exactly as they were.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


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


@dataclass(frozen=True)
class BackpropTrace:
    frames: tuple[Frame, ...]
    layer_names: tuple[str, ...]      # one per Linear layer
    layer_sizes: tuple[int, ...]      # input size, then each Linear's out_features
    activations: tuple[str, ...]      # name of the activation after each Linear ("" for none)
    weights: tuple[np.ndarray, ...]   # W of each Linear at recording time
    x: np.ndarray                     # the input batch
    loss: float
    input_grad: np.ndarray            # dL/dx (batch, features)
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def forward_frames(self) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if f.phase == "forward")

    @property
    def backward_frames(self) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if f.phase == "backward")

    def backward_frame(self, layer: int) -> Frame:
        return next(f for f in self.frames if f.phase == "backward" and f.layer == layer)

    def forward_frame(self, layer: int) -> Frame:
        return next(f for f in self.frames if f.phase == "forward" and f.layer == layer)


class TraceError(ValueError):
    """The model is not a chain of Linear layers and element-wise activations."""


def _split_sequential(model: nn.Module) -> list[tuple[nn.Linear, nn.Module | None]]:
    if not isinstance(model, nn.Sequential):
        raise TraceError(f"record() needs an nn.Sequential of Linear layers and activations, got {type(model).__name__}")
    pairs: list[tuple[nn.Linear, nn.Module | None]] = []
    for module in model:
        if isinstance(module, nn.Linear):
            pairs.append((module, None))
        elif pairs and pairs[-1][1] is None:
            pairs[-1] = (pairs[-1][0], module)  # the element-wise activation after that Linear
        else:
            raise TraceError(f"record(): {type(module).__name__} must follow a Linear layer")
    if not pairs:
        raise TraceError("record(): the model has no Linear layer")
    return pairs


def _elementwise_derivative(act: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """f′(z) for an element-wise f, by autograd: d/dz Σ f(z) = f′(z) element by element."""
    zc = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = act(zc)
        (g,) = torch.autograd.grad(out.sum(), zc)
    return g


def _np(t: torch.Tensor) -> np.ndarray:
    arr = t.detach().cpu().numpy().copy()
    arr.flags.writeable = False
    return arr


def record(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, loss_fn,
           layer_names: list[str] | None = None) -> BackpropTrace:
    """Run one forward and backward pass of `model` on (x, y) and return its frames.

    `loss_fn(output, y)` must return a scalar. Parameter gradients and the
    model's train/eval mode are restored afterwards; the weights are not changed.
    """
    pairs = _split_sequential(model)
    params = list(model.parameters())
    saved_grads = [None if p.grad is None else p.grad.clone() for p in params]
    zs: list[torch.Tensor] = []
    acts: list[torch.Tensor] = []
    fprimes: list[torch.Tensor | None] = []
    try:
        with torch.enable_grad():
            h = x.detach().clone().requires_grad_(True)
            x_in = h
            for linear, act in pairs:
                z = linear(h)
                z.retain_grad()
                zs.append(z)
                if act is not None:
                    fprimes.append(_elementwise_derivative(act, z))
                    h = act(z)
                else:
                    fprimes.append(None)
                    h = z
                acts.append(h)
            loss = loss_fn(h, y)
            for p in params:
                p.grad = None
            loss.backward()
        deltas = [z.grad.detach().clone() for z in zs]
        grad_ws = [linear.weight.grad.detach().clone() for linear, _ in pairs]
        input_grad = x_in.grad.detach().clone()
    finally:
        for p, g in zip(params, saved_grads):
            p.grad = g

    n = len(pairs)
    names = list(layer_names) if layer_names else [f"hidden{i + 1}" for i in range(n - 1)] + ["output"]
    frames: list[Frame] = []
    for i in range(n):
        k = len(frames) + 1
        frames.append(Frame(index=len(frames), phase="forward", kind="linear", layer=i,
                            label=f"F{k} forward · layer {i + 1} ({names[i]})",
                            z=_np(zs[i]), a=_np(acts[i]),
                            fprime=None if fprimes[i] is None else _np(fprimes[i]),
                            fprime_mean=None if fprimes[i] is None else float(fprimes[i].mean())))
    loss_value = float(loss.detach())
    frames.append(Frame(index=len(frames), phase="forward", kind="loss", layer=None,
                        label=f"F{len(frames) + 1} loss = {loss_value:.4g}", loss=loss_value,
                        a=_np(acts[-1])))
    top_norm = float(deltas[-1].norm())
    for b, i in enumerate(range(n - 1, -1, -1)):
        delta = deltas[i]
        if i == n - 1:
            chain = delta
            shrink = None
        else:
            chain = (deltas[i + 1] @ pairs[i + 1][0].weight.detach()) * fprimes[i] if fprimes[i] is not None \
                else deltas[i + 1] @ pairs[i + 1][0].weight.detach()
            above = float(deltas[i + 1].norm())
            shrink = float(delta.norm()) / above if above > 0 else float("nan")
        norm = float(delta.norm())
        frames.append(Frame(
            index=len(frames), phase="backward", kind="linear", layer=i,
            label=f"B{b + 1} backward · layer {i + 1} ({names[i]})",
            z=_np(zs[i]), a=_np(acts[i]),
            fprime=None if fprimes[i] is None else _np(fprimes[i]),
            fprime_mean=None if fprimes[i] is None else float(fprimes[i].mean()),
            delta=_np(delta), delta_chain=_np(chain), grad_w=_np(grad_ws[i]),
            delta_norm=norm, shrink=shrink,
            cumulative=norm / top_norm if top_norm > 0 else float("nan"),
            grad_w_mean_abs=float(grad_ws[i].abs().mean()),
        ))
    return BackpropTrace(
        frames=tuple(frames),
        layer_names=tuple(names),
        layer_sizes=(pairs[0][0].in_features,) + tuple(lin.out_features for lin, _ in pairs),
        activations=tuple("" if act is None else type(act).__name__.lower() for _, act in pairs),
        weights=tuple(_np(lin.weight) for lin, _ in pairs),
        x=_np(x),
        loss=loss_value,
        input_grad=_np(input_grad),
    )


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


def _log_range(arrays: list[np.ndarray], decades: int = 6) -> tuple[float, float]:
    values = np.concatenate([np.abs(a).ravel() for a in arrays]) if arrays else np.zeros(1)
    values = values[np.isfinite(values) & (values > 0)]
    if not len(values):
        return 1e-6, 1.0
    hi = 10.0 ** math.ceil(math.log10(values.max()))
    return hi / 10.0 ** decades, hi


def frame_display(trace: BackpropTrace, index: int) -> FrameDisplay:
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
        return FrameDisplay("activation", input_values, nodes, edges, (lo, hi), frame.layer, caption,
                            trace.layer_names, trace.layer_sizes, notes, legend)
    backs = trace.backward_frames
    deltas = {f.layer: np.abs(f.delta).reshape(-1, trace.layer_sizes[f.layer + 1]).mean(0) for f in backs}
    # 8 decades: a deep sigmoid net's first layer still gets a colour, not just the floor
    lo, hi = _log_range(list(deltas.values()) + [np.abs(f.grad_w) for f in backs], decades=8)
    nodes = tuple(deltas[i] if i >= frame.layer else None for i in range(n))
    edges = tuple(np.abs(trace.backward_frame(i).grad_w) if i >= frame.layer else None for i in range(n))
    caption = f"{frame.label} · ‖δ‖ = {frame.delta_norm:.3g}, ×{frame.cumulative:.3g} of the output's"
    notes = tuple(f"‖δ‖ {trace.backward_frame(i).delta_norm:.1e}" if i >= frame.layer else "" for i in range(n))
    legend = (f"backward pass: nodes mean |δ| = |dL/dz|, edges |dL/dW|; log colour scale {lo:.0e} … {hi:.0e} "
              "fixed for this pass; grey = error signal not arrived yet")
    return FrameDisplay("gradient", np.zeros_like(input_values), nodes, edges, (lo, hi), frame.layer, caption,
                        trace.layer_names, trace.layer_sizes, notes, legend)


def explain(trace: BackpropTrace, index: int) -> list[tuple[str, str]]:
    """The panel's text for a frame as (label, value) rows with real numbers."""
    f = trace.frames[index]
    rows: list[tuple[str, str]] = [("frame", f"{index + 1} of {len(trace)} · {f.label}")]
    if f.kind == "loss":
        rows.append(("loss L", f"{f.loss:.6g}"))
        rows.append(("next", "δ at the output = dL/dz, then backward layer by layer"))
        return rows
    name = trace.layer_names[f.layer]
    act = trace.activations[f.layer] or "none"
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
