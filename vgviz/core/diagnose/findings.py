"""Diagnostics: the symptoms of vanishing (and exploding) gradients, measured, and a verdict.

Six findings, each with the numbers behind it and the threshold it was judged by:

1. gradient magnitude by layer  (History: mean |dL/dW| per Linear layer)
2. loss plateau                  (History: training loss and accuracy)
3. training performance          (against a shallower counterpart, when one was run)
4. unresponsive neurons          (ActivationStats: forward hooks on activation modules)
5. reliance on upper layers      (AblationResult: re-initialise the first k layers of a copy)
6. speed of learning             (History: ‖ΔW‖/‖W‖ per layer per step, from UpdateMeter)

`diagnose(...)` combines them into a `Diagnosis`: a verdict (vanishing, exploding,
healthy, converged, degradation), a plain-language headline naming the likely
cause, and the fixes that apply, each linked to the preset that demonstrates it.

Everything here works on any nn.Module built from nn.Linear layers and
element-wise activation modules (found by type), and never imports Qt.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .config import ConfigError, RunConfig
from .flat import FlatParameters
from .history import History
from .models import layer_labels, linear_layers

VERDICTS = ("vanishing", "exploding", "healthy", "converged", "degradation")

# -- thresholds (README: "Diagnostics") ------------------------------------------------------
VANISHING_RATIO = 1e-2        # first hidden layer gets ≥ 100× less mean |dL/dW| than the last hidden one
EXPLODING_RATIO = 1e2         # ... or ≥ 100× more: the gradient grows toward the input
EXPLODING_GRAD = 1.0          # median layer's mean |dL/dW| ≥ 1: "gradients consistently above 1.0"
GRADIENT_WINDOW = 50          # steps: medians over the last 50 steps, since one batch is noisy
PLATEAU_WINDOW = 200          # steps over which the loss is judged flat or falling
PLATEAU_MIN_STEPS = 100       # fewer steps than this: too early to call a plateau
PLATEAU_REL_CHANGE = 0.02     # loss falls < 2 % from the window's first quarter to its last: flat
POOR_ACCURACY = 0.8           # training accuracy below this is "poor"
CONVERGED_LOSS = 0.1          # training loss (nats) at or below this ...
CONVERGED_ACCURACY = 0.95     # ... with accuracy at or above this: converged
WORSE_ACCURACY = 0.05         # deeper net's training accuracy ≥ 5 points lower than the shallower's, or
WORSE_LOSS = 0.05             # its training loss ≥ 0.05 nats and ≥ 10 % higher: it trains worse
WORSE_LOSS_REL = 0.10
SIGMOID_LOW, SIGMOID_HIGH = 0.01, 0.99   # saturated sigmoid output (σ′ < 0.0099 there)
TANH_LIMIT = 0.99                         # saturated |tanh| (tanh′ < 0.02 there)
SATURATED_LAYER = 0.5         # a layer with ≥ 50 % of its outputs saturated is a saturated layer
DEAD_LAYER = 0.5              # a layer with ≥ 50 % dead units is a dead layer
SPREAD_FLOOR = 1e-3           # a unit whose output varies less than this across the batch carries no signal
ABLATION_SMALL_DROP = 0.02    # re-initialising the first k layers costs < 2 points: they were not learning
ABLATION_ABOVE_CHANCE = 0.10  # ... judged only when the net is ≥ 10 points above chance
UPDATE_RULE_OF_THUMB = 1e-3   # ‖ΔW‖/‖W‖ per step of a layer that learns at a healthy pace
UPDATE_SLOW = 1e-5            # 100× below: the layer barely moves
UPDATE_FAST = 1e-1            # 100× above: each step rewrites a tenth of the weights
FLOAT32_RESOLUTION = 6e-8     # half float32's epsilon: a smaller relative update is rounded away


# =============================================================================================
# Speed of learning: ‖ΔW‖/‖W‖ inside the training step
# =============================================================================================
def plain_sgd_lr(optimizer: torch.optim.Optimizer | None) -> float | None:
    """The learning rate if `optimizer` is plain SGD (one parameter group, no momentum, no
    weight decay), whose update is exactly W ← W − lr·g; None for anything else."""
    if type(optimizer) is not torch.optim.SGD or len(optimizer.param_groups) != 1:
        return None
    g = optimizer.param_groups[0]
    if g.get("momentum", 0) or g.get("weight_decay", 0) or g.get("maximize", False):
        return None
    lr = g["lr"]
    return float(lr) if isinstance(lr, (int, float)) else None


class UpdateMeter:
    """‖ΔW‖/‖W‖ of every nn.Linear weight in one optimizer step (CS231n's update/weight ratio).

        meter.snapshot(); optimizer.step(); ratios = meter.ratios()

    Plain SGD (one parameter group, no momentum, no weight decay): the update is −lr·g,
    so ‖ΔW‖ = lr·‖g‖, read after the step from the gradient the step used (clipped or
    not) — one batched norm over gradients and weights, no copy; and, unlike a
    difference of float32 weights, exact where the update is below the weights'
    rounding (a deep sigmoid net's first layer). Any other optimizer (Adam, momentum):
    the weights are copied into preallocated buffers before the step and ‖W_before −
    W_after‖ is taken after it. Either way a few torch._foreach_* calls and one stack →
    numpy (PERF-NOTES).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                 flat: "FlatParameters | None" = None):
        self.weights = [m.weight for _, m in linear_layers(model)]
        self.optimizer = optimizer
        self._before: list[torch.Tensor] | None = None
        # With the parameters in one flat buffer (vgviz.core.flat) the norms come from numpy
        # over zero-copy views instead of torch._foreach_norm (~0.1 ms a call).
        self.flat = None
        if flat is not None:
            index = {id(p): i for i, p in enumerate(flat.params)}
            if all(id(w) in index for w in self.weights):
                self.flat = flat
                self._weight_index = np.array([index[id(w)] for w in self.weights], dtype=np.int64)

    def _plain_sgd_lr(self) -> float | None:
        return plain_sgd_lr(self.optimizer)

    def snapshot(self) -> None:
        if self._plain_sgd_lr() is not None:
            return
        with torch.no_grad():
            if self.flat is not None:
                if self._before is None:
                    self._before = [self.flat.data.clone()]
                else:
                    self._before[0].copy_(self.flat.data)
                return
            if self._before is None:
                self._before = [torch.empty_like(w, requires_grad=False) for w in self.weights]
            if hasattr(torch, "_foreach_copy_"):
                torch._foreach_copy_(self._before, self.weights)
            else:  # pragma: no cover - old torch
                for b, w in zip(self._before, self.weights):
                    b.copy_(w)

    def ratios(self, sums: np.ndarray | None = None) -> np.ndarray:
        """(L,) ‖ΔW‖ / ‖W‖ per Linear layer for the step since snapshot() (‖W‖ after the step).

        sums: FlatParameters.step_sums() of the gradient this step applied, taken before
        the step. Plain SGD then needs no further pass: W' = W − lr·g, so ‖ΔW‖ = lr·‖g‖ and
        ‖W'‖² = Σw² − 2·lr·Σw·g + lr²·Σg²."""
        lr = self._plain_sgd_lr()
        if sums is not None and self.flat is not None and lr is not None:
            flat = self.flat
            per_layer = sums[:, self._weight_index]
            g2 = per_layer[flat.SQUARE]
            coefficients = np.zeros(len(per_layer))
            coefficients[[flat.WEIGHT_SQUARE, flat.WEIGHT_DOT, flat.SQUARE]] = 1.0, -2 * lr, lr * lr
            size2 = coefficients @ per_layer
            if size2.min() > 0:  # the common case, in three operations (this runs every step)
                return lr * np.sqrt(g2 / size2)
            delta, size = lr * np.sqrt(g2), np.sqrt(np.maximum(size2, 0.0))
        elif self.flat is not None and (lr is None or self.flat.grads_attached()):
            delta, size = self._flat_norms()  # (plain SGD reads the gradients: only while attached)
        else:
            delta, size = self._tensor_norms()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(size > 0, delta / size, np.where(delta > 0, np.inf, 0.0))

    def _flat_norms(self) -> tuple[np.ndarray, np.ndarray]:
        flat, rows = self.flat, self._weight_index
        size = np.sqrt(flat.data_square_sums()[rows])
        lr = self._plain_sgd_lr()
        if lr is not None:
            return lr * np.sqrt(flat.grad_square_sums()[rows]), size
        return np.sqrt(flat.difference_square_sums(self._before[0].numpy())[rows]), size

    def _tensor_norms(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.weights)
        lr = self._plain_sgd_lr()
        with torch.no_grad():
            if lr is not None:
                grads = [w.grad if w.grad is not None else torch.zeros(()) for w in self.weights]
                values = torch.stack(torch._foreach_norm(grads + self.weights, 2)).double().numpy()
                return lr * values[:n], values[n:]
            torch._foreach_sub_(self._before, self.weights)
            values = torch.stack(torch._foreach_norm(self._before + self.weights, 2)).double().numpy()
            return values[:n], values[n:]


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
        return _clean({"name": self.name, "module": self.module, "activation": self.activation,
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
        return _clean({"k": self.k, "layers": list(self.layers), "mode": self.mode,
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
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
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
        return _clean(dict(label=self.label, n_layers=self.n_layers, steps=self.steps,
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
                      _nanmean(history.loss[rows]), _nanmean(history.accuracy[rows]))


# =============================================================================================
# Fixes and the presets that demonstrate them
# =============================================================================================
@dataclass(frozen=True)
class Fix:
    key: str
    title: str
    why: str
    preset: str            # the preset that demonstrates it (by name)
    available: bool        # that preset exists in this installation: only then is it a link

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "why": self.why, "preset": self.preset,
                "preset_available": self.available}


# key: (title, why, preset names to try in order)
FIXES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "relu": ("ReLU family (ReLU, leaky ReLU, ELU, GELU)",
             "slope 1 for positive inputs instead of σ′ ≤ 0.25, so depth does not shrink the gradient",
             ("deep-relu", "deep-relu-he")),
    "leaky": ("leaky ReLU / ELU, zero biases",
              "a negative side with a slope, so a unit pushed below zero still passes a gradient and can recover",
              ("deep-leaky-relu", "deep-elu", "deep-relu-he")),
    "init": ("He / Xavier initialisation",
             "weights scaled by fan-in so each layer keeps the signal's variance, forward and backward",
             ("deep-relu-he", "deep-sigmoid-xavier")),
    "batchnorm": ("batch normalisation",
                  "re-centres and re-scales each layer's inputs, keeping units in their steep range",
                  ("deep-sigmoid-batchnorm", "deep-batchnorm", "batchnorm")),
    "residual": ("residual connections",
                 "an identity path around every block: the gradient reaches early layers undiminished",
                 ("deep-residual-relu30", "deep-residual", "residual")),
    "clipping": ("gradient clipping",
                 "caps the gradient norm of a step, so one huge gradient cannot throw the weights away",
                 ("exploding-clipped", "deep-relu-clipped", "clipping")),
    "lower_lr": ("a lower learning rate",
                 "smaller steps keep the weights from growing until the gradients blow up",
                 ()),
    "gated": ("LSTM / GRU cells",
              "gated cells carry the error along an additive path through time instead of a product",
              ("lstm", "gru", "rnn-lstm", "rnn-gru")),
    "shallower": ("a shallower network",
                  "fewer layers, fewer factors in the chain rule",
                  ("shallow-sigmoid",)),
}


def _config_demonstrates(key: str, config: Mapping[str, Any]) -> bool:
    """Does a preset's config show this fix? (for presets that other versions add)"""
    values = {k: v for k, v in config.items()}
    strings = {k: str(v).lower() for k, v in values.items()}
    if key == "batchnorm":
        return any("norm" in k and "batch" in v for k, v in strings.items()) or \
            any(k in ("batchnorm", "batch_norm") and v is True for k, v in values.items())
    if key == "residual":
        return any("residual" in k and v is True for k, v in values.items()) or \
            any(v in ("residual", "resnet") for v in strings.values())
    if key == "clipping":
        return any("clip" in k and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                   for k, v in values.items())
    if key == "gated":
        return any(v in ("lstm", "gru") for v in strings.values())
    if key == "leaky":
        return strings.get("activation") in ("leaky_relu", "elu", "gelu", "selu")
    return False


@functools.lru_cache(maxsize=8)
def _fix_links(names: tuple[str, ...]) -> dict[str, tuple[str, bool]]:
    configs: dict[str, dict] = {}
    try:
        from .presets import list_presets
        configs = {p.name: p.config.to_dict() for p in list_presets() if p.name in names}
    except Exception:  # noqa: BLE001 - a broken preset must not break a diagnosis
        pass
    links = {}
    for key, (_, _, candidates) in FIXES.items():
        found = next((c for c in candidates if c in names), None)
        if found is None:
            found = next((n for n in names if _config_demonstrates(key, configs.get(n, {}))), None)
        if found is not None:
            links[key] = (found, True)
        else:
            links[key] = (candidates[0] if candidates else "", False)
    return links


def make_fix(key: str, presets: Sequence[str] | None = None) -> Fix:
    if presets is None:
        from .presets import preset_names
        presets = preset_names()
    title, why, _ = FIXES[key]
    preset, available = _fix_links(tuple(presets))[key]
    return Fix(key, title, why, preset, available)


# =============================================================================================
# Findings and the diagnosis
# =============================================================================================
@dataclass(frozen=True)
class Finding:
    key: str               # gradient_magnitude, loss_plateau, training_performance, unresponsive_neurons,
                           # reliance_on_upper_layers, speed_of_learning
    title: str
    status: str            # ok, warn, bad, info, n/a: how a view colours it
    label: str             # one or two words: vanishing, plateau, converged …
    summary: str           # one sentence with the numbers
    numbers: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    short: str = ""        # the key number(s) for a table cell
    rule: str = ""         # the threshold it was judged by, for a table cell

    def to_dict(self) -> dict[str, Any]:
        return _clean({"key": self.key, "title": self.title, "status": self.status, "label": self.label,
                       "summary": self.summary, "value": self.short, "rule": self.rule,
                       "numbers": self.numbers, "thresholds": self.thresholds})


@dataclass(frozen=True)
class Diagnosis:
    verdict: str                       # one of VERDICTS
    headline: str                      # one sentence with the numbers
    causes: tuple[str, ...]            # likely causes, most likely first
    fixes: tuple[Fix, ...]             # what applies, each with its preset
    findings: tuple[Finding, ...]

    def finding(self, key: str) -> Finding:
        for f in self.findings:
            if f.key == key:
                return f
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "headline": self.headline, "causes": list(self.causes),
                "fixes": [f.to_dict() for f in self.fixes],
                "findings": [f.to_dict() for f in self.findings]}


def diagnose(history: History, *, activations: ActivationStats | None = None,
             baseline: RunSummary | None = None, ablation: AblationResult | None = None,
             n_classes: int | None = None, recurrent: bool = False,
             presets: Sequence[str] | None = None) -> Diagnosis:
    """The findings of a run so far and the verdict they add up to.

    history: the run's History (at least one row). activations: activation_stats() on a
    batch at the current weights. baseline: a shallower counterpart's RunSummary.
    ablation: an ablate() result. presets: names for the fix links (default: installed).
    """
    if len(history) == 0 or history.latest is None:
        raise ValueError("diagnose: the history holds no steps yet")
    names = list(history.latest.layer_names)
    if n_classes is None:
        n_classes = len(history.latest.delta_mean_abs[-1]) if history.latest.delta_mean_abs else 2
    grad = _gradient_finding(history, names)
    plateau, converged = _plateau_finding(history, n_classes)
    perf, worse = _performance_finding(history, baseline)
    units = _units_finding(activations)
    reliance = _ablation_finding(ablation)
    speed = _speed_finding(history, names)
    findings = tuple(_with_short_and_rule(f) for f in (grad, plateau, perf, units, reliance, speed))

    g = grad.numbers
    ratio, fold = g.get("ratio_first_to_last_hidden"), g.get("fold_less")
    first, ref = g["compared"]
    causes: list[str] = []
    fix_keys: list[str] = []
    if grad.label == "exploding":
        verdict = "exploding"
        if g["non_finite"]:
            headline = (f"Exploding gradients: the loss or a gradient became NaN/inf at step {g['last_step']}; "
                        "the run cannot continue.")
        elif ratio is not None and ratio >= EXPLODING_RATIO:
            headline = (f"Exploding gradients: {first} gets {ratio:.3g}× the gradient of {ref} "
                        f"(threshold {EXPLODING_RATIO:g}×): it grows toward the input.")
        else:
            headline = (f"Exploding gradients: the median layer's mean |dL/dW| is {g['median_grad_mean_abs']:.3g} "
                        f"(threshold {EXPLODING_GRAD:g}): every update is huge.")
        causes.append("weights too large for the depth: each layer multiplies the backward signal by more than 1")
        causes.append("a learning rate too high for this network")
        fix_keys = ["clipping", "lower_lr", "init", "batchnorm"] + (["gated"] if recurrent else [])
    elif converged:
        verdict = "converged"
        p = plateau.numbers
        headline = (f"Converged, not vanishing: training loss {p['loss_now']:.3g} ≤ {CONVERGED_LOSS:g} and accuracy "
                    f"{p['accuracy_now']:.0%} ≥ {CONVERGED_ACCURACY:.0%}; the gradients are small because there "
                    "is little left to learn.")
        if grad.label == "vanishing":
            causes.append(f"({first} still gets {_fold(fold)} less gradient than {ref}, but the task is learnt)")
    elif grad.label == "vanishing":
        verdict = "vanishing"
        if ratio == 0:
            headline = f"Vanishing gradients: {first} gets exactly zero gradient — nothing reaches it."
        else:
            headline = (f"Vanishing gradients: {first} gets {_fold(fold)} less gradient than {ref} "
                        f"(threshold {1 / VANISHING_RATIO:g}×).")
        causes, fix_keys = _vanishing_causes(activations, recurrent)
        if plateau.label == "plateau":
            headline += f" The loss is stuck at {plateau.numbers['loss_now']:.3g}."
    elif worse:
        verdict = "degradation"
        b = perf.numbers
        headline = (f"Degradation, not vanishing: this {b['n_layers']}-layer network trains worse than its "
                    f"{b['baseline_n_layers']}-layer counterpart (training loss {b['train_loss']:.3g} vs "
                    f"{b['baseline_train_loss']:.3g}, accuracy {b['train_accuracy']:.0%} vs "
                    f"{b['baseline_train_accuracy']:.0%}) although its gradients reach the first layer "
                    f"(ratio {ratio:.3g}, healthy between {VANISHING_RATIO:g} and {EXPLODING_RATIO:g}).")
        causes.append("an optimisation problem of deep plain networks (He et al., ResNet, 2016: deeper plain nets "
                      "reach a higher training error): more layers make the function harder to fit by SGD, "
                      "not the gradient smaller")
        fix_keys = ["residual", "batchnorm", "shallower"]
        causes += _unit_notes(activations)
    else:
        verdict = "healthy"
        if ratio is None:
            headline = "Healthy: one Linear layer only, nothing can vanish."
        else:
            relation = (f"{_fold(fold)} less gradient than {ref}" if ratio < 1 else
                        f"{ratio:.3g}× the gradient of {ref}")
            headline = (f"Healthy gradients: {first} gets {relation} (ratio {ratio:.2g}; vanishing at or "
                        f"below {VANISHING_RATIO:g}, exploding at or above {EXPLODING_RATIO:g}).")
        if plateau.label == "plateau":
            headline += (f" The loss is flat at {plateau.numbers['loss_now']:.3g} with accuracy "
                         f"{plateau.numbers['accuracy_now']:.0%}, but not because of vanishing gradients: "
                         "look at the learning rate, the width or the data.")
            causes.append("a plateau with healthy gradients: learning rate, capacity or the task, not depth")
            causes += _unit_notes(activations)
    fixes = tuple(make_fix(k, presets) for k in dict.fromkeys(fix_keys))
    return Diagnosis(verdict, headline, tuple(causes), fixes, findings)


def _unit_notes(acts: ActivationStats | None) -> list[str]:
    """Secondary observations about unresponsive units, when the verdict is not vanishing."""
    if acts is None:
        return []
    notes = []
    dead = [layer for layer in acts.layers if (layer.dead_fraction or 0) >= DEAD_LAYER]
    sat = [layer for layer in acts.layers if (layer.saturated_fraction or 0) >= SATURATED_LAYER]
    if dead:
        worst = max(dead, key=lambda layer: layer.dead_fraction)
        notes.append(f"also: {worst.dead_fraction:.0%} of {worst.name}'s units are dead, so fewer units carry the "
                     "signal")
    if sat:
        worst = max(sat, key=lambda layer: layer.saturated_fraction)
        notes.append(f"also: {worst.saturated_fraction:.0%} of {worst.name}'s outputs are saturated")
    return notes


def _vanishing_causes(acts: ActivationStats | None, recurrent: bool) -> tuple[list[str], list[str]]:
    causes: list[str] = []
    fixes: list[str] = []
    if acts is not None:
        dead = [layer for layer in acts.layers if (layer.dead_fraction or 0) >= DEAD_LAYER]
        sat = [layer for layer in acts.layers if (layer.saturated_fraction or 0) >= SATURATED_LAYER]
        if dead:
            worst = max(dead, key=lambda layer: layer.dead_fraction)
            causes.append(f"dead ReLUs: {worst.dead_fraction:.0%} of {worst.name}'s units output 0 for every "
                          f"example (in {len(dead)} layer{'s' if len(dead) > 1 else ''}): no gradient passes "
                          "through a dead unit to the layers below")
            fixes += ["leaky", "init", "lower_lr", "batchnorm"]
        if sat:
            worst = max(sat, key=lambda layer: layer.saturated_fraction)
            causes.append(f"saturated units: {worst.saturated_fraction:.0%} of {worst.name}'s "
                          f"{worst.activation.lower()} outputs are in the flat ends "
                          f"(in {len(sat)} layer{'s' if len(sat) > 1 else ''}), where the slope is < 0.02")
            fixes += ["relu", "init", "batchnorm", "residual"]
        bounded = [layer for layer in acts.layers if layer.kind in ("sigmoid", "tanh")]
        if bounded and not sat:
            kind = bounded[0].activation.lower()
            slope = "σ′ ≤ 0.25" if bounded[0].kind == "sigmoid" else "tanh′ ≤ 1, < 1 off zero"
            causes.append(f"{len(bounded)} {kind} layers: every one multiplies the backward signal by "
                          f"{slope} (and by weights below 1 with a small init); the factors compound with depth")
            fixes += ["relu", "init", "batchnorm", "residual"]
    if not causes:
        causes.append("the per-layer factors of the backward pass (weight × activation slope) are below 1 "
                      "and compound with depth")
        fixes += ["relu", "init", "batchnorm", "residual"]
    if recurrent:
        fixes.append("gated")
    return causes, fixes


# -- the six findings ----------------------------------------------------------------------------
def _gradient_finding(history: History, names: list[str]) -> Finding:
    rows = _window(history, GRADIENT_WINDOW)
    g = history.grad_mean_abs[rows]
    latest = history.latest
    non_finite = bool(latest.diverged or not np.isfinite(g).all() or not math.isfinite(latest.loss))
    finite = np.where(np.isfinite(g), g, np.nan)
    per_layer = _nanmedian(finite, axis=0)
    n = len(names)
    ref = n - 2 if n >= 3 else n - 1
    numbers: dict[str, Any] = {
        "layers": names, "grad_mean_abs": per_layer.tolist(),
        "order_of_magnitude": [_order(v) for v in per_layer],
        "compared": [names[0], names[ref]], "window_steps": int(history.steps[-1] - history.steps[rows][0] + 1),
        "last_step": int(history.steps[-1]), "non_finite": non_finite,
        "median_grad_mean_abs": float(np.nanmedian(per_layer)) if np.isfinite(per_layer).any() else None,
        "ratio_first_to_last_hidden": None, "fold_less": None,
    }
    thresholds = {"vanishing_ratio": VANISHING_RATIO, "exploding_ratio": EXPLODING_RATIO,
                  "exploding_grad_mean_abs": EXPLODING_GRAD, "window_steps": GRADIENT_WINDOW}
    ratio = None
    if n >= 2:
        a, b = finite[:, 0], finite[:, ref]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(b > 0, a / b, np.where(a > 0, np.inf, 0.0))
        r = r[~np.isnan(a) & ~np.isnan(b)]
        if len(r):
            ratio = float(np.median(r))
            numbers["ratio_first_to_last_hidden"] = ratio
            numbers["fold_less"] = (1 / ratio) if ratio > 0 else None
    timestep = getattr(latest, "timestep_grad", None)
    if timestep is not None and len(timestep) >= 2 and np.isfinite(timestep).all() and not non_finite:
        # a recurrent net: the depth that matters is time — compare ‖∂L/∂h_1‖ with ‖∂L/∂h_T‖
        first, last = float(timestep[0]), float(timestep[-1])
        ratio = first / last if last > 0 else (math.inf if first > 0 else 0.0)
        numbers.update({"compared": ["h_1", f"h_{len(timestep)}"], "ratio_first_to_last_timestep": ratio,
                        "ratio_first_to_last_hidden": ratio, "fold_less": (1 / ratio) if ratio > 0 else None})
    typical = numbers["median_grad_mean_abs"]
    orders = [o for o in numbers["order_of_magnitude"] if o is not None]
    span = f"; orders of magnitude 1e{min(orders)} … 1e{max(orders)}" if orders else ""
    if non_finite:
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "bad", "exploding",
                       f"non-finite loss or gradient (NaN/inf) by step {numbers['last_step']}{span}",
                       numbers, thresholds)
    if ratio is None:
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "ok", "healthy",
                       f"one layer only: mean |dL/dW| {typical:.2g}", numbers, thresholds)
    if ratio >= EXPLODING_RATIO or (typical is not None and typical >= EXPLODING_GRAD):
        why = (f"{names[0]} gets {ratio:.3g}× the gradient of {names[ref]} (≥ {EXPLODING_RATIO:g}×)"
               if ratio >= EXPLODING_RATIO else
               f"median layer mean |dL/dW| {typical:.3g} ≥ {EXPLODING_GRAD:g}")
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "bad", "exploding",
                       why + span, numbers, thresholds)
    lo_name, hi_name = numbers["compared"]
    if ratio <= VANISHING_RATIO:
        why = (f"{lo_name} gets no gradient at all" if ratio == 0 else
               f"{lo_name} gets {_fold(1 / ratio)} less gradient than {hi_name} "
               f"(ratio {ratio:.2g} ≤ {VANISHING_RATIO:g})")
        return Finding("gradient_magnitude", "Gradient magnitude by layer", "bad", "vanishing",
                       why + span, numbers, thresholds)
    return Finding("gradient_magnitude", "Gradient magnitude by layer", "ok", "healthy",
                   f"ratio {lo_name}/{hi_name} = {ratio:.3g}, within {VANISHING_RATIO:g} … {EXPLODING_RATIO:g}"
                   + span, numbers, thresholds)


def _plateau_finding(history: History, n_classes: int) -> tuple[Finding, bool]:
    now = _window(history, GRADIENT_WINDOW)
    loss_now, acc_now = _nanmean(history.loss[now]), _nanmean(history.accuracy[now])
    rows = _window(history, PLATEAU_WINDOW)
    steps = history.steps[rows]
    covered = int(steps[-1] - steps[0])
    numbers: dict[str, Any] = {"loss_now": loss_now, "accuracy_now": acc_now, "window_steps": covered,
                               "chance_loss": math.log(max(n_classes, 2)), "relative_change": None}
    thresholds = {"plateau_window": PLATEAU_WINDOW, "plateau_rel_change": PLATEAU_REL_CHANGE,
                  "poor_accuracy": POOR_ACCURACY, "converged_loss": CONVERGED_LOSS,
                  "converged_accuracy": CONVERGED_ACCURACY}
    converged = (math.isfinite(loss_now) and loss_now <= CONVERGED_LOSS and acc_now >= CONVERGED_ACCURACY)
    title = "Loss plateau"
    if converged:
        return Finding("loss_plateau", title, "ok", "converged",
                       f"loss {loss_now:.3g} ≤ {CONVERGED_LOSS:g} and accuracy {acc_now:.0%} ≥ "
                       f"{CONVERGED_ACCURACY:.0%}: small gradients here mean convergence, not vanishing",
                       numbers, thresholds), True
    if covered < PLATEAU_MIN_STEPS:
        return Finding("loss_plateau", title, "n/a", "too early",
                       f"{covered} steps so far; a plateau is judged over {PLATEAU_WINDOW} steps "
                       f"(at least {PLATEAU_MIN_STEPS})", numbers, thresholds), False
    quarter = max(1, covered // 4)
    loss = history.loss[rows]
    early = _nanmean(loss[steps <= steps[0] + quarter])
    late = _nanmean(loss[steps >= steps[-1] - quarter])
    change = (early - late) / abs(early) if early and math.isfinite(early) and math.isfinite(late) else 0.0
    numbers.update(loss_early=early, loss_late=late, relative_change=change)
    flat = change < PLATEAU_REL_CHANGE
    if flat and acc_now < POOR_ACCURACY:
        return Finding("loss_plateau", title, "bad", "plateau",
                       f"loss {early:.4g} → {late:.4g} over {covered} steps ({change:+.1%} < "
                       f"{PLATEAU_REL_CHANGE:.0%}) while accuracy is {acc_now:.0%} < {POOR_ACCURACY:.0%}"
                       f" (chance loss ln {max(n_classes, 2)} = {numbers['chance_loss']:.3f})",
                       numbers, thresholds), False
    if flat:
        return Finding("loss_plateau", title, "warn", "flat",
                       f"loss {early:.4g} → {late:.4g} over {covered} steps ({change:+.1%}); accuracy "
                       f"{acc_now:.0%} is not poor but not converged", numbers, thresholds), False
    return Finding("loss_plateau", title, "ok", "improving",
                   f"loss {early:.4g} → {late:.4g} over {covered} steps ({change:+.1%} ≥ {PLATEAU_REL_CHANGE:.0%})",
                   numbers, thresholds), False


def _performance_finding(history: History, baseline: RunSummary | None) -> tuple[Finding, bool]:
    title = "Training performance vs a shallower net"
    thresholds = {"worse_accuracy": WORSE_ACCURACY, "worse_loss": WORSE_LOSS, "worse_loss_rel": WORSE_LOSS_REL}
    me = summarize(history)
    numbers: dict[str, Any] = {"n_layers": me.n_layers, "steps": me.steps, "train_loss": me.train_loss,
                               "train_accuracy": me.train_accuracy}
    if baseline is None:
        return Finding("training_performance", title, "n/a", "not run",
                       "no shallower counterpart has been run (diagnostics panel: “Train shallower”, or Compare)",
                       numbers, thresholds), False
    numbers.update(baseline_label=baseline.label, baseline_n_layers=baseline.n_layers,
                   baseline_steps=baseline.steps, baseline_train_loss=baseline.train_loss,
                   baseline_train_accuracy=baseline.train_accuracy,
                   accuracy_gap=baseline.train_accuracy - me.train_accuracy,
                   loss_gap=me.train_loss - baseline.train_loss)
    if baseline.n_layers >= me.n_layers:
        return Finding("training_performance", title, "n/a", "not shallower",
                       f"the counterpart has {baseline.n_layers} layers, this net {me.n_layers}: not a shallower net",
                       numbers, thresholds), False
    acc_gap, loss_gap = numbers["accuracy_gap"], numbers["loss_gap"]
    worse = bool(acc_gap >= WORSE_ACCURACY or
                 (loss_gap >= WORSE_LOSS and loss_gap >= WORSE_LOSS_REL * abs(baseline.train_loss)))
    text = (f"{me.n_layers} layers: loss {me.train_loss:.3g}, accuracy {me.train_accuracy:.0%} at step {me.steps}; "
            f"{baseline.n_layers} layers: loss {baseline.train_loss:.3g}, accuracy {baseline.train_accuracy:.0%} "
            f"at step {baseline.steps}")
    if worse:
        return Finding("training_performance", title, "bad", "deeper is worse",
                       text + f" (accuracy {acc_gap:+.0%}, loss {loss_gap:+.3g} worse)", numbers, thresholds), True
    return Finding("training_performance", title, "ok", "deeper is as good",
                   text, numbers, thresholds), False


def _units_finding(acts: ActivationStats | None) -> Finding:
    title = "Unresponsive neurons"
    thresholds = {"sigmoid_low": SIGMOID_LOW, "sigmoid_high": SIGMOID_HIGH, "tanh_limit": TANH_LIMIT,
                  "saturated_layer": SATURATED_LAYER, "dead_layer": DEAD_LAYER, "spread_floor": SPREAD_FLOOR}
    if acts is None or not acts.layers:
        return Finding("unresponsive_neurons", title, "n/a", "not measured",
                       "no activation statistics (no element-wise activation modules, or not measured yet)",
                       {}, thresholds)
    layers = [layer.to_dict() for layer in acts.layers]
    numbers = {"n_examples": acts.n_examples, "layers": layers}
    parts, status, label = [], "ok", "responsive"
    sat = [layer for layer in acts.layers if layer.saturated_fraction is not None]
    dead = [layer for layer in acts.layers if layer.dead_fraction is not None]
    if sat:
        worst = max(sat, key=lambda layer: layer.saturated_fraction)
        parts.append(f"saturated outputs up to {worst.saturated_fraction:.0%} ({worst.name})")
        if worst.saturated_fraction >= SATURATED_LAYER:
            status, label = "bad", "saturated"
    if dead:
        worst = max(dead, key=lambda layer: layer.dead_fraction)
        parts.append(f"dead units up to {worst.dead_fraction:.0%} ({worst.name})")
        if worst.dead_fraction >= DEAD_LAYER:
            status, label = "bad", "dead units" if label == "responsive" else label + ", dead units"
    flat = max(acts.layers, key=lambda layer: layer.low_spread_fraction)
    parts.append(f"{flat.low_spread_fraction:.0%} of {flat.name}'s units vary < {SPREAD_FLOOR:g} across the batch")
    if status == "ok" and flat.low_spread_fraction >= 0.5:
        status, label = "warn", "flat outputs"
    return Finding("unresponsive_neurons", title, status, label,
                   "; ".join(parts) + f" (batch of {acts.n_examples})", numbers, thresholds)


def _ablation_finding(ab: AblationResult | None) -> Finding:
    title = "Reliance on upper layers (ablation)"
    thresholds = {"small_drop": ABLATION_SMALL_DROP, "above_chance": ABLATION_ABOVE_CHANCE}
    if ab is None:
        return Finding("reliance_on_upper_layers", title, "n/a", "not run",
                       "re-initialise the first k layers on a copy to see whether they were learning",
                       {}, thresholds)
    numbers = ab.to_dict()
    what = "step-0 values" if ab.mode == "initial" else "fresh random weights"
    text = (f"first {ab.k} layer{'s' if ab.k > 1 else ''} ({', '.join(ab.layers)}) reset to {what}: accuracy "
            f"{ab.accuracy_before:.1%} → {ab.accuracy_after:.1%} (drop {ab.drop * 100:+.1f} points")
    if ab.accuracy_before - ab.chance < ABLATION_ABOVE_CHANCE:
        return Finding("reliance_on_upper_layers", title, "info", "at chance",
                       text + f"); the net is within {ABLATION_ABOVE_CHANCE:.0%} of chance ({ab.chance:.0%}), "
                       "so the drop says little", numbers, thresholds)
    if ab.drop < ABLATION_SMALL_DROP:
        return Finding("reliance_on_upper_layers", title, "bad", "not learning",
                       text + f" < {ABLATION_SMALL_DROP * 100:g}): the upper layers do the work; the early "
                       "layers were not learning", numbers, thresholds)
    return Finding("reliance_on_upper_layers", title, "ok", "early layers matter",
                   text + f" ≥ {ABLATION_SMALL_DROP * 100:g}): the early layers learnt something the net relies on",
                   numbers, thresholds)


def _speed_finding(history: History, names: list[str]) -> Finding:
    title = "Speed of learning ‖ΔW‖/‖W‖"
    thresholds = {"rule_of_thumb": UPDATE_RULE_OF_THUMB, "slow": UPDATE_SLOW, "fast": UPDATE_FAST}
    rows = _window(history, GRADIENT_WINDOW)
    u = history.update_ratio[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where((u > 0) & np.isfinite(u), np.log10(np.where(u > 0, u, 1.0)), np.nan)
    have = np.isfinite(logs).any(axis=0)
    zeros = ((u == 0).all(axis=0)) & (len(u) > 0)
    if not have.any() and not zeros.any():
        return Finding("speed_of_learning", title, "n/a", "no updates yet",
                       "no update has been applied yet", {"layers": names}, thresholds)
    per_layer = np.where(have, 10.0 ** _nanmean_axis0(logs), np.where(zeros, 0.0, np.nan))
    slow = [n for n, v in zip(names, per_layer) if np.isfinite(v) and v < UPDATE_SLOW]
    fast = [n for n, v in zip(names, per_layer) if np.isfinite(v) and v > UPDATE_FAST]
    numbers = {"layers": names, "update_ratio": per_layer.tolist(), "slow_layers": slow, "fast_layers": fast}
    finite = per_layer[np.isfinite(per_layer)]
    span = f"{finite.min():.1e} … {finite.max():.1e}" if len(finite) else "–"
    if len(finite) and not finite.any():
        return Finding("speed_of_learning", title, "bad", "not moving",
                       "no layer's weights change at all (‖ΔW‖ = 0 in every layer)", numbers, thresholds)
    if fast:
        return Finding("speed_of_learning", title, "bad", "too fast",
                       f"{', '.join(fast)} change by > {UPDATE_FAST:g} of their size per step (range {span}; "
                       f"rule of thumb ~{UPDATE_RULE_OF_THUMB:g})", numbers, thresholds)
    if slow:
        frozen = [n for n, v in zip(names, per_layer) if np.isfinite(v) and v < FLOAT32_RESOLUTION]
        note = (f"; {', '.join(frozen)} below float32's resolution (~{FLOAT32_RESOLUTION:.0e}): most of "
                "their weights do not change at all" if frozen else "")
        numbers["below_float32_resolution"] = frozen
        return Finding("speed_of_learning", title, "bad" if names[0] in slow else "warn", "slow layers",
                       f"{', '.join(slow)} below {UPDATE_SLOW:g} per step (range {span}; rule of thumb "
                       f"~{UPDATE_RULE_OF_THUMB:g}){note}", numbers, thresholds)
    return Finding("speed_of_learning", title, "ok", "learning",
                   f"every layer between {UPDATE_SLOW:g} and {UPDATE_FAST:g} per step (range {span}; rule of thumb "
                   f"~{UPDATE_RULE_OF_THUMB:g})", numbers, thresholds)


def _with_short_and_rule(f: Finding) -> Finding:
    n, short, rule = f.numbers, "–", ""
    if f.key == "gradient_magnitude":
        rule = f"vanishing ≤ {VANISHING_RATIO:g}, exploding ≥ {EXPLODING_RATIO:g}"
        r = n.get("ratio_first_to_last_hidden")
        if n.get("non_finite"):
            short = "NaN / inf"
        elif r is not None:
            short = "no gradient" if r == 0 else f"ratio {r:.2g}"
            if f.label == "exploding" and r < EXPLODING_RATIO:
                short = f"median |g| {n['median_grad_mean_abs']:.2g}"
    elif f.key == "loss_plateau":
        rule = (f"flat: Δ < {PLATEAU_REL_CHANGE:.0%} in {PLATEAU_WINDOW} steps and acc < {POOR_ACCURACY:.0%}; "
                f"converged: loss ≤ {CONVERGED_LOSS:g}, acc ≥ {CONVERGED_ACCURACY:.0%}")
        if math.isfinite(n.get("loss_now", math.nan)):
            short = f"loss {n['loss_now']:.3g} · acc {n['accuracy_now']:.0%}"
            if n.get("relative_change") is not None and f.label != "converged":
                short += f" · Δ {n['relative_change']:+.1%}"
    elif f.key == "training_performance":
        rule = f"worse: acc −{WORSE_ACCURACY * 100:g} pts or loss +{WORSE_LOSS:g}"
        if "baseline_n_layers" in n:
            short = (f"{n['n_layers']} vs {n['baseline_n_layers']} layers: acc {n['train_accuracy']:.0%} vs "
                     f"{n['baseline_train_accuracy']:.0%}")
    elif f.key == "unresponsive_neurons":
        rule = f"a layer ≥ {SATURATED_LAYER:.0%} saturated or dead"
        layers = n.get("layers", [])
        sat = [x["saturated_fraction"] for x in layers if x.get("saturated_fraction") is not None]
        dead = [x["dead_fraction"] for x in layers if x.get("dead_fraction") is not None]
        flat = [x["low_spread_fraction"] for x in layers]
        parts = ([f"saturated {max(sat):.0%}"] if sat else []) + ([f"dead {max(dead):.0%}"] if dead else [])
        parts += [f"flat {max(flat):.0%}"] if flat else []
        short = " · ".join(parts) or "–"
    elif f.key == "reliance_on_upper_layers":
        rule = f"not learning: drop < {ABLATION_SMALL_DROP * 100:g} pts"
        if "drop" in n:
            short = f"drop {n['drop'] * 100:+.1f} pts (k = {n['k']})"
    elif f.key == "speed_of_learning":
        rule = f"~{UPDATE_RULE_OF_THUMB:g}; slow < {UPDATE_SLOW:g}, fast > {UPDATE_FAST:g}"
        values = [v for v in n.get("update_ratio", []) if v is not None and math.isfinite(v)]
        if values:
            short = f"{n['layers'][0]} {n['update_ratio'][0]:.0e} · max {max(values):.0e}"
    return dataclasses.replace(f, short=short, rule=rule)


# =============================================================================================
# Convenience: a trainer's diagnosis (used by the report and the tests)
# =============================================================================================
def is_recurrent(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.RNNBase, nn.RNNCellBase)) for m in model.modules())


def hidden_count(model: nn.Module) -> int:
    return max(0, len(linear_layers(model)) - 1)


def activation_batch(trainer, n: int | None = None) -> torch.Tensor:
    """The first n training examples (all when None): the batch activation statistics use."""
    x = trainer.data.x_train if n is None else trainer.data.x_train[:n]
    return torch.from_numpy(x).to(getattr(trainer, "dtype", torch.float32))  # the model's own (bfloat16 runs)


def diagnose_trainer(trainer, history: History, *, baseline: RunSummary | None = None,
                     ablation_k: int | None = None, presets: Sequence[str] | None = None,
                     ) -> tuple[Diagnosis, ActivationStats, AblationResult | None]:
    """diagnose() with the activation statistics and (optionally) an ablation measured on the
    trainer's training set at its current weights."""
    x = activation_batch(trainer)
    y = torch.from_numpy(trainer.data.y_train)
    acts = activation_stats(trainer.model, x)
    ab = None
    if ablation_k is not None and hidden_count(trainer.model) >= 1:
        k = max(1, min(ablation_k, hidden_count(trainer.model)))
        ab = ablate(trainer.model, k, x, y, initial_state=getattr(trainer, "initial_state", None),
                    mode="initial" if getattr(trainer, "initial_state", None) is not None else "random",
                    seed=trainer.config.seed + 1)
    d = diagnose(history, activations=acts, baseline=baseline, ablation=ab,
                 n_classes=trainer.data.n_classes, recurrent=is_recurrent(trainer.model), presets=presets)
    return d, acts, ab


def train_summary(config: RunConfig, label: str = "") -> RunSummary:
    """Train `config` headless for config.steps (stopping if it diverges) and summarise it:
    the shallower counterpart of the report's training-performance finding."""
    from .trainer import Trainer

    trainer = Trainer(config, capture_edges=False)
    history = None
    while not trainer.finished:
        stats = trainer.step()
        history = history or History(stats.n_layers)
        history.append(stats)
        if stats.diverged:
            break
    return summarize(history, label or f"depth {config.depth}")


def default_ablation_k(n_hidden: int) -> int:
    """Half of the hidden layers, at least one: 'the early layers'."""
    return max(1, (n_hidden + 1) // 2)


# =============================================================================================
# Compare: variants of a config
# =============================================================================================
def shallower_depth(depth: int) -> int:
    """A quarter of the depth (at least 1): 8 → 2, as the shallow-sigmoid preset."""
    return max(1, depth // 4)


def compare_variants(config: RunConfig) -> dict[str, tuple[str, RunConfig]]:
    """One-change variants of `config` that this RunConfig supports: key → (label, config).

    shallower, ReLU, He init always exist as fields; residual and batch norm are offered
    only when RunConfig has such a field (other versions add `residual` / `norm`).
    """
    fields = RunConfig.field_names()
    out: dict[str, tuple[str, RunConfig]] = {}

    def attempt(key: str, label: str, **changes) -> bool:
        try:
            variant = config.replace(**changes)
        except (ConfigError, TypeError, ValueError):
            return False
        if variant != config:
            out[key] = (label, variant)
            return True
        return False

    if "depth" in fields and getattr(config, "depth", 1) > 1:
        d = shallower_depth(config.depth)
        attempt("shallower", f"shallower (depth {d})", depth=d)
    if "activation" in fields and config.activation != "relu":
        attempt("relu", "ReLU", activation="relu")
    if "init" in fields and config.init != "he":
        attempt("he", "He init", init="he")
    if "residual" in fields and not getattr(config, "residual"):
        attempt("residual", "residual", residual=True) or attempt("residual", "residual", residual="on")
    for name in ("norm", "normalization", "normalisation"):
        if name in fields:
            for value in ("batch", "batchnorm", "batch_norm"):
                if attempt("batchnorm", "batch norm", **{name: value}):
                    break
            break
    for name in ("batchnorm", "batch_norm"):
        if name in fields and "batchnorm" not in out:
            attempt("batchnorm", "batch norm", **{name: True})
    return out


# =============================================================================================
# helpers
# =============================================================================================
def _window(history: History, steps: int) -> np.ndarray:
    """Indices of the rows within the last `steps` steps (at least the last row)."""
    s = history.steps
    start = int(np.searchsorted(s, s[-1] - steps + 1, side="left"))
    return np.arange(min(start, len(s) - 1), len(s))


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else float("nan")


def _nanmean_axis0(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    count = ok.sum(0)
    total = np.where(ok, a, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _nanmedian(a: np.ndarray, axis: int) -> np.ndarray:
    out = np.full(a.shape[1 - axis], np.nan)
    for j in range(a.shape[1 - axis]):
        col = a[:, j] if axis == 0 else a[j]
        col = col[np.isfinite(col)]
        if len(col):
            out[j] = np.median(col)
    return out


def _order(v: float) -> int | None:
    return int(math.floor(math.log10(v))) if np.isfinite(v) and v > 0 else None


def _fold(fold: float | None) -> str:
    if fold is None or not math.isfinite(fold):
        return "∞×"
    if fold >= 1e4:
        return f"{fold:.1e}×".replace("e+0", "e").replace("e+", "e")
    return f"{fold:,.0f}×"


def _clean(value):
    """JSON-ready: numpy scalars/arrays to Python, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    return value

