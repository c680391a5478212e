"""What the diagnostics measure: activation statistics on a batch, ablation on a copy, a run's summary."""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from ..layers import layer_labels, linear_layers
from ..measure.history import History
from ..tasks.seeding import seeded
from .numbers import json_ready, nanmean
from .thresholds import GRADIENT_WINDOW, SIGMOID_HIGH, SIGMOID_LOW, SPREAD_FLOOR, TANH_LIMIT


# =============================================================================================
# Unresponsive neurons: activation statistics on a batch
# =============================================================================================
_NOT_ELEMENTWISE = (nn.Softmax, nn.Softmin, nn.LogSoftmax, nn.Softmax2d, nn.MultiheadAttention, nn.GLU)
_RELU = (nn.ReLU, nn.ReLU6, nn.Threshold)                      # exact zero below the kink: can die
_RELU_LIKE = (nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU,
              nn.Mish, nn.Softplus, nn.Hardswish)              # a low-slope side, never exactly dead
_SIGMOID = (nn.Sigmoid, nn.Hardsigmoid)
_TANH = (nn.Tanh, nn.Hardtanh, nn.Softsign)                    # (ReLU6 subclasses Hardtanh: checked first)


def activation_kind(module: nn.Module) -> str | None:
    """'sigmoid', 'tanh', 'relu', 'relu-like', 'other' for an element-wise activation module, else None."""
    if isinstance(module, _NOT_ELEMENTWISE):
        return None
    if isinstance(module, _RELU):
        return "relu"
    if isinstance(module, _RELU_LIKE):
        return "relu-like"
    if isinstance(module, _SIGMOID):
        return "sigmoid"
    if isinstance(module, _TANH):
        return "tanh"
    if type(module).__module__ == "torch.nn.modules.activation":
        return "other"
    return None


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module, str]]:
    """(name, module, kind) of every element-wise activation module, in registration order."""
    out = []
    for name, m in model.named_modules():
        kind = activation_kind(m)
        if kind is not None:
            out.append((name, m, kind))
    return out


@dataclass(frozen=True, eq=False)
class LayerActivity:
    """One activation layer's outputs on a batch."""

    name: str                    # label of the Linear layer it follows: hidden1 …
    module: str                  # module path in the model ("1", "blocks.0.act" …)
    activation: str              # class name: Sigmoid, ReLU …
    kind: str                    # sigmoid, tanh, relu, relu-like, other
    share: np.ndarray            # (units,) fraction of examples on which the unit is saturated / off (NaN: no rule)
    spread: np.ndarray           # (units,) standard deviation of the unit's output across the batch
    saturated_fraction: float | None   # sigmoid/tanh: fraction of outputs (examples × units) saturated
    dead_fraction: float | None        # relu: fraction of units that output 0 for every example
    low_spread_fraction: float         # fraction of units whose spread < SPREAD_FLOOR

    @property
    def units(self) -> int:
        return len(self.spread)

    def to_dict(self) -> dict[str, Any]:
        return json_ready({"name": self.name, "module": self.module, "activation": self.activation,
                       "kind": self.kind, "units": self.units,
                       "saturated_fraction": self.saturated_fraction, "dead_fraction": self.dead_fraction,
                       "low_spread_fraction": self.low_spread_fraction,
                       "mean_spread": float(np.mean(self.spread)) if self.units else None})


@dataclass(frozen=True, eq=False)
class ActivationStats:
    layers: tuple[LayerActivity, ...]
    n_examples: int

    def matrix(self, what: str = "share") -> np.ndarray:
        """(layers, max units) of `share` or `spread`, NaN where a layer has fewer units."""
        width = max((layer.units for layer in self.layers), default=0)
        out = np.full((len(self.layers), width), np.nan)
        for i, layer in enumerate(self.layers):
            out[i, : layer.units] = getattr(layer, what)
        return out


def _unit_share(kind: str, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor | None:
    """Per (example, unit): 1 where the unit is saturated (bounded kinds) or off (ReLU kinds)."""
    if kind == "sigmoid":
        return ((a < SIGMOID_LOW) | (a > SIGMOID_HIGH)).double()
    if kind == "tanh":
        return (a.abs() > TANH_LIMIT).double()
    if kind == "relu":
        return (a == 0).double()
    if kind == "relu-like":
        return (z < 0).double()
    return None


@contextlib.contextmanager
def _no_side_effects(model: nn.Module):
    """A measuring forward pass must not change training: the RNG (dropout) and the buffers
    (batch-norm running statistics) are put back as they were."""
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)


def activation_stats(model: nn.Module, x: torch.Tensor) -> ActivationStats:
    """Saturation, dead units and output spread of every activation call on the batch x.

    Forward hooks on the activation modules record (input, output) of one no-grad
    forward pass and are removed before returning; the model is not changed. A
    module called several times (a shared nn.ReLU) gives one entry per call, labelled
    by the Linear layer that ran just before it.
    """
    acts = activation_modules(model)
    linears = linear_layers(model)
    labels = layer_labels(len(linears)) if linears else []
    linear_index = {id(m): i for i, (_, m) in enumerate(linears)}
    calls: list[tuple[str, nn.Module, str, int, torch.Tensor, torch.Tensor]] = []
    last_linear = [-1]

    def on_linear(module, inputs, output):
        last_linear[0] = linear_index[id(module)]

    def make_hook(name: str, kind: str):
        def on_activation(module, inputs, output):
            if isinstance(output, torch.Tensor) and inputs and isinstance(inputs[0], torch.Tensor):
                calls.append((name, module, kind, last_linear[0], inputs[0].detach(), output.detach()))
        return on_activation

    handles = [m.register_forward_hook(on_linear) for _, m in linears]
    handles += [m.register_forward_hook(make_hook(name, kind)) for name, m, kind in acts]
    try:
        with torch.no_grad(), _no_side_effects(model):
            model(x)
    finally:
        for h in handles:
            h.remove()

    layers = []
    seen: dict[str, int] = {}
    for name, module, kind, lin, z, a in calls:
        units = a.shape[-1] if a.dim() else 1
        z2, a2 = z.reshape(-1, units), a.reshape(-1, units)
        label = labels[lin] if 0 <= lin < len(labels) else (name or type(module).__name__)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}.{seen[label]}"
        indicator = _unit_share(kind, z2, a2)
        spread = a2.double().std(0, unbiased=False).numpy() if len(a2) else np.zeros(units)
        share = indicator.mean(0).numpy() if indicator is not None else np.full(units, np.nan)
        saturated = float(indicator.mean()) if indicator is not None and kind in ("sigmoid", "tanh") else None
        dead = float((share >= 1.0).mean()) if kind in ("relu", "relu-like") else None
        layers.append(LayerActivity(label, name, type(module).__name__, kind, share, spread,
                                    saturated, dead, float((spread < SPREAD_FLOOR).mean())))
    return ActivationStats(tuple(layers), int(x.shape[0]))


# =============================================================================================
# Reliance on upper layers: ablation on a copy
# =============================================================================================
@dataclass(frozen=True)
class AblationResult:
    k: int                         # the first k Linear layers were re-initialised
    layers: tuple[str, ...]        # their labels
    mode: str                      # "initial": back to their step-0 values; "random": a fresh draw
    accuracy_before: float
    accuracy_after: float
    loss_before: float
    loss_after: float
    chance: float                  # accuracy of always answering the most common class
    n_examples: int

    @property
    def drop(self) -> float:
        return self.accuracy_before - self.accuracy_after

    def to_dict(self) -> dict[str, Any]:
        return json_ready({"k": self.k, "layers": list(self.layers), "mode": self.mode,
                       "accuracy_before": self.accuracy_before, "accuracy_after": self.accuracy_after,
                       "drop": self.drop, "loss_before": self.loss_before, "loss_after": self.loss_after,
                       "chance": self.chance, "n_examples": self.n_examples})


def _score(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y).item()
        acc = (logits.argmax(-1) == y).double().mean().item()
    return acc, loss


def ablate(model: nn.Module, k: int, x: torch.Tensor, y: torch.Tensor, *,
           initial_state: Mapping[str, torch.Tensor] | None = None, mode: str = "initial",
           seed: int = 0) -> AblationResult:
    """Re-initialise the first k Linear layers of a deep copy of `model` and measure the
    accuracy on (x, y) before and after. The model itself is not touched.

    mode "initial" puts the layers back to their values at step 0 (`initial_state`, a
    state_dict snapshot): if they did not learn, nothing changes and the drop is ~0.
    mode "random" draws fresh weights (PyTorch's reset_parameters under `seed`), which also
    breaks the random features the upper layers adapted to. Give it a seed other than the
    one the model was built with, or PyTorch's default init redraws the step-0 weights.
    """
    linears = linear_layers(model)
    if not 1 <= k < len(linears):
        raise ValueError(f"k: must be from 1 to {len(linears) - 1} (the output layer stays); got {k}")
    if mode not in ("initial", "random"):
        raise ValueError(f"mode: must be 'initial' or 'random'; got {mode!r}")
    if mode == "initial" and initial_state is None:
        raise ValueError("mode 'initial' needs the model's initial_state (a state_dict at step 0)")
    before_model = copy.deepcopy(model)   # a copy for 'before' too: batchnorm buffers stay untouched
    after_model = copy.deepcopy(model)
    names = [name for name, _ in linears[:k]]
    ablated = dict(after_model.named_modules())
    with torch.no_grad():
        if mode == "initial":
            for name in names:
                for pname, p in ablated[name].named_parameters(recurse=False):
                    p.copy_(initial_state[f"{name}.{pname}" if name else pname])
        else:
            with seeded(seed):
                for name in names:
                    ablated[name].reset_parameters()
    acc_before, loss_before = _score(before_model, x, y)
    acc_after, loss_after = _score(after_model, x, y)
    counts = torch.bincount(y.flatten())
    chance = float(counts.max()) / max(1, int(y.numel()))
    labels = layer_labels(len(linears))[:k]
    return AblationResult(k, tuple(labels), mode, acc_before, acc_after, loss_before, loss_after,
                          chance, int(y.numel()))


# =============================================================================================
# Summaries of a run (for the training-performance comparison)
# =============================================================================================
@dataclass(frozen=True)
class RunSummary:
    label: str
    n_layers: int                # Linear layers
    steps: int                   # the last step measured
    train_loss: float            # mean over the last GRADIENT_WINDOW steps
    train_accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return json_ready(dict(label=self.label, n_layers=self.n_layers, steps=self.steps,
                           train_loss=self.train_loss, train_accuracy=self.train_accuracy))


def summarize(history: History, label: str = "", at_step: int | None = None) -> RunSummary:
    """Training loss and accuracy, means over the GRADIENT_WINDOW steps up to `at_step`
    (default: the last step), so two runs can be compared at the same step."""
    n = len(history)
    if at_step is not None:
        n = max(1, int(np.searchsorted(history.steps, at_step, side="right")))
    steps = history.steps[:n]
    start = int(np.searchsorted(steps, steps[-1] - GRADIENT_WINDOW + 1, side="left"))
    rows = np.arange(min(start, n - 1), n)
    return RunSummary(label, history.n_layers, int(steps[-1]),
                      nanmean(history.loss[rows]), nanmean(history.accuracy[rows]))


@dataclass(frozen=True)
class SeedSpread:
    """A net and its shallower counterpart trained over the same seeds (`report --seeds N`):
    deep plain nets are sensitive to the last bit of their arithmetic, so one seed can mislead."""
    seeds: tuple[int, ...]
    deeper: tuple[RunSummary, ...]       # per seed, the first the run being diagnosed
    shallower: tuple[RunSummary, ...]

    @staticmethod
    def _mean(runs: tuple[RunSummary, ...], label: str) -> RunSummary:
        return RunSummary(label, runs[0].n_layers, runs[0].steps, nanmean(np.array([r.train_loss for r in runs])),
                          nanmean(np.array([r.train_accuracy for r in runs])))

    @property
    def mean_deeper(self) -> RunSummary:
        return self._mean(self.deeper, self.deeper[0].label)

    @property
    def mean_shallower(self) -> RunSummary:
        return self._mean(self.shallower, self.shallower[0].label)

    @staticmethod
    def accuracy_spread(runs: tuple[RunSummary, ...]) -> float:
        values = [r.train_accuracy for r in runs]
        return max(values) - min(values)

    @staticmethod
    def range_text(runs: tuple[RunSummary, ...]) -> str:
        values = [r.train_accuracy for r in runs]
        return f"{min(values):.0%}–{max(values):.0%} (mean {nanmean(np.array(values)):.0%})"

    def to_dict(self) -> dict[str, Any]:
        return {"seeds": list(self.seeds), "deeper": [r.to_dict() for r in self.deeper],
                "shallower": [r.to_dict() for r in self.shallower]}
