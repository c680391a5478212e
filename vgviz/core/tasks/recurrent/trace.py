"""Backpropagation through time, recorded as frames: forward t = 1..T, the loss, backward t = T..1.

    trace = record_recurrent(model, x, y, loss_fn)    # model: vgviz.core.tasks.recurrent.model.RecurrentNet
    trace.frames          # T forward frames, the loss frame, T backward frames
    frame.t               # the time step a frame is about (1..T; 0 for the loss frame)
    frame.delta_norm      # backward: ‖∂L/∂h_t‖ (all layers), equal to StepStats.timestep_grad[t - 1]
    frame.shrink          # backward: ‖∂L/∂h_t‖ / ‖∂L/∂h_(t+1)‖, the factor one step back cost
    trace.explain(i)      # the stepper's rows for frame i

A RecurrentTrace is a BackpropTrace (frames, loss, weights, x, input_grad …), so
the stepper and anything else that walks frames can use it. The gradients come
from the same unrolled pass the trainer measures (RecurrentNet.unroll with its
zero probes); gate values are computed from the recorded states for display.
For the vanilla RNN each backward frame also holds the chain rule evaluated by
hand for the top layer, ∂L/∂h_t = (∂L/∂h_(t+1) ⊙ tanh′) · W_hh, and how far it
is from autograd's. The model's weights and gradients are left as they were.
"""
from __future__ import annotations

import numpy as np
import torch

from ...backprop.recurrent_frames import SYMBOLS, RecurrentTrace, TimeFrame
from ...backprop.trace import as_numpy
from .model import RecurrentNet


def record_recurrent(model: RecurrentNet, x: torch.Tensor, y: torch.Tensor, loss_fn,
                     tokens: np.ndarray | None = None) -> RecurrentTrace:
    """One forward and backward pass of `model` on (x, y), as frames per time step.

    `loss_fn(logits, y)` must return a scalar. Parameter gradients and the
    model's train/eval mode are left as they were; the weights are not changed.
    """
    if not isinstance(model, RecurrentNet):
        raise TypeError(f"record_recurrent() needs a RecurrentNet, got {type(model).__name__}")
    kind, depth = model.kind, model.depth
    params = list(model.parameters())
    saved = [p.grad for p in params]  # set aside before this backward, so left untouched
    try:
        with torch.enable_grad():
            x_in = x.detach().clone().requires_grad_(True)
            run = model.unroll(x_in, probe=True, probe_cells=kind == "lstm")
            logits = run.logits
            logits.retain_grad()
            loss = loss_fn(logits, y)
            for p in params:
                p.grad = None
            loss.backward()
        state = [g.detach().clone() for g in run.state_grads()]
        cell = [p.grad.detach().clone() for p in run.cell_probes] if run.cell_probes else None
        logits_grad = logits.grad.detach().clone()
        input_grad = x_in.grad.detach().clone()
    finally:
        for p, g in zip(params, saved):
            p.grad = g

    steps = x.shape[1]
    with torch.no_grad():
        norms = _norm_per_t(state)
        if cell:
            cell = _total_cell_grads(model, x_in.detach(), run, state, cell)
        cell_norms = _norm_per_t(cell) if cell else None
        top_h = [h.detach() for h in run.hidden[-1]]
        below = [h.detach() for h in run.hidden[-2]] if depth > 1 else list(x_in.detach().unbind(1))
        gate_means, factors, fprimes = _gates(model, depth - 1, below, top_h)
        w_hh = model.cell_weights(depth - 1)[1].detach()
        top_grad = state[-1]
    norms_np = norms.numpy()
    cell_np = None if cell_norms is None else cell_norms.numpy()
    mean_abs = np.array([float(h.abs().double().mean()) for h in top_h])
    first_tokens = tokens[0] if tokens is not None else None

    frames: list[TimeFrame] = []
    for t in range(1, steps + 1):
        token = SYMBOLS[int(first_tokens[t - 1])] if first_tokens is not None else ""
        frames.append(TimeFrame(
            index=len(frames), phase="forward", kind="timestep", layer=None,
            label=f"F{t} forward · t = {t}" + (f" · token {token}" if token else ""),
            a=as_numpy(top_h[t - 1]), fprime=None if fprimes is None else as_numpy(fprimes[t - 1]),
            fprime_mean=None if fprimes is None else float(fprimes[t - 1].double().mean()),
            t=t, token=token, gates=gate_means[t - 1], state_mean_abs=float(mean_abs[t - 1])))
    loss_value = float(loss.detach())
    frames.append(TimeFrame(index=len(frames), phase="forward", kind="loss", layer=None,
                            label=f"F{steps + 1} loss = {loss_value:.4g}", loss=loss_value,
                            a=as_numpy(logits.detach()), t=0))
    top_norm = float(norms_np[-1])
    for k, t in enumerate(range(steps, 0, -1)):
        delta = top_grad[t - 1]
        if t == steps:
            chain = logits_grad @ model.head.weight.detach()
            shrink = factor = None
        else:
            after = top_grad[t]
            chain = (after * fprimes[t]) @ w_hh if kind == "rnn" else None
            above = float(norms_np[t])
            shrink = float(norms_np[t - 1]) / above if above > 0 else float("nan")
            factor = factors[t]
        # the top layer's h_t feeds only h_(t+1) of that layer (and the output layer at T)
        error = None if chain is None else float((chain - delta).abs().max())
        norm = float(norms_np[t - 1])
        frames.append(TimeFrame(
            index=len(frames), phase="backward", kind="timestep", layer=None,
            label=f"B{k + 1} backward · t = {t}",
            a=as_numpy(top_h[t - 1]), delta=as_numpy(delta), delta_chain=None if chain is None else as_numpy(chain),
            delta_norm=norm, shrink=shrink, cumulative=norm / top_norm if top_norm > 0 else float("nan"),
            fprime_mean=factor, t=t, token=SYMBOLS[int(first_tokens[t - 1])] if first_tokens is not None else "",
            cell_grad_norm=None if cell_np is None else float(cell_np[t - 1]), chain_error=error))

    matrices = model.weight_matrices()
    width = model.hidden_size
    return RecurrentTrace(
        frames=tuple(frames),
        layer_names=tuple(name for name, _ in matrices),
        layer_sizes=(x.shape[-1],) + (width,) * depth + (model.head.out_features,),
        activations=tuple("" if name == "output" else kind for name, _ in matrices),
        weights=tuple(as_numpy(p) for _, p in matrices),
        x=as_numpy(x),
        loss=loss_value,
        input_grad=as_numpy(input_grad),
        meta={"model": kind},
        model_kind=kind, seq_len=steps, depth=depth,
        tokens=None if tokens is None else np.array(tokens),
        timestep_grad=norms_np, cell_grad=cell_np, state_mean_abs=mean_abs,
    )


def _total_cell_grads(model: RecurrentNet, x: torch.Tensor, run, state: list[torch.Tensor],
                      after: list[torch.Tensor]) -> list[torch.Tensor]:
    """∂L/∂c_t of every LSTM layer, (T, batch, width) each. The cell probe sees c_t only where the
    next step reads it (torch.lstm_cell returns h_t and c_t together); h_t = o_t⊙tanh(c_t) adds
    ∂L/∂h_t ⊙ o_t ⊙ (1 − tanh²c_t)."""
    width = model.hidden_size
    inputs = list(x.unbind(1))
    out = []
    for layer in range(model.depth):
        w_ih, w_hh, b_ih, b_hh = (w.detach() for w in model.cell_weights(layer))
        hs = [h.detach() for h in run.hidden[layer]]
        cs = [c.detach() for c in run.cells[layer]]
        prev = [torch.zeros_like(hs[0])] + hs[:-1]
        o = torch.stack([torch.sigmoid((inp @ w_ih.T + b_ih + hp @ w_hh.T + b_hh)[:, 3 * width:])
                         for inp, hp in zip(inputs, prev)])
        c = torch.stack(cs)
        out.append(after[layer] + state[layer] * o * (1 - torch.tanh(c).square()))
        inputs = hs
    return out


def _norm_per_t(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([g.double().square().sum(dim=(1, 2)) for g in grads]).sum(0).sqrt()


def _gates(model: RecurrentNet, layer: int, inputs: list[torch.Tensor], states: list[torch.Tensor]):
    """Per t (0-based): mean of each gate, the backward factor's mean, and tanh′ (rnn, per unit)."""
    w_ih, w_hh, b_ih, b_hh = (w.detach() for w in model.cell_weights(layer))
    width = model.hidden_size
    kind = model.kind
    h_prev = torch.zeros_like(states[0])
    means, factors, fprimes = [], [], ([] if kind == "rnn" else None)
    for t, (inp, h) in enumerate(zip(inputs, states)):
        if kind == "rnn":
            fp = 1.0 - h.square()
            fprimes.append(fp)
            factor = float(fp.double().mean())
            means.append((("tanh′(pre-activation)", factor),))
        elif kind == "lstm":
            gates = inp @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh
            i, f, _, o = gates.split(width, dim=1)
            i, f, o = (float(torch.sigmoid(g).double().mean()) for g in (i, f, o))
            means.append((("forget gate f", f), ("input gate i", i), ("output gate o", o)))
            factor = f
        else:
            gi = inp @ w_ih.T + b_ih
            gh = h_prev @ w_hh.T + b_hh
            r = float(torch.sigmoid(gi[:, :width] + gh[:, :width]).double().mean())
            z = float(torch.sigmoid(gi[:, width:2 * width] + gh[:, width:2 * width]).double().mean())
            means.append((("update gate z (keep)", z), ("reset gate r", r)))
            factor = z
        factors.append(factor)
        h_prev = h
    return means, factors, fprimes
