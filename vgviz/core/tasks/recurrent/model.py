"""The recurrent case: rnn, lstm and gru on a long-range task, with ‖∂L/∂h_t‖ for every time step.

    config = RunConfig(model="lstm", dataset="recall", seq_len=50, depth=1, width=32, gate_init="chrono")
    trainer = make_trainer(config)  # vgviz.core.tasks: a RecurrentTrainer for rnn / lstm / gru
    stats = trainer.measure()
    stats.timestep_grad            # (T,) ‖∂L/∂h_t‖ for t = 1 … T: how much gradient reaches each step

The task, `recall` (after Hochreiter & Schmidhuber 1997's long-time-lag
experiments): a sequence of T tokens, each one of the 4 symbols A B C D (one-hot
inputs). The target is the first token's class, so the only useful input is
T − 1 steps away from the loss and the only gradient that can teach it is the one
reaching h_1. Every other token is noise. Chance is 25 % (loss ln 4 ≈ 1.386).
Training batches are drawn fresh from (seed, step) each step, as in the original
experiments: with a fixed set of 800 sequences the LSTM and GRU memorised the
noise of the last tokens instead (test accuracy stayed at chance) — the vanishing
gradient at work as well, but not what this task is for. A fixed test set of 200
sequences is evaluated every eval_every steps. (An extra input channel marking
x_1 was tried and dropped: with Adam, whose update is normalised per parameter,
the vanilla RNN learnt the task to ~80 % through that channel's weights alone,
whose only gradient is the vanishing one from t = 1.)

The model is PyTorch's own nn.RNN (tanh) / nn.LSTM / nn.GRU with a Linear
output layer on the last hidden state; its weight matrices are the "layers" of
the report and the plots: rnn.weight_ih_l0, rnn.weight_hh_l0, …, output.
Evaluation runs the fused module. A training step runs the same parameters one
time step at a time through PyTorch's cell functions (torch.rnn_tanh_cell,
torch.lstm_cell, torch.gru_cell — the code nn.RNNCell & co. call), so that every
h_t is a tensor of its own, and adds to it a slice of one zero "probe" tensor
e of shape (T, batch, width): h_t ← h_t + e_t. Adding zero changes no value, and
∂L/∂e_t is the total gradient of the loss with respect to h_t — through the
output at T, through every later step and through the layers above — for all t
in one tensor after one backward pass, with no per-step hooks. The cost of the
unrolled step against the fused module is measured in benchmarks/bench_recurrent.py.
Norms are taken in float64: ‖∂L/∂h_1‖ of a vanilla RNN at T = 100 is ~1e-26,
whose square underflows float32.

gate_init sets the gate biases: `pytorch` (PyTorch's default) leaves the LSTM's
forget gate and the GRU's update gate near σ(0) = ½, and the gradient then
vanishes almost as fast as the vanilla RNN's; `forget1` adds 1 (Gers et al.
2000; Jozefowicz et al. 2015); `chrono` is Tallec & Ollivier's (2018) chrono
initialisation b_f ~ log U(1, T − 1), b_i = −b_f for the LSTM, and the same b on
the GRU's update gate z (which keeps the old state in PyTorch's convention
h_t = (1 − z)·n + z·h_(t−1)).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import nn

from ...config import RECURRENT_MODELS, RunConfig
from ..mlp.model import DTYPES, init_linear
from ..seeding import seeded

CELL_FUNCTIONS = {"rnn": torch.rnn_tanh_cell, "lstm": torch.lstm_cell, "gru": torch.gru_cell}
MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}   # row blocks of weight_ih / weight_hh: (i f g o), (r z n)


@dataclass
class Unrolled:
    """One unrolled forward pass. hidden[l][t] is h_t of layer l (t = 0 is the first step);
    probes[l] is the zero (T, batch, width) tensor added to layer l's states, whose .grad after
    backward is ∂L/∂h_t for every t; cell_probes likewise for the LSTM's c_t (if asked for)."""

    logits: torch.Tensor
    hidden: list[list[torch.Tensor]]
    cells: list[list[torch.Tensor]] | None
    probes: list[torch.Tensor] | None
    cell_probes: list[torch.Tensor] | None

    def state_grads(self) -> list[torch.Tensor]:
        """∂L/∂h_t per layer, (T, batch, width) each; call after backward."""
        if self.probes is None or any(p.grad is None for p in self.probes):
            raise RuntimeError("Unrolled.state_grads(): unroll with probe=True and call backward first")
        return [p.grad for p in self.probes]


class RecurrentNet(nn.Module):
    """nn.RNN (tanh) / nn.LSTM / nn.GRU, batch first, and a Linear output layer on h_T."""

    def __init__(self, kind: str, n_inputs: int, hidden: int, depth: int, n_outputs: int):
        super().__init__()
        if kind not in RECURRENT_MODELS:
            raise ValueError(f"unknown recurrent model {kind!r}; known: {', '.join(RECURRENT_MODELS)}")
        self.kind = kind
        extra = {"nonlinearity": "tanh"} if kind == "rnn" else {}
        self.rnn = MODULES[kind](n_inputs, hidden, num_layers=depth, batch_first=True, **extra)
        self.head = nn.Linear(hidden, n_outputs)

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    @property
    def depth(self) -> int:
        return self.rnn.num_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The fused module (fast; no per-step states): logits (batch, classes)."""
        out, _ = self.rnn(x)
        return self.head(out[:, -1])

    def cell_weights(self, layer: int) -> tuple[torch.Tensor, ...]:
        r = self.rnn
        return (getattr(r, f"weight_ih_l{layer}"), getattr(r, f"weight_hh_l{layer}"),
                getattr(r, f"bias_ih_l{layer}"), getattr(r, f"bias_hh_l{layer}"))

    def weight_matrices(self) -> list[tuple[str, torch.Tensor]]:
        """Every weight matrix, input to output: (report name, parameter)."""
        out = []
        for layer in range(self.depth):
            out.append((f"rnn.weight_ih_l{layer}", getattr(self.rnn, f"weight_ih_l{layer}")))
            out.append((f"rnn.weight_hh_l{layer}", getattr(self.rnn, f"weight_hh_l{layer}")))
        out.append(("output", self.head.weight))
        return out

    def matrix_layer(self, index: int) -> int | None:
        """The recurrent layer a weight matrix (index into weight_matrices) belongs to; None = output."""
        return index // 2 if index < 2 * self.depth else None

    def unroll(self, x: torch.Tensor, probe: bool = True, probe_cells: bool = False) -> Unrolled:
        """Run the same parameters one time step at a time; see the module docstring."""
        batch, steps, _ = x.shape
        width = self.hidden_size
        cell = CELL_FUNCTIONS[self.kind]
        lstm = self.kind == "lstm"
        inputs = x.unbind(1)
        hidden, cells, probes, cell_probes = [], ([] if lstm else None), ([] if probe else None), None
        if lstm and probe_cells:
            cell_probes = []
        for layer in range(self.depth):
            weights = self.cell_weights(layer)
            h = x.new_zeros(batch, width)
            c = x.new_zeros(batch, width)
            e = ec = None
            if probe:
                zero = x.new_zeros(steps, batch, width).requires_grad_(True)
                probes.append(zero)
                e = zero.unbind(0)
            if cell_probes is not None:
                zero_c = x.new_zeros(steps, batch, width).requires_grad_(True)
                cell_probes.append(zero_c)
                ec = zero_c.unbind(0)
            hs, cs = [], []
            for t in range(steps):
                if lstm:
                    h, c = cell(inputs[t], (h, c), *weights)
                    if ec is not None:
                        c = c + ec[t]
                    cs.append(c)
                else:
                    h = cell(inputs[t], h, *weights)
                if e is not None:
                    h = h + e[t]
                hs.append(h)
            hidden.append(hs)
            if lstm:
                cells.append(cs)
            inputs = hs
        return Unrolled(self.head(inputs[-1]), hidden, cells, probes, cell_probes)


def init_recurrent(model: RecurrentNet, config: RunConfig) -> None:
    """config.init on every weight matrix (biases as init_linear does), then config.gate_init."""
    width = model.hidden_size
    if config.init != "default":
        for layer in range(model.depth):
            w_ih, w_hh, b_ih, b_hh = model.cell_weights(layer)
            for w, b in ((w_ih, b_ih), (w_hh, b_hh)):
                init_linear(SimpleNamespace(weight=w, bias=b), config.init, "tanh", std=config.init_std,
                            leaky_slope=config.leaky_slope)
        init_linear(model.head, config.init, "tanh", std=config.init_std, leaky_slope=config.leaky_slope)
    if model.kind == "rnn" or config.gate_init == "pytorch":
        return
    keep = slice(width, 2 * width)          # LSTM (i f g o): f; GRU (r z n): z
    with torch.no_grad():
        for layer in range(model.depth):
            _, _, b_ih, b_hh = model.cell_weights(layer)
            if config.gate_init == "forget1":
                b_ih[keep] += 1.0
            elif config.gate_init == "chrono":
                top = max(float(config.seq_len) - 1.0, 1.0)
                b = torch.log(torch.empty(width).uniform_(1.0, top)) if top > 1.0 else torch.zeros(width)
                b_ih[keep] = b
                b_hh[keep] = 0.0
                if model.kind == "lstm":    # input gate i: -b, so a long memory is not flooded
                    b_ih[:width] = -b
                    b_hh[:width] = 0.0
            else:  # pragma: no cover - RunConfig allows no other value
                raise ValueError(f"unknown gate_init {config.gate_init!r}")


def build_recurrent_model(config: RunConfig, n_inputs: int, n_outputs: int) -> RecurrentNet:
    """The recurrent model of a config, initialised from config.seed alone."""
    with seeded(config.seed):
        model = RecurrentNet(config.model, n_inputs, config.width, config.depth, n_outputs)
        init_recurrent(model, config)
    return model.to(DTYPES[config.dtype])


def timestep_norms(state_grads: list[torch.Tensor]) -> torch.Tensor:
    """‖∂L/∂h_t‖ for every t, over batch, units and all layers, in float64: (T,)."""
    squares = [g.detach().double().square().sum(dim=(1, 2)) for g in state_grads]
    return torch.stack(squares).sum(0).sqrt()
