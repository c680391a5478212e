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
        """The backward frame of Linear layer `layer`."""
        return next(f for f in self.frames if f.phase == "backward" and f.kind == "linear" and f.layer == layer)

    def forward_frame(self, layer: int) -> Frame:
        """The forward frame of Linear layer `layer`."""
        return next(f for f in self.frames if f.phase == "forward" and f.kind == "linear" and f.layer == layer)


class TraceError(ValueError):
    """The model holds a layer the trace cannot explain."""


_PASSIVE = (nn.Dropout, nn.Identity, nn.Sequential, nn.ModuleList)


def _elementwise_derivative(act: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """f′(z) for an element-wise f, by autograd: d/dz Σ f(z) = f′(z) element by element."""
    zc = z.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = act(zc)
        (g,) = torch.autograd.grad(out.sum(), zc)
    return g


def _np(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.dtype not in (torch.float32, torch.float64, torch.int64, torch.bool):
        t = t.float()  # numpy has no bfloat16
    arr = t.cpu().numpy().copy()
    arr.flags.writeable = False
    return arr


def _check_supported(model: nn.Module) -> None:
    from .models import ACTIVATION_TYPES, NORM_TYPES

    if not any(isinstance(m, nn.Linear) for m in model.modules()):
        raise TraceError("record(): the model has no Linear layer")
    for name, m in model.named_modules():
        if next(m.children(), None) is not None:
            continue  # containers: their leaves are checked
        if not isinstance(m, (nn.Linear, *NORM_TYPES, *ACTIVATION_TYPES, *_PASSIVE)):
            raise TraceError(f"record(): cannot explain layer {name or type(m).__name__} ({type(m).__name__}); "
                             "it handles Linear layers, element-wise activations, batch/layer norm and residual blocks")


class _Recorder:
    """Forward hooks that note, in call order, every Linear output z, norm output, activation
    (its input and output) and residual sum u, keeping their gradients for the backward frames."""

    def __init__(self, model: nn.Module):
        from .models import ACTIVATION_TYPES, NORM_TYPES

        self.events: list[tuple] = []
        self.linears: list[nn.Linear] = []
        self.handles = []
        for m in model.modules():
            if isinstance(m, nn.Linear):
                self.handles.append(m.register_forward_hook(self._on_linear))
            elif isinstance(m, NORM_TYPES):
                self.handles.append(m.register_forward_hook(self._on_norm))
            elif isinstance(m, ACTIVATION_TYPES) and not isinstance(m, nn.Identity):
                self.handles.append(m.register_forward_hook(self._on_activation))
            elif hasattr(m, "last_sum"):
                self.handles.append(m.register_forward_hook(self._on_residual))

    def _on_linear(self, module, inputs, output):
        output.retain_grad()
        self.linears.append(module)
        self.events.append(("linear", len(self.linears) - 1, output))

    def _on_norm(self, module, inputs, output):
        if not self.linears:
            raise TraceError(f"record(): {type(module).__name__} must follow a Linear layer")
        output.retain_grad()
        self.events.append(("norm", len(self.linears) - 1, output, module))

    def _on_activation(self, module, inputs, output):
        if not self.linears:
            raise TraceError(f"record(): {type(module).__name__} must follow a Linear layer")
        self.events.append(("activation", len(self.linears) - 1, inputs[0], output, module))

    def _on_residual(self, module, inputs, output):
        u, x = module.last_sum, inputs[0]
        u.retain_grad()
        x.retain_grad()
        self.events.append(("residual", len(self.linears) - 1, u, x))

    def close(self):
        for h in self.handles:
            h.remove()


def record(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None, loss_fn,
           layer_names: list[str] | None = None) -> BackpropTrace:
    """Run one forward and backward pass of `model` on (x, y) and return its frames.

    `loss_fn(output, y)` must return a scalar. Parameter gradients, normalisation
    running statistics and the model's train/eval mode are restored afterwards;
    the weights are not changed.
    """
    from .models import NORM_TYPES

    _check_supported(model)
    params = list(model.parameters())
    saved_grads = [None if p.grad is None else p.grad.clone() for p in params]
    norm_buffers = [(b, b.detach().clone()) for m in model.modules() if isinstance(m, NORM_TYPES)
                    for b in m.buffers()]
    recorder = _Recorder(model)
    try:
        with torch.enable_grad():
            x_in = x.detach().clone().requires_grad_(True)
            out = model(x_in)
            loss = loss_fn(out, y)
            for p in params:
                p.grad = None
            loss.backward()
        events = recorder.events
        linears = recorder.linears
        input_grad = x_in.grad.detach().clone()
        grad_ws = [lin.weight.grad.detach().clone() for lin in linears]
    finally:
        recorder.close()
        for p, g in zip(params, saved_grads):
            p.grad = g
        with torch.no_grad():
            for buf, saved in norm_buffers:
                buf.copy_(saved)

    n = len(linears)
    names = list(layer_names) if layer_names else [f"hidden{i + 1}" for i in range(n - 1)] + ["output"]
    zs = {e[1]: e[2] for e in events if e[0] == "linear"}
    # the activation applied after each Linear (after its norm, or after a residual sum)
    acts: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for e in events:
        if e[0] == "activation" and e[1] not in acts:
            _, i, act_in, act_out, module = e
            acts[i] = (act_in, act_out, _elementwise_derivative(module, act_in))
    plain_chain = not any(e[0] in ("norm", "residual") for e in events)

    def layer_output(i):
        return acts[i][1] if i in acts else zs[i]

    def fprime(i):
        return acts[i][2] if i in acts else None

    frames: list[Frame] = []
    for e in events:
        k = len(frames) + 1
        if e[0] == "linear":
            i = e[1]
            fp = fprime(i)
            frames.append(Frame(index=len(frames), phase="forward", kind="linear", layer=i,
                                label=f"F{k} forward · layer {i + 1} ({names[i]})",
                                z=_np(zs[i]), a=_np(layer_output(i)),
                                fprime=None if fp is None else _np(fp),
                                fprime_mean=None if fp is None else float(fp.float().mean())))
        elif e[0] == "norm":
            i, normed, module = e[1], e[2], e[3]
            frames.append(Frame(index=len(frames), phase="forward", kind="norm", layer=i,
                                label=f"F{k} forward · {type(module).__name__} after layer {i + 1} ({names[i]})",
                                z=_np(zs[i]), a=_np(normed)))
    loss_value = float(loss.detach())
    frames.append(Frame(index=len(frames), phase="forward", kind="loss", layer=None,
                        label=f"F{len(frames) + 1} loss = {loss_value:.4g}", loss=loss_value, a=_np(out)))

    top_norm = float(zs[n - 1].grad.norm())
    b = 0
    for e in reversed(events):
        if e[0] not in ("linear", "norm", "residual"):
            continue
        b += 1
        k = len(frames)
        if e[0] == "linear":
            i = e[1]
            delta = zs[i].grad
            fp = fprime(i)
            shrink, chain = None, delta
            if i < n - 1:
                above = float(zs[i + 1].grad.norm())
                shrink = float(delta.norm()) / above if above > 0 else float("nan")
                if plain_chain:
                    chain = zs[i + 1].grad @ linears[i + 1].weight.detach()
                    if fp is not None:
                        chain = chain * fp
                else:
                    chain = None
            norm = float(delta.norm())
            frames.append(Frame(
                index=k, phase="backward", kind="linear", layer=i,
                label=f"B{b} backward · layer {i + 1} ({names[i]})",
                z=_np(zs[i]), a=_np(layer_output(i)),
                fprime=None if fp is None else _np(fp),
                fprime_mean=None if fp is None else float(fp.float().mean()),
                delta=_np(delta), delta_chain=None if chain is None else _np(chain), grad_w=_np(grad_ws[i]),
                delta_norm=norm, shrink=shrink,
                cumulative=norm / top_norm if top_norm > 0 else float("nan"),
                grad_w_mean_abs=float(grad_ws[i].float().abs().mean()),
            ))
        elif e[0] == "norm":
            i, normed, module = e[1], e[2], e[3]
            g = normed.grad
            norm = float(g.norm())
            frames.append(Frame(
                index=k, phase="backward", kind="norm", layer=i,
                label=f"B{b} backward · {type(module).__name__} after layer {i + 1} ({names[i]})",
                z=_np(zs[i]), a=_np(normed), delta=_np(g), delta_norm=norm,
                cumulative=norm / top_norm if top_norm > 0 else float("nan"),
            ))
        else:  # a residual sum u = branch + x: dL/dx = (branch part) + dL/du (skip part)
            i, u, block_in = e[1], e[2], e[3]
            skip = u.grad
            branch = block_in.grad - skip
            norm = float(skip.norm())
            frames.append(Frame(
                index=k, phase="backward", kind="residual", layer=i,
                label=f"B{b} backward · skip path around layers up to {i + 1} ({names[i]})",
                a=_np(u), delta=_np(skip), delta_chain=_np(branch), delta_norm=norm,
                shrink=float(branch.norm()) / norm if norm > 0 else float("nan"),
                cumulative=norm / top_norm if top_norm > 0 else float("nan"),
            ))
    sizes = (linears[0].in_features,) + tuple(lin.out_features for lin in linears)
    activation_names = tuple(_activation_name(events, i) for i in range(n))
    return BackpropTrace(
        frames=tuple(frames),
        layer_names=tuple(names),
        layer_sizes=sizes,
        activations=activation_names,
        weights=tuple(_np(lin.weight) for lin in linears),
        x=_np(x),
        loss=loss_value,
        input_grad=_np(input_grad),
    )


def _activation_name(events, i: int) -> str:
    for e in events:
        if e[0] == "activation" and e[1] == i:
            return type(e[4]).__name__.lower()
    return ""


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
