"""The recurrent task's trainer: an unrolled rnn / lstm / gru on the recall task."""
from __future__ import annotations

import numpy as np
import torch

from ...backprop.recurrent_frames import RecurrentTrace
from ...config import RunConfig
from ..trainer import Trainer
from .data import make_sequence_dataset
from .model import RecurrentNet, Unrolled, build_recurrent_model, timestep_norms
from .trace import record_recurrent


class RecurrentTrainer(Trainer):
    """Trainer for rnn / lstm / gru; `make_trainer(config)` returns one for a recurrent config.

    Same interface and loop as Trainer (step, measure, evaluate, trace, clipping,
    optimizers); the stats name every weight matrix as a layer and carry
    timestep_grad. They carry no per-edge |dL/dW| (edge_abs is None): the app
    shows a recurrent run unrolled in time, not as a layer diagram.
    """

    def __init__(self, config: RunConfig, *, capture_edges: bool = True):
        if not config.recurrent:
            raise ValueError(f"RecurrentTrainer needs model = rnn, lstm or gru; got {config.model!r}")
        super().__init__(config, capture_edges=capture_edges)
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

    def trace(self, example: int | None = None) -> RecurrentTrace:
        """A RecurrentTrace (frames per time step) of the next step's batch or of one example sequence."""
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
        param_stats = self._measure_params(None)  # before clipping, like the other numbers
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
            param_stats=param_stats, param_names=self.param_names,
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
