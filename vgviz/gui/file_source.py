"""FileSource: a run file as the window's source of steps, replayed or followed while another
process (or this one's training thread) writes it. No trainer: it cannot start or step.

Polled on the GUI thread at display rate: ``Run.refresh()`` is one ``PRAGMA data_version``
(measured 7.5 µs), so following costs nothing while the file does
not change. Rebuilding the plots' History from the file is the costly part (1–4 ms for 3,000
steps), so it happens at most every REBUILD_PERIOD_S while the file grows.
"""
from __future__ import annotations

import concurrent.futures
import time

from ..core.config import RunConfig
from ..core.measure.history import History
from ..core.runfile import RunFileError, open_run
from ..core.runfile.replay import ReplayError, history_from_run

REBUILD_PERIOD_S = 0.5


def run_config(file) -> RunConfig:
    """The RunConfig a run file was trained with; RunFileError (one line) if it has none: a file
    the window replays must say what its model is (restore.run_config: None for a user's model)."""
    from ..core.runfile.restore import run_config as file_config

    config = file_config(file)
    if config is None:
        raise RunFileError(f"{file.path}: holds no training config of a built-in model")
    return config


class FileSource:
    def __init__(self, path):
        self.file = open_run(path)
        try:
            self.config = run_config(self.file)
        except RunFileError:
            self.file.close()
            raise
        self._dirty = True
        self._built_at = 0.0
        self._surface = None   # the decision boundary last read from the file
        self._data = None

    @property
    def step_count(self) -> int:
        steps = self.file.step
        return int(steps[-1]) + 1 if len(steps) else 0

    @property
    def finished(self) -> bool:
        return any(event.kind == "finished" for event in self.file.events)

    def poll(self) -> History | None:
        """A new History if the file changed since the last one (and the last is old enough);
        None otherwise, or while the file has no step the diagram can draw yet. RunFileError,
        ReplayError: the file went bad while followed."""
        if self.file.refresh():
            self._dirty = True
        now = time.monotonic()
        if not self._dirty or now - self._built_at < REBUILD_PERIOD_S:
            return None
        if self.file.steps == 0 or len(self.file.capture_steps) == 0:
            return None
        self._dirty, self._built_at = False, now
        history = history_from_run(self.file)
        return history if history.latest is not None else None

    @property
    def data(self):
        """The run's data set, made again from its config (the file holds no data), or None for
        sequences (no plane to draw a decision boundary in)."""
        if self._data is None and not self.config.recurrent:
            from ..core.tasks.mlp.data import make_dataset

            self._data = make_dataset(self.config.dataset, self.config.seed)
        return self._data

    def surface(self, step: int | None):
        """The decision boundary recorded at or before ``step`` (None: the latest), the same
        object while that is the one to show; None if the file holds none."""
        steps = self.file.surface_steps
        if step is not None:
            steps = steps[steps <= step]
        if len(steps) == 0:
            return None
        at = int(steps[-1])
        if self._surface is None or self._surface.step != at:
            self._surface = self.file.surface(at)
        return self._surface

    def close(self) -> None:
        self.file.close()


class FileModelJobs:
    """What the diagnostics panel asks of a training worker (``submit(fn)`` → a Future of
    fn(trainer)), for a run file that saved the weights of a built-in model: the model of its
    config at its latest checkpoint, rebuilt and used in one helper thread (with its own reader:
    an SQLite connection stays in its thread), never the GUI's."""

    def __init__(self, path):
        self.path = path
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vgviz-file-model")
        self._trainer = None

    def submit(self, fn) -> concurrent.futures.Future:
        return self._executor.submit(self._run, fn)

    def _run(self, fn):
        from ..core.runfile.restore import trainer_at

        with open_run(self.path) as run:
            latest = int(run.weight_steps[-1])
            if self._trainer is None or self._trainer.step_count != latest:   # a followed file saved newer weights
                self._trainer = trainer_at(run, latest)
        return fn(self._trainer)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["FileModelJobs", "FileSource", "ReplayError", "RunFileError", "run_config"]
