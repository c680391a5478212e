"""Full captures of any model's layers: δ (the gradient w.r.t. each layer's output), the
forward signal (the std of its output) and, for RNN/LSTM/GRU, ‖∂L/∂h_t‖ per time step.

A layer is every module that owns trainable parameters itself (Linear, Conv*, Embedding,
norms, custom modules), plus RNN/LSTM/GRU and MultiheadAttention as a whole. Hooks are
registered only for a capture step (arm() before its forward, collect() after its
backward), so the other steps pay nothing. A module called k times keeps all k uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

# modules read as one layer, their children included
WHOLE_LAYERS = (nn.MultiheadAttention, nn.RNNBase)
# modules whose units are dimension 1 (channels); every other layer's are the last dimension
_CHANNEL_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._BatchNorm,
                  nn.modules.instancenorm._InstanceNorm, nn.GroupNorm)


@dataclass(frozen=True)
class Layer:
    name: str
    module: nn.Module
    params: tuple[int, ...]      # columns of param_stats (trainable parameters) it owns
    weight: tuple[int, ...]      # the weight-like ones among them: its grad_l2 / grad_mean_abs


def find_layers(model: nn.Module, param_index: dict[int, int], strip=lambda name: name) -> list[Layer]:
    """The layers of `model` in registration order; `param_index`: id(parameter) → column."""
    layers, inside = [], []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue
        whole = isinstance(module, WHOLE_LAYERS)
        if whole:
            inside.append(name)
        own = [(n, p) for n, p in module.named_parameters(recurse=whole) if id(p) in param_index]
        if not own:
            continue
        weight = [(n, p) for n, p in own if n == "weight"] or [(n, p) for n, p in own if p.dim() >= 2] or own
        layers.append(Layer(name=strip(name) or type(module).__name__, module=module,
                            params=tuple(param_index[id(p)] for _, p in own),
                            weight=tuple(param_index[id(p)] for _, p in weight)))
    return layers


def _first_tensor(output):
    """The module's output proper: LSTM's and MultiheadAttention's first element."""
    while isinstance(output, (tuple, list)) and output:
        output = output[0]
    return output if isinstance(output, torch.Tensor) and output.is_floating_point() else None


class LayerCapture:
    """arm() before a capture step's forward, collect() after its backward."""

    def __init__(self, layers: list[Layer]):
        self.layers = layers
        self._handles = []
        self._outputs: list[list[torch.Tensor]] = [[] for _ in layers]
        self._deltas: list[list[torch.Tensor]] = [[] for _ in layers]
        # recurrent layers: (t, ∂L/∂h_t) of every layer of the module, every use
        self._hidden: list[list[tuple[int, torch.Tensor]]] = [[] for _ in layers]
        self._unrolled: list[nn.Module] = []

    @property
    def armed(self) -> bool:
        return bool(self._handles)

    def arm(self) -> None:
        self.disarm()
        for i, layer in enumerate(self.layers):
            self._handles.append(layer.module.register_forward_hook(self._hook(i)))
            module = layer.module
            if isinstance(module, nn.RNNBase) and "forward" not in module.__dict__:
                module.forward = _unrolled_forward(module, self._hidden[i])
                self._unrolled.append(module)

    def disarm(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        for module in self._unrolled:
            del module.forward
        self._unrolled = []
        for lists in (self._outputs, self._deltas, self._hidden):
            for items in lists:
                items.clear()

    def _hook(self, index: int):
        outputs, deltas = self._outputs[index], self._deltas[index]

        def forward_hook(module, inputs, output):
            out = _first_tensor(output)
            if out is None or not torch.is_grad_enabled():
                return
            outputs.append(out.detach())
            if out.requires_grad:
                out.register_hook(deltas.append)

        return forward_hook

    def uses(self) -> np.ndarray:
        """(L,) how many times each layer ran in the armed forward."""
        return np.array([len(o) for o in self._outputs], dtype=np.int64)

    def collect(self) -> dict:
        """The armed step's numbers per layer (NaN for a layer that did not run or got no
        gradient), on the device and then in one transfer:
        the k uses of a layer count as one output k times as large (like GradientProbe.delta):
        delta_l2 (L,) ‖δ‖ over all uses (the root of the summed squares), delta_mean_abs per
        layer (units,) mean |δ_j| over all uses, activation_std (L,) std of all its outputs,
        layer_timestep_grad per layer (T,) ‖∂L/∂h_t‖ of a recurrent module (all its layers), (0,) for
        the others, and timestep_grad the first recurrent module's, or None."""
        L = len(self.layers)
        with torch.no_grad():
            scalars, per_unit, slots = [], [], []
            for i, layer in enumerate(self.layers):
                outs, deltas = self._outputs[i], self._deltas[i]
                channel = 1 if isinstance(layer.module, _CHANNEL_FIRST) else -1
                if outs:
                    # Σx and Σx² in float64 (two fused passes; var_mean's Welford pass is ~4× slower)
                    n = float(sum(o.numel() for o in outs))
                    total = torch.stack([o.sum(dtype=torch.float64) for o in outs]).sum()
                    square = torch.stack([torch.linalg.vector_norm(o, dtype=torch.float64) for o in outs]).square().sum()
                    std = torch.sqrt(torch.clamp(square / n - (total / n) ** 2, min=0.0))
                else:
                    std = torch.tensor(float("nan"), dtype=torch.float64)
                if deltas:    # a use whose output the loss never reached has δ = 0: left out
                    # float64: squares of a vanishing δ (1e-20) underflow float32
                    d_l2 = torch.linalg.vector_norm(torch.stack(
                        [torch.linalg.vector_norm(d, dtype=torch.float64) for d in deltas]))
                    sums, rows = zip(*(_unit_abs_sum(d, channel) for d in deltas))
                    unit = sum(sums) / sum(rows)
                else:
                    d_l2 = torch.tensor(float("nan"), dtype=torch.float64)
                    unit = None
                scalars.append(torch.stack([d_l2.to(std.device), std]))
                if unit is not None:
                    slots.append((i, unit.numel()))
                    per_unit.append(unit)
            recurrent = []      # (layer, T, Σ over batch and units of (∂L/∂h_t)² per t)
            for i in range(L):
                pairs = self._hidden[i]
                if pairs:
                    T = max(t for t, _ in pairs) + 1
                    squares = [torch.zeros((), dtype=torch.float64, device=pairs[0][1].device)] * T
                    for t, g in pairs:
                        squares[t] = squares[t] + g.double().square().sum()
                    recurrent.append((i, T, torch.stack(squares)))
            device = scalars[0].device if scalars else torch.device("cpu")
            pieces = [torch.stack(scalars).reshape(-1).to(device)] if scalars else []
            pieces += [u.to(device) for u in per_unit]
            pieces += [steps.to(device) for _, _, steps in recurrent]
            values = torch.cat(pieces).cpu().numpy() if pieces else np.zeros(0)
        head = values[:2 * L].reshape(L, 2) if L else np.zeros((0, 2))
        at = 2 * L
        delta_mean_abs = [np.full(1, np.nan) for _ in range(L)]
        for i, width in slots:
            delta_mean_abs[i] = values[at:at + width].copy()
            at += width
        per_layer = [np.zeros(0) for _ in range(L)]
        for i, T, _ in recurrent:
            per_layer[i] = np.sqrt(values[at:at + T])
            at += T
        return {"delta_l2": head[:, 0].copy(), "activation_std": head[:, 1].copy(),
                "delta_mean_abs": tuple(delta_mean_abs),
                "timestep_grad": per_layer[recurrent[0][0]] if recurrent else None,
                "layer_timestep_grad": tuple(per_layer) if recurrent else None, "uses": self.uses()}


def _unit_abs_sum(d: torch.Tensor, channel: int) -> tuple[torch.Tensor, int]:
    """(units,) Σ|δ_j| over every other dimension, and how many values each unit summed."""
    d = d.abs()
    if d.dim() == 0:
        return d.reshape(1).double(), 1
    rows = d.movedim(channel, -1).reshape(-1, d.shape[channel])
    return rows.sum(0, dtype=torch.float64), rows.shape[0]


_CELLS = {"LSTM": torch.lstm_cell, "GRU": torch.gru_cell,
          "RNN_TANH": torch.rnn_tanh_cell, "RNN_RELU": torch.rnn_relu_cell}


def _unrolled_forward(module: nn.RNNBase, hidden: list):
    """module's forward, one time step at a time with torch's own cells, so that each h_t is a
    tensor whose total gradient ∂L/∂h_t (through the output and through h_{t+1}) a hook sees;
    the fused kernel hides them. Only for a capture step; a packed sequence, a bidirectional or
    projected module, or dropout between layers while training keep the fused forward."""
    fused = type(module).forward
    cell = _CELLS[module.mode]

    def forward(input, hx=None):
        if (isinstance(input, PackedSequence) or module.bidirectional or getattr(module, "proj_size", 0)
                or (module.dropout and module.training and module.num_layers > 1)):
            return fused(module, input, hx)
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(0 if module.batch_first else 1)
        if module.batch_first:
            x = x.transpose(0, 1)                                   # (T, B, features)
        lstm = module.mode == "LSTM"
        shape = (module.num_layers, x.shape[1], module.hidden_size)
        if hx is None:
            zeros = x.new_zeros(shape)
            hx = (zeros, zeros) if lstm else zeros
        elif not batched:
            hx = tuple(h.unsqueeze(1) for h in hx) if lstm else hx.unsqueeze(1)
        h_all, c_all = (hx if lstm else (hx, None))
        last_h, last_c = [], []
        for layer in range(module.num_layers):
            w = [getattr(module, f"{k}_l{layer}", None) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = h_all[layer], c_all[layer] if lstm else None
            outs = []
            for t in range(x.shape[0]):
                if lstm:
                    h, c = cell(x[t], (h, c), *w)
                else:
                    h = cell(x[t], h, *w)
                if h.requires_grad:
                    h.register_hook(lambda g, t=t: hidden.append((t, g)))
                outs.append(h)
            x = torch.stack(outs)
            last_h.append(h)
            last_c.append(c)
        out = x.transpose(0, 1) if module.batch_first else x
        h_n = torch.stack(last_h)
        state = (h_n, torch.stack(last_c)) if lstm else h_n
        if not batched:
            out = out.squeeze(0 if module.batch_first else 1)
            state = tuple(s.squeeze(1) for s in state) if lstm else state.squeeze(1)
        return out, state

    return forward
