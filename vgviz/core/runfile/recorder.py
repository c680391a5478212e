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
close(interrupted=True), that it was stopped); the decision boundary of a 2-D data set at
step 0, at most every surface_period_s of training (pauses left out) and at the end (its
forward pass over the grid costs a few steps: ~30 ms for a 20×64 MLP, under 1 % at 5 s), or those a caller that computes them anyway
hands to record_surface() (surface_period_s=None).
"""
from __future__ import annotations

import os
import time

from ..measure.stats import StepStats
from .format import StoragePolicy
from .model import describe_model
from .writer import RunWriter

CHECKPOINT_BASE = 4    # weights at steps 1, 4, 16, 64, …
SURFACE_PERIOD_S = 5.0   # a decision boundary at most this often (of training): it moves slowly
STEP_GAP_S = 0.1         # a longer gap between two record() calls counts as this much training (a pause)


class RunRecorder:
    def __init__(self, trainer, path: str | os.PathLike, capture_hz: float = 25.0, *,
                 overwrite: bool = False, policy: StoragePolicy | None = None,
                 surface_period_s: float | None = SURFACE_PERIOD_S):
        self.trainer = trainer
        self.capture_hz = capture_hz
        self.surface_period_s = surface_period_s
        self._trained_s = 0.0                 # time spent training, pauses left out
        self._last_record: float | None = None
        self._surface_at: float | None = None   # _trained_s when the last boundary was stored
        self._surface_step = -1
        # a model without a 2-D input plane has no boundary (decision_surface() returns None)
        self._has_plane = getattr(trainer, "decision_surface", None) is not None
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
        self._take_surface()
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
        now = time.monotonic()
        if self._last_record is not None:
            self._trained_s += min(now - self._last_record, STEP_GAP_S)
        self._last_record = now
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
        if self.surface_due():
            self._take_surface()

    def surface_due(self) -> bool:
        """Whether a decision boundary is due (at most every surface_period_s of training)."""
        period = self.surface_period_s if self.surface_period_s is not None else SURFACE_PERIOD_S
        return self._has_plane and (self._surface_at is None or self._trained_s - self._surface_at >= period)

    def record_surface(self, surface) -> None:
        """Store a DecisionSurface of the trainer's current weights (None: nothing to store)."""
        if surface is None:
            self._has_plane = False
            return
        if surface.step != self._surface_step:
            self.writer.append_surface(surface)
            self._surface_at, self._surface_step = self._trained_s, surface.step

    def _take_surface(self) -> None:
        if self.surface_period_s is not None and self._has_plane:
            self.record_surface(self.trainer.decision_surface())

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
        if self._surface_step != self.trainer.step_count:
            self._take_surface()   # the boundary where training stopped
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
