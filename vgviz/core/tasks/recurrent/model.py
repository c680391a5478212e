"""The recurrent case: rnn, lstm and gru on a long-range task, with ‖∂L/∂h_t‖ for every time step.

    config = RunConfig(model="lstm", dataset="recall", seq_len=50, depth=1, width=32, gate_init="chrono")
    trainer = Trainer(config)      # Trainer(config) builds a RecurrentTrainer for rnn / lstm / gru
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

import numpy as np
import torch
from torch import nn

from .config import RECURRENT_MODELS, SEQUENCE_TASKS, RunConfig
from .data import N_SAMPLES, TEST_FRACTION, Dataset
from .models import DTYPES
from .recurrent_frames import SYMBOLS
from .trainer import Trainer


N_SYMBOLS = len(SYMBOLS)
N_INPUTS = N_SYMBOLS          # one-hot tokens

_TRAIN, _TEST, _EXAMPLES = 0, 1, 2   # independent random streams per purpose, all from the seed

CELL_FUNCTIONS = {"rnn": torch.rnn_tanh_cell, "lstm": torch.lstm_cell, "gru": torch.gru_cell}
MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}   # row blocks of weight_ih / weight_hh: (i f g o), (r z n)


# -- the task -------------------------------------------------------------------

def recall_tokens(seed: int, stream: int, index: int, n: int, seq_len: int) -> np.ndarray:
    """(n, seq_len) symbols 0..3, from (seed, stream, index) alone."""
    rng = np.random.default_rng([seed, stream, index])
    return rng.integers(0, N_SYMBOLS, (n, seq_len))


def encode(tokens: np.ndarray) -> np.ndarray:
    """One-hot symbols: (n, T) -> (n, T, 4) float32."""
    n, t = tokens.shape
    x = np.zeros((n, t, N_INPUTS), np.float32)
    x[np.arange(n)[:, None], np.arange(t)[None, :], tokens] = 1.0
    return x


@dataclass(frozen=True)
class SequenceDataset(Dataset):
    """Sequences (n, T, 4) with their tokens (n, T). x_train holds 800 example sequences
    (the stepper's 'one example'); training batches are fresh each step: `batch(step, size)`."""

    seq_len: int = 1
    seed: int = 0
    tokens_train: np.ndarray | None = None
    tokens_test: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return self.x_train.shape[-1]

    def batch_tokens(self, step: int, size: int) -> np.ndarray:
        return recall_tokens(self.seed, _TRAIN, step, size, self.seq_len)

    def batch(self, step: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (size, T, 4), y (size,), tokens (size, T) of a training step: depends on (seed, step) only."""
        tokens = self.batch_tokens(step, size)
        return encode(tokens), tokens[:, 0].astype(np.int64), tokens


def make_sequence_dataset(name: str, seed: int, seq_len: int, n: int = N_SAMPLES) -> SequenceDataset:
    if name not in SEQUENCE_TASKS:
        raise ValueError(f"unknown sequence task {name!r}; known: {', '.join(SEQUENCE_TASKS)}")
    if seq_len < 1:
        raise ValueError(f"seq_len must be at least 1; got {seq_len}")
    n_test = int(round(n * TEST_FRACTION))
    train = recall_tokens(seed, _EXAMPLES, 0, n - n_test, seq_len)
    test = recall_tokens(seed, _TEST, 0, n_test, seq_len)
    for arr in (train, test):
        arr.flags.writeable = False
    return SequenceDataset(name, encode(train), train[:, 0].astype(np.int64), encode(test),
                           test[:, 0].astype(np.int64), N_SYMBOLS, seq_len=seq_len, seed=seed,
                           tokens_train=train, tokens_test=test)


# -- the model --------------------------------------------------------------------

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
    from .models import init_linear

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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = RecurrentNet(config.model, n_inputs, config.width, config.depth, n_outputs)
        init_recurrent(model, config)
    return model.to(DTYPES[config.dtype])


def timestep_norms(state_grads: list[torch.Tensor]) -> torch.Tensor:
    """‖∂L/∂h_t‖ for every t, over batch, units and all layers, in float64: (T,)."""
    squares = [g.detach().double().square().sum(dim=(1, 2)) for g in state_grads]
    return torch.stack(squares).sum(0).sqrt()


# -- the trainer ----------------------------------------------------------------------

class RecurrentTrainer(Trainer):
    """Trainer for rnn / lstm / gru. `Trainer(config)` returns one for a recurrent config.

    Same interface and loop as Trainer (step, measure, evaluate, trace, clipping,
    optimizers); the stats name every weight matrix as a layer and carry
    timestep_grad. They carry no per-edge |dL/dW| (edge_abs is None): the app
    shows a recurrent run unrolled in time, not as a layer diagram.
    """

    def __init__(self, config: RunConfig, *, capture_edges: bool = True):
        # Not Trainer.__init__: that builds an MLP's data set and model.
        if not config.recurrent:
            raise ValueError(f"RecurrentTrainer needs model = rnn, lstm or gru; got {config.model!r}")
        self.config = config
        self.capture_edges = capture_edges
        self.data = make_sequence_dataset(config.dataset, config.seed, config.seq_len)
        self.model = build_recurrent_model(config, self.data.n_features, self.data.n_classes)
        self.probe = None          # the per-step probe lives in RecurrentNet.unroll
        self.flat = None           # nn.RNN/LSTM/GRU keep their own flattened weights
        self._matrices = self.model.weight_matrices()
        self.layer_names = tuple(name for name, _ in self._matrices)
        self.skip_connections = ()
        self._setup_training()
        # ‖ΔW‖/‖W‖ is measured per nn.Linear; the recurrent weights live in nn.RNN/LSTM/GRU
        self.update_meter = None
        self.initial_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """x, y and tokens of a step's batch (fresh sequences from (seed, step))."""
        x, y, tokens = self.data.batch(step, self.config.batch_size)
        return torch.from_numpy(x).to(self.dtype), torch.from_numpy(y), tokens

    def trace(self, example: int | None = None):
        """A RecurrentTrace (frames per time step) of the next step's batch or of one example sequence."""
        from .recurrent_trace import record_recurrent

        if example is None:
            x, y, tokens = self.batch(self.step_count)
        else:
            if not 0 <= example < len(self._x_train):
                raise ValueError(f"example: must be from 0 to {len(self._x_train) - 1}; got {example}")
            x, y = self._x_train[example:example + 1], self._y_train[example:example + 1]
            tokens = self.data.tokens_train[example:example + 1]
        return record_recurrent(self.model, x, y, self.loss_fn, tokens=tokens)

    def _forward_backward(self, step: int, full: bool = True) -> dict:  # always full
        x, y, _ = self.batch(step)
        self.optimizer.zero_grad(set_to_none=True)
        run = self.model.unroll(x)
        logits = run.logits
        logits.retain_grad()
        loss = self.loss_fn(logits, y)
        loss.backward()
        numbers = _capture(self.model, self._matrices, run, logits.grad)
        loss_value, accuracy, diverged, clipped, test_loss, test_acc = self._outcome(
            step, loss, logits, y, numbers["total"])
        return dict(
            step=step, loss=loss_value, accuracy=accuracy, diverged=diverged,
            layer_names=self.layer_names,
            grad_mean_abs=numbers["grad_mean_abs"], grad_l2=numbers["grad_l2"], delta_l2=numbers["delta_l2"],
            delta_mean_abs=numbers["delta_mean_abs"], edge_abs=None,
            test_loss=test_loss, test_accuracy=test_acc,
            activation_std=numbers["activation_std"], skip_grad=np.zeros(0),
            skip_connections=(), grad_norm_total=numbers["total"], clipped=clipped,
            grad_zero_fraction=numbers["zero_fraction"], timestep_grad=numbers["timestep_grad"],
        )


def _capture(model: RecurrentNet, matrices, run: Unrolled, logits_grad: torch.Tensor) -> dict:
    """Every number of a StepStats from one backward pass, in a few batched calls."""
    grads = [p.grad for _, p in matrices]
    state = run.state_grads()
    all_grads = [p.grad for p in model.parameters() if p.grad is not None]
    with torch.no_grad():
        per_matrix_l1 = torch.stack([g.double().abs().sum() for g in grads])
        per_matrix_l2 = torch.stack([g.double().norm() for g in grads])
        nonzero = torch.stack([torch.count_nonzero(g).double() for g in grads])
        state_l2 = torch.stack([g.double().norm() for g in state])
        out_l2 = logits_grad.double().norm()
        total = torch.stack([g.double().norm() for g in all_grads]).norm()
        h_std = torch.stack([torch.stack(hs).detach().double().std() if hs[0].numel() * len(hs) > 1
                             else torch.zeros((), dtype=torch.float64) for hs in run.hidden])
        steps = timestep_norms(state)
        scalars = torch.cat([per_matrix_l1, per_matrix_l2, state_l2, out_l2[None], total[None], h_std, nonzero, steps])
        values = scalars.cpu().numpy()
        per_unit = [g.double().abs().mean(dim=(0, 1)).cpu().numpy() for g in state]
        out_unit = logits_grad.double().abs().mean(0).cpu().numpy()
    n, depth = len(grads), model.depth
    counts = np.array([g.numel() for g in grads], dtype=np.float64)
    state_l2 = values[2 * n:2 * n + depth]
    delta_l2 = np.array([state_l2[model.matrix_layer(i)] if model.matrix_layer(i) is not None
                         else values[2 * n + depth] for i in range(n)])
    delta_mean = tuple(per_unit[model.matrix_layer(i)].copy() if model.matrix_layer(i) is not None
                       else out_unit for i in range(n))
    rest = 2 * n + depth + 2
    return {
        "grad_mean_abs": values[:n] / counts,
        "grad_l2": values[n:2 * n].copy(),
        "delta_l2": delta_l2,
        "delta_mean_abs": delta_mean,
        "total": float(values[2 * n + depth + 1]),
        "activation_std": values[rest:rest + depth].copy(),
        "zero_fraction": 1.0 - values[rest + depth:rest + depth + n] / counts,
        "timestep_grad": values[rest + depth + n:].copy(),
    }
