"""GradientProbe: gradient statistics of any torch.nn.Module, cheap enough for every step.

    probe = GradientProbe(model)   # hooks; probe.close() or `with` removes them
    loss.backward()
    probe.param_stats()            # {name: {"mean_abs": float, "l2": float}}

Besides parameter gradients (read after backward, no hook needed) the probe
keeps, for every nn.Linear, the gradient of the loss with respect to that
layer's output z (its pre-activation), δ = dL/dz. A forward hook registers a
tensor hook on z that only stores a reference; all norms are then taken in a
few batched torch calls after backward (docs/performance.md#instrumentation-cost: per-layer `.item()` calls
and full backward hooks are what make instrumentation expensive). A plain
nn.Sequential needs no hooks: `probe.forward(x)` walks its layers and retains
each z's gradient, as the Trainer does.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..layers import ResidualSum
from .flat import FlatParameters


_EMPTY = np.zeros(0)
_EMPTY.flags.writeable = False


def _norms(tensors: list[torch.Tensor], ord: float) -> list[torch.Tensor]:
    foreach = getattr(torch, "_foreach_norm", None)
    if foreach is not None:
        return list(foreach(tensors, ord))
    return [torch.linalg.vector_norm(t, ord) for t in tensors]  # pragma: no cover - old torch


@dataclass(frozen=True)
class LayerCapture:
    """Per-Linear-layer numbers of one backward pass, as detached numpy arrays."""

    names: tuple[str, ...]
    grad_mean_abs: np.ndarray        # (L,) mean |dL/dW| of each weight matrix
    grad_l2: np.ndarray              # (L,) ‖dL/dW‖
    delta_l2: np.ndarray             # (L,) ‖δ‖ over batch × units
    delta_mean_abs: tuple[np.ndarray, ...]   # per layer (units,): batch mean |δ_j|
    edge_abs: tuple[np.ndarray, ...] | None  # per layer (out, in): |dL/dW_ij|
    activation_std: np.ndarray               # (L-1,) std of the input of every Linear but the first (forward signal)
    skip_grad_mean_abs: np.ndarray           # (B,) mean |dL/du| at each residual sum u (skip path)
    grad_norm_total: float                   # ‖g‖ over every parameter gradient
    grad_zero_fraction: np.ndarray           # (L,) fraction of dL/dW entries exactly 0 (underflow, dead units)


class GradientProbe:
    def __init__(self, model: nn.Module, *, flat: "FlatParameters | None" = None):
        self.model = model
        self._params = list(model.parameters())  # walking the module tree each step costs ~0.2 ms
        self._linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        self._deltas: dict[int, torch.Tensor] = {}
        # The forward signal: the input of every Linear layer but the first (for a stack of
        # layers, the previous layer's activation output) — read from the same hook, for free.
        self._inputs: dict[int, torch.Tensor] = {}
        self._skip_grads: dict[int, torch.Tensor] = {}
        # Residual blocks (vgviz.core.layers.ResidualSum) keep their sum u in `last_sum`.
        self._blocks = [m for m in model.modules() if isinstance(m, ResidualSum)]
        self._handles = []
        self._closed = False
        self._names = tuple(n for n, _ in self._linears)
        # A plain nn.Sequential whose Linear layers are its own children (vgviz's MLPs) needs
        # no hooks: forward() walks its layers and keeps each Linear's input and output,
        # whose gradient autograd retains in C++ (Tensor.retain_grad). In a training step the
        # hooks cost ~20 µs a layer (the module's slow call path, a Python tensor hook and its
        # handle): without them a full step of a 20×64 MLP went from 4.2 to 3.4 ms.
        layers = list(model) if type(model) is nn.Sequential else []
        direct = [m for m in layers if isinstance(m, nn.Linear)]
        self._sequence = ([(m, isinstance(m, nn.Linear)) for m in layers]
                          if layers and direct == [m for _, m in self._linears] else None)
        self._outputs: list[torch.Tensor] | None = None  # the Linear outputs of the last forward()
        # what a light capture leaves out: NaN per layer, shared (read-only) by every capture
        self._not_measured = np.full(len(self._linears), np.nan)
        self._not_measured.flags.writeable = False
        self.enabled = True
        # Parameters and gradients in one flat buffer each (vgviz.core.measure.flat, set up by the
        # Trainer): the per-layer gradient sums then come from zero-copy numpy views.
        self.flat = None
        if flat is not None:
            index = {id(p): i for i, p in enumerate(flat.params)}
            weights = [id(m.weight) for _, m in self._linears]
            if all(w in index for w in weights):
                self.flat = flat
                self._weight_index = np.array([index[w] for w in weights], dtype=np.int64)
                self._weight_counts = flat.sizes[self._weight_index].astype(np.float64)

    @property
    def enabled(self) -> bool:
        """False: no hooks are registered (a light step needs only the parameter gradients,
        and even hooks that return at once cost ~3 µs a layer per step)."""
        return bool(self._handles)

    @enabled.setter
    def enabled(self, on: bool) -> None:
        if on and not self._handles and not self._closed:
            self._handles = [m.register_forward_hook(self._make_forward_hook(i))
                             for i, (_, m) in enumerate(self._linears)]
            for i, block in enumerate(self._blocks):
                self._handles.append(block.register_forward_hook(self._make_block_hook(i)))
        elif not on and self._handles:
            for h in self._handles:
                h.remove()
            self._handles = []

    def _make_block_hook(self, index: int):
        grads = self._skip_grads

        def store(grad: torch.Tensor) -> None:
            grads[index] = grad

        def block_hook(module, inputs, output):
            u = module.last_sum
            if isinstance(u, torch.Tensor) and u.requires_grad:
                u.register_hook(store)

        return block_hook

    # -- hooks ---------------------------------------------------------------
    def _make_forward_hook(self, index: int):
        deltas, layer_inputs = self._deltas, self._inputs

        def store(grad: torch.Tensor) -> None:
            deltas[index] = grad

        def forward_hook(module, inputs, output):
            if isinstance(output, torch.Tensor) and output.requires_grad:
                output.register_hook(store)
                if index:
                    layer_inputs[index] = inputs[0]

        return forward_hook

    def forward(self, x: torch.Tensor, record: bool = True) -> torch.Tensor:
        """self.model(x). record=True keeps what capture() needs (δ and the forward signal),
        through the hooks or, for a plain nn.Sequential, by walking its layers; record=False
        registers no hooks at all (capture_light() needs only the parameter gradients)."""
        if not record or self._sequence is None or self._closed:
            self._outputs = None
            self.enabled = record
            return self.model(x)
        self.enabled = False
        inputs = self._inputs
        inputs.clear()
        outputs = self._outputs = []
        h = x
        for layer, is_linear in self._sequence:
            if is_linear:
                if outputs:
                    inputs[len(outputs)] = h
                h = layer(h)
                if h.requires_grad:
                    h.retain_grad()
                outputs.append(h)
            else:
                h = layer(h)
        return h

    def close(self) -> None:
        self.enabled = False
        self._closed = True
        self._outputs = None
        self._deltas.clear()
        self._inputs.clear()
        self._skip_grads.clear()

    def __enter__(self) -> "GradientProbe":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- results -------------------------------------------------------------
    @property
    def linear_names(self) -> list[str]:
        return [n for n, _ in self._linears]

    def param_stats(self) -> dict[str, dict[str, float]]:
        """mean |g| and ‖g‖ of every parameter that has a gradient, in named_parameters() order."""
        named = [(n, p.grad.detach()) for n, p in self.model.named_parameters() if p.grad is not None]
        if not named:
            return {}
        names, grads = zip(*named)
        l1 = _norms(list(grads), 1)
        l2 = _norms(list(grads), 2)
        both = torch.stack([torch.stack([a.double() for a in l1]), torch.stack([b.double() for b in l2])])
        values = both.cpu().numpy()
        counts = np.array([g.numel() for g in grads], dtype=np.float64)
        return {n: {"mean_abs": float(values[0, i] / counts[i]), "l2": float(values[1, i])}
                for i, n in enumerate(names)}

    def delta(self, index: int) -> torch.Tensor | None:
        """dL/dz of the index-th Linear layer from the last backward pass (batch, units)."""
        if self._outputs is not None:
            return self._outputs[index].grad if 0 <= index < len(self._outputs) else None
        return self._deltas.get(index)

    def _flat_ready(self) -> bool:
        return self.flat is not None and self.flat.grads_attached()

    def _weight_numbers(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Σ|dL/dW| and ‖dL/dW‖ of every Linear weight and the global ‖g‖, from a
        FlatParameters.step_sums(): a handful of operations on (4, L) numbers, every step."""
        flat = self.flat
        per_layer = sums[:, self._weight_index]
        return (per_layer[flat.ABS], np.sqrt(per_layer[flat.SQUARE]),
                math.sqrt(sums[flat.SQUARE].sum()))

    def capture_light(self, sums: np.ndarray | None = None) -> LayerCapture:
        """Only what the per-step history needs — mean |dL/dW| and ‖dL/dW‖ per layer and the
        global norm; no δ, no edges, no forward signal. `sums`: this backward's
        FlatParameters.step_sums(), where the caller took them."""
        n = len(self._linears)
        if sums is None and self._flat_ready():
            sums = self.flat.step_sums()
        if sums is not None:
            l1, l2, total = self._weight_numbers(sums)
            counts = self._weight_counts
        else:
            weights = [m.weight.grad for _, m in self._linears]
            if any(w is None for w in weights):
                raise RuntimeError("GradientProbe.capture_light(): call loss.backward() first")
            all_grads = [p.grad for p in self._params if p.grad is not None]
            with torch.no_grad():
                norms = torch.stack(_norms(weights, 1) + _norms(weights, 2)
                                    + _norms(all_grads, 2)).double().cpu().numpy()
            l1, l2 = norms[:n], norms[n:2 * n]
            total = float(np.sqrt(np.sum(norms[2 * n:] ** 2)))
            counts = np.array([w.numel() for w in weights], dtype=np.float64)
        missing = self._not_measured
        return LayerCapture(
            names=self._names, grad_mean_abs=l1 / counts, grad_l2=l2,
            delta_l2=missing, delta_mean_abs=(), edge_abs=None, activation_std=_EMPTY,
            skip_grad_mean_abs=_EMPTY, grad_norm_total=total, grad_zero_fraction=missing,
        )

    def capture(self, edges: bool = True, sums: np.ndarray | None = None) -> LayerCapture:
        """Numbers of every Linear layer from the last backward pass.

        A handful of large array operations rather than a few per layer: the δ of all
        layers are concatenated along the unit axis (they share the batch axis), so are the
        layers' inputs, and per-unit sums are matrix-vector products; per-layer numbers are
        cut out of those. This keeps the probe's cost flat in the number of layers.
        `sums`: this backward's FlatParameters.step_sums(), where the caller took them.
        """
        deltas = [self.delta(i) for i in range(len(self._linears))]
        if any(d is None for d in deltas):
            raise RuntimeError("GradientProbe.capture(): a Linear layer saw no backward pass "
                               "(call loss.backward() first)")
        n = len(deltas)
        skips = [self._skip_grads[i] for i in range(len(self._blocks)) if i in self._skip_grads]
        inputs = [self._inputs[i] for i in range(1, n) if i in self._inputs]
        with torch.no_grad():
            rows = [d if d.dim() == 2 else d.reshape(-1, d.shape[-1]) for d in deltas]
            bounds = _bounds(tuple(r.shape[1] for r in rows))
            if len({r.shape[0] for r in rows}) == 1:
                # every δ as one (batch, units) matrix: per-unit Σ|δ| and Σδ² in one pass
                abs_sum, square_sum = _column_sums(torch.cat(rows, 1))
                delta_mean_flat = abs_sum / rows[0].shape[0]
                delta_l2 = np.sqrt(np.add.reduceat(square_sum, bounds[:-1]))
            else:  # a model that applies its Linear layers to differently shaped inputs
                delta_mean_flat = torch.cat([r.abs().mean(0) for r in rows]).double().cpu().numpy()
                delta_l2 = torch.stack(_norms(rows, 2)).double().cpu().numpy()
            skip_mean = (torch.stack([s.abs().mean() for s in skips]).double().cpu().numpy()
                         if skips else _EMPTY)
            edge_abs = None
            if sums is None and self._flat_ready():
                sums = self.flat.step_sums()
            if sums is not None:
                flat, index = self.flat, self._weight_index
                counts = self._weight_counts
                grad_l1, grad_l2, total = self._weight_numbers(sums)
                magnitude = flat.grad_abs()          # a fresh array: the edges are views of it
                nonzero = flat.nonzero_counts(magnitude)[index]
                if edges:
                    edge_abs = tuple(magnitude[flat.starts[i]:flat.starts[i] + flat.sizes[i]]
                                     .reshape(flat.params[i].shape) for i in index)
            else:
                weights = [m.weight.grad for _, m in self._linears]
                if any(w is None for w in weights):
                    raise RuntimeError("GradientProbe.capture(): call loss.backward() first")
                counts = np.array([w.numel() for w in weights], dtype=np.float64)
                all_grads = [p.grad for p in self._params if p.grad is not None]
                norms = torch.stack(_norms(weights, 1) + _norms(weights, 2) + _norms(weights, 0)
                                    + _norms(all_grads, 2)).double().cpu().numpy()
                grad_l1, grad_l2, nonzero = norms[:n], norms[n:2 * n], norms[2 * n:3 * n]
                total = float(np.sqrt(np.sum(norms[3 * n:] ** 2)))
                if edges:
                    flat_w = torch.cat([w.reshape(-1) for w in weights]).abs_()
                    if flat_w.dtype not in (torch.float32, torch.float64):
                        flat_w = flat_w.float()  # numpy has no bfloat16/half
                    parts = np.split(flat_w.cpu().numpy(), np.cumsum(counts.astype(np.int64))[:-1])
                    edge_abs = tuple(p.reshape(w.shape) for p, w in zip(parts, weights))
            act_std = np.zeros(0)
            act_rows = [a if a.dim() == 2 else a.reshape(-1, a.shape[-1]) for a in inputs]
            if act_rows and len({r.shape[0] for r in act_rows}) == 1:
                act_std = _layer_std(torch.cat(act_rows, 1), _bounds(tuple(r.shape[1] for r in act_rows)))
            elif act_rows:
                act_std = torch.stack([r.double().std(correction=0) for r in act_rows]).cpu().numpy()
        return LayerCapture(
            names=self._names,
            grad_mean_abs=grad_l1 / counts,
            grad_l2=grad_l2,
            delta_l2=delta_l2,
            delta_mean_abs=tuple(delta_mean_flat[a:b] for a, b in zip(bounds[:-1], bounds[1:])),
            edge_abs=edge_abs,
            activation_std=act_std,
            skip_grad_mean_abs=skip_mean,
            grad_norm_total=total,
            grad_zero_fraction=1.0 - nonzero / counts,
        )


@functools.lru_cache(maxsize=64)
def _bounds(widths: tuple[int, ...]) -> np.ndarray:
    """Where each layer's units start in the concatenation, and the end: (L + 1,)."""
    return np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)


def _numpy_scratch(m: torch.Tensor) -> np.ndarray:
    """A freshly made (cat) tensor as a numpy array that may be overwritten."""
    if m.dtype not in (torch.float32, torch.float64):
        m = m.float()  # numpy has no bfloat16/half
    return m.cpu().numpy()


def _column_sums(m: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Σ|x| and Σx² of every column of a fresh 2-D tensor (overwritten), as float64."""
    x = _numpy_scratch(m)
    ones = np.ones(x.shape[0], dtype=x.dtype)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged net: inf/NaN pass through
        np.abs(x, out=x)
        abs_sum = (ones @ x).astype(np.float64)
        np.multiply(x, x, out=x)
        return abs_sum, (ones @ x).astype(np.float64)


def _layer_std(m: torch.Tensor, bounds: np.ndarray) -> np.ndarray:
    """The std over batch × units of each layer's block of columns of a fresh 2-D tensor."""
    x = _numpy_scratch(m)
    batch = x.shape[0]
    units = np.diff(bounds)
    ones = np.ones(batch, dtype=x.dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # a diverged net: inf/NaN pass through
        # per-unit sums of the data shifted by its first row (which keeps float32 from
        # cancelling when a unit's mean dwarfs its spread), then per-layer variance =
        # mean of the units' variances + variance of their means
        shift = x[0].astype(np.float64)
        x -= x[0].copy()
        first = (ones @ x).astype(np.float64)
        np.multiply(x, x, out=x)
        second = (ones @ x).astype(np.float64)
        mean = shift + first / batch
        var = np.maximum(second / batch - (first / batch) ** 2, 0.0)
        starts = bounds[:-1]
        layer_mean = np.add.reduceat(mean, starts) / units
        within = np.add.reduceat(var, starts) / units
        between = np.add.reduceat((mean - np.repeat(layer_mean, units)) ** 2, starts) / units
        return np.sqrt(within + between)
