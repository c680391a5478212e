"""`vgviz train --out RUN` and `vgviz report --run RUN`: a run recorded into a run file,
and the report's JSON computed from one without training again.

Importing it loads no torch; the functions that train or read weights do.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

from .core.config import RunConfig


class TrainError(Exception):
    """RUN cannot be written: one line on stderr, exit code 2."""


def use_headless_threads() -> None:
    """The training thread count (core.tasks.trainer.TRAINING_THREADS) for what a headless
    command measures outside a training step too (activation statistics, the ablation)."""
    from .core.tasks.trainer import use_training_threads

    use_training_threads()


def check_out_path(out: str, force: bool) -> None:
    """Refuse before training: RUN's folder must exist, RUN must not unless --force."""
    path = Path(out)
    if path.is_dir():
        raise TrainError(f"{out} is a folder: give the run file's name, e.g. {os.path.join(out, 'run.vgviz')}")
    if not path.parent.is_dir():
        raise TrainError(f"{out}: the folder {str(path.parent)!r} does not exist")
    if (path.exists() or path.is_symlink()) and not force:
        raise TrainError(f"{out} exists: use --force to replace it")


class ProgressLine:
    """One line on a terminal, redrawn with \\r at most `hz` times a second: step/steps,
    loss, steps/s and the time left."""

    def __init__(self, stream: TextIO, total: int, hz: float = 10.0, clock=time.monotonic):
        self.stream, self.total, self.clock = stream, total, clock
        self.interval = 1.0 / hz
        self.start = clock()
        self._drawn_at: float | None = None
        self._width = 0

    def update(self, done: int, loss: float) -> None:
        now = self.clock()
        if self._drawn_at is not None and now - self._drawn_at < self.interval and done < self.total:
            return
        self._drawn_at = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _duration((self.total - done) / rate) if rate > 0 else "?"
        text = f"step {done}/{self.total}  loss {loss:.4g}  {rate:,.0f} steps/s  ETA {eta}"
        self._write("\r" + text.ljust(self._width))
        self._width = len(text)

    def clear(self) -> None:
        """Remove the line, so what is printed next starts on a clean one."""
        if self._width:
            self._write("\r" + " " * self._width + "\r")
            self._width = 0

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:  # the terminal has gone: training goes on without the bar
            pass


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _size_text(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB" if n_bytes >= 1e5 else f"{n_bytes / 1e3:.0f} KB"


class _StopOnInterrupt:
    """Ctrl+C (SIGINT) during training sets `requested` instead of raising in the middle
    of a step or a write, so the loop stops between steps and the file is closed whole.
    A second Ctrl+C interrupts as usual."""

    def __init__(self):
        self.requested = False

    def __enter__(self) -> "_StopOnInterrupt":
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._previous)


def run_train(config: RunConfig, out: str, force: bool = False) -> int:
    """Train `config` and record it into `out`. Prints the summary (stdout) or the
    interruption (stderr); returns the exit code (0, or 130 after Ctrl+C)."""
    from .core.runfile import RunRecorder
    from .core.tasks import make_trainer

    check_out_path(out, force)
    use_headless_threads()
    trainer = make_trainer(config)   # with the edges: the file's captures are what the diagram draws
    try:
        recorder = RunRecorder(trainer, out, overwrite=force)
    except OSError as e:
        raise TrainError(f"cannot write {out}: {e.strerror or e}") from None
    progress = ProgressLine(sys.stderr, config.steps) if _is_terminal(sys.stderr) else None
    last = None
    with _StopOnInterrupt() as interrupt:
        try:
            while not trainer.finished and not interrupt.requested:
                last = trainer.step(full=recorder.wants_full())
                recorder.record(last)
                if progress is not None:
                    progress.update(trainer.step_count, last.loss)
                if last.diverged:
                    break
        finally:
            if progress is not None:
                progress.clear()
            recorder.close(interrupted=interrupt.requested)
    from .core.measure.steps import step_text, steps_done

    size = _size_text(os.path.getsize(out))
    if interrupt.requested:
        print(f"vgviz: interrupted at step {trainer.step_count} of {config.steps}; {out} is closed and "
              f"holds the steps so far ({size})", file=sys.stderr)
        return 130
    done = f"{trainer.step_count} steps" if last is None or not last.diverged else (
        f"diverged at {step_text(steps_done(last))} of {config.steps:,} (loss or gradients not finite)")
    final = "" if last is None else f", final loss {last.loss:.4g}, acc {last.accuracy:.0%}"
    print(f"wrote {out}: {done}{final}, {size}")
    return 0


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- report --run ---------------------------------------------------------------------------

def report_from_run(run, shallower_depth: int | None = None, loss_points: int | None = None,
                    check_memory: bool = True, seeds: int = 1) -> dict:
    """`vgviz report`'s JSON document of a recorded run (see vgviz.cli.run_report)."""
    from .cli import _timesteps
    from .core.diagnose.runs import diagnose_run
    from .core.measure.history import DEFAULT_CAPACITY
    from .core.runfile import RunFileError
    from .core.runfile.model import layer_params
    from .core.runfile.replay import history_from_run
    from .core.runfile.restore import run_config

    if run.steps == 0:
        raise RunFileError(f"{run.path}: holds no training steps yet")
    config = run_config(run)
    if shallower_depth is not None and config is None:
        raise RunFileError(f"{run.path}: --shallower needs the run's config, which this file does not hold")
    shallower = config.replace(depth=shallower_depth) if shallower_depth is not None else None
    if shallower is not None and check_memory:
        from .core.memory import check_fits

        check_fits(shallower)
    use_headless_threads()
    capacity = loss_points or DEFAULT_CAPACITY
    last_step = int(run.step[-1])
    first, last = run.snapshot(0), run.snapshot(last_step)
    if first is None:
        raise RunFileError(f"{run.path}: holds no full capture, so no per-layer numbers")
    history = history_from_run(run, last_step, capacity=capacity)
    kept = run.step % _live_stride(run.steps, capacity) == 0   # the steps the live History keeps
    names = list(run.layer_names)
    evals = run.evals
    test_loss, test_acc = (float(evals[-1, 1]), float(evals[-1, 2])) if len(evals) else (None, None)
    report = {
        "config": run.config,
        "steps": int(run.steps),
        "diverged": any(e.kind == "diverged" for e in run.events),
        "loss": [float(v) for v in run.loss[kept]],
        "loss_steps": [int(v) for v in run.step[kept]],
        "final": {"train_loss": float(run.loss[-1]), "train_accuracy": float(run.accuracy[-1]),
                  "test_loss": test_loss, "test_accuracy": test_acc},
        "layers": report_layers(names, first, last, layer_params(run.model, names, run.param_names)),
        "zero_gradients": [{"name": name, "initial": float(first.grad_zero_fraction[i]),
                            "final": float(last.grad_zero_fraction[i])} for i, name in enumerate(names)],
        "diagnostics": diagnose_run(run, shallower_depth=shallower_depth, seeds=seeds, history=history).to_dict(),
    }
    if first.timestep_grad is not None:
        report["timesteps"] = _timesteps(first.timestep_grad, last.timestep_grad)
    if first.layer_timestep_grad is not None and last.layer_timestep_grad is not None:
        # a watched model: every recurrent module's, by layer name ("timesteps" is the first's)
        report["timesteps_by_layer"] = {
            name: _timesteps(a, b) for name, a, b in zip(first.layer_names, first.layer_timestep_grad,
                                                         last.layer_timestep_grad) if len(a) and len(a) == len(b)}
    return report


def report_layers(names, first, last, pairs) -> list[dict]:
    """The report's per-layer entries: each layer's numbers at the first and the last step.
    `pairs`: each layer's (weight, bias) parameter names (runfile.model.layer_params)."""
    index = {name: i for i, name in enumerate(last.param_names)}
    columns = [(index.get(w), index.get(b) if b else None) for w, b in pairs]
    return [{"name": name, "initial": first.layer_dict(i, *columns[i]), "final": last.layer_dict(i, *columns[i])}
            for i, name in enumerate(names)]


def _live_stride(n_steps: int, capacity: int) -> int:
    """The stride a live History of `capacity` rows ends with after steps 0 … n_steps-1: it
    halves its rows whenever full, so it keeps every step that is a multiple of the
    smallest power of two that fits them."""
    stride = 1
    while math.ceil(n_steps / stride) > capacity:
        stride *= 2
    return stride


