"""RunRecorder: records a vgviz trainer's run into a run file as it trains.

    rec = RunRecorder(trainer, path)
    while not trainer.finished:
        rec.record(trainer.step(full=rec.wants_full()))
    rec.close()

Every step's loss, accuracy and param_stats; a full capture at most capture_hz times a
second of training, and always of the first and the last step (what `vgviz report --run`
reads as the initial and final numbers); the test evaluations the trainer makes and one
of the final weights; weights at step 0, at steps 4, 16, 64, … (log-spaced) and at the
end; events when clipping starts, when the run diverges, when it finishes (or, with
close(interrupted=True), that it was stopped).
"""
from __future__ import annotations

import os
import time

from ..measure.stats import StepStats
from .format import StoragePolicy
from .model import describe_model
from .writer import RunWriter

CHECKPOINT_BASE = 4    # weights at steps 1, 4, 16, 64, …


class RunRecorder:
    def __init__(self, trainer, path: str | os.PathLike, capture_hz: float = 25.0, *,
                 overwrite: bool = False, policy: StoragePolicy | None = None):
        self.trainer = trainer
        self.capture_hz = capture_hz
        config = trainer.config.to_dict() if hasattr(trainer.config, "to_dict") else None
        self.writer = RunWriter(path, config=config, model=describe_model(trainer.model),
                                param_names=trainer.param_names, layer_names=tuple(trainer.layer_names),
                                overwrite=overwrite, policy=policy)
        self._last_capture: float | None = None
        self._clipping = False
        self._diverged = False
        self._next_checkpoint = 1
        self._saved_at = -1
        self._save_weights()
        self.writer.flush()

    def wants_full(self) -> bool:
        """Whether the next step should be a full one (trainer.step(full=...)) for a capture."""
        return self._next_is_last() or self._capture_due()

    def _capture_due(self) -> bool:
        return (self._last_capture is None
                or time.monotonic() - self._last_capture >= 1.0 / self.capture_hz)

    def _next_is_last(self) -> bool:
        steps = getattr(self.trainer.config, "steps", None)
        return steps is not None and self.trainer.step_count + 1 >= steps

    def record(self, stats: StepStats) -> None:
        """Record the StepStats trainer.step() just returned."""
        w = self.writer
        w.append_step(stats.step, stats.loss, stats.accuracy, stats.param_stats)
        last = getattr(self.trainer, "finished", False)
        if stats.is_full and (last or self._capture_due()):
            w.append_capture(stats.step, stats)
            self._last_capture = time.monotonic()
        if stats.test_loss is not None:
            w.append_eval(stats.step, stats.test_loss, stats.test_accuracy)
        if stats.clipped and not self._clipping:
            w.append_event(stats.step, "clipped", "gradient clipping started")
        self._clipping = stats.clipped
        if stats.diverged and not self._diverged:
            w.append_event(stats.step, "diverged", "loss or gradients not finite: no update applied")
            self._diverged = True
        while self.trainer.step_count >= self._next_checkpoint:
            if self.trainer.step_count == self._next_checkpoint:
                self._save_weights()
            self._next_checkpoint *= CHECKPOINT_BASE

    def _save_weights(self) -> None:
        """The weights after trainer.step_count updates, saved under that step."""
        step = self.trainer.step_count
        if step != self._saved_at:
            self.writer.save_weights(step, self.trainer.model.state_dict())
            self._saved_at = step

    def close(self, interrupted: bool = False) -> None:
        """Save the final weights and their test evaluation, note "finished" if the trainer
        is (or "interrupted"), and close the file."""
        if self.writer.closed:
            return
        self._save_weights()
        self._evaluate_final()
        if interrupted:
            self.writer.append_event(self.trainer.step_count, "interrupted", "training stopped before the end")
        elif getattr(self.trainer, "finished", False):
            self.writer.append_event(self.trainer.step_count, "finished")
        self.writer.close()

    def _evaluate_final(self) -> None:
        """The test set at the final weights, under step_count (the updates applied): the
        evaluation `vgviz report` prints as the final test numbers."""
        evaluate = getattr(self.trainer, "evaluate", None)
        if evaluate is not None and self.trainer.step_count > 0:
            test_loss, test_accuracy = evaluate()
            self.writer.append_eval(self.trainer.step_count, test_loss, test_accuracy)

    def __enter__(self) -> "RunRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
