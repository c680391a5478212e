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

import numpy as np
import torch
from torch import nn

from ..layers import ACTIVATION_TYPES, NORM_TYPES, ResidualNet, ResidualSum
from .frames import BackpropTrace, Frame


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


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A read-only numpy copy of a tensor (bfloat16 as float32), for a frame."""
    t = t.detach()
    if t.dtype not in (torch.float32, torch.float64, torch.int64, torch.bool):
        t = t.float()  # numpy has no bfloat16
    arr = t.cpu().numpy().copy()
    arr.flags.writeable = False
    return arr


def _check_supported(model: nn.Module) -> None:
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
            elif isinstance(m, ResidualSum):
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
    _check_supported(model)
    params = list(model.parameters())
    # the originals, not copies: they are set aside (p.grad = None) before this backward,
    # so it can't touch them, and a Trainer's flat gradient buffer stays attached
    saved_grads = [p.grad for p in params]
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
                                z=as_numpy(zs[i]), a=as_numpy(layer_output(i)),
                                fprime=None if fp is None else as_numpy(fp),
                                fprime_mean=None if fp is None else float(fp.float().mean())))
        elif e[0] == "norm":
            i, normed, module = e[1], e[2], e[3]
            frames.append(Frame(index=len(frames), phase="forward", kind="norm", layer=i,
                                label=f"F{k} forward · {type(module).__name__} after layer {i + 1} ({names[i]})",
                                z=as_numpy(zs[i]), a=as_numpy(normed)))
    loss_value = float(loss.detach())
    frames.append(Frame(index=len(frames), phase="forward", kind="loss", layer=None,
                        label=f"F{len(frames) + 1} loss = {loss_value:.4g}", loss=loss_value, a=as_numpy(out)))

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
                    _check_chain(chain, delta, i, names)
                else:
                    chain = None
            norm = float(delta.norm())
            frames.append(Frame(
                index=k, phase="backward", kind="linear", layer=i,
                label=f"B{b} backward · layer {i + 1} ({names[i]})",
                z=as_numpy(zs[i]), a=as_numpy(layer_output(i)),
                fprime=None if fp is None else as_numpy(fp),
                fprime_mean=None if fp is None else float(fp.float().mean()),
                delta=as_numpy(delta), delta_chain=None if chain is None else as_numpy(chain),
                grad_w=as_numpy(grad_ws[i]),
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
                z=as_numpy(zs[i]), a=as_numpy(normed), delta=as_numpy(g), delta_norm=norm,
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
                a=as_numpy(u), delta=as_numpy(skip), delta_chain=as_numpy(branch), delta_norm=norm,
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
        weights=tuple(as_numpy(lin.weight) for lin in linears),
        x=as_numpy(x),
        loss=loss_value,
        input_grad=as_numpy(input_grad),
        skip_connections=tuple(model.skip_connections()) if isinstance(model, ResidualNet) else (),
    )


# the hand chain rule and autograd agree to float rounding for the layers the trace explains:
# this, or 16 rounding steps of a coarser number format (bfloat16)
CHAIN_RTOL = 1e-3


def _check_chain(chain: torch.Tensor, delta: torch.Tensor, i: int, names: list[str]) -> None:
    """Refuse a trace whose chain rule through the model's modules is not autograd's: something
    between two Linear layers is not a module (torch.tanh(...) in forward, say)."""
    off = float((chain.double() - delta.double()).norm()) / max(float(delta.double().norm()), 1e-30)
    if off > max(CHAIN_RTOL, 16 * torch.finfo(delta.dtype).eps):
        raise TraceError(f"record(): after layer {i + 1} ({names[i]}) the model computes something that is "
                         f"not a module (a functional activation such as torch.tanh in forward?): the chain "
                         f"rule through its modules is {off:.0%} off autograd's δ. Use activation modules "
                         f"(nn.Tanh()) or vgviz.watch, which needs none")


def _activation_name(events, i: int) -> str:
    for e in events:
        if e[0] == "activation" and e[1] == i:
            return type(e[4]).__name__.lower()
    return ""

