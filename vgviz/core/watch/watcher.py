"""Watch: every step's six numbers per trainable parameter, computed on the parameters'
device and fetched in one transfer, and full captures of every layer (vgviz.core.watch.layers)
at most capture_hz times a second, written to a run file (vgviz.core.runfile)."""
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

from ..measure.stats import StepStats
from ..runfile import RunWriter, StoragePolicy, describe_model
from .layers import LayerCapture, find_layers

# Full captures take at most this share of the training time (besides capture_hz).
CAPTURE_SHARE = 0.02
_WRAPPER_PREFIX = "module."


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
        self._before: list[torch.Tensor] | None = [] if update_ratio else None
        self._pending: tuple[int, float, float, np.ndarray] | None = None
        self._last_capture: float | None = None
        self._capture_cost = 0.0
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
        captured = self._capture.armed
        stats, loss_value = self._param_stats(loss)
        acc = float("nan") if accuracy is None else float(accuracy)
        if self._pending is not None:
            self.writer.append_step(*self._pending)
        self._pending = (step, loss_value, acc, stats)
        if captured:
            t0 = time.perf_counter()
            self.writer.append_capture(step, self._full_capture(step, loss_value, acc, stats))
            self._capture.disarm()
            self._capture_cost = time.perf_counter() - t0
            self._last_capture = time.monotonic()
        if self._capture_due():
            self._capture.arm()

    def _capture_due(self) -> bool:
        if self.capture_hz <= 0:
            return False
        wait = max(1.0 / self.capture_hz, self._capture_cost / CAPTURE_SHARE)
        return time.monotonic() - self._last_capture >= wait

    def _param_stats(self, loss) -> tuple[np.ndarray, float]:
        """(6, P) PARAM_STATS of this step (update_ratio still NaN) and the loss, from one
        transfer; fills in the previous step's update_ratio (its update is visible now)."""
        params = self.params
        with torch.no_grad():
            has_grad = [i for i, p in enumerate(params) if p.grad is not None]
            grads = [params[i].grad for i in has_grad]
            weights = [p.detach() for p in params]
            parts = []
            if grads:
                parts += [torch._foreach_norm(grads, 2), torch._foreach_norm(grads, 1),
                          torch._foreach_norm(grads, float("inf")), torch._foreach_norm(grads, 0)]
            parts.append(torch._foreach_norm(weights, 2))
            update = self._before is not None and len(self._before) == len(weights) and self._pending
            if update:
                torch._foreach_sub_(self._before, weights)
                parts.append(torch._foreach_norm(self._before, 2))
            flat = [t.reshape(()).to(dtype=torch.float64) for part in parts for t in part]
            if isinstance(loss, torch.Tensor):
                flat.append(loss.detach().reshape(()).to(dtype=torch.float64, device=flat[0].device))
            values = torch.stack(flat).cpu().numpy() if flat else np.zeros(0)
            if self._before is not None and weights:
                if len(self._before) != len(weights):
                    self._before = [w.clone() for w in weights]
                else:
                    torch._foreach_copy_(self._before, weights)
        loss_value = float(values[-1]) if isinstance(loss, torch.Tensor) else float(loss)
        P, k = len(params), len(has_grad)
        stats = np.full((6, P), np.nan)
        if k:
            l2, l1, top, nonzero = values[:k], values[k:2 * k], values[2 * k:3 * k], values[3 * k:4 * k]
            stats[0, has_grad] = l2
            stats[1, has_grad] = l1 / self._sizes[has_grad]
            stats[2, has_grad] = top
            stats[3, has_grad] = 1.0 - nonzero / self._sizes[has_grad]
        at = 4 * k
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
            delta_l2=numbers["delta_l2"], delta_mean_abs=numbers["delta_mean_abs"], edge_abs=None,
            activation_std=numbers["activation_std"], timestep_grad=numbers["timestep_grad"],
            grad_norm_total=float(np.sqrt(np.nansum(stats[0] ** 2))), grad_zero_fraction=np.array(zero),
            param_stats=stats.copy(), param_names=self.param_names, layer_uses=numbers["uses"])

    # -- closing -----------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.writer.closed:
            raise ValueError(f"vgviz.watch: {self.path} is closed; step() belongs inside the `with` block")

    def close(self) -> None:
        """Write the last step (with the update the optimizer applied after it) and close the file."""
        if not self.active or self.writer.closed:
            return
        self._capture.disarm()
        if self._pending is not None:
            if self._before is not None and self._before:
                self._param_stats(float("nan"))      # only for the pending step's update_ratio
            self.writer.append_step(*self._pending)
            self._pending = None
        self.writer.append_event(self.step_count, "finished")
        self.writer.close()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close()


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
