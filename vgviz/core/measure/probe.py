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


# layers with parameters whose δ and forward signal the probe cannot give (it measures
# nn.Linear layers): it refuses them unless told linear_only=True
_UNMEASURED = (nn.modules.conv._ConvNd, nn.RNNBase, nn.RNNCellBase, nn.MultiheadAttention,
               nn.Embedding, nn.EmbeddingBag)


class GradientProbe:
    def __init__(self, model: nn.Module, *, flat: "FlatParameters | None" = None, linear_only: bool = False):
        unmeasured = [f"{name} ({type(m).__name__})" for name, m in model.named_modules()
                      if isinstance(m, _UNMEASURED) and not linear_only]
        if unmeasured:
            listed = ", ".join(unmeasured[:3]) + (f" and {len(unmeasured) - 3} more" if len(unmeasured) > 3 else "")
            raise ValueError(f"GradientProbe measures nn.Linear layers only; {listed} would get no δ and no "
                             "forward signal: use vgviz.watch(model, out=...) for every layer, or "
                             "GradientProbe(model, linear_only=True) for the Linear layers alone")
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
            # a new call of the model starts a new count of each layer's uses
            self._handles = [self.model.register_forward_pre_hook(self._make_new_forward_hook())]
            self._handles += [m.register_forward_hook(self._make_forward_hook(i))
                              for i, (_, m) in enumerate(self._linears)]
            for i, block in enumerate(self._blocks):
                self._handles.append(block.register_forward_hook(self._make_block_hook(i)))
        elif not on and self._handles:
            for h in self._handles:
                h.remove()
            self._handles = []

    def _make_new_forward_hook(self):
        # a closure, not a bound method: copy.deepcopy(model) copies its hooks, and would copy
        # the probe with them (and fail on the non-leaf tensors it holds)
        deltas, layer_inputs = self._deltas, self._inputs

        def new_forward(module, inputs) -> None:
            if torch.is_grad_enabled():     # an evaluation under no_grad keeps the last backward's δ
                deltas.clear()
                layer_inputs.clear()

        return new_forward

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

        def forward_hook(module, inputs, output):
            # a Linear called k times (shared weights) keeps all k uses, in forward order
            if isinstance(output, torch.Tensor) and output.requires_grad:
                uses = deltas.setdefault(index, [])
                uses.append(None)
                slot = len(uses) - 1

                def store(grad: torch.Tensor) -> None:
                    uses[slot] = grad

                output.register_hook(store)
                if index:
                    layer_inputs.setdefault(index, []).append(inputs[0])

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
                    inputs[len(outputs)] = [h]
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
        """dL/dz of the index-th Linear layer from the last backward pass (batch, units); for
        a layer called k times, its k uses one after the other along the batch axis (so
        dL/dW = δᵀ · input still holds, with the inputs stacked alike). None if it got none."""
        if self._outputs is not None:
            return self._outputs[index].grad if 0 <= index < len(self._outputs) else None
        return _stack_uses(self._deltas.get(index))

    def _layer_input(self, index: int) -> torch.Tensor | None:
        return _stack_uses(self._inputs.get(index))

    def _flat_ready(self) -> bool:
        return self.flat is not None and self.flat.grads_attached()

    def _weight_numbers(self, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Σ|dL/dW| and ‖dL/dW‖ of every Linear weight and the global ‖g‖, from a
        FlatParameters.step_sums(): a handful of operations on (4, L) numbers, every step."""
        flat = self.flat
        per_layer = sums[:, self._weight_index]
        return (per_layer[flat.ABS], np.sqrt(per_layer[flat.SQUARE]),
                math.sqrt(sums[flat.SQUARE].sum()))

    def _no_backward(self, what: str) -> RuntimeError:
        return RuntimeError(f"GradientProbe.{what}(): no parameter has a gradient (call loss.backward() first)")

    def _tensor_weight_numbers(self, edges: bool):
        """Without a flat buffer: Σ|dL/dW|, ‖dL/dW‖, nonzero count and |dL/dW| of every Linear
        weight (NaN, or zeros for the edges, where a frozen or unused layer has no gradient),
        the global ‖g‖ and the weights' sizes, from a few batched calls."""
        n = len(self._linears)
        weights = [m.weight for _, m in self._linears]
        counts = np.array([w.numel() for w in weights], dtype=np.float64)
        present = [i for i, w in enumerate(weights) if w.grad is not None]
        all_grads = [p.grad for p in self._params if p.grad is not None]
        if not all_grads:
            raise self._no_backward("capture")
        grads = [weights[i].grad for i in present]
        k = len(grads)
        with torch.no_grad():
            norms = torch.stack(_norms(grads, 1) + _norms(grads, 2) + _norms(grads, 0)
                                + _norms(all_grads, 2)).double().cpu().numpy()
        l1, l2, nonzero = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        l1[present], l2[present], nonzero[present] = norms[:k], norms[k:2 * k], norms[2 * k:3 * k]
        total = float(np.sqrt(np.sum(norms[3 * k:] ** 2)))
        edge_abs = None
        if edges:
            matrices = [np.zeros(tuple(w.shape), dtype=np.float32) for w in weights]
            if grads:
                flat_w = torch.cat([g.reshape(-1) for g in grads]).abs_()
                if flat_w.dtype not in (torch.float32, torch.float64):
                    flat_w = flat_w.float()  # numpy has no bfloat16/half
                sizes = counts[present].astype(np.int64)
                for i, part in zip(present, np.split(flat_w.cpu().numpy(), np.cumsum(sizes)[:-1])):
                    matrices[i] = part.reshape(weights[i].shape)
            edge_abs = tuple(matrices)
        return l1, l2, nonzero, total, counts, edge_abs

    def capture_light(self, sums: np.ndarray | None = None) -> LayerCapture:
        """Only what the per-step history needs — mean |dL/dW| and ‖dL/dW‖ per layer and the
        global norm; no δ, no edges, no forward signal. `sums`: this backward's
        FlatParameters.step_sums(), where the caller took them. A frozen or unused layer
        reads NaN."""
        if sums is None and self._flat_ready():
            sums = self.flat.step_sums()
        if sums is not None:
            l1, l2, total = self._weight_numbers(sums)
            counts = self._weight_counts
        else:
            try:
                l1, l2, _, total, counts, _ = self._tensor_weight_numbers(edges=False)
            except RuntimeError:
                raise self._no_backward("capture_light") from None
        missing = self._not_measured
        return LayerCapture(
            names=self._names, grad_mean_abs=l1 / counts, grad_l2=l2,
            delta_l2=missing, delta_mean_abs=(), edge_abs=None, activation_std=_EMPTY,
            skip_grad_mean_abs=_EMPTY, grad_norm_total=total, grad_zero_fraction=missing,
        )

    def capture(self, edges: bool = True, sums: np.ndarray | None = None) -> LayerCapture:
        """Numbers of every Linear layer from the last backward pass; a frozen or unused
        layer (no δ, no gradient) reads NaN.

        A handful of large array operations rather than a few per layer: the δ of all
        layers are concatenated along the unit axis (they share the batch axis), so are the
        layers' inputs, and per-unit sums are matrix-vector products; per-layer numbers are
        cut out of those. This keeps the probe's cost flat in the number of layers.
        `sums`: this backward's FlatParameters.step_sums(), where the caller took them.
        """
        n = len(self._linears)
        deltas = [self.delta(i) for i in range(n)]
        present = [i for i, d in enumerate(deltas) if d is not None]
        if not present:
            raise RuntimeError("GradientProbe.capture(): no Linear layer got a gradient for its output: "
                               "call loss.backward() after a recording forward pass (probe.forward(x), "
                               "or model(x) with the probe enabled)")
        skips = [self._skip_grads[i] for i in range(len(self._blocks)) if i in self._skip_grads]
        inputs = [self._layer_input(i) for i in range(1, n)]
        inputs = [a for a in inputs if a is not None]
        units = [m.out_features for _, m in self._linears]
        bounds = _bounds(tuple(units))
        with torch.no_grad():
            rows = [d if d.dim() == 2 else d.reshape(-1, d.shape[-1]) for d in (deltas[i] for i in present)]
            delta_mean_flat = np.full(int(bounds[-1]), np.nan)
            delta_l2 = np.full(n, np.nan)
            if rows and len({r.shape[0] for r in rows}) == 1:
                # every δ as one (batch, units) matrix: per-unit Σ|δ| and Σδ² in one pass
                abs_sum, square_sum = _column_sums(torch.cat(rows, 1))
                mean, square = abs_sum / rows[0].shape[0], square_sum
            elif rows:  # Linear layers applied to differently shaped inputs (or used k times)
                mean = torch.cat([r.abs().double().mean(0) for r in rows]).cpu().numpy()
                square = torch.cat([r.double().square().sum(0) for r in rows]).cpu().numpy()
            if rows:
                at = 0
                for i in present:
                    width = units[i]
                    delta_mean_flat[bounds[i]:bounds[i + 1]] = mean[at:at + width]
                    delta_l2[i] = np.sqrt(square[at:at + width].sum())
                    at += width
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
                grad_l1, grad_l2, nonzero, total, counts, edge_abs = self._tensor_weight_numbers(edges)
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


def _stack_uses(uses: list[torch.Tensor | None] | None) -> torch.Tensor | None:
    """One use as it is; several as rows of one (rows, units) matrix; None if one is missing."""
    if not uses or any(u is None for u in uses):
        return None
    if len(uses) == 1:
        return uses[0]
    return torch.cat([u.reshape(-1, u.shape[-1]) for u in uses])


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
