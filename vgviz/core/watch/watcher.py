"""Watch: every step's gradient norms per trainable parameter (the other PARAM_STATS at
capture steps), computed on the parameters' device and fetched in one transfer, and full
captures of every layer (vgviz.core.watch.layers) at most capture_hz times a second, written
to a run file (vgviz.core.runfile)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..layout.module_diagram import MAX_UNITS
from ..measure.stats import StepStats
from ..runfile import RunWriter, StoragePolicy, describe_model
from .layers import LayerCapture, find_layers

# Full captures take at most this share of the training time (besides capture_hz): on a
# LeNet step of ~5 ms a capture costs about one step, so one in ~100 steps is captured
# (~2 a second); the every-step sums take the rest of the 5 % budget.
CAPTURE_SHARE = 0.01
_WRAPPER_PREFIX = "module."
# layers whose weight is drawn as units and edges (the module diagram's UNIT_KINDS)
_EDGE_KINDS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or FSDP wrapper (whose names start "module.")."""
    wrappers = []
    if torch.distributed.is_available():
        from torch.nn.parallel import DistributedDataParallel
        wrappers.append(DistributedDataParallel)
        try:
            from torch.distributed.fsdp import FullyShardedDataParallel
            wrappers.append(FullyShardedDataParallel)
        except ImportError:  # pragma: no cover - builds without FSDP
            pass
    while wrappers and isinstance(model, tuple(wrappers)):
        model = model.module
    return model


def _rank() -> int:
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _CpuSums:
    """(‖g‖, Σ|g|) of each CPU gradient, float64: the gradients copied in one call into one
    float32 buffer, whose absolute values and then squares are summed per tensor by numpy in
    place (pairwise sums: rounding stays near 1e-7 relative). The buffer is kept while the
    shapes stay: a fresh allocation of this size page-faults at every step. In a training
    loop right after backward, where every call runs from cold caches, this costs about half
    of two torch reductions per tensor (docs/performance.md#run-files-and-watch)."""

    def __init__(self):
        self._shapes: list[torch.Size] | None = None

    def __call__(self, grads: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
        shapes = [g.shape for g in grads]
        if shapes != self._shapes:
            sizes = [g.numel() for g in grads]
            starts = np.cumsum((0, *sizes[:-1])) if sizes else np.zeros(0, dtype=np.intp)
            self._flat = torch.empty(sum(sizes), dtype=torch.float32)
            self._views = [self._flat[a:a + n].view(shape) for a, n, shape in zip(starts, sizes, shapes)]
            self._values = self._flat.numpy()
            # reduceat reads an empty tensor's start as one element: those are left at 0
            self._nonempty = np.asarray(sizes) > 0
            self._starts = starts[self._nonempty]
            self._shapes = shapes
        torch._foreach_copy_(self._views, grads)      # half precision and float64 converted on the way
        values, starts = self._values, self._starts
        if not len(starts):
            return np.zeros(len(grads)), np.zeros(len(grads))
        # in place, one buffer: |g| summed, then |g|² = g² summed (a second buffer's size in
        # cache evicted the model's own working set: the next step ran slower)
        abs_sums = np.add.reduceat(np.abs(values, out=values), starts)
        l2_sums = np.sqrt(np.add.reduceat(np.square(values, out=values), starts), dtype=np.float64)
        if len(starts) == len(grads):     # the usual case: no empty tensor
            return l2_sums, abs_sums.astype(np.float64)
        l2, l1 = np.zeros(len(grads)), np.zeros(len(grads))
        l2[self._nonempty], l1[self._nonempty] = l2_sums, abs_sums
        return l2, l1


class Watch:
    """Records one training loop; see vgviz.watch. On a torch.distributed rank other than 0
    it does nothing at all (no file, no hooks); `active` says which."""

    def __init__(self, model: nn.Module, out: str | os.PathLike, *, window: bool = False,
                 capture_hz: float = 25.0, overwrite: bool = False, update_ratio: bool = True,
                 policy: StoragePolicy | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"vgviz.watch: model must be a torch.nn.Module, not {type(model).__name__}")
        if not (isinstance(capture_hz, (int, float)) and math.isfinite(capture_hz) and capture_hz >= 0):
            raise ValueError(f"vgviz.watch: capture_hz must be a number >= 0, not {capture_hz!r}")
        self.path = Path(out)
        self.step_count = 0
        self.active = _rank() == 0
        self.window: subprocess.Popen | None = None
        if not self.active:
            return
        inner = _unwrap(model)
        self.model = inner
        named = [(n, p) for n, p in inner.named_parameters() if p.requires_grad]
        self.param_names = tuple(n for n, _ in named)
        self.params = [p for _, p in named]
        self.layers = find_layers(inner, {id(p): i for i, p in enumerate(self.params)})
        self.layer_names = tuple(layer.name for layer in self.layers)
        self.capture_hz = float(capture_hz)
        self._capture = LayerCapture(self.layers)
        self._sizes = np.array([p.numel() for p in self.params], dtype=np.float64)
        self._blank = np.full((6, len(self.params)), np.nan)   # a step's PARAM_STATS before any is known
        self._update_ratio = update_ratio
        self._cpu_sums = _CpuSums()      # the CPU's every-step sums, with buffers kept between steps
        self._snapshot: list[torch.Tensor] | None = None   # the weights at the last capture step
        self._last_call = time.perf_counter()
        self._plain_interval = 0.0       # moving average of a step's period without a capture
        self._pending: tuple[int, float, float, np.ndarray] | None = None
        self._since_capture = 0          # steps since the last capture step
        self._capture_cost = 0.0         # the last capture's cost in seconds (_account)
        self._collect_s = 0.0            # its collecting, timed directly
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = RunWriter(self.path, config=None, model=describe_model(inner),
                                param_names=self.param_names, layer_names=self.layer_names,
                                overwrite=overwrite, policy=policy)
        self.writer.flush()
        self._capture.arm()          # step 0 is always captured
        if window:
            self.window = subprocess.Popen([sys.executable, "-m", "vgviz", "open", str(self.path)],
                                           stdin=subprocess.DEVNULL)

    # -- every step ------------------------------------------------------------------------------
    def step(self, loss: torch.Tensor | float, accuracy: float | None = None) -> None:
        """Record this step: call it after loss.backward() and before optimizer.step()."""
        step = self.step_count
        self.step_count += 1
        if not self.active:
            return
        self._check_open()
        now = time.perf_counter()
        interval, self._last_call = now - self._last_call, now
        captured = self._capture.armed
        self._account(interval, captured)
        stats, loss_value = self._param_stats(loss, full=captured)
        acc = float("nan") if accuracy is None else float(accuracy)
        if self._pending is not None:
            self.writer.append_step(*self._pending)
        self._pending = (step, loss_value, acc, stats)
        if captured:
            self.writer.append_capture(step, self._full_capture(step, loss_value, acc, stats))
            self._capture.disarm()
            self._collect_s = time.perf_counter() - now
            self._capture_cost += self._collect_s if not self._plain_interval else 0.0
        if self._capture_due():
            self._capture.arm()

    def _account(self, interval: float, captured: bool) -> None:
        """What captures cost, measured in the loop itself: the time between two calls of
        step() over a plain one's, at the capture step (its hooks), the next (the collecting,
        and caches the capture filled with its numbers) and the one after (the update ratio's
        weights). Each excess is capped at two plain steps beyond the collecting, so that a
        pause in the user's loop (an evaluation) is not taken for a capture's cost."""
        plain = self._plain_interval
        if captured:
            self._since_capture = 0
            self._capture_cost = 0.0
        else:
            self._since_capture += 1
        if self._since_capture <= 2 and self.step_count > 1:
            if plain:
                cap = 2 * plain + (self._collect_s if self._since_capture == 1 else 0.0)
                self._capture_cost += min(max(0.0, interval - plain), cap)
        elif self.step_count > 1:
            # a pause in the loop (an evaluation) moves the average by at most 10 %
            self._plain_interval = plain + 0.1 * (min(interval, 2 * plain) - plain) if plain else interval

    def _capture_due(self) -> bool:
        """Whether the next step is captured: counted in steps of the plain step's period, so
        that time the loop spends elsewhere (another model, an evaluation) is not training
        time between captures; at most capture_hz a second and CAPTURE_SHARE of the steps' time."""
        plain = self._plain_interval
        if self.capture_hz <= 0 or not plain:
            return False
        wait = max(1.0 / self.capture_hz, self._capture_cost / CAPTURE_SHARE)
        return self._since_capture + 1 >= wait / plain

    def _param_stats(self, loss, full: bool) -> tuple[np.ndarray, float]:
        """(6, P) PARAM_STATS of this step and the loss, in a few batched calls on the
        parameters' device and one transfer. Every step: ‖g‖ and mean |g|. A capture step
        (full) adds max |g|, the zero fraction and ‖W‖, and keeps the weights, so that the next
        call fills in the capture's update_ratio (‖ΔW‖/‖W‖ after the update, as the built-in
        trainer has it) and its own ‖W‖; the other steps read NaN there (‖W‖ changes slowly,
        and skipping it halves the every-step work)."""
        params = self.params
        grads = [p.grad for p in params]
        if grads and not full and self._snapshot is None and all(g is not None and g.is_cpu for g in grads):
            # the common step on the CPU: the two sums and the loss, nothing else
            l2, l1 = self._cpu_sums(grads)
            stats = self._blank.copy()
            stats[0], stats[1] = l2, l1 / self._sizes
            return stats, loss.item() if isinstance(loss, torch.Tensor) else float(loss)
        has_grad = [i for i, g in enumerate(grads) if g is not None]
        update = self._snapshot is not None
        weigh = full or update
        with torch.no_grad():
            grads = [grads[i] for i in has_grad] if len(has_grad) < len(grads) else grads
            on_cpu = bool(grads) and all(g.is_cpu for g in grads)
            # CPU: both sums from one copy of the gradients, in numpy (half the time of two
            # torch reductions per tensor); elsewhere on the device, fetched with the rest
            sums = self._cpu_sums(grads) if on_cpu else None
            norms = [*torch._foreach_norm(grads, 2), *torch._foreach_norm(grads, 1)] if grads and not on_cpu else []
            if full and grads:
                norms += [*torch._foreach_norm(grads, float("inf")), *torch._foreach_norm(grads, 0)]
            if update:
                torch._foreach_sub_(self._snapshot, params)
            if weigh:     # weights read under no_grad: no detach() needed
                norms += torch._foreach_norm(params + (self._snapshot or []), 2)
            if isinstance(loss, torch.Tensor):
                if norms:
                    norms.append(loss.detach().reshape(()))
                else:
                    loss = loss.item()
            values = torch.stack(norms).cpu().double().numpy() if norms else np.zeros(0)
            self._snapshot = [p.detach().clone() for p in params] if full and self._update_ratio else None
        k, P = len(grads), len(params)
        loss_value = float(values[-1]) if isinstance(loss, torch.Tensor) else float(loss)
        if sums is not None:     # the numpy sums first, as the device path has them
            values = np.concatenate([*sums, values])
        stats = np.full((6, P), np.nan)
        if k:
            sizes = self._sizes[has_grad]
            stats[0, has_grad], stats[1, has_grad] = values[:k], values[k:2 * k] / sizes
            if full:
                stats[2, has_grad], stats[3, has_grad] = values[2 * k:3 * k], 1.0 - values[3 * k:4 * k] / sizes
        if weigh:
            at = 4 * k if full else 2 * k
            stats[4] = values[at:at + P]
        if update:
            delta = values[at + P:at + 2 * P]
            with np.errstate(divide="ignore", invalid="ignore"):
                self._pending[3][5] = np.where(stats[4] > 0, delta / stats[4], np.where(delta > 0, np.inf, 0.0))
        return stats, loss_value

    def _full_capture(self, step: int, loss: float, accuracy: float, stats: np.ndarray) -> StepStats:
        numbers = self._capture.collect()
        l2, mean_abs, zero = [], [], []
        for layer in self.layers:
            cols = list(layer.weight)
            size = self._sizes[cols].sum()
            l2.append(math.sqrt(np.sum(stats[0, cols] ** 2)))
            mean_abs.append(np.sum(stats[1, cols] * self._sizes[cols]) / size)
            zero.append(np.sum(stats[3, cols] * self._sizes[cols]) / size)
        return StepStats(
            step=step, loss=loss, accuracy=accuracy, diverged=not math.isfinite(loss),
            layer_names=self.layer_names, grad_mean_abs=np.array(mean_abs), grad_l2=np.array(l2),
            delta_l2=numbers["delta_l2"], delta_mean_abs=numbers["delta_mean_abs"], edge_abs=self._edges(),
            activation_std=numbers["activation_std"], timestep_grad=numbers["timestep_grad"],
            layer_timestep_grad=numbers["layer_timestep_grad"],
            grad_norm_total=float(np.sqrt(np.nansum(stats[0] ** 2))), grad_zero_fraction=np.array(zero),
            param_stats=stats.copy(), param_names=self.param_names, layer_uses=numbers["uses"])

    def _edges(self) -> tuple[np.ndarray, ...]:
        """Per layer, the (out, in) edge magnitudes the module diagram draws: |dL/dW| of a
        Linear layer, the norm of each (out, in) channel pair's kernel gradient of a Conv layer,
        for layers of at most MAX_UNITS inputs and outputs; an empty (0, 0) array for the
        others (too large, another kind, grouped, no gradient). One transfer."""
        shapes, parts = [], []
        with torch.no_grad():
            for layer in self.layers:
                module = layer.module
                grad = getattr(getattr(module, "weight", None), "grad", None)
                # a sharded weight (FSDP) holds a flat piece of it: no (out, in) layout to draw
                drawable = (type(module) in _EDGE_KINDS and grad is not None and getattr(module, "groups", 1) == 1
                            and grad.dim() == (2 if isinstance(module, nn.Linear) else module.weight.dim())
                            and grad.dim() >= 2 and max(grad.shape[:2]) <= MAX_UNITS)
                if not drawable:
                    shapes.append((0, 0))
                    continue
                edges = grad.abs() if grad.dim() == 2 else grad.flatten(2).norm(dim=2)
                shapes.append(tuple(edges.shape))
                parts.append(edges.reshape(-1).float())
            if not parts:
                return tuple(np.zeros((0, 0), np.float32) for _ in shapes)
            values = torch.cat([p.to(parts[0].device) for p in parts]).cpu().numpy()
        out, at = [], 0
        for shape in shapes:
            size = shape[0] * shape[1]
            out.append(values[at:at + size].reshape(shape))
            at += size
        return tuple(out)

    # -- closing -----------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.writer.closed:
            raise ValueError(f"vgviz.watch: {self.path} is closed; step() belongs inside the `with` block")

    def close(self, interrupted: bool = False) -> None:
        """Write the last step (with the update the optimizer applied after it), note
        "finished" (or "interrupted": the `with` block ended in an exception) and close the file."""
        if not self.active or self.writer.closed:
            return
        self._capture.disarm()
        if self._pending is not None:
            if self._snapshot is not None:
                self._param_stats(float("nan"), full=False)      # only for the pending step's update_ratio
            self.writer.append_step(*self._pending)
            self._pending = None
        if interrupted:
            self.writer.append_event(self.step_count, "interrupted", "the training loop raised an exception")
        else:
            self.writer.append_event(self.step_count, "finished")
        self.writer.close()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(interrupted=exc_type is not None)


def watch(model: nn.Module, out: str | os.PathLike, *, window: bool = False, capture_hz: float = 25.0,
          overwrite: bool = False, update_ratio: bool = True, policy: StoragePolicy | None = None) -> Watch:
    """Record a training loop into the run file `out` (docs/watch.md):

        with vgviz.watch(model, out="runs/mine.vgrun") as w:
            ...; loss.backward(); w.step(loss); optimizer.step()

    Every step: the loss and six numbers per trainable parameter (NaN for one without a
    gradient). At most `capture_hz` times a second: every layer's δ, forward signal and
    uses. `window=True` opens the file in the vgviz window, in another process.
    `update_ratio=False` skips ‖ΔW‖/‖W‖ and the copy of the weights it needs."""
    return Watch(model, out, window=window, capture_hz=capture_hz, overwrite=overwrite,
                 update_ratio=update_ratio, policy=policy)
